"""MUNIT: the official generator's size, content kept while the style changes the colouring, styles read
off references and drawn from a seed, the grid and interpolation helpers, and a trainer that runs,
resumes and exports what the core loads."""
import json

import pytest
import torch
from PIL import Image, ImageDraw

import translator
from conftest import export
from translator.errors import ImageError, OptionsError
from translator.layers import init_weights
from translator.munit import MUNIT, Generator, interpolate

TINY = ["--image-size", "32", "--dim", "4", "--style-dim", "3", "--n-res", "1", "--mlp-dim", "8", "--ndf", "4",
        "--n-layers-d", "2", "--log-every", "1", "--sample-every", "2", "--threads", "1"]


def tiny_munit(seed=0, **kwargs):
    torch.manual_seed(seed)
    model = MUNIT(image_size=32, dim=4, style_dim=3, n_res=1, mlp_dim=8, n_mlp=2, domain_a="left", domain_b="right",
                  **kwargs)
    init_weights(model, kind="kaiming")
    return model


def test_one_generator_is_the_official_adaingen_size():
    # NVlabs/MUNIT AdaINGen, edges2shoes config: 15,026,187 parameters (official-implementations.md, A6)
    assert sum(p.numel() for p in Generator(64, 8, 2, 4, 256, 3, 4).parameters()) == 15_026_187


def test_the_style_code_drives_the_decoder_and_the_content_does_not_depend_on_it(tmp_path):
    t = translator.load(str(export(tiny_munit(), tmp_path / "m")))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        one, two = torch.tensor([[1.0, 0.0, -1.0]]), torch.tensor([[-2.0, 1.0, 0.5]])
        assert not torch.allclose(t.translate_tensor(x, style=one), t.translate_tensor(x, style=two))
        assert torch.equal(t.translate_tensor(x, style=one), t.translate_tensor(x, style=one))
        assert torch.equal(t.translate_tensor(x, seed=4), t.translate_tensor(x, seed=4))
    with pytest.raises(OptionsError, match="one of style, reference or seed"):
        t.translate(Image.new("RGB", (32, 32)), style=[0.0, 0.0, 0.0], seed=1)
    with pytest.raises(OptionsError, match="3 numbers"):
        t.translate(Image.new("RGB", (32, 32)), style=[0.0] * 8)


def test_reference_styles_grids_and_interpolation(tmp_path):
    t = translator.load(str(export(tiny_munit(), tmp_path / "m")))
    image, reference = Image.new("RGB", (40, 30), (200, 60, 20)), Image.new("RGB", (32, 32), (20, 90, 200))
    code = t.encode_style(reference, direction="a2b")
    assert len(code) == 3
    by_reference = t.translate(image, reference=reference)
    assert by_reference.tobytes() == t.translate(image, style=code).tobytes()  # reference = its encoded style
    grid = t.samples(image, n=4, seed=7)
    assert len(grid.images) == len(grid.styles) == 4 and grid.styles == t.sample_styles(4, seed=7)
    assert grid.images[1].tobytes() == t.translate(image, style=grid.styles[1]).tobytes()
    strip = t.interpolation(image, grid.styles[0], grid.styles[1], steps=5)
    assert strip.styles[0] == pytest.approx(grid.styles[0]) and strip.styles[-1] == pytest.approx(grid.styles[1])
    assert interpolate([0.0, 2.0], [2.0, 0.0], 3) == [[0.0, 2.0], [1.0, 1.0], [2.0, 0.0]]


def small_drawing_on_a_big_canvas() -> Image.Image:
    """What a sketchpad sends: a small black circle drawn off-centre on a large transparent canvas."""
    canvas = Image.new("RGBA", (600, 400), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).ellipse([380, 40, 480, 140], outline=(0, 0, 0, 255), width=3)
    return canvas


