"""The finishing stage: a model's 64-px output -> a clean image four times larger, for display.

Every emoji and glyph model here works at 64 px (what a 2-core CPU can train). Scaling 64 px up to the
256-1024 px the app shows makes every GAN artefact (checkerboard, mottled colour, soft edges) four to
sixteen times bigger. This small super-resolution network is trained to undo exactly that: its inputs are
true renders of vector emoji and glyphs shrunk to 64 px and *degraded the way GAN outputs are* (blur, noise,
colour shifts, checkerboard, low-frequency mottling, sub-pixel misregistration); its targets are the same
drawings rendered at 256 px (`training/finishing.py`). So it cleans as it enlarges.

It is a stage of the pipeline, not a family: families' metrics are computed on their raw output, and this
stage is measured on its own (`python -m training.finishing_measure`). `Translator.translate` applies it
when the translator has one attached (`translator.load(..., finishing=True)`, for models of up to 128 px;
the app does, the API leaves it to the caller); version 2 also trained on the shipped models' real outputs
and beat bicubic on every held-out set, those outputs included (its card); the finished
image carries the raw one in `.info["raw"]`, and `translator.raw_output()` switches the stage off for the
calls inside it. The correction is applied at a strength per model (`strengths.json` beside the weights,
chosen by training.finishing_strength on the model's outputs of training inputs; 1 unless listed): MUNIT's
soft outputs get 0.35 of it, where the whole of it lost PSNR to bicubic.

Network: residual learning over bicubic upscaling (the network only predicts what bicubic gets wrong), a
few 3x3 convolutions at the *input* resolution, and a pixel shuffle to x4 at the end (ESPCN-style): all
the compute happens on 64x64 maps (measured: 17 ms per image on two threads of a 2-core Xeon).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import hub
from .base import HubModel, Provenance
from .errors import WeightsError, WeightsNotFoundError

FINISHER_NAME = "finisher-x4"


class Finisher(HubModel):
    """64 px -> 256 px (scale 4): bicubic upscaling plus a learned correction."""

    family = "finisher"

    def __init__(self, scale: int = 4, width: int = 32, n_layers: int = 4, channels: int = 3, image_size: int = 64):
        """image_size: the input size it was trained for (it runs at any size; it is fully convolutional)."""
        super().__init__()
        if not 1 <= scale <= 8:
            raise ValueError(f"scale must be between 1 and 8, got {scale}")
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.1, inplace=True)]
        for _ in range(n_layers - 1):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.1, inplace=True)]
        layers += [nn.Conv2d(width, channels * scale * scale, 3, padding=1), nn.PixelShuffle(scale)]
        self.body = nn.Sequential(*layers)
        nn.init.zeros_(self.body[-2].weight)  # start as plain bicubic: training only has to learn the fix
        nn.init.zeros_(self.body[-2].bias)

    def forward(self, x: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        """Nx3xHxW in [-1, 1] -> Nx3x(sH)x(sW), roughly in [-1, 1] (clamp for display). `strength` scales the
        learned correction: 0 is plain bicubic, 1 the finisher as trained."""
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        correction = self.body(x)
        return base + (correction if strength == 1 else strength * correction)


STRENGTHS_FILE = "strengths.json"
MEASUREMENTS = ("metrics.json", STRENGTHS_FILE)  # fetched beside the weights: what the stage's card measured


def model_of(title: str) -> str:
    """The model a measured set belongs to: the titles of model sets start with the model's name and a space."""
    return title.split(" ")[0]


