"""The CPU fast path: a model's translation graph run by ONNX Runtime instead of eager PyTorch, where it pays.

    t = translator.load("cyclegan-noto2twemoji", fast=True)
    t.fast_path.report      # {"used": True, "speed_up": 3.1, "max_abs_difference": 1e-6, ...}

Eager PyTorch pays a per-layer dispatch cost that dominates small networks (the shipped 64-px models spend
most of their time there) and fuses nothing; ONNX Runtime runs the same graph with its convolutions in a
blocked memory layout and the activations fused into them. The exported graph is also rewritten into the same
maths with fewer multiply-adds: the decoders' resize-convolutions (x2 nearest, then a 5x5 or 7x7 conv) on the
small image (`ResizeConvolution`, 2.8x fewer for 5x5), and every wide 3x3 conv by Winograd's F(4x4, 3x3)
(`WinogradConvolution`, 4x fewer): at paper size the convs are compute-bound, and no layout or fusion of a
direct conv reaches 1.5x eager PyTorch there. Measured by `python -m training.fast_path_bench`.

At load, for each direction: the graph is exported (torch.onnx, opset 17, batch axes dynamic) into a cache
folder keyed by a hash of the weights, the config, the code and the library versions; ONNX Runtime builds a
session on it. The first time, the session is checked against eager PyTorch on two random batches (the
parity bar of training.export_onnx, 2/255 of the output image), then both are timed, interleaved, and the
session is used only if it is at least 10 % faster (`fast="always"` skips the timing, for tests); that
decision is kept beside the graph (per thread count), so later loads pay only the session. With
`fast="background"` (what the app uses) all of that happens on a background thread, one model at a time,
and the model translates with eager PyTorch until its session is ready: a first start is not held up by
exports (1-5 s a model at 64 px, more at paper size). Anything that
fails (the packages missing, an export error, parity, an error while running) leaves the translator on
eager PyTorch, with the reason in `report`: the fast path never makes a model unusable.

What runs on it: `translate` of the families whose translation is one image graph (CycleGAN, pix2pix, UNIT's
posterior mean, U-GAT-IT's translation); MUNIT's (image, style) graph for every style, given, seeded or read
off a reference; FUNIT's (content, class code) graph for any references (codes are computed in PyTorch: the
style encoder is small, the class encoder runs once per call); U-GAT-IT's attention view (the translation,
the three heatmaps and the CAM logit), a second graph per direction, checked the same way (each heatmap
against its range) and timed on its own. Everything else -- UNIT's sampled latent, MUNIT's sample grid,
tiles and whole images at other sizes -- stays eager.
"""
from __future__ import annotations

import atexit
import copy
import functools
import hashlib
import json
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvNormAct, scaled_styles, split_style

OPSET = 17
PARITY_BAR = 2 / 255  # largest difference allowed, in [0, 1] units of the output image
PAYS = 0.9  # used if the session's median time is at most this fraction of eager PyTorch's
VERSION = 4  # of this module's graphs: part of the cache key


def cache_root() -> Path:
    """Where exported graphs are kept: $TRANSLATOR_STUDIO_CACHE, else ~/.cache/translator-studio."""
    return Path(os.environ.get("TRANSLATOR_STUDIO_CACHE", Path.home() / ".cache" / "translator-studio")) / "onnx"


