"""The finishing stage: its network, its training data, its trainer, and how translators use it."""
import contextlib
import json
import random
import threading

import numpy as np

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import translator
from translator import finishing
from translator.finishing import Finisher, Finishing
from translator.base import Provenance
from training import finishing as train_finishing
from conftest import ROOT

FONTS = str(ROOT / "assets/fonts")  # DejaVu Sans ships with the repo (the FUNIT base font)



def test_untrained_finisher_is_bicubic_and_enlarges_x4():
    model = Finisher(width=8, n_layers=2).eval()
    x = torch.rand(2, 3, 20, 24) * 2 - 1
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 3, 80, 96)
    assert torch.allclose(y, F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False), atol=1e-6)


def test_strength_scales_the_correction_between_bicubic_and_the_full_finisher():
    torch.manual_seed(0)
    model = Finisher(width=8, n_layers=2).eval()
    torch.nn.init.normal_(model.body[-2].weight, std=0.1)  # a correction that is not zero
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        full, half, none = model(x), model(x, 0.5), model(x, 0.0)
    bicubic = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(none, bicubic, atol=1e-6) and not torch.allclose(full, bicubic, atol=1e-3)
    assert torch.allclose(half, (full + bicubic) / 2, atol=1e-5)


def test_strengths_are_read_per_model_and_bad_entries_left_out(tmp_path):
    from translator.finishing import read_strengths
    assert read_strengths(tmp_path) == {}  # no file: the whole correction for every model
    (tmp_path / "strengths.json").write_text(json.dumps({"strengths": {
        "soft-model": 0.35, "zero": 0, "too-big": 1.5, "negative": -0.1, "word": "half", "flag": True, "nan": float("nan")}}))
    assert read_strengths(tmp_path) == {"soft-model": 0.35, "zero": 0.0}
    for damaged in ("{", "[]", '{"strengths": [1, 2]}', '{"other": {}}'):
        (tmp_path / "strengths.json").write_text(damaged)
        assert read_strengths(tmp_path) == {}, damaged
    stage = Finishing(Finisher(width=8, n_layers=2), Provenance("local", tmp_path), torch.device("cpu"), {"soft-model": 0.35})
    assert stage.strength_for("soft-model") == 0.35 and stage.strength_for("any-other") == 1.0


def test_the_chosen_strength_is_full_where_it_wins_and_the_best_psnr_where_it_does_not():
    from training.finishing_strength import choose
    wins = {0.0: {"psnr": 10.0, "ssim": 0.5}, 0.5: {"psnr": 10.2, "ssim": 0.55}, 1.0: {"psnr": 10.1, "ssim": 0.6}}
    assert choose(wins) == 1.0  # full strength beats bicubic on both: kept, though 0.5 has the higher PSNR
    loses = {0.0: {"psnr": 10.0, "ssim": 0.5}, 0.25: {"psnr": 10.05, "ssim": 0.52}, 0.5: {"psnr": 10.05, "ssim": 0.55},
             1.0: {"psnr": 9.9, "ssim": 0.6}}
    assert choose(loses) == 0.5  # the highest PSNR, the larger of equals
    assert choose({0.0: {"psnr": 10.0, "ssim": 0.5}, 1.0: {"psnr": 9.0, "ssim": 0.4}}) == 0.0  # bicubic itself


def test_a_translator_is_finished_at_its_models_strength():
    """Strength 0 for this model's name: its finished image is plain bicubic's (an untrained finisher, whose
    correction is zero); any other strength changes it."""
    t = translator.load("cyclegan-noto2twemoji", finishing=False)
    torch.manual_seed(0)
    trained = Finisher(width=8, n_layers=2)
    torch.nn.init.normal_(trained.body[-2].weight, std=0.1)
    source = sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[0]

    def finished(model, strengths):
        t2 = t.with_weights(t.model.state_dict())
        t2.finishing = Finishing(model, Provenance("local", ROOT), t.device, strengths)
        return np.asarray(t2.translate(source), dtype=np.int16)

    bicubic = finished(Finisher(width=8, n_layers=2), {})
    assert np.abs(finished(trained, {t.name: 0.0}) - bicubic).max() <= 1
    assert np.abs(finished(trained, {"another-model": 0.0}) - bicubic).max() > 5


