"""Has a palette pix2pix learnt to choose colours from the drawing, or only how often each colour occurs?

For each model (a folder or Hub id with `palette_size`), on the plain drawings of training and held-out
emoji: the cross-entropy of each enclosed pixel's palette scores to the palette colour nearest its region's mean
target colour (nats, unweighted; stroke pixels are not scored, even with `palette_strokes`), beside the entropy
of those asked colours — what a model that ignores the drawing and predicts their frequencies scores. A
cross-entropy at that entropy means the choice ignores the drawing. Also the mean probability of the likeliest
colour and how often it is the asked one. Dropout is off (a `test_dropout` model's too): the numbers are
deterministic.

    OMP_WAIT_POLICY=PASSIVE python -m training.palette_fit --model runs/pix2pix-v27/export \\
        --data data/emoji-64/noto --count 400
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import translator
from training.data.folders import list_images
from training.data.sketch import SketchPairs
from training.pix2pix import nearest_palette_colour
from translator.errors import TranslatorError
from translator.pix2pix import colour_by_region, enclosed_regions


@torch.no_grad()
def palette_fit(model, pairs: SketchPairs, count: int, batch: int = 50) -> dict[str, float]:
    """The numbers above for `count` evenly spaced plain drawings of `pairs` (all if fewer)."""
    palette = model.palette.float()
    chosen = torch.linspace(0, len(pairs) - 1, min(count, len(pairs))).round().long().unique().tolist()
    total_ce = top = right = pixels = 0.0
    asked_counts = torch.zeros(len(palette))
    for start in range(0, len(chosen), batch):
        group = [pairs.plain(i) for i in chosen[start:start + batch]]
        drawings, targets = torch.stack([g["a"] for g in group]), torch.stack([g["b"] for g in group])
        regions = enclosed_regions(drawings)
        _, scores = model(drawings, regions=regions, with_scores=True)
        inside = (regions > 0).reshape(-1)
        scores = scores.float().permute(0, 2, 3, 1).reshape(-1, len(palette))[inside]
        flat = colour_by_region(targets, regions=regions).permute(0, 2, 3, 1).reshape(-1, 3)[inside]
        asked = nearest_palette_colour(flat, palette)
        total_ce += F.cross_entropy(scores, asked, reduction="sum").item()
        probabilities = scores.softmax(1)
        top += probabilities.max(1).values.sum().item()
        right += (probabilities.argmax(1) == asked).sum().item()
        pixels += len(asked)
        asked_counts += torch.bincount(asked, minlength=len(palette)).float()
    if not pixels:
        raise SystemExit("palette_fit: the drawings enclose no regions")
    share = asked_counts / asked_counts.sum()
    entropy = -(share * share.clamp(min=1e-12).log()).sum().item()
    return {"drawings": len(chosen), "cross_entropy": total_ce / pixels, "colour_entropy": entropy,
            "top_probability": top / pixels, "accuracy": right / pixels}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", required=True, help="palette pix2pix folders or Hub ids")
    parser.add_argument("--data", type=Path, default=Path("data/emoji-64/noto"),
                        help="a folder with train/ and test/ colour images (the targets the drawings are made of)")
    parser.add_argument("--count", type=int, default=400, help="drawings per split (evenly spaced)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    torch.set_num_threads(args.threads)
    splits = []
    for split in ("train", "test"):
        try:
            list_images(args.data / split)  # the images SketchPairs would read
        except FileNotFoundError:
            continue
        splits.append(split)
    if not splits:
        parser.error(f"{args.data} has neither train/ nor test/ with images in it: make them with "
                     "python -m training.data.emoji")
    models = {}
    for name in args.model:  # all before any is scored: a wrong name stops the run at once, with its reason
        try:
            models[name] = translator.load(name, "pix2pix", device="cpu", warm_up=False)
        except TranslatorError as error:
            parser.error(f"{name}: {error}")
    rows = []
    # readings: the model's palette_readings as configured (a shipped model may average widened readings;
    # its run's own export reads once)
    print("| model | readings | split | drawings | cross-entropy | colour entropy | top probability | accuracy |")
    print("|---|---|---|---|---|---|---|---|")
    for name, loaded in models.items():
        loaded.model.eval()  # a test_dropout model's dropout too
        if loaded.model.palette_head is None:
            print(f"palette_fit: {name} chooses no colours from a palette (palette_size 0); skipped", file=sys.stderr)
            continue
        for split in splits:
            pairs = SketchPairs(args.data / split, loaded.image_size, augment=False)
            row = {"model": name, "readings": loaded.model.palette_readings, "split": split,
                   **palette_fit(loaded.model, pairs, args.count)}
            rows.append(row)
            print(f"| {name} | {row['readings']} | {split} | {row['drawings']} | {row['cross_entropy']:.3f} "
                  f"| {row['colour_entropy']:.3f} | {row['top_probability']:.3f} | {row['accuracy']:.3f} |", flush=True)
    return rows


if __name__ == "__main__":
    main()
