"""Build the emoji dataset: vendor emoji styles, paired by code point, rendered from SVG.

    python -m training.data.emoji --out data/emoji-64 --size 64

Packages are fetched with `npm pack` at pinned versions and checked against pinned sha256 sums, so a
rebuild gives the same pixels. Output:

    OUT/<style>/<train|test>/<key>.png    RGB, composited on white, SIZE x SIZE
    OUT/manifest.json                     versions, licences, attribution, split rule, counts

`key` is the code point sequence, lower case, without FE0F (e.g. `1f600`, `1f9d1-200d-1f3a8`).
The split is by base code point: `sha1(base) % 10 == 0` is test; skin-tone variants follow their base,
so no drawing is seen in training and tested on. The dataset itself is never committed.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import tarfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm import tqdm

DATA_VERSION = "emoji-v2"  # bump when the key set, split rule or rendering changes
# v2: icons drawn on a non-square canvas (Twemoji's watermelon, two of each Fluent style's: five training images)
# are centred on a square one; v1 rendered them w x h, e.g. 64 x 45, which a consumer stacking images failed on.
# No test image changed, so v1 and v2 test numbers are the same.


@dataclass(frozen=True)
class Package:
    spec: str
    tarball: str
    sha256: str
    licence: str
    attribution: str


PACKAGES = {
    "noto": Package("@iconify-json/noto@1.2.9", "iconify-json-noto-1.2.9.tgz",
                    "3e918d88fc945c0bb3d468dbace6f88caef67f01c9f0e7bcae0915a042e8f1ad",
                    "Apache-2.0", "Noto Emoji by Google, Apache License 2.0"),
    "twemoji": Package("@iconify-json/twemoji@1.2.5", "iconify-json-twemoji-1.2.5.tgz",
                       "19046dff7d8707ce96212ec86468b36ac5f8e60409629dd13f809265c6d0ebb7",
                       "CC-BY-4.0", "Twemoji by Twitter, Inc. and other contributors, CC BY 4.0"),
    "fluent-flat": Package("@iconify-json/fluent-emoji-flat@1.2.6", "iconify-json-fluent-emoji-flat-1.2.6.tgz",
                           "7d064769dee690815f823bc5bcc511d957198caf9f5edd8dd9c1aa48a6aeb175",
                           "MIT", "Fluent Emoji by Microsoft, MIT License"),
    "fluent-hc": Package("@iconify-json/fluent-emoji-high-contrast@1.2.6",
                         "iconify-json-fluent-emoji-high-contrast-1.2.6.tgz",
                         "0b92d48c90d2200bd499e3cdd09a127ca6a8c8ddefd34c35eb5a1e4994012ae0",
                         "MIT", "Fluent Emoji (high contrast) by Microsoft, MIT License"),
    "openmoji": Package("openmoji@17.0.0", "openmoji-17.0.0.tgz",
                        "55ee7d13485dec86e9f38c1f3a645a13382d33ff97c0cd845ee824b0aef45e68",
                        "CC-BY-SA-4.0", "OpenMoji, the open-source emoji project, CC BY-SA 4.0"),
}
# style name -> package name; both OpenMoji styles come from one tarball
STYLES = {"noto": "noto", "twemoji": "twemoji", "fluent-flat": "fluent-flat", "fluent-hc": "fluent-hc",
          "openmoji": "openmoji", "openmoji-black": "openmoji"}
SKIN_TONES = {"1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff"}


def normalise_key(codepoints: str) -> str:
    parts = [p for p in codepoints.lower().replace("_", "-").split("-") if p and p != "fe0f"]
    return "-".join(parts)


def base_key(key: str) -> str:
    return "-".join(p for p in key.split("-") if p not in SKIN_TONES)


def is_flag(key: str) -> bool:
    # regional-indicator pairs and tag sequences (subdivision flags)
    return any(0x1F1E6 <= int(p, 16) <= 0x1F1FF or 0xE0000 <= int(p, 16) <= 0xE007F for p in key.split("-"))


def split_of(key: str) -> str:
    return "test" if int(hashlib.sha1(base_key(key).encode()).hexdigest(), 16) % 10 == 0 else "train"


def fetch(package: Package, cache: Path) -> Path:
    """npm pack into the cache (once) and check the pinned checksum."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / package.tarball
    if not path.exists():
        subprocess.run(["npm", "pack", package.spec, "--pack-destination", str(cache), "--silent"],
                       check=True, stdout=subprocess.DEVNULL)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != package.sha256:
        raise SystemExit(f"{path}: sha256 {digest} does not match the pinned {package.sha256}")
    return path