def test_a_drawn_domain_a_takes_drawings_the_way_pix2pix_does_and_b_takes_images(tmp_path):
    """input_kind "sketch": a2b inputs are cut to what was drawn (as pix2pix's), for translate and the grid
    alike; b2a inputs, and style references, are plain images. Without it, nothing changes."""
    t = translator.load(str(export(tiny_munit(input_kind="sketch"), tmp_path / "m")))
    assert t.config["input_kind"] == "sketch" and t.input_kind == "drawing" and t.drawing_directions == ("a2b",)
    drawing = small_drawing_on_a_big_canvas()
    cut, _ = t.prepare_input(drawing, "a2b")
    plain, _ = t.prepare_input(drawing, "b2a")
    assert torch.equal(cut, t.prepare_drawing(drawing)[0]) and torch.equal(plain, t.prepare(drawing)[0])
    ink = lambda x: int((x[0, 0] < 0).sum())  # noqa: E731 -- dark pixels of the 32-px input
    assert ink(cut) > 4 * ink(plain), "the drawing fills the model's square instead of a corner of a letterbox"
    style = [0.3, -0.2, 0.1]
    with torch.inference_mode():
        expected = t.finish(t.translate_tensor(cut, style=torch.tensor([style])), t.prepare_drawing(drawing)[1])
    assert t.translate(drawing, style=style).tobytes() == expected.tobytes()
    assert t.samples(drawing, styles=[style]).images[0].tobytes() == expected.tobytes()
    with pytest.raises(ImageError, match="draw something first"):
        t.translate(Image.new("RGBA", (300, 300), (0, 0, 0, 0)), style=style)
    t.translate(Image.new("RGB", (300, 300), "white"), direction="b2a", style=style)  # an image: no such check
    image_model = translator.load(str(export(tiny_munit(), tmp_path / "plain")))
    assert image_model.input_kind == "image" and image_model.drawing_directions == ()
    assert torch.equal(image_model.prepare_input(drawing, "a2b")[0], image_model.prepare(drawing)[0])
    with pytest.raises(ValueError, match="input_kind"):
        tiny_munit(input_kind="drawing")


def test_trainer_runs_resumes_and_exports(tmp_path):
    from training import munit as train_munit
    from test_training import shapes

    for split in ("train", "test"):
        shapes(tmp_path / "data" / f"{split}A", "circles")
        shapes(tmp_path / "data" / f"{split}B", "squares")
    out = tmp_path / "run"
    args = ["--dataroot", str(tmp_path / "data"), "--out", str(out), *TINY, "--save-every", "2", "--lambda-cycle", "1"]
    train_munit.main([*args, "--steps", "2"])
    train_munit.main([*args, "--steps", "3", "--resume", "--input-kind", "sketch"])  # a resume may add it
    info = json.loads((out / "export" / "training.json").read_text())
    assert info["steps"] == 3 and info["family"] == "munit" and info["losses"]["lambda_style"] == 1
    record = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert {"recon", "style", "content", "cycle", "d"} <= record.keys() and record["cycle"] > 0
    t = translator.load(str(out / "export"), "munit")
    assert t.style_dim == 3 and t.translate(tmp_path / "data" / "testA" / "000.png", seed=1).mode == "RGB"
    assert t.config["input_kind"] == "sketch" and t.input_kind == "drawing"  # --input-kind reaches config.json


def test_the_paired_loader_gives_each_a_its_same_named_b_under_one_crop_and_flip(tmp_path):
    """paired=True: where B has A's file name, B is that image with A's own crop and flip (identical images
    stay identical after augmentation); an A without a partner gets a random B, flagged has_pair=False."""
    import random

    from training.data.folders import UnpairedDataset
    from test_training import shapes

    shapes(tmp_path / "a", "circles", n=5)
    shapes(tmp_path / "b", "circles", n=4)  # the same five images but the last: 004 has no partner
    random.seed(0)
    torch.manual_seed(0)
    data = UnpairedDataset(tmp_path / "a", tmp_path / "b", 32, paired=True)
    assert data.partner == {i: i for i in range(4)}
    for i in range(4):
        for _ in range(3):  # several random crops and flips: always shared
            sample = data[i]
            assert sample["has_pair"] and torch.equal(sample["a"], sample["b"])
    assert not data[4]["has_pair"]
    assert not UnpairedDataset(tmp_path / "a", tmp_path / "b", 32)[0]["has_pair"]  # the paper's: unpaired


