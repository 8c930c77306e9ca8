"""The metrics mean what the README says they mean."""
from pathlib import Path

import pytest
import torch

from training.evaluate import kid, psnr, ssim, update_readme
from training.model_card import metrics_table


def test_ssim_and_psnr_known_values():
    x = torch.rand(3, 3, 32, 32)
    assert torch.allclose(ssim(x, x), torch.ones(3))
    assert (ssim(x, torch.rand(3, 3, 32, 32)) < 0.2).all()
    assert torch.allclose(psnr(x, (x + 0.1)), torch.full((3,), 20.0), atol=1e-3)  # MSE 0.01 -> 20 dB


def test_ssim_prefers_the_closer_image():
    x = torch.rand(1, 3, 32, 32)
    assert ssim(x, (x + 0.05 * torch.randn_like(x)).clamp(0, 1)) > ssim(x, (x + 0.3 * torch.randn_like(x)).clamp(0, 1))


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 8, generator=gen), torch.randn(300, 8, generator=gen)
    same, _ = kid(a, b)
    shifted, _ = kid(a, b + 1)
    assert abs(same) < 0.05 and shifted > 1


def sample_metrics():
    row = {"l1": 0.1, "psnr": 20.0, "ssim": 0.8, "target_share": 0.9, "target_vs_source": 0.95, "kid_x100": 1.5,
           "kid_std_x100": 0.2, "roughness": 0.05, "n": 10}
    return {"protocol": "test protocol", "directions": {"x→y": {"model": row, "identity": {**row, "l1": 0.2},
                                                                "real target": {**row, "psnr": 100.0}}}}


def test_tables_read_what_evaluation_wrote(tmp_path):
    row = sample_metrics()["directions"]["x→y"]["model"]
    assert "| x→y | model | 0.1000 | 20.00 | 0.8000 | 90.0% | 95.0% | 1.50 ± 0.20 | 0.0500 | 10 |" in metrics_table(sample_metrics())
    assert "| x→y | real target | 0.1000 | ∞ |" in metrics_table(sample_metrics())
    assert metrics_table(sample_metrics()).count("\n") == 4
    unjudged = sample_metrics()
    unjudged["directions"]["x→y"]["model"].update(target_share=None, target_vs_source=None, kid_x100=None)
    assert "| 0.8000 | – | – | – |" in metrics_table(unjudged)  # a user's own domains: no vendor judge
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- models:start -->\nold\n<!-- models:end -->\n<!-- benchmark:start -->\n"
                      "old\n<!-- benchmark:end -->\noutro\n")
    update_readme(readme, {"m": sample_metrics()})
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro") and text.endswith("outro\n")
    assert "| `m` | x→y | 0.1000 (0.2000) | 0.8000 (0.8000) | 90.0% | [sheet](assets/models/m/samples.png) |" in text
    assert "| x→y | *identity (input unchanged)* | 0.2000 |" in text and row["l1"] == 0.1


