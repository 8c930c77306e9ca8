"""Line drawings <-> colour emoji pooled over vendors and skin tones: the multimodal task (MUNIT).

    python -m training.data.multimodal --out data/multimodal-64 --size 64

One outline has several true colourings here -- each vendor's and each skin tone's -- so a style code has
something real to control. From the emoji builder's renders (with skin tones; built into
data/emoji-<size>-skin first if missing):

    OUT/colour/{train,test}/<style>-<key>.png     Noto, Twemoji, Fluent flat: the permissive colour styles
    OUT/drawing/{train,test}/<style>-<key>.png    the line drawing of each (training.data.sketch)
    OUT/manifest.json                             sources, licences, counts

The split is the emoji builder's (by base code point: a test emoji is unseen in every style and tone).
Train MUNIT with `--train-a OUT/drawing/train --train-b OUT/colour/train`. Never committed.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from torchvision.utils import save_image
from tqdm import tqdm

from training.data import emoji
from training.data.folders import ImageFiles
from training.data.sketch import line_drawing

COLOUR_STYLES = ("noto", "twemoji", "fluent-flat")


def build(out: Path, size: int = 64, styles: tuple[str, ...] = COLOUR_STYLES, source: Path | None = None,
          cache: Path = Path("data/npm-cache")) -> dict:
    source = source or Path(f"data/emoji-{size}-skin")
    if not (source / "manifest.json").exists():
        emoji.build(source, size, list(styles), cache, skin_tones=True, workers=2)
    counts = {}
    for split in ("train", "test"):
        (out / "colour" / split).mkdir(parents=True, exist_ok=True)
        (out / "drawing" / split).mkdir(parents=True, exist_ok=True)
        n = 0
        for style in styles:
            files = ImageFiles(source / style / split, size=0, cache=False)
            for i, path in enumerate(tqdm(files.files, desc=f"{style} {split}", leave=False)):
                name = f"{style}-{path.stem}.png"
                shutil.copy2(path, out / "colour" / split / name)
                save_image(line_drawing(files.decode(i).float() / 255), out / "drawing" / split / name)
                n += 1
        counts[split] = n
    sources = json.loads((source / "manifest.json").read_text())["sources"]
    manifest = {"data_version": f"{emoji.DATA_VERSION}-multimodal", "size": size, "styles": list(styles),
                "skin_tones": True, "counts": counts, "sources": {s: sources[s] for s in styles},
                "split": "the emoji builder's: by base code point; skin tones follow their base"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/multimodal-64"))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--source", type=Path, help="an emoji build with skin tones (default data/emoji-SIZE-skin)")
    args = parser.parse_args(argv)
    print(json.dumps(build(args.out, args.size, source=args.source)["counts"]))


if __name__ == "__main__":
    main()
