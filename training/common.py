"""The small base every trainer shares: options and recipes, run set-up (device, AMP, multi-process),
checkpoints, sample grids, learning-rate schedule, and export to the Hub layout. Each family's trainer
stays one readable file with its losses and its step; this is everything that is not about a particular GAN.

Multi-GPU (and multi-process CPU) goes through Hugging Face `accelerate`:
    accelerate launch --num_processes 2 -m training.cyclegan ...      # or: torchrun --nproc_per_node 2 ...

Options: a trainer's flags are the paper's options with the paper's defaults. What a shipped model does
differently lives in a recipe, `training/recipes/<model>.toml`, read with `--recipe FILE`: any flag by its
name (`n_blocks = 6`) and the trainer's *departures* from the paper, which are recipe settings, not flags,
so `--help` shows the paper's method. `--set KEY=VALUE` changes one setting on the command line.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import json
import math
import os
import shlex
import sys
import time
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from safetensors.torch import load_file, save_file
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torchvision.utils import save_image
from tqdm import tqdm

from training.data.folders import file_name, list_images
from translator.base import HubModel


@dataclass(frozen=True)
class Departure:
    """A recipe setting that departs from the paper; its default is the paper's behaviour."""
    default: float | int | str | bool
    help: str


COMMON_DEPARTURES = {
    "ema": Departure(0.0, "export an exponential moving average of the generator weights with this decay, e.g. "
                          "0.999 (the papers export the last weights); samples show the average too"),
}


def read_recipe(path: Path) -> dict:
    """A TOML recipe -> flat {setting: value}; sections ([data], [network], ...) are only for reading."""
    try:
        table = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SystemExit(f"--recipe {path}: {err}") from None
    flat = {}
    for key, value in table.items():
        for k, v in (value.items() if isinstance(value, dict) else [(key, value)]):
            if k in flat:
                raise SystemExit(f"--recipe {path}: {k!r} is set twice")
            flat[k] = v
    return flat


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None,
               departures: dict[str, Departure]) -> argparse.Namespace:
    """Flags, then the recipe under them: a recipe sets defaults, the command line wins, `--set` wins over the
    recipe. Departures land on the namespace beside the flags; `args.recipe_settings` records what was set."""
    departures = {**COMMON_DEPARTURES, **departures}
    parser.add_argument("--recipe", type=Path, help="a TOML file of settings: flags by name (n_blocks = 6) and the "
                                                     "departures from the paper listed below")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="one recipe setting, over the recipe file (repeatable)")
    parser.epilog = "departures from the paper (recipe settings; defaults are the paper's):\n" + "\n".join(
        f"  {name} = {d.default!r}: {d.help}" for name, d in departures.items())
    first, _ = parser.parse_known_args(argv)
    settings = read_recipe(first.recipe) if first.recipe else {}
    for item in first.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set takes KEY=VALUE, got {item!r}")
        try:
            settings[key.strip().replace("-", "_")] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            settings[key.strip().replace("-", "_")] = value.strip()  # a bare word: a string
    flags = {action.dest for action in parser._actions} - {"help", "recipe", "set"}
    unknown = sorted(set(settings) - flags - set(departures))
    if unknown:
        parser.error(f"unknown recipe settings {unknown}; flags: {sorted(flags)}; departures: {sorted(departures)}")
    parser.set_defaults(**{k: str(v) if isinstance(v, str) else v for k, v in settings.items() if k in flags})
    args = parser.parse_args(argv)
    for name, departure in departures.items():
        value = settings.get(name, departure.default)
        kind = type(departure.default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind):
            parser.error(f"{name} must be a {kind.__name__}, got {value!r}")
        setattr(args, name, value)
    args.recipe_settings = {"file": str(first.recipe) if first.recipe else None, **settings}
    return args


