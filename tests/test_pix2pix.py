"""pix2pix: the paper's U-Net, the inference semantics we chose, line drawings, and a few training steps."""
import copy
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

import translator
from conftest import ROOT
from training import pix2pix as train_pix2pix
from training.data.sketch import SketchPairs, code_point_order, edges, line_drawing, silhouette, write_drawings
from translator import images
from translator.pix2pix import (Pix2Pix, UNetGenerator, colour_by_region, enclosed_regions, inside_of_drawing,
                                palette_colours, palette_pixels, solid_ink, strokes_of, per_image_statistics)


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_unet_matches_the_official_networks():
    g = UNetGenerator()  # unet_256: ngf 64, 8 downs, batch norm, dropout
    assert count(g) == 54_413_955 and len(g.state_dict()) == 82
    assert count(UNetGenerator(num_downs=7)) == 41_828_995  # unet_128
    dropouts = [i for i, block in enumerate(g.up) if isinstance(block.act, torch.nn.Dropout)]
    assert dropouts == [1, 2, 3]  # the three innermost-but-one 512-channel blocks
    assert g.down[0].conv.bias is None  # no bias before batch norm, even on the outermost conv


def test_unet_shapes_and_size_check():
    g = UNetGenerator(ngf=8, num_downs=6).eval()
    assert g(torch.randn(2, 3, 64, 64)).shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="multiple of"):
        Pix2Pix(image_size=100, num_downs=6)


def tiny_pix2pix_dir(tmp_path, **kwargs):
    torch.manual_seed(0)
    model = Pix2Pix(64, ngf=8, num_downs=6, domain_a="noto-sketch", domain_b="noto", **kwargs)
    with torch.no_grad():  # non-trivial running statistics, to tell the two modes apart
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    copy.deepcopy(model).half().save_pretrained(tmp_path / "p2p")
    return tmp_path / "p2p", model.half().float()


def trained_as(model, x: torch.Tensor) -> torch.Tensor:
    """What the network computed in training at batch 1 (train-mode batch norm, one image at a time), dropout off."""
    reference = copy.deepcopy(model).train()
    for m in reference.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    with torch.no_grad():
        return torch.cat([reference(x[i:i + 1]) for i in range(len(x))])


def test_inference_is_training_mode_batch_norm_at_batch_1_without_dropout(tmp_path):
    folder, model = tiny_pix2pix_dir(tmp_path)
    t = translator.load(str(folder), warm_up=False)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    expected = trained_as(model, x)
    with torch.no_grad():
        got = t.translate_tensor(x)
        assert torch.allclose(got, expected, atol=1e-5)  # per image, as trained with batch 1
        assert torch.equal(t.translate_tensor(x), got)  # deterministic
        assert torch.allclose(t.translate_tensor(x[1:]), got[1:], atol=1e-6)  # independent of the batch
        assert not torch.allclose(got, copy.deepcopy(model).eval()(x), atol=1e-3)  # not the running averages


def test_per_image_statistics_keeps_the_learned_affine():
    bn = torch.nn.Sequential(torch.nn.BatchNorm2d(4))
    bn[0].weight.data.fill_(2.0)
    per_image_statistics(bn)
    assert isinstance(bn[0], torch.nn.InstanceNorm2d) and bn[0].weight.eq(2.0).all()


def test_line_drawing_is_black_strokes_on_white():
    rgb = torch.ones(3, 64, 64)
    rgb[:, 16:48, 16:48] = torch.tensor([1.0, 0.8, 0.1])[:, None, None]  # a yellow square on white
    drawing = line_drawing(rgb)
    assert drawing.shape == (3, 64, 64) and set(drawing.unique().tolist()) == {0.0, 1.0}
    assert drawing[0, 32, 32] == 1 and drawing[0, 2, 2] == 1 and drawing[0, 16, 32] == 0  # outline only
    assert edges(torch.ones(3, 8, 8)).sum() == 0
    thick = line_drawing(rgb, width=3)
    assert (thick == 0).sum() > (drawing == 0).sum()


def test_a_simplified_drawing_keeps_outlines_and_bold_features_and_drops_faint_detail():
    """simplify: a person's drawing of a face is its outline, eyes and mouth; a faint highlight stroke that the
    edge detector finds is not drawn, and a shape too light for an edge keeps its outline (the silhouette)."""
    rgb = torch.ones(3, 64, 64)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    face = (yy - 32) ** 2 + (xx - 32) ** 2 < 26 ** 2
    rgb[:, face] = torch.tensor([0.98, 0.78, 0.15])[:, None]
    rgb[:, 22:28, 22:26] = 0.15  # an eye
    rgb[:, 22:28, 38:42] = 0.15  # the other
    rgb[:, 14, 28:36] = torch.tensor([1.0, 0.9, 0.45])[:, None]  # a one-pixel highlight, a little lighter
    plain, simple = line_drawing(rgb, threshold=0.12), line_drawing(rgb, threshold=0.25, simplify=1.0)
    assert plain[0, 13:16, 30:34].min() == 0 and simple[0, 12:17, 29:35].min() == 1, "the highlight is not drawn"
    assert simple[0, 20:30, 20:28].min() == 0 and simple[0, 20:30, 36:44].min() == 0, "the eyes are"
    assert simple[0, 31:34, 3:9].min() == 0 and simple[0, 31:34, 56:62].min() == 0, "and the outline"
    assert simple[0, 32, 32] == 1 and simple[0, 1, 1] == 1
    pale = torch.ones(3, 64, 64)
    pale[:, face] = 0.93  # too little contrast for an edge at 0.25, but not paper
    assert line_drawing(pale, threshold=0.25).min() == 1
    outline = line_drawing(pale, threshold=0.25, simplify=1.0)
    assert outline[0, 31:34, 3:9].min() == 0 and outline[0, 32, 32] == 1


def test_the_silhouette_outlines_the_paper_around_a_shape_not_white_inside_it():
    rgb = torch.ones(3, 64, 64)
    rgb[:, 10:54, 10:54] = torch.tensor([0.9, 0.6, 0.1])[:, None, None]
    rgb[:, 26:38, 26:38] = 1.0  # a white eye inside the shape: not paper
    outline = silhouette(rgb)[0]
    assert outline[10, 20:40].all() and outline[20:40, 53].all()
    assert not outline[22:42, 22:42].any()


def test_simplified_drawings_keep_a_faces_features_at_any_training_size(tmp_path):
    """At 256 px the blur is 4x wider and a blurred step's gradient 4x smaller: the threshold follows, so the
    eyes and mouth are still drawn, not only the outline."""
    image = Image.new("RGB", (256, 256), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((24, 24, 232, 232), fill=(250, 200, 30))
    for x in (84, 148):
        draw.ellipse((x, 80, x + 24, 116), fill=(90, 60, 20))  # the eyes
    draw.rectangle((84, 160, 172, 176), fill=(90, 60, 20))  # the mouth
    image.save(tmp_path / "1f642.png")
    torch.manual_seed(0)
    pairs = SketchPairs(tmp_path, 256, simple_share=1.0)
    yy, xx = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    middle = (yy - 127.5) ** 2 + (xx - 127.5) ** 2 < 72 ** 2  # the face's outline is always farther out
    for _ in range(4):
        ink = pairs[0]["a"][0] < 0
        assert ink[middle].sum() > 100, "the features are drawn"


def test_without_the_new_options_the_random_drawings_are_the_same_as_before(tmp_path):
    """Runs made before simple drawings and zoom-out draw the same samples from the same seed: the crop,
    then one Random seeded from torch, then threshold, width, wobble and gaps in that order."""
    import random
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).ellipse((8, 8, 56, 56), fill=(250, 200, 30), outline=(90, 60, 20), width=3)
    image.save(tmp_path / "1f600.png")
    pairs = SketchPairs(tmp_path, 64)
    torch.manual_seed(3)
    got = pairs[0]
    torch.manual_seed(3)
    both = pairs.geometry(torch.cat([pairs.colors[0], pairs.colors[0]]))
    rng = random.Random(torch.randint(0, 2**31, ()).item())
    want = line_drawing(both[3:].float() / 255, threshold=rng.uniform(0.08, 0.3), width=rng.choice([1, 1, 2, 2, 3]),
                        wobble=rng.uniform(0.0, 0.6), gaps=rng.randint(0, 4), rng=rng)
    assert torch.equal(got["a"], want * 2 - 1) and torch.equal(got["b"], both[:3].float() / 255 * 2 - 1)


def test_zoom_out_puts_paper_around_drawing_and_target_alike(tmp_path, monkeypatch):
    """zoom_out: a pair is shrunk onto white paper (a closed outline with a margin, as in the app) half the time,
    and the drawing still traces its target; simple_share 1 draws every sample simplified."""
    import training.data.sketch as sketch_data
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).rectangle((0, 0, 63, 63), fill=(40, 120, 220))  # fills its square, as emoji do
    image.save(tmp_path / "1f7e6.png")
    disc = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(disc).ellipse((0, 0, 63, 63), fill=(40, 120, 220))  # touches all four sides
    (tmp_path / "disc").mkdir()
    disc.save(tmp_path / "disc" / "1f535.png")
    discs = SketchPairs(tmp_path / "disc", 64, zoom_out=0.3)
    torch.manual_seed(1)
    for _ in range(12):  # a shrunk disc is whole: a crop after shrinking would cut it straight (fill ~0.9 of its box)
        blue = ((discs[0]["b"] + 1) / 2 - torch.tensor([40, 120, 220])[:, None, None] / 255).abs().amax(0) < 0.1
        rows, cols = blue.any(1).nonzero().flatten(), blue.any(0).nonzero().flatten()
        if len(rows) < 64 or len(cols) < 64:
            assert blue.sum() / (len(rows) * len(cols)) < 0.84
    blurs = []
    original = sketch_data.line_drawing
    monkeypatch.setattr(sketch_data, "line_drawing", lambda *a, **k: blurs.append(k["simplify"]) or original(*a, **k))
    torch.manual_seed(0)
    pairs = SketchPairs(tmp_path, 64, zoom_out=0.3, simple_share=1.0)
    shrunk = 0
    for _ in range(20):
        pair = pairs[0]
        blue = ((pair["b"] + 1) / 2 - torch.tensor([40, 120, 220])[:, None, None] / 255).abs().amax(0) < 0.1
        if blue.all():
            continue
        shrunk += 1
        rows, cols = blue.any(1).nonzero().flatten(), blue.any(0).nonzero().flatten()
        assert 0.7 * 64 - 2 <= len(rows) <= 64 and 0.7 * 64 - 2 <= len(cols) <= 64
        ink = pair["a"][0] < 0
        ink_rows, ink_cols = ink.any(1).nonzero().flatten(), ink.any(0).nonzero().flatten()
        assert abs(ink_rows.min() - rows.min()) <= 4 and abs(ink_cols.max() - cols.max()) <= 4, "drawn where it is"
    assert 3 <= shrunk <= 17
    assert len(blurs) == 20 and all(0.6 <= b <= 1.3 for b in blurs)
    assert SketchPairs(tmp_path, 64).zoom_out == 0


