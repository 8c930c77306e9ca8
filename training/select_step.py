"""Choose the training step to ship from a run's snapshots, on its validation hold-out -- never on the test split.

    python -m training.cyclegan ... --val-fraction 0.1 --snapshot-every 1000 --out runs/x
    python -m training.select_step --run runs/x          # -> runs/x/selected (an export, like runs/x/export)

GAN weights wander: the numbers of the last step are one draw among the last few thousand, and the
learning-rate decay can lose a good state (the README shows one). So the trainer can keep a snapshot
every N steps and hold out files it never trains on (chosen by a hash of the file name, so an emoji code
point is held out in both vendor styles). This scores every snapshot on those held-out pairs and keeps
the best by the issue's own bars, in this order:

1. the number of bars met, per direction: L1 below the identity baseline's, SSIM above it, and -- when
   the vendor judge knows the target domain -- at least 80% of the outputs judged as the target vendor;
2. then the lowest judged-target share over the directions (the weakest direction decides), or without
   a judge the lowest total L1.

The scoring is the family's evaluation protocol (training.evaluate.PROTOCOLS), on the directions the
model has, so a one-way pix2pix and a two-way CycleGAN are chosen by the same rule. Each protocol states
its own rule (`criterion`, recorded in the selection): FUNIT's "fewshot" scores the fonts the run held out
of training (`training.funit --val-fraction`) and ranks by the bars met -- beating the nearest training
font at K = 5 on L1 and on SSIM -- then by the lowest L1 at K = 5.

The test split plays no part, so `training.evaluate` on the result is still a held-out measurement.
Writes OUT/selection.json (every step's numbers) and OUT/selected (config, fp16 weights, training.json
recording the choice, model card).
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file
from tqdm import tqdm

import translator
from training.common import SNAPSHOT_DIR, snapshot_path
from training.evaluate import judge, protocol_of
from training.model_card import write_model_card
from translator.base import Translator


@torch.no_grad()
def score_snapshots(run: Path) -> tuple[dict, Translator]:
    """Every snapshot's validation numbers and the chosen step; also the run's translator (its final
    weights). Scored by the family's own evaluation protocol."""
    snapshots = sorted((run / SNAPSHOT_DIR).glob("step-*.safetensors"))
    if not snapshots:
        raise SystemExit(f"no snapshots in {run / SNAPSHOT_DIR}: train with --snapshot-every N")
    if not (run / "export" / "config.json").exists():
        raise SystemExit(f"{run / 'export'} is missing: the run has not finished (its export holds the network's config)")
    t = translator.load(str(run / "export"), device="cpu", warm_up=False)
    protocol = protocol_of(t)
    sets = protocol.validation_sets(t, run)
    judge_model = judge()[0] if any(protocol.judged(t, d) for d in t.directions) else None
    cache, steps = {}, {}
    for path in tqdm(snapshots, desc="snapshots"):
        scores = protocol.snapshot_scores(t.with_weights(load_file(path)), sets, judge_model, cache)
        steps[int(path.stem.removeprefix("step-"))] = {"bars_met": protocol.bars(scores), "directions": scores}
    best = max(steps, key=lambda s: (*protocol.rank(steps[s]["directions"]), s))  # ties: the later step
    return {"chosen_step": best, "validation_pairs": protocol.count(sets), "criterion": protocol.criterion,
            "steps": steps}, t


def export_selected(run: Path, selection: dict, t: Translator) -> Path:
    """OUT/selected: the run's export with the chosen snapshot's weights and the choice on record."""
    step = selection["chosen_step"]
    folder = run / "selected"
    shutil.rmtree(folder, ignore_errors=True)
    t.network_with(load_file(snapshot_path(run, step))).half().save_pretrained(folder)
    info = json.loads((run / "export" / "training.json").read_text())
    chosen = selection["steps"][step]
    info["selected"] = {"step": step, "of_steps": info["steps"], "criterion": selection["criterion"],
                        "validation_pairs": selection["validation_pairs"], "bars_met": chosen["bars_met"],
                        "validation": {d: v["model"] if isinstance(v, dict) and "model" in v else v
                                       for d, v in chosen["directions"].items()},
                        "command": f"python -m training.select_step --run {run}"}
    (folder / "training.json").write_text(json.dumps(info, indent=2))
    write_model_card(folder)
    return folder


def print_table(selection: dict, protocol) -> None:
    for step, s in sorted(selection["steps"].items()):
        print(f"{step:6d}  {s['bars_met']} bars   {protocol.summary(s['directions'])}"
              + ("  <- chosen" if step == selection["chosen_step"] else ""))
    first = next(iter(selection["steps"].values()))["directions"]
    if all(isinstance(v, dict) and "identity" in v for v in first.values()):
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
    print_table(selection, protocol_of(t))
    print(f"-> {folder}")
    return folder


if __name__ == "__main__":
    main()