def add_common_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("run")
    g.add_argument("--out", type=Path, required=True, help="run folder: checkpoint, samples, log, export")
    g.add_argument("--name", help="model name for the export and the card (default: the run folder's name)")
    g.add_argument("--steps", type=int, default=20000, help="optimisation steps in total")
    g.add_argument("--decay-from", type=float, default=0.5,
                   help="fraction of the steps after which the learning rate decays linearly to 0 (papers: 0.5)")
    g.add_argument("--batch-size", type=int, default=1)
    g.add_argument("--lr", type=float, default=2e-4)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--mixed-precision", choices=["auto", "no", "fp16", "bf16"], default="auto",
                   help="auto = fp16 on CUDA, none on CPU (bf16 is 30-300x slower on AVX2 CPUs)")
    g.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is there")
    g.add_argument("--threads", type=int, default=None, help="CPU threads per process (default: torch's)")
    g.add_argument("--workers", type=int, default=None, help="data loader workers (default: 0 on CPU, 4 on GPU)")
    g.add_argument("--sample-every", type=int, default=1000)
    g.add_argument("--save-every", type=int, default=1000)
    g.add_argument("--snapshot-every", type=int, default=0, metavar="N",
                   help="also keep the exported weights (the moving average with ema) every N steps as "
                        "OUT/snapshots/step-NNNNNNN.safetensors, fp16, for choosing a step afterwards (0: none)")
    g.add_argument("--log-every", type=int, default=50)
    g.add_argument("--max-minutes", type=float, default=None, metavar="M",
                   help="stop at the first log step after M minutes of this session (a lent GPU, a fixed budget): "
                        "samples, snapshot, checkpoint and export are written as at the end, and --resume goes on "
                        "with the same schedule")
    g.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    g.add_argument("--warm-start", type=Path, metavar="FOLDER",
                   help="start from another run's checkpoint folder (its weights and moving average) or from an "
                        "export (the generator's weights; the discriminators fresh): fresh optimisers, step 0. A "
                        "head the recipe widened (1 output saved, n wanted) starts as n copies of the saved one")
    g.add_argument("--push-to-hub", metavar="REPO", help="upload the export to this Hub repo when done")


def add_compile_arg(parser: argparse.ArgumentParser) -> None:
    """--compile, for the trainers whose networks go through Run.compile."""
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the networks (forward and backward), in place: checkpoints, snapshots "
                             "and exports are unchanged, and a run may switch at a --resume. A one-time compile of "
                             "minutes, then faster steps (python -m training.compile_speed; docs/experiments.md, "
                             "'Compiled training steps'). Random draws inside the networks come from another "
                             "stream, so a compiled run does not repeat an eager one of the same seed")


# Flags that only say how this session runs, not what is trained: a resume may change them silently.
# (`set` and the recipe are how settings were given; the settings themselves are compared one by one.)
SESSION_FLAGS = {"out", "resume", "threads", "workers", "cpu", "max_minutes", "sample_every", "save_every",
                 "snapshot_every", "log_every", "push_to_hub", "compile", "warm_start", "recipe", "recipe_settings",
                 "set"}


def training_settings(args: argparse.Namespace) -> dict:
    """What the run trains with (every flag but the session's), for the checkpoint's run.json, in one spelling
    whichever way it was given: paths as text, numbers as floats (a recipe's 100 is --lambda-l1 100.0)."""
    def plain(value):
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            return float(value)
        return str(value)
    return {k: plain(v) for k, v in sorted(vars(args).items()) if k not in SESSION_FLAGS}


def modules_added(wanted: set[str], saved: set[str], optional: tuple[str, ...] = ()) -> list[str] | str:
    """The `optional` modules of a network (its state-dict keys `wanted`; e.g. a head a flag adds) that saved
    weights (keys `saved`) hold nothing of; or the key of the first missing weight that is not in one of them
    (a deeper network's extra block, a half-saved layer, a buffer of the network itself: not a fresh start)."""
    added = set()
    for key in sorted(wanted - saved):
        module = next((m for m in optional if key.startswith(m + ".")), None)
        if module is None or any(k.startswith(module + ".") for k in saved):
            return key
        added.add(module)
    return sorted(added)


