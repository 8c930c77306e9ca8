"""Line drawings made from colour emoji, for pix2pix's sketch -> emoji task.

A drawing is the emoji's edges (Sobel on RGB, thresholded), black on white. For training, each sample
gets a fresh random variation so that a freehand mouse drawing is in-distribution: the edge threshold
(more or less inner detail), stroke width, a small elastic wobble of the strokes (hands are not exact)
and a few gaps (strokes that do not meet). The colour target is never changed.

A person draws less than an edge detector finds: one outline, the eyes and the mouth, no highlights or
shading bands (assets/examples/pix2pix/hand-drawn-*.png beside the training drawings). With
`simple_share`, that share of the training drawings is simplified that way (`line_drawing(simplify=...)`):
only the strong edges of the blurred colours, plus the outline where the paper ends. And a person's drawing
reaches the model with a margin (the app cuts it to what was drawn plus 6 %, `translator.images.
crop_to_content`) while a training emoji fills its square and the random crop cuts into it: with `zoom_out`,
half the pairs are shrunk onto white paper, so closed outlines with paper around them are seen in training.

    python -m training.data.sketch --data data/emoji-64 --style noto

writes the deterministic drawings (no augmentation) of one vendor as a style of its own,
DATA/<style>-sketch/{train,test}/<key>.png, so evaluation and the app's examples use fixed inputs.
"""
from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision.transforms import v2
from torchvision.transforms.v2.functional import gaussian_blur
from torchvision.utils import save_image

from training.data.folders import ImageFiles, file_name, random_geometry, to_signed

SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4  # a 0->1 step gives 1


def edges(rgb: torch.Tensor, threshold: float = 0.12) -> torch.Tensor:
    """3xHxW in [0, 1] -> 1xHxW bool: where any channel changes by more than `threshold` per pixel."""
    kernel = torch.stack([SOBEL_X, SOBEL_X.T]).unsqueeze(1).to(rgb)  # 2x1x3x3
    padded = F.pad(rgb.unsqueeze(1), (1, 1, 1, 1), mode="replicate")  # channels as a batch: 3x1xHxW
    gradient = F.conv2d(padded, kernel).pow(2).sum(1).sqrt()  # 3xHxW
    return (gradient.amax(0, keepdim=True) > threshold)


def silhouette(rgb: torch.Tensor, paper: float = 0.97) -> torch.Tensor:
    """3xHxW in [0, 1] -> 1xHxW bool: the outline where the white paper around the shape ends. Paper is
    near-white (every channel above `paper`) and reached from the border: an eye's white or a white highlight
    inside the shape is not paper, so it gets no outline here."""
    near_white = (rgb.amin(0, keepdim=True) > paper).float()[None]  # 1x1xHxW
    outside = torch.zeros_like(near_white)
    outside[..., 0, :], outside[..., -1, :] = near_white[..., 0, :], near_white[..., -1, :]
    outside[..., :, 0], outside[..., :, -1] = near_white[..., :, 0], near_white[..., :, -1]
    while True:  # flood fill from the border through near-white pixels
        grown = F.max_pool2d(outside, 3, stride=1, padding=1) * near_white
        if torch.equal(grown, outside):
            break
        outside = grown
    return edges(outside[0].expand(3, -1, -1), 0.3)


