"""Images in and out of the models.

Any input (path, bytes, PIL image, numpy array) in any mode becomes RGB: transparency is composited on
white (emoji and drawings live on white), palette/CMYK/16-bit/float images are converted, EXIF rotation
is applied. Then it is **letterboxed**: padded with white to a square, so nothing is cut off or
stretched, and resized to the model's training size (these models are trained on whole, centred square
images, so that is the scale they understand). After translation the padding is cropped away and the
result is resized to a display size: the input's size, with its longest side kept within
[DISPLAY_MIN, DISPLAY_MAX].
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

MAX_PIXELS = 40_000_000  # ~ 6300 x 6300; more is refused before decoding (decompression bombs)
MAX_ASPECT = 20  # longest side / shortest side; a 40000x1 strip is not a picture, and squaring it costs GBs
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")  # what people upload; nothing that runs code (EPS)
MAX_FILE_BYTES = 50 * 1024 * 1024
DISPLAY_MIN, DISPLAY_MAX = 256, 1024


@dataclass(frozen=True)
class Layout:
    """How an input was letterboxed, so the output can be mapped back."""
    width: int
    height: int
    box: tuple[int, int, int, int]  # where the image sits inside the model-size square (l, t, r, b)
    model_size: int

    @property
    def display_size(self) -> tuple[int, int]:
        longest = max(self.width, self.height)
        scale = min(max(longest, DISPLAY_MIN), DISPLAY_MAX) / longest
        return max(1, round(self.width * scale)), max(1, round(self.height * scale))


def load_image(source) -> Image.Image:
    """Open anything image-like as an RGB PIL image, or raise ImageError with a clear message."""
    if isinstance(source, Image.Image):
        image = source
    elif isinstance(source, np.ndarray):
        image = _from_array(source)
    elif isinstance(source, (str, Path, bytes, bytearray)):
        image = _open(source)
    else:
        raise ImageError(f"Expected an image, a path or an array, got {type(source).__name__}.")
    check_shape(image.width, image.height, "The image")
    return to_rgb(image)


def check_shape(width: int, height: int, name: str) -> None:
    """Refuse what cannot be translated, from the size alone (before anything is decoded or allocated)."""
    if width < 1 or height < 1:
        raise ImageError(f"{name} is empty.")
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name} is {width}x{height}, larger than the {MAX_PIXELS:,}-pixel limit.")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(f"{name} is {width}x{height}, a strip rather than a picture: the longest side may be at most "
                         f"{MAX_ASPECT} times the shortest.")


def _open(source) -> Image.Image:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        name = "the uploaded data"
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"No such file: {path}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImageError(f"{path.name} is {path.stat().st_size / 2**20:.0f} MB; the limit is "
                             f"{MAX_FILE_BYTES / 2**20:.0f} MB.")
        data, name = path.read_bytes(), path.name
    if not data:
        raise ImageError(f"{name} is an empty file (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            check_shape(image.width, image.height, name)  # from the header, before decoding
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name} is too large to decode safely (decompression bomb check).") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not a supported image ({', '.join(FORMATS)}).") from None
    except (OSError, SyntaxError, ValueError) as err:  # truncated or corrupt data
        raise ImageError(f"{name} is damaged or truncated and cannot be decoded ({err}).") from None
    return ImageOps.exif_transpose(image)


def _from_array(array: np.ndarray) -> Image.Image:
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageError(f"An image array must be HxW, HxWx3 or HxWx4; got shape {a.shape}.")
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        # floats: [0, 1] by convention; clip what falls outside
        a = (np.clip(np.nan_to_num(a), 0.0, 1.0) * 255).round().astype(np.uint8)
    else:
        raise ImageError(f"Unsupported array type {a.dtype}.")
    return Image.fromarray(a)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; transparency composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(image, dtype=np.float64)
        top = 65535.0 if a.max() > 255 else 255.0
        image = Image.fromarray((np.clip(a / top, 0, 1) * 255).round().astype(np.uint8))
    elif image.mode == "F":
        a = np.nan_to_num(np.asarray(image, dtype=np.float64))
        top = 1.0 if a.max() <= 1.0 else 255.0
        image = Image.fromarray((np.clip(a / top, 0, 1) * 255).round().astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode != "RGB":
        image = image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
    return image


def is_blank(image: Image.Image, threshold: int = 245) -> bool:
    """Nothing but white (or near-white, or transparent) pixels: an empty canvas."""
    return bool((np.asarray(to_rgb(image).convert("L")) >= threshold).all())


def crop_to_content(image: Image.Image, margin: float = 0.06, threshold: int = 245,
                    square: bool = False, max_side: int | None = None) -> Image.Image:
    """Cut a drawing on white down to what was drawn, plus a white margin (a fraction of its longest side),
    centred on a white square if `square`. With `max_side`, what was drawn is first shrunk to fit it, so
    the canvas stays small whatever the input. A blank image comes back unchanged."""
    image = to_rgb(image)
    ink = np.asarray(image.convert("L")) < threshold
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return image
    content = image.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    if max_side and max(content.size) > max_side:
        scale = max_side / max(content.size)
        # min-filter semantics would need a custom kernel; a box filter keeps thin strokes visible
        content = content.resize((max(1, round(content.width * scale)), max(1, round(content.height * scale))),
                                 Image.Resampling.BOX)
    pad = round(margin * max(content.size))
    width, height = content.width + 2 * pad, content.height + 2 * pad
    if square:
        width = height = max(width, height)
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(content, ((width - content.width) // 2, (height - content.height) // 2))
    return canvas


def to_model_input(image: Image.Image, size: int) -> tuple[torch.Tensor, Layout]:
    """RGB image -> (1x3xSxS float tensor in [-1, 1], Layout). Letterboxed on white, Lanczos-resized."""
    w, h = image.size
    side = max(w, h)
    scale = size / side
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    left, top = (size - nw) // 2, (size - nh) // 2
    canvas = Image.new("RGB", (size, size), "white")
    canvas.paste(image.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=3.0), (left, top))
    return pil_to_tensor(canvas), Layout(w, h, (left, top, left + nw, top + nh), size)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).div_(127.5).sub_(1.0)


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    """1x3xHxW (or 3xHxW) in [-1, 1] -> RGB PIL (clamped, rounded; not min-max normalised)."""
    t = tensor.detach().float().cpu()
    t = t[0] if t.dim() == 4 else t
    array = ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array, "RGB")


def from_model_output(tensor: torch.Tensor, layout: Layout) -> Image.Image:
    """Undo the letterbox and resize to the display size."""
    image = tensor_to_pil(tensor).crop(layout.box)
    return image.resize(layout.display_size, Image.Resampling.LANCZOS)


def heat_colours(values: np.ndarray) -> np.ndarray:
    """HxW in [0, 1] -> HxWx3 uint8: dark blue (cold) through cyan and yellow to red (hot)."""
    stops = np.array([[0, 0, 0.5], [0, 0.6, 1], [0.2, 0.9, 0.6], [1, 0.9, 0], [0.9, 0.1, 0]])
    position = np.clip(values, 0, 1) * (len(stops) - 1)
    low = np.floor(position).astype(int).clip(0, len(stops) - 2)
    t = (position - low)[..., None]
    return ((stops[low] * (1 - t) + stops[low + 1] * t) * 255).round().astype(np.uint8)


def overlay(image: Image.Image, heatmap: torch.Tensor, layout: Layout, opacity: float = 0.5) -> Image.Image:
    """A heatmap computed over the model's square input, laid over `image` (the input or output at display
    size): scaled to the square, cut to where the image sits in it, stretched from its own min to max."""
    h = heatmap.detach().float().cpu()[None, None]
    h = torch.nn.functional.interpolate(h, size=(layout.model_size, layout.model_size), mode="bilinear",
                                        align_corners=False)[0, 0]
    left, top, right, bottom = layout.box
    h = h[top:bottom, left:right]
    h = ((h - h.min()) / (h.max() - h.min()).clamp_min(1e-8)).numpy()
    heat = Image.fromarray(heat_colours(h)).resize(image.size, Image.Resampling.BILINEAR)
    return Image.blend(image.convert("RGB"), heat, float(np.clip(opacity, 0, 1)))