def test_training_pairs_are_aligned_crops_with_degraded_inputs():
    torch.manual_seed(0)
    pairs = train_finishing.FinishingPairs([], [f"{FONTS}/DejaVuSans.ttf"], crop=32, epoch_size=8)
    degraded, target = pairs[0]
    assert degraded.shape == (3, 32, 32) and target.shape == (3, 128, 128)
    assert degraded.min() >= -1 and degraded.max() <= 1
    # without degradation, the input is the target shrunk: they show the same thing in the same place
    rng = random.Random(0)
    clean = train_finishing.shrink(target, 4, rng)
    assert (F.interpolate(clean[None], scale_factor=4, mode="bicubic", align_corners=False)[0] - target).abs().mean() < 0.1
    changed = [(train_finishing.degrade(clean, random.Random(s)) - clean).abs().mean().item() for s in range(20)]
    assert sum(c > 1e-4 for c in changed) >= 10  # most draws degrade; about a fifth stay clean
    assert sum(c == 0 for c in changed) >= 1


def test_real_model_outputs_pair_with_their_true_renders_in_aligned_crops(tmp_path):
    """training.data.model_outputs writes a shipped model's outputs of training-split inputs beside a manifest
    naming the true 256-px renders; FinishingPairs crops both at the same place (no synthetic degradation)."""
    from training.data import model_outputs

    data = tmp_path / "data"
    for key, colour in (("1f600", (250, 200, 40)), ("2764", (220, 30, 40))):
        (data / "emoji-64" / "noto-sketch" / "train").mkdir(parents=True, exist_ok=True)
        (data / "emoji-256" / "noto" / "train").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), "white").save(data / "emoji-64" / "noto-sketch" / "train" / f"{key}.png")
        Image.new("RGB", (256, 256), colour).save(data / "emoji-256" / "noto" / "train" / f"{key}.png")
    Image.new("RGB", (64, 64), "white").save(data / "emoji-64" / "noto-sketch" / "train" / "no-target.png")
    out = tmp_path / "outputs"
    manifest = model_outputs.write(["pix2pix-sketch2emoji"], out, data=data)
    assert manifest["pix2pix-sketch2emoji-a2b"]["images"] == 2  # an input without a true render is skipped
    pairs = model_outputs.pairs(out)
    assert sorted(p.name for p, _ in pairs) == ["1f600.png", "2764.png"]
    assert all(t == data / "emoji-256" / "noto" / "train" / p.name for p, t in pairs)
    dataset = train_finishing.FinishingPairs([], [f"{FONTS}/DejaVuSans.ttf"], crop=16, epoch_size=4,
                                             model_pairs=pairs, model_share=1.0)
    torch.manual_seed(0)
    small, target = dataset[0]
    assert small.shape == (3, 16, 16) and target.shape == (3, 64, 64)
    stored = {p.name: (train_finishing.to_tensor(Image.open(p)), train_finishing.to_tensor(Image.open(t))) for p, t in pairs}
    # the crop is a window of one pair's output, and its target is the matching true render (a flat colour)
    assert any(target.flatten(1).std(1).max() < 1e-3 and (target[:, 0, 0] - whole_target[:, 0, 0]).abs().max() < 1e-3
               and any(torch.equal(small, whole[:, y:y + 16, x:x + 16]) or torch.equal(small, whole.flip(2)[:, y:y + 16, x:x + 16])
                       for y in range(49) for x in range(49))
               for whole, whole_target in stored.values())


def test_glyphs_render_dark_on_white_and_centred():
    image = train_finishing.render_glyph(f"{FONTS}/DejaVuSans.ttf", "H", 64)
    gray = torch.from_numpy(__import__("numpy").asarray(image.convert("L"), dtype="float32"))
    ink = (gray < 128).nonzero().float()
    assert gray[0].min() > 250 and len(ink) > 50
    assert (ink.mean(0) - 31.5).abs().max() < 4


def test_trainer_runs_exports_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["--out", str(out), "--steps", "3", "--batch-size", "2", "--width", "8", "--n-layers", "2",
            "--emoji", str(tmp_path / "none"), "--fonts", FONTS, "--crop", "16", "--log-every", "1", "--threads", "1"]
    train_finishing.main(args)
    export = out / "export"
    config = json.loads((export / "config.json").read_text())
    assert config["family"] == "finisher" and config["width"] == 8
    model = Finisher.from_folder(export, config)
    assert model(torch.zeros(1, 3, 8, 8)).shape == (1, 3, 32, 32)
    info = json.loads((export / "training.json").read_text())
    assert info["steps"] == 3 and info["fonts"]
    args[args.index("--steps") + 1] = "5"
    train_finishing.main([*args, "--resume"])
    assert json.loads((export / "training.json").read_text())["steps"] == 5
    assert len(json.loads((export / "training.json").read_text())["sessions"]) == 2


