"""Translation at the input's own resolution, for families whose generator is fully convolutional
(CycleGAN, pix2pix, U-GAT-IT): `translate(image, tiled=True)`.

**Tiled.** The image, neither letterboxed nor resized, is cut into squares of the model's image_size that
overlap by a quarter of a tile (spread evenly, the outer ones flush with the edges; a side shorter than a
tile is padded up to one, then cropped back), the tiles are translated in batches, and put back with
raised-cosine weights that fade each tile out across its overlap with each neighbour. Across an overlap
two tiles' weights sum to exactly 1 (and the sums are normalised where more meet), so no seam is a hard
edge, and the padding artefacts at a tile's border get almost no weight.

Instance norm would normalise each tile by its own statistics: a tile of flat colour (a white margin, the
inside of a large shape) has none worth the name, and comes out as a pattern of noise; neighbouring tiles
would drift apart in colour. So the network first sees the whole image once, shrunk to an overview of
at most OVERVIEW_PIXELS (an image that small is taken as it is; a network that takes its model size only
sees the letterboxed input a plain `translate` gives it), every `nn.InstanceNorm2d` records its statistics
there, and the tiles are normalised with those: flat areas stay flat, and the tiles agree with each other.
That covers CycleGAN and pix2pix entirely. U-GAT-IT's encoder is covered; its CAM, its AdaLIN gamma and
beta (from each tile's own pooled features) and the instance/layer statistics of its decoder's AdaLIN and
ILN stay per tile, so each tile gets its own AdaLIN parameters, as if it were a whole image.
`training.tiling_measure` measures how far tiled results are from the whole-image run.

**Whole.** The image through the network in one piece, padded (reflect) to a multiple of the network's
stride and cropped back: what tiling approximates, where the network takes any size (CycleGAN, pix2pix,
U-GAT-IT light) and memory allows one (`translate_whole`, up to MAX_WHOLE_PIXELS).

The limits are checked from the size alone, before anything is allocated.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .errors import OptionsError

MAX_TILED_PIXELS = 4096 * 2048  # the image, its result and the blending sums: ~0.3 GB at this size
MAX_TILES = 4096  # binds for small tiles: ~3000 x 3000 px in 64-px tiles (256-px ones meet the pixel cap first)
MAX_WHOLE_PIXELS = 1024 * 1024  # one piece: a 64-channel activation is 256 MB at this size
BATCH_PIXELS = 256 * 256 * 4  # tiles per network call: 4 of 256 px, 64 of 64 px
OVERVIEW_PIXELS = 512 * 512  # the whole image once, for its instance-norm statistics


def default_overlap(tile: int) -> int:
    return tile // 4


def ramp(t: torch.Tensor) -> torch.Tensor:
    """0 -> 1 along t in [0, 1], raised cosine: ramp(t) + ramp(1 - t) = 1."""
    return 0.5 - 0.5 * torch.cos(math.pi * t.clamp(0, 1))


def tile_plan(length: int, tile: int, overlap: int) -> list[tuple[int, torch.Tensor]]:
    """Along one side of `length` pixels: where each tile starts, and its 1-D blending window (float64).

    Tiles are spread evenly so that neighbours overlap by at least `overlap`; a tile's window ramps up
    across its overlap with the previous tile and down across its overlap with the next (at the image's
    edges it stays 1). Where exactly two tiles meet, their windows sum to 1."""
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < tile, got tile {tile}, overlap {overlap}")
    if length <= tile:  # one tile (the side is padded up to it)
        return [(0, torch.ones(tile, dtype=torch.float64))]
    n = math.ceil((length - tile) / (tile - overlap)) + 1
    starts = [round(i * (length - tile) / (n - 1)) for i in range(n)]
    centres = torch.arange(tile, dtype=torch.float64) + 0.5
    plan = []
    for i, start in enumerate(starts):
        window = torch.ones(tile, dtype=torch.float64)
        if i > 0 and (shared := starts[i - 1] + tile - start) > 0:
            window *= ramp(centres / shared)
        if i < n - 1 and (shared := start + tile - starts[i + 1]) > 0:
            window *= ramp((tile - centres) / shared)
        plan.append((start, window))
    return plan


def coverage(length: int, tile: int, overlap: int) -> torch.Tensor:
    """The sum of every tile's window at each pixel of one side (before normalising): 1 wherever at most
    two tiles meet. The 2-D sum is the outer product of the two sides' (the windows are separable)."""
    plan = tile_plan(length, tile, overlap)
    total = torch.zeros(max(length, tile), dtype=torch.float64)
    for start, window in plan:
        total[start:start + tile] += window
    return total[:length]


def tile_count(width: int, height: int, tile: int, overlap: int | None = None) -> int:
    overlap = default_overlap(tile) if overlap is None else overlap
    return len(tile_plan(height, tile, overlap)) * len(tile_plan(width, tile, overlap))


def check_tiled(width: int, height: int, tile: int, overlap: int | None = None) -> int:
    """The number of tiles an image of this size needs, or OptionsError if it is over the limits."""
    if width * height > MAX_TILED_PIXELS:
        raise OptionsError(f"Tiled translation takes images of up to {MAX_TILED_PIXELS:,} pixels; "
                           f"this one is {width}×{height} ({width * height:,}). Shrink it, or translate it "
                           "without tiling.")
    overlap = default_overlap(tile) if overlap is None else overlap
    rows, cols = len(tile_plan(height, tile, overlap)), len(tile_plan(width, tile, overlap))
    if rows * cols > MAX_TILES:
        raise OptionsError(f"At {width}×{height}, this model's {tile}-px tiles would number {rows * cols:,} "
                           f"({rows} rows of {cols}); the limit is {MAX_TILES:,}. Shrink the image, or translate it "
                           "without tiling.")
    return rows * cols


