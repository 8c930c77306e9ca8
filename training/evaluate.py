"""Score translators on held-out data, beside baselines, and draw a sample sheet of what they do.

    python -m training.evaluate --model assets/models/cyclegan-noto2twemoji --readme README.md
    python -m training.evaluate --model runs/x/export --test-a DIR_A --test-b DIR_B   # your own data, paired by name

Each family names its protocol (`Family.evaluation`); `PROTOCOLS` holds them. The "translation" protocol
(CycleGAN, pix2pix, and every one-image-in, one-image-out family) scores each direction the model has on
held-out pairs: a source image and the true target-domain image of the same subject. For the emoji
benchmark every test code point exists in every vendor style, so even an unpaired model has ground
truth: the same emoji drawn by the target vendor. Per direction, for the model, the identity baseline
(the input returned unchanged) and the real targets themselves:
- L1 (mean absolute error on [0, 1]), PSNR (dB) and SSIM (11x11 Gaussian window, sigma 1.5, RGB mean)
  against the true target, at the model's own size;
- when the target is an emoji vendor style: the share of outputs the vendor classifier
  (training/classifier.py, trained on real renders only; its test accuracy is reported too) assigns to the
  target vendor, and KID x100 (polynomial kernel, unbiased MMD^2, 100 subsets of min(N, 100)) between the
  outputs and the real target-vendor test images, on the classifier's 256-d features; and `near_tie`, the
  share of outputs whose target-vendor probability is within NEAR_TIE of the likeliest other vendor's: the
  verdicts a change no one can see may flip (version 13's moving average and last weights differ by a
  1-level tint and by 10 points of judged share, with 17 % of outputs near a tie: docs/experiments.md);
- roughness: mean absolute difference between neighbouring pixels on [0, 1] (total variation), to set
  beside the real target's -- grain a generator adds shows up here before it shows up in a picture.
With `--oracle METRICS.json` (a paired model's numbers on the same pairs) each direction also gets the
share of the identity -> oracle gap the model closes, in L1 and SSIM.

The "fewshot" protocol (FUNIT, COCO-FUNIT; `FewShotProtocol`) translates into fonts the model never saw, on
the font builder's data (`--test-a` the unseen fonts, default data/fonts-64/unseen; `--test-b` the training
fonts): for K = 1, 3, 5, 10 seeded reference glyphs, L1 / PSNR / SSIM against the font's true glyph, beside
the nearest training font (its own glyph of the character) and the content glyph unchanged, and style
retrieval (is the output's nearest unseen font the target?) top-1 / top-5.

Every evaluated model folder gets `metrics.json`, `samples.png` (fixed held-out inputs -> outputs -> true
targets, then the app's examples) and a rewritten model card. Missing data or classifier are built first,
so this one command reproduces the numbers from nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

import translator
from translator.hub import example_images
from training import classifier as vendor
from training.data.domains import DATA, load_folder, paired, test_folder
from training.data.emoji import DATA_VERSION
from training.losses import total_variation
from training.model_card import benchmark_table, evaluation_table, models_table, write_model_card

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"


# --- metrics ---------------------------------------------------------------------------------------------
def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5, batch: int = 32) -> torch.Tensor:
    """Per-image SSIM of Nx3xHxW images in [0, 1] (Wang et al. 2004 constants), averaged over channels.
    In batches: the five blurred maps of a few thousand 256-px images would not fit in memory at once."""
    coords = torch.arange(window, dtype=x.dtype) - window // 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    g = (g / g.sum()).to(x.device)
    kernel = (g[:, None] * g[None, :]).expand(x.shape[1], 1, window, window)
    blur = lambda t: F.conv2d(t, kernel, groups=x.shape[1])  # noqa: E731  (valid region, as skimage; the
    # fastest of 2-D, separable, single-channel and unfold variants measured on this CPU)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    out = []
    for i in range(0, len(x), batch):
        a, b = x[i:i + batch], y[i:i + batch]
        mx, my = blur(a), blur(b)
        vx, vy, cxy = blur(a * a) - mx ** 2, blur(b * b) - my ** 2, blur(a * b) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
        out.append(s.mean(dim=(1, 2, 3)))
    return torch.cat(out)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    mse = ((x - y) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / mse)


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 100, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance on given features: unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3."""
    n = min(len(real), len(fake), subset_size)
    d = real.shape[1]
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        r = real[torch.randperm(len(real), generator=gen)[:n]].double()
        f = fake[torch.randperm(len(fake), generator=gen)[:n]].double()
        k_rr, k_ff, k_rf = (r @ r.T / d + 1) ** 3, (f @ f.T / d + 1) ** 3, (r @ f.T / d + 1) ** 3
        off = 1 - torch.eye(n, dtype=torch.float64)
        mmd = (k_rr * off).sum() / (n * (n - 1)) + (k_ff * off).sum() / (n * (n - 1)) - 2 * k_rf.mean()
        values.append(mmd.item())
    values = torch.tensor(values)
    return values.mean().item(), values.std().item()


@torch.no_grad()
def pixel_metrics(outputs: torch.Tensor, targets: torch.Tensor) -> dict:
    """L1, PSNR, SSIM against the targets and the outputs' roughness; Nx3xSxS in [-1, 1], scored on [0, 1]."""
    x, y = (outputs.clamp(-1, 1) + 1) / 2, (targets + 1) / 2
    return {"l1": (x - y).abs().mean().item(), "psnr": psnr(x, y).mean().item(), "ssim": ssim(x, y).mean().item(),
            "roughness": total_variation(x).item()}


# --- the judge -------------------------------------------------------------------------------------------
def judge() -> tuple[vendor.VendorClassifier, dict]:
    """The vendor classifier, trained first (on the emoji test split's training side) if it is not there.
    Retraining it gives a slightly different judge (±2 points on a judged share, measured in
    docs/experiments.md), so its report carries a fingerprint of its weights, and every table names it."""
    folder = DATA / "vendor-classifier"
    if not (folder / "model.safetensors").exists():
        test_folder("noto", vendor.INPUT_SIZE)  # make sure its data exists
        vendor.train(DATA / f"emoji-{vendor.INPUT_SIZE}", folder)
    model, report = vendor.load(folder)
    report["sha256"] = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    return model, report


