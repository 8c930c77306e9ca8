"""ONNX export (training/export_onnx.py): every family's graphs, checked against PyTorch by ONNX Runtime."""
import json

import numpy as np
import pytest
import torch

import translator
from conftest import export
from test_contract import tiny

pytest.importorskip("onnxruntime")
import onnxruntime  # noqa: E402

from training.export_onnx import PARITY_BAR, export_onnx, main  # noqa: E402
from translator import fast_path  # noqa: E402

IMAGINAIRE_MUNIT = {"res_block": "pre_act", "instance_affine": True, "up_norm": "adain", "adain_scale": "1+gamma",
                    "output": "clamp", "max_dim": 8}
IMAGINAIRE_FUNIT = {"res_block": "post_relu", "instance_affine": True, "adain_scale": "1+gamma", "up_block": "residual"}


def tiny_with(family: str, **config):
    """tiny(family) with other settings (the variants converted checkpoints use)."""
    spec = translator.FAMILIES[family]
    torch.manual_seed(0)
    model = spec.network(**{**spec.tiny_config, **config})
    translator.layers.init_weights(model)
    return model


def exported(tmp_path, model, name):
    folder = export(model, tmp_path / name)
    report = export_onnx(str(folder), tmp_path / "onnx")
    assert json.loads((tmp_path / "onnx" / "onnx.json").read_text()) == report
    for r in report["graphs"].values():
        assert (tmp_path / "onnx" / r["file"]).stat().st_size > 0
        assert r["within_bar"] and r["max_abs_difference"] <= PARITY_BAR, r
    return folder, report


def session(tmp_path, name):
    return onnxruntime.InferenceSession(str(tmp_path / "onnx" / f"{name}.onnx"), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("family", ["cyclegan", "pix2pix", "unit", "ugatit"])
def test_every_direction_exports_and_matches_pytorch(tmp_path, family):
    _, report = exported(tmp_path, tiny(family), family)
    assert report["family"] == family and set(report["directions"]) == set(translator.FAMILIES[family].directions)
    assert set(report["graphs"]) == set(report["directions"])
    for direction, r in report["directions"].items():
        assert r["file"] == f"{direction}.onnx" and list(r["inputs"]) == ["image"]


@pytest.mark.parametrize("config", [{}, IMAGINAIRE_MUNIT], ids=["munit", "imaginaire"])
def test_munit_exports_a_styled_graph_per_direction_and_a_style_encoder_per_domain(tmp_path, config):
    folder, report = exported(tmp_path, tiny_with("munit", **config), "munit")
    assert set(report["graphs"]) == {"a2b", "b2a", "style_encoder_a", "style_encoder_b"}
    assert report["style_dim"] == 3 and set(report["directions"]) == {"a2b", "b2a"}
    assert list(report["graphs"]["a2b"]["inputs"]) == ["image", "style"]
    assert list(report["graphs"]["style_encoder_b"]["outputs"]) == ["style"]
    assert all(r["max_abs_code_difference"] < 1e-4 for n, r in report["graphs"].items() if n.startswith("style_"))

    t = translator.load(str(folder), device="cpu", warm_up=False)
    a2b, encoder_b = session(tmp_path, "a2b"), session(tmp_path, "style_encoder_b")
    generator = torch.Generator().manual_seed(1)
    x, references = torch.rand(3, 3, 32, 32, generator=generator) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    for style in (torch.randn(3, 3, generator=generator), torch.randn(1, 3, generator=generator)):  # per image, shared
        got = a2b.run(None, {"image": x.numpy(), "style": style.numpy()})[0]
        with torch.no_grad():
            expected = t.translate_tensor(x, "a2b", style=style).numpy()
        assert got.shape == (3, 3, 32, 32) and np.abs(got - expected).max() / 2 <= PARITY_BAR
    style = encoder_b.run(None, {"image": references.numpy()})[0]  # a reference's style, without PyTorch
    with torch.no_grad():
        expected_style = t.model.gen_b.style_encoder(references).numpy()
        expected = t.translate_tensor(x, "a2b", reference=references).numpy()
    assert style.shape == (3, 3) and np.abs(style - expected_style).max() < 1e-4
    got = a2b.run(None, {"image": x.numpy(), "style": style})[0]
    assert np.abs(got - expected).max() / 2 <= PARITY_BAR
    # the decoder's resize-convolutions as the fast path exports them: folded, then a pixel shuffle
    import onnx
    assert "DepthToSpace" in {node.op_type for node in onnx.load(str(tmp_path / "onnx" / "a2b.onnx")).graph.node}
    assert not any(isinstance(m, fast_path.ResizeConvolution) for m in t.model.modules())


@pytest.mark.parametrize("config", [{}, {"style_encoder": "coco"}, {"style_encoder": "coco", **IMAGINAIRE_FUNIT},
                                    {"channels": 1}], ids=["funit", "coco", "imaginaire-coco", "grey"])
def test_funit_exports_class_code_and_translate_with_dynamic_k_and_batch(tmp_path, config):
    folder, report = exported(tmp_path, tiny_with("funit", **config), "funit")
    assert set(report["graphs"]) == {"class_code", "translate"} and report["latent_dim"] == 4
    assert report["style_encoder"] == config.get("style_encoder", "funit")
    assert report["directions"] == {"a2b": report["graphs"]["translate"]}
    assert list(report["graphs"]["translate"]["inputs"]) == ["content", "code"]
    assert report["graphs"]["class_code"]["max_abs_code_difference"] < 1e-4

    t = translator.load(str(folder), device="cpu", warm_up=False)
    class_code, translate = session(tmp_path, "class_code"), session(tmp_path, "translate")
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 32, 32, generator=generator) * 2 - 1
    for k in (1, 3):  # the K codes averaged inside the graph
        references = torch.rand(k, 3, 32, 32, generator=generator) * 2 - 1
        code = class_code.run(None, {"references": references.numpy()})[0]
        got = translate.run(None, {"content": x.numpy(), "code": code})[0]
        with torch.no_grad():
            expected_code = t.model.class_code(t.to_network(references)).numpy()
            expected = t.translate_tensor(x, references=references).numpy()
        assert code.shape == (1, 4) and np.abs(code - expected_code).max() < 1e-4
        assert got.shape == (2, 3, 32, 32) and np.abs(got - expected).max() / 2 <= PARITY_BAR
    codes = np.concatenate([class_code.run(None, {"references": r[None].numpy()})[0] for r in x])  # a class per image
    got = translate.run(None, {"content": x.numpy(), "code": codes})[0]
    with torch.no_grad():
        expected = t.translate_tensor(x).numpy()  # no references: each content's own class code
    assert np.abs(got - expected).max() / 2 <= PARITY_BAR


def test_a_family_without_graphs_for_its_options_is_refused_with_a_message(tmp_path, capsys):
    folder = export(tiny("toy"), tmp_path / "toy")  # tests/toy_family.py: takes every option
    with pytest.raises(SystemExit, match="needs style and references"):
        main([str(folder), "-o", str(tmp_path / "onnx")])
    with pytest.raises(SystemExit, match="error: "):
        main([str(tmp_path / "nothing-here"), "-o", str(tmp_path / "onnx")])
    main([str(export(tiny("munit"), tmp_path / "munit")), "-o", str(tmp_path / "onnx"), "--checks", "2"])
    printed = capsys.readouterr().out
    assert printed.count("within the 2/255 bar") == 4 and "style_encoder_a.onnx" in printed
