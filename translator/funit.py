"""FUNIT (Liu et al., ICCV 2019): few-shot translation into a class never seen in training.

An image splits into a *content* code (what is drawn, where: a spatial map) and a *class* code (a small
vector: how that kind of thing looks). The class code is read off K example images of the target class
and **averaged** over them; an MLP turns it into the scales and shifts of the decoder's AdaIN layers. A
font the model never saw is such a class: give three letters of it, and any glyph's content comes back
drawn in that font. Training (training/funit.py) sees many classes, one example per class code; at test
time K examples are averaged, so more examples give a steadier code (and the order does not matter).

Networks follow the official FewShotGen (NVlabs/FUNIT, configs/funit_animals.yaml; 29,866,435
parameters at these defaults): a content encoder (7x7 conv, `n_downsample` stride-2 4x4 convs doubling
the width, 2 residual blocks, instance norm, reflect padding), a class encoder (the same 7x7 conv and two
doubling downsamplings without norm, then stride-2 convs at constant width up to `n_class_downsample`,
global average pooling, a 1x1 conv to `latent_dim` = 64), and a decoder: 2 AdaIN residual blocks, then
per downsampling a x2 nearest upsampling + 5x5 conv + instance norm (plain, not MUNIT's layer norm), and
a 7x7 conv with tanh. The MLP (64 -> 256 -> 256 -> 2 x channels per AdaIN layer) is applied *after* the
K codes are averaged, as the official test code does. `up_kernel` 3 is a CPU option (the official is 5).

**COCO-FUNIT** (Saito, Saenko, Liu, ECCV 2020), `style_encoder="coco"`: the class code is conditioned on
the content image, so a reference's own pose/structure leaks less into the output. Following the
official imaginaire COCOFUNITTranslator, a learned *universal style bias* (usb, 1 x `usb_dim`) is
concatenated to the class code and mapped by an MLP (latent + usb -> 256 -> latent, ReLU after both
layers); the spatial mean of the content code goes through another (content width -> 256 -> latent,
ReLU after both); their element-wise product is what the decoder's MLP reads. These are exactly the
575,104 parameters imaginaire's COCO-FUNIT adds to its FUNIT at content width 1024. The rest of the
network stays the original FUNIT's: one family, two models, chosen by config (see `FUNIT`).

**imaginaire's FUNIT and COCO-FUNIT** (NVlabs/imaginaire, 256 px) differ from the original in maths that
are settings here, so that their converted weights give their outputs: `res_block="post_relu"` (a ReLU
after each residual block's second norm too, its CNACNA Res2dBlock), `instance_affine` (instance norms
with a learned scale and shift), `adain_scale="1+gamma"` (AdaIN scales by 1 + gamma) and
`up_block="residual"` (each upsampling is its UpRes2dBlock: conv-AdaIN-ReLU, x2 nearest, conv-AdaIN-ReLU,
plus a learned shortcut: x2 nearest, 1x1 conv, AdaIN, ReLU). Its per-norm projections of the MLP's output
are, stacked, this MLP's last layer. The defaults are the original FUNIT's.

**Channels.** The official networks read and write RGB; so do these (`channels=3`), although glyphs are
grey: the channels only reach the first and last convs, and colour references stay possible. `channels=1`
builds a one-channel network; the translator then feeds it the grey mean and returns grey RGB.

**Glyphs** (`inputs="glyphs"`; with "images" everything is letterboxed as in every family). The training
layout is the font dataset's (training/data/fonts.py; `FontLayout` draws the
same pixels): one scale per font, at which its largest glyph fits the frame inside a 1/16 margin, and
each glyph centred by its ink box. Everything a person drags in is normalised to it before the class
encoder sees it (`find_glyph`, `Glyph.frame`): grey levels; polarity from the background, which is the
median of the image border when that border is uniform and the majority grey level otherwise, so
light-on-dark is inverted; contrast stretched so the background is white and the ink black; cropped to
the ink's bounding box (margins go, whatever the image size); scaled so the box's longest side is
TYPICAL_EXTENT of the room (a single picture does not say how large its font's largest glyph is, so it
gets the median size of the data's glyphs; several letters in one crop stay together, scaled to that
size) and centred on white. A picture already in the layout (a glyph of the dataset) is used as it is.
Refused, with an ImageError that says why: no ink (blank or uniform), ink covering almost everything,
and photographs or shaded pictures (too many pixels of intermediate grey). A *content* image that is a
glyph is normalised the same way and its translation is put back where the glyph was, in the input's
own polarity and size; one that is not (any other picture) is translated letterboxed, as in every family.
`translate_text` draws a typed word in the base font with `FontLayout` (one scale for the line, so
translated frames go back on the baseline at their advances).

Without references, `translate` uses the content's own class code: FUNIT's reconstruction stream.
"""
from __future__ import annotations