def test_the_paired_and_style_kl_departures_reach_the_generator_and_are_recorded(tmp_path):
    """lambda_paired / lambda_style_kl > 0: their losses are logged and non-zero, the same seed and data give
    other weights than without them, and training.json records both."""
    from safetensors.torch import load_file

    from training import munit as train_munit
    from test_training import shapes

    shapes(tmp_path / "data" / "trainA", "circles")
    shapes(tmp_path / "data" / "trainB", "squares")  # the same file names: every A has its pair
    weights = {}
    for name, sets in (("paper", []), ("paired", ["--set", "lambda_paired=10", "--set", "lambda_style_kl=0.01"])):
        out = tmp_path / name
        train_munit.main(["--dataroot", str(tmp_path / "data"), "--out", str(out), *TINY, "--steps", "2",
                          "--seed", "3", *sets])
        weights[name] = load_file(out / "export" / "model.safetensors")
        info = json.loads((out / "export" / "training.json").read_text())
        record = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
        if name == "paired":
            assert info["losses"]["lambda_paired"] == 10.0 and info["losses"]["lambda_style_kl"] == 0.01
            assert record["paired"] > 0 and record["style_kl"] > 0
        else:
            assert info["losses"]["lambda_paired"] == 0.0 and record["paired"] == 0
    assert any(not torch.equal(weights["paper"][k], weights["paired"][k]) for k in weights["paper"])


def test_the_paired_loss_compares_each_translation_with_its_own_pair_only_and_enters_with_its_weight():
    """generator_losses: the paired L1 is zero where the translation is its pair, counts only the rows
    flagged as pairs, and weighted_sum adds it (and the style KL) with the recipe's weights; a loss whose
    weight is 0 is left out, even if it is not finite."""
    from argparse import Namespace

    from training.munit import generator_losses, weighted_sum
    from training.unit import Discriminators

    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    code = torch.zeros(2, 3)
    out = {"fake_a": a, "fake_b": b, "rec_a": a, "rec_b": b, "s_a": code, "s_b": code, "s_a_rec": code,
           "s_b_rec": code, "c_a": a, "c_b": b, "c_a_rec": a, "c_b_rec": b, "own_a": code + 1, "own_b": code,
           "paired_b": torch.stack([b[0], b[1] + 0.5]), "paired_a": a.clone()}
    d = Discriminators(4, 2, 1)
    only_first = generator_losses(out, a, b, torch.tensor([True, False]), d)
    assert only_first["paired"] == 0  # row 1 is wrong by 0.5 but is not a pair
    both = generator_losses(out, a, b, torch.tensor([True, True]), d)
    assert both["paired"] == pytest.approx(0.25)  # half the rows off by 0.5
    assert both["style_kl"] == pytest.approx(0.5 * 3)  # 0.5 |s|^2 of own_a (all ones, 3 dims); own_b is 0
    weights = dict(lambda_gan=0.0, lambda_recon=0.0, lambda_style=0.0, lambda_content=0.0, lambda_cycle=0.0,
                   lambda_paired=10.0, lambda_style_kl=0.01, lambda_style_partner=0.0, lambda_style_gan=0.0)
    total = weighted_sum(Namespace(**weights), {**both, "recon": torch.tensor(float("nan"))})
    assert total == pytest.approx(10 * 0.25 + 0.01 * 1.5)


def style_named_pairs(root, keys=("1f600", "1f601", "1f602")):
    """Outlines (A) and colour images (B) named <style>-<code point>: each style its own colour, each code
    point its own shape, so a B image tells its style and its code point apart."""
    from PIL import ImageDraw

    colours = {"noto": (250, 200, 40), "fluent-flat": (40, 120, 250)}
    for side in ("trainA", "trainB"):
        (root / side).mkdir(parents=True)
    for style, colour in colours.items():
        for i, key in enumerate(keys):
            for side in ("trainA", "trainB"):
                image = Image.new("RGB", (32, 32), "white")
                fill = colour if side == "trainB" else "white"
                ImageDraw.Draw(image).rectangle((4 + 3 * i, 4, 28, 28 - 3 * i), fill=fill, outline="black")
                image.save(root / side / f"{style}-{key}.png")
    return colours


