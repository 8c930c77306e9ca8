"""Choose the training step to ship from a run's snapshots, on its validation hold-out -- never on the test split.

    python -m training.cyclegan ... --val-fraction 0.1 --snapshot-every 1000 --out runs/x
    python -m training.select_step --run runs/x          # -> runs/x/selected (an export, like runs/x/export)

GAN weights wander: the numbers of the last step are one draw among the last few thousand, and the
learning-rate decay can lose a good state (the README shows one). So the trainer can keep a snapshot
every N steps and hold out files it never trains on (chosen by a hash of the file name, so an emoji code
point is held out in both vendor styles). This scores every snapshot on those held-out pairs and keeps
the best by the issue's own bars, in this order:

1. the number of bars met, per direction: L1 below the identity baseline's, SSIM above it, and -- when
   the vendor judge knows both domains -- at least 80% of the outputs judged as the target vendor;
2. then the lowest judged-target share over the directions (the weakest direction decides), or without
   a judge the lowest mean L1.

The test split plays no part, so `training.evaluate` on the result is still a held-out measurement.
Writes OUT/selection.json (every step's numbers) and OUT/selected (config, fp16 weights, training.json
recording the choice, model card).
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file
from tqdm import tqdm

import translator
from training import classifier as vendor
from training.data.folders import ImageFiles, eval_transform
from training.common import SNAPSHOT_DIR, snapshot_path
from training.evaluate import judge, judge_features, pixel_metrics, score
from training.model_card import write_model_card
from translator.base import Translator

JUDGED_BAR = 0.8  # the foundation issue's bar: >= 80% judged as the target vendor


def validation_pairs(run: Path, size: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{"a2b": (sources, targets), "b2a": ...} in [-1, 1], from the held-out names present in both folders."""
    listing = run / "validation.json"
    if not listing.exists():
        raise SystemExit(f"{listing} is missing: train with --val-fraction F (> 0) to hold out validation files")
    held = json.loads(listing.read_text())
    names = sorted(set(held["a"]) & set(held["b"]))
    if not names:
        raise SystemExit(f"no held-out file name is in both training folders ({listing}); "
                         "choosing a step needs name-paired images (the same subject in both domains)")

    def load(folder: str) -> torch.Tensor:
        files = ImageFiles(folder, size, keep=lambda name: name in names)
        return torch.stack([eval_transform()(files[i]) for i in range(len(files))])

    a, b = load(held["train_a"]), load(held["train_b"])
    return {"a2b": (a, b), "b2a": (b, a)}


def bars_met(directions: dict[str, dict]) -> int:
    """How many of the bars the scores meet (see the module docstring)."""
    met = 0
    for d in directions.values():
        model, identity = d["model"], d["identity"]
        met += (model["l1"] < identity["l1"]) + (model["ssim"] > identity["ssim"])
        if model.get("target_share") is not None:
            met += model["target_share"] >= JUDGED_BAR
    return met


def rank_key(directions: dict[str, dict]) -> tuple[float, float]:
    shares = [d["model"]["target_share"] for d in directions.values() if d["model"].get("target_share") is not None]
    tie_break = min(shares) if shares else -sum(d["model"]["l1"] for d in directions.values())
    return bars_met(directions), tie_break


