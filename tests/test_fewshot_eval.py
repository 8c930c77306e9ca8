"""The few-shot protocol (FUNIT, COCO-FUNIT): K = 1, 3, 5, 10 on fonts the model never saw, beside the
nearest-training-font baseline, with style retrieval, a sample sheet, a model card, and a step chosen
on the fonts a run held out. On a tiny stand-in for the font data: the bundled DejaVu Sans drawn nine
ways, in the font builder's layout (no system fonts needed)."""
import json

import pytest
import torch
from PIL import Image, ImageFilter

import translator
from conftest import export
from training import evaluate
from training.data.fonts import CHARS
from training.evaluate import FEWSHOT_KS, FewShotProtocol, fewshot_samples, style_retrieval
from translator.funit import render_glyph
from test_funit import t, tiny_funit  # noqa: F401  (t: the tiny model fixture, 32 px like these fonts)

SIZE = 32
TRAIN = [("plain", 0), ("bold", 0), ("thin", 0), ("plain", 0.3), ("bold", 0.3), ("thin", -0.3)]
UNSEEN = [("plain", -0.3), ("bold", -0.3), ("thin", 0.3)]


def draw(char: str, weight: str, slant: float) -> Image.Image:
    image = render_glyph(char, None, SIZE).convert("L")
    if weight == "bold":
        image = image.filter(ImageFilter.MinFilter(3))
    elif weight == "thin":
        image = image.filter(ImageFilter.MaxFilter(3))
    if slant:
        image = image.transform(image.size, Image.Transform.AFFINE, (1, slant, -slant * SIZE / 2, 0, 1, 0),
                                resample=Image.Resampling.BILINEAR, fillcolor=255)
    return image


@pytest.fixture(scope="module")
def fonts(tmp_path_factory):
    """ROOT/<train|unseen>/<font_id>/<HEX>.png, A-Z a-z 0-9 at 32 px, as training.data.fonts writes them."""
    root = tmp_path_factory.mktemp("fonts")
    for split, styles in (("train", TRAIN), ("unseen", UNSEEN)):
        for weight, slant in styles:
            folder = root / split / f"fake__DejaVuSans-{weight}-{slant:+.1f}__0"
            folder.mkdir(parents=True)
            for c in CHARS:
                draw(c, weight, slant).save(folder / f"{ord(c):04X}.png")
    return root


def test_the_samples_are_seeded_by_the_font_alone_and_the_k_sets_nest():
    samples = fewshot_samples(["a", "b"], len(CHARS))
    assert len(samples) == 2 * 12 and samples == fewshot_samples(["a", "b"], len(CHARS))
    assert [s for s in samples if s[0] == 1] == [(1, c, r) for _, c, r in fewshot_samples(["b"], len(CHARS))]
    for _, content, refs in samples:
        assert len(refs) == max(FEWSHOT_KS) == len(set(refs)) and content not in refs
    assert len({c for f, c, _ in samples if f == 0}) == 12  # distinct content characters per font


def test_the_fast_path_is_translate_tensor(t, fonts):
    """Class codes computed once per glyph and averaged give what translate_tensor gives with N x K refs."""
    protocol = FewShotProtocol()
    sets = protocol.test_sets(t, fonts / "unseen", fonts / "train")
    outputs = protocol.outputs(t, sets)
    for k in (1, 5):
        idx = torch.tensor([0, 7, 20])
        refs = evaluate.glyph_images(sets.fonts.glyphs[sets.font_index[idx, None], sets.references(k)[idx]])
        with torch.no_grad():
            direct = t.translate_tensor(sets.content[sets.char_index[idx]], references=refs)
        assert torch.allclose(outputs[k][idx], direct, atol=1e-5)


def test_the_nearest_font_of_a_training_font_is_itself(t, fonts):
    """Sanity: with a training font's own glyphs as the references, the baseline picks that font and gives
    its true glyph back (L1 0, SSIM 1), which retrieval then finds first."""
    protocol = FewShotProtocol()
    sets = protocol.test_sets(t, fonts / "train", fonts / "train")
    scores = protocol.score(t, sets, rows=("nearest training font",))
    assert list(scores) == [f"K={k}" for k in FEWSHOT_KS]
    for k in FEWSHOT_KS:
        assert torch.equal(sets.nearest[k], sets.font_index)
        row = scores[f"K={k}"]["nearest training font"]
        assert row["l1"] == 0 and row["ssim"] == pytest.approx(1) and row["retrieval_top1"] == 1
    assert style_retrieval(sets.targets(), sets) == (1.0, 1.0)