def test_style_partners_are_other_images_of_the_same_style(tmp_path):
    """style_group reads the style off <style>-<code point> names (hyphens in either part); the loader gives
    each paired sample another B image of its style (never itself, never another style's), and none where
    a file's name says no style or its style has no other image."""
    import random

    from training.data.folders import UnpairedDataset
    from training.munit import style_group

    assert style_group("fluent-flat-1f9d2-1f3fd") == "fluent-flat" and style_group("noto-0031-20e3") == "noto"
    assert style_group("twemoji-1f600") == "twemoji" and style_group("my-photo") is None and style_group("000") is None
    colours = style_named_pairs(tmp_path)
    for side in ("trainA", "trainB"):  # a style of one image
        lonely = Image.new("RGB", (32, 32), "white")
        ImageDraw.Draw(lonely).ellipse((6, 6, 26, 26), fill=(0, 200, 0), outline="black")
        lonely.save(tmp_path / side / "lonely-1f999.png")
    random.seed(0)
    data = UnpairedDataset(tmp_path / "trainA", tmp_path / "trainB", 32, augment=False, paired=True, style_group=style_group)
    names = [p.stem for p in data.b.files]
    assert all(names[k].split("-")[0] == names[j].split("-")[0] and k != j for j, ks in data.same_style.items() for k in ks)
    assert names.index("lonely-1f999") not in data.same_style
    for i in range(len(data.a)):
        sample = data[i]
        own = names[data.partner[i]]
        if own.startswith("lonely"):
            assert not sample["has_style"]
            continue
        colour = torch.tensor(colours[own.rsplit("-", 1)[0]], dtype=torch.float32) / 127.5 - 1
        centre = sample["b_style"][:, 16, 16]
        assert sample["has_style"] and torch.allclose(centre, colour, atol=0.02)  # the same style's colour ...
        assert not torch.equal(sample["b_style"], sample["b"])  # ... in another image
    assert "b_style" not in UnpairedDataset(tmp_path / "trainA", tmp_path / "trainB", 32, paired=True)[0]


def test_the_style_partner_departure_trains_and_is_recorded_and_needs_style_names(tmp_path):
    """lambda_style_partner > 0: its loss is logged and non-zero and training.json records its weight; on
    data whose names say no style, the trainer stops with a message saying what it needs."""
    from training import munit as train_munit
    from test_training import shapes

    style_named_pairs(tmp_path / "named")
    out = tmp_path / "run"
    train_munit.main(["--dataroot", str(tmp_path / "named"), "--out", str(out), *TINY, "--steps", "2", "--seed", "3",
                      "--set", "lambda_paired=10", "--set", "lambda_style_partner=10"])
    info = json.loads((out / "export" / "training.json").read_text())
    record = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert info["losses"]["lambda_style_partner"] == 10.0 and record["style_partner"] > 0
    shapes(tmp_path / "plain" / "trainA", "circles")
    shapes(tmp_path / "plain" / "trainB", "squares")
    with pytest.raises(SystemExit, match="<style>-<code point>"):
        train_munit.main(["--dataroot", str(tmp_path / "plain"), "--out", str(tmp_path / "run2"), *TINY, "--steps", "1",
                          "--set", "lambda_style_partner=10"])