def test_sketch_pairs_and_written_drawings(tmp_path):
    (tmp_path / "noto" / "train").mkdir(parents=True)
    (tmp_path / "noto" / "test").mkdir(parents=True)
    for split in ("train", "test"):
        image = Image.new("RGB", (64, 64), "white")
        ImageDraw.Draw(image).ellipse((10, 10, 54, 54), fill=(250, 200, 30), outline=(120, 80, 0), width=3)
        image.save(tmp_path / "noto" / split / "1f600.png")
    pair = SketchPairs(tmp_path / "noto" / "train", 64)[0]
    assert pair["a"].shape == pair["b"].shape == (3, 64, 64)
    assert pair["a"].min() == -1 and pair["a"].max() == 1
    out = write_drawings(tmp_path, "noto")
    assert Image.open(out / "test" / "1f600.png").size == (64, 64)


def test_drawings_can_come_from_another_vendors_outline_while_the_target_stays(tmp_path):
    """--outlines-from: with outline_share 1 every drawing is the other folder's shape (a square here) and the
    target is still the colour image (a disc); a file the other folder lacks falls back to its own outline."""
    for folder in ("noto", "square"):
        (tmp_path / folder).mkdir()
    disc = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(disc).ellipse((10, 10, 54, 54), fill=(250, 200, 30))
    square = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(square).rectangle((6, 6, 58, 58), fill=(20, 120, 220))
    disc.save(tmp_path / "noto" / "1f600.png")
    disc.save(tmp_path / "noto" / "2764.png")
    square.save(tmp_path / "square" / "1f600.png")
    torch.manual_seed(0)
    pairs = SketchPairs(tmp_path / "noto", 64, outline_folders=[tmp_path / "square"], outline_share=1.0)
    names = [p.name for p in pairs.colors.files]
    for _ in range(4):
        pair = pairs[names.index("1f600.png")]
        ink = (pair["a"][0] < 0).nonzero().float()
        # the square's outline reaches its corners (about 26 px from the centre on both axes); a disc's does not
        assert ((ink - 31.5).abs().min(1).values > 20).any(), "the drawing is the square's outline"
        colour = (pair["b"] + 1) / 2
        assert (colour[:, 32, 32] - torch.tensor([250, 200, 30]) / 255).abs().max() < 0.05, "the target is the disc"
        assert (colour[:, 1:4, 1:4] > 0.95).all(), "the disc's corners stay white"
        own = pairs[names.index("2764.png")]
        assert not ((((own["a"][0] < 0).nonzero().float() - 31.5).abs().min(1).values > 24).any())
    no_outlines = SketchPairs(tmp_path / "noto", 64)  # without other folders: the drawing is the target's own
    assert no_outlines.outline_share == 0


def test_one_colour_per_drawing_keeps_the_oldest_emoji_of_each_look(tmp_path):
    """Discs of one drawing in three colours keep only the oldest (2764 before 1f499: by number, not by
    name); two smaller discs of one colour with different mouths both stay, as does a square."""
    def picture(name, shape, box, colour, mouth=None):
        image = Image.new("RGB", (64, 64), "white")
        draw = ImageDraw.Draw(image)
        (draw.ellipse if shape == "disc" else draw.rectangle)(box, fill=colour, outline="black", width=2)
        if mouth:
            draw.line(mouth, fill="black", width=2)
        image.save(tmp_path / f"{name}.png")

    big, small = (6, 6, 58, 58), (18, 18, 46, 46)
    picture("2764", "disc", big, (220, 30, 40))
    picture("1f499", "disc", big, (40, 90, 220))
    picture("1f49a", "disc", big, (40, 180, 60))
    picture("1f600", "disc", small, (250, 200, 30), mouth=(26, 36, 38, 36))
    picture("1f610", "disc", small, (250, 200, 30), mouth=(26, 38, 38, 38))
    picture("1f7e6", "square", big, (40, 90, 220))
    assert [code_point_order(n)[1] for n in ("2764", "1f499-fe0f")] == [(0x2764,), (0x1F499, 0xFE0F)]
    assert code_point_order("2764") < code_point_order("1f499") < code_point_order("hand-drawn")

    pairs = SketchPairs(tmp_path, 64, one_colour_per_drawing=True)
    assert sorted(pairs.left_out) == ["1f499", "1f49a"]
    assert sorted(p.stem for p in pairs.colors.files) == ["1f600", "1f610", "1f7e6", "2764"] and len(pairs) == 4
    everything = SketchPairs(tmp_path, 64)
    assert everything.left_out == [] and len(everything) == 6
    assert pairs[3]["b"].shape == (3, 64, 64)  # the kept files and their cache line up after the cut
    # in the trainer, the training set is cut; the held-out sample folder never is
    args = train_pix2pix.parse_args(["--sketch-from", str(tmp_path), "--out", str(tmp_path / "run"),
                                     "--one-colour-per-drawing", "--image-size", "64"])
    assert len(train_pix2pix.make_dataset(args)) == 4 and len(train_pix2pix.make_dataset(args, tmp_path)) == 6
    # compared at 64 px whatever the training size: the same emoji are left out at 128
    assert sorted(SketchPairs(tmp_path, 128, one_colour_per_drawing=True).left_out) == ["1f499", "1f49a"]


def test_sketch_input_is_cut_to_the_drawing_and_keeps_thin_strokes(tmp_path):
    folder, _ = tiny_pix2pix_dir(tmp_path, input_kind="sketch")
    t = translator.load(str(folder), warm_up=False)
    canvas = Image.new("RGBA", (1000, 700), (0, 0, 0, 0))  # a sketchpad: transparent paper
    ImageDraw.Draw(canvas).ellipse((100, 100, 300, 300), outline=(0, 0, 0, 255), width=4)  # small, in a corner
    x, _ = t.prepare(canvas)
    ink = (x[0, 0] < 0).nonzero()
    assert ink[:, 0].min() <= 6 and ink[:, 0].max() >= 57  # the circle now spans the square
    assert x.min() == -1  # a 4 px stroke on a 1000 px canvas is still fully black at 64 px
    assert images.is_blank(Image.new("RGBA", (50, 50))) and not images.is_blank(canvas)


def test_pix2pix_trains_both_variants_and_loads(tmp_path, monkeypatch):
    color = tmp_path / "emoji" / "noto" / "train"
    color.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        image = Image.new("RGB", (64, 64), "white")
        x, y = rng.integers(4, 20, 2)
        ImageDraw.Draw(image).ellipse((int(x), int(y), int(x) + 40, int(y) + 40), fill=(250, 200, 30))
        image.save(color / f"{i}.png")
    # disc 0 again in blue: --one-colour-per-drawing leaves it out (the same drawing, another colour)
    recoloured = np.asarray(Image.open(color / "0.png")).copy()
    recoloured[(recoloured == (250, 200, 30)).all(-1)] = (40, 90, 220)
    Image.fromarray(recoloured).save(color / "99.png")
    other = tmp_path / "emoji" / "twemoji" / "train"  # another vendor's renderings, under the same names
    other.mkdir(parents=True)
    for i in range(4):
        image = Image.new("RGB", (64, 64), "white")
        ImageDraw.Draw(image).rectangle((10, 10, 50, 50), fill=(40, 120, 220))
        image.save(other / f"{i}.png")
    import training.data.sketch as sketch_data
    look_alike_passes = []
    original_pass = sketch_data.keep_one_colour_per_drawing
    monkeypatch.setattr(sketch_data, "keep_one_colour_per_drawing",
                        lambda images: look_alike_passes.append(1) or original_pass(images))
    masks, chosen_for_loss = [], []  # what the trainer asks palette_pixels for and hands the cross-entropy
    monkeypatch.setattr(train_pix2pix, "palette_pixels",
                        lambda drawing, regions, strokes, width: masks.append((regions, strokes, palette_pixels(
                            drawing, regions, strokes, width))) or masks[-1][2])
    darkest, original_darkest = [], train_pix2pix.darkest_neighbour
    monkeypatch.setattr(train_pix2pix, "darkest_neighbour",
                        lambda image: darkest.append((image, original_darkest(image))) or darkest[-1][1])
    original_loss = train_pix2pix.palette_choice_loss
    monkeypatch.setattr(train_pix2pix, "palette_choice_loss",
                        lambda scores, target, chosen, *rest: chosen_for_loss.append((chosen, target)) or original_loss(
                            scores, target, chosen, *rest))
    for variant, extra in (("gan", ["--set", "diff_augment=color,translation,cutout", "--outlines-from", str(other),
                                    "--inside-channel", "--region-colours", "--palette-size", "2", "--palette-strokes",
                                    "--stroke-target", "darker-side"]),
                           ("l1", ["--lambda-gan", "0", "--norm", "layer", "--batch-size", "2",
                                   "--simple-drawings", "0.5", "--zoom-out", "0.3"]),
                           ("inner", ["--inner-norm", "layer", "--layer-norm-scale", "one", "--one-colour-per-drawing"])):
        out = tmp_path / variant
        train_pix2pix.main(["--sketch-from", str(color), "--out", str(out), "--image-size", "64", "--ngf", "4",
                            "--ndf", "4", "--steps", "3", "--log-every", "1", "--threads", "1", *extra])
        info = json.loads((out / "export" / "training.json").read_text())
        assert info["steps"] == 3 and info["losses"]["gan"] == ("none" if variant == "l1" else "vanilla")
        assert info["losses"].get("diff_augment") == ("color,translation,cutout" if variant == "gan" else None)
        assert info.get("outlines_from") == ([str(other)] if variant == "gan" else None)
        assert (info.get("simple_drawings"), info.get("zoom_out")) == ((0.5, 0.3) if variant == "l1" else (None, None))
        assert info["inside_channel"] == (variant == "gan")
        assert info.get("region_colours") == (True if variant == "gan" else None)
        if variant == "gan":  # two palette colours, the discs' yellow and blue, from the five discs' insides
            assert info["palette"]["size"] == 2 and info["palette"]["regions"] == 5 and info["losses"]["l1_off_regions"]
            assert info["losses"]["l1_off_strokes"]
            # every step: the strokes (off the regions) among the pixels whose colour is chosen, and scored so
            assert len(masks) == len(chosen_for_loss) == 3 and all(strokes for _, strokes, _ in masks)
            assert all(loss_mask is mask for (_, _, mask), (loss_mask, _) in zip(masks, chosen_for_loss))
            assert all((mask & (regions.unsqueeze(1) == 0)).any() for regions, _, mask in masks)
            # darker side: the strokes' colours asked for are their darkest neighbours' (the trainer's wiring)
            assert info["losses"]["stroke_target"] == "darker-side" and info["losses"]["palette_stroke_width"] == 1
            assert info["losses"]["regressed_stroke_target"] is False
            assert len(darkest) == 3  # each step: the strokes ask for their darkest neighbour, the rest as before
            for (regions, _, mask), (_, asked), (target, dark) in zip(masks, chosen_for_loss, darkest):
                stroke = mask & (regions.unsqueeze(1) == 0)
                assert torch.equal(asked, torch.where(stroke, dark, target)) and not torch.equal(dark, target)
            assert all("palette" in json.loads(line) for line in (out / "log.jsonl").read_text().splitlines())
        assert info.get("one_colour_per_drawing") == ({"kept": 4, "left_out": ["99"]} if variant == "inner" else None)
        assert len(look_alike_passes) == (variant == "inner")  # once, for the training set only (no --sample-from)
        look_alike_passes.clear()
        if variant == "gan":  # the conditional discriminator sees the drawing, its inside channel and an image
            from safetensors.torch import load_file
            discriminator = load_file(out / "checkpoint" / "model_1.safetensors")
            first = min((k for k, v in discriminator.items() if v.dim() == 4), key=lambda k: k.split("."))
            assert discriminator[first].shape[1] == 3 + 1 + 3, first
        t = translator.load(str(out / "export"), warm_up=False)
        assert t.config["input_kind"] == "sketch" and t.domains == ("noto-sketch", "noto")
        assert t.config.get("inside_channel", False) == (variant == "gan")
        assert t.config.get("region_colours", False) == (variant == "gan")
        assert t.config.get("palette_size", 0) == (2 if variant == "gan" else 0)
        assert t.config.get("palette_strokes", False) == (variant == "gan")
        if variant == "gan":
            found = sorted(((t.model.palette.float() * 0.5 + 0.5) * 255).round().int().tolist())
            assert all(abs(g - w) <= 12 for got, want in zip(found, [[40, 90, 220], [250, 200, 30]])
                       for g, w in zip(got, want)), found
        assert t.config["norm"] == ("layer" if variant == "l1" else "batch")
        assert t.config.get("inner_norm") == ("layer" if variant == "inner" else None)
        scales = [m.gamma.detach() for m in t.model.modules() if hasattr(m, "gamma")]
        assert info.get("layer_norm_scale") == {"gan": None, "l1": "uniform", "inner": "one"}[variant]
        if variant == "inner":  # --layer-norm-scale one: around 1 after 3 steps, not uniform in [0, 1)
            assert (torch.cat(scales) - 1).abs().max() < 0.1
        elif variant == "l1":
            assert torch.cat(scales).std() > 0.2
        assert t.translate(ROOT / "assets/examples/pix2pix/hand-drawn-smiley.png").mode == "RGB"


