"""pix2pix (Isola et al., 2017): paired translation with a U-Net generator and a conditional PatchGAN.

The U-Net is the paper's: stride-2 4x4 convs down to 1x1 at the training size, the mirror up with skip
connections, batch norm, dropout 0.5 in the innermost-but-one 512-channel blocks (defaults: ngf 64,
8 downs = unet_256: exactly the official 54,413,955 parameters). It is written as two lists of blocks and
a loop, not a recursion, so keys read `down.3.conv.weight`, `up.2.norm.weight`.

Inference, chosen deliberately: the official test runs the generator in *train mode* (batch statistics,
dropout on). We keep the per-image statistics — with batch size 1, training-mode batch norm *is*
instance normalisation with learned scale and shift, so that is what the network was trained with — and
turn dropout off, so a drawing always gives the same image and a batch gives each image its own result.
The running averages stay in the file (what the official `--eval` uses); this translator does not use them.
A model with `test_dropout=True` in its config keeps dropout on as well: the official test exactly, whose
outputs vary from run to run (a converted official checkpoint can ask for it).

A departure for line drawings, off by default (and so in every official checkpoint): `inside_channel=True`
appends `inside_of_drawing(drawing)` (what the strokes enclose, by a flood fill from the border) to the
drawing as a fourth input channel, inside the network's forward.

Another, also off by default: `region_colours=True` replaces the output inside each region the drawing's
strokes enclose by that region's mean colour (`colour_by_region`), inside the forward, so every caller
(translator, fast path, evaluation, a training run through it) sees the same image. Why: every sketch model
trained here mottles the inside of shapes, and a line drawing says exactly where its colour regions are.
It cleans the mottle; it cannot make a muddy colour right (docs/experiments.md, "Colour by region").

A third, with region colours: `palette_size=K` chooses each region's colour among K palette colours (learnt
from the training targets, kept in the weights) instead of regressing it. A second head gives K scores per
pixel; a region's scores are averaged and its colour is the softmax-weighted palette colour at a low
temperature (the "annealed mean" of Zhang, Isola and Efros, *Colorful Image Colorization*, 2016). Why: a
drawing of a heart could be any of six colours, and a regressed colour (L1) is their muddy middle; a choice
among colours, trained by cross-entropy, is the likeliest colour, which is how that paper made colourisation
vivid instead of sepia. `palette_strokes=True` chooses each stroke pixel's colour too, from its own scores.
`palette_global=True` adds to every pixel's scores a term read from the U-Net's bottleneck (one linear layer on
its spatial mean): what the whole drawing is reaches each region's choice. Why: at batch 1, batch norm
normalises each channel per image at every level but the bottleneck, and the per-pixel head alone learnt
only how often each colour occurs (its cross-entropy stayed at the training colours' entropy, 3.5 nats, in
versions 21-31: `python -m training.palette_fit`, docs/experiments.md).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import images
from .base import Family, HubModel, Tab, Translator
from .layers import ConvNormAct
from .registry import register


class UNetGenerator(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, num_downs: int = 8,
                 norm: str = "batch", dropout: float = 0.5, inner_norm: str | None = None):
        """inner_norm: the norm of the two levels next to the bottleneck (the 2x2 and 4x4 maps when the U-Net
        goes down to 1x1), down and up; None = `norm` everywhere, as the paper. Why: per-image, per-channel
        statistics (batch norm at batch 1, instance norm) over 4 or 16 pixels subtract each channel's mean,
        which is most of what the bottleneck says about the whole drawing; layer norm keeps the channels'
        relative sizes."""
        super().__init__()
        if num_downs < 5:
            raise ValueError("num_downs must be at least 5 (ngf x1, x2, x4, x8, innermost)")
        widths = [ngf, ngf * 2, ngf * 4] + [ngf * 8] * (num_downs - 3)

        def block_norm(levels_above_bottleneck: int) -> str:
            return inner_norm if inner_norm and levels_above_bottleneck <= 2 else norm

        plain = nn.Identity  # activations come before each conv (forward), as in the paper's blocks
        down = [ConvNormAct(in_channels, widths[0], 4, 2, 1, norm="none", bias=norm != "batch", activation=plain())]
        for i in range(1, num_downs):
            innermost = i == num_downs - 1
            kind = "none" if innermost else block_norm(num_downs - 1 - i)
            # the innermost conv's bias follows `norm`, whatever `inner_norm` is (the paper's rule)
            bias = norm != "batch" if innermost else kind != "batch"
            down.append(ConvNormAct(widths[i - 1], widths[i], 4, 2, 1, norm=kind, bias=bias, activation=plain()))
        up = []
        for i in reversed(range(1, num_downs)):  # innermost first; input is the skip concat except innermost
            channels_in = widths[i] if i == num_downs - 1 else widths[i] * 2
            drop = dropout if (widths[i] == ngf * 8 and 0 < num_downs - 1 - i < num_downs - 4) else 0.0
            kind = block_norm(num_downs - i)  # this block's output is at the level of down[i - 1]
            up.append(ConvNormAct(channels_in, widths[i - 1], 4, 2, 1, norm=kind, transpose=True, bias=kind != "batch",
                                  activation=nn.Dropout(drop) if drop else plain()))
        self.down, self.up = nn.ModuleList(down), nn.ModuleList(up)
        self.head = nn.ConvTranspose2d(widths[0] * 2, out_channels, 4, 2, 1)
        self.size_multiple = 2 ** num_downs

    def features(self, x: torch.Tensor, with_bottleneck: bool = False
                 ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """What the head reads (at half the size, ngf x 2 channels, activated); with_bottleneck: also the
        innermost map as the up path reads it (activated, never normalised), as (features, bottleneck)."""
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.leaky_relu(x, 0.2))
            skips.append(x)
        bottleneck = F.relu(skips[-1])
        for i, block in enumerate(self.up):
            x = block(F.relu(x))
            x = torch.cat([x, skips[-(i + 2)]], dim=1)
        return (F.relu(x), bottleneck) if with_bottleneck else F.relu(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.features(x)))


def strokes_of(drawing: torch.Tensor) -> torch.Tensor:
    """Bx3xHxW drawing in [-1, 1] -> Bx1xHxW: 1 on the strokes (pixels darker than mid-grey), 0 on the paper."""
    return (drawing.mean(1, keepdim=True) < 0).to(drawing.dtype)


def inside_of_drawing(drawing: torch.Tensor) -> torch.Tensor:
    """Bx3xHxW drawing in [-1, 1], dark strokes on light paper -> Bx1xHxW: -1 on the paper that can be
    reached from the border without crossing a stroke (the outside), 1 on the strokes and what they enclose.
    Strokes are the pixels darker than mid-grey (paler ones the U-Net still sees, the fill does not), and they
    are thickened by a pixel, so the paper within a pixel of a stroke (diagonals included) counts as inside.

    Why it was tried: at 64 px a U-Net sees stroke pixels, not which side of a stroke is inside (version 6 of
    the sketch model measured it: no better GAN, docs/experiments.md). This is a flood fill from the border,
    written as a fixed number of masked 4-neighbour growth steps (H + W, enough for any region but a long
    spiral's, which then counts as inside) so that it traces into one static graph for the ONNX fast path and
    costs the same every time."""
    ink = strokes_of(drawing)
    # strokes thickened by a pixel first: a gap of a pixel or two in a freehand outline does not let the outside in
    paper = 1 - F.max_pool2d(ink, 3, 1, 1)
    interior = F.pad(torch.ones_like(paper[..., 1:-1, 1:-1]), (1, 1, 1, 1))
    outside = spread_within(paper * (1 - interior), paper)  # from the paper on the border
    return 1 - 2 * outside


def spread_within(values: torch.Tensor, paper: torch.Tensor, stop_early: bool = False) -> torch.Tensor:
    """Bx1xHxW: each paper pixel takes the largest value among itself and its 4 neighbours, H + W times (a fixed
    count: one static graph for the ONNX fast path); off the paper values are 0. `stop_early`: eager calls stop
    once nothing changes (the result is the same; a traced graph always takes every step)."""
    stop_early = stop_early and not torch.jit.is_tracing()
    height, width = values.shape[-2:]
    for step in range(height + width):
        grown = torch.maximum(F.max_pool2d(values, (3, 1), 1, (1, 0)), F.max_pool2d(values, (1, 3), 1, (0, 1)))
        grown = grown * paper
        if stop_early and step % 8 == 7 and torch.equal(grown, values):
            break  # most drawings are done in a third of the steps
        values = grown
    return values


def enclosed_regions(drawing: torch.Tensor) -> torch.Tensor:
    """Bx3xHxW drawing in [-1, 1] -> BxHxW int64: a number > 0 for each region of paper its strokes enclose
    (4-connected, so a one-pixel diagonal stroke still separates two regions), 0 on the strokes and on the paper
    that touches the border (the outside, or an outline with a gap).

    Each paper pixel starts with its own number and takes its neighbours' largest, a fixed H + W times (one
    static graph for the ONNX fast path, like `inside_of_drawing`; eager calls stop once nothing changes): every
    region of a drawing ends with one number unless a path inside it is longer than H + W (a long spiral, a deep
    bay): then it keeps several numbers, and the far end of an outside bay counts as enclosed (as in
    `inside_of_drawing`)."""
    batch, _, height, width = drawing.shape
    paper = 1 - strokes_of(drawing).float()  # float32 whatever the drawing's dtype: fp16 labels collide above 2048
    numbers = torch.arange(1, height * width + 1, dtype=torch.float32, device=drawing.device)
    # exact in float32 up to 2**24 pixels
    regions = spread_within(numbers.view(1, 1, height, width) * paper, paper, stop_early=True)
    regions = regions.long().view(batch, height * width)
    border = torch.ones(height, width, dtype=torch.bool, device=drawing.device)
    border[1:-1, 1:-1] = False
    on_border = regions[:, border.view(-1)]
    touches = torch.zeros(batch, height * width + 1, dtype=torch.float32, device=drawing.device)
    touches = touches.scatter(1, on_border, 1.0)
    touches[:, 0] = 1  # the strokes
    return (regions * (1 - touches.gather(1, regions)).long()).view(batch, height, width)


def colour_by_region(output: torch.Tensor, drawing: torch.Tensor | None = None,
                     regions: torch.Tensor | None = None) -> torch.Tensor:
    """`output` (BxCxHxW) with each region `drawing` encloses (`enclosed_regions`) replaced by its mean colour
    there; the strokes and the outside keep the output as it is. Differentiable (a mean), so a network can be
    trained through it. `regions`: `enclosed_regions(drawing)` where the caller has it already (training
    colours the target and the output by the same regions)."""
    batch, channels, height, width = output.shape
    regions = (enclosed_regions(drawing) if regions is None else regions).view(batch, 1, height * width)
    slots = height * width + 1
    # sums and counts in float32: under fp16 autocast a count stops at 2048 and a region's mean goes wrong
    flat = output.float().reshape(batch, channels, height * width)
    sums = flat.new_zeros(batch, channels, slots).scatter_add(2, regions.expand(-1, channels, -1), flat)
    counts = flat.new_zeros(batch, 1, slots).scatter_add(2, regions, torch.ones_like(flat[:, :1]))
    means = (sums / counts.clamp(min=1)).gather(2, regions.expand(-1, channels, -1))
    return torch.where(regions > 0, means, flat).view_as(output).to(output.dtype)


def palette_pixels(drawing: torch.Tensor, regions: torch.Tensor, strokes: bool, stroke_width: int = 1) -> torch.Tensor:
    """Bx1xHxW bool: where a palette model's output is a chosen palette colour: the regions `drawing` encloses
    (`regions`, its `enclosed_regions`), and with `strokes` its stroke pixels too (each chosen on its own), only
    those of ink at least `stroke_width` pixels wide if that is above 1 (`solid_ink`)."""
    chosen = regions.unsqueeze(1) > 0
    if not strokes:
        return chosen
    ink = strokes_of(drawing)
    return chosen | (solid_ink(ink, stroke_width) if stroke_width > 1 else ink > 0)


def is_palette_stroke_width(width: int, strokes: bool) -> bool:
    """Whether `width` is a palette_stroke_width the model takes: 1 (every stroke), or with palette strokes an odd
    width up to 15 (`solid_ink` needs a middle pixel; wider is no stroke a 64-px drawing has)."""
    return width == 1 or (strokes and width % 2 == 1 and 0 < width <= 15)


def solid_ink(ink: torch.Tensor, width: int) -> torch.Tensor:
    """Bx1xHxW 0/1 ink -> bool: the ink pixels that lie in a `width` x `width` square of ink (a morphological
    opening): a person's dots for eyes, not the lines of an outline. `width` odd."""
    if width % 2 == 0:
        raise ValueError(f"stroke width must be odd, not {width}")
    eroded = 1 - F.max_pool2d(1 - ink, width, 1, width // 2)
    return F.max_pool2d(eroded, width, 1, width // 2) > 0


def palette_colours(scores: torch.Tensor, palette: torch.Tensor, temperature: float) -> torch.Tensor:
    """BxKxHxW scores over a Kx3 palette -> Bx3xHxW: the palette's softmax-weighted mean at `temperature`
    (1: the plain mean of the predicted distribution; towards 0: its likeliest colour)."""
    weights = torch.softmax(scores.float() / temperature, dim=1)
    return torch.einsum("bkhw,kc->bchw", weights, palette.float()).to(scores.dtype)


class Pix2Pix(HubModel):
    """The generator of a pix2pix run (the conditional discriminator is a training matter).
    `input_kind="sketch"` tells the translator to treat inputs as line drawings (see Pix2PixTranslator).
    `inside_channel=True` (drawings only) gives the U-Net a fourth input channel, `inside_of_drawing` of the
    input, computed here so that every caller (translator, fast path, evaluation, export) feeds 3 channels.
    `region_colours=True` (drawings only) colours each enclosed region of the drawing flat (`colour_by_region`).
    `palette_size=K` (with region colours) chooses that colour among K palette colours (the module docstring),
    and `palette_strokes=True` each stroke pixel's colour too; `palette_global=True` adds a per-drawing term
    from the bottleneck to every palette score."""

    # modules a training run may add to weights saved without them (--warm-start: they start fresh)
    optional_modules = ("palette_global_head",)

    def __init__(self, image_size: int = 256, in_channels: int = 3, out_channels: int = 3, ngf: int = 64,
                 num_downs: int = 8, norm: str = "batch", dropout: float = 0.5, domain_a: str = "A",
                 domain_b: str = "B", input_kind: str = "image", test_dropout: bool = False,
                 inside_channel: bool = False, inner_norm: str | None = None, region_colours: bool = False,
                 palette_size: int = 0, palette_temperature: float = 0.38, palette_strokes: bool = False,
                 palette_stroke_width: int = 1, palette_global: bool = False, palette_readings: int = 1):
        """test_dropout: keep dropout on at inference, as the official test does (read by the translator).
        inner_norm: another norm for the two levels next to the bottleneck (UNetGenerator).
        region_colours: each region the drawing encloses gets its mean output colour (no weights: the option can
        be switched on for a model trained without it, and is measured as such).
        palette_size: K palette colours (a `palette` buffer in the weights) and a head of K scores per pixel;
        each region's colour is `palette_colours` of its mean scores at `palette_temperature` (0.38: the
        colourisation paper's). 0: none.
        palette_strokes: each stroke pixel's colour is chosen from its own scores as well (why: a stroke lies
        between two colours in training, so a regressed stroke comes out as their middle, a faint grey-olive
        where a smiley's eyes should be dark). The rest of the outside keeps the regressed output.
        palette_stroke_width: with palette_strokes, only strokes of solid ink this wide (odd) are chosen, the
        dots a person draws for eyes; thinner lines stay regressed. 1: every stroke pixel.
        palette_global: every pixel's palette scores also get a per-drawing term, a linear layer on the
        bottleneck's spatial mean (the module docstring says why).
        palette_readings: the palette scores are the mean of this many readings of the drawing, its strokes
        widened by 0, 1, 2, ... pixels on each side (no weights: an inference choice, 1 in training). Why: a
        person's pen may be thinner than any training drawing's, and a choice that reads the drawing also reads
        its stroke width (docs/experiments.md, "Twenty-sixth session"); the regressed output, the regions and
        the chosen pixels stay the drawing's own."""
        super().__init__()
        if input_kind not in ("image", "sketch"):
            raise ValueError(f"input_kind must be 'image' or 'sketch', not {input_kind!r}")
        if image_size % 2 ** num_downs:
            raise ValueError(f"image_size {image_size} must be a multiple of 2**num_downs = {2 ** num_downs}")
        if inside_channel and (input_kind != "sketch" or in_channels != 3):
            raise ValueError("inside_channel is for 3-channel line drawings (input_kind='sketch')")
        if region_colours and (input_kind != "sketch" or in_channels != 3):
            raise ValueError("region_colours is for 3-channel line drawings (input_kind='sketch')")
        if palette_size and not region_colours:
            raise ValueError("palette_size chooses each region's colour: it needs region_colours=True")
        if palette_strokes and not palette_size:
            raise ValueError("palette_strokes chooses stroke colours from the palette: it needs palette_size")
        if not is_palette_stroke_width(palette_stroke_width, palette_strokes):
            raise ValueError("palette_stroke_width is an odd width up to 15, with palette_strokes")
        if palette_size and not 0 < palette_temperature <= 10:
            raise ValueError(f"palette_temperature must be in (0, 10], not {palette_temperature}")
        if palette_global and not palette_size:
            raise ValueError("palette_global adds to the palette's scores: it needs palette_size")
        if not 1 <= palette_readings <= 4 or (palette_readings > 1 and not palette_size):
            raise ValueError("palette_readings is 1 to 4 readings of the drawing, and more than 1 needs palette_size")
        self.inside_channel, self.region_colours = inside_channel, region_colours
        self.palette_temperature, self.palette_strokes = palette_temperature, palette_strokes
        self.palette_stroke_width, self.palette_readings = palette_stroke_width, palette_readings
        self.generator = UNetGenerator(in_channels + inside_channel, out_channels, ngf, num_downs, norm, dropout,
                                       inner_norm)
        if palette_size:
            self.palette_head = nn.ConvTranspose2d(self.generator.head.in_channels, palette_size, 4, 2, 1)
            self.register_buffer("palette", torch.zeros(palette_size, 3))  # in [-1, 1]; set by training
        else:
            self.palette_head = None
        bottleneck_channels = self.generator.down[-1].conv.out_channels
        self.palette_global_head = nn.Linear(bottleneck_channels, palette_size) if palette_global else None

    def condition(self, x: torch.Tensor) -> torch.Tensor:
        """What the U-Net (and in training the conditional discriminator) sees of an input."""
        return torch.cat([x, inside_of_drawing(x)], 1) if self.inside_channel else x

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None,
                regions: torch.Tensor | None = None, with_scores: bool = False):
        """condition: `self.condition(x)` where the caller has it already (training: the fill is not free);
        regions: likewise `enclosed_regions(x)`, with `region_colours`. with_scores: return (output, scores),
        scores being each pixel's scores over the palette (BxKxHxW; inside a region its mean there), what
        training scores by cross-entropy where `palette_pixels` chooses, or None without a palette."""
        output, scores = self._output_and_scores(x, condition, regions)
        return (output, scores) if with_scores else output

    def _output_and_scores(self, x, condition, regions) -> tuple[torch.Tensor, torch.Tensor | None]:
        features, bottleneck = self.generator.features(self.condition(x) if condition is None else condition,
                                                       with_bottleneck=True)
        output = torch.tanh(self.generator.head(features))
        if not self.region_colours:
            return output, None
        if regions is None:
            regions = enclosed_regions(x)
        if self.palette_head is None:
            return colour_by_region(output, regions=regions), None
        scores = self.palette_scores(features, bottleneck)
        for widen in range(1, self.palette_readings):  # the strokes widened (a min over the window keeps greys)
            wider = -F.max_pool2d(-x, 2 * widen + 1, 1, widen)
            scores = scores + self.palette_scores(*self.generator.features(self.condition(wider), with_bottleneck=True))
        scores = colour_by_region(scores / self.palette_readings, regions=regions)
        chosen = palette_colours(scores, self.palette, self.palette_temperature)
        pixels = palette_pixels(x, regions, self.palette_strokes, self.palette_stroke_width)
        return torch.where(pixels, chosen, output), scores

    def palette_scores(self, features: torch.Tensor, bottleneck: torch.Tensor) -> torch.Tensor:
        """Each pixel's palette scores from the U-Net's features (and with palette_global its bottleneck)."""
        scores = self.palette_head(features)
        if self.palette_global_head is not None:  # the bottleneck's mean: 1x1 unless image_size > 2**num_downs
            scores = scores + self.palette_global_head(bottleneck.mean((2, 3)))[:, :, None, None]
        return scores


def per_image_statistics(module: nn.Module) -> None:
    """Swap each BatchNorm2d for an InstanceNorm2d carrying the same learned scale and shift: training-mode
    batch norm at batch size 1, made deterministic and independent of what else is in the batch."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            norm = nn.InstanceNorm2d(child.num_features, eps=child.eps, affine=True)
            norm.weight, norm.bias = child.weight, child.bias
            setattr(module, name, norm)
        else:
            per_image_statistics(child)


class Pix2PixTranslator(Translator):
    directions = ("a2b",)
    options = ("tiled",)  # the U-Net is fully convolutional; tiles are exactly the model size
    model: Pix2Pix

    def __post_init__(self):
        per_image_statistics(self.model)  # every BatchNorm2d, wherever it is (norm or inner_norm); none: nothing
        self.model.eval()  # dropout off
        if self.config.get("test_dropout"):
            for module in self.model.modules():
                if isinstance(module, nn.Dropout):
                    module.train()

    @property
    def size_multiple(self) -> int:
        return self.model.generator.size_multiple  # 2**num_downs; whole, the bottleneck is then larger than 1x1

    def native_refusal(self) -> str | None:
        if self.input_kind == "drawing":
            return (f"{self.name} takes whole line drawings, cut to what was drawn and scaled to {self.image_size} px: "
                    "a tile of a drawing is not a drawing, so it does not translate tiled.")
        return super().native_refusal()

    def prepare(self, image) -> tuple[torch.Tensor, images.Layout]:
        # every input of a drawing model is a drawing (a reference or a tiling overview included)
        return self.prepare_drawing(image) if self.input_kind == "drawing" else super().prepare(image)

    def translate_tensor(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        return self.model(x)


register(Family(
    name="pix2pix", title="pix2pix", network=Pix2Pix, translator=Pix2PixTranslator,
    paper="Isola, Zhu, Zhou, Efros, *Image-to-Image Translation with Conditional Adversarial Networks*, "
          "CVPR 2017 (https://arxiv.org/abs/1611.07004)",
    code_licence="BSD-2-Clause (junyanz/pytorch-CycleGAN-and-pix2pix); this implementation: MIT",
    tab=Tab(intro="Paired translation (pix2pix): draw an emoji in black lines — a face, a heart, a fruit — and it "
                  "comes back coloured in **{b}** style. Any canvas size: the drawing is cut to what you drew, so "
                  "draw it big or small."),
    tiny_config={"image_size": 32, "ngf": 4, "num_downs": 5, "domain_a": "left", "domain_b": "right"},
))
