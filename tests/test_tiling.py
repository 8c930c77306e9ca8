"""Translation at the input's own resolution (translator/tiling.py): tiles put back exactly, blending weights
that sum to 1, the seam error of the shipped CycleGAN against the whole-image run, the families that may and
may not tile, the size limits, and the app's switch."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from gradio_client import handle_file
from PIL import Image

import translator
from conftest import ROOT, export, tiny_cyclegan
from test_app import app_client
from test_contract import tiny
from translator import images, tiling
from translator.errors import OptionsError


def exported(family: str, folder, **config):
    model = tiny(family) if not config else translator.FAMILIES[family].network(
        **{**translator.FAMILIES[family].tiny_config, **config})
    copy.deepcopy(model).half().save_pretrained(folder)
    return translator.load(str(folder), warm_up=False)


@pytest.mark.parametrize("length", [1, 40, 64, 65, 100, 112, 124, 130, 257, 500])
def test_blending_weights_sum_to_one(length):
    tile, overlap = 64, 16
    plan = tiling.tile_plan(length, tile, overlap)
    starts = [s for s, _ in plan]
    assert starts[0] == 0 and (len(plan) == 1 or starts[-1] + tile == length)  # flush with both edges
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))  # neighbours overlap by >= overlap
    assert all(((w > 0) & (w <= 1)).all() for _, w in plan)
    total = tiling.coverage(length, tile, overlap)
    meeting = torch.zeros(max(length, tile))
    for start, _ in plan:
        meeting[start:start + tile] += 1
    twos = meeting[:length] <= 2
    assert torch.allclose(total[twos], torch.ones_like(total[twos]), atol=1e-12)  # a partition of unity
    assert (total > 0.5).all()  # where three meet (124 px: tiles at 0, 30, 60) the sums are normalised
    x = torch.rand(1, 3, 37, max(length, 1))
    out = tiling.translate_tiled(lambda tiles: torch.ones_like(tiles), x, tile, overlap)
    assert torch.allclose(out, torch.ones_like(out), atol=1e-6)  # normalised weights sum to exactly 1


@pytest.mark.parametrize("size", [(100, 173), (40, 30), (64, 64), (64, 200), (333, 65)])
def test_tiles_reassemble_exactly(size):
    torch.manual_seed(0)
    x = torch.rand(1, 3, *size) * 2 - 1
    calls = []

    def identity(tiles):
        calls.append(tiles.shape[0])
        assert tiles.shape[-2:] == (64, 64)
        return tiles

    assert torch.allclose(tiling.translate_tiled(identity, x, 64), x, atol=1e-6)
    assert sum(calls) == tiling.tile_count(size[1], size[0], 64) and max(calls) <= tiling.BATCH_PIXELS // 64 ** 2
    pointwise = tiling.translate_tiled(lambda tiles: torch.tanh(3 * tiles), x, 64, batch_pixels=1)  # one at a time
    assert torch.allclose(pointwise, torch.tanh(3 * x), atol=1e-6)


def test_a_model_whose_generator_is_identity_gives_the_input_back_at_its_own_size(tmp_path):
    t = translator.load(str(export(tiny_cyclegan(), tmp_path / "tiny")), warm_up=False)
    t.model.g_ab = torch.nn.Identity()  # a fresh translator (its own folder): nothing else shares it
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (150, 203, 3), dtype=np.uint8))
    out = t.translate(image, direction="a2b", tiled=True)
    assert out.size == (203, 150) and np.array_equal(np.asarray(out), np.asarray(image))
    assert t.translate(image).size != (203, 150)  # without the option: display size, through the model size
    whole = t.translate_whole(image)
    assert np.array_equal(np.asarray(whole), np.asarray(image))


def test_seam_error_of_the_shipped_cyclegan_is_bounded():
    from training.tiling_measure import canvas

    t = translator.load("cyclegan-noto2twemoji", device="cpu")
    x = images.pil_to_tensor(canvas(256, 192, 64, "noto"))
    with torch.inference_mode():
        whole = t.translate_whole_tensor(x, "a2b")
        tiled = t.translate_tiled_tensor(x, "a2b")
    difference = ((tiled - whole).abs() / 2)  # on [0, 1]
    mse = (difference ** 2).mean().item()
    assert difference.mean() < 0.02 and 10 * np.log10(1 / mse) > 25  # measured: 0.005-0.021, 26-35 dB
    assert not any(m._forward_hooks for m in t.model.modules())  # the statistics hooks are gone again


def test_flat_areas_stay_flat():
    """A tile of one colour has no statistics of its own: normalised alone, it turns to a pattern (0.19 std);
    with the whole image's statistics it stays as flat as the whole-image run leaves it."""
    t = translator.load("cyclegan-noto2twemoji", device="cpu")
    image = Image.new("RGB", (300, 200), "white")
    image.paste(Image.open(ROOT / "assets/examples/cyclegan/noto-1f601.png").resize((64, 64)), (20, 20))
    out = np.asarray(t.translate(image, tiled=True), dtype=np.float64) / 255
    margin = out[120:, 120:]  # far from the emoji: a region several tiles wide
    assert margin.std() < 0.02 and margin.mean() > 0.9
    with torch.inference_mode():
        alone = t.translate_tiled_tensor(images.pil_to_tensor(image), per_tile_statistics=True)
    assert ((alone[0, :, 120:, 120:] + 1) / 2).std() > 0.1  # what the statistics fix