def test_evaluate_writes_the_fewshot_numbers_sheet_and_card(tmp_path, fonts):
    folder = export(tiny_funit(1, style_encoder="coco"), tmp_path / "coco")
    evaluate.main(["--model", str(folder), "--test-a", str(fonts / "unseen"), "--test-b", str(fonts / "train")])
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["evaluation"] == "fewshot" and metrics["directions"] == {}
    m = metrics["fewshot"]
    assert list(m["ks"]) == ["K=1", "K=3", "K=5", "K=10"]
    assert m["fonts"] == 3 and m["training_fonts"] == 6 and m["samples"] == 3 * 12
    assert m["chance_top1"] == pytest.approx(1 / 3) and m["chance_top5"] == 1
    for rows in m["ks"].values():
        assert list(rows) == ["model", "nearest training font", "content glyph"]
        for r in rows.values():
            assert 0 <= r["l1"] <= 1 and -1 <= r["ssim"] <= 1 and r["n"] == 36
            assert 0 <= r["retrieval_top1"] <= r["retrieval_top5"] <= 1
    at5 = m["ks"]["K=5"]
    assert m["bar"] == {"k": 5, "l1": at5["model"]["l1"] < at5["nearest training font"]["l1"],
                        "ssim": at5["model"]["ssim"] > at5["nearest training font"]["ssim"],
                        "met": m["bar"]["l1"] and m["bar"]["ssim"]}
    # an untrained model does not beat a real font's glyphs
    assert not m["bar"]["met"] and at5["nearest training font"]["l1"] < at5["model"]["l1"]
    sheet = Image.open(folder / "samples.png")
    assert sheet.width >= 96 + 9 * 128 and sheet.height >= 3 * 128  # 5 refs, content, output, baseline, truth
    card = (folder / "README.md").read_text()
    assert "| 5 | *nearest training font* |" in card and "style retrieval top-1" in card
    assert "Bar: beat the nearest training font at K = 5" in card and "references=[" in card
    assert "![sample sheet](samples.png)" in card


def test_select_step_chooses_a_step_on_the_fonts_a_run_held_out(tmp_path, fonts):
    from training import funit as train_funit
    from training import select_step

    out = tmp_path / "run"
    train_funit.main(["--data", str(fonts), "--out", str(out), "--image-size", str(SIZE), "--dim", "4",
                      "--latent-dim", "4", "--n-downsample", "2", "--n-class-downsample", "3", "--n-res", "1",
                      "--mlp-dim", "8", "--n-mlp", "2", "--inputs", "glyphs", "--ndf", "4", "--n-res-d", "2",
                      "--batch-size", "2", "--steps", "2", "--snapshot-every", "1", "--log-every", "1",
                      "--sample-every", "2", "--threads", "1", "--val-fraction", "0.05"])
    held = json.loads((out / "validation.json").read_text())
    assert held["by"] == "class name" and len(held["classes"]) >= 1 and held["root"] == str(fonts / "train")
    info = json.loads((out / "export" / "training.json").read_text())
    assert info["classes"] == len(TRAIN) - len(held["classes"]) and info["validation_classes"] == len(held["classes"])
    folder = select_step.main(["--run", str(out)])
    selection = json.loads((out / "selection.json").read_text())
    assert selection["chosen_step"] in (1, 2) and set(selection["steps"]) == {"1", "2"}
    assert selection["validation_pairs"] == 12 * len(held["classes"]) and "K = 5" in selection["criterion"]
    chosen = json.loads((folder / "training.json").read_text())["selected"]
    assert chosen["step"] == selection["chosen_step"] and set(chosen["validation"]) == {"K=5"}
    assert "Step chosen" in (folder / "README.md").read_text()
    with pytest.raises(SystemExit, match="--val-fraction"):
        FewShotProtocol().validation_sets(translator.load(str(folder), warm_up=False), tmp_path)
