"""Translator Studio: one tab per model family, built from the family registry; a thin face over the
`translator` API (no model code here).

    python app.py                       # http://127.0.0.1:7860, works with no network (bundled weights)
    python app.py --host 0.0.0.0 --port 7860 --concurrency 1
    python app.py --allow-local-models  # the Model box may also name folders on this machine (never on a
                                        # public server: a visitor could make it open the server's files)

Every tab is the same shape: an input (upload, webcam, clipboard; a sketchpad for models that take line
drawings), the direction when the model has two, one control per `translate` option the family takes
(seed, posterior sampling, style sliders, a reference image, few-shot references), a Model box, and the
outputs the family declares (`Family.tab`). It re-translates as soon as an input changes (the models take
milliseconds); the button does the same and is the named API endpoint, `/<family>`.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import inspect
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
import weakref
from pathlib import Path

# Spaces and laptops share their cores: OpenMP spin-waiting makes torch 2-30x slower next to another busy
# process, PASSIVE costs a few percent when alone (shared/reference/cpu-performance.md). Before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """glibc gives each thread that allocates its own heap arena (up to 8 per core) and seldom returns their
    memory: Gradio's worker threads each running a model grew the app by 37 % under `probe load` (1108 ->
    1518 MB), and by 4 % with two arenas (1059 -> 1104 MB), at about the same latency (README). Set before
    any thread starts; MALLOC_ARENA_MAX in the environment, where given, wins. False where not glibc."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # musl and others: no arenas to limit
        return False
    m_arena_max = -8  # <malloc.h>
    return bool(libc.mallopt(m_arena_max, arenas))


MALLOC_ARENAS_LIMITED = limit_malloc_arenas()

import gradio as gr  # noqa: E402
from PIL import Image  # noqa: E402

import translator  # noqa: E402
from translator import Family, TranslatorError  # noqa: E402
from translator.errors import ImageError, OptionsError  # noqa: E402
from translator.options import MAX_REFERENCES, MAX_SEED, STYLE_LIMIT  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent / "assets" / "examples"
IMAGE_SOURCES = ["upload", "webcam", "clipboard"]
log = logging.getLogger("translator.app")

# Gradio's sketchpad starts with no tool selected ("select the draw tool to start") and ignores the mouse
# until the brush is clicked; a person expects to draw at once. Watch the page and pick the brush of any
# sketchpad that shows that prompt (a tab's sketchpad appears only when its tab is first opened).
ACTIVATE_BRUSH_JS = """
() => {
  const pick = () => document.querySelectorAll('[id$="-sketchpad"]').forEach((pad) => {
    if (pad.innerText.includes('select the draw tool')) {
      const brush = pad.querySelector('button[aria-label="Brush"]');
      if (brush) brush.click();
    }
  });
  new MutationObserver(pick).observe(document.body, {childList: true, subtree: true});
  pick();
}
"""


# --- shared helpers --------------------------------------------------------------------------------------
def image_upload(**kwargs) -> gr.Image:
    """A gr.Image input whose file reaches the translator core undecoded. gr.Image opens uploads with PIL
    itself and turns a bad file into a generic error; the core reads any mode, applies EXIF rotation and
    size limits, and says plainly what is wrong. (Wrapped per instance: a gr.Image subclass would make
    Gradio write a .pyi stub beside this file.)"""
    component = gr.Image(type="filepath", **kwargs)
    decode = component.preprocess

    def preprocess(payload):
        if payload is None or payload.path is None:  # nothing, or an inline data: URL
            return decode(payload)
        return payload.path

    component.preprocess = preprocess
    return component


class OutputFiles:
    """Result images as PNG files written once under unique names (the newest few hundred kept).

    Handing Gradio a PIL image makes it save the PNG under a folder named by the content's hash, rewriting
    the file in place each time: when many people get the same result at once (the same example), one
    client's download can be truncated by another's rewrite ("peer closed connection without sending
    complete message body", seen under load). A file path goes through Gradio's other cache path, which
    copies it in only if absent and renames it into place atomically."""

    def __init__(self, keep: int = 256):
        self.root = Path(tempfile.mkdtemp(prefix="translator-outputs-"))
        self.keep, self.written = keep, collections.deque()
        self.lock = threading.Lock()

    def save(self, image, name: str) -> str:
        folder = self.root / uuid.uuid4().hex
        folder.mkdir()
        path = folder / f"{name}.png"
        image.save(path, "PNG", compress_level=1)  # 4 ms instead of 15 at 256 px, for ~20% more bytes
        with self.lock:
            self.written.append(folder)
            while len(self.written) > self.keep:
                shutil.rmtree(self.written.popleft(), ignore_errors=True)
        return str(path)


OUTPUTS = OutputFiles()