def test_a_run_warm_starts_from_an_export_with_a_fresh_discriminator(tmp_path, capsys):
    """--warm-start from an export folder (what a shipped model is: the generator's moving average only): the
    generator starts from its weights, the discriminator from scratch, and the card lists where it came from."""
    from safetensors.torch import load_file
    color = tmp_path / "noto"
    color.mkdir()
    for i in range(3):
        image = Image.new("RGB", (64, 64), "white")
        ImageDraw.Draw(image).ellipse((10 + i, 10, 50, 50), fill=(250, 200, 30))
        image.save(color / f"{i}.png")
    common = ["--sketch-from", str(color), "--image-size", "64", "--ngf", "4", "--ndf", "4", "--threads", "1",
              "--log-every", "1"]
    train_pix2pix.main([*common, "--out", str(tmp_path / "source"), "--steps", "2"])
    source = tmp_path / "source" / "export"
    train_pix2pix.main([*common, "--out", str(tmp_path / "warm"), "--steps", "0", "--warm-start", str(source)])
    exported, saved = load_file(tmp_path / "warm" / "export" / "model.safetensors"), load_file(source / "model.safetensors")
    assert exported.keys() == saved.keys() and all(torch.equal(exported[k], saved[k]) for k in saved)
    sessions = json.loads((tmp_path / "warm" / "export" / "training.json").read_text())["sessions"]
    assert any(f"warm start from {source}" in line for line in sessions)
    with pytest.raises(SystemExit):  # it compares drawings made from colour images
        train_pix2pix.main(["--pairs", str(color), "--out", str(tmp_path / "bad"), "--one-colour-per-drawing"])
    assert "--one-colour-per-drawing goes with --sketch-from" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # it reads the regions of line drawings
        train_pix2pix.main(["--pairs", str(color), "--out", str(tmp_path / "bad"), "--region-colours"])
    assert "--region-colours goes with --sketch-from" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # it chooses stroke colours from a palette
        train_pix2pix.main([*common, "--out", str(tmp_path / "bad"), "--region-colours", "--palette-strokes"])
    assert "--palette-strokes chooses stroke colours from the palette" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the colour asked of a chosen stroke
        train_pix2pix.main([*common, "--out", str(tmp_path / "bad"), "--region-colours", "--palette-size", "2",
                            "--stroke-target", "darker-side"])
    assert "--stroke-target is the colour asked of a chosen stroke" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # an even width has no middle pixel
        train_pix2pix.main([*common, "--out", str(tmp_path / "bad"), "--region-colours", "--palette-size", "2",
                            "--palette-strokes", "--palette-stroke-width", "4"])
    assert "--palette-stroke-width is an odd width" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # with every stroke chosen, none is regressed
        train_pix2pix.main([*common, "--out", str(tmp_path / "bad"), "--region-colours", "--palette-size", "2",
                            "--palette-strokes", "--stroke-target", "dark-features", "--regressed-stroke-target"])
    assert "--regressed-stroke-target asks the regressed strokes" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # no palette: every pixel is regressed, by the plain L1
        train_pix2pix.main([*common, "--out", str(tmp_path / "bad"), "--region-colours", "--stroke-target",
                            "dark-features", "--regressed-stroke-target"])
    assert "--regressed-stroke-target asks the regressed strokes" in capsys.readouterr().err
    for chosen in ([], ["--palette-strokes", "--palette-stroke-width", "5"]):  # the two that regress some strokes
        args = train_pix2pix.parse_args([*common, "--out", str(tmp_path / "ok"), "--region-colours", "--palette-size",
                                         "2", "--stroke-target", "dark-features", "--regressed-stroke-target", *chosen])
        assert args.regressed_stroke_target and args.stroke_target == "dark-features"
    with pytest.raises(SystemExit):  # it asks for a --stroke-target colour
        train_pix2pix.main([*common, "--out", str(tmp_path / "bad"), "--region-colours", "--palette-size", "2",
                            "--regressed-stroke-target"])
    assert "--regressed-stroke-target asks the regressed strokes" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # it adds to the palette's scores
        train_pix2pix.main([*common, "--out", str(tmp_path / "bad"), "--region-colours", "--palette-global"])
    assert "--palette-global adds to the palette's scores" in capsys.readouterr().err
    for flag, value in (("--zoom-out", "0.3"), ("--simple-drawings", "0.5")):  # they change drawings made from colour
        with pytest.raises(SystemExit):
            train_pix2pix.main(["--pairs", str(color), "--out", str(tmp_path / "bad"), flag, value])
        assert "go with --sketch-from" in capsys.readouterr().err
    for flag, value in (("--zoom-out", "1"), ("--simple-drawings", "1.5")):
        with pytest.raises(SystemExit):
            train_pix2pix.main([*common, "--out", str(tmp_path / "bad"), flag, value])
        assert flag in capsys.readouterr().err
    with pytest.raises(SystemExit, match="checkpoint folder or an export"):
        train_pix2pix.main([*common, "--out", str(tmp_path / "bad"), "--steps", "0", "--warm-start", str(tmp_path / "noto")])


def test_a_palette_global_run_warm_starts_from_one_without_the_head(tmp_path, capsys):
    """--palette-global adds a head: warm-started from a palette run without it (an export, or a checkpoint
    with its moving average), every saved weight loads, the head starts fresh and the run says so; a
    saved network lacking part of a module is still an error."""
    from safetensors.torch import load_file

    from training.common import modules_added
    color = tmp_path / "noto"
    color.mkdir()
    for i in range(3):
        image = Image.new("RGB", (64, 64), "white")
        ImageDraw.Draw(image).ellipse((10 + i, 10, 50, 50), fill=(250, 200, 30), outline=(0, 0, 0), width=2)
        image.save(color / f"{i}.png")
    plain = ["--sketch-from", str(color), "--image-size", "64", "--ngf", "4", "--threads", "1", "--log-every", "1",
             "--lambda-gan", "0", "--set", "ema=0.9"]
    common = [*plain, "--region-colours", "--palette-size", "2"]
    train_pix2pix.main([*common, "--out", str(tmp_path / "source"), "--steps", "2"])
    saved = load_file(tmp_path / "source" / "export" / "model.safetensors")
    assert not any(k.startswith("palette_global_head") for k in saved)
    for source in (tmp_path / "source" / "export", tmp_path / "source" / "checkpoint"):
        capsys.readouterr()
        out = tmp_path / f"warm-{source.name}"
        train_pix2pix.main([*common, "--palette-global", "--out", str(out), "--steps", "0", "--warm-start", str(source)])
        assert "palette_global_head not in" in capsys.readouterr().out
        exported = load_file(out / "export" / "model.safetensors")
        assert {k for k in exported if k.startswith("palette_global_head")} == {"palette_global_head.weight",
                                                                                 "palette_global_head.bias"}
        assert all(torch.equal(exported[k], saved[k]) for k in saved), source.name
    assert modules_added({"a.w", "a.b", "head.w"}, {"a.w", "a.b"}, ("head",)) == ["head"]
    assert modules_added({"a.w", "a.b", "head.w"}, {"a.w", "a.b"}) == "head.w"  # not optional: a deeper network
    assert modules_added({"a.w", "a.b", "head.w"}, {"a.w", "head.w"}, ("head",)) == "a.b"  # a half-saved module
    assert modules_added({"palette", "a.w"}, {"a.w"}, ("head",)) == "palette"  # the network's own buffer
    with pytest.raises(SystemExit, match="holds palette_global_head"):  # the other way: the head has nowhere to go
        train_pix2pix.main([*common, "--out", str(tmp_path / "bad"), "--steps", "0",
                            "--warm-start", str(tmp_path / "warm-checkpoint" / "checkpoint")])
    train_pix2pix.main([*plain, "--out", str(tmp_path / "plain"), "--steps", "1"])
    with pytest.raises(SystemExit, match="lacks palette"):  # a run without a palette has no colours to choose from
        train_pix2pix.main([*common, "--out", str(tmp_path / "bad"), "--steps", "0",
                            "--warm-start", str(tmp_path / "plain" / "export")])


