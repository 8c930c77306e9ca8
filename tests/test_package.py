"""`pip install .` gives the `translator` package with the shipped models bundled and a `translator`
command that works outside the checkout, offline."""
import os
import subprocess
import sys
import zipfile

import pytest
from PIL import Image

from conftest import ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("package")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                           "-w", str(tmp / "wheel"), "-q"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (tmp / "wheel").glob("*.whl")
    done = subprocess.run([sys.executable, "-m", "pip", "install", str(wheel), "--no-deps", "--target",
                           str(tmp / "site"), "-q"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return wheel, tmp / "site"


def test_the_wheel_holds_the_core_and_the_shipped_models_only(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "translator/__init__.py" in names and "translator/cyclegan.py" in names
    assert "translator/bundled/cyclegan-noto2twemoji/model.safetensors" in names
    assert not any(n.startswith(("training/", "tests/", "app.py")) for n in names)
    # the finishing stage with what decides how it is applied: where it was measured to win, and how strongly
    for part in ("model.safetensors", "metrics.json", "strengths.json"):
        assert f"translator/bundled_finishing/finisher-x4/{part}" in names, part


def test_the_installed_finisher_reads_its_measurements(installed, tmp_path):
    _, site = installed
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    code = ("import translator; from translator import finishing as f; s = translator.load_finishing(); "
            "print(f.bundled_dir(), s.strength_for('munit-drawing2emoji'), f.measured_on('munit-drawing2emoji'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    folder, strength, measured = done.stdout.split()
    assert str(site) in folder and float(strength) < 1 and measured == "True"


def test_the_installed_command_translates_offline_outside_the_checkout(installed, tmp_path):
    _, site = installed
    Image.new("RGB", (40, 30), (250, 200, 40)).save(tmp_path / "in.png")
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([str(site / "bin" / "translator"), "cyclegan-noto2twemoji", "in.png", "-o", "out"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert Image.open(tmp_path / "out" / "in.png").size == (256, 192)
    where = subprocess.run([sys.executable, "-c", "import translator; print(translator.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=300).stdout
    assert str(site) in where  # the installed copy, not the checkout
