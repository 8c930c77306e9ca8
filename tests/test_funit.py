"""FUNIT and COCO-FUNIT: the official sizes, the K class codes averaged (order-free, K = 1 fine), the COCO
variant, what translate / translate_text return, how dragged-in references are normalised and which are
refused, and a trainer that runs on a folder per class, resumes and exports what the core loads."""
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageOps

import translator
from conftest import export
from translator.errors import ImageError, OptionsError
from translator.funit import (FUNIT, TYPICAL_EXTENT, find_glyph, font_path, glyph_extent, normalise_reference,
                              render_glyph)
from translator.layers import init_weights

TINY = dict(image_size=32, dim=4, latent_dim=4, n_downsample=2, n_class_downsample=3, n_res=1, mlp_dim=8, n_mlp=2,
            usb_dim=8, inputs="glyphs")


def tiny_funit(seed=0, **overrides):
    torch.manual_seed(seed)
    model = FUNIT(**{**TINY, **overrides})
    init_weights(model, kind="kaiming")
    return model


@pytest.fixture(scope="module")
def t(tmp_path_factory):
    return translator.load(str(export(tiny_funit(), tmp_path_factory.mktemp("funit") / "m")), warm_up=False)


def glyphs(text: str, size: int = 32) -> list[Image.Image]:
    return [render_glyph(c, None, size) for c in text]


def drawn(text: str, canvas=(200, 140), at=(30, 20), ink="black", paper="white", size=80) -> Image.Image:
    from PIL import ImageFont

    image = Image.new("RGB", canvas, paper)
    ImageDraw.Draw(image).text(at, text, fill=ink, font=ImageFont.truetype(str(font_path()), size))
    return image


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_official_parameter_counts():
    from training.funit import MultiTaskDiscriminator

    with torch.device("meta"):
        funit, d = FUNIT(), MultiTaskDiscriminator(119)
        base, coco = FUNIT(image_size=256, n_downsample=4), FUNIT(image_size=256, n_downsample=4, style_encoder="coco")
    # NVlabs/FUNIT FewShotGen and GPPatchMcResDis (119 classes), configs/funit_animals.yaml:
    # shared/reference/official-implementations.md, appendix A9 and A10
    assert n_params(funit) == 29_866_435 and n_params(d) == 54_252_599
    # COCO-FUNIT's content-conditioned style encoder (usb, mlp_style, mlp_content) at imaginaire's content width 1024:
    # 121,562,307 - 120,987,203 (A19 - A18)
    assert n_params(coco) - n_params(base) == 575_104