@torch.no_grad()
def judge_features(judge_model, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([judge_model.features(b) for b in images.split(64)])


NEAR_TIE = 0.2  # in probability


@torch.no_grad()
def score(outputs: torch.Tensor, features: torch.Tensor, targets: torch.Tensor, source_vendor: str,
          target_vendor: str, judge_model, real_features: torch.Tensor) -> dict:
    """outputs/targets: Nx3xSxS in [-1, 1]; features/real_features: the judge's features of outputs/targets
    (computed once by the caller: the same images are scored in several rows)."""
    logits = judge_model.head(features)
    target = judge_model.classes.index(target_vendor)
    source = judge_model.classes.index(source_vendor) if source_vendor in judge_model.classes else None
    kid_mean, kid_std = kid(real_features, features)
    verdicts = torch.bincount(logits.argmax(1), minlength=len(judge_model.classes)).float() / len(outputs)
    probabilities = logits.softmax(1)
    strongest_other = probabilities.index_fill(1, torch.tensor([target], device=logits.device), -1).amax(1)
    near_tie = ((probabilities[:, target] - strongest_other).abs() < NEAR_TIE).float().mean().item()
    return {**pixel_metrics(outputs, targets),
            "target_share": verdicts[target].item(),  # of all six vendors
            "near_tie": near_tie,
            # of the two vendors; not defined when the source is no vendor (line drawings)
            "target_vs_source": None if source is None else (logits[:, target] > logits[:, source]).float().mean().item(),
            "kid_x100": kid_mean * 100, "kid_std_x100": kid_std * 100, "n": len(outputs),
            # what the outputs are taken for, when not for the target: the diagnosis behind target_share
            "judged_as": {c: round(v, 4) for c, v in zip(judge_model.classes, verdicts.tolist())}}


# --- the translation protocol ----------------------------------------------------------------------------
@dataclass
class Pairs:
    """Held-out source images and the true target image of each, in one direction."""
    keys: list[str]
    sources: torch.Tensor
    targets: torch.Tensor


def endpoints(t: translator.Translator, direction: str) -> tuple[str, str]:
    return t.domains if direction == "a2b" else t.domains[::-1]


class TranslationProtocol:
    """One image in, one image out, per direction, against the true target (see the module docstring)."""
    name = "translation"
    JUDGED_BAR = 0.8  # >= 80% of outputs recognised as the target vendor

    def test_sets(self, t, test_a: Path | None = None, test_b: Path | None = None) -> dict[str, Pairs]:
        folders = {}
        for domain, given in zip(t.domains, (test_a, test_b)):
            folders[domain] = given or test_folder(domain, t.image_size)
        sets = {}
        for direction in t.directions:
            source, target = endpoints(t, direction)
            sets[direction] = Pairs(*paired(load_folder(folders[source], t.image_size),
                                            load_folder(folders[target], t.image_size)))
        return sets

    def validation_sets(self, t, run: Path) -> dict[str, Pairs]:
        """The run's held-out training files (OUT/validation.json), paired by name, per direction."""
        listing = run / "validation.json"
        if not listing.exists():
            raise SystemExit(f"{listing} is missing: train with --val-fraction F (> 0) to hold out validation files")
        held = json.loads(listing.read_text())
        names = set(held["a"]) & set(held["b"])
        if not names:
            raise SystemExit(f"no held-out file name is in both training folders ({listing}); "
                             "choosing a step needs name-paired images (the same subject in both domains)")
        folder = {"a2b": (held["train_a"], held["train_b"]), "b2a": (held["train_b"], held["train_a"])}
        return {d: Pairs(*paired(load_folder(Path(folder[d][0]), t.image_size, names),
                                 load_folder(Path(folder[d][1]), t.image_size, names))) for d in t.directions}

    @staticmethod
    def judged(t, direction: str) -> bool:
        """The vendor judge speaks only about emoji vendor styles."""
        return endpoints(t, direction)[1] in vendor.VENDORS

    @torch.no_grad()
    def score(self, t, sets: dict[str, Pairs], judge_model=None, rows=("model", "identity", "real target"),
              batch: int = 16) -> dict[str, dict]:
        """{"noto→twemoji": {"model": {...}, "identity": {...}, "real target": {...}}, ...}"""
        results = {}
        for direction, pairs in sets.items():
            source, target = endpoints(t, direction)
            images = {"model": torch.cat([t.translate_tensor(b, direction) for b in pairs.sources.split(batch)]),
                      "identity": pairs.sources, "real target": pairs.targets}
            if self.judged(t, direction) and judge_model is not None:
                features = {r: judge_features(judge_model, images[r]) for r in {*rows, "real target"}}
                results[f"{source}→{target}"] = {
                    r: score(images[r], features[r], pairs.targets, source, target, judge_model, features["real target"])
                    for r in rows}
            else:
                results[f"{source}→{target}"] = {
                    r: {**pixel_metrics(images[r], pairs.targets), "target_share": None, "near_tie": None,
                        "target_vs_source": None, "kid_x100": None, "kid_std_x100": None, "n": len(pairs.keys)} for r in rows}
        return results

    def bars(self, directions: dict[str, dict]) -> int:
        """How many bars the scores meet: per direction, L1 below and SSIM above identity's, and (when judged)
        at least 80% of outputs recognised as the target vendor."""
        met = 0
        for d in directions.values():
            model, identity = d["model"], d["identity"]
            met += (model["l1"] < identity["l1"]) + (model["ssim"] > identity["ssim"])
            if model.get("target_share") is not None:
                met += model["target_share"] >= self.JUDGED_BAR
        return met

    def rank(self, directions: dict[str, dict]) -> tuple[float, float]:
        """Most bars, then the weakest direction's judged share (or, unjudged, the lowest total L1)."""
        shares = [d["model"]["target_share"] for d in directions.values() if d["model"].get("target_share") is not None]
        tie_break = min(shares) if shares else -sum(d["model"]["l1"] for d in directions.values())
        return self.bars(directions), tie_break

    def snapshot_scores(self, t, sets: dict[str, Pairs], judge_model, cache: dict) -> dict:
        """One snapshot's validation numbers; the identity rows are the same for every snapshot (cached)."""
        if "identity" not in cache:
            cache["identity"] = self.score(t, sets, judge_model, rows=("identity",))
        scores = self.score(t, sets, judge_model, rows=("model",))
        return {d: {"model": scores[d]["model"], "identity": cache["identity"][d]["identity"]} for d in scores}

    @staticmethod
    def count(sets: dict[str, Pairs]) -> int:
        return len(next(iter(sets.values())).keys)

    @staticmethod
    def summary(scores: dict) -> str:
        return "   ".join(("–" if m.get("target_share") is None else f"{m['target_share']:.1%}") +
                           f" / {m['l1']:.4f} / {m['ssim']:.4f}" for m in (v["model"] for v in scores.values()))

    criterion = ("most bars met on the validation hold-out (per direction: L1 below and SSIM above identity's, and "
                 ">= 80% judged as the target vendor where the judge knows it), then the highest lowest judged share "
                 "(unjudged: the lowest total L1)")

    def evaluate(self, t, test_a=None, test_b=None, judge_model=None, judge_report=None) -> dict:
        sets = self.test_sets(t, test_a, test_b)
        judged = any(self.judged(t, d) for d in sets)
        if judged and judge_model is None:
            judge_model, judge_report = judge()
        n = len(next(iter(sets.values())).keys)
        data = (f"held-out test code points of {DATA_VERSION} ({n} per direction)" if test_a is None and test_b is None
                else f"the test folders given ({n} pairs per direction)")
        judge_note = (f"'recognised as target' and KID use the repo's vendor classifier (test accuracy "
                      f"{judge_report['test_accuracy'] * 100:.1f}% over 6 vendor styles, weights "
                      f"{judge_report['sha256'][:12]}); " if judged else "")
        return {"protocol": f"{data}, scored at {t.image_size} px; {judge_note}identity = the input returned unchanged",
                "judge_test_accuracy": judge_report["test_accuracy"] if judged else None,
                "judge_sha256": judge_report["sha256"] if judged else None,
                "directions": self.score(t, sets, judge_model), "sets": sets}

    def sheet(self, t, sets: dict[str, Pairs], per_direction: int = 8) -> Image.Image:
        """Fixed held-out inputs -> raw outputs -> finished outputs (with a finishing stage) -> true targets
        for each direction, then the app's examples: what the numbers mean, in pictures. The numbers are
        computed on the raw outputs."""
        blocks = []
        for direction, pairs in sets.items():
            picks = sheet_keys(pairs.keys, per_direction)
            index = [pairs.keys.index(k) for k in picks]
            x = pairs.sources[index]
            with torch.inference_mode():
                y = t.translate_tensor(x, direction)
            source, target = endpoints(t, direction)
            blocks.append((f"{source} → {target}, held-out test", picks,
                           [("input", x), ("raw output", y), *finished_row(t, y), ("true target", pairs.targets[index])]))
        examples = app_examples(t)
        if examples:
            inputs, outputs = [], []
            for path, direction in examples:
                x, _ = t.prepare(path)
                with torch.inference_mode():
                    inputs.append(x.cpu())
                    outputs.append(t.translate_tensor(x, direction).cpu())
            y = torch.cat(outputs)
            blocks.append(("app examples", [p.stem for p, _ in examples],
                           [("input", torch.cat(inputs)), ("raw output", y), *finished_row(t, y)]))
        return draw_sheet(blocks, sheet_size(t))


# --- the multimodal protocol (MUNIT) -------------------------------------------------------------------
COLOUR_VENDORS = ("noto", "twemoji", "fluent-flat", "openmoji")  # the judge's classes that are colour styles


def edge_points(images: torch.Tensor) -> list[torch.Tensor]:
    """Nx3xHxW in [-1, 1] -> per image, the (y, x) coordinates of its edges (the sketch builder's edges)."""
    from training.data.sketch import edges
    return [edges((x + 1) / 2).squeeze(0).nonzero().float() for x in images]


def chamfer(a: torch.Tensor, b: torch.Tensor) -> float:
    """Symmetric chamfer distance in pixels between two point sets (each point to the other set's nearest,
    averaged both ways); an image without edges is as far as the image is wide."""
    if len(a) == 0 or len(b) == 0:
        return 64.0
    d = torch.cdist(a, b)
    return 0.5 * (d.min(1).values.mean() + d.min(0).values.mean()).item()


def key_of(name: str) -> str:
    """`noto-1f600` -> `1f600` (the multimodal set's names are <style>-<key>)."""
    return name.split("-", 1)[1] if "-" in name else name


def style_of_name(name: str) -> str:
    return next((s for s in sorted(vendor.VENDORS, key=len, reverse=True) if name.startswith(f"{s}-")), "")


class MultimodalProtocol:
    """One drawing, many colourings: MUNIT's direction drawing -> colour, measured four ways on held-out
    code points (outlines drawn from the first colour style, base emoji only):
    - realism: the share of outputs from random styles the judge takes for a real colour vendor (any);
    - diversity: per outline, the mean pairwise distance (judge features) of 8 random-style outputs, as a
      share of the same among the real vendors' renderings of that code point; and how many distinct
      vendors the judge sees among the 8;
    - style control: the style read off a real emoji of vendor V (another code point) gives an output the
      judge takes for V; the share per vendor;
    - content kept: the chamfer distance between the output's edges and the input outline, beside the
      true colour emoji the outline was drawn from (the floor) and another vendor's rendering of the same
      code point (what "a different drawing of the same thing" costs)."""
    name = "multimodal"
    SAMPLES = 8
    BARS = {"realism": 0.8, "diversity": 0.5, "style_control": 0.6}
    criterion = ("most bars met (realism >= 80%, diversity >= 50% of the real vendors', style control >= 60%, "
                 "content closer to the outline than another vendor's drawing), then the lowest of the three shares")

    def folders(self, t, test_a=None, test_b=None) -> tuple[Path, Path]:
        return (test_a or test_folder(t.domains[0], t.image_size), test_b or test_folder(t.domains[1], t.image_size))

    def test_sets(self, t, test_a=None, test_b=None, limit: int | None = None, keep: set[str] | None = None) -> dict:
        drawings_dir, colour_dir = self.folders(t, test_a, test_b)
        names, drawings = load_folder(drawings_dir, t.image_size, keep)
        colour_names, colours = load_folder(colour_dir, t.image_size)
        styles = sorted({style_of_name(n) for n in colour_names} - {""})
        first = next((s for s in ("noto", *styles) if s in styles), None)
        outline = [i for i, n in enumerate(names) if style_of_name(n) == first and "-1f3f" not in n]
        outline = outline[:limit] if limit else outline
        by_name = {n: i for i, n in enumerate(colour_names)}
        return {"names": [names[i] for i in outline], "drawings": drawings[outline], "colour_names": colour_names,
                "colours": colours, "by_name": by_name, "styles": styles}

    def validation_sets(self, t, run: Path) -> dict:
        held = json.loads((run / "validation.json").read_text()) if (run / "validation.json").exists() else None
        if not held:
            raise SystemExit(f"{run / 'validation.json'} is missing: train with --val-fraction F (> 0)")
        return self.test_sets(t, Path(held["train_a"]), Path(held["train_b"]), limit=60, keep=set(held["a"]))

    def snapshot_scores(self, t, sets: dict, judge_model, cache: dict) -> dict:
        return self.score(t, sets, judge_model)

    @staticmethod
    def count(sets: dict) -> int:
        return len(sets["names"])

    def summary(self, scores: dict) -> str:
        m = scores["model"]
        return (f"realism {m['realism']:.1%}  diversity {m['diversity']:.2f}  style control {m['style_control']:.1%}  "
                f"content {m['content_chamfer']:.2f} px (other vendor {m['content_other_vendor']:.2f})")

    @staticmethod
    def judged(t, direction: str) -> bool:
        return True

    @torch.no_grad()
    def score(self, t, sets: dict, judge_model, rows=("model",), batch: int = 32) -> dict:
        classes = judge_model.classes
        colour = [classes.index(c) for c in COLOUR_VENDORS]
        n, k = len(sets["names"]), self.SAMPLES
        contents = sets["drawings"]
        styles = torch.randn(n * k, t.style_dim, generator=torch.Generator().manual_seed(0))
        outs = torch.cat([t.translate_tensor(contents[i // k][None], "a2b", style=styles[i:i + 1]) for i in range(n * k)])
        features = judge_features(judge_model, outs)
        verdict = judge_model.head(features).argmax(1)
        realism = sum(int(v) in colour for v in verdict.tolist()) / len(verdict)
        diversity, real_diversity, vendors_seen, kept, floor, other = [], [], [], [], [], []
        for i, name in enumerate(sets["names"]):
            f = features[i * k:(i + 1) * k]
            diversity.append(torch.pdist(f).mean().item())
            vendors_seen.append(len(set(verdict[i * k:(i + 1) * k].tolist())))
            key = key_of(name)
            real = [sets["by_name"][f"{s}-{key}"] for s in sets["styles"] if f"{s}-{key}" in sets["by_name"]]
            if len(real) > 1:
                real_diversity.append(torch.pdist(judge_features(judge_model, sets["colours"][real])).mean().item())
            outline = edge_points(contents[i][None])[0]
            kept.append(sum(chamfer(e, outline) for e in edge_points(outs[i * k:(i + 1) * k])) / k)
            own = sets["by_name"].get(name)
            if own is not None:
                floor.append(chamfer(edge_points(sets["colours"][own][None])[0], outline))
            others = [j for j in real if j != own]
            if others:
                other.append(chamfer(edge_points(sets["colours"][others[0]][None])[0], outline))
        control = {}
        for style in sets["styles"]:  # style from a real emoji of `style` of another code point
            hits = []
            pool = [j for j, cn in enumerate(sets["colour_names"]) if style_of_name(cn) == style and "-1f3f" not in cn]
            for i, name in enumerate(sets["names"]):
                ref = next((j for j in pool[(i * 7) % max(1, len(pool)):] + pool if key_of(sets["colour_names"][j]) != key_of(name)), None)
                if ref is None:
                    continue
                out = t.translate_tensor(contents[i][None], "a2b", reference=sets["colours"][ref][None])
                hits.append(int(judge_model(out).argmax(1)) == classes.index(style) if style in classes else False)
            control[style] = sum(hits) / max(1, len(hits))
        mean = lambda xs: sum(xs) / max(1, len(xs))  # noqa: E731
        return {"model": {
            "realism": realism, "diversity": mean(diversity) / max(1e-9, mean(real_diversity)),
            "diversity_outputs": mean(diversity), "diversity_real": mean(real_diversity),
            "vendors_seen_of_8": mean(vendors_seen), "style_control": mean(list(control.values())),
            "style_control_per_vendor": control, "content_chamfer": mean(kept), "content_floor": mean(floor),
            "content_other_vendor": mean(other), "outlines": n, "samples_per_outline": k}}

    def bars(self, scores: dict) -> int:
        m = scores["model"]
        return sum(m[k] >= v for k, v in self.BARS.items()) + (m["content_chamfer"] < m["content_other_vendor"])

    def rank(self, scores: dict) -> tuple[float, float]:
        m = scores["model"]
        return self.bars(scores), min(m[k] / v for k, v in self.BARS.items())

    def evaluate(self, t, test_a=None, test_b=None) -> dict:
        judge_model, judge_report = judge()
        sets = self.test_sets(t, test_a, test_b)
        return {"protocol": f"{len(sets['names'])} held-out outlines x {self.SAMPLES} random styles, scored at "
                            f"{t.image_size} px by the vendor classifier (test accuracy "
                            f"{judge_report['test_accuracy'] * 100:.1f}%, weights {judge_report['sha256'][:12]})",
                "judge_test_accuracy": judge_report["test_accuracy"], "judge_sha256": judge_report["sha256"],
                "multimodal": self.score(t, sets, judge_model)["model"], "directions": {}, "sets": sets}

    def sheet(self, t, sets: dict, per_row: int = 8) -> Image.Image:
        """Fixed held-out outlines, each translated with the same 8 random styles: the raw outputs, and under
        each row (with a finishing stage) the same outputs finished as the app shows them."""
        names = sheet_keys([key_of(n) for n in sets["names"]], 6)
        index = [[key_of(n) for n in sets["names"]].index(k) for k in names]
        styles = torch.randn(per_row, t.style_dim, generator=torch.Generator().manual_seed(0))
        rows = []
        with torch.inference_mode():
            for i in index:
                x = sets["drawings"][i][None]
                y = torch.cat([t.translate_tensor(x, "a2b", style=s[None]) for s in styles])
                rows.append((key_of(sets["names"][i]), torch.cat([x, y])))
                for label, finished in finished_row(t, y):  # the outline again, at the finished size
                    big = torch.nn.functional.interpolate(x, size=finished.shape[-1], mode="nearest")
                    rows.append((label, torch.cat([big.cpu(), finished])))
        return draw_sheet([("outline, then 8 random styles (raw, then finished where shown)",
                            ["outline"] + [f"style {j + 1}" for j in range(per_row)], rows)], sheet_size(t))


# --- the few-shot protocol (FUNIT, COCO-FUNIT) -----------------------------------------------------------
FEWSHOT_KS = (1, 3, 5, 10)  # reference glyphs per translation
FEWSHOT_BAR_K = 5  # the bar: beat the nearest training font at this K on L1 and SSIM
CONTENTS_PER_FONT = 12  # seeded content characters per target font
FONTS_DATA = DATA / "fonts-64"  # the font builder's default output (training/data/fonts.py)
FEWSHOT_ROWS = ("model", "nearest training font", "content glyph")


@dataclass
class Fonts:
    """Whole fonts of the font builder's layout: ids, and glyphs as uint8 (fonts, 62, S, S) with the
    characters in training.data.fonts.CHARS order, dark ink on white."""
    ids: list[str]
    glyphs: torch.Tensor


def glyph_images(glyphs: torch.Tensor) -> torch.Tensor:
    """uint8 (..., S, S) grey -> (..., 3, S, S) in [-1, 1] (as translator.images.pil_to_tensor reads a PNG)."""
    x = glyphs.float().div(127.5).sub(1).unsqueeze(-3)
    return x.expand(*x.shape[:-3], 3, *x.shape[-2:])


def load_fonts(folder: Path, size: int, keep: set[str] | None = None, skip: set[str] = frozenset()) -> Fonts:
    """FOLDER/<font_id>/<code point, 4 hex upper>.png (the font builder's layout) -> Fonts at `size` px
    (resized with antialiasing if the data has another size); fonts missing a character are left out."""
    from training.data.fonts import CHARS

    folder = Path(folder)
    if not folder.is_dir():
        raise SystemExit(f"{folder}: no such folder of fonts (the font builder's <font_id>/<HEX>.png layout; "
                         f"python -m training.data.fonts builds one)")
    ids, arrays = [], []
    for font_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (keep is not None and font_dir.name not in keep) or font_dir.name in skip:
            continue
        paths = [font_dir / f"{ord(c):04X}.png" for c in CHARS]
        if not all(p.exists() for p in paths):
            continue
        glyphs = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("L")) for p in paths]))
        if glyphs.shape[-2:] != (size, size):
            glyphs = F.interpolate(glyphs[:, None].float(), size=(size, size), mode="bilinear", antialias=True,
                                   align_corners=False)[:, 0].round().clamp(0, 255).byte()
        ids.append(font_dir.name)
        arrays.append(glyphs)
    if not ids:
        raise SystemExit(f"{folder}: no font folder with all {len(CHARS)} glyphs (A-Z a-z 0-9 as <HEX>.png)")
    return Fonts(ids, torch.stack(arrays))


def font_distances(fonts: Fonts, pool: Fonts) -> torch.Tensor:
    """(fonts, pool fonts, 62): per character, the mean absolute difference (on [0, 1]) between each font's
    glyph and each pool font's."""
    n, g, chars = len(fonts.ids), len(pool.ids), fonts.glyphs.shape[1]
    out = torch.empty(n, g, chars)
    pixels = fonts.glyphs.shape[-1] * fonts.glyphs.shape[-2]
    for c in range(chars):
        a = fonts.glyphs[:, c].flatten(1).float() / 255
        b = pool.glyphs[:, c].flatten(1).float() / 255
        out[:, :, c] = torch.cdist(a, b, p=1) / pixels
    return out


def fewshot_samples(ids: list[str], chars: int, per_font: int = CONTENTS_PER_FONT, max_k: int = max(FEWSHOT_KS)
                    ) -> list[tuple[int, int, tuple[int, ...]]]:
    """(font index, content character, max_k reference characters) per translation. Seeded by the font id
    alone (`random.Random("fewshot:<font_id>")`, stable across machines and Python versions), so a font
    gets the same characters whatever other fonts are evaluated: `per_font` distinct content characters,
    and for each, max_k other characters of the same font as references, the K = 1, 3, 5 sets being the
    first K of the 10 (so a larger K only adds references)."""
    samples = []
    for f, font in enumerate(ids):
        rng = random.Random(f"fewshot:{font}")
        for c in rng.sample(range(chars), min(per_font, chars)):
            samples.append((f, c, tuple(rng.sample([r for r in range(chars) if r != c], max_k))))
    return samples


@dataclass
class FewShotSet:
    """Few-shot translations to score: into `fonts` (the unseen fonts, or a run's validation fonts), with the
    nearest-font baseline choosing among `pool` (training fonts)."""
    fonts: Fonts
    pool: Fonts
    content: torch.Tensor  # (62, 3, S, S) in [-1, 1]: each character in the app's base font
    samples: list[tuple[int, int, tuple[int, ...]]]  # (font, content character, reference characters)
    nearest: dict[int, torch.Tensor]  # K -> (N,) the pool font the baseline picks for each sample
    ks: tuple[int, ...]
    what: str

    @property
    def font_index(self) -> torch.Tensor:
        return torch.tensor([f for f, _, _ in self.samples])

    @property
    def char_index(self) -> torch.Tensor:
        return torch.tensor([c for _, c, _ in self.samples])

    def references(self, k: int) -> torch.Tensor:
        """(N, k) the reference characters of each sample."""
        return torch.tensor([r[:k] for _, _, r in self.samples])

    def targets(self) -> torch.Tensor:
        return glyph_images(self.fonts.glyphs[self.font_index, self.char_index])


def nearest_fonts(distances: torch.Tensor, samples: list[tuple[int, int, tuple[int, ...]]], k: int) -> torch.Tensor:
    """Per sample, the pool font whose glyphs of the sample's first k reference characters are closest (mean
    L1) to the target font's glyphs of them (ties: the first in id order). distances: font_distances."""
    fonts = torch.tensor([f for f, _, _ in samples])
    refs = torch.tensor([r[:k] for _, _, r in samples])
    per_font = distances[fonts[:, None], :, refs]  # (N, k, pool)
    return per_font.mean(1).argmin(1)


def style_retrieval(outputs: torch.Tensor, sets: FewShotSet) -> tuple[float, float]:
    """(top-1, top-5): the share of outputs whose nearest target-set font (mean L1 on [0, 1], grey, between the
    output and each font's true glyph of the same character) is the font the output was made for, and whose
    target font is among the 5 nearest. Ties count against: the rank is the number of other fonts at least
    as close."""
    grey = ((outputs.detach().float().clamp(-1, 1) + 1) / 2).mean(1).flatten(1)
    fonts, chars = sets.font_index, sets.char_index
    ranks = torch.empty(len(outputs), dtype=torch.long)
    for c in chars.unique().tolist():
        idx = (chars == c).nonzero().squeeze(1)
        truth = sets.fonts.glyphs[:, c].flatten(1).float() / 255
        d = torch.cdist(grey[idx], truth, p=1)
        own = d.gather(1, fonts[idx, None])
        ranks[idx] = (d <= own).sum(1) - 1
    return (ranks == 0).float().mean().item(), (ranks < 5).float().mean().item()


def short_font(font_id: str) -> str:
    """`fonts-go__Go-Bold__0` -> `Go-Bold` (the face index only when it is not 0)."""
    parts = font_id.split("__")
    if len(parts) != 3:
        return font_id
    return parts[1] if parts[2] == "0" else f"{parts[1]}#{parts[2]}"


class FewShotProtocol:
    """Few-shot translation into fonts the model never saw (FUNIT, COCO-FUNIT), on the font builder's data:

    - For each unseen font, CONTENTS_PER_FONT content characters and, for each, 10 reference characters of
      the same font (other characters), seeded by the font id (`fewshot_samples`); K = 1, 3, 5, 10 use the
      first K. The content glyph is the character drawn in the app's base font (the bundled DejaVu Sans,
      `translator.funit.render_glyph`: the training data's layout), as `translate_text` draws a typed word,
      so the numbers are those of what the app does. The output is scored against the unseen font's true
      glyph of the content character: L1, PSNR, SSIM (`pixel_metrics`, at the model's size).
    - Baselines, per K: the **nearest training font**, the training font whose glyphs of the K reference
      characters are closest (mean L1) to the references, outputting its own glyph of the content
      character; and the content glyph returned unchanged. The pool is every font of the training split
      (a run's validation fonts included: the bar gets no easier).
    - Style retrieval: among all unseen fonts' true glyphs of the same character, is the output's nearest
      (L1) that of the target font? Top-1 and top-5, beside chance (1/F, 5/F for F fonts).
    The bar: the model beats the nearest training font at K = 5 on L1 and on SSIM."""
    name = "fewshot"
    criterion = ("the bars met on the validation fonts (beat the nearest-training-font baseline at K = 5 on L1 and "
                 "on SSIM), then the lowest L1 at K = 5")

    # --- data ---
    def test_sets(self, t, test_a: Path | None = None, test_b: Path | None = None) -> FewShotSet:
        """test_a: the unseen fonts (default data/fonts-64/unseen, built first if missing); test_b: the
        training fonts the baseline picks from (default: `train` beside test_a)."""
        if test_a is None:
            unseen = fonts_data() / "unseen"
        else:
            unseen = Path(test_a)
        train = Path(test_b) if test_b is not None else unseen.parent / "train"
        fonts, pool = load_fonts(unseen, t.image_size), load_fonts(train, t.image_size)
        return self.build(t, fonts, pool, FEWSHOT_KS, f"the {len(fonts.ids)} fonts of {unseen}")

    def validation_sets(self, t, run: Path) -> FewShotSet:
        """The training fonts the run held out (OUT/validation.json, `training.funit --val-fraction`), with the
        run's training fonts as the baseline's pool; K = 5 only (what the criterion reads)."""
        listing = run / "validation.json"
        if not listing.exists():
            raise SystemExit(f"{listing} is missing: train with --val-fraction F (> 0) to hold out validation fonts")
        held = json.loads(listing.read_text())
        if not held.get("classes") or not held.get("root"):
            raise SystemExit(f"{listing} lists no held-out classes: it is not a few-shot run's hold-out "
                             "(training.funit --val-fraction F)")
        root, names = Path(held["root"]), set(held["classes"])
        fonts = load_fonts(root, t.image_size, keep=names)
        pool = load_fonts(root, t.image_size, skip=names)
        return self.build(t, fonts, pool, (FEWSHOT_BAR_K,),
                          f"the {len(fonts.ids)} training-split fonts held out of the run ({held.get('by', 'class')})")

    def build(self, t, fonts: Fonts, pool: Fonts, ks: tuple[int, ...], what: str) -> FewShotSet:
        from training.data.fonts import CHARS
        from translator.funit import render_glyph
        from translator.images import pil_to_tensor

        content = torch.cat([pil_to_tensor(render_glyph(c, None, t.image_size)) for c in CHARS])
        samples = fewshot_samples(fonts.ids, len(CHARS))
        distances = font_distances(fonts, pool)
        nearest = {k: nearest_fonts(distances, samples, k) for k in ks}
        return FewShotSet(fonts, pool, content, samples, nearest, tuple(ks), what)

    # --- translating ---
    @torch.no_grad()
    def outputs(self, t, sets: FewShotSet, batch: int = 64) -> dict[int, torch.Tensor]:
        """K -> (N, 3, S, S) the model's translations. The same maths as `t.translate_tensor(content,
        references=N x K refs)` (the K class codes averaged, then decoded with the content code), with each
        reference glyph's class code and each content glyph's content code computed once, not once per use."""
        m = t.model
        glyphs = glyph_images(sets.fonts.glyphs.flatten(0, 1))  # (F * 62, 3, S, S)
        codes = torch.cat([m.class_encoder(t.to_network(b.to(t.device))).cpu() for b in glyphs.split(256)])
        codes = codes.view(len(sets.fonts.ids), -1, codes.shape[-1])
        contents = m.content_encoder(t.to_network(sets.content.to(t.device)))
        fonts, chars = sets.font_index, sets.char_index
        out = {}
        for k in sets.ks:
            code = codes[fonts[:, None], sets.references(k)].mean(1)
            pieces = []
            for i in range(0, len(fonts), batch):
                y = m.decode(contents[chars[i:i + batch].to(t.device)], code[i:i + batch].to(t.device)).cpu()
                pieces.append(y.expand(-1, 3, -1, -1) if y.shape[1] == 1 else y)
            out[k] = torch.cat(pieces)
        return out

    # --- scoring ---
    @staticmethod
    def row(images: torch.Tensor, targets: torch.Tensor, sets: FewShotSet) -> dict:
        top1, top5 = style_retrieval(images, sets)
        return {**pixel_metrics(images, targets), "retrieval_top1": top1, "retrieval_top5": top5, "n": len(images)}

    @torch.no_grad()
    def score(self, t, sets: FewShotSet, rows=FEWSHOT_ROWS) -> dict[str, dict]:
        """{"K=1": {"model": {...}, "nearest training font": {...}, "content glyph": {...}}, ...}"""
        targets = sets.targets()
        outputs = self.outputs(t, sets) if "model" in rows else {}
        content = self.row(sets.content[sets.char_index], targets, sets) if "content glyph" in rows else None
        results = {}
        for k in sets.ks:
            r = {}
            if "model" in rows:
                r["model"] = self.row(outputs[k], targets, sets)
            if "nearest training font" in rows:
                r["nearest training font"] = self.row(
                    glyph_images(sets.pool.glyphs[sets.nearest[k], sets.char_index]), targets, sets)
            if content is not None:
                r["content glyph"] = content
            results[f"K={k}"] = r
        return results

    def bars(self, scores: dict) -> int:
        """Of two: L1 below and SSIM above the nearest training font's, at K = 5."""
        at = scores[f"K={FEWSHOT_BAR_K}"]
        model, baseline = at["model"], at["nearest training font"]
        return int(model["l1"] < baseline["l1"]) + int(model["ssim"] > baseline["ssim"])

    def rank(self, scores: dict) -> tuple[int, float]:
        return self.bars(scores), -scores[f"K={FEWSHOT_BAR_K}"]["model"]["l1"]

    def snapshot_scores(self, t, sets: FewShotSet, judge_model, cache: dict) -> dict:
        """One snapshot's validation numbers; the baselines do not depend on the weights (cached)."""
        if "baselines" not in cache:
            cache["baselines"] = self.score(t, sets, rows=("nearest training font", "content glyph"))
        scores = self.score(t, sets, rows=("model",))
        return {k: {**v, **cache["baselines"][k]} for k, v in scores.items()}

    @staticmethod
    def judged(t, direction: str) -> bool:
        return False  # no vendor judge: fonts have their true glyphs

    @staticmethod
    def count(sets: FewShotSet) -> int:
        return len(sets.samples)

    @staticmethod
    def summary(scores: dict) -> str:
        return "   ".join(f"{k}: L1 {v['model']['l1']:.4f} (nearest font {v['nearest training font']['l1']:.4f}) "
                           f"SSIM {v['model']['ssim']:.4f} ({v['nearest training font']['ssim']:.4f}) "
                           f"top-1 {v['model']['retrieval_top1']:.1%}" for k, v in scores.items())

    def evaluate(self, t, test_a=None, test_b=None) -> dict:
        from translator.funit import BASE_FONT

        sets = self.test_sets(t, test_a, test_b)
        scores = self.score(t, sets)
        n_fonts, n_pool = len(sets.fonts.ids), len(sets.pool.ids)
        at = scores[f"K={FEWSHOT_BAR_K}"]
        model, baseline = at["model"], at["nearest training font"]
        chance1, chance5 = 1 / n_fonts, min(5, n_fonts) / n_fonts
        protocol = (f"{len(sets.samples)} translations per K into {sets.what} ({CONTENTS_PER_FONT} content characters "
                    f"per font, each with 10 reference glyphs of other characters of that font, seeded by the font "
                    f"id; K = 1, 3, 5 take the first K), the content drawn in the app's base font ({BASE_FONT}); "
                    f"scored at {t.image_size} px against the font's true glyph. Baselines: the nearest of "
                    f"{n_pool} training fonts (mean L1 over the K reference characters) giving its own glyph of the "
                    f"content character, and the content glyph unchanged. Style retrieval: whether the output's "
                    f"nearest font (L1 to each of the {n_fonts} fonts' true glyph of the character) is the target, "
                    f"top-1 / top-5 (chance {chance1:.1%} / {chance5:.1%})")
        return {"protocol": protocol, "directions": {},
                "fewshot": {"ks": scores, "fonts": n_fonts, "training_fonts": n_pool,
                            "characters_per_font": CONTENTS_PER_FONT, "samples": len(sets.samples),
                            "content_font": BASE_FONT, "chance_top1": chance1, "chance_top5": chance5,
                            "bar": {"k": FEWSHOT_BAR_K, "l1": model["l1"] < baseline["l1"],
                                    "ssim": model["ssim"] > baseline["ssim"],
                                    "met": model["l1"] < baseline["l1"] and model["ssim"] > baseline["ssim"]}},
                "sets": sets}

    def sheet(self, t, sets: FewShotSet, fonts_shown: int = 6) -> Image.Image:
        """For a few target fonts spread over the list (the first sample of each): the K = 5 references, the
        content glyph, the model's output (through `translate_tensor`), the nearest training font's glyph
        and the true glyph."""
        from training.data.fonts import CHARS

        k = FEWSHOT_BAR_K if FEWSHOT_BAR_K in sets.ks else max(sets.ks)
        n, shown = len(sets.fonts.ids), min(fonts_shown, len(sets.fonts.ids))
        chosen = sorted({round(i * (n - 1) / max(1, shown - 1)) for i in range(shown)})
        first = {}
        for i, (f, _, _) in enumerate(sets.samples):
            first.setdefault(f, i)
        rows = []
        for f in chosen:
            i = first[f]
            _, c, refs = sets.samples[i]
            references = glyph_images(sets.fonts.glyphs[f, list(refs[:k])])
            content = sets.content[c:c + 1]
            with torch.inference_mode():
                output = t.translate_tensor(content.to(t.device), references=references.to(t.device)).cpu()
            baseline = glyph_images(sets.pool.glyphs[int(sets.nearest[k][i]), c])[None]
            truth = glyph_images(sets.fonts.glyphs[f, c])[None]
            rows.append((f"'{CHARS[c]}' {short_font(sets.fonts.ids[f])}",
                         torch.cat([references, content, output, baseline, truth])))
        keys = [f"ref {j + 1}" for j in range(k)] + ["content", "output", "nearest font", "true glyph"]
        return draw_sheet([(f"K = {k} references of a font the model never saw, the content (base font), the "
                            f"output, the nearest training font's glyph, the true glyph", keys, rows)], t.image_size)


def fonts_data(root: Path = FONTS_DATA) -> Path:
    """The font dataset (training/data/fonts.py), built first if missing: pinned Debian packages, so this
    one command reproduces the numbers from nothing (it downloads them with apt-get)."""
    if not (root / "manifest.json").exists():
        from training.data import fonts

        print(f"{root} is missing: building the font dataset (python -m training.data.fonts --out {root})")
        fonts.build(root, 64, DATA / "font-debs", 2)
    return root


PROTOCOLS = {"translation": TranslationProtocol(), "multimodal": MultimodalProtocol(),
             "fewshot": FewShotProtocol()}


def protocol_of(t: translator.Translator):
    return PROTOCOLS[translator.FAMILIES[t.family_name].evaluation]


# --- sample sheets ---------------------------------------------------------------------------------------
SHEET_FIRST = ["1f601", "1f308", "1f355", "1f422", "1f436", "1f920", "1f3c6", "1f49b"]  # the app's examples


def sheet_keys(keys: list[str], n: int) -> list[str]:
    """The same held-out subjects on every sheet: the app's example emoji first, then by key."""
    first = [k for k in SHEET_FIRST if k in keys]
    return (first + [k for k in keys if k not in first])[:n]


def app_examples(t: translator.Translator) -> list[tuple[Path, str]]:
    """The app's examples for this model's family that fit it, each with the direction the app runs it in:
    for a drawing model all of them (they are drawings); otherwise those named after one of its domains
    (`noto-1f308.png`), so a Noto -> Twemoji pix2pix is not shown the family's drawings."""
    files = example_images(t.family_name, t.domains, EXAMPLES)
    a, b = t.domains
    out = []
    for path in files:
        if t.input_kind != "drawing" and not path.name.startswith((f"{a}-", f"{b}-")):
            continue
        if path.name.startswith(f"{b}-") and "b2a" not in t.directions:
            continue
        out.append((path, "b2a" if path.name.startswith(f"{b}-") else t.directions[0]))
    return out


def save_sheet(sheet: Image.Image, path: Path) -> None:
    """A sample sheet as PNG with a 256-colour palette: emoji have few colours, and sheets of 256-px cells
    stay under a megabyte in git instead of four."""
    sheet.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def finished_row(t: translator.Translator, outputs: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """The finishing stage's version of raw outputs, as the app shows them (none without a stage)."""
    if t.finishing is None:
        return []
    return [(f"finished x{t.finishing.scale}*", t.finishing.apply(outputs, t.name).cpu())]  # * optional, see its card


def sheet_size(t: translator.Translator) -> int:
    """Cells big enough to show the finished images at their size (raw ones are enlarged pixel by pixel)."""
    return t.image_size * t.finishing.scale if t.finishing is not None else t.image_size


def to_pil(x: torch.Tensor, cell: int) -> Image.Image:
    """1x3xSxS in [-1, 1] -> a cell, enlarged with nearest neighbours so the raw pixels show as they are."""
    array = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array, "RGB").resize((cell, cell), Image.Resampling.NEAREST)


def draw_sheet(blocks: list[tuple[str, list[str], list[tuple[str, torch.Tensor]]]], size: int) -> Image.Image:
    cell = max(size, 128) if size <= 256 else 256
    label_w, gap, line = 96, 4, 16
    font = ImageFont.load_default(13)
    columns = max(len(keys) for _, keys, _ in blocks)
    height = sum(2 * line + len(rows) * (cell + gap) + 12 for _, _, rows in blocks)
    sheet = Image.new("RGB", (label_w + columns * (cell + gap), height), "white")
    draw = ImageDraw.Draw(sheet)
    y = 0
    for title, keys, rows in blocks:
        draw.text((4, y + 1), title.replace("→", "->"), fill="black", font=font)
        y += line
        for i, key in enumerate(keys):
            draw.text((label_w + i * (cell + gap) + 2, y + 1), key[:20], fill=(90, 90, 90), font=font)
        y += line
        for name, images in rows:
            draw.text((4, y + cell // 2 - 7), name, fill="black", font=font)
            for i in range(len(images)):
                sheet.paste(to_pil(images[i], cell), (label_w + i * (cell + gap), y))
            y += cell + gap
        y += 12
    return sheet


# --- the oracle ------------------------------------------------------------------------------------------
def add_oracle(metrics: dict, oracle: dict) -> None:
    """Beside each direction the oracle also has: its row, and the share of the identity -> oracle gap the
    model closes (1 = as close to the true target as a model trained on the true pairs; 0 = no closer
    than the input)."""
    for direction, rows in metrics["directions"].items():
        best = oracle["directions"].get(direction, {}).get("model")
        if best is None:
            continue
        rows["paired oracle"] = best
        model, identity = rows["model"], rows["identity"]
        rows["model"]["gap_closed"] = {
            k: (identity[k] - model[k]) / (identity[k] - best[k]) if identity[k] != best[k] else None
            for k in ("l1", "ssim")}
    metrics["oracle"] = oracle.get("model")


# --- command line ----------------------------------------------------------------------------------------
def checkpoint_note(model: str) -> str:
    """Which weights of the run these are: the last step's, or a step chosen on validation data."""
    info = Path(model) / "training.json"
    selected = json.loads(info.read_text()).get("selected") if info.exists() else None
    if not selected:
        return "final checkpoint, no selection"
    return (f"step {selected['step']} of {selected['of_steps']}, chosen on {selected['validation_pairs']} validation "
            f"pairs held out of training (not the test split) by training.select_step")


def evaluate(model: str, test_a: Path | None = None, test_b: Path | None = None) -> tuple[dict, Image.Image]:
    t = translator.load(model, device="cpu", finishing=True)  # scores use the raw output; the sheet shows both
    protocol = protocol_of(t)
    result = protocol.evaluate(t, test_a, test_b)
    sets = result.pop("sets")
    metrics = {"model": model, "family": t.family_name, "provenance": str(t.provenance), "image_size": t.image_size,
               "evaluation": protocol.name, **result,
               "protocol": f"{result['protocol']}; {checkpoint_note(model)}."}
    return metrics, protocol.sheet(t, sets)


def reproduce_command(model: str, args: argparse.Namespace, oracle_used: bool = True) -> str:
    """The command that scores this one model as it was scored: the flags that change its numbers, none that
    rewrite the README (a card's command run alone must not drop the other models' rows)."""
    words = ["python", "-m", "training.evaluate"] + (["--threads", str(args.threads)] if args.threads else [])
    words += ["--model", model]
    for flag, value in (("--test-a", args.test_a), ("--test-b", args.test_b),
                        ("--oracle", args.oracle if oracle_used else None)):
        if value is not None:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)


def replace_block(readme: Path, marker: str, body: str) -> None:
    """Replace what stands between `<!-- {marker}:start -->` and `<!-- {marker}:end -->`."""
    text = readme.read_text()
    block = f"<!-- {marker}:start -->\n{body}\n<!-- {marker}:end -->"
    new, count = re.subn(rf"<!-- {marker}:start -->.*?<!-- {marker}:end -->", lambda _: block, text, flags=re.S)
    if count != 1:
        raise SystemExit(f"{readme} needs one '<!-- {marker}:start -->' ... '<!-- {marker}:end -->' block")
    readme.write_text(new)


def read_unshipped(paths: list[Path]) -> dict[Path, dict]:
    """--unshipped files, read before any evaluation (a missing one is said at once, not after minutes)."""
    for path in paths:
        if not path.exists():
            raise SystemExit(f"--unshipped {path}: no such file (python -m training.evaluate --model FOLDER writes "
                             "FOLDER/metrics.json)")
    return {path: json.loads(path.read_text()) for path in paths}


def add_extra_rows(tables: dict[str, dict], oracle: dict | None, unshipped: dict[Path, dict]) -> None:
    """The benchmark's rows that are not shipped models: the paired oracle, and models that were evaluated
    but did not earn a place in the app (their own metrics.json, each named by its "name")."""
    for path, metrics in unshipped.items():
        name = metrics.get("name", path.stem)
        if name in tables:  # e.g. a version 2 that shipped under the name its version 1's file still carries
            raise SystemExit(f"--unshipped {path}: {name!r} is also a shipped model given with --model; rename the "
                             "unshipped one (its \"name\") or leave it out")
        tables[name] = {**metrics, "is_unshipped": True}
    if oracle:
        tables[oracle.get("name", "paired oracle")] = {**oracle, "is_oracle": True}


def update_readme(readme: Path, tables: dict[str, dict]) -> None:
    """The shipped models' headline numbers, and the unpaired benchmark side by side."""
    replace_block(readme, "models", models_table(tables))
    replace_block(readme, "benchmark", benchmark_table(tables))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", required=True, help="model folders (or names) to evaluate")
    parser.add_argument("--test-a", type=Path, help="test images of domain A (default: the repo's split for the "
                                                    "domain named in config.json); few-shot models: the unseen fonts "
                                                    "(default data/fonts-64/unseen)")
    parser.add_argument("--test-b", type=Path, help="test images of domain B, named as their A counterparts; few-shot "
                                                    "models: the training fonts the baseline picks from (default: "
                                                    "'train' beside --test-a)")
    parser.add_argument("--oracle", type=Path, help="metrics.json of a paired model on the same pairs: adds its row "
                                                    "and the share of the identity -> oracle gap each model closes")
    parser.add_argument("--readme", type=Path, help="also rewrite this README's model and benchmark tables")
    parser.add_argument("--unshipped", type=Path, nargs="+", default=[], metavar="METRICS.json",
                        help="with --readme: metrics.json of models evaluated but not shipped (e.g. docs/metrics/"
                             "unit-noto2twemoji.json): rows of the benchmark table, marked so, and none of the models table")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--reuse-metrics", action="store_true",
                        help="with --readme: take each model folder's metrics.json as it stands (no evaluation), "
                             "e.g. to add a newly shipped model's row beside the others")
    parser.add_argument("--sheet-only", action="store_true",
                        help="only redraw each model folder's samples.png (the numbers are left as they are)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.sheet_only:
        for model in args.model:
            if not Path(model).is_dir():
                raise SystemExit(f"--sheet-only redraws a model folder's samples.png; {model} is not a folder")
            t = translator.load(model, device="cpu", finishing=True)
            protocol = protocol_of(t)
            sheet = protocol.sheet(t, protocol.test_sets(t, args.test_a, args.test_b))
            save_sheet(sheet, Path(model) / "samples.png")
            print(f"{model}: samples.png redrawn")
        return
    oracle = json.loads(args.oracle.read_text()) if args.oracle else None
    unshipped = read_unshipped(args.unshipped)
    tables = {}
    if args.reuse_metrics:
        if not args.readme:
            raise SystemExit("--reuse-metrics only rewrites the README's tables: give --readme too")
        for model in args.model:
            path = Path(model) / "metrics.json"
            if not path.exists():
                raise SystemExit(f"{path} is missing: evaluate {model} first (without --reuse-metrics)")
            tables[Path(model).name] = json.loads(path.read_text())
        add_extra_rows(tables, oracle, unshipped)
        update_readme(args.readme, tables)
        return
    for model in args.model:
        metrics, sheet = evaluate(model, args.test_a, args.test_b)
        folder = Path(model)
        name = metrics["name"] = folder.name if folder.is_dir() else model
        if oracle and name != oracle.get("name"):
            add_oracle(metrics, oracle)
        oracle_used = any("paired oracle" in rows for rows in metrics.get("directions", {}).values())
        metrics["command"] = reproduce_command(model, args, oracle_used)
        if folder.is_dir():  # keep the numbers and the pictures with the weights, and the card in step with them
            (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
            save_sheet(sheet, folder / "samples.png")
            write_model_card(folder)
        tables[name] = metrics
        print(f"{name}\n{evaluation_table(metrics)}\n")
    if args.readme:
        add_extra_rows(tables, oracle, unshipped)
        update_readme(args.readme, tables)


if __name__ == "__main__":
    main()
