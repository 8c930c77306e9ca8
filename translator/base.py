"""What every family shares: the Hub-saveable network base, the translator base, and the declaration a
family makes of itself (`Family`), which the loader, CLI, app, model cards, evaluation and benchmark read.

A family is one file in this package: its networks, a `Translator` subclass saying what `translate`
means for it, and one `register(Family(...))` at the bottom. Nothing outside that file names the family.
"""
from __future__ import annotations

import contextlib
import contextvars
import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from safetensors.torch import load_file
from PIL import Image
from torch import nn

from . import images, tiling
from .errors import ImageError, OptionsError
from .options import check_options

REPO_URL = "https://github.com/translator-studio/translator-studio"

# Per call (per thread / async task), not per translator: one loaded model serves every user of the app.
_finishing_on = contextvars.ContextVar("finishing_on", default=True)


def finishing_wanted() -> bool:
    return _finishing_on.get()


@contextlib.contextmanager
def raw_output():
    """Inside this block, translators return their raw output (no finishing stage), e.g.
    `with translator.raw_output(): t.translate(image)`."""
    token = _finishing_on.set(False)
    try:
        yield
    finally:
        _finishing_on.reset(token)


class HubModel(nn.Module, PyTorchModelHubMixin, library_name="translator-studio", pipeline_tag="image-to-image",
               repo_url=REPO_URL, tags=["image-to-image", "gan", "translator-studio"]):
    """A network saved as the Hub layout: `config.json` (its constructor arguments plus `family`) and
    `model.safetensors`. `family` is what lets `translator.load` rebuild any repo without knowing it.
    Networks only compute: images in and out of them are the translator's business."""

    family: ClassVar[str]  # set by register()

    def save_pretrained(self, save_directory, *, config: dict | None = None, **kwargs):
        config = {"family": self.family, **(config or self._hub_mixin_config)}
        return super().save_pretrained(save_directory, config=config, **kwargs)

    # limits on what a config.json may ask for: checked before anything is allocated
    MAX_SETTING = 2048  # any whole-number setting (widths, depths, sizes)
    IMAGE_SIZES = (8, 1024)
    MAX_PARAMETERS = 800_000_000  # the largest published model: U-GAT-IT full, 2 x 279 M generators + discriminators

    @classmethod
    def check_config(cls, config: dict) -> dict:
        """The constructor arguments `config` describes, each of the type of its default and within sane
        limits, and a network of at most MAX_PARAMETERS (counted without allocating); else ValueError."""
        params = {n: p for n, p in inspect.signature(cls.__init__).parameters.items()
                  if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        kwargs = {k: v for k, v in config.items() if k != "family"}
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise ValueError(f"settings {unknown} are not arguments of the {cls.family} network")
        for key, value in kwargs.items():
            default = params[key].default
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                low, high = cls.IMAGE_SIZES if key == "image_size" else (0, cls.MAX_SETTING)
                ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
            elif isinstance(default, float):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= 1e6
            elif isinstance(default, str):
                ok = isinstance(value, str) and len(value) <= 200
            else:
                ok = isinstance(value, (int, float, str, bool)) or value is None
            if not ok:
                raise ValueError(f"{key} = {value!r} is out of range or of the wrong type (default {default!r})")
        with torch.device("meta"):  # build the shapes only: no memory, no time
            count = sum(p.numel() for p in cls(**kwargs).parameters())
        if count > cls.MAX_PARAMETERS:
            raise ValueError(f"it describes a network of {count:,} parameters (limit {cls.MAX_PARAMETERS:,})")
        return kwargs

    @classmethod
    def from_folder(cls, folder: Path, config: dict) -> "HubModel":
        """Build the network `config` describes and load `folder/model.safetensors` into it: every key must
        match (strict), and every weight must be finite (NaN weights would give solid black images)."""
        model = cls(**cls.check_config(config))
        weights = load_file(Path(folder) / "model.safetensors")
        bad = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise ValueError(f"non-finite values (NaN or infinity) in {len(bad)} tensors, e.g. {bad[0]}")
        model.load_state_dict(weights, strict=True)
        return model


@dataclass
class Provenance:
    """Where a translator's weights came from."""
    source: str  # "hub", "hub-cache", "bundled" or "local"
    path: Path
    repo_id: str | None = None
    revision: str | None = None
    note: str = ""  # the full reason for a fallback, for logs
    fallback: str = ""  # the same in a few words for a person, e.g. "not on the Hub"

    def __str__(self) -> str:
        where = f"{self.repo_id}@{self.revision}" if self.repo_id else str(self.path)
        return f"{self.source}: {where}" + (f" ({self.note})" if self.note else "")

    @property
    def summary(self) -> str:
        """One calm line for a person: where the weights are from (the full reason stays in `note`)."""
        if self.source == "bundled":
            if not self.note:
                return "the bundled copy"
            return f"using the bundled copy; {self.fallback or 'Hub not reachable'}"
        if self.source == "hub-cache":
            return f"{self.repo_id} from the local Hub cache (Hub not reachable)"
        if self.source == "hub":
            return f"{self.repo_id}@{self.revision} from the Hub"
        return f"local folder {self.path.name}"


# --- what a family declares ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Output:
    """One thing the tab's main action shows: a field of the result the method returns."""
    field: str  # attribute of the result object ("translation" when the method returns a plain image)
    label: str
    kind: str = "image"  # "image" or "text"
    small: bool = False  # a secondary image, shown smaller


@dataclass(frozen=True)
class Tab:
    """What a family's app tab needs beyond the generic parts (input, direction, options, model box)."""
    method: str = "run"  # the translator method the main action calls; it returns a result object
    outputs: tuple[Output, ...] = (Output("translation", "Translation"),)
    intro: str = ""  # Markdown; {a} and {b} are replaced by the shipped model's domain names
    text: str = ""  # a label: the tab adds a text box whose value the method takes as `text=` (FUNIT: a word
    # to write), and the image input becomes optional


@dataclass(frozen=True)
class Family:
    name: str  # what config.json says in "family"
    title: str  # as people write it: "CycleGAN"
    network: type[HubModel]
    translator: type["Translator"]
    paper: str  # citation with a link
    code_licence: str  # the licence of the method's reference code, and where that code is
    evaluation: str = "translation"  # which protocol of training.evaluate scores it
    tab: Tab = Tab()
    tiny_config: dict = field(default_factory=dict)  # a small network of this family: the contract tests build it

    @property
    def directions(self) -> tuple[str, ...]:
        return self.translator.directions

    @property
    def options(self) -> tuple[str, ...]:
        return self.translator.options


# --- results of the named methods ----------------------------------------------------------------------
@dataclass
class Translation:
    """What the tab shows for a plain `translate`: the image and the time the network took."""
    translation: Image.Image
    seconds: float


# --- the translator ------------------------------------------------------------------------------------
@dataclass
class Translator:
    """A loaded model ready to translate images. Subclasses say what `translate` means for the family."""
    name: str
    model: HubModel = field(repr=False)
    config: dict[str, Any]
    provenance: Provenance
    device: torch.device
    finishing: Any = field(default=None, repr=False)  # translator.finishing.Finishing: the display stage, or None
    fast_path: Any = field(default=None, repr=False)  # translator.fast_path.FastPath: ONNX Runtime sessions, or None
    last_seconds: float = field(default=0.0, init=False)
    last_fast: bool = field(default=False, init=False)  # whether the last translation ran on the fast path

    family_name: ClassVar[str] = ""  # set by register()
    directions: ClassVar[tuple[str, ...]] = ("a2b",)
    options: ClassVar[tuple[str, ...]] = ()  # names from translator.options.OPTIONS

    def __post_init__(self):
        """Where a family adapts its freshly loaded network for inference."""

    @property
    def image_size(self) -> int:
        return int(self.config["image_size"])

    @property
    def domains(self) -> tuple[str, str]:
        return self.config.get("domain_a", "A"), self.config.get("domain_b", "B")

    @property
    def style_dim(self) -> int | None:
        return self.config.get("style_dim")

    @property
    def drawing_directions(self) -> tuple[str, ...]:
        """The directions whose input is a line drawing: the first one where the config says its domain A is
        drawn (`input_kind: "sketch"`, as pix2pix and MUNIT trained on the sketch builder's drawings write it)."""
        return self.directions[:1] if self.config.get("input_kind") == "sketch" else ()

    @property
    def input_kind(self) -> str:
        """"image", or "drawing" for models that take line drawings (the app adds a sketchpad)."""
        return "drawing" if self.drawing_directions else "image"

    def direction_label(self, direction: str) -> str:
        a, b = self.domains
        return f"{a} → {b}" if direction == "a2b" else f"{b} → {a}"

    def check_direction(self, direction: str) -> str:
        if direction not in self.directions:
            if len(self.directions) == 1:
                raise OptionsError(f"{self.name} translates one way only ({self.directions[0]}: "
                                   f"{self.direction_label(self.directions[0])}); got direction {direction!r}.")
            choices = ", ".join(f"{d!r} ({self.direction_label(d)})" for d in self.directions)
            raise OptionsError(f"direction must be one of {choices}; got {direction!r}.")
        return direction

    def prepare(self, image) -> tuple[torch.Tensor, images.Layout]:
        """Any input -> (1x3xSxS tensor on the device in [-1, 1], how to undo the letterbox)."""
        tensor, layout = images.to_model_input(images.load_image(image), self.image_size)
        return tensor.to(self.device), layout

    def prepare_drawing(self, image) -> tuple[torch.Tensor, images.Layout]:
        """A line drawing -> (1x3xSxS, layout): cut to what was drawn, centred on a square (the training emoji
        fill theirs; the result is a square emoji), then shrunk keeping every stroke dark (min over each
        block: Lanczos would fade a thin mouse stroke to light grey)."""
        drawing = images.load_image(image)
        if images.is_blank(drawing):
            raise ImageError("The drawing is empty: draw something first.")
        factor = 4
        drawing = images.crop_to_content(drawing, margin=0.06, square=True, max_side=4 * self.image_size * factor)
        big, layout = images.to_model_input(drawing, self.image_size * factor)
        x = -F.max_pool2d(-big, factor)
        return x.to(self.device), images.Layout(layout.width, layout.height,
                                                tuple(v // factor for v in layout.box), self.image_size)

    def prepare_input(self, image, direction: str) -> tuple[torch.Tensor, images.Layout]:
        """What `direction` translates, prepared: a drawing where that direction takes drawings, else `prepare`."""
        return self.prepare_drawing(image) if direction in self.drawing_directions else self.prepare(image)

    def prepare_reference(self, image) -> torch.Tensor:
        """A style/class reference image -> 1x3xSxS on the device (families may normalise it further)."""
        return self.prepare(image)[0]

    def finish(self, output: torch.Tensor, layout: images.Layout) -> Image.Image:
        """Model output (1x3xSxS) -> the PIL image a person sees: letterbox undone, at display size. With a
        finishing stage attached (and not switched off by `translator.raw_output()`), the output is enlarged x4
        by it first, and the raw image (enlarged with Lanczos, as without it) rides along in `.info["raw"]`."""
        raw = images.from_model_output(output, layout)
        if self.finishing is None or not finishing_wanted() or type(layout) is not images.Layout:
            return raw
        start = time.perf_counter()
        scale = self.finishing.scale
        larger = images.Layout(layout.width, layout.height, tuple(v * scale for v in layout.box), layout.model_size * scale)
        finished = images.from_model_output(self.finishing.apply(output, self.name), larger)
        self.last_seconds += time.perf_counter() - start
        finished.info["raw"] = raw
        return finished

    def warm_up(self) -> None:
        """The first call is several times slower than the rest: pay it at load, not on a user's click."""
        white = torch.ones(1, 3, self.image_size, self.image_size, device=self.device)
        for direction in self.directions:
            self._timed(self.network_output, white, direction)

    def translate(self, image, direction: str = "a2b", **options) -> Image.Image:
        """Any image in, the translated PIL image out (at display size, original aspect ratio).
        `options` are those of `self.options`; each is checked before anything runs. With `tiled=True`
        (fully convolutional families) the image is translated at its own size, in overlapping tiles of
        the model's size blended at the seams (translator.tiling), and comes back at exactly that size."""
        self.check_direction(direction)
        options = check_options(self, options)
        if options.pop("tiled", False):
            x = self.prepare_native(image)
            return images.tensor_to_pil(self._timed(self.translate_tiled_tensor, x, direction, **options))
        x, layout = self.prepare_input(image, direction)
        return self.finish(self._timed(self.network_output, x, direction, **options), layout)

    def network_output(self, x: torch.Tensor, direction: str = "a2b", **options) -> torch.Tensor:
        """`translate_tensor`, through the fast path (ONNX Runtime) where it holds this call's graph."""
        applies = self.fast_path is not None and self.fast_path.applies(x, direction, options)
        fast = (lambda: self.fast_path.run(self, x, direction, options).to(self.device)) if applies else (lambda: None)
        return self.fast_or_eager(fast, lambda: self.translate_tensor(x, direction, **options))

    def fast_or_eager(self, fast: Callable[[], Any], eager: Callable[[], Any]) -> Any:
        """fast()'s result where there is a fast path and it gives one (None: it holds no graph for this call),
        else eager(). A failure inside fast() -- ONNX Runtime's, or the PyTorch code around its graphs --
        turns the fast path off for good (PyTorch from then on). `last_fast` says which one answered."""
        result = None
        if self.fast_path is not None:
            try:
                result = fast()
            except Exception as err:  # noqa: BLE001 -- any failure of the fast path: PyTorch from now on
                self.fast_path.disable(err)
                result = None
        self.last_fast = result is not None
        return eager() if result is None else result

    def translate_tensor(self, x: torch.Tensor, direction: str = "a2b", **options) -> torch.Tensor:
        """Nx3xSxS in [-1, 1] at the model size -> the same shape translated (what evaluation scores).
        `options` arrive checked (see translator.options)."""
        raise NotImplementedError

    # --- at the input's own resolution (translator.tiling) ------------------------------------------------
    @property
    def size_multiple(self) -> int | None:
        """Whole images of any side that is a multiple of this go through the generator in one piece; None:
        the network takes its model size only (it may still be tiled)."""
        return None

    def native_refusal(self) -> str | None:
        """Why this model does not translate at the input's own resolution (`tiled=True`), or None if it does."""
        if "tiled" not in self.options:
            return f"{self.name} translates at its model size only: tiling needs a fully convolutional generator."
        return None

    def prepare_native(self, image, tiled: bool = True) -> torch.Tensor:
        """Any input -> 1x3xHxW on the device in [-1, 1] at the image's own size (no letterbox), once the
        size is within the limits of a tiled (or, `tiled=False`, a whole-image) run: else OptionsError."""
        image = images.load_image(image)
        if tiled:
            tiling.check_tiled(image.width, image.height, self.image_size)
        else:
            tiling.check_whole(image.width, image.height)
        return images.pil_to_tensor(image).to(self.device)

    def translate_tiled_tensor(self, x: torch.Tensor, direction: str = "a2b", per_tile_statistics: bool = False,
                               **options) -> torch.Tensor:
        """1x3xHxW in [-1, 1] at any size -> translated at that size, `translate_tensor` running on batches
        of model-size tiles that overlap by a quarter tile, blended with raised-cosine weights. The instance
        norms use the statistics of the whole image (`tiling_overview`), unless `per_tile_statistics` (each
        tile its own: what tiling.translate_tiled does alone; for measuring)."""
        overview = None if per_tile_statistics else self.tiling_overview(x)
        return tiling.translate_tiled(lambda tiles: self.translate_tensor(tiles, direction, **options), x,
                                      self.image_size, model=self.model, overview=overview)

    def tiling_overview(self, x: torch.Tensor) -> torch.Tensor:
        """The whole image as the tiles' instance norms see it: shrunk to about tiling.OVERVIEW_PIXELS, sides a
        multiple of `size_multiple`; the letterboxed model-size input where the network takes no other size."""
        if self.size_multiple is None:
            return self.prepare(images.tensor_to_pil(x))[0]
        return tiling.overview(x, self.size_multiple)

    def check_whole(self) -> int:
        """size_multiple, or OptionsError saying why this model takes no whole image at its own size."""
        why = self.native_refusal()
        if why is None and self.size_multiple is None:
            why = f"{self.name} takes whole images at its model size only ({self.image_size} px); it can be tiled."
        if why:
            raise OptionsError(why)
        return self.size_multiple

    def translate_whole_tensor(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        """Nx3xHxW in [-1, 1] through the generator in one piece, padded to `size_multiple` and cropped back."""
        return tiling.translate_whole(lambda y: self.translate_tensor(y, direction), x, self.check_whole())

    def translate_whole(self, image, direction: str = "a2b") -> Image.Image:
        """The image through the generator in one piece at its own size: the reference tiled translation is
        measured against (training.tiling_measure). Up to tiling.MAX_WHOLE_PIXELS; no finishing stage."""
        self.check_direction(direction)
        self.check_whole()
        x = self.prepare_native(image, tiled=False)
        return images.tensor_to_pil(self._timed(self.translate_whole_tensor, x, direction))

    def network_with(self, weights: dict[str, torch.Tensor]) -> HubModel:
        """A fresh network of this translator's config holding `weights` (a training snapshot), before any
        inference adaptation: what gets exported."""
        model = type(self.model)(**{k: v for k, v in self.config.items() if k != "family"})
        model.load_state_dict(weights, strict=True)
        return model

    def with_weights(self, weights: dict[str, torch.Tensor]) -> "Translator":
        """The same translator with other weights of the same network (e.g. each snapshot of a run)."""
        model = self.network_with(weights).float().to(self.device).eval()
        return type(self)(name=self.name, model=model, config=self.config, provenance=self.provenance, device=self.device)

    # families that take a style code also say how to draw one and how to read one off an image
    def sample_styles(self, n: int, seed: int | None = None) -> list[list[float]]:
        """n style codes drawn from the prior (repeatable with a seed)."""
        raise NotImplementedError(f"{self.family_name} has no style code")

    def encode_style(self, image, direction: str = "a2b") -> list[float]:
        """The style code of an image, as the target domain of `direction` sees it."""
        raise NotImplementedError(f"{self.family_name} has no style code")

    def run(self, image, direction: str = "a2b", **options) -> Translation:
        """`translate` with its timing, as a result object (what the app's generic tab calls)."""
        out = self.translate(image, direction, **options)
        return Translation(out, self.last_seconds)

    def _timed(self, fn, *args, **kwargs):
        self.last_fast = False  # network_output sets it, if this call goes through the fast path
        start = time.perf_counter()
        with torch.inference_mode():
            out = fn(*args, **kwargs)
        self.last_seconds = time.perf_counter() - start
        return out
