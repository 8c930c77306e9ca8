"""Translator Studio: classic GAN image-to-image translation behind one small API.

    import translator
    translator.list_models()                         # the shipped models
    t = translator.load("cyclegan-noto2twemoji")     # or a Hub repo id, or a local folder
    image = t.translate("face.png", direction="a2b") # PIL in or path/array in, PIL out
    t.provenance                                     # where the weights came from
    translator.load(name, finishing=True)           # with the optional x4 finishing stage for display
    translator.load(name, fast=True)                 # ONNX Runtime on a CPU, where it is measured faster
    translator.families()                            # every registered family and what it offers

Nothing here imports gradio or the training code.
"""
from __future__ import annotations

import json
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

# On a shared CPU (a laptop, a 2-vCPU Space) OpenMP spin-waiting makes torch 2-30x slower next to another
# busy process; PASSIVE costs a few percent when alone. Only takes effect if torch is not imported yet.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from safetensors import SafetensorError  # noqa: E402

from .base import Family, Provenance, Translator, raw_output  # noqa: E402
from .errors import ImageError, OptionsError, TranslatorError, WeightsError, WeightsNotFoundError  # noqa: E402
from .fast_path import FastPath  # noqa: E402
from .finishing import load_finishing  # noqa: E402
from .hub import SHIPPED, resolve  # noqa: E402
from .options import OPTIONS  # noqa: E402
from .registry import FAMILIES, discover, get_family, register  # noqa: E402

__all__ = ["list_models", "load", "families", "register", "Family", "Translator", "Provenance", "TranslatorError",
           "ImageError", "OptionsError", "WeightsNotFoundError", "WeightsError", "FAMILIES", "OPTIONS",
           "pick_device", "raw_output"]

discover()


def list_models(family: str | None = None) -> list[str]:
    """Names of the shipped models (of one family if given), usable with `load` offline (bundled copies)."""
    return [name for name, m in SHIPPED.items() if family is None or m.family == family]


def families() -> dict[str, Family]:
    return dict(FAMILIES)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


CACHE_SIZE = int(os.environ.get("TRANSLATOR_CACHE_SIZE", "8"))  # loaded models kept per process (LRU)
# and at most this many MB of their PyTorch weights: any Hub repo may hold up to base.MAX_PARAMETERS (3.2 GB
# in fp32), and a free Space has 16 GB for everything. A model's ONNX fast path holds a second copy of its
# weights, so the models' memory can reach about twice this. The model just loaded always stays.
CACHE_MB = float(os.environ.get("TRANSLATOR_CACHE_MB", "3072"))
_cache: OrderedDict[tuple, Translator] = OrderedDict()
_building: dict[tuple, threading.Lock] = {}  # one lock per model being loaded: others are not held up
_guard = threading.Lock()  # held only for dictionary updates, never while loading


def load(name_or_repo: str, family: str | None = None, *, revision: str | None = None,
         device: str | torch.device | None = None, warm_up: bool = True, allow_local: bool = True,
         finishing: bool = False, fast: bool | str = False) -> Translator:
    """A ready translator for a shipped model name, a Hub repo id or a local folder (cached per process,
    the CACHE_SIZE most recently used).

    family: the family the caller needs; weights of another family are a WeightsError that says so.
    allow_local: whether a name may be a folder on this machine (a public app says no).
    finishing: attach the shipped finishing stage (x4 for display, translator/finishing.py) to models whose
    output is small enough to gain from it; `translate` then returns the finished image (raw in .info["raw"]).
    Off by default here, so the API returns what the model computed (every metric is measured on that); the
    app turns it on (it beat bicubic on every held-out set, models' outputs included: see its model card).
    fast: on a CPU, run the translation graph with ONNX Runtime where that is measured faster than PyTorch
    (translator/fast_path.py: exported once into a cache folder, checked against PyTorch at load; the reason
    it is not used, if it is not, in `t.fast_path.report`). "always": skip the timing; "background": build
    and time it on a background thread, eager PyTorch until it is ready (`t.fast_path.wait()`). Off by
    default here (the first load of a model pays the export); the app turns it on, in the background."""
    if family is not None:
        get_family(family)  # an unknown family asked for is the caller's mistake: say so
    device = pick_device(device)
    name = str(name_or_repo).strip()
    if allow_local and name not in SHIPPED and Path(name).expanduser().is_dir():
        name = str(Path(name).expanduser().resolve())  # one cache entry however the folder is spelled
    key = (name, revision, str(device), allow_local, finishing, fast)
    with _guard:
        if key in _cache:
            _cache.move_to_end(key)
        lock = _building.setdefault(key, threading.Lock())
    with lock:
        with _guard:
            t = _cache.get(key)
        if t is None:
            t = _load(name, revision, device, warm_up, allow_local, family)
            if finishing:
                t.finishing = finishing_for(t, warm_up)
            if fast:
                t.fast_path = FastPath(t, fast)
            with _guard:
                _cache[key] = t
                while len(_cache) > CACHE_SIZE or (len(_cache) > 1 and cached_mb() > CACHE_MB):
                    old, _ = _cache.popitem(last=False)
                    _building.pop(old, None)
    check_family(t.name, t.family_name, family)
    return t