@pytest.fixture
def finished_translator():
    t = translator.load("cyclegan-noto2twemoji", finishing=False)
    torch.manual_seed(0)
    stage = Finishing(Finisher(width=8, n_layers=2), Provenance("local", ROOT), t.device)
    t2 = t.with_weights(t.model.state_dict())
    t2.finishing = stage
    return t2


def test_translate_returns_the_finished_image_with_the_raw_one_attached(finished_translator):
    source = sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[0]
    out = finished_translator.translate(source)
    assert out.size == (256, 256)
    raw = out.info["raw"]
    assert raw.size == out.size and raw.tobytes() != out.tobytes()
    with translator.raw_output():
        plain = finished_translator.translate(source)
    assert "raw" not in plain.info and plain.tobytes() == raw.tobytes()
    # named methods go through the same path: the cycle's images are finished too
    result = finished_translator.cycle(source, "a2b")
    assert "raw" in result.translation.info


def test_letterbox_is_undone_at_the_finished_scale(finished_translator):
    """An untrained finisher is bicubic: on a wide input its image must match the raw one (a box not scaled
    x4 would crop the wrong part, and the sizes alone would not show it)."""
    wide = Image.new("RGB", (300, 150), "white")
    emoji = Image.open(sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[0]).convert("RGB")
    wide.paste(emoji.resize((150, 150)), (10, 0))
    out = finished_translator.translate(wide)
    assert out.size == (300, 150) and out.info["raw"].size == (300, 150)
    difference = np.abs(np.asarray(out, dtype=float) - np.asarray(out.info["raw"], dtype=float)).mean()
    assert difference < 6, difference