import functools
import string
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps
from torch import nn

from . import hub, images
from .base import Family, HubModel, Output, Tab, Translator
from .errors import ImageError, OptionsError
from .layers import (ADAIN_SCALES, MLP, ConvNormAct, adaptive_norms, check_choice, make_instance_norms_affine,
                     scaled_styles, split_style, style_params_count)
from .layers import res_block as residual_block
from .options import check_options
from .registry import register

STYLE_ENCODERS = ("funit", "coco")
UP_BLOCKS = ("conv", "residual")  # the original FUNIT's upsampling convs, or imaginaire's UpRes2dBlocks
INPUTS = ("images", "glyphs")  # what the model translates: any pictures, or glyphs (normalised, see find_glyph)
ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits  # the characters glyph data has
MARGIN_FRACTION = 1 / 16  # the font dataset's margin: a font's largest glyph fits size - 2 margins (56 of 64 px)
OVERSAMPLE = 4  # glyphs are drawn 4x and box-filtered down, as the font dataset's are
TYPICAL_EXTENT = 0.75  # a dragged-in glyph's longest side over that room: the median over the glyphs of 37 system fonts
MAX_TEXT = 40  # characters in one line of translate_text
TEXT_FRAME, TEXT_MAX_WIDTH = 128, 4096  # a line is shown with each model frame 128 px high, at most 4096 px wide
BASE_FONT = "DejaVuSans.ttf"  # bundled beside the shipped models (assets/fonts, with its licence)

# what a reference must look like (fractions of the analysed image; see find_glyph)
ANALYSIS_SIDE = 256  # images are analysed at most this large (the crop is taken from the full image)
MIN_CONTRAST = 0.2  # ink must differ from the background by this much of the grey range
MAX_INK = 0.6  # more of the image than this is ink: a solid or inverted picture, not a glyph
MAX_MIDTONES = 0.3  # more pixels than this neither ink nor background: a photo or a shaded picture


# --- networks --------------------------------------------------------------------------------------------
class ClassEncoder(nn.Module):
    """Image -> class code: 7x7 conv, two stride-2 convs doubling the width, more at that width, no norm
    (it would wash out what the class looks like), global average pooling, a 1x1 conv to latent_dim."""

    def __init__(self, channels: int, dim: int, latent_dim: int, n_downsample: int):
        super().__init__()
        layers = [ConvNormAct(channels, dim, 7, padding=3, norm="none", padding_mode="reflect", bias=True)]
        for i in range(max(2, n_downsample)):  # the official code always doubles twice
            out = dim * 2 if i < 2 else dim
            layers.append(ConvNormAct(dim, out, 4, 2, 1, norm="none", padding_mode="reflect", bias=True))
            dim = out
        self.layers = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
        self.head = nn.Conv2d(dim, latent_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(x)).flatten(1)


