"""Where a MUNIT model's style codes lie: do they tell the vendors apart, and do they sit where random styles
are drawn from?

Style control (issue 17) asks that a style read off vendor V's emoji makes the output look like V. That can
only work if the style encoder's codes carry the vendor. This reads the code of every colour image in a split,
then reports the leave-one-out nearest-centroid vendor accuracy of the codes (chance: 1 / vendors), each
vendor's mean code length, and the codes' overall mean and spread, beside the prior N(0, I) that the app's
random styles come from (its mean length in `style_dim` dimensions is about sqrt(style_dim)).

    python -m training.style_codes --model munit-drawing2emoji --json docs/metrics/munit-style-codes.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import translator
from training.benchmark import machine
from training.evaluate import style_of_name


def nearest_centroid_accuracy(codes: torch.Tensor, labels: torch.Tensor) -> float:
    """Leave one out: each code against the other codes' per-vendor means."""
    classes = labels.unique()
    sums = torch.stack([codes[labels == k].sum(0) for k in classes])
    counts = torch.stack([(labels == k).sum() for k in classes]).float()
    right = 0
    for code, label in zip(codes, labels):
        own = (classes == label).float()[:, None]
        centroids = (sums - own * code) / (counts - own.squeeze(1))[:, None]
        right += int(classes[(centroids - code).norm(dim=1).argmin()] == label)
    return right / len(codes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="munit-drawing2emoji")
    parser.add_argument("--images", type=Path, default=Path("data/multimodal-64/colour/test"),
                        help="colour images named <vendor>-<code point>.png")
    parser.add_argument("--direction", default="a2b", help="whose target domain's style encoder reads them")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    files = sorted(args.images.glob("*.png"))
    if not files:
        raise SystemExit(f"no PNG images in {args.images}: build the data first (python -m training.data.multimodal)")
    t = translator.load(args.model, family="munit", warm_up=False)
    names = [style_of_name(p.stem) for p in files]
    if "" in names:
        raise SystemExit(f"{files[names.index('')]} is not named <vendor>-<code point>.png")
    vendors = sorted(set(names))
    codes = torch.tensor([t.encode_style(p, direction=args.direction) for p in files])
    labels = torch.tensor([vendors.index(n) for n in names])
    result = {
        "model": args.model, "images": str(args.images), "n": len(files), "vendors": vendors,
        "nearest_centroid_accuracy": round(nearest_centroid_accuracy(codes, labels), 4),
        "chance": round(1 / len(vendors), 4),
        "mean_code_length": {v: round(codes[labels == k].norm(dim=1).mean().item(), 3) for k, v in enumerate(vendors)},
        "prior_mean_length": round(torch.randn(10000, codes.shape[1], generator=torch.Generator().manual_seed(0)).norm(dim=1).mean().item(), 3),
        "code_mean": [round(v, 3) for v in codes.mean(0).tolist()],
        "code_std": [round(v, 3) for v in codes.std(0).tolist()],
        "machine": machine(),
        "command": "python -m training.style_codes --model {} --images {}".format(args.model, args.images),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