def test_switching_the_stage_off_is_per_call_not_per_translator(finished_translator):
    """One cached translator serves every user of the app: one user's raw_output() must not reach another."""
    source = sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[0]
    both_inside = threading.Barrier(2)
    results = {}

    def user(name, raw):
        with translator.raw_output() if raw else contextlib.nullcontext():
            both_inside.wait(timeout=30)
            results[name] = finished_translator.translate(source)

    threads = [threading.Thread(target=user, args=("raw", True)), threading.Thread(target=user, args=("finished", False))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert "raw" not in results["raw"].info and "raw" in results["finished"].info


def test_load_falls_back_to_the_bundled_finisher_without_network(monkeypatch):
    monkeypatch.setattr(finishing, "_loaded", {})
    monkeypatch.setattr(finishing.hub.constants, "HF_HUB_OFFLINE", True)
    stage = finishing.load_finishing("cpu")
    assert stage.provenance.source == "bundled" and stage.scale == 4
    assert stage.applies_to(64) and not stage.applies_to(256)
    assert translator.load("cyclegan-noto2twemoji", finishing=True).finishing is stage
    assert translator.load("cyclegan-noto2twemoji").finishing is None  # off unless asked for


def test_the_strengths_come_with_the_weights_from_the_hub(monkeypatch, fake_hub):
    """A finisher downloaded from the Hub reads the strengths published beside its weights; a Hub copy without
    the file (uploaded before it existed) takes the bundled copy's."""
    bundled = finishing.bundled_dir()
    weights = {name: (bundled / name).read_bytes() for name in ("config.json", "model.safetensors")}
    repo = json.loads((bundled / "shipped.json").read_text())["repo_id"]
    fake_hub.add(repo, {**weights, "strengths.json": json.dumps({"strengths": {"munit-drawing2emoji": 0.2}}).encode()})
    monkeypatch.setattr(finishing, "_loaded", {})
    stage = finishing.load_finishing("cpu", warm_up=False)
    assert stage.provenance.source == "hub" and stage.strength_for("munit-drawing2emoji") == 0.2
    assert fake_hub.downloads("strengths.json") == 1 and fake_hub.downloads("metrics.json") == 0  # asked, absent
    fake_hub.add(repo, weights)  # a newer commit on main without the file
    monkeypatch.setattr(finishing, "_loaded", {})
    stage = finishing.load_finishing("cpu", warm_up=False)
    assert stage.provenance.source == "hub"
    assert stage.strength_for("munit-drawing2emoji") == finishing.read_strengths(bundled)["munit-drawing2emoji"] < 1


def test_a_missing_finisher_leaves_models_usable(monkeypatch, tmp_path):
    monkeypatch.setattr(finishing, "bundled_dir", lambda: tmp_path / "nothing")
    monkeypatch.setattr(finishing, "_loaded", {})
    monkeypatch.setattr(translator, "_cache", type(translator._cache)())
    with pytest.warns(UserWarning, match="No finishing stage"):
        t = translator.load("cyclegan-noto2twemoji", finishing=True)
    assert t.finishing is None and t.translate(Image.new("RGB", (64, 64), "white")).size == (256, 256)


def test_the_shipped_stage_is_on_in_the_app_where_its_numbers_met_the_rule():
    """The app turns the stage on by default only on the strength of its card: better than bicubic on PSNR and
    SSIM on every real render and glyph set, within 15 ms, and on every set of the tab's model's outputs;
    every shipped model the stage applies to was measured, and a model it lost on starts raw."""
    from translator.finishing import measured_on

    metrics = json.loads((ROOT / "assets/finishing/finisher-x4/metrics.json").read_text())
    real = {name: m for name, m in metrics["sets"].items() if "(model output)" not in name}
    assert len(real) >= 4 and all(m["finisher"][k] > m["bicubic"][k] for m in real.values() for k in ("psnr", "ssim"))
    assert metrics["latency"]["median_ms"]["finisher"] <= 15
    for name in translator.list_models():
        if translator.load(name).image_size * 4 <= 512:  # the models the stage applies to
            assert measured_on(name) is not None, f"{name}'s outputs were not measured"
    import inspect

    import app
    assert "gr.Checkbox(translator.finishing.measured_on(self.default_model) is not False" in inspect.getsource(app.FamilyTab.build)


def test_measured_on_reads_the_stages_card_per_model(tmp_path):
    """True where every set of the model's outputs was won on PSNR and SSIM, False where one was lost on
    either, None where the model was not measured (or the card is missing)."""
    from translator.finishing import measured_on

    won = {"bicubic": {"psnr": 10.0, "ssim": 0.5}, "finisher": {"psnr": 10.1, "ssim": 0.6}}
    psnr_lost = {"bicubic": {"psnr": 10.0, "ssim": 0.5}, "finisher": {"psnr": 9.9, "ssim": 0.6}}
    (tmp_path / "metrics.json").write_text(json.dumps({"sets": {
        "good a2b (model output)": won, "good b2a (model output)": won,
        "mixed a2b (model output)": won, "mixed b2a (model output)": psnr_lost, "noto (real 64-px render)": won}}))
    assert measured_on("good", tmp_path) is True and measured_on("mixed", tmp_path) is False
    assert measured_on("other", tmp_path) is None and measured_on("good", tmp_path / "missing") is None


def test_a_few_shot_glyph_model_is_measured_on_unseen_fonts_against_their_true_glyphs(tmp_path):
    """finishing_measure's set for a FUNIT model: K = 5 references of each unseen font, the content in the base
    font, the truth the font's own 256-px glyph (here a stand-in 'font' that is the bundled DejaVu Sans)."""
    import shutil

    from test_funit import tiny_funit
    from training import finishing_measure
    from translator.funit import render_glyph as layout_glyph

    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts" / "manifest.json").write_text(json.dumps({"fonts": [
        {"id": "pkg__Sans__0", "split": "unseen", "package": "pkg", "file": "DejaVuSans.ttf"},
        {"id": "pkg__Other__0", "split": "train", "package": "pkg", "file": "DejaVuSans.ttf"}]}))
    (tmp_path / "debs" / "root" / "pkg").mkdir(parents=True)
    shutil.copy(f"{FONTS}/DejaVuSans.ttf", tmp_path / "debs" / "root" / "pkg" / "DejaVuSans.ttf")
    from conftest import export
    t = translator.load(str(export(tiny_funit(), tmp_path / "tiny-funit")), "funit", allow_local=True, warm_up=False)
    keys, small, large = finishing_measure.fewshot_set(t, tmp_path / "fonts", tmp_path / "debs")
    chars = finishing_measure.FEWSHOT_CONTENT
    assert keys == [f"pkg__Sans__0-{c}" for c in chars]  # the unseen font only
    assert small.shape == (len(chars), 3, t.image_size, t.image_size) and large.shape == (len(chars), 3, 256, 256)
    assert torch.equal(large[0], train_finishing.to_tensor(layout_glyph(chars[0], tmp_path / "debs/root/pkg/DejaVuSans.ttf", 256)))



