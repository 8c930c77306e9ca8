"""Score translators on the held-out emoji code points, beside the identity baseline.

    python -m training.evaluate --model assets/models/cyclegan-noto2twemoji --readme README.md

Every test code point exists in every vendor style, so even an unpaired model has ground truth: the same
emoji drawn by the target vendor. For each direction, for the model and for the identity baseline (the
input returned unchanged):
- L1 (mean absolute error on [0, 1]), PSNR (dB) and SSIM (11x11 Gaussian window, sigma 1.5, RGB mean)
  against that ground truth, at the model's own size;
- the share of outputs the vendor classifier (training/classifier.py, trained on real renders only; its
  test accuracy is reported too) assigns to the target vendor;
- KID x100 (polynomial kernel, unbiased MMD^2, mean and std over 100 subsets of min(N, 100)) between the
  outputs and the real target-vendor test images, on the classifier's 256-d features;
- roughness: mean absolute difference between neighbouring pixels on [0, 1] (total variation), to set
  beside the real target's -- grain a generator adds shows up here before it shows up in a picture.
Missing data or classifier are built first, so this one command reproduces the numbers from nothing.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import translator
from training import classifier as vendor
from training.common import total_variation
from training.data import emoji, sketch
from training.data.folders import ImageFiles, eval_transform
from training.model_card import metrics_table, write_model_card

DATA = Path("data")


# --- metrics ---------------------------------------------------------------------------------------------
def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM of Nx3xHxW images in [0, 1] (Wang et al. 2004 constants), averaged over channels."""
    coords = torch.arange(window, dtype=x.dtype) - window // 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    g = (g / g.sum()).to(x.device)
    kernel = (g[:, None] * g[None, :]).expand(x.shape[1], 1, window, window)
    blur = lambda t: F.conv2d(t, kernel, groups=x.shape[1])  # noqa: E731  (valid region, as skimage)
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3))


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


# --- data and judge --------------------------------------------------------------------------------------
def test_images(style: str, size: int) -> tuple[list[str], torch.Tensor]:
    """Keys and Nx3xSxS [-1, 1] images of one vendor's test split; the dataset is built if missing."""
    root = DATA / f"emoji-{size}"
    folder = root / style / "test"
    vendor_style = style.removesuffix("-sketch")
    if not (root / vendor_style / "test").is_dir():
        emoji.build(root, size, list(emoji.STYLES), DATA / "npm-cache", skin_tones=False, workers=2)
    if not folder.is_dir():  # line drawings of a vendor, the input of sketch models
        sketch.write_drawings(root, vendor_style)
    files = ImageFiles(folder, size)
    to_tensor = eval_transform()
    return [p.stem for p in files.files], torch.stack([to_tensor(files[i]) for i in range(len(files))])


def judge() -> tuple[vendor.VendorClassifier, dict]:
    folder = DATA / "vendor-classifier"
    if not (folder / "model.safetensors").exists():
        test_images("noto", vendor.INPUT_SIZE)  # make sure its data exists
        vendor.train(DATA / f"emoji-{vendor.INPUT_SIZE}", folder)
    return vendor.load(folder)