def test_a_long_thin_drawing_is_shrunk_before_it_is_squared():
    """Squaring a 6000x300 drawing at full size would allocate 6000x6000; it is shrunk first."""
    import resource
    import time

    from PIL import ImageDraw

    t = translator.load("pix2pix-sketch2emoji")
    drawing = Image.new("RGB", (6000, 300), "white")
    ImageDraw.Draw(drawing).line([(10, 150), (5990, 150)], fill="black", width=20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = t.translate(drawing)
    assert time.perf_counter() - start < 5 and out.mode == "RGB"
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 300  # MB more at the peak


def flood_fill_inside(drawing: np.ndarray) -> np.ndarray:
    """An independent reference for inside_of_drawing: HxW bool ink -> HxW bool inside, by breadth-first search
    of the paper (after thickening the strokes by a pixel) from every border pixel, 4-neighbour."""
    from collections import deque
    h, w = drawing.shape
    thick = np.zeros_like(drawing)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            thick |= np.roll(np.pad(drawing, 1), (dy, dx), (0, 1))[1:-1, 1:-1]
    outside = np.zeros_like(drawing)
    queue = deque((y, x) for y in range(h) for x in range(w)
                  if (y in (0, h - 1) or x in (0, w - 1)) and not thick[y, x])
    for y, x in queue:
        outside[y, x] = True
    while queue:
        y, x = queue.popleft()
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= ny < h and 0 <= nx < w and not thick[ny, nx] and not outside[ny, nx]:
                outside[ny, nx] = True
                queue.append((ny, nx))
    return ~outside


def as_signed_drawing(image: Image.Image, size: int = 64) -> torch.Tensor:
    array = np.asarray(image.convert("L").resize((size, size)), dtype=np.float32) / 127.5 - 1
    return torch.from_numpy(array)[None, None].expand(1, 3, -1, -1)


def app_example_drawings() -> torch.Tensor:
    return torch.cat([as_signed_drawing(Image.open(path))
                      for path in sorted((ROOT / "assets/examples/pix2pix").glob("*.png"))])


def test_inside_of_drawing_marks_what_the_strokes_enclose():
    image = Image.new("L", (64, 64), 255)
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 30, 30), outline=0)           # a closed box: its inside is inside
    draw.rectangle((36, 8, 58, 30), outline=0)
    draw.line((47, 8, 48, 8), fill=255)                 # ... and a box with a 2-pixel gap: still closed
    draw.rectangle((8, 36, 30, 58), outline=0)
    draw.line((14, 36, 24, 36), fill=255)               # a box open by 11 pixels: its inside is outside
    draw.line((40, 40, 56, 56), fill=0)                 # a lone stroke encloses nothing
    inside = inside_of_drawing(as_signed_drawing(image))[0, 0]
    assert inside.shape == (64, 64) and set(inside.unique().tolist()) == {-1.0, 1.0}
    assert inside[19, 19] == 1 and inside[19, 47] == 1
    assert inside[47, 19] == -1 and inside[47, 52] == -1 and inside[48, 48] == 1  # (a stroke is inside)
    assert inside[2, 2] == -1 and inside[33, 33] == -1


def test_inside_of_drawing_is_a_flood_fill_of_the_app_examples_and_per_image_in_a_batch():
    drawings = app_example_drawings()
    inside = inside_of_drawing(drawings)
    for drawing, got in zip(drawings, inside):
        expected = flood_fill_inside(drawing.mean(0).numpy() < 0)
        assert expected.mean() > 0.2  # every example encloses something
        np.testing.assert_array_equal(got[0].numpy() > 0, expected)
    for i in range(len(drawings)):  # batched or alone: the same
        assert torch.equal(inside_of_drawing(drawings[i:i + 1]), inside[i:i + 1])


def test_inside_of_drawing_traces_into_a_graph_that_fills_exactly_as_eager(tmp_path):
    """The fast path runs the fill inside the exported graph: on real drawings (random noise would be nearly
    all ink once thickened, an empty test) the graph must give exactly eager's answer."""
    onnxruntime = pytest.importorskip("onnxruntime")
    from translator.fast_path import export

    class Fill(torch.nn.Module):
        def forward(self, image):
            return inside_of_drawing(image)

    drawings = app_example_drawings()
    export(Fill(), (drawings[:1],), tmp_path / "fill.onnx", ["image"])
    session = onnxruntime.InferenceSession(str(tmp_path / "fill.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": drawings.numpy()})[0]
    np.testing.assert_array_equal(got, inside_of_drawing(drawings).numpy())


def test_a_model_with_the_inside_channel_takes_three_channels_and_translates_the_same_through_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    folder, model = tiny_pix2pix_dir(tmp_path, input_kind="sketch", inside_channel=True)
    assert model.generator.down[0].conv.in_channels == 4
    drawing = Image.open(ROOT / "assets/examples/pix2pix/hand-drawn-smiley.png")
    eager = translator.load(str(folder), warm_up=False)
    fast = translator.load(str(folder), warm_up=False, fast="always")
    assert fast.fast_path.report["used"], fast.fast_path.report
    a, b = (np.asarray(t.translate(drawing), dtype=float) for t in (eager, fast))
    assert fast.last_fast and np.abs(a - b).max() <= 3
    x = eager.prepare(drawing)[0]
    with torch.no_grad():  # the channel matters: the same drawing with its inside flipped gives another image
        plain = eager.model.generator(torch.cat([x, inside_of_drawing(x)], 1))
        flipped = eager.model.generator(torch.cat([x, -inside_of_drawing(x)], 1))
        assert torch.allclose(eager.translate_tensor(x), plain, atol=1e-6)
    assert (plain - flipped).abs().max() > 1e-3
    for bad in ({"input_kind": "image"}, {"input_kind": "sketch", "in_channels": 1}):
        with pytest.raises(ValueError, match="inside_channel"):
            Pix2Pix(64, num_downs=6, inside_channel=True, **bad)


def test_inner_norm_is_used_at_the_two_levels_next_to_the_bottleneck_only():
    """Version 11's U-Net: layer norm on the 2x2 and 4x4 maps (down and up), batch norm elsewhere, the 1x1
    bottleneck and the outermost conv unnormalised as in the paper."""
    g = UNetGenerator(ngf=8, num_downs=6, inner_norm="layer")
    sizes, x = [], torch.randn(1, 3, 64, 64)
    for i, block in enumerate(g.down):
        x = block(x)
        sizes.append((x.shape[-1], type(block.norm).__name__))
    assert sizes == [(32, "Identity"), (16, "BatchNorm2d"), (8, "BatchNorm2d"), (4, "LayerNorm"), (2, "LayerNorm"),
                     (1, "Identity")]
    assert [type(block.norm).__name__ for block in g.up] == ["LayerNorm", "LayerNorm", "BatchNorm2d", "BatchNorm2d",
                                                             "BatchNorm2d"]  # outputs 2, 4, 8, 16, 32 px
    assert g.down[3].conv.bias is not None and g.down[2].conv.bias is None  # a bias only where no batch norm follows
    assert g.down[5].conv.bias is None  # the bottleneck's conv as the paper's
    assert count(g) == count(UNetGenerator(ngf=8, num_downs=6)) + 4 * 64  # the biases of the four convs before layer norm
    same = UNetGenerator(ngf=8, num_downs=6, inner_norm="batch")  # the inner norm equal to `norm`: the paper's U-Net
    assert same.state_dict().keys() == UNetGenerator(ngf=8, num_downs=6).state_dict().keys()
    assert count(same) == count(UNetGenerator(ngf=8, num_downs=6))


def test_layer_norm_scales_start_uniform_or_around_one():
    from translator.layers import LayerNorm, init_weights

    torch.manual_seed(0)
    uniform, one = (UNetGenerator(ngf=8, num_downs=6, norm="layer") for _ in range(2))
    init_weights(uniform)
    init_weights(one, layer_norm_scale="one")
    scales = {name: torch.cat([m.gamma.detach() for m in g.modules() if isinstance(m, LayerNorm)])
              for name, g in (("uniform", uniform), ("one", one))}
    assert scales["uniform"].min() >= 0 and scales["uniform"].max() < 1 and scales["uniform"].std() > 0.2
    assert abs(scales["one"].mean() - 1) < 0.01 and scales["one"].std() < 0.05
    with pytest.raises(ValueError, match="layer_norm_scale"):
        init_weights(one, layer_norm_scale="ones")


def test_batch_norm_only_at_the_inner_levels_is_per_image_at_inference_too(tmp_path):
    folder, model = tiny_pix2pix_dir(tmp_path, norm="layer", inner_norm="batch")
    t = translator.load(str(folder), warm_up=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in t.model.modules())
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(t.translate_tensor(x), trained_as(model, x), atol=1e-5)


def test_a_model_with_an_inner_norm_saves_loads_and_runs_through_onnx_as_eager(tmp_path):
    pytest.importorskip("onnxruntime")
    folder, model = tiny_pix2pix_dir(tmp_path, input_kind="sketch", inner_norm="layer")
    assert json.loads((folder / "config.json").read_text())["inner_norm"] == "layer"
    eager = translator.load(str(folder), warm_up=False)
    kinds = {type(m).__name__ for m in eager.model.modules()}
    assert "LayerNorm" in kinds and "InstanceNorm2d" in kinds and "BatchNorm2d" not in kinds  # per image, as trained
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():  # training-mode batch norm at batch 1, per image, is what the translator computes
        assert torch.allclose(eager.translate_tensor(x), trained_as(model, x), atol=1e-5)
    fast = translator.load(str(folder), warm_up=False, fast="always")
    assert fast.fast_path.report["used"], fast.fast_path.report
    drawing = Image.open(ROOT / "assets/examples/pix2pix/hand-drawn-heart.png")
    a, b = (np.asarray(t.translate(drawing), dtype=float) for t in (eager, fast))
    assert fast.last_fast and np.abs(a - b).max() <= 3
    with pytest.raises(ValueError, match="norm must be one of"):
        Pix2Pix(64, num_downs=6, inner_norm="group")


def test_smoothing_between_strokes_never_crosses_a_stroke_and_keeps_the_strokes():
    """training.stroke_smoothing's post-process (measured, not in the pipeline): a vertical stroke splits the
    paper into two regions; each is averaged on its own side, the stroke's pixels keep the model's colour."""
    from training.stroke_smoothing import smooth_between_strokes
    drawing = torch.ones(1, 3, 16, 16)
    drawing[..., :, 7:9] = -1  # the stroke
    torch.manual_seed(0)
    output = torch.rand(1, 3, 16, 16) * 0.2
    output[..., :, :7] += 0.7  # left region bright, right region dark, both noisy
    smoothed = smooth_between_strokes(output, drawing, 200)
    for region in ((slice(None), slice(0, 7)), (slice(None), slice(9, None))):  # left, right of the stroke
        before, after = output[(..., *region)], smoothed[(..., *region)]
        assert after.std((2, 3)).max() < 0.01  # flat: the noise (std 0.06) is gone
        assert (after.mean((2, 3)) - before.mean((2, 3))).abs().max() < 0.01  # its own colour, nothing from across
    assert torch.equal(smoothed[..., :, 7:9], output[..., :, 7:9])
    assert torch.equal(smooth_between_strokes(output, drawing, 0), output)
    one = smooth_between_strokes(output, drawing, 1)  # one step: each paper pixel is its paper 3x3 mean
    assert torch.allclose(one[0, :, 5, 3], output[0, :, 4:7, 2:5].mean((1, 2)))
    assert torch.allclose(one[0, :, 5, 6], output[0, :, 4:7, 5:7].mean((1, 2)))  # the stroke's column left out