class ContentEncoder(nn.Module):
    def __init__(self, channels: int, dim: int, n_downsample: int, n_res: int, res_block: str = "post"):
        super().__init__()
        layers = [ConvNormAct(channels, dim, 7, padding=3, norm="instance", padding_mode="reflect", bias=True)]
        for _ in range(n_downsample):
            layers.append(ConvNormAct(dim, dim * 2, 4, 2, 1, norm="instance", padding_mode="reflect", bias=True))
            dim *= 2
        layers += [residual_block(dim, "instance", res_block) for _ in range(n_res)]
        self.layers = nn.Sequential(*layers)
        self.width = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class UpResBlock(nn.Module):
    """imaginaire FUNIT's upsampling residual block (UpRes2dBlock, order CNACNA, learned shortcut), each of
    its three convs followed by its own AdaIN and a ReLU:
    conv1(x2 nearest(conv0(x))) + shortcut(x2 nearest(x)), conv0 and conv1 `kernel` x `kernel` (reflect),
    the shortcut 1x1. Called as `block(x, [style_0, style_1, style_shortcut])`."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 5):
        super().__init__()
        pad = kernel // 2
        self.conv0 = ConvNormAct(in_channels, out_channels, kernel, padding=pad, norm="adain", padding_mode="reflect",
                                 bias=True)
        self.conv1 = ConvNormAct(out_channels, out_channels, kernel, padding=pad, norm="adain",
                                 padding_mode="reflect", bias=True, upsample=2)
        self.shortcut = ConvNormAct(in_channels, out_channels, 1, norm="adain", bias=True, upsample=2)

    def forward(self, x: torch.Tensor, styles) -> torch.Tensor:
        first, second, shortcut = styles
        return self.shortcut(x, shortcut) + self.conv1(self.conv0(x, first), second)


class Decoder(nn.Module):
    """Content code + (gamma, beta) per AdaIN -> image: AdaIN residual blocks, then per downsampling of the
    content encoder x2 nearest + conv + instance norm (`up_block="conv"`) or imaginaire's AdaIN UpResBlock
    ("residual"), and a 7x7 conv with tanh."""

    def __init__(self, width: int, n_upsample: int, n_res: int, channels: int, up_kernel: int = 5,
                 res_block: str = "post", up_block: str = "conv"):
        super().__init__()
        if up_block not in UP_BLOCKS:
            raise ValueError(f"up_block must be one of {UP_BLOCKS}, got {up_block!r}")
        self.blocks = nn.ModuleList(residual_block(width, "adain", res_block) for _ in range(n_res))
        up = []
        for _ in range(n_upsample):
            if up_block == "residual":
                up.append(UpResBlock(width, width // 2, up_kernel))
            else:
                up.append(ConvNormAct(width, width // 2, up_kernel, padding=up_kernel // 2, norm="instance",
                                      padding_mode="reflect", bias=True, upsample=2))
            width //= 2
        up.append(ConvNormAct(width, channels, 7, padding=3, norm="none", padding_mode="reflect", activation=nn.Tanh()))
        self.up = nn.Sequential(*up)
        self.up_styles = [len(adaptive_norms(layer)) for layer in self.up]  # how many (gamma, beta) each takes

    def forward(self, content: torch.Tensor, styles: list) -> torch.Tensor:
        x = content
        for i, block in enumerate(self.blocks):
            x = block(x, styles[2 * i:2 * i + 2])
        start = 2 * len(self.blocks)
        for layer, n in zip(self.up, self.up_styles):
            x = layer(x, styles[start:start + n]) if n else layer(x)
            start += n
        return x


class ContentConditioning(nn.Module):
    """COCO-FUNIT's content-conditioned style: relu(MLP([class code, usb])) * relu(MLP(mean of content))."""

    def __init__(self, content_width: int, latent_dim: int, mlp_dim: int, usb_dim: int):
        super().__init__()
        self.usb = nn.Parameter(torch.randn(1, usb_dim))  # the universal style bias (imaginaire: randn init)
        self.mlp_style = nn.Sequential(MLP(latent_dim + usb_dim, latent_dim, mlp_dim, 2), nn.ReLU())
        self.mlp_content = nn.Sequential(MLP(content_width, latent_dim, mlp_dim, 2), nn.ReLU())

    def forward(self, code: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        style = self.mlp_style(torch.cat([code, self.usb.expand(len(code), -1)], 1))
        return style * self.mlp_content(content.mean((2, 3)))


class FUNIT(HubModel):
    """The few-shot generator: content encoder, class encoder, MLP and AdaIN decoder (`coco` too with
    style_encoder="coco"). The multi-task discriminator is a training matter and is not shipped.

    The defaults are the official FUNIT's (128 px animal faces); the fonts recipe is smaller."""

    def __init__(self, image_size: int = 128, channels: int = 3, dim: int = 64, latent_dim: int = 64,
                 n_downsample: int = 3, n_class_downsample: int = 4, n_res: int = 2, mlp_dim: int = 256,
                 n_mlp: int = 3, up_kernel: int = 5, style_encoder: str = "funit", usb_dim: int = 1024,
                 inputs: str = "images", domain_a: str = "content", domain_b: str = "references",
                 licence_note: str = "", res_block: str = "post", instance_affine: bool = False,
                 adain_scale: str = "gamma", up_block: str = "conv"):
        """style_encoder: "funit" (the class code as the class encoder gives it) or "coco" (conditioned on
        the content, COCO-FUNIT). usb_dim: the length of COCO-FUNIT's universal style bias (unused by "funit").
        inputs: "glyphs" (content and references are normalised as glyphs, and what cannot be one is refused:
        the fonts models) or "images" (any pictures, letterboxed as in every family: a model trained on a
        user's own classes of photos).
        domain_a / domain_b: what the content and the references are, in words (cards and the app).
        licence_note: terms that come with the weights, for the app to show (NVIDIA's published FUNIT
        checkpoints are non-commercial; training.convert writes it).
        res_block, instance_affine, adain_scale, up_block: the original FUNIT's maths by default; imaginaire's
        FUNIT and COCO-FUNIT are "post_relu", True, "1+gamma" and "residual" (see the module docstring)."""
        super().__init__()
        if style_encoder not in STYLE_ENCODERS:
            raise ValueError(f"style_encoder must be one of {STYLE_ENCODERS}, got {style_encoder!r}")
        if inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
        if up_kernel % 2 == 0:
            raise ValueError(f"up_kernel must be odd, got {up_kernel}")
        if image_size % 2 ** max(n_downsample, n_class_downsample):
            raise ValueError(f"image_size {image_size} must be divisible by 2^{max(n_downsample, n_class_downsample)}")
        check_choice("adain_scale", adain_scale, ADAIN_SCALES)
        self.channels, self.adain_scale = channels, adain_scale
        self.class_encoder = ClassEncoder(channels, dim, latent_dim, n_class_downsample)
        self.content_encoder = ContentEncoder(channels, dim, n_downsample, n_res, res_block)
        self.decoder = Decoder(self.content_encoder.width, n_downsample, n_res, channels, up_kernel, res_block,
                               up_block)
        self.mlp = MLP(latent_dim, style_params_count(self.decoder), mlp_dim, n_mlp)
        self.coco = ContentConditioning(self.content_encoder.width, latent_dim, mlp_dim, usb_dim) \
            if style_encoder == "coco" else None
        if instance_affine:
            make_instance_norms_affine(self)

    def class_code(self, references: torch.Tensor) -> torch.Tensor:
        """K x C x S x S -> 1 x latent_dim (the codes averaged), or N x K x C x S x S -> N x latent_dim."""
        if references.dim() == 4:
            return self.class_encoder(references).mean(0, keepdim=True)
        n, k = references.shape[:2]
        return self.class_encoder(references.flatten(0, 1)).view(n, k, -1).mean(1)

    def decode(self, content: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """Content codes (N) and class codes (N, or 1 for all) -> images."""
        code = code.expand(len(content), -1)
        if self.coco is not None:
            code = self.coco(code, content)
        styles = split_style(self.mlp(code), self.decoder)
        return self.decoder(content, scaled_styles(styles, self.adain_scale))

    def forward(self, x: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
        return self.decode(self.content_encoder(x), self.class_code(references))


# --- glyphs ----------------------------------------------------------------------------------------------
def glyph_extent(size: int) -> int:
    """The longest side a font's largest glyph gets in a size x size frame (the builder's margins)."""
    return size - 2 * round(size * MARGIN_FRACTION)


@dataclass
class Glyph:
    """The ink of a picture of a glyph, polarity and contrast normalised."""
    ink: np.ndarray  # H x W float32 in [0, 1], 1 = full ink, at the picture's full size
    inverted: bool  # the picture was light ink on a dark ground
    box: tuple[int, int, int, int]  # the ink's bounding box (left, top, right, bottom), right/bottom exclusive

    def in_layout(self, size: int) -> bool:
        """Already a frame of the training data: size x size, dark on light, the ink centred (to a pixel)
        inside the margins. Such a picture is used as it is, so a font's glyphs keep their relative sizes."""
        left, top, right, bottom = self.box
        margin = round(size * MARGIN_FRACTION)
        return (self.ink.shape == (size, size) and not self.inverted and min(left, top) >= margin - 1
                and max(right, bottom) <= size - margin + 1 and abs(left + right - size) <= 2
                and abs(top + bottom - size) <= 2)

    def frame(self, size: int) -> tuple[Image.Image, tuple[float, float, float, float]]:
        """The glyph in the training layout (size x size RGB, dark ink on white): cropped to its ink box,
        scaled so the box's longest side is TYPICAL_EXTENT of the room a font's largest glyph gets, centred;
        and the region of the picture the frame covers (left, top, right, bottom in the picture's pixels,
        possibly beyond its edges), to put a translation back."""
        if self.in_layout(size):
            frame = Image.fromarray(((1 - self.ink) * 255).round().astype(np.uint8), "L")
            return frame.convert("RGB"), (0.0, 0.0, float(size), float(size))
        left, top, right, bottom = self.box
        crop = Image.fromarray(((1 - self.ink[top:bottom, left:right]) * 255).round().astype(np.uint8), "L")
        scale = TYPICAL_EXTENT * glyph_extent(size) / max(crop.size)
        width, height = max(1, round(crop.width * scale)), max(1, round(crop.height * scale))
        crop = crop.resize((width, height), Image.Resampling.BOX if scale < 1 else Image.Resampling.LANCZOS)
        x, y = (size - width) // 2, (size - height) // 2
        canvas = Image.new("L", (size, size), 255)
        canvas.paste(crop, (x, y))
        sx, sy = crop.width / (right - left), crop.height / (bottom - top)  # the scale actually applied
        region = (left - x / sx, top - y / sy, left + (size - x) / sx, top + (size - y) / sy)
        return canvas.convert("RGB"), region


def find_glyph(image, name: str = "The image") -> Glyph:
    """Find the glyph in a picture, or raise ImageError saying why it cannot be one (see the module
    docstring). `name` starts the messages ("Reference 2 of 3")."""
    picture = images.load_image(image)
    grey = np.asarray(picture.convert("L"), dtype=np.float32) / 255
    small = picture.convert("L")
    if max(small.size) > ANALYSIS_SIDE:
        small.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE), Image.Resampling.BOX)
    g = np.asarray(small, dtype=np.float32) / 255
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    border_level = float(np.median(border))
    uniform_border = np.mean(np.abs(border - border_level) < 0.1) >= 0.9
    background = border_level if uniform_border else float(np.median(g))  # border, else the majority
    off = g[np.abs(g - background) > MIN_CONTRAST / 2]
    if off.size < max(4, 1e-4 * g.size):
        raise ImageError(f"{name} has no glyph in it: it is blank or one flat colour. Give a picture of one or a "
                         f"few letters, dark on light or light on dark.")
    darker, lighter = off[off < background], off[off > background]
    inverted = float(np.sum(lighter - background)) > float(np.sum(background - darker))  # the side with more ink
    ink_level = float(np.percentile(lighter, 95)) if inverted else float(np.percentile(darker, 5))
    if abs(ink_level - background) < MIN_CONTRAST:
        raise ImageError(f"{name} has too little contrast to find a glyph in it (ink and background differ by "
                         f"{abs(ink_level - background):.0%} of the grey range).")
    v = np.clip((g - background) / (ink_level - background), 0, 1)
    beyond = (g - background) * np.sign(background - ink_level) > MIN_CONTRAST / 2  # away from the ink: neither
    ink_share, midtones = float(np.mean(v > 0.5)), float(np.mean(((v > 0.2) & (v < 0.8)) | beyond))
    if ink_share > MAX_INK:
        raise ImageError(f"{name} is {ink_share:.0%} ink: it covers almost everything, so it is not a glyph on a "
                         f"plain background.")
    if midtones > MAX_MIDTONES:
        raise ImageError(f"{name} looks like a photo or a shaded picture ({midtones:.0%} of it is neither ink nor "
                         f"background), not a glyph. Give letters on a plain background.")
    ink = np.clip((grey - background) / (ink_level - background), 0, 1)
    rows, cols = np.flatnonzero((ink > 0.25).any(axis=1)), np.flatnonzero((ink > 0.25).any(axis=0))
    if rows.size == 0:
        raise ImageError(f"{name} has no glyph in it: the ink is too faint.")
    return Glyph(ink, inverted, (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))


def normalise_reference(image, size: int, name: str = "The reference") -> Image.Image:
    """A picture of a glyph -> the glyph in the training layout (size x size RGB, dark on white)."""
    return find_glyph(image, name).frame(size)[0]


def font_path(font: str | Path | None = None) -> Path:
    """The base font: a TTF/OTF file, or the bundled DejaVu Sans (assets/fonts in a checkout,
    translator/fonts in a wheel)."""
    if font is not None:
        return Path(font)
    return hub.bundled_models_dir().parent / "fonts" / BASE_FONT


def load_font(font: str | Path | None, size: float) -> ImageFont.FreeTypeFont:
    path = font_path(font)
    try:
        return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)
    except OSError as err:
        raise OptionsError(f"font: cannot read {path} as a TrueType/OpenType font ({err}).") from None