# --- graph rewrites: the same maths in fewer operations ------------------------------------------------------
class ResizeConvolution(nn.Module):
    """Nearest x2 upsampling, then a k x k conv (stride 1, 'same' padding): the decoders' resize-convolution,
    computed on the small image. Each output pixel of phase (a, b) -- its row and column parity -- reads the
    small image at offsets floor((a + t - p) / 2) for the taps t: several taps land on the same small pixel,
    so one conv of the small image, with those taps summed, gives all four phases at once (4 x C_out
    channels, then a pixel shuffle). For k = 5 that is 4 x 9 multiply-adds per small pixel instead of 4 x 25:
    MUNIT's, UNIT's and FUNIT's decoders spend most of their time here. The same sums in another order (equal
    up to float rounding) where the taps stay inside the image; zero padding of the large image is zero
    padding of the small one, so zero-padded convs are that everywhere. Reflect padding of the large image is
    no padding of the small one: the `p` rows and columns at each edge are computed directly, by the
    original weights on thin reflect-padded strips of the upsampled image (2p of its rows, p outputs)."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        k, p = conv.kernel_size[0], conv.padding[0]
        offsets = [[(a + t - p) // 2 for t in range(k)] for a in (0, 1)]
        low, high = min(min(o) for o in offsets), max(max(o) for o in offsets)
        n = high - low + 1
        weight = conv.weight.detach()
        out_channels, in_channels = weight.shape[:2]
        small = weight.new_zeros(out_channels, 2, 2, in_channels, n, n)
        for a in (0, 1):
            for b in (0, 1):
                for t in range(k):
                    for u in range(k):
                        small[:, a, b, :, offsets[a][t] - low, offsets[b][u] - low] += weight[:, :, t, u]
        # channel c * 4 + a * 2 + b is what PixelShuffle(2) puts at (2i + a, 2j + b) of channel c
        self.phases = nn.Conv2d(in_channels, 4 * out_channels, n, bias=conv.bias is not None)
        self.phases.weight.data = small.reshape(4 * out_channels, in_channels, n, n)
        if conv.bias is not None:
            self.phases.bias.data = conv.bias.detach().repeat_interleave(4)
        self.small_padding = (-low, high, -low, high)
        self.edge = p if conv.padding_mode != "zeros" else 0
        self.conv = conv  # the original, for the edges

    @staticmethod
    def applies(block: nn.Module) -> bool:
        """A ConvNormAct that upsamples x2 (nearest) into a plain square conv of 'same' padding, whose taps fold."""
        conv, up = block.conv, getattr(block, "upsample", None)
        if not (isinstance(up, nn.Upsample) and up.scale_factor in (2, 2.0) and up.mode == "nearest"
                and type(conv) is nn.Conv2d and not hasattr(conv, "parametrizations")):
            return False
        k, p = conv.kernel_size, conv.padding
        return (k[0] == k[1] and isinstance(p, tuple) and p[0] == p[1] and 2 * p[0] == k[0] - 1 and k[0] > 3
                and conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
                and conv.padding_mode in ("zeros", "reflect"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.edge
        if e and min(x.shape[-2:]) < e:  # too small for edge strips (shapes are fixed when traced)
            return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        y = F.pixel_shuffle(self.phases(F.pad(x, self.small_padding)), 2)
        if e:
            def edge(part, padding):
                """The original conv's outputs along one edge, exactly e of them across it: `part` is the e
                small rows (or columns) at that edge, upsampled (2e large ones), reflect-padded as the whole
                image is there (the edge side, and both sides along it), convolved with no padding."""
                large = F.pad(F.interpolate(part, scale_factor=2.0, mode="nearest"), padding, mode="reflect")
                return F.conv2d(large, self.conv.weight, self.conv.bias)
            y = torch.cat([edge(x[:, :, :e], (e, e, e, 0)), y[:, :, e:-e], edge(x[:, :, -e:], (e, e, 0, e))], 2)
            y = torch.cat([edge(x[..., :e], (e, 0, e, e)), y[..., e:-e], edge(x[..., -e:], (0, e, e, e))], 3)
        return y


# Winograd's F(4x4, 3x3) matrices (Lavin & Gray, 2016; interpolation points 0, 1, -1, 2, -2 and infinity):
# input tiles d -> B^T d B, 3x3 filters g -> G g G^T, products m -> A^T m A (4x4 outputs per 6x6 tile)
_WINOGRAD_BT = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
_WINOGRAD_G = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
               [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
_WINOGRAD_AT = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]


class WinogradConvolution(nn.Module):
    """A 3x3 conv of stride 1 by Winograd's minimal filtering F(4x4, 3x3): each 4x4 block of outputs comes
    from a 6x6 tile of the padded input in 36 products per channel pair instead of 144. The 36 products are
    36 matrix products over the channels (where the time goes, at a quarter of the direct conv's
    multiply-adds); the tiles go in through two strided depthwise convs (the transform is separable: rows,
    then columns) and come out through one small matrix product and a pixel shuffle. The filters are
    transformed once, in float64. Equal to the conv up to float rounding (about 1e-5 of its output's scale).

    It pays only where the channel products outweigh the transforms' memory traffic. Measured on one conv in
    ONNX Runtime, 2 threads of a 2-vCPU AMD EPYC (Zen 3), 2026-12-01 (docs/experiments.md, "Twelfth
    session"), in channels -> out channels at output size: 256->256 at 64x64 1.61x, at 32x32 1.46-1.48x, at
    16x16 1.07-1.09x; 512->512 at 16x16 1.61x; 128->256 at 64x64 1.88x; 256->128 at 128x128 1.24x; 128->128
    at 64x64 1.00x, at 32x32 0.94x; 64->64 at 64x64 0.71x; 128->64 at 256x256 0.77x. Hence `applies`: both
    channel counts at least 128 and their product at least 256 x 128, and `pays`: an output in multiples
    of 4, at least 32 x 32, or 16 x 16 for a product four times that (else the plain conv)."""

    MIN_CHANNELS, MIN_CHANNEL_PRODUCT = 128, 256 * 128

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        weight = conv.weight.detach().double()
        out_channels, in_channels = weight.shape[:2]
        g, bt, at = (torch.tensor(m, dtype=torch.float64) for m in (_WINOGRAD_G, _WINOGRAD_BT, _WINOGRAD_AT))
        filters = torch.einsum("ai,kcij,bj->abkc", g, weight, g)  # G g G^T for every channel pair
        self.register_buffer("filters", filters.reshape(36, out_channels, in_channels).float())
        self.register_buffer("rows", bt.float().reshape(6, 1, 6, 1).repeat(in_channels, 1, 1, 1))
        self.register_buffer("columns", bt.float().reshape(6, 1, 1, 6).repeat(in_channels * 6, 1, 1, 1))
        self.register_buffer("outputs", torch.einsum("ia,jb->ijab", at, at).reshape(16, 36).float())
        self.conv = conv  # the original: its bias, its padding, and whole convs of sizes that do not tile

    @classmethod
    def applies(cls, conv: nn.Module) -> bool:
        """A plain 3x3 conv of stride 1, wide enough to pay (the size is checked when traced)."""
        if type(conv) is not nn.Conv2d or hasattr(conv, "parametrizations"):
            return False
        out_channels, in_channels = conv.weight.shape[:2]
        return (conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.dilation == (1, 1)
                and conv.groups == 1 and conv.padding in ((0, 0), (1, 1))
                and conv.padding_mode in ("zeros", "reflect")
                and min(in_channels, out_channels) >= cls.MIN_CHANNELS
                and in_channels * out_channels >= cls.MIN_CHANNEL_PRODUCT)

    def pays(self, height: int, width: int) -> bool:
        """Whether an output of this size tiles, and is large enough for this conv's width to pay."""
        if height % 4 or width % 4 or min(height, width) < 16:
            return False
        wide = self.conv.in_channels * self.conv.out_channels >= 4 * self.MIN_CHANNEL_PRODUCT
        return min(height, width) >= 32 or wide

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.conv.padding[0]
        # plain ints (constants in a traced graph: only the batch axis is dynamic), so the shapes after the
        # pixel shuffle stay known to the exporter (its instance norms need the channel count)
        height, width = int(x.shape[-2]) + 2 * p - 2, int(x.shape[-1]) + 2 * p - 2  # the output's size
        if not self.pays(height, width):  # shapes are fixed when traced
            return self.conv(x)
        if p:
            x = F.pad(x, (p, p, p, p), mode="constant" if self.conv.padding_mode == "zeros" else "reflect")
        channels, out_channels = self.conv.in_channels, self.conv.out_channels  # -1 below: the batch
        tiles_y, tiles_x = height // 4, width // 4
        v = F.conv2d(x, self.rows, stride=(4, 1), groups=channels)                 # B^T d: N, C*6, T, W+2
        v = F.conv2d(v, self.columns, stride=(1, 4), groups=channels * 6)           # (B^T d) B: N, C*36, T, S
        v = v.reshape(-1, channels, 36, tiles_y * tiles_x).permute(2, 1, 0, 3).reshape(36, channels, -1)
        m = torch.matmul(self.filters, v)                                            # 36, K, N*T*S
        y = torch.matmul(self.outputs, m.reshape(36, -1))                            # A^T m A: 16, K*N*T*S
        y = y.reshape(16, out_channels, -1).transpose(0, 1)                          # K, 16, N*T*S
        y = y.reshape(out_channels * 16, -1, tiles_y, tiles_x).transpose(0, 1)      # N, K*16, T, S
        y = F.pixel_shuffle(y, 4).reshape(x.shape[0], out_channels, height, width)  # k*16 + 4i + j -> (4t + i, 4s + j)
        return y if self.conv.bias is None else y + self.conv.bias.view(1, -1, 1, 1)


def resize_convolutions(network: nn.Module) -> list[ConvNormAct]:
    """The blocks of `network` whose resize-convolution `rewritten` replaces."""
    return [m for m in network.modules() if isinstance(m, ConvNormAct) and ResizeConvolution.applies(m)]


def winograd_convolutions(network: nn.Module) -> list[tuple[nn.Module, str]]:
    """(parent, attribute) of every conv of `network` that `rewritten` computes by Winograd's method."""
    return [(parent, name) for parent in network.modules() if not isinstance(parent, WinogradConvolution)
            for name, child in parent.named_children() if WinogradConvolution.applies(child)]


def rewrites(network: nn.Module) -> int:
    """How many layers of `network` `rewritten` replaces (0: it returns the network itself); not counted: the
    folded convs of its ResizeConvolutions that turn out wide enough for Winograd."""
    return len(resize_convolutions(network)) + len(winograd_convolutions(network))


def rewritten(network: nn.Module) -> nn.Module:
    """A copy of `network` for export, with every resize-convolution it has as a ResizeConvolution (whose
    folded conv may then be wide enough for Winograd), then every wide 3x3 conv as a WinogradConvolution;
    the network itself is untouched (it may be serving requests on another thread)."""
    if not rewrites(network):
        return network
    network = copy.deepcopy(network)
    for block in resize_convolutions(network):
        del block.upsample
        block.conv = ResizeConvolution(block.conv)
    for parent, name in winograd_convolutions(network):
        setattr(parent, name, WinogradConvolution(getattr(parent, name)))
    return network


def export_view(t, rewrite: bool = True):
    """The translator to trace graphs from: `t` itself, or a shallow copy of it computing with the rewritten
    copy of its network (the translator's only handle on its network is `model`)."""
    network = rewritten(t.model) if rewrite else t.model
    if network is t.model:
        return t
    view = copy.copy(t)
    view.model = network
    return view


# --- the modules exported (also what training.export_onnx writes) ---------------------------------------------
class Direction(nn.Module):
    """One direction of an image-only translator as a plain module: image -> `translate_tensor(image)`."""

    def __init__(self, t, direction: str):
        super().__init__()
        self.t, self.direction = t, direction
        self.network = t.model  # registered, so its weights become the graph's initialisers

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.t.translate_tensor(image, self.direction)


class StyledDirection(nn.Module):
    """MUNIT, one direction: (image, style) -> translation, the style (N or 1 rows) broadcast over the batch."""

    def __init__(self, t, direction: str):
        super().__init__()
        self.network = t.model
        self.source, self.target = t.domains_of(direction)

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        content = self.network.generator(self.source).content_encoder(image)
        # the batch read off the traced shape: len(x) would freeze the example's batch into the graph
        return self.network.generator(self.target).decode(content, style.expand(image.shape[0], -1))


def heatmap_scale(name: str, reference: torch.Tensor) -> float:
    """What a difference in one of the attention view's outputs is measured against (the parity bar is 2/255
    of it): the image's range (2) for the translation; a heatmap's own range (max - min), which the overlay
    stretches to full opacity; 1 for the CAM logit, read through a sigmoid (whose slope is at most 1/4)."""
    if name == "translation":
        return 2.0
    if name == "cam_logit":
        return 1.0
    return float(reference.max() - reference.min()) or 1.0


class Heatmaps(nn.Module):
    """U-GAT-IT's attention view, one direction: image -> the translation, the CAM heatmaps of the generator
    and of the target domain's two discriminators, and the generator's CAM logit (`heatmaps_tensor`)."""
    OUTPUTS = ("translation", "generator", "global", "local", "cam_logit")

    def __init__(self, t, direction: str):
        super().__init__()
        self.t, self.direction = t, direction
        self.network = t.model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        maps = self.t.heatmaps_tensor(image, self.direction)
        return tuple(maps[name] for name in self.OUTPUTS)


class FewShotTranslate(nn.Module):
    """FUNIT / COCO-FUNIT: (content, class code) -> translation. `FUNIT.decode` and COCO-FUNIT's
    `ContentConditioning` with the batch read off the traced shapes (their len() would freeze the example's
    batch into the graph, and the universal style bias would not follow N); the same maths, checked against
    the model's own decode."""

    def __init__(self, t):
        super().__init__()
        self.t, self.network = t, t.model

    def forward(self, content: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        network = self.network
        features = network.content_encoder(self.t.to_network(content))
        code = code.expand(features.shape[0], -1)
        if network.coco is not None:
            coco = network.coco
            style = coco.mlp_style(torch.cat([code, coco.usb.expand(code.shape[0], -1)], 1))
            code = style * coco.mlp_content(features.mean((2, 3)))
        styles = scaled_styles(split_style(network.mlp(code), network.decoder), network.adain_scale)
        out = network.decoder(features, styles)
        return out.expand(-1, 3, -1, -1) if self.t.channels == 1 else out


IMAGE_OPTIONS = {"tiled", "seed", "sample"}  # options an image graph may ignore (see FastPath.applies)


def kind_of(t) -> str | None:
    """"image" (image -> translation), "styled" (MUNIT: image and style code), "fewshot" (FUNIT: content
    and class code), or None (no fast path: a family whose options change what the graph would compute,
    or a network that is random at inference, e.g. pix2pix with the official test's dropout)."""
    model = getattr(t, "model", None)
    if model is not None and any(isinstance(m, nn.Dropout) and m.training for m in model.modules()):
        return None
    if t.family_name == "munit":
        return "styled"
    if t.family_name == "funit":
        return "fewshot"
    return "image" if set(t.options) <= IMAGE_OPTIONS else None


def weights_key(t, kind: str) -> str:
    """A hash of everything the exported graph depends on: the weights, the config, the code that computes
    it (the family's module, the shared layers, this file) and the library versions."""
    import onnx
    import onnxruntime

    digest = hashlib.sha256(json.dumps([VERSION, OPSET, kind, t.family_name, t.config, torch.__version__,
                                        onnx.__version__, onnxruntime.__version__], sort_keys=True, default=str).encode())
    for module in {sys.modules[type(t.model).__module__], sys.modules[type(t).__module__], sys.modules[__name__],
                   sys.modules[scaled_styles.__module__]}:
        digest.update(Path(module.__file__).read_bytes())
    for name, tensor in t.model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def _vdot(g, a, b):
    """aten::vdot (spectral norm's sigma, which ONNX lacks) as ReduceSum(a * b); its inputs are weights, so
    ONNX Runtime folds it into a constant when it loads the graph."""
    return g.op("ReduceSum", g.op("Mul", a, b), keepdims_i=0)


_registered: set[int] = set()  # opsets with _vdot registered (once: the registry is process-wide)
_register_lock = threading.Lock()

# The exporter's notes (tracing a Python branch on a shape, its own deprecation) on every export; filtered
# here once, narrowly, because warnings.catch_warnings is not thread-safe and exports run beside requests.
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
warnings.filterwarnings("ignore", message="The feature will be removed. Please remove usage of this function")
warnings.filterwarnings("ignore", message="ONNX export mode is set to TrainingMode.EVAL, but operator 'instance_norm'")
warnings.filterwarnings("ignore", message="Constant folding - Only steps=1 can be constant folded")


def export(module: nn.Module, example: tuple, path: Path, inputs: list[str], outputs: list[str] | None = None,
           dynamic: dict | None = None, opset: int = OPSET) -> None:
    """torch.onnx.export (in inference mode) into `path`, through a temporary file of its own (threads and
    processes may export at once), so a crash leaves no half file. It runs in eval mode and leaves every
    module's mode as it was, without ever switching the network to training mode (it may be serving
    requests on another thread meanwhile). Default: one output, "translation"; every batch axis dynamic,
    the images' ("batch") apart from the code and style inputs' ("codes": one code for N images is
    broadcast in the graph)."""
    outputs = outputs or ["translation"]
    if dynamic is None:
        dynamic = {name: {0: "batch" if name in ("image", "translation") else "codes"} for name in [*inputs, *outputs]}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(suffix=".partial", dir=path.parent)
    os.close(handle)
    modes = {m: m.training for m in module.modules()}
    # a new wrapper module starts in training mode, and the exporter restores the wrapper's mode with a
    # recursive train(): so the wrapper says eval first
    module.training = False
    with _register_lock:
        if opset not in _registered:
            torch.onnx.register_custom_op_symbolic("aten::vdot", _vdot, opset)  # U-GAT-IT's discriminators
            _registered.add(opset)
    try:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(module, example, partial, dynamo=False, opset_version=opset,
                              input_names=inputs, output_names=outputs, dynamic_axes=dynamic)
        os.replace(partial, path)
    finally:
        for m, training in modes.items():
            m.training = training  # each its own flag (train() would recurse through the children)
        Path(partial).unlink(missing_ok=True)


# Background builds, one at a time (each exports and times a model, beside the requests), on a daemon
# thread: a process that exits does not wait for the queue (an export writes its file atomically), but it
# does let the build in progress end (`_finish_the_build_in_progress`).
_build_queue: queue.SimpleQueue = queue.SimpleQueue()
_builder: threading.Thread | None = None
_builder_lock = threading.Lock()
_exiting = threading.Event()
EXIT_WAIT_S = 60.0  # the longest a process waits at exit for the build in progress


def _build_in_background(fn, *args) -> None:
    global _builder
    with _builder_lock:
        if _builder is None or not _builder.is_alive():
            _builder = threading.Thread(target=_build_forever, name="fast-path-build", daemon=True)
            _builder.start()
    _build_queue.put((fn, args))


def _build_forever() -> None:
    while True:
        job = _build_queue.get()
        if job is None or _exiting.is_set():
            return
        fn, args = job
        fn(*args)  # FastPath._build_or_disable: never raises


class ExitRequested(Exception):
    """The process is exiting: a background build stops at its next safe point (between exports and timings)."""


def stop_if_exiting() -> None:
    if _exiting.is_set():
        raise ExitRequested("the process is exiting")


@atexit.register
def _finish_the_build_in_progress() -> None:
    """Why: a daemon thread stopped by the interpreter's exit inside torch's ONNX export or ONNX Runtime (C++)
    aborts the whole process ("terminate called without an active exception", exit status 134, after a test
    run that passed). So at exit no new build starts, and the one in progress stops at its next safe point
    (`stop_if_exiting`): at most one export or one timing later."""
    _exiting.set()
    builder = _builder
    if builder is not None and builder.is_alive():
        _build_queue.put(None)  # wakes an idle builder
        builder.join(0.5)
        if builder.is_alive():
            print(f"fast path: letting the ONNX build in progress stop (at most {EXIT_WAIT_S:g} s) ...",
                  file=sys.stderr, flush=True)
            builder.join(EXIT_WAIT_S)


class FastPath:
    """ONNX Runtime sessions of one translator, per direction; `report` says whether they are used and why.
    mode: True (timed: used where it pays), "always" (no timing) or "background" (True, built on a
    background thread; eager PyTorch until `ready` is set). rewrite=False exports the network as it is, without
    the graph rewrites (`rewritten`): for measuring what they gain."""

    def __init__(self, t, mode: bool | str = True, cache: Path | None = None, rewrite: bool = True):
        self.kind = kind_of(t)
        self.rewrite = rewrite
        self.sessions: dict = {}
        self.heatmap_sessions: dict = {}  # U-GAT-IT: the attention view's graph, per direction
        # every run on one thread of its own: ONNX Runtime keeps per-calling-thread buffers, and an app serves
        # each request from whichever worker thread is free (the RSS grew 100 MB over the bad-input probe)
        self.runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnxruntime")
        self.report: dict = {"used": False, "kind": self.kind}
        self.size = t.image_size
        self.ready = threading.Event()  # set once the sessions are checked (or given up): never used before
        if mode == "background":
            self.report["reason"] = "being built: eager PyTorch until it is ready"
            _build_in_background(self._build_or_disable, t, True, cache or cache_root())
        else:
            self._build_or_disable(t, mode, cache or cache_root())

    def _build_or_disable(self, t, mode, cache: Path) -> None:
        try:
            self._build(t, mode, cache)
        except Exception as err:  # noqa: BLE001 -- any failure means eager PyTorch, said in the report
            self.disable(err)
        finally:
            self.ready.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the sessions are checked (a background build); whether they were, within `timeout`."""
        return self.ready.wait(timeout)

    @property
    def used(self) -> bool:
        return self.ready.is_set() and bool(self.sessions)

    def disable(self, err: Exception) -> None:
        """Eager PyTorch from now on. The first failure's reason is kept (a request that raced it, finding
        its session gone, would only say KeyError)."""
        first = bool(self.sessions) or not self.report.get("reason")
        self.sessions, self.heatmap_sessions = {}, {}
        if first:
            self.report.update(used=False, reason=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")

    def graph(self, t, direction: str) -> tuple[nn.Module, list[str], tuple]:
        """The module to export for `direction`, traced from `t` (the export view: see `_build`)."""
        image = torch.zeros(1, 3, self.size, self.size)
        if self.kind == "styled":
            return StyledDirection(t, direction), ["image", "style"], (image, torch.zeros(1, t.style_dim))
        if self.kind == "fewshot":
            return FewShotTranslate(t), ["image", "code"], (image, t.model.class_code(t.to_network(image)))
        return Direction(t, direction), ["image"], (image,)

    def _build(self, t, mode, cache: Path) -> None:
        if self.kind is None:
            self.report["reason"] = f"{t.family_name} has no single deterministic translation graph"
            return
        if t.device.type != "cpu":
            self.report["reason"] = f"on {t.device.type}: PyTorch runs it there"
            return
        import onnxruntime

        folder = cache / weights_key(t, self.kind if self.rewrite else f"{self.kind}, not rewritten")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no spin-waiting between runs: on a shared 2-core machine it steals the other requests' CPU
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        started = time.perf_counter()

        def session(path: Path, graph, direction: str) -> Any:
            for attempt in (1, 2):
                stop_if_exiting()
                if not path.exists():
                    graph(path, direction)
                try:
                    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                except Exception:  # noqa: BLE001 -- a damaged cached file: export it again, once
                    path.unlink(missing_ok=True)
                    if attempt == 2:
                        raise

        @functools.cache
        def view():  # made at the first export this build needs (none when every graph is cached), once
            return export_view(t, self.rewrite)

        def translation_graph(path: Path, direction: str) -> None:
            module, inputs, example = self.graph(view(), direction)
            export(module, example, path, inputs)

        def heatmap_graph(path: Path, direction: str) -> None:
            export(Heatmaps(view(), direction), (torch.zeros(1, 3, self.size, self.size),), path, ["image"],
                   list(Heatmaps.OUTPUTS), {name: {0: "batch"} for name in ("image", *Heatmaps.OUTPUTS)})

        for direction in t.directions:
            self.sessions[direction] = session(folder / f"{direction}.onnx", translation_graph, direction)
            if hasattr(t, "heatmaps_tensor"):
                self.heatmap_sessions[direction] = session(folder / f"heatmaps-{direction}.onnx", heatmap_graph,
                                                           direction)
        self.report.update(folder=str(folder), build_seconds=round(time.perf_counter() - started, 2))
        # parity and timing are measured once per graph, thread count and mode, and kept beside the graph
        decision_file = folder / f"decision-{torch.get_num_threads()}-threads{'-always' if mode == 'always' else ''}.json"
        try:
            decision = json.loads(decision_file.read_text())
        except (OSError, ValueError):
            stop_if_exiting()
            decision = self.decide(t, mode)
            decision_file.write_text(json.dumps(decision))
        if not decision["used"]:
            self.sessions, self.heatmap_sessions = {}, {}
        if not decision.get("attention_used", True):
            self.heatmap_sessions = {}
        self.report.update(decision)

    def decide(self, t, mode) -> dict:
        decision = {"max_abs_difference": self.parity(t)}
        if decision["max_abs_difference"] > PARITY_BAR:
            return {**decision, "used": False, "reason": f"differs from PyTorch by "
                    f"{decision['max_abs_difference'] * 255:.2f}/255 (bar {PARITY_BAR * 255:.0f}/255)"}
        if mode != "always":
            stop_if_exiting()
            eager, fast = self.timings(t)
            decision.update(eager_s=eager, onnxruntime_s=fast, eager_ms=round(eager * 1000, 2),
                            onnxruntime_ms=round(fast * 1000, 2), speed_up=round(eager / fast, 2))
            if fast > PAYS * eager:
                return {**decision, "used": False, "reason": "not faster than PyTorch here"}
            if self.heatmap_sessions:  # the attention view's graph is timed on its own, and kept only where it pays
                eager, fast = self.attention_timings(t)
                decision.update(attention_speed_up=round(eager / fast, 2), attention_used=fast <= PAYS * eager)
        return {**decision, "used": True, "reason": ""}

    # --- running -------------------------------------------------------------------------------------------
    def applies(self, x: torch.Tensor, direction: str, options: dict) -> bool:
        if not self.used or direction not in self.sessions or tuple(x.shape[-2:]) != (self.size, self.size):
            return False
        if self.kind == "fewshot":  # a class per content image must come with one per image (eager says why not)
            references = options.get("references")
            return references is None or references.dim() == 4 or len(references) == len(x)
        return self.kind != "image" or not options.get("sample")  # a seed without sampling changes nothing

    def run(self, t, x: torch.Tensor, direction: str, options: dict) -> torch.Tensor:
        """What `t.translate_tensor(x, direction, **options)` computes, the codes in PyTorch, the rest in the session."""
        feeds = {"image": x}
        if self.kind == "styled":
            feeds["style"] = t.style_code(direction, len(x), **options)
        elif self.kind == "fewshot":
            references = options.get("references")
            feeds["code"] = t.model.class_encoder(t.to_network(x)) if references is None else \
                t.model.class_code(t.to_network(references))
        feeds = {name: value.detach().cpu().float().numpy() for name, value in feeds.items()}
        session = self.sessions[direction]
        return torch.from_numpy(self.runner.submit(session.run, None, feeds).result()[0])

    def heatmaps(self, x: torch.Tensor, direction: str, check: bool = True) -> dict[str, torch.Tensor] | None:
        """U-GAT-IT's `heatmaps_tensor` through its session, or None where it does not apply (eager then).
        check=False: before the decision (the parity check and the timing)."""
        session = self.heatmap_sessions.get(direction) if self.used or not check else None
        if session is None or tuple(x.shape[-2:]) != (self.size, self.size):
            return None
        outputs = self.runner.submit(session.run, None, {"image": x.detach().cpu().float().numpy()}).result()
        return {name: torch.from_numpy(value) for name, value in zip(Heatmaps.OUTPUTS, outputs)}

    def example_options(self, t, generator: torch.Generator) -> dict:
        """Options a call of this kind takes: a style code, two reference images, or none."""
        if self.kind == "styled":
            return {"style": torch.randn(1, t.style_dim, generator=generator)}
        if self.kind == "fewshot":
            return {"references": torch.rand(2, 3, self.size, self.size, generator=generator) * 2 - 1}
        return {}

    def parity(self, t) -> float:
        """The largest difference between the sessions and eager PyTorch on random batches of 1 and 2."""
        generator, worst = torch.Generator().manual_seed(0), 0.0
        with torch.inference_mode():
            for direction in self.sessions:
                for batch in (1, 2):
                    x = torch.rand(batch, 3, self.size, self.size, generator=generator) * 2 - 1
                    options = self.example_options(t, generator)
                    got = self.run(t, x, direction, options)
                    expected = t.translate_tensor(x, direction, **options)
                    worst = max(worst, float((got.clamp(-1, 1) - expected.clamp(-1, 1)).abs().max()) / 2)
                    if direction in self.heatmap_sessions:
                        got_maps = self.heatmaps(x, direction, check=False)
                        expected_maps = t.heatmaps_tensor(x, direction)
                        for name, reference in expected_maps.items():
                            difference = float((got_maps[name] - reference).abs().max())
                            worst = max(worst, difference / heatmap_scale(name, reference))
        return worst

    def attention_timings(self, t, repeats: int = 7) -> tuple[float, float]:
        """Median seconds of U-GAT-IT's eager `heatmaps_tensor` and of its session, one image, interleaved."""
        x = torch.rand(1, 3, self.size, self.size, generator=torch.Generator().manual_seed(1)) * 2 - 1
        direction = next(iter(self.heatmap_sessions))
        return interleaved(lambda: t.heatmaps_tensor(x, direction),
                           lambda: self.heatmaps(x, direction, check=False), repeats)

    def timings(self, t, repeats: int = 7) -> tuple[float, float]:
        """Median seconds of eager PyTorch and of the session, one image, interleaved (the same machine state)."""
        direction = next(iter(self.sessions))
        generator = torch.Generator().manual_seed(1)
        x = torch.rand(1, 3, self.size, self.size, generator=generator) * 2 - 1
        options = self.example_options(t, generator)
        return interleaved(lambda: t.translate_tensor(x, direction, **options),
                           lambda: self.run(t, x, direction, options), repeats)


def interleaved(eager, fast, repeats: int) -> tuple[float, float]:
    """Median seconds of two calls timed alternately (the same machine state for both), in inference mode,
    after two warm-up rounds (the first runs warm caches and allocators)."""
    eager_s, fast_s = [], []
    with torch.inference_mode():
        for i in range(repeats + 2):
            start = time.perf_counter()
            eager()
            middle = time.perf_counter()
            fast()
            end = time.perf_counter()
            if i >= 2:
                eager_s.append(middle - start)
                fast_s.append(end - middle)
    return statistics.median(eager_s), statistics.median(fast_s)