def weights_mb(t: Translator) -> float:
    """The memory a loaded model's weights take (parameters and buffers, as stored on its device)."""
    tensors = [*t.model.parameters(), *t.model.buffers()]
    return sum(x.numel() * x.element_size() for x in tensors) / 2 ** 20


def cached_mb() -> float:
    return sum(weights_mb(t) for t in _cache.values())


def _load(name: str, revision: str | None, device: torch.device, warm_up: bool, allow_local: bool,
          family: str | None) -> Translator:
    provenance = resolve(name, revision, allow_local)
    try:
        return _build(name, provenance, device, warm_up, family)
    except WeightsError as err:
        shipped = SHIPPED.get(name)
        if shipped is None or provenance.source == "bundled":
            raise
        # a damaged Hub or cache copy of a shipped model must not take the app down
        fallback = Provenance("bundled", shipped.bundled, provenance.repo_id, provenance.revision,
                              note=f"the {provenance.source} copy is unusable: {err}",
                              fallback=f"the {'Hub' if provenance.source == 'hub' else 'cached'} copy is unusable")
        return _build(name, fallback, device, warm_up, family)


def finishing_for(t: Translator, warm_up: bool):
    """The shipped finishing stage if it suits this model, else None: a model is never unusable for want of it."""
    try:
        stage = load_finishing(t.device, warm_up)
    except TranslatorError as err:
        warnings.warn(f"No finishing stage ({err}); outputs are shown enlarged with Lanczos.", stacklevel=3)
        return None
    return stage if stage.applies_to(t.image_size) else None


def check_family(name: str, found: str, wanted: str | None) -> None:
    if wanted is not None and found != wanted:
        raise WeightsError(f"'{name}' is a {FAMILIES[found].title} model ({found}); this needs {wanted} "
                           f"({FAMILIES[wanted].title}). Shipped {wanted} models: "
                           f"{', '.join(list_models(wanted)) or 'none'}.")


def _build(name: str, provenance: Provenance, device: torch.device, warm_up: bool, wanted: str | None) -> Translator:
    config = read_config(provenance.path)
    check_family(name, config["family"], wanted)  # before building a network of the wrong family
    family = FAMILIES[config["family"]]
    try:
        family.network.check_config(config)
    except ValueError as err:
        raise WeightsError(f"{provenance.path / 'config.json'} is not a usable {family.name} config: {err}.") from None
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # denormals can make eager CPU convs 10x slower
    try:
        model = family.network.from_folder(provenance.path, config)
    except (SafetensorError, OSError) as err:
        raise WeightsError(f"{provenance.path / 'model.safetensors'} is truncated or not a safetensors file ({err}).") from None
    except TypeError as err:  # a config.json key the network does not take
        raise WeightsError(f"{provenance.path / 'config.json'} does not describe a {family.name} network: {err}") from None
    except (RuntimeError, ValueError) as err:  # missing/unexpected keys, shape mismatch, bad constructor values
        raise WeightsError(f"The weights in {provenance.path} do not fit the {family.name} network its "
                           f"config.json describes: {str(err).splitlines()[0]}") from None
    model = model.float().to(device).eval()
    translator = family.translator(name=name, model=model, config=config, provenance=provenance, device=device)
    if warm_up:
        translator.warm_up()
    return translator


def read_config(folder: Path) -> dict:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise WeightsError(f"{folder / 'config.json'} cannot be read as JSON ({err}).") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{folder / 'config.json'} holds {type(config).__name__}, not a JSON object.")
    get_family(config.get("family"))  # WeightsError naming the known families
    return config