def ink_of(font: ImageFont.FreeTypeFont, char: str) -> tuple[Image.Image, tuple[int, int, int, int]] | None:
    """A character's ink (L, 255 = ink) cropped to its box, and that box relative to the pen on the baseline."""
    left, top, right, bottom = font.getbbox(char, anchor="ls")
    pad = 2 + (bottom - top) // 8
    canvas = Image.new("L", (max(right - left, 1) + 2 * pad, max(bottom - top, 1) + 2 * pad), 0)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), char, font=font, fill=255, anchor="ls")
    box = canvas.getbbox()
    if box is None:
        return None
    x0, y0, x1, y1 = box
    return canvas.crop(box), (x0 - pad + left, y0 - pad + top, x1 - pad + left, y1 - pad + top)


class FontLayout:
    """A font drawn as the font dataset is (training/data/fonts.py): one scale for the whole font, at which
    its largest glyph over A-Z a-z 0-9 just fits the frame inside the margins, so `o` stays smaller than
    `O`; each glyph drawn 4x oversampled, centred by its ink box, box-filtered down. `frame` also says where
    the frame sits relative to the pen on the baseline, so translated frames can be set back on a line."""

    MEASURE = 256  # em size (px) of the measuring pass

    def __init__(self, font: str | Path | None, size: int):
        measuring = load_font(font, self.MEASURE)
        boxes = [b for b in (ink_of(measuring, c) for c in ALPHABET) if b is not None]
        if not boxes:
            raise OptionsError(f"font: {font_path(font)} draws none of A-Z, a-z, 0-9.")
        extent = max(max(x1 - x0, y1 - y0) for _, (x0, y0, x1, y1) in boxes)
        self.size, self.target = size, OVERSAMPLE * glyph_extent(size)
        self.em = self.MEASURE * self.target / extent  # at 4x
        self.font = load_font(font, self.em)
        self.plain = load_font(font, self.em / OVERSAMPLE)  # for characters that are drawn, not translated

    def frame(self, char: str) -> tuple[Image.Image, tuple[float, float]] | None:
        """(the frame, the position of its top-left corner relative to the pen on the baseline), or None
        if the font draws nothing for `char`."""
        drawn = ink_of(self.font, char)
        if drawn is None:
            return None
        ink, (x0, y0, _, _) = drawn
        fit = min(1.0, self.target / max(ink.size))
        if fit < 1.0:  # a pixel over after hinting: shrink, never clip (as the builder)
            ink = ink.resize((max(1, round(ink.width * fit)), max(1, round(ink.height * fit))),
                             Image.Resampling.LANCZOS)
        high = OVERSAMPLE * self.size
        canvas = Image.new("L", (high, high), 0)
        x, y = round((high - ink.width) / 2), round((high - ink.height) / 2)
        canvas.paste(ink, (x, y))
        frame = ImageOps.invert(canvas.reduce(OVERSAMPLE)).convert("RGB")
        return frame, ((x0 * fit - x) / OVERSAMPLE, (y0 * fit - y) / OVERSAMPLE)

    def advance(self, char: str) -> float:
        return self.font.getlength(char) / OVERSAMPLE

    @property
    def line_height(self) -> tuple[float, float]:
        ascent, descent = self.font.getmetrics()
        return ascent / OVERSAMPLE, descent / OVERSAMPLE


