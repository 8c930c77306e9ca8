"""The official TensorFlow U-GAT-IT checkpoints (taki0112/UGATIT, TF 1.14 `tf.train.Saver`; the published
selfie2anime ones) -> our U-GAT-IT in its "tf" variant (translator/ugatit.py), for training.convert:

    cd UGATIT_selfie2anime_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing   # as published (its name is read)
    python -m training.convert UGATIT.model-1000000.index --format ugatit-tf -o models/selfie2anime \
        --domain-a selfie --domain-b anime

SRC is the checkpoint's `.index` file; its `.data-00000-of-00001` must be beside it. It is read by
training.tf_checkpoint (no TensorFlow needed; every tensor read is checked against its CRC-32C).

Scopes: `generator_B` translates A -> B (selfie -> anime: our a2b), `generator_A` B -> A;
`discriminator_{A,B}/{global,local}` judge domain A's and B's images. Settings are read off the shapes
(`ch` from the first conv, n_res from the residual blocks counted, light or full from the MLP's first kernel,
the discriminators' depths from their convs counted); whether AdaLIN was trained with `--smoothing` is not
in the file, but in the official folder name (`..._smoothing`), which is read when it is there (else the
official default, smoothing on, with a note). Every variable is mapped to one of ours or dropped by name:
the optimizer's (Adam's `/Adam`, `/Adam_1` slots, `beta1_power`, `beta2_power`, numbered copies) and a
`global_step`; any other is an error that names it, as is a missing one.

Values are re-laid, not changed: conv kernels [kh, kw, in, out] -> [out, in, kh, kw]; dense kernels [in, out]
-> [out, in], the full model's first one also re-ordered from TF's NHWC flattening (h, w, c) to ours
(c, h, w); per-channel rho, gamma, beta -> 1 x C x 1 x 1. Spectral norm: TF keeps one vector `u` and does one
power iteration per forward; that iteration is done here, once, giving the (u, v) pair PyTorch's spectral
norm divides by in eval mode, so the discriminators compute what the TF graph computes from the saved u.
"""
from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from training.tf_checkpoint import TensorBundle
from translator.errors import WeightsError
from translator.ugatit import UGATIT

if TYPE_CHECKING:
    from training.convert import Converted

SOURCE = "taki0112/UGATIT (TensorFlow), generators and discriminators"
LICENCE = ("The reference code is MIT (taki0112/UGATIT). The published selfie2anime checkpoints carry no licence "
           "statement of their own; the terms of the data they were trained on (the selfie2anime data set) apply.")

# optimizer state and counters, dropped by name: Adam's two slots per variable (`/Adam`, `/Adam_1`; a second
# optimizer's slots of the same variables would be `/Adam_2`, ...), the beta powers (`beta1_power_1`: the
# second AdamOptimizer's), a global step
DROPPED = re.compile(r"^(.+/Adam(_\d+)?|beta[12]_power(_\d+)?|global_step)$")
SMOOTHING = 0.1  # ops.adaptive_instance_layer_norm: rho - 0.1, clipped
OFFICIAL_FOLDER = re.compile(r"^UGATIT(_light)?_.+_\d+resblock_\d+dis_")  # UGATIT.model_dir

GENERATORS = {"generator_B": "gen_ab", "generator_A": "gen_ba"}  # generator_B makes domain B's images: A -> B
DISCRIMINATORS = {"discriminator_A/global": "d_global_a", "discriminator_A/local": "d_local_a",
                  "discriminator_B/global": "d_global_b", "discriminator_B/local": "d_local_b"}

Transform = Callable[[np.ndarray], np.ndarray]


def conv_kernel(value: np.ndarray) -> np.ndarray:
    return value.transpose(3, 2, 0, 1)  # [kh, kw, in, out] -> [out, in, kh, kw]


def dense_kernel(value: np.ndarray) -> np.ndarray:
    return value.T  # [in, out] -> [out, in]


def channels(value: np.ndarray) -> np.ndarray:
    return value.reshape(1, -1, 1, 1)


def same(value: np.ndarray) -> np.ndarray:
    return value


def hwc_to_chw(height: int, width: int) -> Transform:
    """The full model's first MLP kernel: TF flattens the NHWC features (h, w, c); ours flattens NCHW."""
    def transform(value: np.ndarray) -> np.ndarray:
        out_features = value.shape[1]
        c = value.shape[0] // (height * width)
        return value.T.reshape(out_features, height, width, c).transpose(0, 3, 1, 2).reshape(out_features, -1)
    return transform


# --- the table: TF name -> (our key, transform) --------------------------------------------------------------
Table = dict[str, tuple[str, Transform]]


