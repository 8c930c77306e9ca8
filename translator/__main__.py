"""Translate files and folders from the command line.

    python -m translator cyclegan-noto2twemoji face.png more/ -o out/ --direction a2b
    python -m translator --list
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

import translator
from translator.images import ImageError

SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def inputs(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        else:
            files.append(path)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m translator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", help="shipped model name, Hub repo id or local folder")
    parser.add_argument("inputs", nargs="*", type=Path, help="image files and/or folders")
    parser.add_argument("-o", "--out", type=Path, default=Path("translated"))
    parser.add_argument("--direction", default="a2b", choices=["a2b", "b2a"])
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--list", action="store_true", help="list the shipped models and exit")
    args = parser.parse_args(argv)
    if args.list or not args.model:
        for name in translator.list_models():
            print(f"{name}\t{translator.hub.SHIPPED[name].summary}")
        return 0
    files = inputs(args.inputs)
    if not files:
        parser.error("no input images")
    try:
        t = translator.load(args.model, revision=args.revision, device=args.device)
    except (translator.WeightsNotFoundError, translator.WeightsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    t.check_direction(args.direction)
    print(f"{args.model}: weights from {t.provenance}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in tqdm(files, desc="translating", unit="img"):
        try:
            t.translate(path, direction=args.direction).save(args.out / f"{path.stem}.png")
        except ImageError as err:
            failed += 1
            tqdm.write(f"skipped {path}: {err}", file=sys.stderr)
    print(f"{len(files) - failed} translated into {args.out}" + (f", {failed} skipped" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
