"""Real GAN outputs for the finishing stage: each shipped model's 64-px translations of the *training* split,
paired with the true 256-px render of what it translated into.

    python -m training.data.model_outputs --out data/model-outputs-64 --models cyclegan-noto2twemoji pix2pix-sketch2emoji

Synthetic degradations (training/finishing.py `degrade`) imitate a GAN's blur, mottling and checkerboard;
these are the real thing, with the real content errors too. Trained on, they teach the finisher what a
model's output should be enlarged to: sharp where the output is sure, smooth where its detail is noise.
Only training-split code points are written (the test split stays held out for `training.finishing_measure`).

    OUT/<model>-<direction>/<key>.png      the model's raw 64-px output
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
from translator.images import pil_to_tensor, tensor_to_pil


def translated_split(t, direction: str, split: str, data64: Path, data256: Path, batch: int = 32):
    """One direction of a model over one split of the emoji data (64-px inputs, 256-px truths): (keys, the
    model's outputs Nx3xSxS in [-1, 1], the input folder, the target folder) for the inputs whose target has
    a render; None when either folder is missing. Shared by `write` (training split) and
    training.finishing_measure (test split)."""
    source, target = t.domains if direction == "a2b" else t.domains[::-1]
    inputs, targets = data64 / source / split, data256 / target / split
    if not (inputs.is_dir() and targets.is_dir()):
        return None
    keys = sorted(p.stem for p in inputs.glob("*.png") if (targets / p.name).exists())
    x = torch.cat([pil_to_tensor(Image.open(inputs / f"{k}.png")) for k in keys])
    with torch.inference_mode():
        outs = torch.cat([t.translate_tensor(x[i:i + batch], direction)
                          for i in tqdm(range(0, len(x), batch), desc=f"{t.name} {direction}", leave=False)])
    return keys, outs.clamp(-1, 1), inputs, targets


def write(models: list[str], out: Path, data: Path = DATA, size: int = 64, target_size: int = 256) -> dict:
    manifest = {}
    for name in models:
        t = translator.load(name, device="cpu")
        for direction in t.directions:
            split = translated_split(t, direction, "train", data / f"emoji-{size}", data / f"emoji-{target_size}")
            if split is None:
                raise SystemExit(f"{name} {direction}: needs its training split at {size} and {target_size} px in "
                                 f"{data} (training.data.emoji, training.data.sketch)")
            keys, outputs, inputs, targets = split
            folder = out / f"{name}-{direction}"
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
    args = parser.parse_args(argv)
    print(json.dumps(write(args.models, args.out), indent=1))


if __name__ == "__main__":
    main()
