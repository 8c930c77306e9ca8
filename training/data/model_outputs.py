"""Real GAN outputs for the finishing stage: each shipped model's 64-px translations of the *training* split,
paired with the true 256-px render of what it translated into.

    python -m training.data.model_outputs --out data/model-outputs-64 --models cyclegan-noto2twemoji pix2pix-sketch2emoji munit-drawing2emoji

Synthetic degradations (training/finishing.py `degrade`) imitate a GAN's blur, mottling and checkerboard;
these are the real thing, with the real content errors too. Trained on, they teach the finisher what a
model's output should be enlarged to: sharp where the output is sure, smooth where its detail is noise.
Only training-split code points are written (the test split stays held out for `training.finishing_measure`).

    OUT/<model>-<direction>/<key>.png      the model's raw 64-px output
    OUT/<model>-<vendor>/<key>.png         a drawing -> colour MUNIT's: each outline of that vendor's emoji in
                                           the style of its own colour image (own_style_split)
    OUT/manifest.json                      per folder: the model, its input folder, the target folder (256 px)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

import translator
from training.data.domains import DATA
from training.data.multimodal import COLOUR_STYLES as MULTIMODAL_STYLES  # the vendors of its colour images
from translator.images import pil_to_tensor, tensor_to_pil


def translated_split(t, direction: str, split: str, data64: Path, data256: Path, batch: int = 32,
                     limit: int | None = None):
    """One direction of a model over one split of the emoji data (64-px inputs, 256-px truths): (keys, the
    model's outputs Nx3xSxS in [-1, 1], the input folder, the target folder) for the inputs whose target has
    a render; None when either folder is missing. Shared by `write` (training split) and
    training.finishing_measure (test split)."""
    source, target = t.domains if direction == "a2b" else t.domains[::-1]
    inputs, targets = data64 / source / split, data256 / target / split
    if not (inputs.is_dir() and targets.is_dir()):
        return None
    keys = sorted(p.stem for p in inputs.glob("*.png") if (targets / p.name).exists())
    keys = keys[evenly(len(keys), limit)]  # with `limit`, every k-th only, before translating
    x = torch.cat([pil_to_tensor(Image.open(inputs / f"{k}.png")) for k in keys])
    with torch.inference_mode():
        outs = torch.cat([t.translate_tensor(x[i:i + batch], direction)
                          for i in tqdm(range(0, len(x), batch), desc=f"{t.name} {direction}", leave=False)])
    return keys, outs.clamp(-1, 1), inputs, targets


def evenly(n: int, limit: int | None) -> slice:
    """Every k-th of n items, so that at most `limit` remain (all of them without a limit)."""
    return slice(None, None, max(1, -(-n // limit)) if limit else 1)


def own_style_split(t, split: str, multimodal: Path, data256: Path, batch: int = 32, limit: int | None = None):
    """A drawing -> colour MUNIT over one split of the multimodal data: each outline (`<vendor>-<key>`) decoded
    with the style read off its own colour image, the one style whose true 256-px render exists (that vendor's
    emoji of the key). (keys, outputs Nx3xSxS in [-1, 1], the vendor of each, the truth's path of each); outlines
    without a colour image or a render are left out, and with `limit` only every k-th is translated (`evenly`).
    Shared by `write` and training.finishing_measure."""
    drawings, colours = multimodal / "drawing" / split, multimodal / "colour" / split
    keys, vendors, truths = [], [], []
    for path in sorted(drawings.glob("*.png")):
        vendor = next((v for v in MULTIMODAL_STYLES if path.stem.startswith(f"{v}-")), None)
        truth = data256 / str(vendor) / split / f"{path.stem.removeprefix(f'{vendor}-')}.png"
        if vendor and (colours / path.name).exists() and truth.exists():
            keys.append(path.stem)
            vendors.append(vendor)
            truths.append(truth)
    every = evenly(len(keys), limit)
    keys, vendors, truths = keys[every], vendors[every], truths[every]
    load = lambda folder, k: pil_to_tensor(Image.open(folder / f"{k}.png"))  # noqa: E731
    outs = []
    with torch.inference_mode():
        for i in tqdm(range(0, len(keys), batch), desc=f"{t.name} own styles", leave=False):
            x = torch.cat([load(drawings, k) for k in keys[i:i + batch]])
            style = torch.cat([load(colours, k) for k in keys[i:i + batch]])
            outs.append(t.translate_tensor(x, "a2b", reference=style).clamp(-1, 1))
    return keys, torch.cat(outs) if outs else torch.empty(0, 3, t.image_size, t.image_size), vendors, truths


def write(models: list[str], out: Path, data: Path = DATA, size: int = 64, target_size: int = 256,
          limit: int | None = None) -> dict:
    """limit: at most this many images per model and direction (a MUNIT's own-style set counts as one), taken
    evenly over the sorted keys, so that no one model's outputs dominate the finisher's training."""
    manifest = {}
    for name in models:
        t = translator.load(name, device="cpu")
        label = Path(name).name  # a shipped name, or a model folder's name
        if t.family_name == "munit":
            multimodal = data / f"multimodal-{size}"
            keys, outputs, vendors, _ = own_style_split(t, "train", multimodal, data / f"emoji-{target_size}",
                                                        limit=limit)
            if not keys:
                raise SystemExit(f"{name}: needs the multimodal training split at {multimodal} (training.data.multimodal) "
                                 f"and its vendors' {target_size}-px renders (training.data.emoji)")
            for vendor in sorted(set(vendors)):
                folder = out / f"{label}-{vendor}"
                folder.mkdir(parents=True, exist_ok=True)
                mine = [(k, y) for k, y, v in zip(keys, outputs, vendors) if v == vendor]
                for key, y in mine:
                    tensor_to_pil(y).save(folder / f"{key.removeprefix(f'{vendor}-')}.png")
                manifest[folder.name] = {"model": name, "direction": "a2b, each outline in its own emoji's style",
                                         "inputs": str(multimodal / "drawing" / "train"),
                                         "targets": str(data / f"emoji-{target_size}" / vendor / "train"), "images": len(mine)}
            continue
        for direction in t.directions:
            split = translated_split(t, direction, "train", data / f"emoji-{size}", data / f"emoji-{target_size}",
                                     limit=limit)
            if split is None:
                raise SystemExit(f"{name} {direction}: needs its training split at {size} and {target_size} px in "
                                 f"{data} (training.data.emoji, training.data.sketch)")
            keys, outputs, inputs, targets = split
            folder = out / f"{label}-{direction}"
            folder.mkdir(parents=True, exist_ok=True)
            for key, y in zip(keys, outputs):
                tensor_to_pil(y).save(folder / f"{key}.png")
            manifest[folder.name] = {"model": name, "direction": direction, "inputs": str(inputs),
                                     "targets": str(targets), "images": len(keys)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def pairs(root: Path) -> list[tuple[Path, Path]]:
    """(64-px model output, 256-px true render) for every image a `write` left in root."""
    manifest = json.loads((root / "manifest.json").read_text())
    return [(path, Path(entry["targets"]) / path.name) for folder, entry in manifest.items()
            for path in sorted((root / folder).glob("*.png"))]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DATA / "model-outputs-64")
    parser.add_argument("--models", nargs="+", default=translator.list_models())
    parser.add_argument("--limit", type=int, help="at most this many images per model and direction")
    args = parser.parse_args(argv)
    print(json.dumps(write(args.models, args.out, limit=args.limit), indent=1))


if __name__ == "__main__":
    main()
