"""Seconds per training step, eager against --compile, side by side in one process (MUNIT, UNIT, U-GAT-IT).

    OMP_WAIT_POLICY=PASSIVE python -m training.compile_speed --recipe training/recipes/munit-drawing2emoji-v2.toml \
        --threads 1 --json docs/metrics/munit-compile-speed.json
    OMP_WAIT_POLICY=PASSIVE python -m training.compile_speed --trainer unit \
        --recipe training/recipes/unit-noto2twemoji-v2.toml --threads 1

The trainer's own networks are built twice from the recipe (the same seed), one set compiled as `--compile`
compiles it (Run.compile), and whole training steps (the trainer's `training_step`: the discriminators'
update, then the generator's with every loss of the recipe) run on random batches at the recipe's size. The
two alternate in blocks of steps, so the load of a shared machine falls on both alike; the medians and
their ratio are printed, with the one-time compile (the first steps of the compiled set, which compile
every graph a step uses). That compile is minutes with an empty inductor cache and seconds with a warm one:
point TORCHINDUCTOR_CACHE_DIR at an empty folder to measure the cold cost (the JSON records the folder).
The timed step is `training_step` alone: no data loading, no moving-average update."""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from training import munit, ugatit, unit
from training.common import Run

TRAINERS = {"munit": munit, "unit": unit, "ugatit": ugatit}  # trainers with build() and training_step()


def build(trainer, args: argparse.Namespace, compiled: bool):
    """One training step of the trainer's own networks and optimisers, compiled or not."""
    args.compile = compiled
    run = Run(args, trainer.__name__)
    if trainer is ugatit:
        model, generator_pass, discriminator_pass, opt_g, opt_d = trainer.build(run, args)
        return lambda batch: trainer.training_step(run, args, model, generator_pass, discriminator_pass, opt_g, opt_d,
                                                   batch)
    model, discriminators, generator_pass, opt_g, opt_d = trainer.build(run, args)
    return lambda batch: trainer.training_step(run, args, generator_pass, discriminators, opt_g, opt_d, batch)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trainer", choices=sorted(TRAINERS), default="munit")
    parser.add_argument("--recipe", type=Path, required=True, help="a recipe of that trainer (its sizes and losses)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--blocks", type=int, default=6, help="alternating blocks of steps per variant")
    parser.add_argument("--steps", type=int, default=5, help="steps per block")
    parser.add_argument("--json", type=Path, help="also write the result here")
    ours = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as out:
        trainer = TRAINERS[ours.trainer]
        args = trainer.parse_args(["--recipe", str(ours.recipe), "--out", out, "--threads", str(ours.threads), "--cpu",
                                   "--mixed-precision", "no"])
        size = args.image_size
        batch = {"a": torch.rand(1, 3, size, size) * 2 - 1, "b": torch.rand(1, 3, size, size) * 2 - 1,
                 "has_pair": torch.ones(1, dtype=torch.bool)}
        steps = {"eager": build(trainer, args, False), "compiled": build(trainer, args, True)}
        started = time.perf_counter()
        for _ in range(2):  # every graph a step uses (and the recompiles the first steps trigger)
            steps["compiled"](batch)
        compile_seconds = time.perf_counter() - started
        steps["eager"](batch)
        times = {name: [] for name in steps}
        for block in range(ours.blocks):
            for name, step in steps.items():
                started = time.perf_counter()
                for _ in range(ours.steps):
                    step(batch)
                times[name].append((time.perf_counter() - started) / ours.steps)
            print(f"block {block + 1}/{ours.blocks}: " + "  ".join(f"{n} {t[-1]:.3f} s" for n, t in times.items()),
                  flush=True)
    medians = {name: statistics.median(t) for name, t in times.items()}
    result = {"trainer": ours.trainer, "recipe": str(ours.recipe), "threads": ours.threads, "image_size": size,
              "seconds_per_step": medians, "speedup": medians["eager"] / medians["compiled"],
              "compile_seconds": compile_seconds, "inductor_cache": os.environ.get("TORCHINDUCTOR_CACHE_DIR"),
              "blocks": times, "torch": torch.__version__,
              "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
              "command": "python -m training.compile_speed " + " ".join(sys.argv[1:] if argv is None else argv)}
    print(f"eager {medians['eager']:.3f} s/step, compiled {medians['compiled']:.3f} s/step: "
          f"{result['speedup']:.2f}x after a one-time compile of {compile_seconds:.0f} s")
    if ours.json:
        ours.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
