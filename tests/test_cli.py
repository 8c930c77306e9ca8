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
    assert "weights from bundled" in done.stderr
    assert Image.open(tmp_path / "out" / "a.png").size == (256, 192)
    assert Image.open(tmp_path / "out" / "b.png").mode == "RGB"


def test_list_and_unknown_model(tmp_path):
    listed = run("--list")
    assert listed.returncode == 0 and "cyclegan-noto2twemoji" in listed.stdout
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    missing = run("nobody/nothing", tmp_path / "x.png")
    assert missing.returncode == 2 and "error:" in missing.stderr and "Traceback" not in missing.stderr
