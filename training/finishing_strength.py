"""How much of the finishing stage's correction each shipped model's outputs get (issue 14, §1).

    python -m training.finishing_strength --model assets/finishing/finisher-x4

The finisher is bicubic upscaling plus a learned correction, and `strength` scales the correction (0: plain
bicubic; 1: the finisher as trained). On a soft model's output the true 256-px image differs in content, and
squared error favours a blur: at full strength the finisher lost PSNR to bicubic on MUNIT's outputs while
winning SSIM (its card). So, for each shipped 64-px model, this scores strengths 0, 0.05, ..., 1 on the
model's outputs of its *training-split* inputs (at most --limit a set, every k-th; the card's test sets are
never looked at) and keeps:
  - 1 where the finisher at full strength beats bicubic on both PSNR and SSIM there;
  - else the strength with the highest PSNR (the larger of equals).
It writes strengths.json into the finisher's folder (translator.finishing.read_strengths), with the scores;
then `python -m training.finishing_measure --model FOLDER --card` measures each model's test outputs at the
strength chosen for it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from training.evaluate import psnr, ssim
from training.finishing_measure import merge_sets, model_sets
from translator.finishing import STRENGTHS_FILE, Finisher, model_of

STRENGTHS = [round(i * 0.05, 2) for i in range(21)]


@torch.inference_mode()
def strength_scores(finisher: Finisher, small: torch.Tensor, large: torch.Tensor,
                    strengths: list[float] = STRENGTHS) -> dict[float, dict]:
    """PSNR at 256 px of bicubic + s x the correction for each strength s (0 is bicubic itself), and SSIM where
    the choice needs it: at 0, at 1 and at the strength chosen (SSIM at 256 px costs ~100x PSNR here)."""
    y = (large + 1) / 2
    bicubic = torch.cat([F.interpolate(small[i:i + 32], scale_factor=4, mode="bicubic", align_corners=False)
                         for i in range(0, len(small), 32)])
    correction = torch.cat([finisher(small[i:i + 32]) for i in range(0, len(small), 32)]) - bicubic
    image = lambda s: ((bicubic + s * correction).clamp(-1, 1) + 1) / 2  # noqa: E731
    scores = {s: {"psnr": round(psnr(image(s), y).mean().item(), 3)} for s in strengths}
    for s in (0.0, 1.0):
        scores[s]["ssim"] = round(ssim(image(s), y).mean().item(), 4)
    chosen = choose(scores)
    if "ssim" not in scores[chosen]:
        scores[chosen]["ssim"] = round(ssim(image(chosen), y).mean().item(), 4)
    return scores


def choose(scores: dict[float, dict]) -> float:
    """1 if the full correction beats bicubic (strength 0) on PSNR and SSIM; else the best-PSNR strength."""
    full, bicubic = scores[1.0], scores[0.0]
    if full["psnr"] > bicubic["psnr"] and full["ssim"] > bicubic["ssim"]:
        return 1.0
    return max(scores, key=lambda s: (scores[s]["psnr"], s))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a finisher folder (config.json + model.safetensors)")
    parser.add_argument("--data64", type=Path, default=Path("data/emoji-64"))
    parser.add_argument("--data256", type=Path, default=Path("data/emoji-256"))
    parser.add_argument("--limit", type=int, default=600, help="at most this many training outputs a set")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="+", metavar="MODEL",
                        help="choose again for these shipped models only (after shipping a new version of one); "
                             "the other models' choices in strengths.json are kept")
    args = parser.parse_args(argv)
    if args.only and not (args.model / STRENGTHS_FILE).exists():
        parser.error(f"--only keeps the other models' strengths from {args.model / STRENGTHS_FILE}, which is not "
                     "there: run without --only")
    torch.set_num_threads(args.threads)
    finisher = Finisher.from_folder(args.model, json.loads((args.model / "config.json").read_text())).float().eval()
    per_model: dict[str, list[dict]] = {}
    for title, (_, small, large) in model_sets(args.data64, args.data256, split="train", limit=args.limit,
                                               models=args.only).items():
        scores = strength_scores(finisher, small, large)
        chosen = choose(scores)
        per_model.setdefault(model_of(title), []).append({"set": title, "images": len(small), "scores": scores,
                                                             "chosen": chosen})
        print(f"{title}: bicubic {scores[0.0]}, full {scores[1.0]}, chosen {chosen}", flush=True)
    # a model's strength serves all its sets (both directions): the smallest its sets chose
    strengths = {name: min(s["chosen"] for s in sets) for name, sets in per_model.items()}
    record = {"strengths": {name: s for name, s in strengths.items() if s < 1},
              "rule": "1 where the full correction beats bicubic on PSNR and SSIM of the model's outputs of "
                      "training inputs; else the strength of the highest PSNR there",
              "command": "python -m training.finishing_strength " + " ".join(sys.argv[1:] if argv is None else argv),
              "sets": {s["set"]: {"images": s["images"], "chosen": s["chosen"],
                                  "scores": {str(k): v for k, v in s["scores"].items()}}
                       for sets in per_model.values() for s in sets}}
    if args.only:  # the other models keep what was chosen for them
        earlier = json.loads((args.model / STRENGTHS_FILE).read_text())
        kept = {name: s for name, s in earlier.get("strengths", {}).items() if name not in args.only}
        record = {**record, "strengths": {**kept, **record["strengths"]},
                  "command": earlier.get("command", record["command"]),
                  "updates": [*earlier.get("updates", []), {"command": record["command"], "models": args.only}],
                  "sets": merge_sets(earlier.get("sets", {}), record["sets"], args.only)}
    (args.model / STRENGTHS_FILE).write_text(json.dumps(record, indent=2))
    print("strengths:", record["strengths"] or "the full correction for every model")


if __name__ == "__main__":
    main()
