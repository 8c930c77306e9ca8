"""A test-only family that takes every `translate` option, so the generic parts (option checks, the app's
controls, the CLI's flags, the contract tests) are exercised before a real family needs each of them.
It registers the way a real family does: one `register(Family(...))`."""
from __future__ import annotations

import torch
from torch import nn

import translator
from translator.base import Family, HubModel, Output, Tab, Translator


class Toy(HubModel):
    """Recolours the image: a 1x1 conv, then a per-channel shift computed from a style code."""

    def __init__(self, image_size: int = 32, style_dim: int = 4, domain_a: str = "left", domain_b: str = "right"):
        super().__init__()
        if style_dim < 3:
            raise ValueError("style_dim must be at least 3")
        self.mix = nn.Conv2d(3, 3, 1)
        self.shift = nn.Linear(style_dim, 3)
        self.encode = nn.Linear(3, style_dim)  # style of a reference: from its mean colour

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        shift = self.shift(style) + style[:, :3]  # the code itself moves the colours: visibly different styles
        return torch.tanh(self.mix(x) + shift[:, :, None, None])


class ToyTranslator(Translator):
    directions = ("a2b", "b2a")
    options = ("seed", "sample", "style", "reference", "references")
    model: Toy

    def translate_tensor(self, x, direction="a2b", seed=None, sample=False, style=None, reference=None,
                         references=None):
        if style is None and reference is not None:
            style = self.model.encode(reference.mean(dim=(2, 3)))
        if style is None and references is not None:
            style = self.model.encode(references.mean(dim=(0, 2, 3), keepdim=False)[None])
        if style is None:
            generator = torch.Generator().manual_seed(seed if seed is not None else 0)
            style = torch.randn(1, self.style_dim, generator=generator).to(x.device) * (2.0 if sample else 1.0)
        y = self.model(x, style.expand(x.shape[0], -1))
        return y if direction == "a2b" else -y

    def sample_styles(self, n, seed=None):
        generator = torch.Generator().manual_seed(seed if seed is not None else int(torch.randint(0, 2 ** 31, ())))
        return torch.randn(n, self.style_dim, generator=generator).clamp(-2.5, 2.5).tolist()

    def encode_style(self, image, direction="a2b"):
        with torch.inference_mode():
            return self.model.encode(self.prepare_reference(image).mean(dim=(2, 3)))[0].tolist()


TOY = translator.register(Family(
    name="toy", title="Toy", network=Toy, translator=ToyTranslator,
    paper="none (a test family)", code_licence="MIT (tests/toy_family.py)",
    tab=Tab(outputs=(Output("translation", "Recoloured"),), intro="A test family: {a} ↔ {b}."),
    tiny_config={"image_size": 32, "style_dim": 4},
))
