"""CycleGAN (Zhu et al., 2017): unpaired translation with two generators tied by cycle consistency.

Networks follow the paper's ResNet generator and 70x70 PatchGAN (defaults: ngf 64, 9 blocks, instance
norm, reflect padding, transposed-conv upsampling, tanh output). Keys are named, not positional.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image
from torch import nn

from . import images
from .base import Family, HubModel, Output, Tab, Translator
from .layers import ConvNormAct, ResBlock
from .options import check_options
from .registry import register


class ResnetGenerator(nn.Module):
    """stem 7x7 -> 2 stride-2 downs -> n residual blocks -> 2 transposed-conv x2 ups -> 7x7 to RGB, tanh."""

    def __init__(self, channels: int = 3, ngf: int = 64, n_blocks: int = 9, norm: str = "instance",
                 n_downsample: int = 2):
        super().__init__()
        self.stem = ConvNormAct(channels, ngf, 7, padding=3, norm=norm, padding_mode="reflect")
        self.down = nn.Sequential(*(ConvNormAct(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, 2, 1, norm=norm)
                                    for i in range(n_downsample)))
        width = ngf * 2 ** n_downsample
        self.blocks = nn.Sequential(*(ResBlock(width, norm) for _ in range(n_blocks)))
        self.up = nn.Sequential(*(ConvNormAct(ngf * 2 ** (i + 1), ngf * 2 ** i, 3, 2, 1, norm=norm, transpose=True)
                                  for i in reversed(range(n_downsample))))
        self.head = nn.Conv2d(ngf, channels, 7, padding=3, padding_mode="reflect")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.up(self.blocks(self.down(self.stem(x))))))


class CycleGAN(HubModel):
    """Both generators of a CycleGAN run: `g_ab` (A -> B) and `g_ba` (B -> A). Discriminators are a training
    matter and are not part of the shipped model."""

    def __init__(self, image_size: int = 256, channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", domain_a: str = "A", domain_b: str = "B", one_way: bool = False):
        """one_way: only `g_ab` exists, so the model translates A -> B only (a published junyanz generator
        whose opposite one was never released, e.g. style_vangogh)."""
        super().__init__()  # image_size and the domain names are recorded in config.json for the translator
        self.g_ab = ResnetGenerator(channels, ngf, n_blocks, norm)
        if not one_way:
            self.g_ba = ResnetGenerator(channels, ngf, n_blocks, norm)

    def generator(self, direction: str) -> ResnetGenerator:
        return self.g_ab if direction == "a2b" else self.g_ba

    def forward(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        return self.generator(direction)(x)


@dataclass
class CycleResult:
    translation: Image.Image
    reconstruction: Image.Image | None  # translated back again (None for a one-way model)
    seconds: float


class CycleGANTranslator(Translator):
    directions = ("a2b", "b2a")
    options = ("tiled",)  # the ResNet generator is fully convolutional
    model: CycleGAN

    def __post_init__(self):
        if self.config.get("one_way"):
            self.directions = ("a2b",)

    @property
    def size_multiple(self) -> int:
        return 4  # two stride-2 convs down, two transposed x2 up

    def translate_tensor(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        return self.model.generator(direction)(x)

    def cycle(self, image, direction: str = "a2b", **options) -> CycleResult:
        """Translate, then translate back with the other generator: the reconstruction shows how much of the
        input survived the round trip (a one-way model has no way back: its reconstruction is None).
        `tiled=True`: both ways at the input's own size, in tiles (see `translate`)."""
        self.check_direction(direction)
        if check_options(self, options).get("tiled"):
            x, step, show = self.prepare_native(image), self.translate_tiled_tensor, images.tensor_to_pil
        else:
            x, layout = self.prepare(image)
            step, show = self.network_output, lambda y: self.finish(y, layout)  # noqa: E731
        back = "b2a" if direction == "a2b" else "a2b"
        if back not in self.directions:
            y = self._timed(step, x, direction)
            return CycleResult(show(y), None, self.last_seconds)

        def there_and_back(x):
            y = step(x, direction)
            return y, step(y, back)

        y, rec = self._timed(there_and_back, x)
        return CycleResult(show(y), show(rec), self.last_seconds)


register(Family(
    name="cyclegan", title="CycleGAN", network=CycleGAN, translator=CycleGANTranslator,
    paper="Zhu, Park, Isola, Efros, *Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial "
          "Networks*, ICCV 2017 (https://arxiv.org/abs/1703.10593)",
    code_licence="BSD-2-Clause (junyanz/pytorch-CycleGAN-and-pix2pix); this implementation: MIT",
    tab=Tab(method="cycle", outputs=(Output("translation", "Translation"),
                                     Output("reconstruction", "Cycle reconstruction", small=True)),
            intro="Unpaired translation between two styles (CycleGAN). The reconstruction is the translation "
                  "translated back: what survives the round trip. Shipped model: **{a} ↔ {b}**."),
    tiny_config={"image_size": 32, "ngf": 4, "n_blocks": 1, "domain_a": "left", "domain_b": "right"},
))
