"""The options `translate` can take, defined once for every family.

A family lists the names it accepts (`Translator.options`); the base translator checks every value here
before anything runs, so a wrong option is a clear `OptionsError`, never a shape error deep in a network.
The app builds its controls and the CLI its flags from the same definitions.

    seed        an int in [0, 2**32): makes random choices (style, posterior sample) repeatable
    sample      True: draw from the posterior instead of using its mean (UNIT)
    style       a list of `style_dim` finite floats: the style code (MUNIT)
    reference   one image whose style is copied (MUNIT)
    references  1-20 images of a class never seen in training (FUNIT, few-shot)
    tiled       True: translate at the input's own size, in blended model-size tiles (translator.tiling)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .errors import ImageError, OptionsError

MAX_SEED = 2 ** 32 - 1
STYLE_LIMIT = 10.0  # style codes are ~N(0, 1); beyond this a slider or a typo, not a style
MAX_REFERENCES = 20


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    check: Callable[[Any, Any], Any]  # (value, translator) -> the value the network uses, or OptionsError
    refusal: str = ""  # why a family may lack it, for the message that names the families that take it


def _seed(value, t) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise OptionsError(f"seed must be a whole number, got {value!r}.")
    if isinstance(value, (float, np.floating)) and not float(value).is_integer():
        raise OptionsError(f"seed must be a whole number, got {value!r}.")
    if not 0 <= value <= MAX_SEED:
        raise OptionsError(f"seed must be between 0 and {MAX_SEED}, got {int(value)}.")
    return int(value)


def _sample(value, t) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise OptionsError(f"sample must be True or False, got {value!r}.")
    return bool(value)


def _tiled(value, t) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise OptionsError(f"tiled must be True or False, got {value!r}.")
    if value and (why := t.native_refusal()):
        raise OptionsError(why)
    return bool(value)


def _style(value, t) -> torch.Tensor:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise OptionsError(f"style must be a list of {t.style_dim} numbers, got {type(value).__name__}.")
    try:
        values = [float(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    except (TypeError, ValueError):
        raise OptionsError(f"style must be a list of {t.style_dim} numbers.") from None
    if len(values) != t.style_dim:
        raise OptionsError(f"style must have {t.style_dim} numbers (this model's style_dim), got {len(values)}.")
    if not all(math.isfinite(v) for v in values):
        raise OptionsError("style must hold finite numbers (no NaN or infinity).")
    if any(abs(v) > STYLE_LIMIT for v in values):
        raise OptionsError(f"style values must lie within ±{STYLE_LIMIT:g} (style codes are about N(0, 1)).")
    return torch.tensor([values], dtype=torch.float32, device=t.device)


def _reference(value, t) -> torch.Tensor:
    if value is None:
        raise OptionsError("reference must be an image.")
    return t.prepare_reference(value)


def _references(value, t) -> torch.Tensor:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise OptionsError(f"references must be a list of 1 to {MAX_REFERENCES} images.")
    if not 1 <= len(value) <= MAX_REFERENCES:
        raise OptionsError(f"references takes 1 to {MAX_REFERENCES} images, got {len(value)}.")
    prepared = []
    for i, image in enumerate(value):
        try:
            prepared.append(t.prepare_reference(image))
        except ImageError as err:  # say which one: "Reference 2 of 3: ..."
            raise ImageError(f"Reference {i + 1} of {len(value)}: {err}") from None
    return torch.cat(prepared)


OPTIONS: dict[str, Option] = {o.name: o for o in [
    Option("seed", "whole number in [0, 2**32): repeatable random choices", _seed),
    Option("sample", "draw from the posterior instead of using its mean", _sample),
    Option("style", "the style code: a list of style_dim numbers", _style),
    Option("reference", "an image whose style is copied", _reference),
    Option("references", f"1-{MAX_REFERENCES} images of the target class (few-shot)", _references),
    Option("tiled", "translate at the input's own resolution, in overlapping model-size tiles", _tiled,
           refusal="translating at full resolution in tiles is for families whose generator is fully convolutional"),
]}


def check_options(t, given: dict[str, Any]) -> dict[str, Any]:
    """Validate `given` against what the translator's family accepts; None means "not given"."""
    given = {k: v for k, v in given.items() if v is not None}
    unknown = [k for k in given if k not in t.options]
    if len(unknown) == 1 and (option := OPTIONS.get(unknown[0])) is not None and option.refusal:
        from .registry import FAMILIES  # (the registry imports this module)
        able = ", ".join(f.title for f in FAMILIES.values() if option.name in f.options)
        raise OptionsError(f"{t.family_name} does not take {option.name!r}: {option.refusal} ({able}).")
    if unknown:
        takes = ", ".join(t.options) if t.options else "no options"
        raise OptionsError(f"{t.family_name} does not take {', '.join(map(repr, unknown))}; it takes {takes}.")
    return {name: OPTIONS[name].check(value, t) for name, value in given.items()}