def read_strengths(folder: Path) -> dict[str, float]:
    """The correction's strength per model (`{"strengths": {"<model name>": 0.35}}` in the finisher's folder,
    written by training.finishing_strength); a model not listed, or a file missing or unreadable, gets 1. An
    entry that is not a number in [0, 1] is left out (a downloaded folder is not trusted further)."""
    try:
        entries = json.loads((folder / STRENGTHS_FILE).read_text())["strengths"]
        return {str(name): float(value) for name, value in entries.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


class Finishing:
    """A loaded finisher: `apply` takes model outputs (Nx3xSxS in [-1, 1]) to S*scale, clamped.
    `strengths`: the correction's strength per model name (`strength_for`), where it was measured to need
    less than all of it (its card: on a soft model's outputs, squared error favours a blur)."""

    def __init__(self, model: Finisher, provenance: Provenance, device: torch.device,
                 strengths: dict[str, float] | None = None):
        self.model = model.float().to(device).eval()
        self.provenance = provenance
        self.device = device
        self.scale = model.scale
        self.strengths = dict(strengths or {})

    def strength_for(self, model_name: str) -> float:
        return self.strengths.get(model_name, 1.0)

    def applies_to(self, image_size: int) -> bool:
        """Worth using for a model of this output size: it was trained on 64-px inputs, and a model that
        already works at 256 px or more gains nothing from it."""
        return image_size * self.scale <= 512

    @torch.inference_mode()
    def apply(self, x: torch.Tensor, model_name: str | None = None) -> torch.Tensor:
        """`model_name`'s outputs finished at its strength (the whole correction for none)."""
        strength = 1.0 if model_name is None else self.strength_for(model_name)
        return self.model(x.to(self.device).float(), strength).clamp_(-1, 1)


def bundled_dir() -> Path:
    """The bundled copy: assets/finishing/<name> beside assets/models in a checkout (or $TRANSLATOR_ASSETS),
    translator/bundled_finishing/<name> in an installed wheel."""
    models = hub.bundled_models_dir()
    if models.name == "bundled":
        return models.parent / "bundled_finishing" / FINISHER_NAME
    return models.parent / "finishing" / FINISHER_NAME


def beats_bicubic(scores: dict) -> bool:
    """One set's scores (`{"finisher": {"psnr", "ssim"}, "bicubic": {...}}`): better than bicubic on both."""
    return all(scores["finisher"][k] > scores["bicubic"][k] for k in ("psnr", "ssim"))


def measured_on(model_name: str, folder: Path | None = None) -> bool | None:
    """Whether the stage's own measurement (its metrics.json) found it better than bicubic, in PSNR and in
    SSIM, on every set of this model's outputs; None where it has not measured this model. The app turns the
    stage on by default only where this is not False (a model it lost to bicubic on starts raw)."""
    try:
        sets = json.loads(((folder or bundled_dir()) / "metrics.json").read_text())["sets"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    mine = [m for name, m in sets.items() if model_of(name) == model_name]
    if not mine:
        return None
    return all(beats_bicubic(m) for m in mine)


_loaded: dict[str, Finishing] = {}
_lock = threading.Lock()


def load_finishing(device: str | torch.device = "cpu", warm_up: bool = True) -> Finishing:
    """The shipped finisher: from the Hub (the repo and revision in shipped.json) if reachable, else the bundled copy.
    Raises WeightsNotFoundError only when neither can be had (the translation then stays unfinished)."""
    device = torch.device(device)
    with _lock:
        if str(device) in _loaded:
            return _loaded[str(device)]
        bundled = bundled_dir()
        shipped_file = bundled / "shipped.json"
        if not shipped_file.exists():
            raise WeightsNotFoundError(f"No finishing stage is bundled ({shipped_file} is missing).")
        shipped = json.loads(shipped_file.read_text())
        try:
            folder = hub.download(shipped["repo_id"], shipped["revision"], (*hub.OPTIONAL_FILES, *MEASUREMENTS))
            provenance = Provenance("hub" if hub.hub_reachable() else "hub-cache", folder, shipped["repo_id"], shipped["revision"])
            finishing = _ready(folder, provenance, device, warm_up)
        except (WeightsNotFoundError, WeightsError) as err:
            provenance = Provenance("bundled", bundled, shipped["repo_id"], shipped["revision"], note=str(err))
            finishing = _ready(bundled, provenance, device, warm_up)
        _loaded[str(device)] = finishing
        return finishing


def _ready(folder: Path, provenance: Provenance, device: torch.device, warm_up: bool) -> Finishing:
    """The finisher in `folder`, checked and (with warm_up) run once: the first call is several times slower,
    so pay it at load, and a copy that builds but cannot run fails here, where the bundled one can stand in."""
    try:
        config = json.loads((folder / "config.json").read_text())
        if not isinstance(config, dict) or config.get("family") != "finisher":
            raise WeightsError(f"{folder / 'config.json'} does not describe a finisher")
        if config.get("channels", 3) != 3 or config.get("scale", 4) != 4:
            raise WeightsError(f"{folder / 'config.json'}: the pipeline takes a x4 finisher of RGB images")
        # the strengths come with the weights they were chosen for; a Hub copy of the same revision without the
        # file (uploaded before it existed) takes the bundled copy's
        strengths = read_strengths(folder if (folder / STRENGTHS_FILE).exists() else bundled_dir())
        finishing = Finishing(Finisher.from_folder(folder, config), provenance, device, strengths)
        if warm_up:
            finishing.apply(torch.ones(1, 3, 64, 64))
        return finishing
    except WeightsError:
        raise
    except Exception as err:  # noqa: BLE001  (a damaged copy: the caller falls back to the bundled one)
        raise WeightsError(f"The finisher in {folder} cannot be loaded: {type(err).__name__}: {err}") from None
