"""Translator Studio: classic GAN image-to-image translation behind one small API.

    import translator
    translator.list_models()                         # the shipped models
    t = translator.load("cyclegan-noto2twemoji")     # or a Hub repo id, or a local folder
    image = t.translate("face.png", direction="a2b") # PIL in or path/array in, PIL out
    t.provenance                                     # where the weights came from

Nothing here imports gradio or the training code.
"""
from __future__ import annotations

import importlib
import json
import threading
from pathlib import Path

import torch
from safetensors import SafetensorError

from .base import Provenance, Translator
from .hub import SHIPPED, WeightsNotFoundError, resolve
from .images import ImageError

__all__ = ["list_models", "load", "Translator", "Provenance", "ImageError", "WeightsNotFoundError",
           "WeightsError", "FAMILIES", "pick_device"]

# family -> (module, model class, translator class); one file per family
FAMILIES = {
    "cyclegan": ("cyclegan", "CycleGAN", "CycleGANTranslator"),
    "pix2pix": ("pix2pix", "Pix2Pix", "Pix2PixTranslator"),
}


class WeightsError(ValueError):
    """Weights were found but cannot be used (damaged file, unknown family, wrong shapes)."""


def list_models() -> list[str]:
    """Names of the shipped models, usable with `load` offline (their copies are bundled)."""
    return list(SHIPPED)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


_cache: dict[tuple, Translator] = {}
_lock = threading.Lock()


def load(name_or_repo: str, revision: str | None = None, device: str | torch.device | None = None,
         warm_up: bool = True) -> Translator:
    """A ready translator for a shipped model name, a Hub repo id or a local folder (cached per process)."""
    device = pick_device(device)
    name = str(name_or_repo)
    key = (name, revision, str(device))
    with _lock:
        if key not in _cache:
            provenance = resolve(name_or_repo, revision)
            try:
                _cache[key] = _build(name, provenance, device, warm_up)
            except WeightsError as err:
                shipped = SHIPPED.get(name)
                if shipped is None or provenance.source == "bundled":
                    raise
                # a damaged Hub or cache copy of a shipped model must not take the app down
                fallback = Provenance("bundled", shipped.bundled, provenance.repo_id, provenance.revision,
                                      note=f"the {provenance.source} copy is unusable: {err}")
                _cache[key] = _build(name, fallback, device, warm_up)
        return _cache[key]


def _build(name: str, provenance: Provenance, device: torch.device, warm_up: bool) -> Translator:
    config = read_config(provenance.path)
    module_name, model_name, translator_name = FAMILIES[config["family"]]
    module = importlib.import_module(f".{module_name}", __name__)
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # denormals can make eager CPU convs 10x slower
    try:
        model = getattr(module, model_name).from_pretrained(provenance.path, strict=True, map_location="cpu")
    except (SafetensorError, OSError) as err:
        raise WeightsError(f"{provenance.path / 'model.safetensors'} is truncated or not a safetensors file ({err}).") from None
    except RuntimeError as err:  # missing/unexpected keys or shape mismatch
        raise WeightsError(f"The weights in {provenance.path} do not fit the {config['family']} network its "
                           f"config.json describes: {str(err).splitlines()[0]}") from None
    model = model.float().to(device).eval()
    translator = getattr(module, translator_name)(name=name, model=model, config=config, provenance=provenance,
                                                  device=device)
    if warm_up:
        translator.warm_up()
    return translator


def read_config(folder: Path) -> dict:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise WeightsError(f"{folder / 'config.json'} cannot be read as JSON ({err}).") from None
    family = config.get("family") if isinstance(config, dict) else None
    if family not in FAMILIES:
        raise WeightsError(f"{folder / 'config.json'} names family {family!r}; known: {', '.join(FAMILIES)}.")
    return config
