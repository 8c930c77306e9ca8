"""MUNIT (Huang, Liu, Belongie, Kautz, ECCV 2018): multimodal unsupervised translation.

Each image splits into a *content* code, shared by both domains (what is drawn, where), and a small
*style* code specific to its domain (how it is coloured). Translating A -> B keeps A's content and decodes
it with a B style: a random one (many outputs for one input), one read off a reference image, or one set
by hand, dimension by dimension.

Networks follow the official AdaINGen (NVlabs/MUNIT): a content encoder (7x7 conv, stride-2 4x4 convs,
residual blocks, instance norm), a style encoder (the same downsampling without norm, global average pool,
1x1 conv to `style_dim`, default 8), and a decoder whose residual blocks use AdaIN with scales and shifts
from an MLP on the style code, then nearest x2 upsampling + 5x5 convs with MUNIT's layer norm and a 7x7
conv to RGB with tanh. The MLP's output is laid out as the official one ([beta, gamma] per norm).

**imaginaire's MUNIT** (NVlabs/imaginaire, the maintained re-implementation) differs in its maths; each
difference is a setting here, so its converted weights give its outputs (training.convert sets them all):
`res_block="pre_act"` (residual blocks norm-ReLU-conv twice, its Res2dBlock `pre_act`), `instance_affine`
(instance norms with a learned scale and shift), `up_norm="adain"` (the upsampling convs take AdaIN too,
not the layer norm), `adain_scale="1+gamma"` (AdaIN scales by 1 + gamma), `output="clamp"` (no tanh: the
last conv's output clamped to [-1, 1], as its test saves it), `max_dim` (the content encoder's width
stops doubling there). Its per-norm projections of the MLP's output are, stacked, this MLP's last layer.
The defaults are the original MUNIT's.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image
from torch import nn

from .base import Family, HubModel, Tab, Translator
from .errors import OptionsError
from .layers import (ADAIN_SCALES, MLP, ConvNormAct, check_choice, make_instance_norms_affine, output_activation,
                     res_block, scaled_styles, split_style, style_params_count)
from .options import STYLE_LIMIT
from .registry import register


def down_path(dim: int, n_downsample: int, norm: str, extra: int = 0,
              max_dim: int = 0) -> tuple[list[nn.Module], int]:
    """7x7 conv, then `n_downsample` stride-2 4x4 convs doubling the width (up to `max_dim`, if not 0), then
    `extra` more at that width."""
    layers = [ConvNormAct(3, dim, 7, padding=3, norm=norm, padding_mode="reflect", bias=True)]
    for _ in range(n_downsample):
        out = min(dim * 2, max_dim) if max_dim else dim * 2
        layers.append(ConvNormAct(dim, out, 4, 2, 1, norm=norm, padding_mode="reflect", bias=True))
        dim = out
    for _ in range(extra):
        layers.append(ConvNormAct(dim, dim, 4, 2, 1, norm=norm, padding_mode="reflect", bias=True))
    return layers, dim


class StyleEncoder(nn.Module):
    """Image -> style code: downsampling without normalisation (which would wash out the style), global
    average pooling, a 1x1 conv to style_dim."""

    def __init__(self, dim: int, style_dim: int, n_downsample: int = 4):
        super().__init__()
        layers, width = down_path(dim, min(2, n_downsample), "none", max(0, n_downsample - 2))
        self.layers = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
        self.head = nn.Conv2d(width, style_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(x)).flatten(1)


class ContentEncoder(nn.Module):
    def __init__(self, dim: int, n_downsample: int, n_res: int, res_block_order: str = "post", max_dim: int = 0):
        super().__init__()
        layers, width = down_path(dim, n_downsample, "instance", max_dim=max_dim)
        self.layers = nn.Sequential(*layers, *(res_block(width, "instance", res_block_order) for _ in range(n_res)))
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    """Content code (`width` channels) + (gamma, beta) per AdaIN -> image. `up_norm`: the upsampling convs'
    norm, "layer" (MUNIT's) or "adain" (imaginaire's; their AdaINs follow the residual blocks' in the style)."""

    def __init__(self, width: int, n_downsample: int, n_res: int, res_block_order: str = "post",
                 up_norm: str = "layer", output: str = "tanh"):
        super().__init__()
        check_choice("up_norm", up_norm, ("layer", "adain"))
        self.blocks = nn.ModuleList(res_block(width, "adain", res_block_order) for _ in range(n_res))
        up = []
        for _ in range(n_downsample):
            up.append(ConvNormAct(width, width // 2, 5, padding=2, norm=up_norm, padding_mode="reflect", bias=True,
                                  upsample=2))
            width //= 2
        up.append(ConvNormAct(width, 3, 7, padding=3, norm="none", padding_mode="reflect",
                              activation=output_activation(output)))
        self.up = nn.Sequential(*up)

    def forward(self, content: torch.Tensor, styles: list) -> torch.Tensor:
        x = content
        for i, block in enumerate(self.blocks):
            x = block(x, styles[2 * i:2 * i + 2])
        rest = iter(styles[2 * len(self.blocks):])
        for layer in self.up:
            x = layer(x, next(rest)) if layer.adaptive else layer(x)
        return x


class Generator(nn.Module):
    """One domain's auto-encoder: content and style encoders, the MLP and the AdaIN decoder."""

    def __init__(self, dim: int, style_dim: int, n_downsample: int, n_res: int, mlp_dim: int, n_mlp: int,
                 n_style_downsample: int, res_block_order: str = "post", up_norm: str = "layer",
                 adain_scale: str = "gamma", output: str = "tanh", max_dim: int = 0):
        super().__init__()
        check_choice("adain_scale", adain_scale, ADAIN_SCALES)
        self.adain_scale = adain_scale
        self.style_encoder = StyleEncoder(dim, style_dim, n_style_downsample)
        self.content_encoder = ContentEncoder(dim, n_downsample, n_res, res_block_order, max_dim)
        self.decoder = Decoder(self.content_encoder.width, n_downsample, n_res, res_block_order, up_norm, output)
        self.mlp = MLP(style_dim, style_params_count(self.decoder), mlp_dim, n_mlp)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.decoder(content, scaled_styles(split_style(self.mlp(style), self.decoder), self.adain_scale))


class MUNIT(HubModel):
    """Both domains' generators (`gen_a`, `gen_b`); the discriminators are a training matter."""

    def __init__(self, image_size: int = 256, dim: int = 64, style_dim: int = 8, n_downsample: int = 2,
                 n_res: int = 4, mlp_dim: int = 256, n_mlp: int = 3, n_style_downsample: int = 4,
                 domain_a: str = "A", domain_b: str = "B", licence_note: str = "", res_block: str = "post",
                 instance_affine: bool = False, up_norm: str = "layer", adain_scale: str = "gamma",
                 output: str = "tanh", max_dim: int = 0, input_kind: str = "image"):
        """licence_note: terms that come with the weights, for the app to show (NVIDIA's published MUNIT
        checkpoints are non-commercial; training.convert writes it).
        input_kind "sketch": domain A is line drawings (the sketch builder's, as pix2pix's): the app gives the
        a2b direction a sketchpad, and a2b inputs are cut to what was drawn (Translator.prepare_drawing).
        res_block, instance_affine, up_norm, adain_scale, output, max_dim: the original MUNIT's maths by
        default; imaginaire's MUNIT is "pre_act", True, "adain", "1+gamma", "clamp" and its max_num_filters
        (see the module docstring). max_dim 0: no limit."""
        super().__init__()
        if input_kind not in ("image", "sketch"):
            raise ValueError(f"input_kind must be 'image' or 'sketch', not {input_kind!r}")
        variant = (res_block, up_norm, adain_scale, output, max_dim)
        self.gen_a = Generator(dim, style_dim, n_downsample, n_res, mlp_dim, n_mlp, n_style_downsample, *variant)
        self.gen_b = Generator(dim, style_dim, n_downsample, n_res, mlp_dim, n_mlp, n_style_downsample, *variant)
        if instance_affine:
            make_instance_norms_affine(self)

    def generator(self, domain: str) -> Generator:
        return self.gen_a if domain == "a" else self.gen_b

    def forward(self, x: torch.Tensor, style: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        source, target = ("a", "b") if direction == "a2b" else ("b", "a")
        return self.generator(target).decode(self.generator(source).content_encoder(x), style)


@dataclass
class Samples:
    """Several outputs for one input, each with the style code that made it."""
    images: list[Image.Image]
    styles: list[list[float]]
    seconds: float


def interpolate(start: list[float], end: list[float], steps: int) -> list[list[float]]:
    """Styles evenly spaced from `start` to `end`, both included."""
    if steps < 2:
        raise OptionsError("an interpolation needs at least 2 steps")
    a, b = torch.tensor(start, dtype=torch.float64), torch.tensor(end, dtype=torch.float64)
    return [(a + (b - a) * i / (steps - 1)).tolist() for i in range(steps)]


class MUNITTranslator(Translator):
    directions = ("a2b", "b2a")
    options = ("style", "seed", "reference")
    model: MUNIT

    @staticmethod
    def domains_of(direction: str) -> tuple[str, str]:
        return ("a", "b") if direction == "a2b" else ("b", "a")

    def style_code(self, direction: str, n: int = 1, style=None, seed=None, reference=None) -> torch.Tensor:
        """The target domain's style: the one given, the reference's, or drawn from N(0, I) (with `seed`)."""
        given = [name for name, value in (("style", style), ("reference", reference)) if value is not None]
        if len(given) > 1 or (given and seed is not None):
            raise OptionsError("give one of style, reference or seed (a random style), not several")
        if style is not None:
            return style.expand(n, -1)
        if reference is not None:
            return self.model.generator(self.domains_of(direction)[1]).style_encoder(reference).expand(n, -1)
        generator = torch.Generator().manual_seed(seed if seed is not None else int(torch.randint(0, 2 ** 31, ())))
        return torch.randn(n, self.style_dim, generator=generator).to(self.device)

    def translate_tensor(self, x: torch.Tensor, direction: str = "a2b", style=None, seed=None,
                         reference=None) -> torch.Tensor:
        source, target = self.domains_of(direction)
        content = self.model.generator(source).content_encoder(x)
        return self.model.generator(target).decode(content, self.style_code(direction, len(x), style, seed, reference))

    def sample_styles(self, n: int, seed: int | None = None) -> list[list[float]]:
        generator = torch.Generator().manual_seed(seed if seed is not None else int(torch.randint(0, 2 ** 31, ())))
        return torch.randn(n, self.style_dim, generator=generator).clamp(-STYLE_LIMIT, STYLE_LIMIT).tolist()

    def encode_style(self, image, direction: str = "a2b") -> list[float]:
        """The style code of `image` as the target domain of `direction` sees it (its own style encoder)."""
        self.check_direction(direction)
        x = self.prepare_reference(image)
        with torch.inference_mode():
            return self.model.generator(self.domains_of(direction)[1]).style_encoder(x)[0].tolist()

    def samples(self, image, direction: str = "a2b", n: int = 8, seed: int | None = None,
                styles: list[list[float]] | None = None) -> Samples:
        """The input translated with n random styles (or the given ones): one drawing, many colourings."""
        from .options import check_options

        self.check_direction(direction)
        styles = styles if styles is not None else self.sample_styles(n, seed)
        codes = torch.cat([check_options(self, {"style": s})["style"] for s in styles])
        x, layout = self.prepare_input(image, direction)
        source, target = self.domains_of(direction)

        def run(x):
            content = self.model.generator(source).content_encoder(x)
            return self.model.generator(target).decode(content.expand(len(codes), -1, -1, -1), codes)

        out = self._timed(run, x)
        return Samples([self.finish(o[None], layout) for o in out], [list(map(float, s)) for s in styles],
                       self.last_seconds)

    def interpolation(self, image, start: list[float], end: list[float], steps: int = 6,
                      direction: str = "a2b") -> Samples:
        """The input translated with styles evenly spaced from `start` to `end`."""
        return self.samples(image, direction, styles=interpolate(start, end, steps))


register(Family(
    name="munit", title="MUNIT", network=MUNIT, translator=MUNITTranslator, evaluation="multimodal",
    paper="Huang, Liu, Belongie, Kautz, *Multimodal Unsupervised Image-to-Image Translation*, ECCV 2018 "
          "(https://arxiv.org/abs/1804.04732)",
    code_licence="CC BY-NC-SA 4.0, non-commercial (NVlabs/MUNIT); this implementation: MIT",
    tab=Tab(intro="Many outputs for one input (MUNIT): the drawing is kept, the colouring comes from a style code. "
                  "Move the sliders, draw a random style, or take the style of a reference image. Shipped model: "
                  "**{a} ↔ {b}**."),
    tiny_config={"image_size": 32, "dim": 4, "style_dim": 3, "n_res": 1, "mlp_dim": 8, "n_mlp": 2,
                 "domain_a": "left", "domain_b": "right"},
))
