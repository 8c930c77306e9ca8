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
from tqdm import tqdm

import translator
from training.data.domains import DATA, load_folder
from translator.images import tensor_to_pil


def write(models: list[str], out: Path, data: Path = DATA, size: int = 64, target_size: int = 256,
          batch: int = 64) -> dict:
    manifest = {}
    for name in models:
        t = translator.load(name, device="cpu")
        for direction in t.directions:
            source, target = t.domains if direction == "a2b" else t.domains[::-1]
            inputs, targets = data / f"emoji-{size}" / source / "train", data / f"emoji-{target_size}" / target / "train"
            if not inputs.is_dir() or not targets.is_dir():
                raise SystemExit(f"{name} {direction}: needs {inputs} and {targets} (training.data.emoji, "
                                 f"training.data.sketch)")
            keys, images = load_folder(inputs, t.image_size)
            keep = [i for i, k in enumerate(keys) if (targets / f"{k}.png").exists()]
            folder = out / f"{name}-{direction}"
            folder.mkdir(parents=True, exist_ok=True)
            with torch.inference_mode():
                for start in tqdm(range(0, len(keep), batch), desc=f"{name} {direction}"):
                    index = keep[start:start + batch]
                    outputs = t.translate_tensor(images[index], direction).clamp(-1, 1)
                    for i, y in zip(index, outputs):
                        tensor_to_pil(y).save(folder / f"{keys[i]}.png")
            manifest[folder.name] = {"model": name, "direction": direction, "inputs": str(inputs),
                                     "targets": str(targets), "images": len(keep)}
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