# --- evaluation ------------------------------------------------------------------------------------------
@torch.no_grad()
def judge_features(judge_model, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([judge_model.features(b) for b in images.split(64)])


@torch.no_grad()
def pixel_metrics(outputs: torch.Tensor, targets: torch.Tensor) -> dict:
    """L1, PSNR, SSIM against the targets and the outputs' roughness; Nx3xSxS in [-1, 1], scored on [0, 1]."""
    x, y = (outputs.clamp(-1, 1) + 1) / 2, (targets + 1) / 2
    return {"l1": (x - y).abs().mean().item(), "psnr": psnr(x, y).mean().item(), "ssim": ssim(x, y).mean().item(),
            "roughness": total_variation(x).item()}


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
    return {**pixel_metrics(outputs, targets),
            "target_share": verdicts[target].item(),  # of all six vendors
            # of the two vendors; not defined when the source is no vendor (line drawings)
            "target_vs_source": None if source is None else (logits[:, target] > logits[:, source]).float().mean().item(),
            "kid_x100": kid_mean * 100, "kid_std_x100": kid_std * 100, "n": len(outputs),
            # what the outputs are taken for, when not for the target: the diagnosis behind target_share
            "judged_as": {c: round(v, 4) for c, v in zip(judge_model.classes, verdicts.tolist())}}


@torch.no_grad()
def evaluate(model_name: str, batch: int = 16) -> dict:
    t = translator.load(model_name, device="cpu")
    judge_model, judge_report = judge()
    size, domains = t.image_size, t.domains
    results = {}
    for direction in t.directions:
        source, target = domains if direction == "a2b" else domains[::-1]
        keys_s, images_s = test_images(source, size)
        keys_t, images_t = test_images(target, size)
        common = sorted(set(keys_s) & set(keys_t))
        src = images_s[[keys_s.index(k) for k in common]]
        tgt = images_t[[keys_t.index(k) for k in common]]
        outputs = torch.cat([t.translate_tensor(b, direction) for b in src.split(batch)])
        rows = {"model": outputs, "identity": src, "real target": tgt}  # the last: what the judge can tell
        features = {method: judge_features(judge_model, images) for method, images in rows.items()}
        results[f"{source}→{target}"] = {
            method: score(images, features[method], tgt, source, target, judge_model, features["real target"])
            for method, images in rows.items()}
    return {"model": model_name, "provenance": str(t.provenance), "image_size": size,
            "judge_test_accuracy": judge_report["test_accuracy"],
            "protocol": (f"held-out test code points of emoji-v1 ({len(common)} per direction), scored at {size} px; "
                         f"'recognised as target' and KID use the repo's vendor classifier "
                         f"(test accuracy {judge_report['test_accuracy'] * 100:.1f}% over 6 vendor styles); "
                         f"identity = the input returned unchanged; {checkpoint_note(model_name)}."),
            "command": "python -m training.evaluate " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "directions": results}


def checkpoint_note(model: str) -> str:
    """Which weights of the run these are: the last step's, or a step chosen on validation data."""
    info = Path(model) / "training.json"
    selected = json.loads(info.read_text()).get("selected") if info.exists() else None
    if not selected:
        return "final checkpoint, no selection"
    return (f"step {selected['step']} of {selected['of_steps']}, chosen on {selected['validation_pairs']} validation "
            f"pairs held out of training (not the test split) by training.select_step")


def replace_block(readme: Path, marker: str, body: str) -> None:
    """Replace what stands between `<!-- {marker}:start -->` and `<!-- {marker}:end -->`."""
    text = readme.read_text()
    block = f"<!-- {marker}:start -->\n{body}\n<!-- {marker}:end -->"
    new, count = re.subn(rf"<!-- {marker}:start -->.*?<!-- {marker}:end -->", lambda _: block, text, flags=re.S)
    if count != 1:
        raise SystemExit(f"{readme} needs one '<!-- {marker}:start -->' ... '<!-- {marker}:end -->' block")
    readme.write_text(new)


def update_readme(readme: Path, tables: dict[str, dict]) -> None:
    """One metrics table per model between the metrics markers."""
    body = []
    for name, metrics in tables.items():
        body += [f"**{name}** ({metrics['protocol']})", "", metrics_table(metrics), ""]
    replace_block(readme, "metrics", "\n".join(body).rstrip())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", required=True, help="model folders (or names) to evaluate")
    parser.add_argument("--readme", type=Path, help="also rewrite this README's metrics table")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    tables = {}
    for model in args.model:
        metrics = evaluate(model)
        folder = Path(model)
        if folder.is_dir():  # keep the numbers with the weights, and the card in step with them
            (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
            write_model_card(folder)
        name = folder.name if folder.is_dir() else model  # shipped folders are named as the model; ablations say what they are
        tables[name] = metrics
        print(f"{name}\n{metrics_table(metrics)}\n")
    if args.readme:
        update_readme(args.readme, tables)


if __name__ == "__main__":
    main()