def test_readme_without_markers_is_refused(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers")
    with pytest.raises(SystemExit, match="models:start"):
        update_readme(readme, {"m": sample_metrics()})


def test_the_oracle_gap_closed_is_the_share_of_the_way_from_identity_to_the_oracle():
    from training.evaluate import add_oracle

    metrics = sample_metrics()  # model L1 0.1, identity 0.2; SSIM 0.8 both
    oracle = {"name": "o", "directions": {"x→y": {"model": {**sample_metrics()["directions"]["x→y"]["model"],
                                                            "l1": 0.05, "ssim": 0.9}}}}
    add_oracle(metrics, oracle)
    gap = metrics["directions"]["x→y"]["model"]["gap_closed"]
    assert gap["l1"] == pytest.approx((0.2 - 0.1) / (0.2 - 0.05)) and gap["ssim"] == pytest.approx(0.0)
    assert metrics["directions"]["x→y"]["paired oracle"]["l1"] == 0.05


def test_evaluate_a_model_on_your_own_folders_writes_numbers_pictures_and_card(tmp_path):
    """A user's own domains (no vendor judge): the translation protocol on two name-paired test folders."""
    import json

    from PIL import Image

    from conftest import export, tiny_cyclegan
    from training import evaluate

    for side, colour in (("A", (200, 40, 40)), ("B", (40, 40, 200))):
        (tmp_path / side).mkdir()
        for i in range(5):
            Image.new("RGB", (32, 32), colour).save(tmp_path / side / f"{i}.png")
    folder, other = export(tiny_cyclegan(), tmp_path / "tiny"), export(tiny_cyclegan(seed=1), tmp_path / "other")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- models:start -->\n<!-- models:end -->\n<!-- benchmark:start -->\n<!-- benchmark:end -->\n")
    evaluate.main(["--model", str(folder), str(other), "--test-a", str(tmp_path / "A"), "--test-b", str(tmp_path / "B"),
                   "--readme", str(readme)])
    assert "`tiny`" in readme.read_text() and "`other`" in readme.read_text()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert list(metrics["directions"]) == ["left→right", "right→left"] and metrics["evaluation"] == "translation"
    rows = metrics["directions"]["left→right"]
    assert rows["identity"]["l1"] == pytest.approx(160 / 255 * 2 / 3, abs=1e-3)  # red vs blue: two channels differ
    assert rows["real target"]["l1"] == 0 and rows["model"]["target_share"] is None and rows["model"]["n"] == 5
    sheet = Image.open(folder / "samples.png")
    assert sheet.width >= 96 + 5 * 128 and sheet.height > 2 * 3 * 128  # two directions x input/output/target
    card = (folder / "README.md").read_text()
    assert "![sample sheet](samples.png)" in card and "left→right" in card
    # each card's command scores its own model again, as it was scored, and rewrites no README
    for each in (folder, other):
        assert json.loads((each / "metrics.json").read_text())["command"] == (
            f"python -m training.evaluate --model {each} --test-a {tmp_path / 'A'} --test-b {tmp_path / 'B'}")


def test_a_cards_reproduce_command_names_its_own_model_and_never_rewrites_the_readme():
    """Scoring several models with --readme must not leave each card a command that, run alone, rewrites the
    README's tables from that one model (dropping the others' rows)."""
    import argparse

    from training import evaluate

    args = argparse.Namespace(threads=2, test_a=None, test_b=None, oracle=Path("docs/metrics/o.json"))
    command = evaluate.reproduce_command("assets/models/a b", args)
    assert command == "python -m training.evaluate --threads 2 --model 'assets/models/a b' --oracle docs/metrics/o.json"


def test_vendor_judge_trains_saves_and_reports_its_accuracy(tmp_path):
    """Six 'vendors' that differ only in palette; the judge must learn them and say how well it did."""
    import numpy as np
    from PIL import Image, ImageDraw

    from training import classifier

    rng = np.random.default_rng(0)
    for v, vendor in enumerate(classifier.VENDORS):
        for split, n in (("train", 16), ("test", 4)):
            folder = tmp_path / "data" / vendor / split
            folder.mkdir(parents=True)
            for i in range(n):
                image = Image.new("RGB", (64, 64), "white")
                x, y = rng.integers(2, 20, 2)
                colour = tuple(int(c) for c in (np.array([(v * 40) % 256, 255 - v * 40, (v * 97) % 256])))
                ImageDraw.Draw(image).ellipse((int(x), int(y), int(x) + 40, int(y) + 40), fill=colour)
                image.save(folder / f"{i}.png")
    report = classifier.train(tmp_path / "data", tmp_path / "judge", epochs=6)
    assert report["test_images"] == 24 and 0 <= report["test_accuracy"] <= 1
    assert report["test_accuracy"] > 1 / 6  # better than chance on six palettes
    judge, saved = classifier.load(tmp_path / "judge")
    assert saved["test_accuracy"] == report["test_accuracy"]
    assert judge.features(torch.zeros(2, 3, 128, 128)).shape == (2, 256)  # any size is resized first


class MeanColourJudge(torch.nn.Module):
    """A stand-in judge: 'vendor' 0 when the image is mostly red, 1 when mostly blue, never 2."""
    classes = ["red", "blue", "green"]

    def features(self, x):
        return x.mean(dim=(2, 3))

    def head(self, features):
        return torch.stack([features[:, 0], features[:, 2], torch.full_like(features[:, 0], -9)], dim=1)


def test_score_counts_what_the_judge_says():
    from training.evaluate import score

    red, blue = torch.full((3, 3, 16, 16), -1.0), torch.full((3, 3, 16, 16), -1.0)
    red[:, 0], blue[:, 2] = 1, 1
    outputs = torch.cat([blue[:2], red[:1]])  # two of three made blue
    judge = MeanColourJudge()
    m = score(outputs, judge.features(outputs), blue, "red", "blue", judge, judge.features(blue))
    assert m["target_share"] == pytest.approx(2 / 3) and m["target_vs_source"] == pytest.approx(2 / 3)
    assert m["judged_as"] == {"red": pytest.approx(1 / 3, abs=1e-4), "blue": pytest.approx(2 / 3, abs=1e-4), "green": 0.0}
    assert m["roughness"] == 0  # flat colours: no neighbouring pixels differ
    assert m["n"] == 3 and m["l1"] == pytest.approx(1 / 3 * 2 / 3)  # the red one is off by 1 in two channels of [0, 1]
    assert score(outputs, judge.features(outputs), blue, "sketch", "blue", judge, judge.features(blue))["target_vs_source"] is None
    assert m["near_tie"] == 0  # red 1 vs blue -1 (or the reverse): probabilities 0.88 and 0.12
    purple = torch.full((2, 3, 16, 16), -1.0)
    purple[:, 0], purple[:, 2] = 1, 1  # as red as blue: every verdict a coin flip
    assert score(purple, judge.features(purple), blue[:2], "red", "blue", judge, judge.features(blue))["near_tie"] == 1


def test_the_readme_table_has_a_row_for_few_shot_and_multimodal_models_and_reuses_saved_numbers(tmp_path):
    import json

    from training import evaluate

    row = {"l1": 0.12, "psnr": 18.0, "ssim": 0.61, "retrieval_top1": 0.25, "retrieval_top5": 0.5, "n": 10}
    fewshot = {"directions": {}, "fewshot": {"ks": {"K=5": {"model": row, "nearest training font": {**row, "l1": 0.15, "ssim": 0.55}}},
                                             "bar": {"k": 5, "met": True}}}
    multimodal = {"directions": {}, "multimodal": {"realism": 0.85, "style_control": 0.4}}
    readme = tmp_path / "README.md"
    readme.write_text("<!-- models:start -->\nold\n<!-- models:end -->\n<!-- benchmark:start -->\nold\n<!-- benchmark:end -->\n")
    for name, metrics in (("cg", sample_metrics()), ("fs", fewshot), ("mm", multimodal)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))
    evaluate.main(["--model", *(str(tmp_path / n) for n in ("cg", "fs", "mm")), "--readme", str(readme), "--reuse-metrics"])
    text = readme.read_text()
    assert "| `cg` | x→y | 0.1000 (0.2000) |" in text
    assert "| `fs` | glyph → unseen font, K = 5 (baseline: nearest training font) | 0.1200 (0.1500) | 0.6100 (0.5500) | " \
           "style retrieval top-1 25.0% |" in text
    assert "| `mm` | drawing → colour, random styles | – | – | realism 85.0%, style control 40.0% |" in text
    with pytest.raises(SystemExit, match="metrics.json is missing"):
        evaluate.main(["--model", str(tmp_path / "nothing"), "--readme", str(readme), "--reuse-metrics"])