def test_k_class_codes_are_averaged_in_any_order_and_k1_works(t):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    refs = torch.rand(4, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        out = t.translate_tensor(x, references=refs)
        assert torch.allclose(out, t.translate_tensor(x, references=refs[[2, 0, 3, 1]]), atol=1e-5)
        codes = t.model.class_encoder(refs)
        assert torch.allclose(t.model.class_code(refs), codes.mean(0, keepdim=True), atol=1e-6)
        one = t.translate_tensor(x, references=refs[:1])
        assert one.shape == x.shape and not torch.allclose(one, out)
        per_sample = t.translate_tensor(x, references=torch.stack([refs[:2], refs[2:]]))  # a class per content
        assert torch.allclose(per_sample[1], t.translate_tensor(x[1:], references=refs[2:])[0], atol=1e-5)
        assert torch.equal(t.translate_tensor(x), t.model.decode(t.model.content_encoder(x), t.model.class_encoder(x)))
    image = t.translate(glyphs("a")[0], references=glyphs("b"))
    assert image.mode == "RGB"


def test_the_coco_variant_builds_conditions_the_style_on_the_content_and_differs(tmp_path):
    funit, coco = tiny_funit(1), tiny_funit(1, style_encoder="coco")
    assert set(funit.state_dict()) < set(coco.state_dict())
    assert {k.split(".")[1] for k in coco.state_dict() if k.startswith("coco.")} == {"usb", "mlp_style", "mlp_content"}
    x, refs = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert not torch.allclose(funit(x, refs), coco(x, refs))
        code = coco.class_code(refs).expand(2, -1)
        conditioned = coco.coco(code, coco.content_encoder(x))
        assert not torch.allclose(conditioned[0], conditioned[1])  # the same references, a style per content
    loaded = translator.load(str(export(coco, tmp_path / "coco")))
    assert loaded.config["style_encoder"] == "coco"
    assert loaded.translate(glyphs("a")[0], references=glyphs("bc")).mode == "RGB"


def test_translate_returns_the_content_glyph_where_it_was_at_the_content_size(t):
    big = drawn("R", canvas=(300, 300), at=(60, 40), size=160)
    assert t.translate(big, references=glyphs("ab")).size == (300, 300)
    small = render_glyph("R", None, 64)
    assert t.translate(small, references=glyphs("ab")).size == (256, 256)  # the display minimum, as every family
    # light-on-dark content comes back light-on-dark: the corners stay dark
    dark = ImageOps.invert(big)
    out = np.asarray(t.translate(dark, references=glyphs("ab")).convert("L"))
    assert out[:5, :5].mean() < 30


def test_translate_text_returns_one_line_that_grows_with_the_word_and_keeps_spaces(t):
    refs = glyphs("abc")
    one, word, spaced = (t.translate_text(w, refs) for w in ("a", "abc", "a bc"))
    assert one.mode == word.mode == "RGB"
    assert one.width < word.width < spaced.width and one.height == word.height == spaced.height
    assert word.width > word.height  # a line, not a stack
    # punctuation the glyph data lacks stays in the base font, and does not stop the line
    assert t.translate_text("ab, c!", refs).width > word.width
    with pytest.raises(OptionsError, match="Type a word"):
        t.translate_text("   ", refs)
    with pytest.raises(OptionsError, match="one line"):
        t.translate_text("two\nlines", refs)
    with pytest.raises(OptionsError, match="cannot read"):
        t.translate_text("ab", refs, font="no-such-font.ttf")


def test_references_are_normalised_polarity_margins_and_several_letters():
    reference = drawn("g")
    expected = np.asarray(normalise_reference(reference, 64).convert("L"), dtype=float)
    inverted = drawn("g", ink=(250, 250, 230), paper=(10, 20, 60))  # light on dark, coloured
    assert find_glyph(inverted).inverted and not find_glyph(reference).inverted
    assert np.abs(np.asarray(normalise_reference(inverted, 64).convert("L"), dtype=float) - expected).mean() < 6
    margins = drawn("g", canvas=(600, 500), at=(400, 300))  # far off-centre, wide margins, another canvas size
    assert np.abs(np.asarray(normalise_reference(margins, 64).convert("L"), dtype=float) - expected).mean() < 6
    dataset_glyph = render_glyph("o", None, 64)  # a glyph of the font dataset keeps its size (o smaller than O)
    assert normalise_reference(dataset_glyph, 64).tobytes() == dataset_glyph.tobytes()
    several = np.asarray(normalise_reference(drawn("abc", canvas=(400, 150), at=(20, 20)), 64).convert("L")) < 128
    cols, rows = np.flatnonzero(several.any(0)), np.flatnonzero(several.any(1))
    assert abs((cols[-1] - cols[0] + 1) - TYPICAL_EXTENT * glyph_extent(64)) <= 2  # the strip's width is fitted
    assert rows[-1] - rows[0] < cols[-1] - cols[0]
    assert 64 // 2 - 2 < (cols[0] + cols[-1]) / 2 < 64 // 2 + 2  # centred


def test_what_cannot_be_a_glyph_is_refused_with_a_clear_message(t):
    content = glyphs("a")[0]
    with pytest.raises(ImageError, match="Reference 2 of 2: .*blank"):
        t.translate(content, references=[drawn("b"), Image.new("RGB", (80, 80), "white")])
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(ImageError, match="photo"):
        t.translate(content, references=[noise])
    solid = Image.new("RGB", (60, 60), "white")
    solid.paste((0, 0, 0), (1, 1, 59, 59))  # ink everywhere inside a thin frame
    with pytest.raises(ImageError, match="covers almost everything"):
        t.translate(content, references=[solid])
    with pytest.raises(OptionsError, match="1 to 20 images, got 21"):
        t.translate(content, references=glyphs("a") * 21)
    with pytest.raises(OptionsError, match="1 to 20 images, got 0"):
        t.translate(content, references=[])
    with pytest.raises(OptionsError, match="1 to 20 images, got 0"):
        t.translate_text("ab", [])


def test_references_of_mixed_sizes_modes_and_formats_are_all_taken(t, tmp_path):
    """A visitor drags in whatever they have: files of different sizes, modes and formats in one set are each
    normalised; a damaged one among them is refused by its place in the set."""
    from PIL import ImageFont

    base = drawn("b")
    grey = drawn("c", canvas=(50, 90), at=(5, 5), size=60).convert("L")
    clear = Image.new("RGBA", (120, 120), (0, 0, 0, 0))  # ink on transparency: the paper is what shows through
    ImageDraw.Draw(clear).text((20, 10), "d", fill=(0, 0, 0, 255), font=ImageFont.truetype(str(font_path()), 90))
    files = []
    for name, image in [("rgb.png", base), ("grey.png", grey), ("clear.png", clear), ("palette.gif", base.convert("P")),
                        ("cmyk.jpg", base.convert("CMYK")), ("la.png", grey.convert("LA")),
                        ("16bit.png", grey.convert("I").point(lambda v: v * 257).convert("I;16"))]:
        image.save(tmp_path / name)
        files.append(str(tmp_path / name))
    out = t.translate(glyphs("a")[0], references=files)
    assert out.mode == "RGB" and out.size == (256, 256)
    assert t.translate(glyphs("a")[0], references=[Image.open(f) for f in files]).mode == "RGB"
    (tmp_path / "cut.png").write_bytes((tmp_path / "rgb.png").read_bytes()[:200])
    with pytest.raises(ImageError, match="Reference 2 of 3"):
        t.translate(glyphs("a")[0], references=[files[0], str(tmp_path / "cut.png"), files[1]])


def test_a_model_of_pictures_takes_any_picture_as_a_reference(tmp_path):
    pictures = translator.load(str(export(tiny_funit(inputs="images"), tmp_path / "images")), warm_up=False)
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 64, 3), dtype=np.uint8))
    assert pictures.translate(noise, references=[noise, Image.new("RGB", (9, 9), "white")]).size == (256, 160)