def test_a_drawing_munit_is_measured_with_each_outlines_own_style_against_its_vendors_render(tmp_path):
    """finishing_measure's set for a drawing -> colour MUNIT: each held-out outline `<vendor>-<key>` is decoded
    with the style of its own colour image and scored against that vendor's 256-px render of the key;
    outlines without a colour image or a render are left out."""
    from conftest import export
    from training import finishing_measure
    from translator.munit import MUNIT

    for folder in ("mm/drawing/test", "mm/colour/test", "e256/noto/test", "e256/twemoji/test"):
        (tmp_path / folder).mkdir(parents=True)
    for name in ("noto-1f600", "twemoji-1f601", "noto-1f602"):
        Image.new("RGB", (64, 64), "white").save(tmp_path / "mm/drawing/test" / f"{name}.png")
    for name in ("noto-1f600", "twemoji-1f601"):  # 1f602 has no colour image
        Image.new("RGB", (64, 64), (250, 200, 40)).save(tmp_path / "mm/colour/test" / f"{name}.png")
    Image.new("RGB", (256, 256), "yellow").save(tmp_path / "e256/noto/test/1f600.png")
    Image.new("RGB", (256, 256), "blue").save(tmp_path / "e256/twemoji/test/1f601.png")
    torch.manual_seed(0)
    tiny = MUNIT(image_size=64, dim=4, style_dim=3, n_res=1, mlp_dim=8, n_mlp=2, domain_a="drawing", domain_b="colour")
    t = translator.load(str(export(tiny, tmp_path / "m")), warm_up=False)
    keys, outs, truths = finishing_measure.multimodal_set(t, tmp_path / "mm", tmp_path / "e256")
    assert keys == ["noto-1f600", "twemoji-1f601"]
    assert outs.shape == (2, 3, 64, 64) and truths.shape == (2, 3, 256, 256)
    assert truths[1, 2].mean() > 0.9 and truths[1, 0].mean() < -0.9  # the twemoji render is the blue one


def test_a_drawing_munits_training_outputs_are_written_per_vendor_beside_their_renders(tmp_path):
    """training.data.model_outputs for a MUNIT: the training outlines in their own colour image's style, one
    folder per vendor, named by code point, so that pairs() meets each output with its vendor's 256-px render."""
    from conftest import export
    from training.data import model_outputs
    from translator.munit import MUNIT

    data = tmp_path / "data"
    for folder in ("multimodal-64/drawing/train", "multimodal-64/colour/train", "emoji-256/noto/train",
                   "emoji-256/twemoji/train"):
        (data / folder).mkdir(parents=True)
    for name in ("noto-1f600", "twemoji-1f601", "twemoji-1f602"):
        Image.new("RGB", (64, 64), "white").save(data / "multimodal-64/drawing/train" / f"{name}.png")
        Image.new("RGB", (64, 64), (250, 200, 40)).save(data / "multimodal-64/colour/train" / f"{name}.png")
    Image.new("RGB", (256, 256), "yellow").save(data / "emoji-256/noto/train/1f600.png")
    Image.new("RGB", (256, 256), "blue").save(data / "emoji-256/twemoji/train/1f601.png")  # 1f602: no render
    torch.manual_seed(0)
    tiny = MUNIT(image_size=64, dim=4, style_dim=3, n_res=1, mlp_dim=8, n_mlp=2, domain_a="drawing", domain_b="colour")
    model = export(tiny, tmp_path / "tiny-munit")
    manifest = model_outputs.write([str(model)], tmp_path / "out", data=data)
    assert set(manifest) == {"tiny-munit-noto", "tiny-munit-twemoji"}
    assert manifest["tiny-munit-twemoji"]["images"] == 1
    pairs = model_outputs.pairs(tmp_path / "out")
    assert [(p.parent.name, p.name, t.parent.parent.name, t.name) for p, t in pairs] == [
        ("tiny-munit-noto", "1f600.png", "noto", "1f600.png"), ("tiny-munit-twemoji", "1f601.png", "twemoji", "1f601.png")]
    assert all(t.exists() for _, t in pairs) and Image.open(pairs[0][0]).size == (64, 64)
    limited = model_outputs.write([str(model)], tmp_path / "one", data=data, limit=1)
    assert sum(entry["images"] for entry in limited.values()) == 1  # a MUNIT's outputs count as one set


