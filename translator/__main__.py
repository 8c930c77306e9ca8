"""Translate files and folders from the command line.

    translator cyclegan-noto2twemoji face.png more/ -o out/ --direction b2a
    translator --list
    python -m translator ...                                # the same, from a checkout

A folder is translated whole, keeping its subfolders under -o (a/x.png -> OUT/a/x.png). The options a
family takes (see `translator --list`) are flags here; a model that does not take one says so.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

import translator
from translator.errors import ImageError, OptionsError, TranslatorError

SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def inputs(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(file, where its output goes relative to -o): a folder keeps its structure below its own name."""
    files = []
    for path in paths:
        if path.is_dir():
            for p in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
                files.append((p, Path(path.name) / p.relative_to(path).with_suffix(".png") if len(paths) > 1
                              else p.relative_to(path).with_suffix(".png")))
        else:
            files.append((path, Path(path.stem + ".png")))
    return files


def parse_style(text: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--style takes numbers separated by commas, got {text!r}") from None


def listing() -> str:
    lines = []
    for name in translator.list_models():
        shipped = translator.hub.SHIPPED[name]
        lines.append(f"{name}\t{shipped.summary}")
    lines.append("")
    for family in translator.families().values():
        takes = ", ".join(family.options) or "no options"
        lines.append(f"family {family.name}: directions {', '.join(family.directions)}; options: {takes}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    directions = sorted({d for f in translator.families().values() for d in f.directions})
    parser = argparse.ArgumentParser(prog="translator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", help="shipped model name, Hub repo id or local folder")
    parser.add_argument("inputs", nargs="*", type=Path, help="image files and/or folders")
    parser.add_argument("-o", "--out", type=Path, default=Path("translated"),
                        help="output folder (default: ./translated); PNGs, subfolders kept")
    parser.add_argument("--direction", default=None, choices=directions,
                        help="a2b or b2a (default: the model's first direction)")
    parser.add_argument("--seed", type=int, help="repeatable random choices (families that sample)")
    parser.add_argument("--sample", action="store_true", default=None, help="draw from the posterior (UNIT)")
    parser.add_argument("--style", type=parse_style, help="a style code, comma-separated numbers (MUNIT)")
    parser.add_argument("--reference", type=Path, help="an image whose style is copied (MUNIT)")
    parser.add_argument("--references", type=Path, nargs="+", help="1-20 images of the target class (FUNIT)")
    parser.add_argument("--tiled", action="store_true", default=None,
                        help="translate at the input's own resolution, in overlapping tiles (CycleGAN, pix2pix, U-GAT-IT)")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--list", action="store_true", help="list the shipped models and the families, and exit")
    args = parser.parse_args(argv)
    if args.list or not args.model:
        print(listing())
        return 0
    files = inputs(args.inputs)
    if not files:
        parser.error("no input images")
    seen: dict[Path, Path] = {}
    for path, relative in files:  # never let two inputs overwrite one output
        if relative in seen:
            parser.error(f"{seen[relative]} and {path} would both be written to {args.out / relative}; "
                         "give them different -o folders")
        seen[relative] = path
    options = {k: getattr(args, k) for k in translator.OPTIONS if getattr(args, k) is not None}
    try:
        t = translator.load(args.model, revision=args.revision, device=args.device)
        direction = t.check_direction(args.direction or t.directions[0])
        translator.options.check_options(t, options)  # a wrong option fails once, before any file
    except TranslatorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.model}: {t.provenance.summary}", file=sys.stderr)
    failed = 0
    for path, relative in tqdm(files, desc="translating", unit="img"):
        try:
            out = t.translate(path, direction=direction, **options)
        except (ImageError, OptionsError) as err:  # OptionsError: too large for --tiled
            failed += 1
            tqdm.write(f"skipped {path}: {err}", file=sys.stderr)
            continue
        target = args.out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        out.save(target)
    print(f"{len(files) - failed} translated into {args.out}" + (f", {failed} skipped" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