def test_stroke_smoothing_measures_a_drawing_model_on_its_split(tmp_path, capsys):
    from training import stroke_smoothing
    folder, _ = tiny_pix2pix_dir(tmp_path, input_kind="sketch")
    data = tmp_path / "data"
    for split in ("train", "test"):
        for domain in ("noto", "noto-sketch"):
            (data / "emoji-64" / domain / split).mkdir(parents=True)
        for i, colour in enumerate([(250, 200, 30), (220, 40, 40), (40, 120, 220)]):
            image = Image.new("RGB", (64, 64), "white")
            ImageDraw.Draw(image).ellipse((8 + i, 8, 56 - i, 56), fill=colour)
            image.save(data / "emoji-64" / "noto" / split / f"{i}.png")
            drawing = Image.new("RGB", (64, 64), "white")
            ImageDraw.Draw(drawing).ellipse((8 + i, 8, 56 - i, 56), outline="black", width=2)
            drawing.save(data / "emoji-64" / "noto-sketch" / split / f"{i}.png")
    out = tmp_path / "smoothing.json"
    stroke_smoothing.main(["--model", str(folder), "--data", str(data), "--no-judge", "--steps", "0", "4",
                           "--json", str(out), "--sheet", str(tmp_path / "sheet.png"), "--sheet-steps", "4"])
    result = json.loads(out.read_text())
    assert result["n"] == 3 and set(result["steps"]) == {"0", "4"}
    assert result["steps"]["4"]["roughness"] < result["steps"]["0"]["roughness"]  # smoothing smooths
    width, height = Image.open(tmp_path / "sheet.png").size
    assert width > 3 * 128 and height > 4 * 128  # three drawings; drawing, raw, 4 steps, target
    assert "4 steps" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="is missing"):
        stroke_smoothing.main(["--model", str(folder), "--data", str(tmp_path / "nowhere"), "--no-judge"])
    with pytest.raises(SystemExit, match="0 or more"):
        stroke_smoothing.main(["--model", str(folder), "--data", str(data), "--no-judge", "--steps", "-1"])
    with pytest.raises(SystemExit, match="--model"):
        stroke_smoothing.main(["--model", str(tmp_path / "no-model"), "--data", str(data), "--no-judge"])
    photo_model, _ = tiny_pix2pix_dir(tmp_path / "photo")  # input_kind "image": no strokes to smooth between
    with pytest.raises(SystemExit, match="does not take line drawings"):
        stroke_smoothing.main(["--model", str(photo_model), "--data", str(data), "--no-judge"])
    for image in (data / "emoji-64" / "noto" / "train").iterdir():
        image.rename(image.with_name("x" + image.name))
    with pytest.raises(SystemExit, match="no image name in common"):
        stroke_smoothing.main(["--model", str(folder), "--data", str(data), "--no-judge"])


def test_paper_whiteness_is_the_outputs_mean_on_the_paper_outside_the_strokes():
    from training.paper_check import paper_whiteness

    drawing = torch.ones(1, 3, 32, 32)
    drawing[..., 8, 8:24] = drawing[..., 23, 8:24] = drawing[..., 8:24, 8] = drawing[..., 8:24, 23] = -1  # a square
    white, black = torch.ones(1, 3, 32, 32), -torch.ones(1, 3, 32, 32)
    filled = white.clone()
    filled[..., 8:24, 8:24] = -1  # what the square encloses coloured, the paper kept
    assert paper_whiteness(drawing, white) == 1 and paper_whiteness(drawing, black) == 0
    assert paper_whiteness(drawing, filled) == 1  # colour inside the drawing is not the paper's
    grey_paper = torch.where(drawing > 0, torch.zeros_like(white), white)  # everything off the strokes mid-grey
    assert 0.4 < paper_whiteness(drawing, grey_paper) < 0.6


def test_paper_check_scores_each_app_drawing_of_the_shipped_model(capsys):
    from training import paper_check

    paper_check.main(["--model", "pix2pix-sketch2emoji"])
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| model |") and "hand-drawn-star" in table[0]
    cells = table[2].split("|")[2:-2]
    assert len(cells) == len(list(paper_check.EXAMPLES.glob("*.png"))) and all(float(c) > 0.9 for c in cells)
    with pytest.raises(SystemExit, match="cyclegan"):
        paper_check.main(["--model", "cyclegan-noto2twemoji"])


def test_paper_check_leaves_out_a_drawing_with_no_paper_and_refuses_a_missing_model(tmp_path, capsys, monkeypatch):
    from training import paper_check

    all_ink = -torch.ones(1, 3, 32, 32)  # no paper outside the strokes, nothing to score
    assert math.isnan(paper_check.paper_whiteness(all_ink, torch.ones(1, 3, 32, 32)))
    monkeypatch.setattr(paper_check, "check", lambda model, examples: [float("nan"), 0.81, 0.97])
    paper_check.main(["--model", "any"])
    cells = [c.strip() for c in capsys.readouterr().out.splitlines()[2].split("|")[2:-1]]
    assert cells[0] == "–" and cells[-1] == "**0.81**"  # the lowest of what could be scored
    monkeypatch.undo()
    with pytest.raises(SystemExit, match="is not a shipped model"):
        paper_check.main(["--model", str(tmp_path / "no-such-model")])


def test_enclosed_regions_numbers_each_region_the_strokes_close_and_nothing_else():
    image = Image.new("L", (64, 64), 255)
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, 24, 24), outline=0)            # a closed box: one region
    draw.line((4, 14, 24, 14), fill=0)                   # ... cut in two by a line: two regions
    draw.polygon([(44, 2), (60, 18), (44, 34), (28, 18)], outline=0)  # one-pixel diagonal strokes still close
    draw.rectangle((8, 36, 30, 58), outline=0)
    draw.line((14, 36, 24, 36), fill=255)                # a box with a gap: its inside is the outside
    regions = enclosed_regions(as_signed_drawing(image))[0]
    top, bottom, diamond = regions[9, 14].item(), regions[19, 14].item(), regions[18, 44].item()
    assert len({top, bottom, diamond}) == 3 and min(top, bottom, diamond) > 0
    assert (regions[5:14, 5:24] == top).all() and (regions[15:24, 5:24] == bottom).all()
    assert regions[4, 10] == 0 and regions[14, 10] == 0  # strokes
    assert regions[47, 19] == 0 and regions[1, 1] == 0 and regions[62, 62] == 0  # open box, outside
    assert set(regions.unique().tolist()) == {0, top, bottom, diamond}


def connected_paper(paper: np.ndarray) -> np.ndarray:
    """An independent reference for enclosed_regions: HxW bool paper -> HxW int labels, 0 on the strokes and on
    every component that touches the border, 1, 2, ... on the others; breadth-first search, 4-neighbour."""
    from collections import deque
    h, w = paper.shape
    labels = np.zeros((h, w), dtype=int)
    count = 0
    for start in zip(*np.nonzero(paper)):
        if labels[start]:
            continue
        count += 1
        labels[start] = count
        queue, members = deque([start]), [start]
        while queue:
            y, x = queue.popleft()
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and paper[ny, nx] and not labels[ny, nx]:
                    labels[ny, nx] = count
                    queue.append((ny, nx))
                    members.append((ny, nx))
        if any(y in (0, h - 1) or x in (0, w - 1) for y, x in members):
            for member in members:
                labels[member] = -1
    return np.maximum(labels, 0)


def test_enclosed_regions_of_the_app_examples_are_the_connected_components_that_miss_the_border():
    drawings = app_example_drawings()
    regions = enclosed_regions(drawings)
    for drawing, got in zip(drawings, regions):
        expected = connected_paper(drawing.mean(0).numpy() >= 0)
        got = got.numpy()
        assert (expected > 0).any()
        np.testing.assert_array_equal(got > 0, expected > 0)
        # the same partition: each expected region is one number, and no number spans two regions
        pairs = {(e, g) for e, g in zip(expected[expected > 0], got[expected > 0])}
        assert len(pairs) == len({e for e, _ in pairs}) == len({g for _, g in pairs})
    for i in range(len(drawings)):
        assert torch.equal(enclosed_regions(drawings[i:i + 1]), regions[i:i + 1])


def test_colour_by_region_gives_each_region_its_mean_and_leaves_strokes_and_outside_alone():
    drawing = app_example_drawings()[:2]
    output = torch.rand(2, 3, 64, 64, requires_grad=True)
    coloured = colour_by_region(output, drawing)
    regions = enclosed_regions(drawing)
    for i in range(2):
        numbers = [n for n in regions[i].unique().tolist() if n > 0]
        assert numbers
        for n in numbers:
            mask = regions[i] == n
            mean = output[i][:, mask].mean(1, keepdim=True)
            assert torch.allclose(coloured[i][:, mask], mean.expand(-1, int(mask.sum())), atol=1e-6)
        assert torch.equal(coloured[i][:, regions[i] == 0], output[i][:, regions[i] == 0])
    # trainable: one region pixel's value depends on every pixel of its region, 1/n each, and on nothing else
    y, x = (regions[0] > 0).nonzero()[0].tolist()
    coloured[0, 0, y, x].backward()
    mask = regions[0] == regions[0, y, x]
    assert torch.allclose(output.grad[0, 0][mask], torch.full((int(mask.sum()),), 1 / mask.sum().item()))
    assert output.grad[0, 0][~mask].abs().sum() == 0 and output.grad[0, 1:].abs().sum() == 0 and output.grad[1].abs().sum() == 0


def test_a_model_with_region_colours_is_flat_inside_each_region_and_the_same_through_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    folder, model = tiny_pix2pix_dir(tmp_path, input_kind="sketch", region_colours=True)
    drawing = Image.open(ROOT / "assets/examples/pix2pix/drawing-1f601.png")
    eager = translator.load(str(folder), warm_up=False)
    fast = translator.load(str(folder), warm_up=False, fast="always")
    assert eager.config["region_colours"] and fast.fast_path.report["used"], fast.fast_path.report
    x = eager.prepare(drawing)[0]
    with torch.no_grad():
        y = eager.translate_tensor(x)
        raw = eager.model.generator(x)
    regions = enclosed_regions(x)[0]
    assert (regions > 0).sum() > 200
    for n in regions.unique().tolist():
        if n > 0:
            inside = y[0][:, regions == n]
            assert (inside.amax(1) - inside.amin(1)).max() < 1e-5
    assert torch.equal(y[0][:, regions == 0], raw[0][:, regions == 0])
    a, b = (np.asarray(t.translate(drawing), dtype=float) for t in (eager, fast))
    assert fast.last_fast and np.abs(a - b).max() <= 3
    with pytest.raises(ValueError, match="region_colours"):
        Pix2Pix(64, num_downs=6, region_colours=True)  # an image model has no strokes to read


def through_a_saved_palette_model(folder, drawing):
    """A saved palette model loaded eager and through the ONNX fast path, and `drawing` through the eager one:
    (eager, fast, input, output, scores, the regressed output, each pixel's own palette scores)."""
    eager = translator.load(str(folder), warm_up=False)
    fast = translator.load(str(folder), warm_up=False, fast="always")
    assert fast.fast_path.report["used"], fast.fast_path.report
    x = eager.prepare(drawing)[0]
    with torch.no_grad():
        y, scores = eager.model(x, with_scores=True)
        features = eager.model.generator.features(x)
        raw = torch.tanh(eager.model.generator.head(features))
        pixel_scores = eager.model.palette_head(features)
    return eager, fast, x, y, scores, raw, pixel_scores