def test_models_evaluated_but_not_shipped_join_the_benchmark_table_marked_so(tmp_path):
    """--unshipped: a model that did not earn a place in the app still gets its benchmark rows (issues 16 and
    19 want UNIT, U-GAT-IT and CycleGAN in one table), marked "not shipped", and no row of the models table."""
    import json

    from training import evaluate

    readme = tmp_path / "README.md"
    readme.write_text("<!-- models:start -->\nold\n<!-- models:end -->\n<!-- benchmark:start -->\nold\n<!-- benchmark:end -->\n")
    (tmp_path / "cg").mkdir()
    (tmp_path / "cg" / "metrics.json").write_text(json.dumps(sample_metrics()))
    unshipped = tmp_path / "unit-x.json"
    worse = sample_metrics()
    worse["directions"]["x→y"]["model"]["l1"] = 0.3
    unshipped.write_text(json.dumps({**worse, "name": "unit-x"}))
    evaluate.main(["--model", str(tmp_path / "cg"), "--readme", str(readme), "--reuse-metrics", "--unshipped", str(unshipped)])
    text = readme.read_text()
    assert "| x→y | `unit-x (not shipped)` | 0.3000 |" in text and "| x→y | `cg` | 0.1000 |" in text
    assert "| `unit-x` |" not in text and "assets/models/unit-x" not in text
    (tmp_path / "unit-x").mkdir()
    (tmp_path / "unit-x" / "metrics.json").write_text(json.dumps(sample_metrics()))  # a later version shipped
    with pytest.raises(SystemExit, match="also a shipped model"):
        evaluate.main(["--model", str(tmp_path / "unit-x"), "--readme", str(readme), "--reuse-metrics",
                       "--unshipped", str(unshipped)])
    with pytest.raises(SystemExit, match="no such file"):
        evaluate.main(["--model", str(tmp_path / "cg"), "--readme", str(readme), "--reuse-metrics",
                       "--unshipped", str(tmp_path / "missing.json")])