def line_drawing(rgb: torch.Tensor, threshold: float = 0.12, width: int = 1, wobble: float = 0.0,
                 gaps: int = 0, rng: random.Random | None = None, simplify: float = 0.0) -> torch.Tensor:
    """3xHxW colour in [0, 1] -> 3xHxW drawing in [0, 1]: black strokes on white. `simplify` > 0: the drawing
    a person would make, the edges of the colours blurred by a Gaussian of that sigma (px; highlights, thin
    shading bands and small detail go) and the silhouette (a light shape's outline stays)."""
    if simplify > 0:
        kernel = 2 * math.ceil(3 * simplify) + 1
        ink = (edges(gaussian_blur(rgb, [kernel, kernel], [simplify, simplify]), threshold) | silhouette(rgb)).float()
    else:
        ink = edges(rgb, threshold).float()
    if width > 1:
        ink = F.max_pool2d(ink[None], width, stride=1, padding=width // 2)[0][:, : rgb.shape[1], : rgb.shape[2]]
    if wobble > 0:
        ink = v2.ElasticTransform(alpha=wobble * rgb.shape[-1], sigma=rgb.shape[-1] / 8)(ink)
        ink = (ink > 0.35).float()
    rng = rng or random.Random()
    h, w = ink.shape[-2:]
    for _ in range(gaps):
        size = rng.randint(2, max(2, h // 16))
        y, x = rng.randrange(h - size), rng.randrange(w - size)
        ink[:, y:y + size, x:x + size] = 0
    return (1 - ink).expand(3, -1, -1).clone()


def code_point_order(name: str) -> tuple:
    """Sort key for emoji file names: '2764' before '1f499' (by number: roughly the older emoji first); names
    that are not dash-separated hex sequences after all that are, by name."""
    try:
        return (0, tuple(int(part, 16) for part in name.split("-")), name)
    except ValueError:
        return (1, (), name)


# One colour per drawing: what counts as "the same drawing, another colour", chosen on the 1,459 Noto
# training emoji at 64 px (the comparison is made at 64 px whatever the training size): the six training
# hearts of six colours overlap by 0.80-0.98 with one another and each by 0.84 or more with the blue one,
# which stays; smileys overlap as much but share their colours, so they all stay.
SAME_DRAWING_OVERLAP = 0.8   # IoU of the two deterministic drawings, strokes thickened to 3 px
OTHER_COLOUR_DISTANCE = 0.08  # mean |difference| of the two colour images at 16x16, in [0, 1]
COMPARED_AT = 64  # px


def keep_one_colour_per_drawing(images: "ImageFiles") -> list[int]:
    """Indices of `images` to keep so that no two kept images have nearly the same drawing and different
    colours. A drawing alone cannot say whether a heart is blue, pink or orange; trained on all six, the
    L1 loss averages them (a brown heart) and the GAN loss mottles the average. Greedy in code-point order:
    an emoji stays unless it conflicts with one already kept, so the oldest of each look stays, and a chain
    of pairwise look-alikes (A~B, B~C, A not~C) keeps A and C rather than collapsing to one. Two kept emoji
    can still share a drawing's neighbourhood (both conflict only with one left out)."""
    drawings, colours = [], []
    for i in range(len(images)):
        rgb = images[i].float() / 255
        if rgb.shape[-1] != COMPARED_AT:
            rgb = F.interpolate(rgb[None], size=COMPARED_AT, mode="bilinear", antialias=True)[0].clamp(0, 1)
        drawings.append(1 - line_drawing(rgb)[:1])
        colours.append(F.adaptive_avg_pool2d(rgb, 16).flatten())
    ink = F.max_pool2d(torch.stack(drawings), 3, stride=1, padding=1).flatten(1)
    overlap = ink @ ink.T
    area = ink.sum(1)
    iou = overlap / (area[:, None] + area[None, :] - overlap).clamp(min=1)
    colour_distance = torch.cdist(torch.stack(colours), torch.stack(colours), p=1) / colours[0].numel()
    conflicts = (iou > SAME_DRAWING_OVERLAP) & (colour_distance > OTHER_COLOUR_DISTANCE)
    names = [p.stem for p in images.files]
    kept: list[int] = []
    for i in sorted(range(len(names)), key=lambda i: code_point_order(names[i])):
        if not conflicts[i, kept].any():
            kept.append(i)
    return sorted(kept)


class SketchPairs(Dataset):
    """(drawing, colour emoji) pairs made on the fly from a folder of colour images; with `augment`,
    every sample is a new random drawing of its emoji (and pairs share one random crop and flip).

    `outline_folders`: other renderings of the same things under the same file names (other vendors' emoji
    of the same code points). With `augment`, a sample's drawing is made from one of them instead of the
    target itself with probability `outline_share` (among the folders that have that file): the target
    stays the colour image, so a drawing whose shapes differ from the target's (as a person's do) still
    maps to it.

    `one_colour_per_drawing`: train on one emoji of each look only (see `keep_one_colour_per_drawing`); the
    names left out are in `self.left_out`.

    `simple_share`: with `augment`, the share of drawings simplified as a person draws (`line_drawing`'s
    `simplify`: blur sigma 0.6-1.3 px per 64 px, strong edges only). Tuned by eye on Noto at 64 px: a
    smiley keeps its eyes and mouth, a heart or star is one outline (sigma 1.5 already loses the eyes).

    `zoom_out`: with `augment`, half the pairs (drawing source and target alike) are shrunk by a random factor
    between 1 - `zoom_out` and 1 and pasted at a random place on white paper."""

    def __init__(self, color_folder, size: int, augment: bool = True, outline_folders=(), outline_share: float = 0.5,
                 one_colour_per_drawing: bool = False, simple_share: float = 0.0,
                 zoom_out: float = 0.0):
        self.colors = ImageFiles(color_folder, size)
        self.left_out: list[str] = []
        if one_colour_per_drawing:
            kept = keep_one_colour_per_drawing(self.colors)
            kept_set = set(kept)
            self.left_out = [file_name(p, color_folder) for i, p in enumerate(self.colors.files) if i not in kept_set]
            self.colors.keep_only(kept)
        self.size, self.augment = size, augment
        self.geometry = random_geometry(size)
        self.flip = v2.RandomHorizontalFlip()
        self.outlines = [ImageFiles(folder, size) for folder in outline_folders]
        self.outline_index = [{p.name: j for j, p in enumerate(o.files)} for o in self.outlines]
        self.outline_share = outline_share if self.outlines else 0.0
        self.simple_share, self.zoom_out = simple_share, zoom_out

    def __len__(self) -> int:
        return len(self.colors)

    def plain(self, i: int) -> dict[str, torch.Tensor]:
        """Pair i with its deterministic drawing, whatever `augment` says."""
        rgb = self.colors[i].float() / 255
        return {"a": to_signed(line_drawing(rgb)), "b": to_signed(rgb)}

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not self.augment:
            return self.plain(i)
        color = self.colors[i]
        rng = None  # from torch's generator (it follows the seeding per worker): after the crop, before it with zoom_out
        source = color
        if self.outlines:
            rng = random.Random(torch.randint(0, 2**31, ()).item())
        if rng is not None and rng.random() < self.outline_share:
            name = self.colors.files[i].name
            others = [(o, index[name]) for o, index in zip(self.outlines, self.outline_index) if name in index]
            if others:
                outlines, j = rng.choice(others)
                source = outlines[j]
        # one crop and flip for the drawing's source and the target; a pair shrunk onto paper is only
        # flipped (a crop would cut its outline again). The extra draws happen only when the options are
        # on, so runs without them keep their random stream.
        both = torch.cat([color, source])
        if self.zoom_out:
            rng = rng or random.Random(torch.randint(0, 2**31, ()).item())
        if self.zoom_out and rng.random() < 0.5:
            both = self.flip(shrink_onto_paper(both, rng.uniform(1 - self.zoom_out, 1), rng))
        else:
            both = self.geometry(both)
        rng = rng or random.Random(torch.randint(0, 2**31, ()).item())
        color, source = both[:3], both[3:]
        if self.simple_share and rng.random() < self.simple_share:
            # blur and threshold both in 64-px terms: a blurred step's gradient per pixel falls as 1/sigma
            scale = self.size / 64
            simplify, threshold = rng.uniform(0.6, 1.3) * scale, rng.uniform(0.2, 0.35) / scale
        else:
            simplify, threshold = 0.0, rng.uniform(0.08, 0.3)
        sketch = line_drawing(source.float() / 255, threshold=threshold, width=rng.choice([1, 1, 2, 2, 3]),
                              wobble=rng.uniform(0.0, 0.6), gaps=rng.randint(0, 4), rng=rng, simplify=simplify)
        return {"a": to_signed(sketch), "b": to_signed(color.float() / 255)}


def shrink_onto_paper(images: torch.Tensor, scale: float, rng: random.Random) -> torch.Tensor:
    """CxHxW uint8 (RGB images stacked) -> the same shrunk by `scale` (antialiased), at a random place on white."""
    height, width = images.shape[-2:]
    small = v2.functional.resize(images, [max(1, round(height * scale)), max(1, round(width * scale))], antialias=True)
    canvas = torch.full_like(images, 255)
    y, x = rng.randint(0, height - small.shape[-2]), rng.randint(0, width - small.shape[-1])
    canvas[:, y:y + small.shape[-2], x:x + small.shape[-1]] = small
    return canvas


def write_drawings(data: Path, style: str) -> Path:
    """The deterministic drawings of DATA/<style>/{train,test} as DATA/<style>-sketch/{train,test}."""
    out = data / f"{style}-sketch"
    for split in ("train", "test"):
        folder = data / style / split
        (out / split).mkdir(parents=True, exist_ok=True)
        files = ImageFiles(folder, size=0, cache=False)
        for i, path in enumerate(files.files):
            save_image(line_drawing(files.decode(i).float() / 255), out / split / path.name)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/emoji-64"))
    parser.add_argument("--style", default="noto")
    args = parser.parse_args(argv)
    print(write_drawings(args.data, args.style))


if __name__ == "__main__":
    main()
