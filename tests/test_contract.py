"""The contract every registered family keeps, checked on a tiny network of each (its `tiny_config`): a
new family gets these tests by registering. Export -> load round trip, fp16 on disk, what `translate`
returns for odd inputs, the wrong-family error, options and directions checked, repeatable output,
and a tab, a CLI listing and a model card built from the declaration alone."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

import translator
from translator.errors import OptionsError, WeightsError
from translator.layers import init_weights

FAMILIES = sorted(translator.FAMILIES)


def tiny(family: str, seed: int = 0, **settings):
    """The family's tiny network (its tiny_config, with `settings` on top), initialised from `seed`."""
    torch.manual_seed(seed)
    spec = translator.FAMILIES[family]
    model = spec.network(**{**spec.tiny_config, **settings})
    init_weights(model)
    return model


@pytest.fixture(params=FAMILIES)
def exported(request, tmp_path):
    """(family name, the network as built, the folder it was exported to as the trainers do)."""
    model = tiny(request.param)
    folder = tmp_path / request.param
    copy.deepcopy(model).half().save_pretrained(folder)
    return request.param, model, folder


def test_every_family_declares_what_the_rest_reads(exported):
    name, _, _ = exported
    family = translator.FAMILIES[name]
    assert family.title and family.paper and family.code_licence
    assert family.directions and set(family.directions) <= {"a2b", "b2a"}
    assert set(family.options) <= set(translator.OPTIONS)
    assert callable(getattr(family.translator, family.tab.method))
    assert family.network.family == family.translator.family_name == name  # declared once, by register()


def test_export_load_round_trip_is_exact_and_fp16_on_disk(exported):
    name, model, folder = exported
    config = json.loads((folder / "config.json").read_text())
    assert config["family"] == name
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        stored = {k: f.get_tensor(k) for k in f.keys()}
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    t = translator.load(str(folder), warm_up=False)
    assert t.family_name == name and t.provenance.source == "local"
    loaded = translator.FAMILIES[name].network.from_folder(folder, config).state_dict()  # before inference tweaks
    assert loaded.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        expected = value.half().float() if value.is_floating_point() else value
        torch.testing.assert_close(loaded[key].float(), expected.float(), rtol=0, atol=0)


@pytest.mark.parametrize("make", [
    lambda: Image.new("RGBA", (37, 91), (200, 30, 30, 128)),
    lambda: Image.new("L", (13, 13), 90),
    lambda: Image.new("RGB", (1, 1), "red"),
    lambda: Image.new("P", (300, 40)),
    lambda: np.zeros((20, 50, 3), np.uint8),
], ids=["rgba-tall", "grey-tiny", "one-pixel", "palette-wide", "numpy"])
def test_translate_returns_an_rgb_image_at_display_size(exported, make):
    name, _, folder = exported
    t = translator.load(str(folder))
    image = make()
    if t.input_kind == "drawing":  # a drawing model needs something drawn
        image = Image.new("RGB", (60, 40), "white")
        image.paste((0, 0, 0), (10, 10, 50, 12))
    out = t.translate(image)
    assert isinstance(out, Image.Image) and out.mode == "RGB"
    w, h = image.size if isinstance(image, Image.Image) else (image.shape[1], image.shape[0])
    if t.input_kind == "image":  # the input's aspect ratio, longest side within the display range
        assert abs(out.width / out.height - w / h) < 0.05 * max(w / h, 1)
        assert 256 <= max(out.size) <= 1024


def test_asking_for_another_family_is_a_clear_error(exported):
    name, _, folder = exported
    other = next(f for f in FAMILIES if f != name)
    with pytest.raises(WeightsError, match=f"is a {translator.FAMILIES[name].title} model.*needs {other}"):
        translator.load(str(folder), other)
    assert translator.load(str(folder), name).family_name == name


def test_directions_and_options_are_checked_before_anything_runs(exported):
    name, _, folder = exported
    t = translator.load(str(folder))
    image = Image.new("RGB", (32, 32), "white")
    image.paste((0, 0, 0), (5, 5, 25, 8))
    with pytest.raises(OptionsError, match="direction|one way"):
        t.translate(image, direction="sideways")
    with pytest.raises(OptionsError, match="does not take 'colour'"):
        t.translate(image, colour="blue")
    bad = {"seed": [-1, 2 ** 40, 1.5, "7", True], "sample": ["yes", 1], "style": [[0.0], [float("nan")] * (t.style_dim or 1),
           [99.0] * (t.style_dim or 1), "abc"], "reference": [b"not an image"], "references": [[], ["x"] * 21, "one.png"], "tiled": ["yes", 1]}
    for option in translator.FAMILIES[name].options:
        for value in bad[option]:
            with pytest.raises((OptionsError, translator.ImageError)):
                t.translate(image, **{option: value})
    for option in set(translator.OPTIONS) - set(translator.FAMILIES[name].options):
        with pytest.raises(OptionsError, match=f"does not take '{option}'"):
            t.translate(image, **{option: 1})


def test_the_same_input_and_seed_give_the_same_output(exported):
    name, _, folder = exported
    t = translator.load(str(folder))
    image = Image.new("RGB", (40, 40), "white")
    image.paste((0, 0, 0), (5, 5, 30, 9))
    random = {"sample": True} if "sample" in t.options else {}  # a seed matters where something is drawn
    kwargs = {"seed": 3, **random} if "seed" in t.options else {}
    for direction in t.directions:
        first, again = t.translate(image, direction, **kwargs), t.translate(image, direction, **kwargs)
        assert np.array_equal(np.asarray(first), np.asarray(again))
    if "seed" in t.options:
        assert not np.array_equal(np.asarray(t.translate(image, seed=3, **random)),
                                  np.asarray(t.translate(image, seed=4, **random)))


def test_a_style_family_draws_and_reads_style_codes(exported):
    name, _, folder = exported
    t = translator.load(str(folder))
    if "style" not in t.options:
        with pytest.raises(NotImplementedError):
            t.sample_styles(1, 0)
        return
    styles = t.sample_styles(3, seed=1)
    assert styles == t.sample_styles(3, seed=1) != t.sample_styles(3, seed=2)
    assert len(styles) == 3 and all(len(s) == t.style_dim for s in styles)
    image = Image.new("RGB", (40, 40), (200, 100, 20))
    code = t.encode_style(image)
    assert len(code) == t.style_dim and all(isinstance(v, float) for v in code)
    assert t.translate(image, style=code).mode == "RGB"


def test_the_tab_method_returns_every_declared_output(exported):
    name, _, folder = exported
    t = translator.load(str(folder))
    family = translator.FAMILIES[name]
    image = Image.new("RGB", (40, 40), "white")
    image.paste((0, 0, 0), (5, 5, 30, 9))
    result = getattr(t, family.tab.method)(image, direction=t.directions[-1])
    for output in family.tab.outputs:
        value = getattr(result, output.field)
        assert isinstance(value, Image.Image if output.kind == "image" else str)
    assert result.seconds >= 0


def test_the_app_builds_a_tab_from_the_declaration(exported):
    import app

    name, _, folder = exported
    demo = app.build_demo(allow_local_models=True, models={name: str(folder)})
    names = {d.api_name for d in demo.fns.values() if d.api_name}
    assert name in names


def test_a_model_card_names_the_paper(exported):
    from training.model_card import write_model_card

    name, _, folder = exported
    card = write_model_card(folder).read_text()
    assert translator.FAMILIES[name].paper in card and translator.FAMILIES[name].title in card