def test_a_palette_model_colours_each_region_with_its_chosen_palette_colour_and_the_same_through_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = Pix2Pix(64, ngf=8, num_downs=6, domain_a="noto-sketch", domain_b="noto", input_kind="sketch",
                    region_colours=True, palette_size=3, palette_temperature=0.5)
    red, blue, gold = (1.0, -1.0, -1.0), (-1.0, -1.0, 1.0), (0.9, 0.6, -0.8)
    with torch.no_grad():
        model.palette.copy_(torch.tensor([red, blue, gold]))
        constant = copy.deepcopy(model)
        constant.palette_head.weight.zero_()
        constant.palette_head.bias.copy_(torch.tensor([0.0, 0.0, 8.0]))  # gold, whatever the drawing
    model.half().save_pretrained(tmp_path / "p2p")
    constant.half().save_pretrained(tmp_path / "gold")
    drawing = Image.open(ROOT / "assets/examples/pix2pix/drawing-1f601.png")
    eager, fast, x, y, scores, raw, pixel_scores = through_a_saved_palette_model(tmp_path / "p2p", drawing)
    assert eager.config["palette_size"] == 3
    regions = enclosed_regions(x)[0]
    assert (regions > 0).sum() > 200 and scores.shape == (1, 3, 64, 64)
    for n in regions.unique().tolist():  # each region: its pixels' mean scores, the same on every pixel
        if n > 0:
            inside = scores[0][:, regions == n]
            assert torch.allclose(inside, pixel_scores[0][:, regions == n].mean(1, keepdim=True).expand_as(inside),
                                  atol=1e-5)
    chosen = palette_colours(scores, eager.model.palette, 0.5)
    assert torch.allclose(y[0][:, regions > 0], chosen[0][:, regions > 0], atol=1e-6)
    assert torch.equal(y[0][:, regions == 0], raw[0][:, regions == 0])  # strokes and outside: the network's pixels
    a, b = (np.asarray(t.translate(drawing), dtype=float) for t in (eager, fast))
    assert fast.last_fast and np.abs(a - b).max() <= 3
    # scores that favour gold by 8 everywhere: gold's weight e^16 against 1 and 1 at temperature 0.5
    gold_model = translator.load(str(tmp_path / "gold"), warm_up=False)
    with torch.no_grad():
        y = gold_model.translate_tensor(x)
    assert torch.allclose(y[0][:, regions > 0], torch.tensor(gold)[:, None].expand(-1, int((regions > 0).sum())),
                          atol=2e-3)
    with pytest.raises(ValueError, match="region_colours"):
        Pix2Pix(64, num_downs=6, input_kind="sketch", palette_size=8)  # a palette colours regions


def test_palette_strokes_choose_each_stroke_pixels_colour_from_its_own_scores_and_the_same_through_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = Pix2Pix(64, ngf=8, num_downs=6, domain_a="noto-sketch", domain_b="noto", input_kind="sketch",
                    region_colours=True, palette_size=3, palette_temperature=0.5, palette_strokes=True)
    with torch.no_grad():
        model.palette.copy_(torch.tensor([(-0.5, -0.7, -0.9), (0.9, 0.6, -0.8), (1.0, 1.0, 1.0)]))  # brown, gold, white
    model.half().save_pretrained(tmp_path / "p2p")
    drawing = Image.open(ROOT / "assets/examples/pix2pix/hand-drawn-smiley.png")
    eager, fast, x, y, scores, raw, pixel_scores = through_a_saved_palette_model(tmp_path / "p2p", drawing)
    assert eager.config["palette_strokes"]
    regions, strokes = enclosed_regions(x)[0], strokes_of(x)[0, 0] > 0
    assert strokes.sum() > 100 and (regions > 0).sum() > 200
    chosen = palette_colours(scores, eager.model.palette, 0.5)
    # a stroke pixel: the palette colour of its own scores, not of a region's mean (they differ pixel to pixel)
    assert torch.equal(scores[0][:, strokes], pixel_scores[0][:, strokes])
    assert torch.allclose(y[0][:, strokes], chosen[0][:, strokes], atol=1e-6)
    assert y[0][:, strokes].std(1).min() > 1e-3
    assert torch.allclose(y[0][:, regions > 0], chosen[0][:, regions > 0], atol=1e-6)
    outside = (regions == 0) & ~strokes  # the rest of the outside: the network's regressed pixels
    assert torch.equal(y[0][:, outside], raw[0][:, outside]) and outside.sum() > 500
    a, b = (np.asarray(t.translate(drawing), dtype=float) for t in (eager, fast))
    assert fast.last_fast and np.abs(a - b).max() <= 3
    with pytest.raises(ValueError, match="palette_size"):
        Pix2Pix(64, num_downs=6, input_kind="sketch", region_colours=True, palette_strokes=True)


def test_darkest_neighbour_is_the_darkest_colour_within_a_pixel_with_white_beyond_the_border():
    image = torch.ones(1, 3, 5, 5)
    image[0, :, 2, 2] = torch.tensor([-0.6, -0.7, -0.9])  # a dark brown dot
    image[0, :, 4, 4] = torch.tensor([0.9, 0.6, -0.8])  # gold in the corner
    darkest = train_pix2pix.darkest_neighbour(image)
    assert torch.equal(darkest[0, :, 1:4, 1:4], image[0, :, 2:3, 2:3].expand(-1, 3, 3))  # the dot and its ring
    assert torch.equal(darkest[0, :, 0, 0], torch.ones(3))  # white paper: nothing darker within a pixel
    assert torch.equal(darkest[0, :, 3, 4], image[0, :, 4, 4]) and torch.equal(darkest[0, :, 4, 4], image[0, :, 4, 4])
    assert torch.equal(darkest[0, :, 4, 2], torch.ones(3))  # two pixels from the dot and from the gold


def test_stroke_targets_ask_a_stroke_for_its_own_colour_its_darker_side_or_a_dark_feature_only():
    target = torch.ones(1, 3, 3, 5)
    target[0, :, 1, 1] = torch.tensor([-0.6, -0.7, -0.9])  # a dark brown eye
    target[0, :, 1, 3] = torch.tensor([0.9, 0.6, -0.8])  # gold: darker than the paper, not a dark feature
    strokes = torch.zeros(1, 1, 3, 5, dtype=torch.bool)
    strokes[0, 0, 1, 2] = strokes[0, 0, 1, 4] = strokes[0, 0, 0, 0] = True
    brown, gold, white = target[0, :, 1, 1], target[0, :, 1, 3], torch.ones(3)
    pixel = train_pix2pix.stroke_targets(target, strokes, "pixel")
    darker = train_pix2pix.stroke_targets(target, strokes, "darker-side")
    features = train_pix2pix.stroke_targets(target, strokes, "dark-features")
    assert pixel is target
    # (1, 2) sees the eye and the gold: the eye; (1, 4) sees only the gold; (0, 0) sees the eye diagonally
    assert [darker[0, :, y, x].tolist() for y, x in ((1, 2), (1, 4), (0, 0))] == [brown.tolist(), gold.tolist(),
                                                                                  brown.tolist()]
    assert [features[0, :, y, x].tolist() for y, x in ((1, 2), (1, 4), (0, 0))] == [brown.tolist(), white.tolist(),
                                                                                    brown.tolist()]
    off_strokes = ~strokes.expand(-1, 3, -1, -1)
    assert torch.equal(darker[off_strokes], target[off_strokes]) and torch.equal(features[off_strokes], target[off_strokes])


def test_regressed_strokes_are_asked_for_the_stroke_target_by_l1_only_with_the_flag():
    """--regressed-stroke-target: a thin line (regressed under --palette-stroke-width 5) beside a dark feature
    is asked by L1 for that feature's dark colour; without it, for the target's own colour there. The dot,
    chosen, is asked for the same colour by cross-entropy either way."""
    import argparse
    drawing = torch.ones(1, 3, 16, 16)
    drawing[0, :, 2, 2:14] = -1  # a mouth: a line one pixel wide
    drawing[0, :, 8:13, 3:8] = -1  # an eye: a 5 x 5 dot
    regions = enclosed_regions(drawing)
    target = torch.ones(1, 3, 16, 16)
    target[0, :, 2, 2:14] = torch.tensor([0.9, 0.6, -0.8]).view(3, 1)  # yellow under the line...
    target[0, :, 3, 2:14] = torch.tensor([-0.6, -0.7, -0.9]).view(3, 1)  # ... a dark brown mouth beside it
    target[0, :, 8:13, 3:8] = torch.tensor([-0.6, -0.7, -0.9]).view(3, 1, 1)
    palette = torch.tensor([[1.0, 1.0, 1.0], [0.9, 0.6, -0.8], [-0.6, -0.7, -0.9]])
    scores = torch.zeros(1, 3, 16, 16)
    scores[:, 2, 8:13, 3:8] = 20.0  # the dot's scores choose the brown
    dark_line = target.clone()
    dark_line[0, :, 2, 2:14] = torch.tensor([-0.6, -0.7, -0.9]).view(3, 1)
    losses = {}
    for flag in (False, True):
        args = argparse.Namespace(palette_strokes=True, palette_stroke_width=5, stroke_target="dark-features",
                                  regressed_stroke_target=flag)
        losses[flag] = [train_pix2pix.palette_losses(fake, scores, drawing, target, regions, palette, None, args)
                        for fake in (target, dark_line)]
    assert losses[False][0][0] == 0 and losses[False][1][0] > 0  # the line asked for the yellow under it
    assert losses[True][1][0] == 0 and losses[True][0][0] > 0  # ... for the mouth's brown
    chosen = [loss for results in losses.values() for _, loss in results]
    assert all(torch.equal(loss, chosen[0]) for loss in chosen) and chosen[0] < 0.01  # the dot: brown, chosen
    # the cross-entropy is the one before the flag: over the chosen pixels, each asked for its stroke target
    mask = palette_pixels(drawing, regions, True, 5)
    assert torch.equal(chosen[0], train_pix2pix.palette_choice_loss(
        scores, train_pix2pix.stroke_targets(target, mask & (regions.unsqueeze(1) == 0), "dark-features"), mask,
        palette))
    # no stroke chosen (version 21's palette, regions only): the line and the dot both asked by L1 for brown
    args = argparse.Namespace(palette_strokes=False, palette_stroke_width=1, stroke_target="dark-features",
                              regressed_stroke_target=True)
    yellow_dot = dark_line.clone()  # the dot yellow: L1 sees it now
    yellow_dot[0, :, 8:13, 3:8] = torch.tensor([0.9, 0.6, -0.8]).view(3, 1, 1)
    l1 = [train_pix2pix.palette_losses(fake, scores, drawing, target, regions, palette, None, args)[0]
          for fake in (dark_line, target, yellow_dot)]
    assert l1[0] == 0 and l1[1] > 0 and l1[2] > 0


def test_a_stroke_width_chooses_only_solid_ink_a_persons_dots_not_the_lines_of_an_outline(tmp_path):
    drawing = torch.ones(1, 3, 16, 16)
    drawing[0, :, 1, 1:15] = -1  # a line one pixel wide
    drawing[0, :, 4:6, 1:15] = -1  # a line two pixels wide
    drawing[0, :, 9:14, 3:8] = -1  # a 5 x 5 dot
    regions = enclosed_regions(drawing)
    dot = torch.zeros(16, 16, dtype=torch.bool)
    dot[9:14, 3:8] = True
    assert torch.equal(solid_ink(strokes_of(drawing), 5)[0, 0], dot)
    assert torch.equal(palette_pixels(drawing, regions, strokes=True, stroke_width=5)[0, 0], dot)
    assert palette_pixels(drawing, regions, strokes=True, stroke_width=3)[0, 0].sum() == 25 + 0  # no line is 3 wide
    assert torch.equal(palette_pixels(drawing, regions, strokes=True)[0, 0], strokes_of(drawing)[0, 0] > 0)
    with pytest.raises(ValueError, match="odd"):
        solid_ink(strokes_of(drawing), 4)
    # the model: the dot is a chosen palette colour (gold whatever the scores say), the lines the regressed output
    model = Pix2Pix(64, ngf=8, num_downs=6, input_kind="sketch", region_colours=True, palette_size=2,
                    palette_strokes=True, palette_stroke_width=5)
    with torch.no_grad():
        model.palette.copy_(torch.tensor([(0.9, 0.6, -0.8), (0.9, 0.6, -0.8)]))
    model.eval()
    big = F.interpolate(drawing, size=64, mode="nearest")  # 4x: the lines become 4 and 8 wide, the dot 20
    with torch.no_grad():
        y = model(big)
        raw = torch.tanh(model.generator.head(model.generator.features(big)))
    four_wide = torch.zeros(64, 64, dtype=torch.bool)
    four_wide[4:8, 4:60] = True  # the one-pixel line, now 4 wide: under 5, regressed
    assert torch.allclose(y[0][:, 36:56, 12:32], torch.tensor([0.9, 0.6, -0.8])[:, None, None], atol=1e-3)
    assert torch.equal(y[0][:, four_wide], raw[0][:, four_wide])
    with pytest.raises(ValueError, match="odd width"):
        Pix2Pix(64, num_downs=6, input_kind="sketch", region_colours=True, palette_size=2, palette_stroke_width=5)


