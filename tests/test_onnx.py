"""ONNX export (training/export_onnx.py): every image-only family, checked against PyTorch by ONNX Runtime."""
import json

import pytest

from conftest import export
from test_contract import tiny

pytest.importorskip("onnxruntime")
from training.export_onnx import PARITY_BAR, export_onnx, main  # noqa: E402


@pytest.mark.parametrize("family", ["cyclegan", "pix2pix", "unit", "ugatit"])
def test_every_direction_exports_and_matches_pytorch(tmp_path, family):
    folder = export(tiny(family), tmp_path / family)
    report = export_onnx(str(folder), tmp_path / "onnx")
    written = json.loads((tmp_path / "onnx" / "onnx.json").read_text())
    assert written == report and report["family"] == family and report["directions"]
    for direction, r in report["directions"].items():
        assert (tmp_path / "onnx" / f"{direction}.onnx").stat().st_size > 0
        assert r["within_bar"] and r["max_abs_difference"] <= PARITY_BAR


def test_a_family_that_needs_a_style_is_refused_with_a_message(tmp_path):
    folder = export(tiny("munit"), tmp_path / "munit")
    with pytest.raises(SystemExit, match="needs style"):
        main([str(folder), "-o", str(tmp_path / "onnx")])
    with pytest.raises(SystemExit, match="error: "):
        main([str(tmp_path / "nothing-here"), "-o", str(tmp_path / "onnx")])