def check_whole(width: int, height: int) -> None:
    if width * height > MAX_WHOLE_PIXELS:
        raise OptionsError(f"The whole-image run takes images of up to {MAX_WHOLE_PIXELS:,} pixels; "
                           f"this one is {width}×{height}. Translate it tiled instead.")


def overview(x: torch.Tensor, multiple: int, pixels: int = OVERVIEW_PIXELS) -> torch.Tensor:
    """N x C x H x W shrunk (never enlarged, aspect kept) to about `pixels`, each side a multiple of `multiple`."""
    height, width = x.shape[-2:]
    scale = min(1.0, math.sqrt(pixels / (height * width)))
    size = tuple(max(multiple, round(side * scale / multiple) * multiple) for side in (height, width))
    if size == (height, width):
        return x
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad N x C x H x W on the right and bottom to height x width: reflected where the image is large
    enough to mirror, else its edge pixels repeated."""
    bottom, right = height - x.shape[-2], width - x.shape[-1]
    if not bottom and not right:
        return x
    mode = "reflect" if bottom < x.shape[-2] and right < x.shape[-1] else "replicate"
    return F.pad(x, (0, right, 0, bottom), mode=mode)


# --- instance-norm statistics of the whole image, for every tile ----------------------------------------
# Per call (per thread / async task): one loaded model serves every user of the app. While a call here
# runs, its hooks sit on the model's instance norms; any hook acts for whichever call is current in its
# thread (two tiled calls at once each compute the same replacement), and does nothing for other calls.
_norm_mode: contextvars.ContextVar[tuple[str, dict] | None] = contextvars.ContextVar("tiling_norms", default=None)


def _norm_hook(module: nn.InstanceNorm2d, args, output):
    state = _norm_mode.get()
    if state is None:
        return None
    mode, stats = state
    x = args[0]
    if mode == "record":  # the overview: one image
        stats[module] = (x.mean((2, 3), keepdim=True), x.var((2, 3), unbiased=False, keepdim=True))
        return None
    if module not in stats:  # not part of the overview's pass
        return None
    mean, var = stats[module]  # F.instance_norm's maths, with the overview's statistics for every tile
    y = (x - mean) / torch.sqrt(var + module.eps)
    if module.affine:
        y = y * module.weight[None, :, None, None] + module.bias[None, :, None, None]
    return y


@contextlib.contextmanager
def _norms(model: nn.Module, mode: str, stats: dict):
    handles = [m.register_forward_hook(_norm_hook) for m in model.modules()
               if isinstance(m, nn.InstanceNorm2d) and not m.track_running_stats]
    token = _norm_mode.set((mode, stats))
    try:
        yield stats
    finally:
        _norm_mode.reset(token)
        for handle in handles:
            handle.remove()


def translate_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int,
                    overlap: int | None = None, batch_pixels: int = BATCH_PIXELS, model: nn.Module | None = None,
                    overview: torch.Tensor | None = None) -> torch.Tensor:
    """1 x C x H x W at any size -> fn's output at the same size, fn seeing only tile x tile squares
    (N x C x tile x tile batches), blended across the overlaps. With `model` (the network fn runs) and
    `overview` (the image at the model's size), fn runs on the overview first, and the model's instance
    norms normalise every tile with the statistics they computed there."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one image, 1 x C x H x W; got shape {tuple(x.shape)}")
    if model is not None and overview is not None:
        with _norms(model, "record", {}) as stats:
            fn(overview)
        with _norms(model, "apply", stats):
            return translate_tiled(fn, x, tile, overlap, batch_pixels)
    overlap = default_overlap(tile) if overlap is None else overlap
    height, width = x.shape[-2:]
    padded = pad_to(x, max(height, tile), max(width, tile))
    rows = tile_plan(padded.shape[-2], tile, overlap)
    cols = tile_plan(padded.shape[-1], tile, overlap)
    boxes = [(top, left, wr[:, None] * wc[None, :]) for top, wr in rows for left, wc in cols]
    out = weight = None
    per_call = max(1, batch_pixels // (tile * tile))
    for k in range(0, len(boxes), per_call):
        chunk = boxes[k:k + per_call]
        y = fn(torch.cat([padded[:, :, top:top + tile, left:left + tile] for top, left, _ in chunk]))
        if out is None:
            out = torch.zeros(1, y.shape[1], *padded.shape[-2:], dtype=y.dtype, device=y.device)
            weight = torch.zeros(1, 1, *padded.shape[-2:], dtype=y.dtype, device=y.device)
        for (top, left, window), piece in zip(chunk, y):
            window = window.to(y.device, y.dtype)
            out[0, :, top:top + tile, left:left + tile] += piece * window
            weight[0, 0, top:top + tile, left:left + tile] += window
    return (out / weight)[:, :, :height, :width]


def translate_whole(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, multiple: int) -> torch.Tensor:
    """N x C x H x W -> fn's output on the whole image, padded to a multiple of `multiple` and cropped back."""
    height, width = x.shape[-2:]
    padded = pad_to(x, -(-height // multiple) * multiple, -(-width // multiple) * multiple)
    return fn(padded)[:, :, :height, :width]