@functools.lru_cache(maxsize=8)
def font_layout(font: str | None, size: int) -> FontLayout:
    return FontLayout(font, size)


def render_glyph(char: str, font: str | Path | None = None, size: int = 64) -> Image.Image:
    """One character of a font as the font dataset holds it (size x size RGB, dark on white; see
    FontLayout); ImageError if the font draws nothing for it."""
    drawn = font_layout(None if font is None else str(font), size).frame(char)
    if drawn is None:
        raise ImageError(f"{font_path(font).name} draws nothing for {char!r}")
    return drawn[0]


@dataclass(frozen=True)
class GlyphLayout:
    """Where a content glyph's frame came from, so its translation goes back there."""
    width: int
    height: int
    region: tuple[float, float, float, float]  # the picture's region the frame covers
    inverted: bool

    @property
    def display_size(self) -> tuple[int, int]:
        return images.Layout(self.width, self.height, (0, 0, self.width, self.height), 0).display_size


def paste_frame(canvas: Image.Image, frame: Image.Image, region: tuple[float, float, float, float]) -> None:
    """Draw a translated frame into `region` of a white canvas, keeping the darker pixel where frames of
    neighbouring glyphs overlap."""
    left, top, right, bottom = region
    x, y = round(left), round(top)
    width, height = max(1, round(right) - x), max(1, round(bottom) - y)
    layer = Image.new("RGB", canvas.size, "white")
    layer.paste(frame.resize((width, height), Image.Resampling.LANCZOS), (x, y))
    canvas.paste(ImageChops.darker(canvas, layer))


