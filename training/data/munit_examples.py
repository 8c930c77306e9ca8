"""The MUNIT tab's examples: drawings of held-out emoji to colour, colour emoji to turn into drawings, and
colour emoji whose style the sliders can take.

    python -m training.data.munit_examples --data data/multimodal-64 --renders data/emoji-256 --out assets/examples/munit

Everything comes from the multimodal builder's *test* split (code points no model trained on, in any style
or skin tone), chosen by name below before any model's output on them was seen:

    OUT/<domain a>-<style>-<key>.png   the training layout's line drawing (64 px) enlarged x4, pixel for pixel,
                                       for the sketchpad (draw over it); the app cuts it back to 64 px
    OUT/hand-drawn-*.png               copied from assets/examples/pix2pix (drawn for this project)
    OUT/<domain b>-<style>-<key>.png   a colour render, 128 px on white: the other direction, colour -> drawing
    OUT/styles/<style>-<key>.png       a colour render of each vendor, 128 px: "style from a reference image"
    OUT/README.md                      each vendor's package, version and licence

The file names carry the domain names of the model's config (`training/recipes/munit-drawing2emoji-v2.toml`),
which is how the tab tells which direction an example goes (translator.hub.example_images).
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
DRAWINGS = ["fluent-flat-1f308", "noto-1f601", "twemoji-1f355", "fluent-flat-1f422", "noto-1f436", "twemoji-1f3c6",
            "fluent-flat-1f9d2-1f3fd"]  # rainbow, grin, pizza, turtle, dog, trophy, child (a skin tone)
COLOUR = ["noto-1f604", "twemoji-1f437", "fluent-flat-1f49b"]  # smile, pig, yellow heart
STYLES = ["noto-1f437", "twemoji-1f920", "fluent-flat-1f604"]  # one per vendor, other things than the drawings
HAND_DRAWN = ["hand-drawn-smiley.png", "hand-drawn-heart.png", "hand-drawn-star.png"]
COLOUR_SIZE = 128


def split_name(name: str, styles: list[str]) -> tuple[str, str]:
    """"fluent-flat-1f308" -> ("fluent-flat", "1f308")."""
    style = next((s for s in sorted(styles, key=len, reverse=True) if name.startswith(f"{s}-")), None)
    if style is None:
        raise SystemExit(f"{name}: not one of the styles {styles}")
    return style, name[len(style) + 1:]


def colour_render(renders: Path, name: str, styles: list[str]) -> Image.Image:
    style, key = split_name(name, styles)
    path = renders / style / "test" / f"{key}.png"
    if not path.exists():
        raise SystemExit(f"{path} is missing: build the renders with python -m training.data.emoji --size 256")
    image = Image.open(path)
    white = Image.new("RGBA", image.size, "white")
    return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB").resize((COLOUR_SIZE, COLOUR_SIZE),
                                                                                     Image.LANCZOS)


def write(data: Path, renders: Path, out: Path, domain_a: str = "emoji-drawing",
          domain_b: str = "emoji-colour") -> list[Path]:
    manifest = json.loads((data / "manifest.json").read_text())
    styles = list(manifest["sources"])
    test_drawings = {p.stem for p in (data / "drawing" / "test").glob("*.png")}
    for name in DRAWINGS + COLOUR + STYLES:
        if name not in test_drawings:  # the builder's split: a name here must be held out in every style
            raise SystemExit(f"{name} is not in {data}/drawing/test: examples must be code points no model trained on")
    (out / "styles").mkdir(parents=True, exist_ok=True)
    written = []
    for name in DRAWINGS:
        drawing = Image.open(data / "drawing" / "test" / f"{name}.png").convert("RGB")
        path = out / f"{domain_a}-{name}.png"
        drawing.resize((drawing.width * 4, drawing.height * 4), Image.NEAREST).save(path)
        written.append(path)
    for hand in HAND_DRAWN:
        shutil.copyfile(ROOT / "assets" / "examples" / "pix2pix" / hand, out / hand)
        written.append(out / hand)
    for name in COLOUR:
        path = out / f"{domain_b}-{name}.png"
        colour_render(renders, name, styles).save(path)
        written.append(path)
    for name in STYLES:
        path = out / "styles" / f"{name}.png"
        colour_render(renders, name, styles).save(path)
        written.append(path)
    sources = manifest["sources"]
    lines = ["# MUNIT examples: held-out emoji, drawn and in colour", "",
             f"Written by `python -m training.data.munit_examples` from the multimodal builder's data "
             f"({manifest['data_version']}), *test* split only (code points no model trained on, in any style or "
             "skin tone). File names are `<domain>-<style>-<code points>.png`.", "",
             f"- `{domain_a}-*.png`: the training layout's line drawings (`training.data.sketch`, 64 px), enlarged "
             "4× pixel for pixel, for the sketchpad.",
             "- `hand-drawn-*.png`: drawn for this project (see `../pix2pix/`), released with the code.",
             f"- `{domain_b}-*.png`: colour renders, {COLOUR_SIZE} px on white: the other direction.",
             f"- `styles/*.png`: colour renders, {COLOUR_SIZE} px, one per vendor: styles for the sliders.", "",
             "| style | package | licence |", "|---|---|---|"]
    lines += [f"| {style} | {s['package']} | {s['attribution']} |" for style, s in sources.items()]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    # the tab shows these only for models of these domains (translator.hub.example_images)
    (out / "examples.json").write_text(json.dumps({"domains": [domain_a, domain_b]}) + "\n")
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/multimodal-64"), help="the multimodal builder's output")
    parser.add_argument("--renders", type=Path, default=Path("data/emoji-256"),
                        help="the emoji builder's 256-px renders (colour examples)")
    parser.add_argument("--out", type=Path, default=Path("assets/examples/munit"))
    parser.add_argument("--domain-a", default="emoji-drawing")
    parser.add_argument("--domain-b", default="emoji-colour")
    args = parser.parse_args(argv)
    for path in write(args.data, args.renders, args.out, args.domain_a, args.domain_b):
        print(path)


if __name__ == "__main__":
    main()
