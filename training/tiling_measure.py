"""How far tiled translation (`translate(image, tiled=True)`, translator/tiling.py) is from running the
generator over the whole image in one piece, for the shipped CycleGAN.

    OMP_WAIT_POLICY=PASSIVE python -m training.tiling_measure          # writes docs/metrics/tiling.json

Inputs: canvases of 256-512 px made of the held-out CycleGAN examples (assets/examples/cyclegan, 128-px
renders), pasted at 64 px (the model's scale), at 96 and at 128 px on white, off the tile grid, and one of
768 x 576, whose instance-norm statistics come from a shrunk copy (translator.tiling.OVERVIEW_PIXELS). For each,
the whole-image run (`translate_whole_tensor`: in one piece at the canvas's own size) is the reference, and
the tiled run (what `translate(image, tiled=True)` computes) is scored against it on [0, 1]: max and mean
absolute difference, and PSNR; also the mean difference within 2 px of a tile edge ("seams") and away from
them. Two variants show what each part buys: the same tiles put side by side without blending (overlap
0), and tiles blended but each normalised by its own instance-norm statistics instead of the whole
image's (flat tiles then turn to noise). Seconds are on --threads threads, one run each.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from PIL import Image

import translator
from translator import images, tiling

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assets" / "examples" / "cyclegan"
MODEL = "cyclegan-noto2twemoji"
# name: (width, height, emoji side, which examples, direction)
CANVASES = {
    "noto-64px-256x256": (256, 256, 64, "noto", "a2b"),
    "noto-64px-384x256": (384, 256, 64, "noto", "a2b"),
    "twemoji-96px-448x320": (448, 320, 96, "twemoji", "b2a"),
    "noto-128px-512x512": (512, 512, 128, "noto", "a2b"),
    "noto-64px-768x576": (768, 576, 64, "noto", "a2b"),  # above OVERVIEW_PIXELS: statistics from a shrunk copy
}


def canvas(width: int, height: int, side: int, style: str) -> Image.Image:
    """Emoji of `style` (cycled) on white in rows, starting 11 px in and 5 px apart: off any tile grid."""
    emoji = [Image.open(p).convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
             for p in sorted(EXAMPLES.glob(f"{style}-*.png"))]
    image, k = Image.new("RGB", (width, height), "white"), 0
    for top in range(11, height - side + 1, side + 5):
        for left in range(11, width - side + 1, side + 5):
            image.paste(emoji[k % len(emoji)], (left, top))
            k += 1
    return image


def seam_mask(height: int, width: int, tile: int, overlap: int, band: int = 2) -> torch.Tensor:
    """True within `band` px of an edge of any tile (inside the image)."""
    def edges(length):
        near = torch.zeros(length, dtype=torch.bool)
        for start, _ in tiling.tile_plan(length, tile, overlap):
            for edge in (start, start + tile):
                if 0 < edge < length:
                    near[max(0, edge - band):edge + band] = True
        return near
    return edges(height)[:, None] | edges(width)[None, :]


def scores(y: torch.Tensor, reference: torch.Tensor, seams: torch.Tensor) -> dict:
    a, b = (y.clamp(-1, 1) + 1) / 2, (reference.clamp(-1, 1) + 1) / 2  # [0, 1]
    diff = (a - b).abs()[0].amax(0)  # per pixel, the largest channel difference
    mse = ((a - b) ** 2).mean().item()
    return {"max_abs": round(diff.max().item(), 4), "mean_abs": round((a - b).abs().mean().item(), 4),
            "psnr_db": round(10 * torch.log10(torch.tensor(1 / max(mse, 1e-12))).item(), 2),
            "mean_abs_at_seams": round(diff[seams].mean().item(), 4) if seams.any() else None,
            "mean_abs_elsewhere": round(diff[~seams].mean().item(), 4)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "metrics" / "tiling.json")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    t = translator.load(MODEL, device="cpu")
    tile = t.image_size
    overlap = tiling.default_overlap(tile)
    rows = []
    for name, (width, height, side, style, direction) in CANVASES.items():
        x = images.pil_to_tensor(canvas(width, height, side, style))
        with torch.inference_mode():
            start = time.perf_counter()
            whole = t.translate_whole_tensor(x, direction)
            whole_s = time.perf_counter() - start
            start = time.perf_counter()
            tiled = t.translate_tiled_tensor(x, direction)
            tiled_s = time.perf_counter() - start
            own = t.translate_tiled_tensor(x, direction, per_tile_statistics=True)
            overview = t.tiling_overview(x)
            hard = tiling.translate_tiled(lambda tiles: t.translate_tensor(tiles, direction), x, tile, overlap=0,
                                          model=t.model, overview=overview)
        seams = seam_mask(height, width, tile, overlap)
        rows.append({"canvas": name, "size": [width, height], "direction": direction,
                     "tiles": tiling.tile_count(width, height, tile, overlap),
                     "tiled": scores(tiled, whole, seams),
                     "unblended": scores(hard, whole, seam_mask(height, width, tile, 0)),
                     "per_tile_statistics": scores(own, whole, seams),
                     "whole_s": round(whole_s, 3), "tiled_s": round(tiled_s, 3)})
        print(f"{name}: {rows[-1]['tiles']} tiles; " + "; ".join(f"{k} {rows[-1][k]}" for k in
                                                                 ("tiled", "unblended", "per_tile_statistics")))
    result = {"model": MODEL, "tile": tile, "overlap": overlap, "threads": args.threads,
              "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "scale": "differences on [0, 1], the largest channel per pixel for max and seam/elsewhere means; "
                       "mean_abs over all channels; PSNR over all channels; reference: the whole-image run",
              "summary": {k: {"max_abs": max(r[k]["max_abs"] for r in rows),
                              "mean_abs": [min(r[k]["mean_abs"] for r in rows), max(r[k]["mean_abs"] for r in rows)],
                              "psnr_db": [min(r[k]["psnr_db"] for r in rows), max(r[k]["psnr_db"] for r in rows)]}
                          for k in ("tiled", "unblended", "per_tile_statistics")},
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