def test_references_are_random_b_images_with_their_styles_index(tmp_path):
    """references=True: every sample carries a B image drawn at random with the index of its style in the
    sorted style names, and its own B image's index; a name that says no style is -1."""
    import random

    from training.data.folders import UnpairedDataset
    from training.munit import style_group

    colours = style_named_pairs(tmp_path)
    mine = Image.new("RGB", (32, 32), "white")
    ImageDraw.Draw(mine).ellipse((6, 6, 26, 26), fill=(0, 200, 0))
    mine.save(tmp_path / "trainB" / "mine.png")  # no style in its name
    random.seed(0)
    data = UnpairedDataset(tmp_path / "trainA", tmp_path / "trainB", 32, augment=False, paired=True,
                           style_group=style_group, references=True)
    assert data.group_names == ["fluent-flat", "noto"]
    names = [p.stem for p in data.b.files]
    assert data.group_of[names.index("mine")] == -1
    palette = {index: torch.tensor(colours[name], dtype=torch.float32) / 127.5 - 1
               for index, name in enumerate(data.group_names)}
    seen = set()
    for _ in range(4):
        for i in range(len(data.a)):
            sample = data[i]
            assert sample["b_group"] == data.group_of[data.partner[i]]
            group = sample["ref_group"]
            seen.add(group)
            if group >= 0:
                assert torch.allclose(sample["ref"][:, 16, 16], palette[group], atol=0.02)
    assert seen == {-1, 0, 1}  # any B image, whatever A is
    assert "ref" not in UnpairedDataset(tmp_path / "trainA", tmp_path / "trainB", 32, paired=True, style_group=style_group)[0]


def test_of_style_reads_each_rows_own_styles_score_map():
    from training.munit import any_style, of_style

    maps = [torch.arange(2 * 4 * 2 * 2, dtype=torch.float32).view(2, 4, 2, 2)]  # 2 rows: paper's map + 3 styles
    picked = of_style(maps, torch.tensor([2, 0]))[0]
    assert torch.equal(picked[0], maps[0][0, 3]) and torch.equal(picked[1], maps[0][1, 1])
    assert torch.equal(any_style(maps)[0], maps[0][:, :1])


def test_the_per_style_gan_trains_warm_starts_from_a_plain_run_and_needs_two_styles(tmp_path):
    """lambda_style_gan > 0: B's discriminator gets one score map per style after the paper's, its loss is
    logged and non-zero, training.json records the styles. --warm-start from a run without it loads the
    generator and the moving average exactly and starts each new map as a copy of the old one; a run of
    another size is refused by name; data of one style is refused with a message."""
    from safetensors.torch import load_file

    from training import munit as train_munit

    style_named_pairs(tmp_path / "named")
    data = ["--dataroot", str(tmp_path / "named"), *TINY, "--seed", "3", "--set", "lambda_paired=10"]
    train_munit.main([*data, "--out", str(tmp_path / "plain"), "--steps", "2", "--save-every", "2", "--set", "ema=0.9"])
    source = tmp_path / "plain" / "checkpoint"

    out = tmp_path / "styled"
    train_munit.main([*data, "--out", str(out), "--steps", "0", "--save-every", "1", "--set", "ema=0.9",
                      "--set", "lambda_style_gan=1", "--warm-start", str(source)])
    before, after = load_file(source / "model_1.safetensors"), load_file(out / "checkpoint" / "model_1.safetensors")
    head = after["d_b.scales.0.head.weight"]
    assert head.shape[0] == 3 and before["d_b.scales.0.head.weight"].shape[0] == 1
    assert all(torch.equal(row, before["d_b.scales.0.head.weight"][0]) for row in head)
    assert torch.equal(after["d_a.scales.0.head.weight"], before["d_a.scales.0.head.weight"])
    assert all(torch.equal(v, load_file(source / "model.safetensors")[k])
               for k, v in load_file(out / "checkpoint" / "model.safetensors").items())
    assert all(torch.equal(v, load_file(source / "ema.safetensors")[k])
               for k, v in load_file(out / "checkpoint" / "ema.safetensors").items())
    info = json.loads((out / "export" / "training.json").read_text())
    assert info["losses"]["styles"] == ["fluent-flat", "noto"] and "warm start" in " ".join(info["sessions"])

    # from the plain run's export (the network only, inside the trainer's generator wrapper): the same weights
    export = tmp_path / "plain" / "export"
    train_munit.main([*data, "--out", str(tmp_path / "from-export"), "--steps", "0", "--set", "ema=0.9",
                      "--warm-start", str(export)])
    again = load_file(tmp_path / "from-export" / "export" / "model.safetensors")
    assert all(torch.equal(v, load_file(export / "model.safetensors")[k]) for k, v in again.items())

    train_munit.main([*data, "--out", str(out), "--steps", "3", "--set", "lambda_style_gan=1", "--resume"])
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert records[-1]["style_gan"] > 0

    with pytest.raises(SystemExit, match="d_b.scales.0.body|gen_a"):
        train_munit.main([*data, "--dim", "8", "--out", str(tmp_path / "wider"), "--steps", "1",
                          "--warm-start", str(source)])
    for side in ("trainA", "trainB"):
        (tmp_path / "one" / side).mkdir(parents=True)
        for path in (tmp_path / "named" / side).glob("noto-*.png"):
            (tmp_path / "one" / side / path.name).write_bytes(path.read_bytes())
    with pytest.raises(SystemExit, match="two or more styles"):
        train_munit.main(["--dataroot", str(tmp_path / "one"), *TINY, "--out", str(tmp_path / "one-run"), "--steps", "1",
                          "--set", "lambda_style_gan=1"])