@torch.no_grad()
def score_snapshots(run: Path, batch: int = 64) -> tuple[dict, Translator]:
    """Every snapshot's validation numbers and the chosen step; also the run's translator (its weights are
    those of the last snapshot scored)."""
    snapshots = sorted((run / SNAPSHOT_DIR).glob("step-*.safetensors"))
    if not snapshots:
        raise SystemExit(f"no snapshots in {run / SNAPSHOT_DIR}: train with --snapshot-every N")
    if not (run / "export" / "config.json").exists():
        raise SystemExit(f"{run / 'export'} is missing: the run has not finished (its export holds the network's config)")
    # a private copy: the per-process cache must not see the snapshot weights loaded below
    t = copy.deepcopy(translator.load(str(run / "export"), device="cpu", warm_up=False))
    pairs = validation_pairs(run, t.image_size)
    source_of, target_of = dict(zip(t.directions, t.domains)), dict(zip(t.directions, t.domains[::-1]))
    # the vendor judge only when it knows both domains (and then it exists or is built from the emoji data)
    judge_model = judge()[0] if set(t.domains) <= set(vendor.VENDORS) else None
    real_features = {d: judge_features(judge_model, tgt) for d, (_, tgt) in pairs.items()} if judge_model else {}

    def metrics(outputs: torch.Tensor, direction: str) -> dict:
        tgt = pairs[direction][1]
        if judge_model is None:
            return {**pixel_metrics(outputs, tgt), "target_share": None}
        m = score(outputs, judge_features(judge_model, outputs), tgt, source_of[direction], target_of[direction],
                  judge_model, real_features[direction])
        return {k: m[k] for k in ("l1", "psnr", "ssim", "roughness", "target_share", "target_vs_source", "kid_x100")}

    identity = {d: metrics(src, d) for d, (src, _) in pairs.items()}
    steps = {}
    for path in tqdm(snapshots, desc="snapshots"):
        t.model.load_state_dict(load_file(path))
        directions = {d: {"model": metrics(torch.cat([t.translate_tensor(x, d) for x in src.split(batch)]), d),
                          "identity": identity[d]} for d, (src, _) in pairs.items()}
        steps[int(path.stem.removeprefix("step-"))] = {"bars_met": bars_met(directions), "directions": directions}
    best = max(steps, key=lambda s: (*rank_key(steps[s]["directions"]), s))  # ties: the later step
    criterion = ("most bars met on the validation hold-out (L1 and SSIM vs identity, judged target >= 80%), "
                 "then the highest lowest judged share" if judge_model else
                 "most bars met on the validation hold-out (L1 and SSIM vs identity), then the lowest mean L1")
    return {"chosen_step": best, "validation_pairs": len(pairs["a2b"][0]), "criterion": criterion,
            "steps": steps}, t


def export_selected(run: Path, selection: dict, t: Translator) -> Path:
    """OUT/selected: the run's export with the chosen snapshot's weights and the choice on record."""
    step = selection["chosen_step"]
    t.model.load_state_dict(load_file(snapshot_path(run, step)))
    folder = run / "selected"
    shutil.rmtree(folder, ignore_errors=True)
    copy.deepcopy(t.model).half().save_pretrained(folder)
    info = json.loads((run / "export" / "training.json").read_text())
    chosen = selection["steps"][step]
    info["selected"] = {"step": step, "of_steps": info["steps"], "criterion": selection["criterion"],
                        "validation_pairs": selection["validation_pairs"], "bars_met": chosen["bars_met"],
                        "validation": {d: v["model"] for d, v in chosen["directions"].items()},
                        "command": f"python -m training.select_step --run {run}"}
    (folder / "training.json").write_text(json.dumps(info, indent=2))
    write_model_card(folder)
    return folder


def print_table(selection: dict) -> None:
    first = next(iter(selection["steps"].values()))["directions"]
    print("  step bars  " + "   ".join(f"{d}: judged / L1 / SSIM" for d in first))
    for step, s in sorted(selection["steps"].items()):
        cells = [("–" if m["target_share"] is None else f"{m['target_share']:.1%}") + f" / {m['l1']:.4f} / {m['ssim']:.4f}"
                 for m in (v["model"] for v in s["directions"].values())]
        print(f"{step:6d}  {s['bars_met']}    " + "   ".join(cells) + ("  <- chosen" if step == selection["chosen_step"] else ""))
    print("identity      " + "   ".join(f"{d}: L1 {v['identity']['l1']:.4f} / SSIM {v['identity']['ssim']:.4f}"
                                        for d, v in first.items()))


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a training run folder (with snapshots/)")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    selection, t = score_snapshots(args.run)
    folder = export_selected(args.run, selection, t)
    (args.run / "selection.json").write_text(json.dumps(selection, indent=1))
    print_table(selection)
    print(f"-> {folder}")
    return folder


if __name__ == "__main__":
    main()
