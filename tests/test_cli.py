"""python -m translator: files and folders in, PNGs out; bad files are skipped with a message."""
import subprocess
import sys

from PIL import Image

from conftest import ROOT


def run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "translator", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, **kwargs)


def test_translates_a_folder_and_skips_bad_files(tmp_path):
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    Image.new("RGBA", (64, 48), (255, 200, 0, 255)).save(folder / "a.png")
    Image.new("L", (30, 30), 128).save(folder / "nested" / "b.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    done = run("cyclegan-noto2twemoji", folder, "-o", tmp_path / "out", "--direction", "b2a")
    assert done.returncode == 1  # one file failed
    assert "skipped" in done.stderr and "broken.png" in done.stderr and "Traceback" not in done.stderr
    assert "using the bundled copy; Hub not reachable" in done.stderr  # calmly, not as a failure
    assert Image.open(tmp_path / "out" / "a.png").size == (256, 192)
    assert Image.open(tmp_path / "out" / "nested" / "b.png").mode == "RGB"  # subfolders are kept


def test_list_and_unknown_model(tmp_path):
    listed = run("--list")
    assert listed.returncode == 0 and "cyclegan-noto2twemoji" in listed.stdout
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    missing = run("nobody/nothing", tmp_path / "x.png")
    assert missing.returncode == 2 and "error:" in missing.stderr and "Traceback" not in missing.stderr


def test_same_names_in_subfolders_do_not_overwrite_each_other(tmp_path):
    for sub, colour in (("x", "red"), ("y", "blue")):
        (tmp_path / "in" / sub).mkdir(parents=True)
        Image.new("RGB", (20, 20), colour).save(tmp_path / "in" / sub / "same.png")
    done = run("cyclegan-noto2twemoji", tmp_path / "in", "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")} == {"x/same.png", "y/same.png"}
    (tmp_path / "other").mkdir()
    Image.new("RGB", (20, 20), "red").save(tmp_path / "other" / "same.png")
    clash = run("cyclegan-noto2twemoji", tmp_path / "in" / "x" / "same.png", tmp_path / "other" / "same.png")
    assert clash.returncode == 2 and "would both be written" in clash.stderr


def test_wrong_direction_or_option_is_a_message(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    one_way = run("pix2pix-sketch2emoji", tmp_path / "x.png", "--direction", "b2a", "-o", tmp_path / "out")
    assert one_way.returncode == 2 and "translates one way only" in one_way.stderr and "Traceback" not in one_way.stderr
    option = run("cyclegan-noto2twemoji", tmp_path / "x.png", "--seed", "3", "-o", tmp_path / "out")
    assert option.returncode == 2 and "does not take 'seed'" in option.stderr
    listed = run("--list")
    assert "family pix2pix: directions a2b; options: tiled" in listed.stdout
    assert "translated" in run("--help").stdout  # -o says where results go