def test_compile_is_in_place_and_only_on_request(tmp_path):
    """Run.compile: nothing without --compile; with it each module's calls are compiled in place, so the
    state-dict keys (checkpoints, exports) do not change. nn.Module.compile compiles at the first call,
    so this costs nothing here."""
    from argparse import Namespace

    from training.common import Run

    def run_with(flag):
        args = Namespace(out=tmp_path, name=None, threads=None, mixed_precision="no", cpu=True, seed=0,
                         compile=flag)
        return Run(args, "training.munit", [])

    model = tiny_munit()
    keys = list(model.state_dict())
    run_with(False).compile(model)
    assert model._compiled_call_impl is None
    run_with(True).compile(model)
    assert model._compiled_call_impl is not None and list(model.state_dict()) == keys


def test_the_multimodal_protocol_measures_realism_diversity_control_and_content(tmp_path):
    """On a tiny set with a random judge: every number is computed, in range, and the content floor (the
    emoji an outline was drawn from) is the closest drawing to that outline."""
    from PIL import ImageDraw
    from torchvision.utils import save_image

    from training import classifier
    from training.data.sketch import line_drawing
    from training.data.folders import ImageFiles
    from training.evaluate import MultimodalProtocol

    colours = {"noto": (250, 200, 40), "twemoji": (40, 120, 250), "fluent-flat": (240, 90, 60)}
    for split in ("test",):
        for style, colour in colours.items():
            for i, key in enumerate(["1f600", "1f601", "1f602"]):
                image = Image.new("RGB", (32, 32), "white")
                shift = 2 * list(colours).index(style)  # each vendor draws it a little differently
                ImageDraw.Draw(image).ellipse((4 + shift, 4 + i, 26, 26 - i), fill=colour, outline="black")
                (tmp_path / "colour" / split).mkdir(parents=True, exist_ok=True)
                image.save(tmp_path / "colour" / split / f"{style}-{key}.png")
        (tmp_path / "drawing" / split).mkdir(parents=True, exist_ok=True)
        files = ImageFiles(tmp_path / "colour" / split, 0, cache=False)
        for i, path in enumerate(files.files):
            save_image(line_drawing(files.decode(i).float() / 255), tmp_path / "drawing" / split / path.name)
    folder = export(tiny_munit(), tmp_path / "m")
    t = translator.load(str(folder))
    torch.manual_seed(0)
    judge = classifier.VendorClassifier(width=4).eval()
    protocol = MultimodalProtocol()
    sets = protocol.test_sets(t, tmp_path / "drawing" / "test", tmp_path / "colour" / "test")
    assert sets["names"] == ["noto-1f600", "noto-1f601", "noto-1f602"] and sets["styles"] == sorted(colours)
    m = protocol.score(t, sets, judge)["model"]
    assert 0 <= m["realism"] <= 1 and 0 <= m["style_control"] <= 1 and m["diversity"] >= 0
    assert set(m["style_control_per_vendor"]) == set(colours) and 1 <= m["vendors_seen_of_8"] <= 6
    assert m["content_floor"] < m["content_other_vendor"]  # its own emoji is closer to an outline than another's
    assert 0 <= protocol.bars({"model": m}) <= 4
    sheet = protocol.sheet(t, sets)
    assert sheet.width > 9 * 64
    # as the app shows it: under each outline's row, the same styles through the finishing stage
    finished = translator.load(str(folder), finishing=True)
    assert finished.finishing is not None
    cell = max(finished.image_size * finished.finishing.scale, 128)
    assert protocol.sheet(finished, sets).height - sheet.height == len(sets["names"]) * (cell + 4)


