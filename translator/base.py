"""What every family shares: the Hub-saveable model base and the translator base."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub import PyTorchModelHubMixin
from PIL import Image
from torch import nn

from . import images

REPO_URL = "https://github.com/translator-studio/translator-studio"


class HubModel(nn.Module, PyTorchModelHubMixin, library_name="translator-studio", pipeline_tag="image-to-image",
               repo_url=REPO_URL, tags=["image-to-image", "gan", "translator-studio"]):
    """A network saved as the Hub layout: `config.json` (its constructor arguments plus `family`) and
    `model.safetensors`. `family` is what lets `translator.load` rebuild any repo without knowing it."""

    family: ClassVar[str]

    def save_pretrained(self, save_directory, *, config: dict | None = None, **kwargs):
        config = {"family": self.family, **(config or self._hub_mixin_config)}
        return super().save_pretrained(save_directory, config=config, **kwargs)


@dataclass
class Provenance:
    """Where a translator's weights came from."""
    source: str  # "hub", "hub-cache", "bundled" or "local"
    path: Path
    repo_id: str | None = None
    revision: str | None = None
    note: str = ""

    def __str__(self) -> str:
        where = f"{self.repo_id}@{self.revision}" if self.repo_id else str(self.path)
        return f"{self.source}: {where}" + (f" ({self.note})" if self.note else "")


@dataclass
class Translator:
    """A loaded model ready to translate images. Subclasses say what `translate` means for the family."""
    name: str
    model: HubModel = field(repr=False)
    config: dict[str, Any]
    provenance: Provenance
    device: torch.device
    last_seconds: float = field(default=0.0, init=False)

    directions: ClassVar[tuple[str, ...]] = ("a2b",)

    def __post_init__(self):
        """Where a family adapts its freshly loaded network for inference."""

    @property
    def image_size(self) -> int:
        return int(self.config["image_size"])

    @property
    def domains(self) -> tuple[str, str]:
        return self.config.get("domain_a", "A"), self.config.get("domain_b", "B")

    def check_direction(self, direction: str) -> str:
        if direction not in self.directions:
            raise ValueError(f"direction must be one of {self.directions}, got {direction!r}")
        return direction

    def prepare(self, image) -> tuple[torch.Tensor, images.Layout]:
        """Any input -> (1x3xSxS tensor on the device in [-1, 1], how to undo the letterbox)."""
        tensor, layout = images.to_model_input(images.load_image(image), self.image_size)
        return tensor.to(self.device), layout

    def finish(self, output: torch.Tensor, layout: images.Layout) -> Image.Image:
        return images.from_model_output(output, layout)

    def warm_up(self) -> None:
        """The first call is several times slower than the rest: pay it at load, not on a user's click."""
        blank = Image.new("RGB", (self.image_size, self.image_size), "white")
        for direction in self.directions:
            self.translate(blank, direction=direction)

    def translate(self, image, direction: str = "a2b") -> Image.Image:
        """Any image in, the translated PIL image out (at display size, original aspect ratio)."""
        self.check_direction(direction)
        x, layout = self.prepare(image)
        return self.finish(self._timed(self.translate_tensor, x, direction), layout)

    def translate_tensor(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        """Nx3xSxS in [-1, 1] at the model size -> the same shape translated (what evaluation scores)."""
        raise NotImplementedError

    def _timed(self, fn, *args):
        start = time.perf_counter()
        with torch.inference_mode():
            out = fn(*args)
        self.last_seconds = time.perf_counter() - start
        return out