class Run:
    """One training run: the accelerator, the run folder, the step counter, logging and checkpoints."""

    def __init__(self, args: argparse.Namespace, module: str, argv: list[str] | None = None):
        """`module` and `argv` make the recorded command (what the model card says reproduces the run)."""
        self.args = args
        self.out: Path = args.out
        self.skipped_updates = 0  # updates finite_step left out (non-finite gradients), this session
        self.name = args.name or self.out.name
        if args.threads:
            torch.set_num_threads(args.threads)
        torch.set_flush_denormal(True)  # denormals cost 10x+ in eager CPU convs (reference/cpu-performance.md)
        precision = args.mixed_precision
        if precision == "auto":
            precision = "fp16" if torch.cuda.is_available() else "no"
        # accelerate forms a multi-process CPU (gloo) group only when told it is on the CPU
        launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
        cpu = args.cpu or (launched and not torch.cuda.is_available())
        self.accelerator = Accelerator(mixed_precision=precision, cpu=cpu)
        set_seed(args.seed + self.accelerator.process_index)
        self.device = self.accelerator.device
        self.step = 0
        self.started = time.time()
        self.time_up = False  # --max-minutes passed: the step loop ends early (see `running`)
        self.elapsed_before = 0.0  # wall time of earlier sessions of a resumed run
        if self.is_main:
            (self.out / "samples").mkdir(parents=True, exist_ok=True)
        launcher = f"torchrun --nproc_per_node {os.environ['WORLD_SIZE']}" if launched else "python"
        argv = sys.argv[1:] if argv is None else argv
        self.command = f"{launcher} -m " + " ".join(shlex.quote(str(a)) for a in [module, *argv])
        self.commands = [self.command]  # every session of a resumed run, oldest first
        self.average: AveragedModel | None = None  # the moving average of self.exported (--ema)
        self.exported: nn.Module | None = None  # the model export() writes (see track_average)

    def compile(self, *modules: nn.Module) -> None:
        """--compile: each module's calls go through torch.compile from now on (nn.Module.compile: in place,
        so state-dict keys, and with them checkpoints and exports, stay as they are). Give the units that are
        called directly: a submodule called on its own path is compiled only if it is given itself. Call it
        before accelerate's prepare, so under DDP the compiled graph sits inside the wrapper (correct; it gives
        up overlapping the gradient all-reduce with the backward). Give wrappers (a trainer's GeneratorPass)
        and discriminators, never a module of the exported model: the moving average deep-copies that model,
        and a copied compiled call would still run the original's weights."""
        if getattr(self.args, "compile", False):
            for module in modules:
                module.compile()

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def workers(self) -> int:
        if self.args.workers is not None:
            return self.args.workers
        return 4 if self.device.type == "cuda" else 0

    def loader(self, dataset) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(dataset, batch_size=self.args.batch_size, shuffle=True, drop_last=True,
                                           num_workers=self.workers, pin_memory=self.device.type == "cuda",
                                           persistent_workers=self.workers > 0)

    def batches(self, loader):
        """Endless batches; `prepare` shards them across processes."""
        loader = self.accelerator.prepare(loader)
        while True:
            yield from loader

    def lr_factor(self) -> float:
        """Constant, then linear decay to zero (the papers' schedule, counted in steps)."""
        decay_start = int(self.args.steps * self.args.decay_from)
        if self.step < decay_start:
            return 1.0
        return max(0.0, 1.0 - (self.step - decay_start) / max(1, self.args.steps - decay_start))

    def set_lr(self, *optimizers: torch.optim.Optimizer) -> None:
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = self.args.lr * self.lr_factor()

    @property
    def wall_seconds(self) -> float:
        return self.elapsed_before + time.time() - self.started

    # --- the step loop's bookkeeping ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the step loop goes on: steps are left and --max-minutes has not passed."""
        return self.step < self.args.steps and not self.time_up

    def progress(self) -> tqdm:
        self.bar = tqdm(total=self.args.steps, initial=self.step, disable=not self.is_main, dynamic_ncols=True,
                        desc=self.name)
        return self.bar

    def step_done(self, losses: Callable[[], dict[str, float]], samples: Callable[[], None]) -> None:
        """Count a step; log, draw samples and checkpoint when due. `losses` is only called when a log is
        due (reading a loss value waits for the GPU)."""
        self.step += 1
        if self.average is not None:
            self.average.update_parameters(self.exported)
        self.bar.update(1)
        if self.step % self.args.log_every == 0:
            values = losses()
            self.log(values)
            self.check_finite(values)
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in values.items()})
        if self.args.max_minutes is not None and self.step % self.args.log_every == 0:
            # every process must stop at the same step (DDP): all ask at a log step, the main process's clock decides
            late = self.is_main and time.time() - self.started > 60 * self.args.max_minutes
            self.time_up = self.accelerator.reduce(torch.tensor(float(late), device=self.device), "sum").item() > 0
        if self.step % self.args.sample_every == 0 or self.step == self.args.steps or self.time_up:
            samples()
        if self.step % self.args.save_every == 0 and self.step < self.args.steps:
            self.save_checkpoint()
        if self.args.snapshot_every and (self.step % self.args.snapshot_every == 0 or self.step == self.args.steps
                                         or self.time_up):
            self.save_snapshot()  # the last step is always one select_step can choose

    def weights_finite(self) -> bool:
        """Whether every weight of the trained model is finite (the same on every process: DDP keeps them equal)."""
        return self.exported is None or all(bool(torch.isfinite(p).all()) for p in self.exported.parameters())

    def check_finite(self, losses: dict[str, float]) -> None:
        """Stop a diverged run at once, with what to do, instead of writing NaN checkpoints for hours. A
        non-finite loss alone is one bad batch (finite_step skips its update); weights that are no longer
        finite are a broken run."""
        if self.weights_finite():
            broken = [name for name, value in losses.items() if not math.isfinite(value)]
            if broken:
                self.accelerator.print(f"step {self.step}: {', '.join(broken)} not finite on this batch; the weights "
                                       "still are, so training goes on")
            return
        self.bar.close()
        raise SystemExit(f"training diverged: the weights are no longer finite at step {self.step} (losses logged "
                         f"in {self.out / 'log.jsonl'}). Nothing after the last checkpoint was saved; resume from it "
                         "with a lower --lr, or look for the input that overflows (README, Training).")

    def finish(self, model: HubModel, training_info: dict) -> Path | None:
        self.bar.close()
        self.save_checkpoint()
        return self.export(model, training_info)

    # --- the moving average of the generator weights -----------------------------------------------------
    def track_average(self, model: nn.Module) -> None:
        """`model` is what gets exported (and snapshotted). With --ema, keep an exponential moving average of
        its weights: it is what samples show and what is exported. GAN weights oscillate from step to step,
        and so do artefacts such as faint textures; the average keeps what is stable. Call after
        maybe_resume: a run resumed without a saved average starts one from the weights it resumed with."""
        self.exported = self.accelerator.unwrap_model(model)
        if self.args.ema <= 0:
            return
        self.average = AveragedModel(self.exported, multi_avg_fn=get_ema_multi_avg_fn(self.args.ema), use_buffers=True)
        saved = (self.warm_start_folder or self.checkpoint_dir()) / "ema.safetensors"
        if (self.args.resume or self.warm_start_folder) and saved.exists():
            weights, current = load_file(saved, device=str(self.device)), self.average.state_dict()
            if self.warm_start_folder and set(weights) < set(current):
                # the average holds `module.` + the network's keys: an optional module the run adds starts as it is
                missing = modules_added({k.removeprefix("module.") for k in current},
                                        {k.removeprefix("module.") for k in weights},
                                        getattr(self.exported, "optional_modules", ()))
                if isinstance(missing, str):
                    raise SystemExit(f"--warm-start: {saved} lacks {missing}, which this run's network has")
                weights = {**current, **weights}
            self.average.load_state_dict(weights)

    def inference_model(self, model: nn.Module) -> nn.Module:
        """The weights to sample and export: the moving average with --ema, else the model itself."""
        return self.average.module if self.average is not None else self.accelerator.unwrap_model(model)

    @contextlib.contextmanager
    def sampling(self, model: nn.Module):
        """The inference model in eval mode for drawing samples, put back in its own mode afterwards."""
        net = self.inference_model(model)
        training = net.training
        net.eval()
        try:
            yield net
        finally:
            net.train(training)

    def finite_step(self, optimizer) -> bool:
        """optimizer.step(), unless a gradient is not finite: then the update is skipped and counted (logged as
        `skipped_updates`), so one overflowing batch cannot turn every weight to NaN. Under fp16 mixed
        precision accelerate's gradient scaler does this itself (and must see every step to adjust its scale)."""
        if self.accelerator.scaler is None:
            parameters = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            # max_norm inf: measures the norm, changes nothing (get_total_norm needs torch 2.6)
            if parameters and not torch.isfinite(torch.nn.utils.clip_grad_norm_(parameters, float("inf"))):
                optimizer.zero_grad(set_to_none=True)
                self.skipped_updates += 1
                return False
        optimizer.step()
        return True

    # --- logging, samples, checkpoints -------------------------------------------------------------------
    def log(self, losses: dict[str, float]) -> None:
        if self.skipped_updates:
            losses = {**losses, "skipped_updates": float(self.skipped_updates)}
        if self.is_main:
            record = {"step": self.step, "seconds": round(self.wall_seconds, 1), **{k: round(v, 5) for k, v in losses.items()}}
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")

    def save_samples(self, rows: list[torch.Tensor]) -> None:
        """A grid, one row per tensor batch (same batch size), mapped from [-1, 1]."""
        if self.is_main:
            grid = torch.cat([r.detach().float().cpu() for r in rows])
            save_image(grid * 0.5 + 0.5, self.out / "samples" / f"{self.step:07d}.png", nrow=rows[0].shape[0])

    def checkpoint_dir(self) -> Path:
        return self.out / "checkpoint"

    def save_checkpoint(self) -> None:
        """Models, optimisers and RNG states through accelerate, plus our step counter; one rolling copy."""
        self.check_finite({})  # never overwrite the last good checkpoint with broken weights
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(self.checkpoint_dir())
        if self.is_main:
            if self.average is not None:
                save_file({k: v.contiguous() for k, v in self.average.state_dict().items()},
                          self.checkpoint_dir() / "ema.safetensors")
            (self.checkpoint_dir() / "run.json").write_text(
                json.dumps({"step": self.step, "wall_seconds": self.wall_seconds, "commands": self.commands,
                            "settings": training_settings(self.args)}))

    def save_snapshot(self) -> None:
        """The weights export() would write at this step, fp16, under the export's key names."""
        if self.is_main:
            path = snapshot_path(self.out, self.step)
            path.parent.mkdir(exist_ok=True)
            weights = self.inference_model(self.exported).state_dict()
            save_file({k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous() for k, v in weights.items()},
                      path)

    @property
    def warm_start_folder(self) -> Path | None:
        """--warm-start's folder, unless --resume (the run's own checkpoint wins)."""
        folder = getattr(self.args, "warm_start", None)
        return None if folder is None or self.args.resume else Path(folder)

    def maybe_resume(self) -> None:
        if self.warm_start_folder:
            self.warm_start(self.warm_start_folder)
        if not self.args.resume:
            return
        state = self.checkpoint_dir() / "run.json"
        if not state.exists():
            raise SystemExit(f"--resume: no checkpoint in {self.checkpoint_dir()}")
        self.accelerator.load_state(self.checkpoint_dir())
        saved = json.loads(state.read_text())
        self.step, self.elapsed_before = saved["step"], saved["wall_seconds"]
        self.commands = saved.get("commands", [saved.get("command")]) + [self.command]
        self.started = time.time()
        self.accelerator.print(f"resumed at step {self.step}")
        # allowed (a loss weight or the data may change on purpose), but never silently
        before, now = saved.get("settings"), training_settings(self.args)
        changed = [f"{k} {before.get(k)} -> {now.get(k)}" for k in sorted(before.keys() | now.keys())
                   if before.get(k) != now.get(k)] if before is not None else []
        if changed:
            self.accelerator.print("resumed with settings other than the checkpoint's: " + "; ".join(changed))

    def warm_start(self, folder: Path) -> None:
        """Load each prepared module's weights from another run's checkpoint (accelerate's names:
        model.safetensors, model_1.safetensors, ...), or from an export (config.json beside model.safetensors):
        the exported module's weights into the first prepared module, the generator (or the finisher), the
        others (discriminators) starting fresh. A tensor saved with 1 row where n are wanted is repeated
        (a discriminator given one output per style starts as the one it had); a module the network lists as
        optional (`optional_modules`: a head a flag adds, such as pix2pix's --palette-global) that the saved
        weights lack starts fresh and is named; any other mismatch is an error that names the tensor."""
        export = (Path(folder) / "config.json").exists()  # an export holds the generator only
        for i, module in enumerate(self.accelerator._models):
            path = Path(folder) / ("model.safetensors" if i == 0 else f"model_{i}.safetensors")
            if export and i > 0:
                continue  # the discriminators start fresh
            if not path.exists():
                raise SystemExit(f"--warm-start: {path} does not exist (a run's checkpoint folder or an export is wanted)")
            target = self.accelerator.unwrap_model(module)
            saved = load_file(path, device=str(self.device))
            if not saved:
                raise SystemExit(f"--warm-start: {path} holds no weights")
            if export and not set(saved) <= set(target.state_dict()):
                # an export is the network itself; a trainer may prepare a wrapper holding it as `.model`
                inner = getattr(target, "model", None)
                if not isinstance(inner, nn.Module) or not set(saved) <= set(inner.state_dict()):
                    raise SystemExit(f"--warm-start: the export {folder} is not this run's network (its weights "
                                     f"do not match the module this trainer prepares first)")
                target = inner
            wanted = target.state_dict()
            for key, tensor in wanted.items():
                old = saved.get(key)
                if old is not None and old.shape != tensor.shape and old.shape[0] == 1 and old.shape[1:] == tensor.shape[1:]:
                    saved[key] = old.expand_as(tensor).clone()
            mismatched = [k for k in wanted if k in saved and saved[k].shape != wanted[k].shape]
            if mismatched:
                raise SystemExit(f"--warm-start: {path} holds {mismatched[0]} as {tuple(saved[mismatched[0]].shape)}, "
                                 f"this run's is {tuple(wanted[mismatched[0]].shape)}")
            extra = sorted(set(saved) - set(wanted))
            if extra:
                raise SystemExit(f"--warm-start: {path} holds {extra[0]}, which this run's network does not have")
            added = modules_added(set(wanted), set(saved), getattr(target, "optional_modules", ()))
            if isinstance(added, str):
                raise SystemExit(f"--warm-start: {path} lacks {added}, which this run's network has")
            target.load_state_dict(saved, strict=False)  # what is missing is whole optional modules (checked above)
            if added:
                self.accelerator.print(f"--warm-start: {', '.join(added)} not in {path}: starts fresh")
        # the card then lists every session the weights come from: a checkpoint's run.json, or an export's
        # training.json (an export's weights are the prepared module's, in fp16)
        state, card = Path(folder) / "run.json", Path(folder) / "training.json"
        source = json.loads(state.read_text()) if state.exists() else {}
        if not source and card.exists():
            info = json.loads(card.read_text())
            source = {"commands": info.get("sessions", [info.get("command")]), "step": info.get("steps")}
        self.commands = [*source.get("commands", []),
                         f"(warm start from {folder} at its step {source.get('step', '?')}, counted from 0 again)",
                         self.command]
        self.accelerator.print(f"warm start from {folder}")

    def export(self, model: HubModel, training_info: dict) -> Path | None:
        """fp16 `model.safetensors` + `config.json` + `training.json` + model card in OUT/export."""
        self.accelerator.wait_for_everyone()
        if not self.is_main:
            return None
        folder = self.out / "export"
        folder.mkdir(parents=True, exist_ok=True)
        for stale in ("README.md", "model.safetensors", "config.json"):
            (folder / stale).unlink(missing_ok=True)
        half = copy.deepcopy(self.inference_model(model)).float().half().cpu()
        half.save_pretrained(folder)
        info = {"name": self.name, "command": self.command, "sessions": self.commands, "steps": self.step,
                "wall_seconds": round(self.wall_seconds), "batch_size": self.args.batch_size,
                "processes": self.accelerator.num_processes, "device": self.device.type,
                "mixed_precision": self.accelerator.mixed_precision, "seed": self.args.seed,
                "ema": self.args.ema, "recipe": self.args.recipe_settings,
                "torch": torch.__version__, **training_info}
        (folder / "training.json").write_text(json.dumps(info, indent=2))
        from training.model_card import write_model_card  # local import: keeps start-up light
        write_model_card(folder)
        if self.args.push_to_hub:
            from huggingface_hub import HfApi
            api = HfApi()
            api.create_repo(self.args.push_to_hub, exist_ok=True)
            commit = api.upload_folder(repo_id=self.args.push_to_hub, folder_path=folder,
                                       commit_message=f"{self.name}: {self.step} steps")
            print(f"pushed to {commit.commit_url}; pin revision {commit.oid}")
        return folder