def conv_entries(table: Table, official: str, ours: str) -> None:
    """A tf.layers.conv2d in scope `official` (`{official}/conv2d/{kernel,bias}`) -> our conv at `ours`."""
    table[f"{official}/conv2d/kernel"] = (f"{ours}.weight", conv_kernel)
    table[f"{official}/conv2d/bias"] = (f"{ours}.bias", same)


def generator_table(scope: str, ours: str, n_res: int, full_grid: int | None) -> Table:
    """UGATIT.generator at `scope` -> our TFGenerator at `ours`. full_grid: the full model's feature size
    (image_size / 4), whose NHWC-flattened MLP input is re-ordered; None: light."""
    t: Table = {}

    def instance_norm(official: str, our: str) -> None:  # tf.contrib instance_norm: beta, gamma
        t[f"{scope}/{official}/gamma"] = (f"{ours}.{our}.weight", same)
        t[f"{scope}/{official}/beta"] = (f"{ours}.{our}.bias", same)

    conv_entries(t, f"{scope}/conv", f"{ours}.down.0.conv")
    instance_norm("ins_norm", "down.0.norm")
    for i in range(2):
        conv_entries(t, f"{scope}/conv_{i}", f"{ours}.down.{1 + i}.conv")
        instance_norm(f"ins_norm_{i}", f"down.{1 + i}.norm")
    for i in range(n_res):
        for r in (1, 2):
            conv_entries(t, f"{scope}/resblock_{i}/res{r}/conv_0", f"{ours}.down.{3 + i}.conv{r}.conv")
            instance_norm(f"resblock_{i}/res{r}/instance_norm", f"down.{3 + i}.conv{r}.norm")
    t[f"{scope}/CAM_logit/kernel"] = (f"{ours}.cam.fc.weight", dense_kernel)
    t[f"{scope}/CAM_logit/bias"] = (f"{ours}.cam.fc.bias", same)
    conv_entries(t, f"{scope}/conv_1x1", f"{ours}.cam.conv1x1")
    for official, our in (("linear_0", "mlp.0"), ("linear_1", "mlp.2"), ("gamma", "gamma"), ("beta", "beta")):
        first = official == "linear_0" and full_grid is not None
        t[f"{scope}/MLP/{official}/dense/kernel"] = (f"{ours}.{our}.weight",
                                                     hwc_to_chw(full_grid, full_grid) if first else dense_kernel)
        t[f"{scope}/MLP/{official}/dense/bias"] = (f"{ours}.{our}.bias", same)
    for i in range(n_res):
        for r in (1, 2):
            conv_entries(t, f"{scope}/adaptive_resblock{i}/res{r}/conv_0", f"{ours}.blocks.{i}.conv{r}.conv")
            t[f"{scope}/adaptive_resblock{i}/res{r}/instance_layer_norm/rho"] = (f"{ours}.blocks.{i}.conv{r}.norm.rho",
                                                                                 channels)
    for i in range(2):
        conv_entries(t, f"{scope}/up_conv_{i}", f"{ours}.up.{i}.conv")
        for name in ("rho", "gamma", "beta"):
            t[f"{scope}/layer_ins_norm_{i}/{name}"] = (f"{ours}.up.{i}.norm.{name}", channels)
    conv_entries(t, f"{scope}/G_logit", f"{ours}.up.2.conv")
    return t


def discriminator_names(scope: str, ours: str, n_layers: int) -> tuple[Table, list[tuple[str, str, str]]]:
    """discriminator_global / _local at `scope` -> our TFDiscriminator at `ours`: (the plain entries, and each
    spectral-normalised layer as (its kernel, its u, our module path)). conv_0, conv_1 ... then conv_last:
    our body; CAM_logit, conv_1x1: our cam; D_logit: our head."""
    t: Table = {}
    spectral = []
    layers = [f"conv_{i}" for i in range(n_layers - 2)] + ["conv_last"]
    for i, name in enumerate(layers):
        spectral.append((f"{scope}/{name}/kernel", f"{scope}/{name}/u", f"{ours}.body.{i}.conv"))
        t[f"{scope}/{name}/bias"] = (f"{ours}.body.{i}.conv.bias", same)
    spectral.append((f"{scope}/CAM_logit/kernel", f"{scope}/CAM_logit/u", f"{ours}.cam.fc"))
    t[f"{scope}/CAM_logit/bias"] = (f"{ours}.cam.fc.bias", same)
    conv_entries(t, f"{scope}/conv_1x1", f"{ours}.cam.conv1x1")
    spectral.append((f"{scope}/D_logit/kernel", f"{scope}/D_logit/u", f"{ours}.head.conv"))
    t[f"{scope}/D_logit/bias"] = (f"{ours}.head.conv.bias", same)
    return t, spectral