def test_the_tab_method_reports_k_and_time_and_takes_a_typed_word(t):
    refs = glyphs("abc")
    result = t.run_fewshot(glyphs("x")[0], references=refs)
    assert result.k == 3 and "K = 3" in result.summary and result.seconds >= 0
    typed = t.run_fewshot(None, references=refs, text="Hi")
    assert typed.translation.width > typed.translation.height and typed.k == 3
    assert t.run_fewshot(glyphs("x")[0]).k == 0  # no references: the content's own class code
    with pytest.raises(OptionsError, match="content glyph image or type a word"):
        t.run_fewshot(None, references=refs)


def fake_fonts(root, classes=("plain", "bold", "thin", "slant", "outline"), chars="ABab01", size=32):
    """A folder per 'font': the bundled DejaVu Sans drawn five ways (no system fonts needed)."""
    def style(image, kind):
        if kind == "bold":
            return image.filter(ImageFilter.MinFilter(3))
        if kind == "thin":
            return image.filter(ImageFilter.MaxFilter(3))
        if kind == "slant":
            return image.transform(image.size, Image.Transform.AFFINE, (1, 0.3, -5, 0, 1, 0), fillcolor="white")
        if kind == "outline":
            return ImageOps.invert(image.filter(ImageFilter.FIND_EDGES))
        return image
    for kind in classes:
        (root / kind).mkdir(parents=True)
        for c in chars:
            style(render_glyph(c, None, size).convert("L"), kind).save(root / kind / f"{ord(c):04X}.png")


def test_trainer_runs_resumes_and_exports_on_a_folder_per_class(tmp_path):
    from training import funit as train_funit

    fake_fonts(tmp_path / "fonts" / "train")
    fake_fonts(tmp_path / "fonts" / "unseen", classes=("wide", "bold"))
    data = train_funit.FewShotClasses(train_funit.class_root(tmp_path / "fonts"), 32, k=2)
    sample = data[0]
    assert train_funit.class_root(tmp_path / "fonts" / "train") == tmp_path / "fonts" / "train"  # a folder per class
    assert len(data.classes) == 5 and sample["class_images"].shape == (2, 3, 32, 32)
    assert sample["has_target"] and sample["class_label"] != sample["content_label"]  # another font, same char
    out = tmp_path / "run"
    args = ["--data", str(tmp_path / "fonts"), "--out", str(out), "--image-size", "32", "--dim", "4",
            "--latent-dim", "4", "--n-downsample", "2", "--n-class-downsample", "3", "--n-res", "1", "--mlp-dim", "8",
            "--n-mlp", "2", "--usb-dim", "8", "--style-encoder", "coco", "--inputs", "glyphs", "--ndf", "4",
            "--n-res-d", "4", "--batch-size", "2", "--log-every", "1", "--sample-every", "3", "--save-every", "2",
            "--threads", "1", "--set", "train_k=2"]
    train_funit.main([*args, "--steps", "3"])
    train_funit.main([*args, "--steps", "4", "--resume"])
    info = json.loads((out / "export" / "training.json").read_text())
    assert info["steps"] == 4 and info["family"] == "funit" and info["classes"] == 5 and len(info["sessions"]) == 2
    assert info["losses"]["lambda_gp"] == 10 and info["losses"]["train_k"] == 2 and info["ema"] == 0.999
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert {"g_adv", "recon", "fm", "gp", "paired_l1"} <= records[-1].keys()
    assert (out / "samples" / "0000003.png").exists()
    loaded = translator.load(str(out / "export"), "funit", allow_local=True)
    assert loaded.config["style_encoder"] == "coco"
    assert loaded.translate_text("Ab", [tmp_path / "fonts" / "unseen" / "wide" / "0041.png"]).mode == "RGB"