def test_palette_global_adds_one_per_drawing_term_from_the_bottleneck_to_every_score_and_the_same_through_onnx(
        tmp_path):
    """palette_global: every pixel's scores get the same per-drawing term, a linear layer on the U-Net's
    (activated, never normalised) bottleneck; a region's scores are then its mean as before. Two drawings get
    different terms; with the per-pixel head zeroed the term alone picks the colour."""
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = Pix2Pix(64, ngf=8, num_downs=6, domain_a="noto-sketch", domain_b="noto", input_kind="sketch",
                    region_colours=True, palette_size=3, palette_temperature=0.5, palette_global=True)
    with torch.no_grad():
        model.palette.copy_(torch.tensor([(1.0, -1.0, -1.0), (-1.0, -1.0, 1.0), (0.9, 0.6, -0.8)]))
        model.palette_global_head.weight.normal_(0, 1)  # large enough to matter against the per-pixel head
    model.half().save_pretrained(tmp_path / "p2p")
    drawing = Image.open(ROOT / "assets/examples/pix2pix/drawing-1f601.png")
    eager, fast, x, y, scores, raw, pixel_scores = through_a_saved_palette_model(tmp_path / "p2p", drawing)
    assert eager.config["palette_global"]
    head = eager.model.palette_global_head
    with torch.no_grad():
        _, bottleneck = eager.model.generator.features(x, with_bottleneck=True)
        term = head(bottleneck.mean((2, 3)))[0]
    assert bottleneck.shape[-2:] == (1, 1) and (bottleneck >= 0).all()
    regions = enclosed_regions(x)[0]
    for n in regions.unique().tolist():  # a region: the mean of its pixels' own scores, plus the drawing's term
        if n > 0:
            inside = scores[0][:, regions == n]
            want = pixel_scores[0][:, regions == n].mean(1) + term
            assert torch.allclose(inside, want[:, None].expand_as(inside), atol=1e-4)
    assert torch.allclose(y[0][:, regions > 0], palette_colours(scores, eager.model.palette, 0.5)[0][:, regions > 0],
                          atol=1e-6)
    a, b = (np.asarray(t.translate(drawing), dtype=float) for t in (eager, fast))
    assert fast.last_fast and np.abs(a - b).max() <= 3
    heart = eager.prepare(Image.open(ROOT / "assets/examples/pix2pix/hand-drawn-heart.png"))[0]
    with torch.no_grad():
        other = head(eager.model.generator.features(heart, with_bottleneck=True)[1].mean((2, 3)))[0]
    assert (other - term).abs().max() > 0.1  # the term says which drawing it is
    # with the per-pixel head silent, the global head's bias alone chooses every region's colour
    with torch.no_grad():
        eager.model.palette_head.weight.zero_()
        eager.model.palette_head.bias.zero_()
        head.weight.zero_()
        head.bias.copy_(torch.tensor([0.0, 8.0, 0.0], dtype=head.bias.dtype))  # blue, whatever the pixel
        y = eager.translate_tensor(x)
    assert torch.allclose(y[0][:, regions > 0].float(), torch.tensor([-1.0, -1.0, 1.0])[:, None], atol=2e-3)
    with pytest.raises(ValueError, match="palette_global"):
        Pix2Pix(64, num_downs=6, input_kind="sketch", region_colours=True, palette_global=True)



def test_palette_readings_average_the_scores_over_the_drawing_with_widened_strokes_and_the_same_through_onnx(
        tmp_path):
    """palette_readings=3: a region's scores are the mean of the drawing's own scores and those of the drawing
    with its strokes widened by 1 and 2 pixels each side (a min over 3x3 and 5x5), every reading's global term
    included; the regressed output and the regions stay the drawing's own; a saved config round-trips and
    the ONNX fast path gives the same image; 1 reading is the model as trained."""
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = Pix2Pix(64, ngf=8, num_downs=6, domain_a="noto-sketch", domain_b="noto", input_kind="sketch",
                    region_colours=True, palette_size=3, palette_temperature=0.5, palette_global=True,
                    palette_readings=3)
    with torch.no_grad():
        model.palette.copy_(torch.tensor([(1.0, -1.0, -1.0), (-1.0, -1.0, 1.0), (0.9, 0.6, -0.8)]))
        model.palette_global_head.weight.normal_(0, 1)
    model.half().save_pretrained(tmp_path / "p2p")
    drawing = Image.open(ROOT / "assets/examples/pix2pix/hand-drawn-star.png")
    eager, fast, x, y, scores, raw, _ = through_a_saved_palette_model(tmp_path / "p2p", drawing)
    assert eager.config["palette_readings"] == 3 and eager.model.palette_readings == 3
    net = eager.model
    with torch.no_grad():
        widened = [-F.max_pool2d(-x, 2 * w + 1, 1, w) for w in range(3)]
        readings = [net.palette_scores(*net.generator.features(d, with_bottleneck=True)) for d in widened]
    regions = enclosed_regions(x)[0]
    assert (regions > 0).sum() > 100  # the star encloses its middle
    for n in regions.unique().tolist():
        if n > 0:
            want = torch.stack([r[0][:, regions == n].mean(1) for r in readings]).mean(0)
            inside = scores[0][:, regions == n]
            assert torch.allclose(inside, want[:, None].expand_as(inside), atol=1e-3)
    alone = readings[0][0][:, regions > 0].mean(1)  # the drawing's own reading differs: the others count
    assert (alone - scores[0][:, regions > 0].mean(1)).abs().max() > 1e-2
    assert torch.equal(y[0][:, regions == 0], raw[0][:, regions == 0])  # outside and strokes: the regressed output
    a, b = (np.asarray(t.translate(drawing), dtype=float) for t in (eager, fast))
    assert fast.last_fast and np.abs(a - b).max() <= 3
    heart = eager.prepare_drawing(ROOT / "assets/examples/pix2pix/hand-drawn-heart.png")[0]
    with torch.no_grad():  # in a batch, each drawing's readings are its own
        both = net(torch.cat([x, heart]))
        assert torch.allclose(both[0], y[0], atol=1e-4) and torch.allclose(both[1], net(heart)[0], atol=1e-4)
        net.palette_readings = 1
        _, one = net(x, with_scores=True)
    assert torch.allclose(one[0][:, regions > 0].mean(1), alone, atol=1e-3)
    with pytest.raises(ValueError, match="palette_readings"):
        Pix2Pix(64, num_downs=6, input_kind="sketch", region_colours=True, palette_readings=2)
    with pytest.raises(ValueError, match="palette_readings"):
        Pix2Pix(64, num_downs=6, input_kind="sketch", region_colours=True, palette_size=2, palette_readings=5)

def test_palette_pixels_are_the_enclosed_regions_and_with_strokes_the_strokes_too():
    drawing = torch.ones(1, 3, 8, 8)
    drawing[0, :, 1:7, 1] = drawing[0, :, 1:7, 6] = drawing[0, :, 1, 1:7] = drawing[0, :, 6, 1:7] = -1  # a square
    regions = enclosed_regions(drawing)
    square = torch.zeros(8, 8, dtype=torch.bool)
    square[1:7, 1:7] = True
    inside = torch.zeros(8, 8, dtype=torch.bool)
    inside[2:6, 2:6] = True
    assert torch.equal(palette_pixels(drawing, regions, strokes=False)[0, 0], inside)
    assert torch.equal(palette_pixels(drawing, regions, strokes=True)[0, 0], square)  # the outside stays regressed


def test_palette_choice_loss_is_the_cross_entropy_to_the_nearest_palette_colour_inside_regions():
    palette = torch.tensor([[1.0, -1.0, -1.0], [-1.0, -1.0, 1.0]])
    target = torch.zeros(1, 3, 2, 2)
    target[0, :, 0, 0] = torch.tensor([0.8, -0.9, -0.7])  # near red
    target[0, :, 0, 1] = torch.tensor([-0.6, -0.8, 0.9])  # near blue
    regions = torch.tensor([[[1, 2], [0, 0]]])  # the bottom row is outside: not scored
    scores = torch.randn(1, 2, 2, 2, requires_grad=True)
    loss = train_pix2pix.palette_choice_loss(scores, target, regions > 0, palette)
    expected = 0.5 * (F.cross_entropy(scores[0, :, 0, 0][None], torch.tensor([0]))
                      + F.cross_entropy(scores[0, :, 0, 1][None], torch.tensor([1])))
    assert torch.allclose(loss, expected)
    loss.backward()
    assert scores.grad[0, :, 1].abs().sum() == 0 and scores.grad[0, :, 0].abs().sum() > 0
    no_regions = train_pix2pix.palette_choice_loss(scores, target, torch.zeros(1, 2, 2, dtype=torch.bool), palette)
    assert no_regions.item() == 0 and no_regions.requires_grad


def test_rebalanced_palette_weights_favour_rare_colours_and_average_one_over_the_training_pixels():
    palette = torch.tensor([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, -1.0, 1.0]])  # white, red, blue
    samples = torch.tensor([[0.9, 0.9, 0.9], [0.95, 1.0, 1.0], [0.8, -0.9, -0.9], [-0.9, -0.8, 0.9]])
    areas = torch.tensor([600, 200, 150, 50])  # white: 80 % of the pixels, red 15 %, blue 5 %
    share = torch.tensor([0.8, 0.15, 0.05])
    for rebalance in (0.25, 0.5, 0.9):
        weights = train_pix2pix.palette_weights(samples, areas, palette, rebalance)
        expected = 1 / (rebalance * share + (1 - rebalance) / 3)
        assert torch.allclose(weights, expected / (share * expected).sum())
        assert weights[2] > weights[1] > weights[0]  # the rarer, the heavier
        assert torch.isclose((share * weights).sum(), torch.tensor(1.0))  # the loss keeps its scale
    assert torch.allclose(train_pix2pix.palette_weights(samples, areas, palette, 0.0), torch.ones(3))
    # the weighted loss is the plain mean of each pixel's cross-entropy times its wanted colour's weight
    target = torch.zeros(1, 3, 1, 3)
    target[0, :, 0, 0], target[0, :, 0, 1], target[0, :, 0, 2] = palette[0], palette[0], palette[2]
    regions = torch.tensor([[[1, 1, 2]]])
    scores = torch.randn(1, 3, 1, 3)
    weights = torch.tensor([0.5, 1.0, 4.0])
    terms = F.cross_entropy(scores[0, :, 0].T, torch.tensor([0, 0, 2]), reduction="none")
    assert torch.allclose(train_pix2pix.palette_choice_loss(scores, target, regions > 0, palette, weights),
                          (terms * torch.tensor([0.5, 0.5, 4.0])).mean())
    assert not torch.allclose(train_pix2pix.palette_choice_loss(scores, target, regions > 0, palette),
                              (terms * torch.tensor([0.5, 0.5, 4.0])).mean())


