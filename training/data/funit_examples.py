"""The FUNIT tab's examples: a few glyphs of fonts no model saw in training, as a person would drop them in.

    python -m training.data.funit_examples --data data/fonts-64 --out assets/examples/funit

For each font in FONTS (all in the font builder's *unseen* split, chosen for how different they look, before
any model's output on them was seen): OUT/<short name>/<char>.png, the characters of REFERENCE_CHARS drawn
at 128 px in the training layout (`translator.funit.render_glyph`), and OUT/README.md with each font's
package, version and licence from the builder's manifest. An example row of the tab is one font's images
(the references) and a word to write in its style.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from translator.funit import render_glyph

FONTS = {  # short name -> font id in data/fonts-64/manifest.json (split "unseen")
    "ibm-3270": "fonts-3270__3270-Regular__0",
    "oldania-bold": "fonts-adf-oldania__OldaniaADFStd-Bold__0",
    "kaushan-script": "fonts-kaushanscript__KaushanScript-Regular__0",
    "cherry-bomb": "fonts-cherrybomb__CherryBomb-Regular__0",
}
REFERENCE_CHARS = "AgRek"  # K = 5: capitals and lower case, round and straight strokes
WORDS = {"ibm-3270": "Hello", "oldania-bold": "Fonts", "kaushan-script": "Brush", "cherry-bomb": "Candy"}
SIZE = 128


def write(data: Path, out: Path, debs: Path) -> list[dict]:
    manifest = json.loads((data / "manifest.json").read_text())
    fonts = {f["id"]: f for f in manifest["fonts"]}
    packages = {p["name"]: p for p in manifest["packages"]}
    written = []
    for short, font_id in FONTS.items():
        font = fonts[font_id]
        if font["split"] != "unseen":
            raise SystemExit(f"{font_id} is in the {font['split']} split: examples must be fonts no model trained on")
        path = debs / "root" / font["package"] / font["file"]
        folder = out / short
        folder.mkdir(parents=True, exist_ok=True)
        for char in REFERENCE_CHARS:
            render_glyph(char, path, SIZE).save(folder / f"{ord(char):04x}.png")
        package = packages[font["package"]]
        written.append({"folder": short, "font": f"{font['family']} {font['style']}", "package": font["package"],
                        "version": package["version"], "licences": package["licences"], "word": WORDS[short]})
    lines = ["# FUNIT examples: glyphs of fonts no model saw in training", "",
             f"Written by `python -m training.data.funit_examples` from the font builder's data "
             f"({manifest['data_version']}): the characters `{REFERENCE_CHARS}` of four fonts of its *unseen* split, "
             f"{SIZE} px, dark on white. Each folder is one example: its images are the references, and the word "
             "beside it is written in their style.", "",
             "| folder | font | Debian package | licence | word |", "|---|---|---|---|---|"]
    lines += [f"| `{w['folder']}/` | {w['font']} | {w['package']} {w['version']} | {', '.join(w['licences'])} | "
              f"{w['word']} |" for w in written]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    (out / "examples.json").write_text(json.dumps({w["folder"]: w["word"] for w in written}, indent=1) + "\n")
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/fonts-64"), help="the font builder's output")
    parser.add_argument("--debs", type=Path, default=Path("data/font-debs"), help="its package cache")
    parser.add_argument("--out", type=Path, default=Path("assets/examples/funit"))
    args = parser.parse_args(argv)
    for w in write(args.data, args.out, args.debs):
        print(w)


if __name__ == "__main__":
    main()