SNAPSHOT_DIR = "snapshots"


def snapshot_path(out: Path, step: int) -> Path:
    """Where --snapshot-every keeps a step's weights; training.select_step reads them back from here."""
    return out / SNAPSHOT_DIR / f"step-{step:07d}.safetensors"


@contextlib.contextmanager
def frozen(*modules: nn.Module):
    """No parameter gradients for these modules inside the block (the discriminator during the generator
    step). Gradients still flow *through* them to the generator."""
    params = [p for m in modules for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


def data_version(folder: Path) -> dict:
    """The builder's manifest (data version, sources, licences) if the folder came from one."""
    for parent in [Path(folder), *Path(folder).parents]:
        manifest = parent / "manifest.json"
        if manifest.exists():
            m = json.loads(manifest.read_text())
            return {"data_version": m.get("data_version"), "data_size": m.get("size"), "sources": m.get("sources")}
    return {"data_version": f"user folder {folder}"}


def write_validation_list(args: argparse.Namespace, held_out) -> None:
    """OUT/validation.json: which files of args.train_a / args.train_b were held out, so a later step choice
    (training.select_step) uses exactly those."""
    names = {}
    for side, folder in (("a", args.train_a), ("b", args.train_b)):
        stems = (file_name(p, folder) for p in list_images(folder))
        names[side] = [stem for stem in stems if held_out(stem)]
    (args.out / "validation.json").write_text(json.dumps(
        {"fraction": args.val_fraction, "train_a": str(args.train_a), "train_b": str(args.train_b), **names}, indent=1))


# --- the unpaired data every two-domain trainer reads (CycleGAN, UNIT, MUNIT) --------------------------
def add_unpaired_data_args(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--dataroot", type=Path, help="folder with trainA/trainB (and testA/testB)")
    data.add_argument("--train-a", type=Path)
    data.add_argument("--train-b", type=Path)
    data.add_argument("--test-a", type=Path, help="held-out A images for the sample grids")
    data.add_argument("--test-b", type=Path)
    data.add_argument("--domain-a", default="A", help="name of domain A (goes into config.json)")
    data.add_argument("--domain-b", default="B")
    data.add_argument("--val-fraction", type=float, default=0.0, metavar="F",
                      help="hold out about this fraction of the training files (chosen by a hash of the file name, "
                           "so name-paired images go together) for choosing a step with training.select_step; "
                           "listed in OUT/validation.json, never trained on (0: train on all)")


def resolve_unpaired_data(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """--dataroot fills in the four folders; the rest is checked."""
    from training.data.folders import cyclegan_folders

    if args.dataroot:
        train_a, train_b = cyclegan_folders(args.dataroot)
        args.train_a, args.train_b = args.train_a or train_a, args.train_b or train_b
        test_a, test_b = cyclegan_folders(args.dataroot, "test")
        args.test_a = args.test_a or (test_a if test_a.is_dir() else None)
        args.test_b = args.test_b or (test_b if test_b.is_dir() else None)
    if not (args.train_a and args.train_b):
        parser.error("give --dataroot, or --train-a and --train-b")
    if not 0 <= args.val_fraction < 1:
        parser.error("--val-fraction must be in [0, 1)")


def unpaired_data(args: argparse.Namespace, run: Run, paired: bool = False, style_group=None,
                  partners: bool = False, references: bool = False):
    """(the training set without the validation hold-out, fixed held-out images for the sample grids); the
    hold-out is written to OUT/validation.json. paired: B is A's same-named image where there is one;
    style_group: a file name -> its style, for partners (each sample also gets another B image of its B
    image's style) and references (a random B image, and the styles' indices); see UnpairedDataset."""
    from training.data.folders import ImageFiles, UnpairedDataset, eval_transform, is_held_out

    held_out = lambda name: is_held_out(name, args.val_fraction)  # noqa: E731
    dataset = UnpairedDataset(args.train_a, args.train_b, args.image_size, keep=lambda name: not held_out(name),
                              paired=paired, style_group=style_group, references=references)
    for folder, files in ((args.train_a, dataset.a), (args.train_b, dataset.b)):
        if files.blank:
            run.accelerator.print(f"left out {len(files.blank)} single-colour image(s) of {folder}: "
                                  f"{', '.join(files.blank[:10])}{' ...' if len(files.blank) > 10 else ''}")
    if paired:
        if not dataset.partner:
            raise SystemExit(f"a paired loss needs images of the same file name in {args.train_a} and {args.train_b}; "
                             "there are none (set its weight to 0 to train unpaired)")
        run.accelerator.print(f"{len(dataset.partner)} of {len(dataset.a)} A images have a B image of the same name")
    if references:
        if len(dataset.group_names) < 2:
            raise SystemExit(f"a per-style adversarial loss needs B images named <style>-<code point> in two or more "
                             f"styles in {args.train_b}; found {dataset.group_names or 'none'} (set its weight to 0)")
        run.accelerator.print(f"B's styles: {', '.join(dataset.group_names)}")
    if partners:
        if not dataset.same_style:
            raise SystemExit(f"a style-partner loss needs B images named <style>-<code point>, two or more per style, "
                             f"in {args.train_b}; there are none (set its weight to 0)")
        run.accelerator.print(f"{len(dataset.same_style)} of {len(dataset.b)} B images have another of their style")
    if args.val_fraction > 0 and run.is_main:
        write_validation_list(args, held_out)
    fixed = {}  # held-out images for the sample grids (training images if no test folder was given)
    for side, folder in (("a", args.test_a or args.train_a), ("b", args.test_b or args.train_b)):
        files = ImageFiles(folder, args.image_size)
        fixed[side] = torch.stack([eval_transform()(files[i]) for i in range(min(8, len(files)))]).to(run.device)
    return dataset, fixed


def unpaired_info(args: argparse.Namespace) -> dict:
    """What training.json records about the data of a two-domain run."""
    return {"train_a": str(args.train_a), "train_b": str(args.train_b), "val_fraction": args.val_fraction,
            **data_version(args.train_a)}