def test_the_paired_departure_trains_on_the_true_glyph_and_is_recorded(tmp_path):
    """lambda_paired > 0 adds the L1 to the target font's own glyph of the content: the same seed and data
    give different weights with it than without (the loss reaches the generator), and the card records it."""
    from safetensors.torch import load_file

    from training import funit as train_funit

    fake_fonts(tmp_path / "fonts" / "train", classes=("plain", "bold", "thin"), chars="ABa")
    common = ["--data", str(tmp_path / "fonts"), "--image-size", "32", "--dim", "4", "--latent-dim", "4",
              "--n-downsample", "2", "--n-class-downsample", "3", "--n-res", "1", "--mlp-dim", "8", "--n-mlp", "2",
              "--usb-dim", "8", "--inputs", "glyphs", "--ndf", "4", "--n-res-d", "2", "--batch-size", "2",
              "--threads", "1", "--steps", "2", "--set", "ema=0"]
    weights = {}
    for weight in ("0", "100"):
        out = tmp_path / f"run-{weight}"
        train_funit.main([*common, "--out", str(out), "--set", f"lambda_paired={weight}"])
        weights[weight] = load_file(out / "export" / "model.safetensors")
        info = json.loads((out / "export" / "training.json").read_text())
        assert info["losses"]["lambda_paired"] == float(weight)
    assert any(not torch.equal(weights["0"][k], weights["100"][k]) for k in weights["0"])


def test_the_base_content_departure_translates_the_app_base_fonts_glyph(tmp_path):
    """base_content: the translation's content is the content character drawn in the app's base font (what
    the app's typed words and the evaluation use), the reconstruction keeps the class image; it changes
    what is trained and is recorded in the card."""
    from safetensors.torch import load_file

    from training import funit as train_funit
    from torchvision.transforms.v2.functional import pil_to_tensor

    from training.data.folders import eval_transform

    fake_fonts(tmp_path / "fonts" / "train", classes=("plain", "bold", "thin"), chars="ABa")
    data = train_funit.FewShotClasses(train_funit.class_root(tmp_path / "fonts"), 32, base_content=True)
    sample = data[0]  # the first image of the first class: "bold" (the base font thickened), "A"
    assert data.classes[sample["content_label"]] == "bold" and data.sets[0].files[0].stem == "0041"
    assert torch.equal(sample["base"], eval_transform()(pil_to_tensor(render_glyph("A", None, 32))))
    assert not torch.equal(sample["base"], sample["content"])
    assert "base" not in train_funit.FewShotClasses(train_funit.class_root(tmp_path / "fonts"), 32)[0]
    common = ["--data", str(tmp_path / "fonts"), "--image-size", "32", "--dim", "4", "--latent-dim", "4",
              "--n-downsample", "2", "--n-class-downsample", "3", "--n-res", "1", "--mlp-dim", "8", "--n-mlp", "2",
              "--usb-dim", "8", "--inputs", "glyphs", "--ndf", "4", "--n-res-d", "2", "--batch-size", "2",
              "--threads", "1", "--steps", "2", "--set", "ema=0", "--set", "lambda_paired=10", "--channels", "1"]
    weights = {}
    for base in (False, True):
        out = tmp_path / f"run-{base}"
        train_funit.main([*common, "--out", str(out), "--set", f"base_content={base}"])
        weights[base] = load_file(out / "export" / "model.safetensors")
        assert json.loads((out / "export" / "training.json").read_text())["losses"]["base_content"] is base
    assert any(not torch.equal(weights[False][k], weights[True][k]) for k in weights[False])
    (tmp_path / "bad" / "one").mkdir(parents=True)
    (tmp_path / "bad" / "two").mkdir(parents=True)
    for folder in ("one", "two"):
        render_glyph("A", None, 32).save(tmp_path / "bad" / folder / "letter-a.png")
    with pytest.raises(SystemExit, match="code point"):
        train_funit.FewShotClasses(tmp_path / "bad", 32, base_content=True)