class ExampleResults:
    """The app's own examples, cached lazily: the first click on an example translates it, a later click with
    the same model and controls returns that result at once (a free Space has two cores for every visitor,
    and the examples are what most of them click). Only inputs whose bytes are those of a file under
    assets/examples count, and never a random draw (a seed or style left empty), so a cached answer is
    always the one the model would give again. Results are kept as images, not files (OUTPUTS rotates its
    files), at most `keep` of them and `max_mb` of pixels."""

    MAX_BYTES = 4 << 20  # an example is a small PNG; a larger file is never one

    def __init__(self, folder: Path = EXAMPLES, keep: int = 64, max_mb: float = 64.0):
        self.digests = {self.digest(p.read_bytes()) for p in folder.rglob("*") if p.is_file()}
        self.keep, self.max_bytes = keep, max_mb * 2 ** 20
        self.results: collections.OrderedDict[tuple, tuple] = collections.OrderedDict()  # key -> (model, result, bytes)
        self.lock = threading.Lock()
        self.hits = 0

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def file_digest(self, value) -> str:
        """An input file (a path Gradio hands over) by its digest if it is an example; LookupError if not."""
        try:
            with open(value, "rb") as f:
                data = f.read(self.MAX_BYTES + 1)  # bounded: a path may name anything
        except (OSError, ValueError, TypeError):
            raise LookupError("not a readable file") from None
        digest = self.digest(data)
        if len(data) > self.MAX_BYTES or digest not in self.digests:
            raise LookupError("not an example")
        return digest

    def fingerprint(self, value):
        """A hashable stand-in for an image input or an option: files by digest (examples only), numbers and
        lists of numbers as they are; LookupError for anything else (an upload of the user's own, bytes)."""
        if isinstance(value, (list, tuple)):
            return tuple(self.fingerprint(v) for v in value)
        if isinstance(value, dict):
            return tuple(sorted((k, self.fingerprint(v)) for k, v in value.items()))
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, (str, Path)):
            return self.file_digest(value)
        raise LookupError("not an example")

    def key(self, model: str, image, direction, options: dict, finish: bool, text) -> tuple | None:
        """The cache key of one request, or None where its answer must be computed (not an example, or a
        random draw: MUNIT with no style and UNIT-style seeds left empty draw anew each time)."""
        if any(name in options and options[name] is None for name in ("seed", "style")):
            return None
        if text is not None and not isinstance(text, str):
            return None
        try:
            return (model, self.fingerprint(image), direction, self.fingerprint(options), finish, text)
        except LookupError:
            return None

    def get(self, key, t):
        """The result kept for this key from this very translator (a model reloaded under the same name,
        e.g. a Hub repo whose main moved, is another translator: its own results are computed anew)."""
        if key is None:
            return None
        with self.lock:
            entry = self.results.get(key)
            if entry is None or entry[0]() is not t:
                return None
            self.results.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key, t, result) -> None:
        if key is None:
            return
        size = pixel_bytes(result)
        with self.lock:
            self.results[key] = (weakref.ref(t), result, size)
            while len(self.results) > self.keep or sum(e[2] for e in self.results.values()) > self.max_bytes:
                self.results.popitem(last=False)


