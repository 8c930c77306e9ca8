"""The family registry: every module of this package that is not part of the core is a family, and
registers itself by calling `register(Family(...))` at its bottom. Discovery imports them all, so adding a
family is adding its file; the loader, CLI, app, cards, evaluation and benchmark find it here."""
from __future__ import annotations

import importlib
import pkgutil

from .base import Family
from .errors import WeightsError
from .options import OPTIONS

CORE_MODULES = {"base", "errors", "hub", "images", "layers", "options", "registry", "tiling", "__main__"}
FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Make a family known. Its network and translator learn their family name from here (declared once)."""
    if family.name in FAMILIES and FAMILIES[family.name] is not family:
        raise ValueError(f"family {family.name!r} is registered twice")
    unknown = set(family.options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"family {family.name!r} declares unknown options {sorted(unknown)}")
    family.network.family = family.name
    family.translator.family_name = family.name
    FAMILIES[family.name] = family
    return family


def get_family(name) -> Family:
    if not isinstance(name, str) or name not in FAMILIES:
        raise WeightsError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}.")
    return FAMILIES[name]


def discover() -> dict[str, Family]:
    """Import every family module of this package (each registers itself)."""
    package = importlib.import_module(__package__)
    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in CORE_MODULES and not module.name.startswith("_"):
            importlib.import_module(f"{__package__}.{module.name}")
    return FAMILIES
