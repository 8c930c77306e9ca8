"""The bundled CycleGAN is a trained model, not a placeholder: on the bundled test-split examples it
changes the image (unlike identity) and its cycle comes back close to the input (unlike random weights,
which land ~0.4 away). The shipped model (cycle-blur 5, 20,000 steps) moves these examples by 0.05-0.09
and cycles back within 0.04-0.10."""
from pathlib import Path

import pytest
import torch

import translator
from conftest import ROOT

EXAMPLES = sorted((ROOT / "assets/examples/cyclegan").glob("*.png"))


@pytest.fixture(scope="module")
def cyclegan():
    return translator.load("cyclegan-noto2twemoji", warm_up=False)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_shipped_cyclegan_translates_and_cycles_back(cyclegan, example):
    there, back = ("a2b", "b2a") if example.name.startswith("noto-") else ("b2a", "a2b")
    x, _ = cyclegan.prepare(example)
    with torch.inference_mode():
        y = cyclegan.translate_tensor(x, there)
        reconstruction = cyclegan.translate_tensor(y, back)
    moved = (y - x).abs().mean().item() / 2  # mean absolute difference on [0, 1]
    cycle_error = (reconstruction - x).abs().mean().item() / 2
    assert 0.02 < moved < 0.2
    assert cycle_error < 0.15


FUNIT_EXAMPLES = translator.hub.example_reference_sets("funit")


@pytest.mark.skipif("funit-fonts" not in translator.list_models(), reason="no FUNIT model is shipped")
def test_shipped_funit_writes_held_out_characters_closer_to_the_fonts_than_the_base_font_is():
    """Leave one out, on the app's examples (fonts no model trained on): each character, drawn in the base
    font and translated with the font's other four glyphs as references, lands on average nearer the font's
    own glyph of it than the base font's glyph does (untrained weights land 4-10x further than that)."""
    from PIL import Image

    from translator.funit import render_glyph
    from translator.images import pil_to_tensor

    t = translator.load("funit-fonts", warm_up=False)
    size, model_l1, base_l1 = t.image_size, [], []
    for paths, _ in FUNIT_EXAMPLES.values():
        for i, path in enumerate(paths):
            char = chr(int(Path(path).stem, 16))
            truth = pil_to_tensor(Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BOX))
            content = pil_to_tensor(render_glyph(char, None, size))
            references = torch.cat([t.prepare_reference(p) for j, p in enumerate(paths) if j != i])
            with torch.inference_mode():
                out = t.translate_tensor(content, references=references)
            model_l1.append((out - truth).abs().mean().item())
            base_l1.append((content - truth).abs().mean().item())
    assert len(model_l1) >= 20
    assert sum(model_l1) < sum(base_l1), (sum(model_l1) / len(model_l1), sum(base_l1) / len(base_l1))


MUNIT_EXAMPLES = ROOT / "assets/examples/munit"


@pytest.mark.skipif("munit-drawing2emoji" not in translator.list_models(), reason="no MUNIT model is shipped")
def test_shipped_munit_takes_a_references_colour_and_varies_with_random_styles():
    """On the app's held-out example drawings: styled after the pink Twemoji pig, the drawing comes back nearer
    the pig's mean colour than the yellow Fluent face's, and the other way round (a style code that did
    nothing, or untrained weights, would not sort them); and eight random styles spread the drawing's mean
    colour over a range the same model's single fixed style cannot have."""
    from PIL import Image

    t = translator.load("munit-drawing2emoji", warm_up=False)
    drawings = sorted(MUNIT_EXAMPLES.glob("emoji-drawing-*.png"))
    pink, yellow = MUNIT_EXAMPLES / "styles/noto-1f437.png", MUNIT_EXAMPLES / "styles/fluent-flat-1f604.png"
    assert len(drawings) >= 5 and pink.exists() and yellow.exists()

    def mean_colour(image):  # the mean RGB of the coloured pixels (not the white paper)
        x = torch.as_tensor(list(image.convert("RGB").getdata()), dtype=torch.float32)
        return x[(x < 235).any(1)].mean(0)

    references = {name: mean_colour(Image.open(p)) for name, p in (("pink", pink), ("yellow", yellow))}
    right = 0
    for drawing in drawings:
        for name, path in (("pink", pink), ("yellow", yellow)):
            colour = mean_colour(t.translate(drawing, reference=path))
            other = "yellow" if name == "pink" else "pink"
            right += int((colour - references[name]).norm() < (colour - references[other]).norm())
    assert right >= 2 * len(drawings) - 1, f"{right} of {2 * len(drawings)} took their reference's colour"

    spreads = []
    for drawing in drawings:
        colours = torch.stack([mean_colour(im) for im in t.samples(drawing, n=8, seed=0).images])
        spreads.append(colours.std(0).mean().item())
    # out of 255; the shipped model: 41-44 (and 13 of 14 references taken, above)
    assert min(spreads) > 25, spreads