def test_cycle_and_the_other_fully_convolutional_families_tile(tmp_path):
    t = translator.load("cyclegan-noto2twemoji", device="cpu")
    image = Image.open(ROOT / "assets/examples/cyclegan/noto-1f601.png").resize((150, 90))
    result = t.cycle(image, "a2b", tiled=True)
    assert result.translation.size == result.reconstruction.size == (150, 90)
    assert t.cycle(image, "a2b").translation.size == (256, 154)  # untouched without the option

    pix = exported("pix2pix", tmp_path / "pix2pix")  # a photo model: image_size 32, U-Net down to 1x1
    assert pix.translate(image, tiled=True).size == (150, 90) and pix.size_multiple == 32
    assert pix.translate_whole(image).size == (150, 90)

    ugatit = exported("ugatit", tmp_path / "ugatit")
    assert ugatit.translate(image, "b2a", tiled=True).size == (150, 90)
    attention = ugatit.attention(image, "a2b", tiled=True)  # heatmaps: of the whole image at the model size
    assert attention.translation.size == (150, 90) and attention.global_attention.size == (256, 154)
    full = exported("ugatit", tmp_path / "ugatit-full", light=False)  # its MLP takes the model size only
    assert full.translate(image, tiled=True).size == (150, 90)
    with pytest.raises(OptionsError, match="model size only .*it can be tiled"):
        full.translate_whole(image)


def test_other_families_and_drawing_models_say_they_do_not_tile(tmp_path):
    image = Image.new("RGB", (40, 40), "white")
    for family in ("munit", "unit", "funit"):
        t = exported(family, tmp_path / family)
        assert "tiled" not in t.options
        with pytest.raises(OptionsError, match="does not take 'tiled'.*fully convolutional.*CycleGAN"):
            t.translate(image, tiled=True)
        with pytest.raises(OptionsError, match="model size only"):
            t.translate_whole(image)
    sketch = translator.load("pix2pix-sketch2emoji", device="cpu")
    drawing = Image.new("RGB", (200, 200), "white")
    drawing.paste((0, 0, 0), (50, 50, 150, 60))
    with pytest.raises(OptionsError, match="whole line drawings.*does not translate tiled"):
        sketch.translate(drawing, tiled=True)
    assert sketch.translate(drawing, tiled=False).size == (256, 256)
    with pytest.raises(OptionsError, match="tiled must be True or False"):
        translator.load("cyclegan-noto2twemoji").translate(drawing, tiled="yes")


def test_too_large_inputs_are_refused_before_anything_runs(monkeypatch):
    t = translator.load("cyclegan-noto2twemoji", device="cpu")
    monkeypatch.setattr(t, "translate_tensor", lambda *a, **k: pytest.fail("the network ran"))
    with pytest.raises(OptionsError, match=r"up to 8,388,608 pixels; this one is 4100×2100 \(8,610,000\)"):
        t.translate(Image.new("RGB", (4100, 2100), "white"), tiled=True)
    monkeypatch.setattr(tiling, "MAX_TILES", 100)
    with pytest.raises(OptionsError, match=r"At 700×600, this model's 64-px tiles would number 195 \(13 rows of 15\); "
                                           r"the limit is 100"):
        t.translate(Image.new("RGB", (700, 600), "white"), tiled=True)
    with pytest.raises(OptionsError, match="whole-image run takes images of up to 1,048,576 pixels"):
        t.translate_whole(Image.new("RGB", (1100, 1000), "white"))


def test_the_command_line_tiles_and_skips_what_is_too_large(tmp_path, monkeypatch, capsys):
    from translator.__main__ import main

    Image.new("RGB", (90, 60), "white").save(tmp_path / "small.png")
    Image.new("RGB", (300, 200), "white").save(tmp_path / "large.png")
    monkeypatch.setattr(tiling, "MAX_TILED_PIXELS", 10_000)
    assert main(["cyclegan-noto2twemoji", str(tmp_path / "small.png"), str(tmp_path / "large.png"),
                 "-o", str(tmp_path / "out"), "--tiled", "--device", "cpu"]) == 1
    assert Image.open(tmp_path / "out" / "small.png").size == (90, 60)
    assert not (tmp_path / "out" / "large.png").exists() and "skipped" in capsys.readouterr().err


def test_the_app_offers_full_resolution_where_the_model_can(tmp_path):
    folder = export(tiny_cyclegan(), tmp_path / "tiny-cyclegan")
    image = tmp_path / "in.png"
    Image.new("RGB", (90, 60), (200, 120, 40)).save(image)
    with app_client({"cyclegan": str(folder)}) as client:
        endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert [p["parameter_name"] for p in endpoints["/cyclegan"]["parameters"]] == [
            "image", "direction", "model", "tiled", "finish"]
        translation, reconstruction, _, info = client.predict(image=handle_file(str(image)), model=str(folder),
                                                              tiled=True, api_name="/cyclegan")
        assert Image.open(translation).size == Image.open(reconstruction).size == (90, 60)
        assert "in 32-px tiles at 90×60 px" in info
        plain, *_ = client.predict(image=handle_file(str(image)), model=str(folder), api_name="/cyclegan")
        assert Image.open(plain).size == (256, 171)  # off by default