# --- the translator --------------------------------------------------------------------------------------
@dataclass
class FewShot:
    """A few-shot translation: the image (a glyph or a line of text), how many references made it, the time."""
    translation: Image.Image
    k: int
    seconds: float
    summary: str


class FUNITTranslator(Translator):
    directions = ("a2b",)
    options = ("references",)
    model: FUNIT

    @property
    def channels(self) -> int:
        return int(self.config.get("channels", 3))

    @property
    def glyphs(self) -> bool:
        return self.config.get("inputs") == "glyphs"

    def direction_label(self, direction: str) -> str:
        return "content → the references' class"

    def prepare(self, image) -> tuple[torch.Tensor, images.Layout | GlyphLayout]:
        """A content image: for a glyph model, a glyph goes into the training layout (its translation comes
        back to where it was); any other picture, or any picture for an image model, is letterboxed as in
        every family."""
        picture = images.load_image(image)
        if not self.glyphs:
            return super().prepare(picture)
        try:
            glyph = find_glyph(picture)
        except ImageError:
            return super().prepare(picture)
        frame, region = glyph.frame(self.image_size)
        return images.pil_to_tensor(frame).to(self.device), GlyphLayout(*picture.size, region, glyph.inverted)

    def prepare_reference(self, image) -> torch.Tensor:
        if not self.glyphs:
            return super().prepare_reference(image)
        return images.pil_to_tensor(normalise_reference(image, self.image_size)).to(self.device)

    def finish(self, output: torch.Tensor, layout) -> Image.Image:
        if not isinstance(layout, GlyphLayout):
            return super().finish(output, layout)
        canvas = Image.new("RGB", (layout.width, layout.height), "white")
        paste_frame(canvas, images.tensor_to_pil(output), layout.region)
        if layout.inverted:
            canvas = ImageOps.invert(canvas)
        return canvas.resize(layout.display_size, Image.Resampling.LANCZOS)

    def to_network(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(-3, keepdim=True) if self.channels == 1 else x

    def translate_tensor(self, x: torch.Tensor, direction: str = "a2b", references: torch.Tensor | None = None,
                         ) -> torch.Tensor:
        """N x 3 x S x S content -> translated. references: K x 3 x S x S (one class for all N, the K codes
        averaged) or N x K x 3 x S x S (a class per content image); None: each content's own class code
        (the reconstruction)."""
        x = self.to_network(x)
        content = self.model.content_encoder(x)
        code = self.model.class_encoder(x) if references is None else \
            self.model.class_code(self.to_network(references))
        out = self.model.decode(content, code)
        return out.expand(-1, 3, -1, -1) if self.channels == 1 else out

    def translate_text(self, word: str, references=None, font: str | Path | None = None) -> Image.Image:
        """A typed line of text in the references' style: each character drawn in the base font (`font`, a
        TTF/OTF path; default the bundled DejaVu Sans) in the training layout, translated glyph by glyph,
        and put back on the line where the base font set it, spaces and all. Characters the glyph data does
        not hold (punctuation, accents) stay in the base font. Returns the line enlarged so that a model frame is
        TEXT_FRAME px high (so its width grows with the text), shrunk if that is wider than TEXT_MAX_WIDTH."""
        if not isinstance(word, str) or not word.strip():
            raise OptionsError("Type a word (at least one letter or digit).")
        if len(word) > MAX_TEXT or any(not c.isprintable() for c in word):
            raise OptionsError(f"Type one line of at most {MAX_TEXT} characters, got {len(word)}"
                               + (" with a line break or control character" if any(not c.isprintable() for c in word)
                                  else "") + ".")
        options = check_options(self, {"references": references})
        layout = font_layout(None if font is None else str(font), self.image_size)
        size, pen = self.image_size, 0.0
        frames, places, drawn = [], [], []  # places: each frame's top-left relative to the baseline's start
        for char in word:
            glyph = layout.frame(char) if char in ALPHABET else None
            if glyph is not None:
                frames.append(images.pil_to_tensor(glyph[0]))
                places.append((pen + glyph[1][0], glyph[1][1]))
            elif not char.isspace():
                drawn.append((pen, char))  # kept in the base font
            pen += layout.advance(char)
        ascent, descent = layout.line_height
        left = min([0.0] + [x for x, _ in places]) - size / 8
        top = min([-ascent] + [y for _, y in places]) - size / 8
        right = max([pen] + [x + size for x, _ in places]) + size / 8
        bottom = max([descent] + [y + size for _, y in places]) + size / 8
        canvas = Image.new("RGB", (round(right - left), round(bottom - top)), "white")
        for x, char in drawn:
            ImageDraw.Draw(canvas).text((x - left, -top), char, fill="black", font=layout.plain, anchor="ls")
        if frames:
            out = self._timed(self.network_output, torch.cat(frames).to(self.device), **options)
            for output, (x, y) in zip(out, places):
                paste_frame(canvas, images.tensor_to_pil(output), (x - left, y - top, x - left + size, y - top + size))
        scale = min(TEXT_FRAME / size, TEXT_MAX_WIDTH / canvas.width)  # one height for every line, unless too long
        return canvas.resize((round(canvas.width * scale), round(canvas.height * scale)), Image.Resampling.LANCZOS)

    def run_fewshot(self, image=None, direction: str = "a2b", references=None, text: str | None = None,
                    font: str | Path | None = None) -> FewShot:
        """The tab's action: the content glyph image, or the typed `text` (which wins when both are
        given), in the style of the 1-20 reference images."""
        start = time.perf_counter()
        if text is not None and str(text).strip():
            out = self.translate_text(text, references, font)
        elif image is not None:
            out = self.translate(image, direction, references=references)
        else:
            raise OptionsError("Give a content glyph image or type a word.")
        k = len(references) if references else 0
        seconds = time.perf_counter() - start
        summary = (f"K = {k} reference image{'s' if k != 1 else ''} (class codes averaged), {seconds:.2f} s" if k else
                   f"no references: the content's own style (FUNIT's reconstruction), {seconds:.2f} s")
        return FewShot(out, k, seconds, summary)


register(Family(
    name="funit", title="FUNIT", network=FUNIT, translator=FUNITTranslator, evaluation="fewshot",
    paper="Liu, Huang, Mallya, Karras, Aila, Lehtinen, Kautz, *Few-Shot Unsupervised Image-to-Image Translation*, "
          "ICCV 2019 (https://arxiv.org/abs/1905.01723); the style_encoder=\"coco\" models: Saito, Saenko, Liu, "
          "*COCO-FUNIT: Few-Shot Unsupervised Image Translation with a Content Conditioned Style Encoder*, ECCV 2020 "
          "(https://arxiv.org/abs/2007.07431)",
    code_licence="CC BY-NC-SA 4.0, non-commercial (NVlabs/FUNIT); COCO-FUNIT: NVIDIA Source Code License, "
                 "non-commercial (NVlabs/imaginaire); this implementation: MIT",
    tab=Tab(method="run_fewshot",
            outputs=(Output("translation", "Translation"), Output("summary", "References used", kind="text")),
            intro="Few-shot translation (FUNIT): drop 1 to 20 images of a class the model never saw (a few letters "
                  "of a font), and the content comes back in that style. The class codes of the references are "
                  "averaged, so more of them give a steadier style.",
            text="A word to write in that style (instead of a content glyph)"),
    tiny_config={"image_size": 32, "dim": 4, "latent_dim": 4, "n_downsample": 2, "n_class_downsample": 3,
                 "n_res": 1, "mlp_dim": 8, "n_mlp": 2, "usb_dim": 8, "inputs": "glyphs"},
))