def test_re_measuring_one_shipped_model_replaces_its_rows_and_keeps_the_others(tmp_path, monkeypatch):
    """--only MODEL (after shipping a new version of one model): finishing_strength chooses again for it and
    keeps the others' choices; finishing_measure --card replaces its rows in metrics.json and the card, keeps
    every other set's numbers and the full command, and leaves the sample sheet as it was."""
    import shutil

    from training import finishing_measure, finishing_strength
    folder = tmp_path / "finisher"
    shutil.copytree(ROOT / "assets/finishing/finisher-x4", folder)
    earlier_metrics = json.loads((folder / "metrics.json").read_text())
    earlier_strengths = json.loads((folder / "strengths.json").read_text())
    sheet = (folder / "samples.png").read_bytes()
    title = "pix2pix-sketch2emoji noto-sketch → noto (model output)"
    torch.manual_seed(0)
    small = torch.rand(3, 3, 64, 64) * 2 - 1
    large = F.interpolate(small, scale_factor=4, mode="bicubic", align_corners=False).clamp(-1, 1)
    asked, real_model_sets = [], finishing_measure.model_sets

    def fake_sets(*args, models=None, **kwargs):
        asked.append(models)
        return {title: (["a", "b", "c"], small, large)}

    monkeypatch.setattr(finishing_strength, "model_sets", fake_sets)
    monkeypatch.setattr(finishing_measure, "model_sets", fake_sets)
    monkeypatch.setattr(finishing_measure, "latency", lambda finisher: pytest.fail("the cost is not re-measured"))
    monkeypatch.chdir(tmp_path)  # --card also writes docs/metrics/finisher-x4.json under the working folder
    finishing_strength.main(["--model", str(folder), "--only", "pix2pix-sketch2emoji", "--threads", "1"])
    finishing_measure.main(["--model", str(folder), "--only", "pix2pix-sketch2emoji", "--card", "--threads", "1"])
    assert asked == [["pix2pix-sketch2emoji"]] * 2
    strengths = json.loads((folder / "strengths.json").read_text())
    assert strengths["strengths"]["munit-drawing2emoji"] == earlier_strengths["strengths"]["munit-drawing2emoji"]
    assert strengths["sets"][title]["images"] == 3 and strengths["command"] == earlier_strengths["command"]
    assert all(strengths["sets"][t] == s for t, s in earlier_strengths["sets"].items() if t != title)
    assert strengths["updates"][-1]["models"] == ["pix2pix-sketch2emoji"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert list(metrics["sets"]) == list(earlier_metrics["sets"])  # same sets, same order
    assert metrics["sets"][title]["images"] == 3 != earlier_metrics["sets"][title]["images"]
    assert all(metrics["sets"][t] == m for t, m in earlier_metrics["sets"].items() if t != title)
    assert metrics["latency"] == earlier_metrics["latency"]
    assert metrics["command"] == earlier_metrics["command"] and "--only" in metrics["updates"][-1]["command"]
    assert (folder / "samples.png").read_bytes() == sheet
    card = (folder / "README.md").read_text()
    assert "--only pix2pix-sketch2emoji" in card and "still shows the earlier version's outputs" in card
    assert json.loads((tmp_path / "docs/metrics/finisher-x4.json").read_text()) == metrics
    assert finishing_measure.merge_sets({"x a": 1, "y b": 2}, {"z c": 3}, ["z"]) == {"x a": 1, "y b": 2, "z c": 3}
    merged = finishing_measure.merge_sets({"x 1": 1, "y 1": 2, "z 1": 3, "y 2": 4}, {"x new": 5, "z new": 6}, ["x", "z"])
    assert list(merged.items()) == [("x new", 5), ("z new", 6), ("y 1", 2), ("y 2", 4)]
    with pytest.raises(SystemExit, match="not a shipped model"):
        real_model_sets(tmp_path, tmp_path, models=["no-such-model"])
    with pytest.raises(SystemExit, match="nothing to measure for pix2pix-sketch2emoji"):  # no data here
        real_model_sets(tmp_path, tmp_path, models=["pix2pix-sketch2emoji"])
    (folder / "strengths.json").unlink()
    with pytest.raises(SystemExit):  # the other models' strengths would be lost
        finishing_strength.main(["--model", str(folder), "--only", "pix2pix-sketch2emoji"])