def test_the_example_builder_takes_held_out_names_only_and_names_files_by_domain(tmp_path, monkeypatch):
    """training.data.munit_examples: drawings x4 pixel for pixel, colour renders at 128 px on white, styles in
    their own folder, domain names first; a name outside the test split is refused."""
    from training.data import munit_examples

    data, renders = tmp_path / "multimodal", tmp_path / "renders"
    (data / "drawing" / "test").mkdir(parents=True)
    (data / "manifest.json").write_text(json.dumps({"data_version": "v-test", "sources": {
        "noto": {"package": "p@1", "attribution": "Noto, Apache"}, "fluent-flat": {"package": "q@2", "attribution": "F, MIT"}}}))
    for name in ("noto-1f600", "fluent-flat-1f601", "noto-1f602"):
        Image.new("RGB", (64, 64), "white").save(data / "drawing" / "test" / f"{name}.png")
    for style, key in (("noto", "1f600"), ("fluent-flat", "1f601"), ("noto", "1f602")):
        (renders / style / "test").mkdir(parents=True, exist_ok=True)
        Image.new("RGBA", (256, 256), (250, 0, 0, 0)).save(renders / style / "test" / f"{key}.png")  # transparent
    monkeypatch.setattr(munit_examples, "DRAWINGS", ["fluent-flat-1f601"])
    monkeypatch.setattr(munit_examples, "COLOUR", ["noto-1f600"])
    monkeypatch.setattr(munit_examples, "STYLES", ["noto-1f602"])
    out = tmp_path / "out"
    munit_examples.write(data, renders, out, "drawn", "coloured")
    assert Image.open(out / "drawn-fluent-flat-1f601.png").size == (256, 256)
    colour = Image.open(out / "coloured-noto-1f600.png")
    assert colour.size == (128, 128) and colour.getpixel((5, 5)) == (255, 255, 255)  # transparency -> white
    assert (out / "styles" / "noto-1f602.png").exists() and (out / "hand-drawn-heart.png").exists()
    assert "Noto, Apache" in (out / "README.md").read_text()
    assert json.loads((out / "examples.json").read_text()) == {"domains": ["drawn", "coloured"]}
    assert [p.name for p in translator.hub.example_images("out", ("drawn", "coloured"), tmp_path)][:1] == \
        ["coloured-noto-1f600.png"]
    monkeypatch.setattr(munit_examples, "STYLES", ["noto-1f603"])
    with pytest.raises(SystemExit, match="no model trained on"):
        munit_examples.write(data, renders, out)


def test_style_code_report_tells_separated_vendors_from_mixed_ones():
    """training.style_codes: codes in three far-apart clusters are told apart every time (leave one out);
    codes drawn from one distribution whatever the vendor are not (about chance)."""
    from training.style_codes import nearest_centroid_accuracy

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(40)
    centres = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    assert nearest_centroid_accuracy(centres[labels] + torch.randn(120, 3, generator=g), labels) == 1.0
    assert nearest_centroid_accuracy(torch.randn(120, 3, generator=g), labels) < 0.5