def pixel_bytes(value, seen: set | None = None) -> int:
    """The memory of every image a result holds (its fields, lists, and the raw output in an image's info)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, Image.Image):
        return value.width * value.height * len(value.getbands()) + pixel_bytes(value.info.get("raw"), seen)
    if isinstance(value, (list, tuple)):
        return sum(pixel_bytes(v, seen) for v in value)
    if hasattr(value, "__dict__"):
        return sum(pixel_bytes(v, seen) for v in vars(value).values())
    return 0


def on_gpu(fn):
    """On a ZeroGPU Space (SPACES_ZERO_GPU set, `spaces` installed) run fn with a GPU attached; elsewhere fn."""
    if os.environ.get("SPACES_ZERO_GPU"):
        try:
            import spaces
        except ImportError:
            return fn
        return spaces.GPU(fn)
    return fn


def sketchpad(**kwargs) -> gr.Sketchpad:
    """A gr.Sketchpad whose images reach the translator core undecoded (paths, or the canvas's PNG bytes):
    Gradio's editor would open every upload with PIL first, whatever its size, and turn a bad file into a
    generic error. The core checks size and format from the header, then decodes."""
    component = gr.Sketchpad(type="filepath", **kwargs)

    def raw(item):
        return item.path if hasattr(item, "path") else (bytes(item) if item is not None else None)

    def preprocess(payload):
        if payload is None:
            return None
        data = component.blob_storage.get(payload.id) if payload.id is not None else payload
        if data is None:
            return None
        return {"background": raw(data.background), "layers": [raw(layer) for layer in data.layers or []],
                "composite": raw(data.composite)}

    component.preprocess = preprocess
    return component


def user_error(err: Exception) -> gr.Error:
    """A mistake of the user's: one log line on the server (no traceback), the message in the page."""
    log.warning("user error: %s", err)
    return gr.Error(str(err), title="Cannot translate", print_exception=False)


def pretty(domain: str) -> str:
    return " ".join(word.capitalize() for word in domain.replace("-", " ").split())


def describe(t: translator.Translator, seconds: float, finished: bool = True,
             tiled: tuple[int, int] | None = None, cached: bool = False) -> str:
    """The time the user waited (decode, model, encode), where it ran, and where the weights came from."""
    finished = f", finished ×{t.finishing.scale}" if t.finishing is not None and finished else ""
    licence = f"  \n⚠️ {t.config['licence_note']}" if t.config.get("licence_note") else ""  # e.g. non-commercial weights
    size = (f"in {t.image_size}-px tiles at {tiled[0]}×{tiled[1]} px" if tiled  # the input's own size
            else f"at {t.image_size}×{t.image_size} px")
    runtime = " with ONNX Runtime" if t.last_fast and not tiled else ""
    where = ", this example's result kept from its first run" if cached else f" on {t.device.type}{runtime}"
    return (f"**{seconds * 1000:.0f} ms**{where} {size}{finished} · "
            f"{t.name}: {t.provenance.summary}{licence}")


def sketch_composite(sketch: dict | None):
    """What is on the sketchpad: its composite layer (transparency counts as white paper), or None. An
    example loaded into the pad arrives as its background before the pad has drawn a composite."""
    sketch = sketch or {}
    return sketch.get("composite") if sketch.get("composite") is not None else sketch.get("background")


def drawn(sketch: dict | None):
    """The sketchpad's drawing, or None where there is none or it is blank (cleared, every stroke undone)."""
    value = sketch_composite(sketch)
    if value is None:
        return None
    try:
        return None if translator.images.is_blank(translator.images.load_image(value)) else value
    except TranslatorError:
        return value  # a file that is not an image: translating it says why


RANDOM_SEED = -1  # what a seed box holds for "a new random draw each time"


def seed_box(label: str = "Seed", info: str = "-1: a new random draw each time", **kwargs) -> gr.Number:
    """A seed field. Gradio's number box cannot be left empty (it shows and sends 0 for None), so "random"
    is a value of its own, -1, rather than an empty box that would silently be seed 0 every time."""
    return gr.Number(RANDOM_SEED, label=label, precision=0, minimum=RANDOM_SEED, maximum=MAX_SEED, info=info, **kwargs)


STYLE_RANGE = STYLE_LIMIT / 4  # the style sliders' range, +-


def on_sliders(style) -> list[float]:
    """A style code onto the sliders' range, to their hundredths (a number box would show -5.6e-06 as
    "-5.59864")."""
    return [round(min(max(float(v), -STYLE_RANGE), STYLE_RANGE), 2) + 0.0 for v in style]


def seed_of(value) -> int | None:
    """A seed box's value -> a seed, or None for a new random draw (-1, empty, or an API call leaving it out)."""
    return None if value is None or value < 0 else int(value)


# --- one tab, for any family -----------------------------------------------------------------------------
class FamilyTab:
    """The generic tab: everything comes from the family's declaration and its default model's config."""

    def __init__(self, family: Family, default_model: str, allow_local: bool = False, device: str | None = None,
                 fast: bool | str = True, examples: ExampleResults | None = None):
        self.family, self.default_model, self.examples = family, default_model, examples
        self.allow_local, self.device, self.fast = allow_local, device, fast
        self.outputs_spec = family.tab.outputs

    # the core; a user's mistake stays a TranslatorError here and becomes a message in the handlers
    def load(self, name: str) -> translator.Translator:
        return translator.load((name or "").strip() or self.default_model, self.family.name,
                               allow_local=self.allow_local, device=self.device, finishing=True, fast=self.fast)

    def translate(self, image, direction: str | None, model: str, options: dict, finish: bool = False,
                  text: str | None = None) -> list:
        return on_gpu(self._translate)(image, direction, model, options, finish, text)

    def _translate(self, image, direction: str | None, model: str, options: dict, finish: bool = False,
                   text: str | None = None) -> list:
        """The outputs, then (raw, finished) of the main image for the comparison slider, then the info line."""
        t = self.load(model)
        start = time.perf_counter()
        direction = direction or t.directions[0]
        key = self.examples.key(t.name, image, direction, options, finish, text) if self.examples else None
        result = self.examples.get(key, t) if self.examples else None
        cached = result is not None
        if result is None:
            with contextlib.nullcontext() if finish else translator.raw_output():
                extra = {"text": text} if self.family.tab.text else {}  # e.g. FUNIT's typed word
                result = getattr(t, self.family.tab.method)(image, direction=direction, **options, **extra)
            if self.examples:
                self.examples.put(key, t, result)
        values = [getattr(result, o.field) for o in self.outputs_spec]
        main = values[0] if self.outputs_spec[0].kind == "image" else None
        stem = Path(t.name).name
        values = [OUTPUTS.save(v, f"{stem}-{o.field}") if o.kind == "image" and v is not None else v
                  for v, o in zip(values, self.outputs_spec)]  # None: an output this model does not have
        raw = getattr(main, "info", {}).get("raw")
        compare = (OUTPUTS.save(raw, f"{stem}-raw"), values[0]) if raw is not None else None
        tiled = main.size if options.get("tiled") and main is not None else None
        return values + [compare, describe(t, time.perf_counter() - start, finished=raw is not None, tiled=tiled,
                                           cached=cached)]

    def cleared(self) -> list:
        return [None] * len(self.outputs_spec) + [None, ""]

    # the controls, one per option the family takes
    def option_controls(self, t: translator.Translator) -> list[tuple[str, list]]:
        """(option, its components) for each option the tab passes to `translate`. A family that takes a
        style code shows it as sliders, and its seed and reference *set the sliders* (style_controls) rather
        than competing with them: what you see on the sliders is the style that is used."""
        takes_style = "style" in self.family.options
        controls = []
        for name in self.family.options:
            if takes_style and name in ("seed", "reference"):
                continue
            if name == "seed":
                controls.append((name, [seed_box()]))
            elif name == "sample":
                controls.append((name, [gr.Checkbox(False, label="Sample the latent",
                                                    info="draw from the posterior instead of its mean")]))
            elif name == "tiled":  # hidden where this model cannot (a drawing model)
                controls.append((name, [gr.Checkbox(False, label="Translate at full resolution (tiled)",
                                                    visible=t.native_refusal() is None,
                                                    elem_id=f"{self.family.name}-tiled",
                                                    info=f"the input at its own size, in overlapping {t.image_size}-px "
                                                         "tiles with blended seams")]))
            elif name == "style":
                start = self.starting_style(t)
                controls.append((name, [gr.Slider(-STYLE_RANGE, STYLE_RANGE, start[i], step=0.05, label=f"Style {i + 1}")
                                        for i in range(t.style_dim or 0)]))
            elif name == "reference":
                controls.append((name, [image_upload(sources=IMAGE_SOURCES, format="png", label="Style reference",
                                                     height=160)]))
            elif name == "references":
                controls.append((name, [gr.Gallery(label=f"Reference images (1 to {MAX_REFERENCES})", type="filepath",
                                                   columns=5, height=180, interactive=True,
                                                   elem_id=f"{self.family.name}-references")]))
        return controls

    def starting_style(self, t: translator.Translator) -> list[float]:
        """Where the sliders start: the style of the first example style (a real emoji of the target domain)
        where the tab has one, else the prior's mean, 0. The mean is not a style any real image has (the
        shipped MUNIT decodes it as a dull grey-blue), so the first picture a visitor sees would undersell it."""
        styles = translator.hub.example_style_references(self.family.name, t.domains, EXAMPLES)
        if "reference" not in self.family.options or not styles:
            return [0.0] * (t.style_dim or 0)
        return on_sliders(t.encode_style(styles[0]))

    def style_controls(self, sliders: list) -> None:
        """For a style family: a random style from a seed, and the style of a reference image, onto the sliders."""
        api = self.family.name

        def random_style(seed, model):
            try:
                t = self.load(model)
                return on_sliders(t.sample_styles(1, seed_of(seed))[0])
            except TranslatorError as err:
                raise user_error(err) from None

        def style_of(reference, model, direction="a2b"):
            if reference is None:
                return [gr.skip()] * len(sliders)
            try:  # the style as the target domain of the chosen direction sees it
                return on_sliders(self.load(model).encode_style(reference, direction=direction))
            except TranslatorError as err:
                raise user_error(err) from None

        if "seed" in self.family.options:
            with gr.Row():
                seed = seed_box(info="-1: a new random style each time", scale=2, elem_id=f"{api}-style-seed")
                pick = gr.Button("Random style", scale=1)
            self.setters.append((pick.click, random_style, [seed], f"{api}_random_style"))
        if "reference" in self.family.options:
            reference = image_upload(sources=IMAGE_SOURCES, format="png", label="Style from a reference image",
                                     height=160, elem_id=f"{api}-style-reference")
            styles = translator.hub.example_style_references(api, self.domains, EXAMPLES)
            if styles:
                gr.Examples([[str(p)] for p in styles], inputs=[reference], api_visibility="private",
                            label="Example styles: held-out emoji of each vendor", elem_id=f"{api}-style-examples")
            self.setters.append((reference.change, style_of, [reference], f"{api}_style_of"))

    def many_styles(self, image, pad, used, direction, model, sliders: list, grid_parts: tuple,
                    strip_parts: tuple) -> None:
        """A style family's grid of random styles and its interpolation strip, each a named endpoint. With a
        sketchpad (a model whose domain A is drawn), they take the input the user used last, the drawing or the
        upload (`used`, a State: an API call passes `sketch` or `image`; the sketch if both)."""
        api = self.family.name
        sources, source_names = ([image], ["image"]) if pad is None else ([used, image, pad], ["used", "image", "sketch"])

        def content(values, direction_value):
            """(the input, its direction): a drawing goes the way drawings go, whatever the radio says."""
            if pad is None:
                value, drawing = values[0], False
            else:
                used_value, image_value, sketch = values
                value = drawn(sketch)
                drawing = value is not None and (used_value != "upload" or image_value is None)
                value = value if drawing else image_value
            if value is None:
                raise user_error(ImageError("Add an image first."))
            return value, (self.drawing_direction if drawing else direction_value or "a2b")

        def saved(samples) -> list[str]:
            return [OUTPUTS.save(im, f"{api}-style-{i}") for i, im in enumerate(samples.images)]

        def grid_fn(*values):
            n, seed, model_name, *rest = values[len(sources):]
            try:
                t = self.load(model_name)
                value, direction_value = content(values[:len(sources)], rest[0] if rest else None)
                return saved(t.samples(value, direction_value, n=int(n), seed=seed_of(seed)))
            except TranslatorError as err:
                raise user_error(err) from None

        def strip_fn(*values):
            steps, seed, model_name, *rest = values[len(sources):]
            direction_value, style = (rest[0], rest[1:]) if direction is not None else (None, rest)
            try:
                t = self.load(model_name)
                value, direction_value = content(values[:len(sources)], direction_value)
                end = t.sample_styles(1, seed_of(seed))[0]
                return saved(t.interpolation(value, [float(v) for v in style], end, steps=int(steps),
                                             direction=direction_value))
            except TranslatorError as err:
                raise user_error(err) from None

        extra, extra_names = ([direction], ["direction"]) if direction is not None else ([], [])
        none_given = {"used": "draw", "sketch": None, "image": None} if pad is not None else {}
        n, seed, button, gallery = grid_parts
        button.click(self.endpoint(grid_fn, [*source_names, "n", "seed", "model", *extra_names],
                                   {**none_given, "n": 8, "seed": None, "model": self.default_model, "direction": "a2b"}),
                     [*sources, n, seed, model, *extra], gallery, api_name=f"{api}_grid", concurrency_id="model")
        steps, seed, button, gallery = strip_parts
        style_names = [f"style_{i + 1}" for i in range(len(sliders))]
        button.click(self.endpoint(strip_fn, [*source_names, "steps", "seed", "model", *extra_names, *style_names],
                                   {**none_given, "steps": 6, "seed": None, "model": self.default_model, "direction": "a2b",
                                    **{n: 0.0 for n in style_names}}),
                     [*sources, steps, seed, model, *extra, *sliders], gallery, api_name=f"{api}_interpolate",
                     concurrency_id="model")

    @staticmethod
    def option_values(controls: list[tuple[str, list]], values: list) -> dict:
        """Control values -> translate options (None = not given)."""
        options, i = {}, 0
        for name, components in controls:
            part = values[i:i + len(components)]
            i += len(components)
            if name == "style":  # an API call that leaves the sliders out gives no style
                options[name] = None if all(v is None for v in part) else list(part)
            elif name == "references":
                gallery = part[0] or []
                options[name] = [item[0] if isinstance(item, (list, tuple)) else item for item in gallery] or None
            elif name in ("sample", "tiled"):
                options[name] = bool(part[0])
            elif name == "seed":
                options[name] = seed_of(part[0])
            else:
                options[name] = part[0]
        return options

    @staticmethod
    def endpoint(fn, names: list[str], defaults: dict):
        """Give a handler the parameter names (and defaults) the API shows: gradio reads them from the signature."""
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        fn.__signature__ = inspect.Signature([inspect.Parameter(n, kind, default=defaults[n]) if n in defaults
                                              else inspect.Parameter(n, kind) for n in names])
        return fn

    def build(self) -> None:
        family = self.family
        t = self.load(self.default_model)  # a shipped model: loads offline from its bundled copy
        a, b = t.domains
        two_way = len(t.directions) > 1
        self.drawing_direction = t.drawing_directions[0] if t.drawing_directions else None
        self.domains = t.domains
        gr.Markdown(family.tab.intro.format(a=pretty(a), b=pretty(b)))
        with gr.Row():
            with gr.Column():
                pad = input_tabs = None
                if t.input_kind == "drawing":
                    input_tabs = gr.Tabs(selected="draw")
                    with input_tabs, gr.Tab("Draw", id="draw") as draw_tab:
                        pad = sketchpad(image_mode="RGBA", canvas_size=(512, 512), label="Drawing",
                                           brush=gr.Brush(default_size=10, colors=["#000000"], color_mode="fixed"),
                                           eraser=gr.Eraser(default_size=24), layers=False, height=420,
                                           elem_id=f"{family.name}-sketchpad")
                        draw_button = gr.Button("Translate drawing", variant="primary")
                    with input_tabs, gr.Tab("Upload", id="upload") as upload_tab:
                        image = image_upload(sources=IMAGE_SOURCES, format="png", height=320,
                                             label=f"{pretty(a)} or {pretty(b)} (set the direction)" if two_way
                                             else "Line drawing", elem_id=f"{family.name}-input")
                        button = gr.Button("Translate upload", variant="primary")
                else:
                    image = image_upload(sources=IMAGE_SOURCES, format="png", label="Input", height=320,
                                         elem_id=f"{family.name}-input")
                direction = gr.Radio([(f"{pretty(a)} → {pretty(b)}", "a2b"), (f"{pretty(b)} → {pretty(a)}", "b2a")],
                                     value="a2b", label="Direction", elem_id=f"{family.name}-direction") if two_way else None
                controls = self.option_controls(t)
                self.setters = []
                sliders = next((c for name, c in controls if name == "style"), None)
                if sliders:
                    self.style_controls(sliders)
                with gr.Accordion("Model", open=False):
                    where = "Shipped name, Hub repo id" + (" or local folder" if self.allow_local else "")
                    model = gr.Textbox(self.default_model, label=where,
                                       info=f"Any model whose config.json says family: {family.name}")
                word = gr.Textbox(label=family.tab.text, max_lines=1, max_length=40,
                                  elem_id=f"{family.name}-text") if family.tab.text else None
                if pad is None:
                    button = gr.Button("Translate", variant="primary")
            with gr.Column():
                outputs = []
                for spec in self.outputs_spec:
                    if spec.kind == "image":
                        outputs.append(gr.Image(type="filepath", format="png", label=spec.label, interactive=False,
                                                buttons=["download"] if spec.small else ["download", "fullscreen"],
                                                height=160 if spec.small else 420, elem_id=f"{family.name}-{spec.field}"))
                    else:
                        outputs.append(gr.Markdown(label=spec.field, elem_id=f"{family.name}-{spec.field}"))
                # the finishing stage (translator/finishing.py), on by default where its card found it better
                # than bicubic on this model's outputs (or has not measured them); the raw output is one click away
                finish = gr.Checkbox(translator.finishing.measured_on(self.default_model) is not False,
                                     label="Finish at 4× for display", visible=t.finishing is not None,
                                     info="A small network that enlarges and cleans the model's "
                                          f"{t.image_size}-px output; off shows the raw output, enlarged.",
                                     elem_id=f"{family.name}-finish")
                with gr.Accordion("Raw model output ↔ finished", open=False, visible=t.finishing is not None) as compare_box:
                    compare = gr.ImageSlider(type="filepath", format="png", label="raw (left) · finished (right)",
                                             interactive=False, height=360, elem_id=f"{family.name}-compare")
                info = gr.Markdown(label="info", elem_id=f"{family.name}-info")
                if sliders:  # a style family: many outputs for one input
                    with gr.Accordion("More styles: a grid, an interpolation strip", open=False):
                        with gr.Row():
                            grid_n = gr.Slider(2, 16, 8, step=1, label="Random styles")
                            grid_seed = seed_box()
                        grid_button = gr.Button("Grid of random styles")
                        grid = gr.Gallery(label="Random styles", columns=4, height=320, elem_id=f"{family.name}-grid")
                        with gr.Row():
                            strip_steps = gr.Slider(3, 10, 6, step=1, label="Steps")
                            strip_seed = seed_box("Seed of the end style")
                        strip_button = gr.Button("From the sliders' style to a random one")
                        strip = gr.Gallery(label="Interpolation", columns=6, height=200, elem_id=f"{family.name}-strip")
        option_components = [c for _, components in controls for c in components]
        option_names = [f"{name}_{i + 1}" if len(components) > 1 else name
                        for name, components in controls for i in range(len(components))]
        texts = [word] if word is not None else []
        shared = ([direction] if two_way else []) + [model] + option_components + texts + [finish]
        shared_names = (["direction"] if two_way else []) + ["model"] + option_names + ["text"] * len(texts) + ["finish"]
        # an API call may leave out everything but the image: the model's first direction, the tab's model,
        # and each option "not given"
        defaults = {"direction": t.directions[0], "model": self.default_model, "finish": True, "text": "",
                    **{n: (False if n in ("sample", "tiled") else None) for n in option_names}}
        # the raw/finished pair reaches the browser only while its accordion is open: a live re-run (a slider
        # move) keeps it server-side in compare_pair, and opening the accordion shows the latest one
        compare_open, compare_pair = gr.State(False), gr.State(None)
        compare_box.expand(lambda pair: (True, pair), compare_pair, [compare_open, compare], api_visibility="private")
        compare_box.collapse(lambda: False, None, compare_open, api_visibility="private")
        compare_pair.change(lambda pair, is_open: pair if is_open else gr.skip(), [compare_pair, compare_open], compare,
                            api_visibility="private", show_progress="hidden")
        all_outputs = outputs + [compare, compare_pair, info]  # a State is not part of the API's answer

        def with_pair(result: list) -> list:  # (..., pair, info) -> (..., pair, pair, info) for all_outputs
            return result[:-1] + result[-2:]

        def split(values):
            direction_value = values[0] if two_way else None
            rest = values[1:] if two_way else values
            options = list(rest[1:-1 - len(texts)])
            text = rest[-2] if texts else None
            return direction_value, rest[0], self.option_values(controls, options), rest[-1] is True, text

        def has_input(image_value, values) -> bool:  # an image, or (FUNIT) a typed word
            return image_value is not None or bool(texts and (values[-2] or "").strip())

        # the named endpoint: errors are errors (an API client gets an exception with the message)
        def run(image_value, *values):
            if not has_input(image_value, values):
                raise user_error(ImageError("Add an image first: upload one, paste it, use the webcam or click an example"
                                            + (", or type a word." if texts else ".")))
            try:
                return with_pair(self.translate(image_value, *split(values)))
            except TranslatorError as err:
                raise user_error(err) from None

        # re-translate as soon as an input changes: an empty input clears the result; a mistake is a
        # warning, and a file that is not a usable image is also taken out of the input box
        def live(image_value, *values):
            if not has_input(image_value, values):
                return self.cleared() + [gr.skip()]
            try:
                return self.translate(image_value, *split(values)) + [gr.skip()]
            except TranslatorError as err:
                log.warning("user error: %s", err)
                gr.Warning(str(err), title="Cannot translate")
                return self.cleared() + [None if isinstance(err, ImageError) else gr.skip()]

        api = family.name
        for event, fn, inputs, name in self.setters:  # seed / reference -> the style sliders (which then re-run)
            extra = [direction] if two_way and fn.__name__ == "style_of" else []
            event(fn, inputs + [model] + extra, sliders, api_name=name, concurrency_id="model")
        progress = dict(show_progress_on=outputs[:1], show_progress="minimal", concurrency_id="model")
        button.click(self.endpoint(run, ["image", *shared_names], defaults), [image, *shared], all_outputs, api_name=api, **progress)
        # with a sketchpad: which input the user used last, the drawing or the upload (controls re-run that one)
        used = gr.State("draw") if pad is not None else None
        if sliders:
            self.many_styles(image, pad, used, direction, model, sliders, (grid_n, grid_seed, grid_button, grid),
                             (strip_steps, strip_seed, strip_button, strip))
        live_inputs, live_outputs = [image, *shared], outputs + [compare_pair, info, image]
        controls_that_rerun = [c for c in shared if c is not model]  # a model name re-runs on the button
        image.change(live, live_inputs, live_outputs, api_visibility="private", show_progress="hidden",
                     trigger_mode="always_last", concurrency_id="model")
        if pad is None:
            for trigger in controls_that_rerun:
                trigger.change(live, live_inputs, live_outputs, api_visibility="private", show_progress="hidden",
                               trigger_mode="always_last", concurrency_id="model")

        if pad is not None:
            def split_drawing(values):  # a drawing goes the way drawings go (a2b), whatever the radio says
                return (self.drawing_direction, *split(values)[1:])

            def run_drawing(sketch, *values):
                if sketch_composite(sketch) is None:
                    raise user_error(ImageError("Draw something first."))
                try:
                    return with_pair(self.translate(sketch_composite(sketch), *split_drawing(values)))
                except TranslatorError as err:
                    raise user_error(err) from None

            def live_drawing(sketch, *values):  # clearing the canvas or undoing every stroke clears the result
                drawing = drawn(sketch)
                try:
                    if drawing is None:
                        return self.cleared()
                    return self.translate(drawing, *split_drawing(values))
                except TranslatorError as err:
                    log.warning("user error: %s", err)
                    gr.Warning(str(err), title="Cannot translate")
                    return self.cleared()

            draw_button.click(self.endpoint(run_drawing, ["sketch", *shared_names], defaults), [pad, *shared], all_outputs,
                              api_name=f"{api}_drawing", **progress)
            pad.change(live_drawing, [pad, *shared], live_outputs[:-1], api_visibility="private", show_progress="hidden",
                       trigger_mode="always_last", concurrency_id="model")

            # A control that changes re-runs the input used last: the drawing or the upload. `used` follows the
            # tab the user is on, the button pressed and the example clicked (set outside the queue, before the
            # queued re-runs read it); drawing also turns the radio to the drawing's direction.
            quick = dict(api_visibility="private", show_progress="hidden", queue=False)

            def turned_to_draw(*radio):  # (used[, direction])
                if not two_way:
                    return ("draw",)
                return "draw", gr.skip() if radio[0] == self.drawing_direction else self.drawing_direction

            draw_inputs, draw_outputs = ([direction], [used, direction]) if two_way else (None, [used])
            for event in (pad.change, draw_button.click, draw_tab.select):
                event(turned_to_draw, draw_inputs, draw_outputs, **quick)
            for event in (button.click, image.upload):
                event(lambda: "upload", None, used, **quick)
            if two_way:  # the Upload tab turns the radio back to the way its last upload went (at first the other
                # way: drawings are the Draw tab's), so a colour image is never taken for a drawing
                upload_direction = gr.State(next(d for d in t.directions if d != self.drawing_direction))
                upload_tab.select(lambda d, remembered: ("upload", gr.skip() if d == remembered else remembered),
                                  [direction, upload_direction], [used, direction], **quick)
                direction.change(lambda d, used_value: d if used_value == "upload" else gr.skip(), [direction, used],
                                 upload_direction, **quick)
            else:
                upload_tab.select(lambda: "upload", None, used, **quick)

            def rerun(used_value, sketch, image_value, *values):
                if image_value is not None and (used_value == "upload" or drawn(sketch) is None):
                    return live(image_value, *values)
                return live_drawing(sketch, *values) + [gr.skip()]

            for trigger in controls_that_rerun:
                trigger.change(rerun, [used, pad, image, *shared], live_outputs, api_visibility="private",
                               show_progress="hidden", trigger_mode="always_last", concurrency_id="model")

        references = next((c[0] for name, c in controls if name == "references"), None)
        sets = translator.hub.example_reference_sets(family.name, EXAMPLES) if references is not None else {}
        if sets:  # few-shot: each example is a set of references (a font no model saw) and a word to write
            gr.Examples([[paths] + ([word_value] if word is not None else []) for paths, word_value in sets.values()],
                        inputs=[references] + ([word] if word is not None else []), example_labels=list(sets),
                        label="Examples: a few glyphs of fonts no model saw in training, and a word",
                        api_visibility="private", elem_id=f"{family.name}-examples")
        examples = translator.hub.example_images(family.name, t.domains, EXAMPLES)
        other_way = [p for p in examples if p.name.startswith(f"{b}-")] if two_way else []
        drawings = [p for p in examples if p not in other_way] if pad is not None else []
        uploaded = [p for p in examples if p not in drawings]
        if uploaded and pad is None:  # into the upload, with the direction each image goes
            rows = [[str(p)] + (["b2a" if p in other_way else "a2b"] if two_way else []) for p in uploaded]
            gr.Examples(rows, inputs=[image] + ([direction] if two_way else []),
                        label="Examples (held-out test images, never seen in training)",
                        api_visibility="private", elem_id=f"{family.name}-examples", examples_per_page=12,
                        visible_columns=[0])  # the direction is set too, but the picture says enough
        elif uploaded:  # a drawing model's other way: into the upload, whose tab is shown, the radio turned
            gallery = gr.Examples([[str(p)] for p in uploaded], inputs=[image],
                                  label=f"Examples the other way, {pretty(b)} → {pretty(a)} (held-out test images)",
                                  api_visibility="private", elem_id=f"{family.name}-examples-upload", examples_per_page=12)
            gallery.load_input_event.then(lambda: ("upload", gr.Tabs(selected="upload"), "b2a"), None,
                                          [used, input_tabs, direction], **quick)
        if drawings:  # into the sketchpad (draw over them), which does not fire .change when an example is loaded
            gallery = gr.Examples([[str(p)] for p in drawings], inputs=[pad],
                                  label="Examples: drawings of held-out test emoji and hand-drawn ones (draw over them)",
                                  api_visibility="private", elem_id=f"{family.name}-examples", examples_per_page=12)
            gallery.load_input_event.then(lambda *d: (*turned_to_draw(*d), gr.Tabs(selected="draw")), draw_inputs,
                                          [*draw_outputs, input_tabs], **quick).then(
                live_drawing, [pad, *shared], live_outputs[:-1], api_visibility="private", show_progress="hidden",
                concurrency_id="model")


# --- one input through every model of a domain pair -----------------------------------------------------
def comparable_groups(models: dict[str, str]) -> dict[tuple[str, str], list[str]]:
    """Two-way models that translate between the same two domains, grouped: each group of two or more
    gets a Compare tab."""
    groups: dict[tuple[str, str], list[str]] = {}
    for family, name in models.items():
        if len(translator.FAMILIES[family].directions) < 2:
            continue
        try:
            config = translator.read_config(translator.hub.resolve(name, allow_local=True).path)
        except TranslatorError:
            continue
        groups.setdefault((config.get("domain_a", "A"), config.get("domain_b", "B")), []).append(name)
    return {pair: names for pair, names in groups.items() if len(names) > 1}


def compare_tab(pair: tuple[str, str], names: list[str], allow_local: bool, device: str | None,
                fast: bool | str = True) -> None:
    a, b = pair
    gr.Markdown(f"One input through every model of **{pretty(a)} ↔ {pretty(b)}**, side by side, each with its time.")
    with gr.Row():
        with gr.Column(scale=1):
            image = image_upload(sources=IMAGE_SOURCES, format="png", label="Input", height=280, elem_id="compare-input")
            direction = gr.Radio([(f"{pretty(a)} → {pretty(b)}", "a2b"), (f"{pretty(b)} → {pretty(a)}", "b2a")],
                                 value="a2b", label="Direction")
            button = gr.Button("Compare", variant="primary")
        with gr.Column(scale=2):
            with gr.Row():
                outputs = [gr.Image(type="filepath", format="png", interactive=False, height=256,
                                    label=translator.FAMILIES[translator.read_config(
                                        translator.hub.resolve(n, allow_local=True).path)["family"]].title,
                                    elem_id=f"compare-{i}") for i, n in enumerate(names)]
            info = gr.Markdown(label="times", elem_id="compare-info")

    def compare(image_value, direction_value):
        if image_value is None:
            raise user_error(ImageError("Add an image first: upload one, paste it, use the webcam or click an example."))
        results, lines = [], []
        try:
            for name in names:
                # the same cached translator the family tabs use; compared as the models make them (raw)
                t = translator.load(name, allow_local=allow_local, device=device, finishing=True, fast=fast)
                with translator.raw_output():
                    out = t.translate(image_value, direction=direction_value)
                results.append(OUTPUTS.save(out, f"{Path(t.name).name}-translation"))
                lines.append(f"{translator.FAMILIES[t.family_name].title} (`{t.name}`): {t.last_seconds * 1000:.0f} ms")
        except TranslatorError as err:
            raise user_error(err) from None
        return results + [" · ".join(lines)]

    FamilyTab.endpoint(compare, ["image", "direction"], {"direction": "a2b"})
    button.click(compare, [image, direction], outputs + [info], api_name="compare", concurrency_id="model",
                 show_progress_on=outputs[:1], show_progress="minimal")
    examples = sorted((EXAMPLES / "cyclegan").glob("*.png"))  # held-out emoji of the benchmark pair
    if examples and {a, b} == {"noto", "twemoji"}:
        gr.Examples([[str(p), "b2a" if p.name.startswith(f"{b}-") else "a2b"] for p in examples], inputs=[image, direction],
                    api_visibility="private", visible_columns=[0], examples_per_page=12)


def shipped_defaults() -> dict[str, str]:
    """family -> the first shipped model of it: a tab per family that has a model, no placeholders."""
    defaults = {}
    for name in translator.list_models():
        defaults.setdefault(translator.hub.SHIPPED[name].family, name)
    return {f: defaults[f] for f in translator.FAMILIES if f in defaults}  # in registration order


def refuse_unreadable_values(demo: gr.Blocks) -> None:
    """A script (or a tampered page) can send any JSON to any control: a word to a slider, a list to a
    sketchpad. Gradio turns what a control cannot read into "the upstream app has raised an exception"; here
    each control says which it is and what it got instead, and the server logs one line, no traceback."""
    for block in demo.blocks.values():
        if isinstance(block, gr.components.Component) and not isinstance(block, gr.State):
            block.preprocess = _readable_or_refused(block, block.preprocess)
            model = getattr(block, "data_model", None)
            if model is not None:  # Gradio validates the payload against it before preprocess
                block.api_info()  # the API page keeps describing the control's own model (cached on the block)
                block.data_model = _validated_or_refused(block, model)


def _control_name(block) -> str:
    return getattr(block, "label", None) or type(block).__name__


def _refusal(block, payload, err: Exception) -> gr.Error:
    name = _control_name(block)
    got = repr(payload)
    got = got if len(got) <= 60 else got[:57] + "..."
    return user_error(OptionsError(f"{name} cannot take {got} ({type(err).__name__})."))


def _readable_or_refused(block, preprocess):
    def checked(payload):
        try:
            return preprocess(payload)
        except gr.Error as err:  # Gradio's own range checks: the same message, without a server traceback
            raise gr.Error(err.message, title="Cannot translate", print_exception=False) from None
        except Exception as err:  # noqa: BLE001  (what it could not read is the user's, not a bug of ours)
            if not isinstance(err, (ValueError, TypeError, KeyError, AttributeError)):  # e.g. disk full: ours
                log.error("%s could not read a value", _control_name(block), exc_info=err)
            raise _refusal(block, payload, err) from None
    return checked


def _validated_or_refused(block, model):
    class Validated(model):
        @classmethod
        def model_validate(cls, obj, *args, **kwargs):
            try:
                return model.model_validate(obj, *args, **kwargs)
            except Exception as err:  # noqa: BLE001  (pydantic's ValidationError: a malformed payload)
                raise _refusal(block, obj, err) from None
    return Validated


def build_demo(allow_local_models: bool = False, models: dict[str, str] | None = None,
               device: str | None = None, fast: bool | str = True) -> gr.Blocks:
    """models: family -> default model name (default: the shipped ones). fast: run translations with ONNX
    Runtime where that is measured faster at load (translator/fast_path.py); each model's export and timing
    run in the background, so the app starts (and serves, on PyTorch) without waiting for them."""
    fast = "background" if fast is True else fast
    models = models or shipped_defaults()
    examples = ExampleResults()  # shared by the tabs: a key names the model
    with gr.Blocks(title="Translator Studio") as demo:
        gr.Markdown("# Translator Studio\nClassic GAN image-to-image translation, running on this machine. "
                    "Weights load from the Hugging Face Hub, or from the copies bundled with the app when the Hub "
                    "cannot be reached.")
        with gr.Tabs():
            for family_name, model_name in models.items():
                family = translator.FAMILIES[family_name]
                with gr.Tab(family.title, id=family.name):
                    FamilyTab(family, model_name, allow_local_models, device, fast, examples).build()
            for pair, names in comparable_groups(models).items():
                with gr.Tab("Compare", id=f"compare-{pair[0]}-{pair[1]}"):
                    compare_tab(pair, names, allow_local_models, device, fast)
        demo.load(None, js=ACTIVATE_BRUSH_JS)
    refuse_unreadable_values(demo)
    return demo


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--concurrency", type=int, default=1, help="translations at once (CPU: 1)")
    parser.add_argument("--queue-size", type=int, default=32, help="waiting requests before new ones are refused")
    parser.add_argument("--allow-local-models", action="store_true",
                        help="let the Model box name folders on this machine (off: only shipped names and Hub repos)")
    parser.add_argument("--device", default=os.environ.get("TRANSLATOR_DEVICE"),
                        help="cpu, cuda or mps (default: $TRANSLATOR_DEVICE, else the best available)")
    parser.add_argument("--no-fast-path", action="store_true", default=os.environ.get("TRANSLATOR_FAST_PATH") == "0",
                        help="eager PyTorch only (default: ONNX Runtime where it is measured faster; "
                             "$TRANSLATOR_FAST_PATH=0 also turns it off)")
    parser.add_argument("--share", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    demo = build_demo(args.allow_local_models, device=args.device, fast=not args.no_fast_path)
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, theme=gr.themes.Soft(),
                max_file_size="20mb")


if __name__ == "__main__":
    main()
