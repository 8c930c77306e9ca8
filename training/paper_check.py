"""How white a drawing model leaves the paper around a drawing, on the app's example drawings.

A colour emoji sits on white: everything outside a drawing's outermost strokes should come back white. Some
pix2pix versions colour the whole frame for some drawings (docs/experiments.md, versions 8 and 10); this
puts a number on what the sample sheet shows, per example: the mean of the raw output (0 black, 1 white) over
the paper that can be reached from the border without crossing a stroke (translator.pix2pix.inside_of_drawing).

    python -m training.paper_check --model assets/models/pix2pix-sketch2emoji runs/pix2pix-v10/export
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from PIL import Image

import translator
from translator.pix2pix import inside_of_drawing

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples" / "pix2pix"


def paper_whiteness(drawing: torch.Tensor, output: torch.Tensor) -> float:
    """1x3xHxW drawing and output in [-1, 1] -> mean output in [0, 1] over the paper outside the strokes."""
    outside = (inside_of_drawing(drawing) < 0).expand_as(output)
    if not outside.any():
        return float("nan")  # a drawing that fills the frame has no paper to keep
    return ((output[outside] + 1) / 2).mean().item()


def check(model: str, examples: list[Path]) -> list[float]:
    try:
        t = translator.load(model, device="cpu", warm_up=False)
    except translator.TranslatorError as error:
        raise SystemExit(f"{model}: {error}") from None
    if t.family_name != "pix2pix":
        raise SystemExit(f"{model} is a {t.family_name} model; this checks pix2pix drawing models")
    values = []
    for path in examples:
        x = t.prepare(Image.open(path))[0]
        with torch.no_grad(), translator.raw_output():
            values.append(paper_whiteness(x, t.translate_tensor(x)))
    return values


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", required=True, help="pix2pix model folders or names")
    parser.add_argument("--examples", type=Path, default=EXAMPLES, help="a folder of drawings (default: the app's)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    examples = sorted(args.examples.glob("*.png"))
    if not examples:
        raise SystemExit(f"no .png drawings in {args.examples}")
    rows = {model: check(model, examples) for model in args.model}  # all checked before the table starts: a bad one stops it whole
    print("| model | " + " | ".join(p.stem for p in examples) + " | lowest |")
    print("|---" * (len(examples) + 2) + "|")
    for model, values in rows.items():
        scored = [v for v in values if not math.isnan(v)]  # NaN: a drawing with no paper outside it, nothing to score
        lowest = f"{min(scored):.2f}" if scored else "–"
        print(f"| {model} | " + " | ".join("–" if math.isnan(v) else f"{v:.2f}" for v in values) + f" | **{lowest}** |")


if __name__ == "__main__":
    main()