def read_iconify(tarball: Path) -> dict[str, str]:
    """key -> standalone SVG string, from an iconify-json tarball (icons.json + chars.json)."""
    with tarfile.open(tarball) as tar:
        icons = json.load(tar.extractfile("package/icons.json"))
        chars = json.load(tar.extractfile("package/chars.json"))
    default_w, default_h = icons.get("width", 16), icons.get("height", 16)
    svgs = {}
    for codepoints, name in chars.items():
        icon, transform = name, {}
        while icon not in icons["icons"]:  # aliases point at a parent icon, maybe flipped
            alias = icons.get("aliases", {}).get(icon)
            if alias is None:
                break
            transform.update({k: v for k, v in alias.items() if k in ("hFlip", "vFlip")})
            icon = alias["parent"]
        if icon not in icons["icons"]:
            continue
        body = icons["icons"][icon]
        w, h = body.get("width", default_w), body.get("height", default_h)
        left, top = body.get("left", 0), body.get("top", 0)
        inner = body["body"]
        if transform.get("hFlip"):
            inner = f'<g transform="translate({w + 2 * left} 0) scale(-1 1)">{inner}</g>'
        if transform.get("vFlip"):
            inner = f'<g transform="translate(0 {h + 2 * top}) scale(1 -1)">{inner}</g>'
        svgs[normalise_key(codepoints)] = square_svg(inner, left, top, w, h)
    return svgs


def square_svg(inner: str, left: float, top: float, w: float, h: float) -> str:
    """A standalone SVG of an icon's body, its canvas widened to a square around it (centred), so every
    image of a build is size x size whatever the icon's own aspect ratio."""
    side = max(w, h)
    left, top = left - (side - w) / 2, top - (side - h) / 2
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'viewBox="{left:g} {top:g} {side:g} {side:g}" width="{side:g}" height="{side:g}">{inner}</svg>')


def read_openmoji(tarball: Path, variant: str) -> dict[str, str]:
    """key -> SVG string for OpenMoji `color` or `black`; OpenMoji-only extras (private use area) are kept
    out by the base-key intersection later."""
    svgs = {}
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if len(parts) == 4 and parts[1] == variant and parts[2] == "svg" and parts[3].endswith(".svg"):
                svgs[normalise_key(parts[3][:-4])] = tar.extractfile(member).read().decode()
    return svgs


def render(job: tuple[str, Path, int]) -> None:
    import resvg_py

    svg, path, size = job
    png = resvg_py.svg_to_bytes(svg_string=svg, width=size, height=size)
    rgba = Image.open(io.BytesIO(png)).convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    Image.alpha_composite(canvas, rgba).convert("RGB").save(path, optimize=False)


def read_style(style: str, cache: Path) -> dict[str, str]:
    """key -> SVG string of one style, from its (fetched and checked) tarball."""
    tarball = fetch(PACKAGES[STYLES[style]], cache)
    if style.startswith("openmoji"):
        return read_openmoji(tarball, "black" if style == "openmoji-black" else "color")
    return read_iconify(tarball)


def build(out: Path, size: int, styles: list[str], cache: Path, skin_tones: bool, workers: int) -> dict:
    svgs = {style: read_style(style, cache) for style in styles}

    # The shared base set: emoji drawn by Noto, Twemoji and OpenMoji (DATA.md), no flags, no skin tones.
    reference = [svgs[s] if s in svgs else read_style(s, cache) for s in ("noto", "twemoji", "openmoji")]
    base = set.intersection(*({k for k in r if k == base_key(k) and not is_flag(k)} for r in reference))

    jobs, counts = [], {}
    for style in styles:
        keys = [k for k in svgs[style] if base_key(k) in base and (skin_tones or k == base_key(k))]
        counts[style] = {"train": 0, "test": 0}
        for split in ("train", "test"):
            (out / style / split).mkdir(parents=True, exist_ok=True)
        for key in sorted(keys):
            split = split_of(key)
            counts[style][split] += 1
            jobs.append((svgs[style][key], out / style / split / f"{key}.png", size))
    with ProcessPoolExecutor(workers) as pool:
        list(tqdm(pool.map(render, jobs, chunksize=64), total=len(jobs), desc=f"render {size}px"))

    manifest = {
        "data_version": DATA_VERSION,
        "size": size,
        "skin_tones": skin_tones,
        "split": "sha1(base code point) % 10 == 0 -> test; skin-tone variants follow their base",
        "base_emoji": len(base),
        "counts": counts,
        "sources": {s: {"package": PACKAGES[STYLES[s]].spec, "sha256": PACKAGES[STYLES[s]].sha256,
                        "licence": PACKAGES[STYLES[s]].licence, "attribution": PACKAGES[STYLES[s]].attribution}
                    for s in styles},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/emoji-64"))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--styles", nargs="+", default=list(STYLES), choices=list(STYLES))
    parser.add_argument("--cache", type=Path, default=Path("data/npm-cache"), help="where tarballs are kept")
    parser.add_argument("--skin-tones", action="store_true", help="also render skin-tone variants")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    manifest = build(args.out, args.size, args.styles, args.cache, args.skin_tones, args.workers)
    print(json.dumps(manifest["counts"], indent=2))


if __name__ == "__main__":
    main()
