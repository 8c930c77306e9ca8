"""Pack built image folders into one lzma file of raw pixels, and unpack it again, pixel for pixel.

    python -m training.data.pack pack gpu/emoji.xz data/emoji-64/noto data/multimodal-64 ...
    python -m training.data.pack unpack gpu/emoji.xz          # writes the same paths back

For carrying data to a lent GPU machine, whose call takes at most 64 MiB: PNGs of flat emoji and glyphs
compress far better as raw pixels under one lzma stream (identical images stored once) than one by one
(data/emoji-64 and data/multimodal-64: 39 MB of gzipped PNGs, 10 MB packed). PNGs of the modes the builders
write (RGB, RGBA, L, LA, I;16) are stored as pixels; every other file travels byte for byte. Never
committed: the packs are built data.
"""
from __future__ import annotations

import base64
import hashlib
import json
import lzma
import sys
from pathlib import Path

from PIL import Image


PIXEL_MODES = ("RGB", "RGBA", "L", "LA", "I;16")  # what tobytes/frombytes give back exactly (no palette)


def pack(out: str, sources: list[str]) -> None:
    entries, images, index, files = [], [], {}, []
    for source in sources:
        root = Path(source)
        if not root.exists():
            raise SystemExit(f"{source}: no such file or folder (build the data first)")
        for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            image = Image.open(path) if path.suffix.lower() == ".png" else None
            if image is None or image.mode not in PIXEL_MODES or "transparency" in image.info:
                if image is not None:
                    image.close()
                files.append([str(path), base64.b64encode(path.read_bytes()).decode()])
                continue
            with image:
                image.load()
                raw = image.tobytes()
                key = hashlib.sha1(raw + image.mode.encode() + repr(image.size).encode()).hexdigest()
                if key not in index:
                    index[key] = len(images)
                    images.append((image.mode, image.size, raw))
            entries.append([str(path), index[key]])
    header = json.dumps({"entries": entries, "files": files,
                         "images": [[mode, size, len(raw)] for mode, size, raw in images]}).encode()
    with lzma.open(out, "wb", preset=6) as f:
        f.write(len(header).to_bytes(8, "little"))
        f.write(header)
        for _, _, raw in images:
            f.write(raw)
    print(f"{len(entries)} files ({len(images)} distinct images) packed into {out}")


def unpack(source: str) -> None:
    with lzma.open(source, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        images = [Image.frombytes(mode, tuple(size), f.read(length)) for mode, size, length in header["images"]]
    for path, data in header["files"]:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(data))
    folders = set()
    for path, i in header["entries"]:
        path = Path(path)
        if path.parent not in folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            folders.add(path.parent)
        images[i].save(path, compress_level=1)
    print(f"{len(header['entries'])} files unpacked from {source}")


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("pack", "unpack"):
        raise SystemExit(__doc__)
    pack(sys.argv[2], sys.argv[3:]) if sys.argv[1] == "pack" else unpack(sys.argv[2])
