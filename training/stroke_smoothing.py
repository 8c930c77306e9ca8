"""Would smoothing a drawing model's output between the strokes make it a cleaner emoji? (Cleaner to the
eye, yes; more like Noto to the judge and KID, no: it is not in the pipeline.)

    OMP_WAIT_POLICY=PASSIVE python -m training.stroke_smoothing --model assets/models/pix2pix-sketch2emoji \
        --split train --json docs/metrics/stroke-smoothing.json --sheet docs/images/stroke-smoothing.png

The pix2pix sketch model's colours are mottled within each region the drawing's strokes enclose. The idea
measured here is a post-process that needs no training: average the model's colours over each region the
strokes bound, never across a stroke, for a number of steps (each step a 3x3 mean over the region's own
pixels: n steps spread a colour over about sqrt(2n/3) px, so one step removes pixel noise and 128 flatten
a region of ~20 px towards one colour). Stroke pixels keep the model's colour (averaging them too gives
every shape a grey halo: the outline sits on the boundary between a colour and the white paper).

Scored on the model's domain-A drawings of `--split` (the deterministic `<style>-sketch` drawings) against
the true colour emoji, with `training.evaluate`'s numbers: L1, PSNR, SSIM, the judge's share as the target
vendor and KID on its features. The split is the training one by default, so that a smoothing strength
chosen here is not chosen on the held-out test set.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import translator
from training import evaluate
from training.benchmark import machine
from training.data.domains import DATA, load_folder, paired
from translator.errors import TranslatorError
from translator.pix2pix import strokes_of


def smooth_between_strokes(output: torch.Tensor, drawing: torch.Tensor, steps: int) -> torch.Tensor:
    """Nx3xSxS model output and the Nx3xSxS drawing it was made from (both in [-1, 1]) -> the output with each
    paper pixel replaced, `steps` times, by the mean of itself and its 8 neighbours that are paper too (so no
    colour crosses a stroke). Stroke pixels (darker than mid-grey) are left as they are."""
    paper = 1 - strokes_of(drawing).to(output.dtype)
    smoothed = output * paper
    paper_share = F.avg_pool2d(paper, 3, 1, 1).clamp_min(1e-6)  # of each 3x3 window
    for _ in range(steps):
        smoothed = F.avg_pool2d(smoothed, 3, 1, 1) / paper_share * paper
    return torch.where(paper > 0, smoothed, output)


def pairs_of(t: translator.Translator, split: str, data: Path) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """The model's drawings of `split` and their true targets, paired by file name."""
    source, target = t.domains
    folders = [data / f"emoji-{t.image_size}" / domain / split for domain in (source, target)]
    for folder in folders:
        if not folder.is_dir():
            raise SystemExit(f"{folder} is missing: build it with python -m training.data.emoji (colour) and "
                             "python -m training.data.sketch (drawings); see the pix2pix-sketch2emoji recipe")
    loaded = [load_folder(folder, t.image_size) if any(folder.iterdir()) else ([], None) for folder in folders]
    try:
        return paired(*loaded)
    except LookupError:
        raise SystemExit(f"{folders[0]} and {folders[1]} have no image name in common: drawings and colour emoji "
                         "are paired by file name") from None


@torch.inference_mode()
def measure(t: translator.Translator, drawings: torch.Tensor, targets: torch.Tensor, steps: list[int],
            judge_model=None, batch: int = 32) -> dict[int, dict]:
    """{steps: evaluate's scores of the outputs smoothed that many steps} (0: the raw output)."""
    outputs = torch.cat([t.translate_tensor(b) for b in drawings.split(batch)])
    real = evaluate.judge_features(judge_model, targets) if judge_model is not None else None
    source, target = t.domains
    results = {}
    for n in steps:
        smoothed = smooth_between_strokes(outputs, drawings, n)
        if judge_model is None:
            results[n] = evaluate.pixel_metrics(smoothed, targets)
        else:
            results[n] = evaluate.score(smoothed, evaluate.judge_features(judge_model, smoothed), targets, source,
                                        target, judge_model, real)
    return results


def sheet(t: translator.Translator, keys: list[str], drawings: torch.Tensor, targets: torch.Tensor,
          steps: list[int], shown: int = 8):
    """The sheet's subjects (the app's example emoji first): drawing, raw output, each smoothing, target.
    Drawn from the test split whatever split is scored: it is for looking at, nothing is chosen by it."""
    picks = evaluate.sheet_keys(keys, shown)
    index = [keys.index(k) for k in picks]
    x = drawings[index]
    with torch.inference_mode():
        y = t.translate_tensor(x)
    rows = [("drawing", x), ("raw output", y)]
    rows += [(f"{n} step{'s' * (n > 1)}", smooth_between_strokes(y, x, n)) for n in steps if n > 0]
    return evaluate.draw_sheet([(f"{Path(t.name).name}: smoothing between the strokes, held-out drawings", picks,
                                 [*rows, ("true target", targets[index])])], t.image_size)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a drawing model: folder or shipped name")
    parser.add_argument("--split", default="train", choices=("train", "test"))
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 1, 2, 4, 8, 16, 32, 64, 128])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--no-judge", action="store_true", help="pixel numbers only (no vendor classifier)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sheet", type=Path, help="a sheet of held-out drawings, raw outputs, smoothed ones, targets")
    parser.add_argument("--sheet-steps", type=int, nargs="+", default=[1, 4, 16, 128], help="the sheet's smoothings")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if any(n < 0 for n in args.steps + args.sheet_steps):
        raise SystemExit("--steps and --sheet-steps are counts of smoothing steps: 0 or more")
    if args.threads < 1:
        raise SystemExit("--threads must be 1 or more")
    torch.set_num_threads(args.threads)
    try:
        t = translator.load(args.model, device="cpu", warm_up=False)
    except TranslatorError as err:
        raise SystemExit(f"--model {args.model}: {err}") from None
    if t.input_kind != "drawing":
        raise SystemExit(f"{args.model} does not take line drawings: smoothing between strokes needs strokes")
    keys, drawings, targets = pairs_of(t, args.split, args.data)
    judge_model, report = (None, None) if args.no_judge else evaluate.judge()
    start = time.perf_counter()
    results = measure(t, drawings, targets, sorted(set(args.steps)), judge_model)
    for n, r in results.items():
        judged = ("" if judge_model is None else
                  f"  judged {r['target_share']:.1%}  KID×100 {r['kid_x100']:.2f} ± {r['kid_std_x100']:.2f}")
        print(f"{n:4d} steps  L1 {r['l1']:.4f}  PSNR {r['psnr']:.2f}  SSIM {r['ssim']:.4f}{judged}")
    if args.json:
        args.json.write_text(json.dumps({
            "command": "python -m training.stroke_smoothing " + shlex.join(sys.argv[1:] if argv is None else argv),
            "model": Path(t.name).name, "split": args.split, "n": len(keys), "machine": machine(),
            "judge_sha256": None if report is None else report["sha256"],
            "seconds": round(time.perf_counter() - start, 1),  # translating and scoring, not loading
            "steps": {str(n): r for n, r in results.items()}}, indent=2, ensure_ascii=False) + "\n")
    if args.sheet:
        held_out = (keys, drawings, targets) if args.split == "test" else pairs_of(t, "test", args.data)
        evaluate.save_sheet(sheet(t, *held_out, args.sheet_steps), args.sheet)


if __name__ == "__main__":
    main()