def test_the_palette_is_k_means_of_the_training_targets_region_colours(tmp_path):
    rng = np.random.default_rng(0)
    # two golds and two blues: the palette's two colours must be their means, not any one sample
    colours = [(250, 200, 30), (230, 180, 50), (40, 90, 220), (60, 110, 200)]
    for i in range(8):
        image = Image.new("RGB", (64, 64), "white")
        x, y = rng.integers(4, 20, 2)
        ImageDraw.Draw(image).ellipse((int(x), int(y), int(x) + 40, int(y) + 40), fill=colours[i % 4],
                                      outline=(0, 0, 0), width=2)
        image.save(tmp_path / f"{i}.png")
    samples, areas = train_pix2pix.region_colour_samples(SketchPairs(tmp_path, 64, augment=False))
    assert samples.shape == (8, 3)  # one per disc; nothing from the paper outside
    assert areas.shape == (8,) and (areas > 900).all() and (areas < 40 * 40).all()  # a 40-px disc inside its ring
    palette = train_pix2pix.k_means(samples, 2, seed=0)
    assert torch.equal(palette, train_pix2pix.k_means(samples, 2, seed=0))  # the same palette every time
    found = sorted(((palette * 0.5 + 0.5) * 255).round().int().tolist())
    for got, want in zip(found, [[50, 100, 210], [240, 190, 40]]):
        assert max(abs(g - w) for g, w in zip(got, want)) <= 4, (got, want)
    assert 0.02 < train_pix2pix.nearest_colour_distance(samples, palette) < 0.04  # each sample ~10 levels off
    # a centre left empty moves to the farthest sample instead of staying a dead colour
    spread = torch.tensor([[-1.0, -1.0, -1.0]] * 5 + [[1.0, 1.0, 1.0]])
    assert sorted(train_pix2pix.k_means(spread, 2, seed=0)[:, 0].tolist()) == [-1.0, 1.0]
    with pytest.raises(SystemExit, match="only 8 regions"):
        train_pix2pix.k_means(samples, 9)


def test_a_resumed_palette_run_keeps_its_checkpoints_palette(tmp_path, capsys):
    colours = [(250, 200, 30), (40, 90, 220), (220, 30, 40), (30, 160, 60)]
    drawings = tmp_path / "drawings"  # apart from the run folder, whose sample grids are PNGs too
    drawings.mkdir()
    for i in range(8):
        image = Image.new("RGB", (64, 64), "white")
        ImageDraw.Draw(image).ellipse((8 + i, 8, 48 + i, 48), fill=colours[i % 4])
        image.save(drawings / f"{i}.png")
    args = ["--sketch-from", str(drawings), "--out", str(tmp_path / "run"), "--image-size", "64", "--ngf", "4",
            "--ndf", "4", "--threads", "1", "--region-colours", "--palette-size", "3", "--save-every", "2"]
    first = train_pix2pix.main([*args, "--steps", "2"]).palette.clone()
    # another seed draws another k-means start (another palette, or the same colours in another order) ...
    other = train_pix2pix.k_means(train_pix2pix.region_colour_samples(SketchPairs(drawings, 64, augment=False))[0],
                                  3, 5)
    assert not torch.equal(other, first)
    # ... but a resume goes on with the palette its head was trained on
    resumed = train_pix2pix.main([*args, "--steps", "3", "--resume", "--seed", "5"])
    assert torch.equal(resumed.palette, first)
    # rebalanced: the weights come from the palette in use and are kept with the run's record
    train_pix2pix.main([*args, "--steps", "4", "--resume", "--seed", "5", "--palette-rebalance", "0.5"])
    record = json.loads((tmp_path / "run" / "export" / "training.json").read_text())
    palette = record["palette"]
    samples, areas = train_pix2pix.region_colour_samples(SketchPairs(drawings, 64, augment=False))
    assert palette["rebalance"] == 0.5
    def weights(of_palette):
        return [round(w, 4) for w in train_pix2pix.palette_weights(samples, areas, of_palette, 0.5).tolist()]
    assert palette["weights"] == weights(first) != weights(other)
    assert record["losses"]["palette_rebalance"] == 0.5
    # --palette-global: the export has the bottleneck's head, and it gets the palette cross-entropy's gradient
    trained = train_pix2pix.main([*args, "--out", str(tmp_path / "global"), "--steps", "2", "--palette-global"])
    config = json.loads((tmp_path / "global" / "export" / "config.json").read_text())
    assert config["palette_global"] and trained.palette_global_head.weight.shape == (3, 32)
    pair = SketchPairs(drawings, 64, augment=False).plain(0)
    x, target = pair["a"][None], pair["b"][None]
    regions = enclosed_regions(x)
    _, scores = trained.train()(x, regions=regions, with_scores=True)
    train_pix2pix.palette_choice_loss(scores, colour_by_region(target, regions=regions), regions.unsqueeze(1) > 0,
                                      trained.palette).backward()
    assert trained.palette_global_head.weight.grad.abs().sum() > 0
    # --palette-readings: trained on one reading, exported asking for three
    read = train_pix2pix.main([*args, "--out", str(tmp_path / "read"), "--steps", "1", "--palette-readings", "3"])
    assert read.palette_readings == 1
    assert json.loads((tmp_path / "read" / "export" / "config.json").read_text())["palette_readings"] == 3
    assert translator.load(str(tmp_path / "read" / "export"), warm_up=False).model.palette_readings == 3
    for bad in (["--palette-readings", "2"], ["--region-colours", "--palette-size", "3", "--palette-readings", "5"]):
        with pytest.raises(SystemExit):
            train_pix2pix.main([*args[:-5], "--out", str(tmp_path / "bad"), *bad])
        assert "--palette-readings is 1 to 4 readings" in capsys.readouterr().err


def test_region_colours_keep_their_dtype_and_a_large_regions_mean_in_half_precision():
    """Under fp16 autocast (CUDA training) the output is half: the region sums must not be (a half count stops
    at 2048), and a half drawing at 256 px must not overflow the region numbers (65,536 pixels > fp16's max)."""
    image = Image.new("L", (256, 256), 255)
    ImageDraw.Draw(image).ellipse((8, 8, 247, 247), outline=0, width=2)  # ~44,000 enclosed pixels
    drawing = as_signed_drawing(image, 256)
    output = torch.full((1, 3, 256, 256), 0.5)
    output[..., ::2, :] = 0.9  # a mean of 0.7
    coloured = colour_by_region(output.half(), drawing.half())
    regions = enclosed_regions(drawing.half())[0]
    assert torch.equal(regions, enclosed_regions(drawing)[0]) and (regions > 0).sum() > 40_000
    assert coloured.dtype == torch.float16
    assert torch.allclose(coloured[0][:, regions > 0].float(), torch.tensor(0.7), atol=2e-3)


def test_palette_fit_scores_a_drawing_blind_choice_at_the_colours_entropy_and_a_right_one_near_zero(tmp_path, capsys):
    """training.palette_fit: uniform scores cost ln 2 against two colours; on a split of one colour that is above its
    entropy (0), on a split of two equal colours it is their entropy (ln 2); a model sure of gold is right on the gold
    split (cross-entropy ~0) and half right on the mixed one."""
    from training import palette_fit
    gold, blue = (250, 200, 30), (40, 90, 220)
    for split, fills in (("train", [gold, gold]), ("test", [gold, blue])):
        (tmp_path / "data" / split).mkdir(parents=True)
        for i, fill in enumerate(fills):
            image = Image.new("RGB", (64, 64), "white")
            ImageDraw.Draw(image).ellipse((12 + 4 * i, 12, 52 + 4 * i, 52), fill=fill, outline=(0, 0, 0), width=2)
            image.save(tmp_path / "data" / split / f"{i}.png")
    model = Pix2Pix(64, ngf=4, num_downs=6, domain_a="sketch", domain_b="emoji", input_kind="sketch",
                    region_colours=True, palette_size=2)
    with torch.no_grad():
        model.palette.copy_(torch.tensor(gold + blue, dtype=torch.float).view(2, 3) / 127.5 - 1)
        model.palette_head.weight.zero_()
        model.palette_head.bias.zero_()
    model.save_pretrained(tmp_path / "blind")
    with torch.no_grad():
        model.palette_head.bias.copy_(torch.tensor([20.0, 0.0]))  # gold, whatever the drawing
    model.save_pretrained(tmp_path / "sure")
    plain = Pix2Pix(64, ngf=4, num_downs=6, input_kind="sketch", region_colours=True)
    plain.save_pretrained(tmp_path / "plain")
    rows = palette_fit.main(["--model", str(tmp_path / "blind"), str(tmp_path / "sure"), str(tmp_path / "plain"),
                             "--data", str(tmp_path / "data")])
    blind = {r["split"]: r for r in rows if r["model"].endswith("blind")}
    sure = {r["split"]: r for r in rows if r["model"].endswith("sure")}
    assert len(rows) == 4 and "palette_size 0" in capsys.readouterr().err  # the plain model is skipped, said so
    assert {r["readings"] for r in rows} == {1}
    assert blind["train"]["drawings"] == 2 and blind["train"]["colour_entropy"] < 1e-6
    assert blind["train"]["cross_entropy"] == pytest.approx(math.log(2), abs=1e-4)
    assert blind["test"]["colour_entropy"] == pytest.approx(math.log(2), abs=0.02)  # two near-equal discs
    assert blind["test"]["cross_entropy"] == pytest.approx(math.log(2), abs=1e-4)
    assert blind["test"]["top_probability"] == pytest.approx(0.5, abs=1e-4)
    assert sure["train"]["cross_entropy"] < 1e-6 and sure["train"]["accuracy"] == 1.0
    assert 0.4 < sure["test"]["accuracy"] < 0.6 and sure["test"]["cross_entropy"] > 5
    one = palette_fit.main(["--model", str(tmp_path / "sure"), "--data", str(tmp_path / "data"), "--count", "1"])
    assert [r["drawings"] for r in one] == [1, 1]
    for bad, message in ((["--data", str(tmp_path / "nowhere")], "has neither train/ nor test/ with images"),
                         (["--count", "0"], "--count must be at least 1"),
                         (["--threads", "0"], "--threads must be at least 1")):
        with pytest.raises(SystemExit):
            palette_fit.main(["--model", str(tmp_path / "blind"), *bad])
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a missing model: its reason, before any row
        palette_fit.main(["--model", str(tmp_path / "sure"), str(tmp_path / "missing"), "--data", str(tmp_path / "data")])
    captured = capsys.readouterr()
    assert "missing" in captured.err and "| train |" not in captured.out
