"""Domain names -> their held-out test images, for evaluation.

A model's config.json names its two domains. The data builders of this repo name theirs so that a domain
says where its test split is:

- an emoji vendor style (`noto`, `twemoji`, `fluent-flat`, ...): `data/emoji-<size>/<style>/test`, built
  by training.data.emoji if missing;
- `<style>-sketch`: line drawings of that style's emoji (training.data.sketch), written if missing;
- `emoji-drawing` / `emoji-colour`: the multimodal task's two sides, drawings and colour emoji pooled over
  vendors and skin tones, named `<style>-<key>` (training.data.multimodal), built if missing.

Images are keyed by file name (the emoji code point), so two domains' test splits pair up by key. Any
other domain is a user's own: give its test folder explicitly (`training.evaluate --test-a/--test-b`).
"""
from __future__ import annotations

from pathlib import Path

import torch

from training.data import emoji, sketch
from training.data.folders import ImageFiles, eval_transform, file_name

DATA = Path("data")
SKETCH_SUFFIX = "-sketch"


MULTIMODAL = {"emoji-drawing": "drawing", "emoji-colour": "colour"}


def test_folder(domain: str, size: int, data: Path = DATA) -> Path:
    """Where a domain's test split is; built first if it is one of this repo's and missing."""
    if domain in MULTIMODAL:
        from training.data import multimodal

        root = data / f"multimodal-{size}"
        if not (root / "manifest.json").exists():
            multimodal.build(root, size, source=data / f"emoji-{size}-skin", cache=data / "npm-cache")
        return root / MULTIMODAL[domain] / "test"
    root = data / f"emoji-{size}"
    style = domain.removesuffix(SKETCH_SUFFIX)
    if style not in emoji.STYLES:
        raise LookupError(f"no built-in test split for domain {domain!r} (known: emoji styles {', '.join(emoji.STYLES)} "
                          f"and their '<style>{SKETCH_SUFFIX}' drawings); give its test folder instead")
    if not (root / style / "test").is_dir():
        emoji.build(root, size, list(emoji.STYLES), data / "npm-cache", skin_tones=False, workers=2)
    if domain != style and not (root / domain / "test").is_dir():
        sketch.write_drawings(root, style)
    return root / domain / "test"


def load_folder(folder: Path, size: int, keys: set[str] | None = None) -> tuple[list[str], torch.Tensor]:
    """Keys (file names relative to the folder, no suffix) and Nx3xSxS [-1, 1] images, sorted by key."""
    files = ImageFiles(folder, size, keep=None if keys is None else (lambda name: name in keys))
    to_tensor = eval_transform()
    names = [file_name(p, folder) for p in files.files]
    return names, torch.stack([to_tensor(files[i]) for i in range(len(files))])


def paired(source: tuple[list[str], torch.Tensor], target: tuple[list[str], torch.Tensor]
           ) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """The keys both sets have, with their images in the same order."""
    (keys_s, images_s), (keys_t, images_t) = source, target
    common = sorted(set(keys_s) & set(keys_t))
    if not common:
        raise LookupError("the two test sets have no file name in common: pairing needs the same names")
    return common, images_s[[keys_s.index(k) for k in common]], images_t[[keys_t.index(k) for k in common]]