def l2_normalize(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(max(float(np.sum(x * x)), 1e-12))  # tf.nn.l2_normalize, epsilon 1e-12


def spectral_norm_state(kernel: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TF's spectral norm (`ops.spectral_norm`) on a kernel [..., out] with its stored u [1, out]: v =
    normalize(u W^T), u' = normalize(v W) with W the kernel as [-1, out], weight / (v W u'^T). Returns our
    weight (re-laid), _u (= u') and _v (= v, re-laid as our weight's rows are), for which PyTorch's eval-mode
    division by _u . (W _v) is the same number."""
    out = kernel.shape[-1]
    w = kernel.reshape(-1, out).astype(np.float64)
    v = l2_normalize(u.astype(np.float64) @ w.T)  # [1, K], K in TF's (kh, kw, in) order
    u_next = l2_normalize(v @ w)  # [1, out]
    if kernel.ndim == 4:  # a conv: our rows are (in, kh, kw)
        kh, kw, cin, _ = kernel.shape
        weight = conv_kernel(kernel)
        v_ours = v.reshape(kh, kw, cin).transpose(2, 0, 1).reshape(-1)
    else:  # CAM_logit [C, 1] -> our Linear(C, 1)
        weight, v_ours = dense_kernel(kernel), v.reshape(-1)
    return weight, u_next.reshape(-1).astype(np.float32), v_ours.astype(np.float32)


# --- reading the settings -----------------------------------------------------------------------------------
def smoothing_from(folder: str) -> tuple[float, str]:
    """AdaLIN's smoothing, from the official checkpoint folder's name (UGATIT.model_dir ends in `_smoothing`
    when it was on), and how that was decided, for the card."""
    if folder.endswith("_smoothing"):
        return SMOOTHING, f"AdaLIN smoothing on (ρ_eff = clip(ρ − 0.1, 0, 1)), as the folder name `{folder}` says."
    if OFFICIAL_FOLDER.match(folder):
        return 0.0, f"AdaLIN smoothing off (ρ as stored): the folder name `{folder}` has no `_smoothing`."
    return SMOOTHING, (f"AdaLIN smoothing on (ρ_eff = clip(ρ − 0.1, 0, 1)), the official default: the folder name "
                       f"`{folder}` is not an official one, which would say.")


def ugatit_tf(bundle: TensorBundle, args: argparse.Namespace) -> Converted:
    from training.convert import Converted, listing, load_weights  # here: training.convert imports this module

    where = bundle.index.name
    names = set(bundle.entries)

    def shape(name: str) -> tuple[int, ...]:
        if name not in bundle.entries:
            raise WeightsError(f"{where}: missing variable {name!r}.")
        return bundle.entries[name].shape

    def count(key_of: Callable[[int], str]) -> int:
        n = 0
        while key_of(n) in names:
            n += 1
        return n

    if "discriminator_A/global/conv_0/conv2d/kernel" in names:
        raise WeightsError(f"{where}: discriminators without spectral norm (trained with --sn False); only the "
                           "official setting, with it, is converted.")
    ch = shape("generator_B/conv/conv2d/kernel")[3]
    width = 4 * ch
    n_res = count(lambda i: f"generator_B/resblock_{i}/res1/conv_0/conv2d/kernel")
    mlp_in, mlp_width = shape("generator_B/MLP/linear_0/dense/kernel")
    if mlp_width != width:
        raise WeightsError(f"{where}: an MLP of width {mlp_width} for {width} residual channels (ch {ch}, "
                           f"{n_res} blocks); the official network needs them equal (ch x n_res = 4 ch, n_res 4).")
    light = mlp_in == width
    image_size = args.image_size or 256
    if not light:
        grid = math.isqrt(mlp_in // width)
        if grid * grid * width != mlp_in:
            raise WeightsError(f"{where}: the MLP's first kernel takes {mlp_in} features, not a square grid of "
                               f"{width} channels.")
        image_size = 4 * grid
        if args.image_size and args.image_size != image_size:
            raise WeightsError(f"{where}: the full U-GAT-IT is tied to {image_size} px; --image-size "
                               f"{args.image_size} cannot be used.")
    ndf = shape("discriminator_A/global/conv_0/kernel")[3]
    n_layers_global = 3 + count(lambda i: f"discriminator_A/global/conv_{i + 1}/kernel")
    n_layers_local = 3 + count(lambda i: f"discriminator_A/local/conv_{i + 1}/kernel")
    smoothing, smoothing_note = smoothing_from(Path(args.src).resolve().parent.name)
    network = UGATIT(image_size=image_size, ngf=ch, n_blocks=n_res, light=light, ndf=ndf,
                     n_layers_global=n_layers_global, n_layers_local=n_layers_local, domain_a=args.domain_a,
                     domain_b=args.domain_b, variant="tf", rho_smoothing=smoothing)

    table: Table = {}
    spectral: list[tuple[str, str, str]] = []
    for scope, ours in GENERATORS.items():
        table.update(generator_table(scope, ours, n_res, None if light else image_size // 4))
    for scope, ours in DISCRIMINATORS.items():
        n_layers = n_layers_global if scope.endswith("global") else n_layers_local
        entries, layers = discriminator_names(scope, ours, n_layers)
        table.update(entries)
        spectral += layers
    expected = set(table) | {name for layer in spectral for name in layer[:2]}
    dropped = sorted(n for n in names if DROPPED.match(n) and n not in expected)
    unexpected = sorted(names - expected - set(dropped))
    if unexpected:
        raise WeightsError(f"{where}: unexpected variable(s) {listing(unexpected)}, not in the official network "
                           f"its shapes describe (nor optimizer state).")
    missing = sorted(expected - names)
    if missing:
        raise WeightsError(f"{where}: missing variable(s) {listing(missing)}.")

    state = network.state_dict()
    weights: dict[str, torch.Tensor] = {}

    def put(official: str, ours: str, value: np.ndarray) -> None:
        found = bundle.entries[official]
        if found.dtype != "float32":
            raise WeightsError(f"{where}: {official!r} is {found.dtype}; the official weights are float32.")
        if tuple(value.shape) != tuple(state[ours].shape):
            raise WeightsError(f"{where}: {official!r} is {found.shape}; the network needs "
                               f"{tuple(state[ours].shape)} (as ours is laid out).")
        weights[ours] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))

    for official, (ours, transform) in table.items():
        put(official, ours, transform(bundle.read(official)))
    for kernel_name, u_name, ours in spectral:
        kernel, u = bundle.read(kernel_name), bundle.read(u_name)
        if u.shape != (1, kernel.shape[-1]):
            raise WeightsError(f"{where}: {u_name!r} is {u.shape}; its kernel needs (1, {kernel.shape[-1]}).")
        weight, u_next, v = spectral_norm_state(kernel, u)
        put(kernel_name, f"{ours}.parametrizations.weight.original", weight)
        put(u_name, f"{ours}.parametrizations.weight.0._u", u_next)
        put(u_name, f"{ours}.parametrizations.weight.0._v", v)

    rho = [float(w.min()) for k, w in weights.items() if k.endswith(".rho")] + \
          [float(w.max()) for k, w in weights.items() if k.endswith(".rho")]
    slots = sum(1 for n in dropped if "/Adam" in n)
    model_name = "UGATIT_light" if light else "UGATIT"
    notes = [f"{'Light' if light else 'Full'} generator (TensorFlow `{model_name}`): ch {ch}, "
             f"{n_res} residual blocks" + ("" if light else f", tied to {image_size} px") + "; discriminators "
             f"{n_layers_global} (global) and {n_layers_local} (local) layers (the official n_dis "
             f"{n_layers_global - 1}).",
             "Runs in the TensorFlow code's maths (`variant: tf`): biases on every conv and linear, affine instance "
             "norm in the encoder, one CAM classifier shared by the pooled branches with channel weights w + b, the "
             "biased variance in (Ada)LIN, and TF's reflect padding.",
             smoothing_note,
             "Values re-laid, not changed: conv kernels HWIO → OIHW, dense kernels transposed"
             + ("" if light else ", the MLP's first kernel re-ordered from TF's NHWC flattening to NCHW") + ".",
             "Spectral norm: the saved power-iteration vector u was advanced one step, as the TF graph does on each "
             "forward, into the (u, v) PyTorch's spectral norm reads in eval mode.",
             f"Dropped by name: {slots} Adam slots and {len(dropped) - slots} other optimizer variables "
             "(beta powers, step counters); the generators and discriminators are converted whole.",
             "The official test resizes inputs to 256 × 256 (bilinear); this model letterboxes them instead."]
    if rho and (min(rho) < 0 or max(rho) > 1):
        notes.append(f"Some ρ lie outside [0, 1] ({min(rho):.3g} … {max(rho):.3g}), which the official trainer "
                     "clips them to: they are used as stored, as TensorFlow would use them.")
    return Converted(load_weights(network, weights), [f"{where}: {n}" for n in dropped], notes)


def read_ugatit_tf(path: Path, trust_pickle: bool = False) -> TensorBundle:
    """training.convert's reader for this format: a TF checkpoint needs no unpickling (trust_pickle unused)."""
    return TensorBundle(path)


def ugatit_tf_files(path: Path) -> list[Path]:
    """What a source checkpoint is made of, for the card's sha256 lines: the .index and its data shards."""
    return TensorBundle(path).files
