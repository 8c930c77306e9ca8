"""Convert an official checkpoint into this product's Hub layout: config.json + model.safetensors + a
README.md model card, a folder that `translator.load(DIR)` and the app take.

    python -m training.convert SRC --format FORMAT -o DIR [--domain-a NAME] [--domain-b NAME]

Formats (key lists and shapes: shared/reference/official-implementations.md, appendix):

    junyanz-cyclegan  one ResnetGenerator of junyanz/pytorch-CycleGAN-and-pix2pix (resnet_9blocks or _6blocks,
                      instance norm, no dropout): `latest_net_G_A.pth`, or a published `horse2zebra.pth`.
                      `--direction b2a` if SRC is the B -> A generator; `--other FILE` adds the opposite one
                      of the same run (`latest_net_G_B.pth`). Without it the model translates one way only.
    junyanz-pix2pix   one UnetGenerator of that repo (unet_256 or unet_128, batch or instance norm, with or
                      without dropout: the keys are the same). `--test-dropout` keeps dropout on at inference.
    munit             NVlabs/MUNIT `gen_*.pt` / a published `edges2shoes.pt`: {'a': AdaINGen, 'b': AdaINGen}
    unit              mingyuliutw/UNIT (master) `gen_*.pt`: {'a': VAEGen, 'b': VAEGen}
    funit             NVlabs/FUNIT `gen_*.pt` / the published `animal149_gen.pt`: {'gen': FewShotGen, 'gen_test':
                      FewShotGen}; 'gen_test' (the averaged generator, what the official test runs) is converted.
                      A file with only 'gen' converts that, with a warning. Domains default to content/references.
    imaginaire-unit, imaginaire-munit, imaginaire-funit, imaginaire-coco-funit
                      an NVlabs/imaginaire checkpoint (`epoch_*_iteration_*_checkpoint.pt`, or a published one):
                      {'net_G', 'net_D', 'opt_G', ...}; its `net_G` `module.averaged_model` (the moving average
                      imaginaire's inference runs) is converted, spectral norm folded; `module.module` (as trained)
                      only if there is no averaged copy, with a warning. The family runs in imaginaire's variant
                      of its maths (config settings: (1 + gamma) AdaIN, no tanh, pre-activation blocks, ...), each
                      AdaIN's own projection stacked into the MLP's last layer. Default size 256.
    ugatit-pytorch    znxlwm/UGATIT-pytorch `*_params_*.pt`: {'genA2B', 'genB2A', 'disGA', 'disGB', 'disLA',
                      'disLB'}, light or full
    ugatit-tf         taki0112/UGATIT, the official TensorFlow code and its published selfie2anime weights: SRC is
                      the checkpoint's `UGATIT.model-N.index` (its .data file beside it), read without TensorFlow;
                      runs in the TF maths (`variant: tf`). See training/convert_ugatit_tf.py.

How a conversion goes: the network's settings (widths, depths, light or full) are read off the file's
shapes; a table maps every official key to one of ours; a key the table does not know is an error that
names it, and so is one the table expects and the file lacks. The only keys left out are legacy buffers,
dropped by name: the InstanceNorm running statistics PyTorch 0.3 wrote (junyanz, MUNIT, UNIT), MUNIT's
and FUNIT's AdaIN buffers, which their code never reads, and imaginaire's model-averaging counter. Values
are copied unchanged, except re-layouts (pix2pix's skip concatenation order, see `junyanz_pix2pix`;
imaginaire's per-AdaIN projections stacked, see `stack_adain_projections`) and spectral norm folded into
the weight it normalises (`fold_spectral_norm`). The folder is then loaded with `translator.load` and
run once, so a conversion that finishes is one that works.

This is the only module of the project that unpickles: with weights_only=True, which cannot run code; a
file that needs more is refused, unless `--trust-pickle` says to read it in full (with a warning).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import pickle
import shlex
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from huggingface_hub import ModelCard, ModelCardData

import translator
from training.convert_ugatit_tf import LICENCE as UGATIT_TF_LICENCE
from training.convert_ugatit_tf import SOURCE as UGATIT_TF_SOURCE
from training.convert_ugatit_tf import read_ugatit_tf, ugatit_tf, ugatit_tf_files
from training.model_card import usage
from translator.base import HubModel
from translator.cyclegan import CycleGAN
from translator.errors import WeightsError
from translator.funit import FUNIT
from translator.layers import adaptive_norms
from translator.munit import MUNIT
from translator.pix2pix import Pix2Pix
from translator.ugatit import UGATIT
from translator.unit import UNIT

NVIDIA_NOTE = ("NVIDIA's published {title} weights: CC BY-NC-SA 4.0, non-commercial use only "
               "(https://creativecommons.org/licenses/by-nc-sa/4.0/).")
IMAGINAIRE_NOTE = ("NVIDIA's imaginaire {title} weights: NVIDIA Source Code License, non-commercial use only, for "
                   "research or evaluation (https://github.com/NVlabs/imaginaire/blob/master/LICENSE.md).")
IMAGINAIRE_MATHS = "Run with imaginaire's maths, set in the config: {maths}."


# --- reading ---------------------------------------------------------------------------------------------
def read_checkpoint(path: Path, trust_pickle: bool = False) -> dict:
    """Unpickle a checkpoint onto the CPU with weights_only=True (it cannot run code). A file that needs more
    (a pickled object of an old training script, or a malicious payload: they fail alike) is refused with a
    WeightsError, unless `trust_pickle` says the user trusts it; then it is read in full, with a warning."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[0]
        if not trust_pickle:
            raise WeightsError(f"{path} cannot be read with weights_only=True ({reason}). It holds Python objects "
                               "besides tensors; reading it runs whatever code it holds. If you trust where it "
                               "came from, convert it with --trust-pickle.") from None
        warnings.warn(f"{path}: reading with weights_only=False (--trust-pickle), which runs whatever code the "
                      f"file holds ({reason}).", stacklevel=2)
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:  # noqa: BLE001  (not a checkpoint at all: the file's fault)
            raise WeightsError(f"{path} is not a PyTorch checkpoint ({type(err).__name__}: {err}).") from None
    except Exception as err:  # noqa: BLE001  (truncated, or not a torch file: the file's fault, said plainly)
        raise WeightsError(f"{path} is not a PyTorch checkpoint or is truncated ({str(err).splitlines()[0]}).") from None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def listing(keys: list[str], show: int = 5) -> str:
    return ", ".join(repr(k) for k in keys[:show]) + (f" and {len(keys) - show} more" if len(keys) > show else "")


def parts(checkpoint, names: tuple[str, ...], where: str) -> dict[str, dict]:
    """The named state dicts of a container checkpoint ({'a': ..., 'b': ...}): exactly those, no others."""
    if not isinstance(checkpoint, dict):
        raise WeightsError(f"{where} holds a {type(checkpoint).__name__}, not a dict of {listing(list(names))}.")
    unexpected = [k for k in checkpoint if k not in names]
    missing = [k for k in names if k not in checkpoint]
    if unexpected or missing:
        raise WeightsError(f"{where} should hold exactly {listing(list(names))}: "
                           + "; ".join(([f"unexpected {listing(unexpected)}"] if unexpected else [])
                                       + ([f"missing {listing(missing)}"] if missing else [])) + ".")
    return {name: checkpoint[name] for name in names}


def shape_of(state: dict, key: str, where: str) -> torch.Size:
    """The shape of a key the network's settings are read from (its absence is the file's fault)."""
    if not isinstance(state, dict):
        raise WeightsError(f"{where} holds a {type(state).__name__}, not a state dict.")
    if key not in state:
        raise WeightsError(f"{where}: missing key {key!r}.")
    if not isinstance(state[key], torch.Tensor):
        raise WeightsError(f"{where}: {key!r} is a {type(state[key]).__name__}, not a tensor.")
    return state[key].shape


def count(state: dict, key_of: Callable[[int], str]) -> int:
    """How many of key_of(0), key_of(1), ... are in `state`, up to the first one that is not."""
    n = 0
    while key_of(n) in state:
        n += 1
    return n


# --- key tables: official key -> our key -------------------------------------------------------------------
Table = dict[str, str]


def conv_keys(table: Table, official: str, ours: str, bias: bool = True) -> None:
    table[f"{official}.weight"] = f"{ours}.weight"
    if bias:
        table[f"{official}.bias"] = f"{ours}.bias"


def batch_norm_keys(table: Table, official: str, ours: str) -> None:
    for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        table[f"{official}.{name}"] = f"{ours}.{name}"


def running_stats(official: str) -> set[str]:
    """Legacy buffers of a norm that has none today (InstanceNorm written by PyTorch 0.3, MUNIT's AdaIN)."""
    return {f"{official}.{name}" for name in ("running_mean", "running_var", "num_batches_tracked")}


def take(state: dict, table: Table, legacy: set[str], expected: dict[str, torch.Tensor],
         where: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Our weights from an official state dict, every key accounted for: (weights by our key, the legacy
    buffers dropped). A key neither in the table nor legacy, a missing key, or a wrong shape: WeightsError."""
    if not isinstance(state, dict):
        raise WeightsError(f"{where} holds a {type(state).__name__}, not a state dict.")
    unexpected = [k for k in state if k not in table and k not in legacy]
    if unexpected:
        raise WeightsError(f"{where}: unexpected key(s) {listing(unexpected)}, not in the official network its "
                           f"shapes describe.")
    missing = [k for k in table if k not in state]
    if missing:
        raise WeightsError(f"{where}: missing key(s) {listing(missing)}.")
    weights = {}
    for official, ours in table.items():
        value = state[official]
        if not isinstance(value, torch.Tensor) or value.shape != expected[ours].shape:
            found = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise WeightsError(f"{where}: {official!r} is {found}; the network needs {tuple(expected[ours].shape)}.")
        weights[ours] = value
    return weights, sorted(k for k in state if k in legacy)


def load_weights(network: HubModel, weights: dict[str, torch.Tensor]) -> HubModel:
    unset = [k for k in network.state_dict() if k not in weights]
    if unset:  # a gap in a table here, not in the file
        raise WeightsError(f"the conversion leaves {listing(unset)} of the {network.family} network unset.")
    network.load_state_dict(weights, strict=True)
    return network


@dataclass
class Converted:
    network: HubModel  # weights loaded
    dropped: list[str] = field(default_factory=list)  # legacy buffers left out, by name
    notes: list[str] = field(default_factory=list)  # for the card: how this runs compared with the official test


# --- junyanz/pytorch-CycleGAN-and-pix2pix ------------------------------------------------------------------
def resnet_table(n_blocks: int, ours: str) -> tuple[Table, set[str]]:
    """junyanz ResnetGenerator -> our CycleGAN ResnetGenerator at `ours`. Its one Sequential `model`:
    pad, conv 1, norm, relu | (conv 4, norm, relu), (conv 7, norm, relu) | blocks 10 ... 9 + n, each
    `conv_block` = pad, conv 1, norm 2, relu, pad, conv 5, norm 6 | (convT, norm, relu) x 2 | pad, conv, tanh."""
    table, legacy = {}, set()

    def conv(official: int | str, our: str, norm: int | str | None) -> None:
        conv_keys(table, f"model.{official}", f"{ours}.{our}")
        if norm is not None:
            legacy.update(running_stats(f"model.{norm}"))

    conv(1, "stem.conv", 2)
    conv(4, "down.0.conv", 5)
    conv(7, "down.1.conv", 8)
    for b in range(n_blocks):
        conv(f"{10 + b}.conv_block.1", f"blocks.{b}.conv1.conv", f"{10 + b}.conv_block.2")
        conv(f"{10 + b}.conv_block.5", f"blocks.{b}.conv2.conv", f"{10 + b}.conv_block.6")
    up = 10 + n_blocks
    conv(up, "up.0.conv", up + 1)
    conv(up + 3, "up.1.conv", up + 4)
    conv(up + 7, "head", None)
    return table, legacy


def junyanz_cyclegan(checkpoint: dict, args: argparse.Namespace) -> Converted:
    """One generator file, or two (`--other`, the opposite direction). A single B -> A file becomes a
    one-way model whose A is the official B: a one-way CycleGAN translates a2b."""
    generators = {args.direction: (args.src.name, checkpoint)}
    if args.other:
        generators["b2a" if args.direction == "a2b" else "a2b"] = (args.other.name, read_checkpoint(args.other, args.trust_pickle))
    domain_a, domain_b = args.domain_a, args.domain_b
    one_way = len(generators) == 1
    if one_way and args.direction == "b2a":
        domain_a, domain_b = domain_b, domain_a
        generators = {"a2b": generators["b2a"]}
    where, first = generators["a2b"]
    ngf, channels = shape_of(first, "model.1.weight", where)[:2]
    n_blocks = count(first, lambda b: f"model.{10 + b}.conv_block.1.weight")
    network = CycleGAN(image_size=args.image_size or 256, channels=channels, ngf=ngf, n_blocks=n_blocks,
                       domain_a=domain_a, domain_b=domain_b, one_way=one_way)
    expected, weights, dropped = network.state_dict(), {}, []
    for direction, (where, state) in generators.items():
        table, legacy = resnet_table(n_blocks, "g_ab" if direction == "a2b" else "g_ba")
        found, gone = take(state, table, legacy, expected, where)
        weights.update(found)
        dropped += [f"{where}: {k}" for k in gone]
    notes = [f"ResNet generator with {n_blocks} blocks, ngf {ngf}."]
    if one_way:
        notes.append(f"One way only: {domain_a} → {domain_b} (no generator for the opposite direction was given).")
    return Converted(load_weights(network, weights), dropped, notes)


def unet_level(k: int) -> str:
    """The module path of level k of junyanz's recursive UnetGenerator: level 0 is the outermost block, each
    block holds the next one in slot 1 (outermost) or 3 (the others) of its Sequential `model`."""
    return "model.model" if k == 0 else "model.model.1" + ".model.3" * (k - 1) + ".model"


def unet_table(num_downs: int, norm: str) -> tuple[Table, set[str]]:
    """junyanz UnetGenerator -> our Pix2Pix `generator`: level k's downconv is our down[k], its upconv our
    up[num_downs - 1 - k] (the innermost first), the outermost upconv our head. Slots: outermost [conv 0,
    block, relu, convT 3, tanh]; intermediate [lrelu, conv 1, norm 2, block, relu, convT 5, norm 6, dropout];
    innermost [lrelu, conv 1, relu, convT 3, norm 4]. Convs have a bias only with instance norm."""
    table, legacy = {}, set()
    bias = norm == "instance"

    def norm_keys(official: str, ours: str) -> None:
        if norm == "batch":
            batch_norm_keys(table, official, ours)
        else:
            legacy.update(running_stats(official))

    conv_keys(table, f"{unet_level(0)}.0", "generator.down.0.conv", bias)
    conv_keys(table, f"{unet_level(0)}.3", "generator.head")
    for k in range(1, num_downs):
        level, up = unet_level(k), f"generator.up.{num_downs - 1 - k}"
        conv_keys(table, f"{level}.1", f"generator.down.{k}.conv", bias)
        if k == num_downs - 1:  # innermost: no norm on the way down
            conv_keys(table, f"{level}.3", f"{up}.conv", bias)
            norm_keys(f"{level}.4", f"{up}.norm")
        else:
            norm_keys(f"{level}.2", f"generator.down.{k}.norm")
            conv_keys(table, f"{level}.5", f"{up}.conv", bias)
            norm_keys(f"{level}.6", f"{up}.norm")
    return table, legacy


def skip_first_to_skip_last(weight: torch.Tensor) -> torch.Tensor:
    """A ConvTranspose2d weight (in, out, k, k) whose input was cat([skip, up]) re-laid for cat([up, skip])."""
    half = weight.shape[0] // 2
    return torch.cat([weight[half:], weight[:half]])


def junyanz_pix2pix(checkpoint: dict, args: argparse.Namespace) -> Converted:
    """The official blocks return cat([skip, up]); ours concatenate [up, skip]. Same numbers, other channel
    order: the up-convs fed by a concatenation (all but the innermost, and the head) get their input
    channels swapped. (The official skip is the LeakyReLU'd feature map, its down-path activation running in
    place; the ReLU before each up-conv makes that the same as ours.)"""
    where = args.src.name
    ngf, in_channels = shape_of(checkpoint, f"{unet_level(0)}.0.weight", where)[:2]
    out_channels = shape_of(checkpoint, f"{unet_level(0)}.3.weight", where)[1]
    num_downs = 1 + count(checkpoint, lambda k: f"{unet_level(k + 1)}.1.weight")
    norm = "instance" if f"{unet_level(0)}.0.bias" in checkpoint else "batch"
    if num_downs < 5:
        raise WeightsError(f"{where}: a U-Net of {num_downs} levels; junyanz's have at least 5 "
                           f"({unet_level(1)}.1.weight ...).")
    table, legacy = unet_table(num_downs, norm)
    state = dict(checkpoint)
    for key in table:  # files from before PyTorch 0.4.1 lack batch norm's counter; inference never reads it
        if key.endswith(".num_batches_tracked") and key not in state:
            state[key] = torch.tensor(0)
    network = Pix2Pix(image_size=args.image_size or 2 ** num_downs, in_channels=in_channels,
                      out_channels=out_channels, ngf=ngf, num_downs=num_downs, norm=norm, domain_a=args.domain_a,
                      domain_b=args.domain_b, test_dropout=args.test_dropout)
    weights, dropped = take(state, table, legacy, network.state_dict(), where)
    for key in ["generator.head.weight"] + [f"generator.up.{j}.conv.weight" for j in range(1, num_downs - 1)]:
        weights[key] = skip_first_to_skip_last(weights[key])
    notes = [f"U-Net with {num_downs} levels (unet_{2 ** num_downs}), ngf {ngf}, {norm} norm.",
             "The official test runs the generator in train mode: batch statistics — at its batch size of 1, each "
             "image's own statistics, which is what this model uses — and dropout on. "
             + ("Dropout stays on here too (`test_dropout`): outputs vary from run to run, as the official ones do."
                if args.test_dropout else
                "Here dropout is off, so an input always gives the same output; convert with `--test-dropout` "
                "for the official behaviour."),
             "The up-convolutions' input channels were reordered (the official code concatenates [skip, up], this "
             "one [up, skip]); the values are unchanged."]
    return Converted(load_weights(network, weights), [f"{where}: {k}" for k in dropped], notes)


# --- NVlabs/MUNIT and mingyuliutw/UNIT (the same building blocks) -------------------------------------------
def res_blocks_keys(table: Table, legacy: set[str], official: str, ours: list[str]) -> None:
    """MUNIT's ResBlocks at `official` (`.model.J.model.{0,1}`, two Conv2dBlocks each) -> our ResBlocks
    `ours[J]` (conv1, conv2). Their norms (instance or AdaIN) have no weights, only legacy buffers."""
    for j, block in enumerate(ours):
        for slot, conv in ((0, "conv1"), (1, "conv2")):
            conv_block = f"{official}.model.{j}.model.{slot}"
            conv_keys(table, f"{conv_block}.conv", f"{block}.{conv}.conv")
            legacy.update(running_stats(f"{conv_block}.norm"))


def content_encoder_keys(table: Table, legacy: set[str], official: str, ours: str, n_downsample: int,
                         n_res: int) -> None:
    """MUNIT's ContentEncoder (UNIT's encoder too): `model` = 7x7 conv, the downs, ResBlocks in one slot ->
    our flat `layers` (the residual blocks follow the downs)."""
    for i in range(n_downsample + 1):
        conv_keys(table, f"{official}.model.{i}.conv", f"{ours}.{i}.conv")
        legacy.update(running_stats(f"{official}.model.{i}.norm"))
    res_blocks_keys(table, legacy, f"{official}.model.{n_downsample + 1}",
                    [f"{ours}.{n_downsample + 1 + j}" for j in range(n_res)])


def upsampling_keys(table: Table, official: str, ours: list[str]) -> None:
    """MUNIT's Decoder after its ResBlocks (slot 0): (Upsample, 5x5 conv + LayerNorm) in slots 1-2, 3-4, ...,
    then the 7x7 conv to RGB -> our `ours` (each upsampling ConvNormAct, then the last conv)."""
    n_up = len(ours) - 1
    for i in range(n_up):
        conv_keys(table, f"{official}.model.{2 + 2 * i}.conv", f"{ours[i]}.conv")
        for name in ("gamma", "beta"):
            table[f"{official}.model.{2 + 2 * i}.norm.{name}"] = f"{ours[i]}.norm.{name}"
    conv_keys(table, f"{official}.model.{1 + 2 * n_up}.conv", f"{ours[n_up]}.conv")


def munit_table(ours: str, n_downsample: int, n_res: int, n_style_downsample: int,
                n_mlp: int) -> tuple[Table, set[str]]:
    """One AdaINGen -> our MUNIT Generator at `ours`."""
    table, legacy = {}, set()
    for i in range(n_style_downsample + 1):  # then AdaptiveAvgPool2d, then the 1x1 conv to the style code
        conv_keys(table, f"enc_style.model.{i}.conv", f"{ours}.style_encoder.layers.{i}.conv")
    conv_keys(table, f"enc_style.model.{n_style_downsample + 2}", f"{ours}.style_encoder.head")
    content_encoder_keys(table, legacy, "enc_content", f"{ours}.content_encoder.layers", n_downsample, n_res)
    res_blocks_keys(table, legacy, "dec.model.0", [f"{ours}.decoder.blocks.{j}" for j in range(n_res)])
    upsampling_keys(table, "dec", [f"{ours}.decoder.up.{i}" for i in range(n_downsample + 1)])
    for i in range(n_mlp):  # LinearBlocks `fc`; ours is one Sequential with a ReLU between the Linears
        conv_keys(table, f"mlp.model.{i}.fc", f"{ours}.mlp.layers.{2 * i}")
    return table, legacy


def munit(checkpoint: dict, args: argparse.Namespace) -> Converted:
    where = args.src.name
    gens = parts(checkpoint, ("a", "b"), where)
    a = gens["a"]
    dim = shape_of(a, "enc_content.model.0.conv.weight", f"{where} ['a']")[0]
    n_downsample = count(a, lambda i: f"enc_content.model.{i + 1}.conv.weight")
    n_res = count(a, lambda j: f"enc_content.model.{n_downsample + 1}.model.{j}.model.0.conv.weight")
    shape_of(a, "enc_style.model.0.conv.weight", f"{where} ['a']")
    n_style_downsample = count(a, lambda i: f"enc_style.model.{i}.conv.weight") - 1
    style_dim = shape_of(a, f"enc_style.model.{n_style_downsample + 2}.weight", f"{where} ['a']")[0]
    n_mlp = count(a, lambda i: f"mlp.model.{i}.fc.weight")
    mlp_dim = shape_of(a, "mlp.model.0.fc.weight", f"{where} ['a']")[0]
    network = MUNIT(image_size=args.image_size or 256, dim=dim, style_dim=style_dim, n_downsample=n_downsample,
                    n_res=n_res, mlp_dim=mlp_dim, n_mlp=n_mlp, n_style_downsample=n_style_downsample,
                    domain_a=args.domain_a, domain_b=args.domain_b, licence_note=NVIDIA_NOTE.format(title="MUNIT"))
    expected, weights, dropped = network.state_dict(), {}, []
    for domain, state in gens.items():
        table, legacy = munit_table(f"gen_{domain}", n_downsample, n_res, n_style_downsample, n_mlp)
        found, gone = take(state, table, legacy, expected, f"{where} [{domain!r}]")
        weights.update(found)
        dropped += [f"{where} [{domain!r}]: {k}" for k in gone]
    notes = [f"AdaINGen: dim {dim}, style_dim {style_dim}, {n_downsample} downsamplings, {n_res} residual blocks, "
             f"MLP {n_mlp} x {mlp_dim}.",
             "As in the official test, A → B takes A's content code and decodes it with B's generator and a style "
             "drawn from N(0, I) (or one read off a reference image by B's style encoder)."]
    return Converted(load_weights(network, weights), dropped, notes)


def unit(checkpoint: dict, args: argparse.Namespace) -> Converted:
    where = args.src.name
    gens = parts(checkpoint, ("a", "b"), where)
    a = gens["a"]
    dim = shape_of(a, "enc.model.0.conv.weight", f"{where} ['a']")[0]
    n_downsample = count(a, lambda i: f"enc.model.{i + 1}.conv.weight")
    n_res = count(a, lambda j: f"enc.model.{n_downsample + 1}.model.{j}.model.0.conv.weight")
    up_kernel = shape_of(a, "dec.model.2.conv.weight", f"{where} ['a']")[-1]
    # the official re-release shares no layers between gen_a and gen_b: n_shared=0
    network = UNIT(image_size=args.image_size or 256, dim=dim, n_downsample=n_downsample, n_res=n_res, n_shared=0,
                   domain_a=args.domain_a, domain_b=args.domain_b, up_kernel=up_kernel,
                   licence_note=NVIDIA_NOTE.format(title="UNIT"))
    expected, weights, dropped = network.state_dict(), {}, []
    for domain, state in gens.items():
        table, legacy = {}, set()
        content_encoder_keys(table, legacy, "enc", f"encoder_{domain}.layers", n_downsample, n_res)
        res_blocks_keys(table, legacy, "dec.model.0", [f"decoder_{domain}.layers.{j}" for j in range(n_res)])
        upsampling_keys(table, "dec", [f"decoder_{domain}.layers.{n_res + i}" for i in range(n_downsample + 1)])
        found, gone = take(state, table, legacy, expected, f"{where} [{domain!r}]")
        weights.update(found)
        dropped += [f"{where} [{domain!r}]: {k}" for k in gone]
    notes = [f"VAEGen: dim {dim}, {n_downsample} downsamplings, {n_res} residual blocks, no layers shared between "
             "the domains (the official re-release's design).",
             "As in the official test, A → B decodes the mean of A's encoding with B's generator (no noise)."]
    return Converted(load_weights(network, weights), dropped, notes)


# --- NVlabs/FUNIT ------------------------------------------------------------------------------------------
def funit_table(n_downsample: int, n_res: int, n_class_downsample: int, n_mlp: int) -> tuple[Table, set[str]]:
    """FewShotGen -> our FUNIT. `enc_class_model.model`: the 7x7 conv, the downsamplings (slots 1 ...
    n_class_downsample), AdaptiveAvgPool2d, then the bare 1x1 conv; `enc_content` is MUNIT's ContentEncoder;
    `dec.model`: AdaIN ResBlocks in slot 0, (Upsample, 5x5 conv + parameterless InstanceNorm) in slots 1-2,
    3-4, ..., the 7x7 conv last; `mlp.model.N.fc` as MUNIT's."""
    table, legacy = {}, set()
    for i in range(n_class_downsample + 1):
        conv_keys(table, f"enc_class_model.model.{i}.conv", f"class_encoder.layers.{i}.conv")
    conv_keys(table, f"enc_class_model.model.{n_class_downsample + 2}", "class_encoder.head")
    content_encoder_keys(table, legacy, "enc_content", "content_encoder.layers", n_downsample, n_res)
    res_blocks_keys(table, legacy, "dec.model.0", [f"decoder.blocks.{j}" for j in range(n_res)])
    for i in range(n_downsample):
        conv_keys(table, f"dec.model.{2 + 2 * i}.conv", f"decoder.up.{i}.conv")
        legacy.update(running_stats(f"dec.model.{2 + 2 * i}.norm"))
    conv_keys(table, f"dec.model.{1 + 2 * n_downsample}.conv", f"decoder.up.{n_downsample}.conv")
    for i in range(n_mlp):
        conv_keys(table, f"mlp.model.{i}.fc", f"mlp.layers.{2 * i}")
    return table, legacy


def funit(checkpoint: dict, args: argparse.Namespace) -> Converted:
    """`gen_*.pt` holds the generator twice: 'gen' as trained and 'gen_test', its moving average (EMA 0.999),
    which is what the official test and the published model use; that one is converted (a file holding only
    it is fine). A file without 'gen_test' (saved by other code) converts its 'gen' with a warning: a working
    model, if a noisier one. Any other entry is an error that names it."""
    where = args.src.name
    present = tuple(n for n in ("gen", "gen_test") if isinstance(checkpoint, dict) and n in checkpoint)
    nets = parts(checkpoint, present or ("gen", "gen_test"), where)
    name = "gen_test" if "gen_test" in nets else "gen"
    if name == "gen":
        warnings.warn(f"{where} has no 'gen_test' (the averaged generator the official test uses): converting "
                      f"'gen', the generator as trained, whose outputs are noisier.", stacklevel=2)
    state, part = nets[name], f"{where} [{name!r}]"
    dim = shape_of(state, "enc_content.model.0.conv.weight", part)[0]
    n_downsample = count(state, lambda i: f"enc_content.model.{i + 1}.conv.weight")
    n_res = count(state, lambda j: f"enc_content.model.{n_downsample + 1}.model.{j}.model.0.conv.weight")
    shape_of(state, "enc_class_model.model.0.conv.weight", part)
    n_class_downsample = count(state, lambda i: f"enc_class_model.model.{i}.conv.weight") - 1
    latent_dim = shape_of(state, f"enc_class_model.model.{n_class_downsample + 2}.weight", part)[0]
    n_mlp = count(state, lambda i: f"mlp.model.{i}.fc.weight")
    mlp_dim = shape_of(state, "mlp.model.0.fc.weight", part)[0]
    up_kernel = shape_of(state, "dec.model.2.conv.weight", part)[-1] if n_downsample else 5
    if n_class_downsample < 2 or n_mlp < 2 or up_kernel % 2 == 0:
        raise WeightsError(f"{part}: not an official FewShotGen ({n_class_downsample} class-encoder downsamplings, "
                           f"{n_mlp} MLP layers, {up_kernel}x{up_kernel} up-convs).")
    image_size = args.image_size or 128
    stride = 2 ** max(n_downsample, n_class_downsample)
    if image_size % stride:
        raise WeightsError(f"--image-size {image_size}: this network needs a multiple of {stride}.")
    network = FUNIT(image_size=image_size, dim=dim, latent_dim=latent_dim, n_downsample=n_downsample,
                    n_class_downsample=n_class_downsample, n_res=n_res, mlp_dim=mlp_dim, n_mlp=n_mlp,
                    up_kernel=up_kernel, domain_a=args.domain_a, domain_b=args.domain_b,
                    licence_note=NVIDIA_NOTE.format(title="FUNIT"))
    table, legacy = funit_table(n_downsample, n_res, n_class_downsample, n_mlp)
    weights, dropped = take(state, table, legacy, network.state_dict(), part)
    if name == "gen":
        which = "The generator as trained ('gen'): the file has no averaged 'gen_test', which the official test uses."
    else:
        which = "The averaged generator ('gen_test'), which the official test uses" + (
            "; 'gen' (as trained) is left out." if "gen" in nets else ".")
    notes = [f"FewShotGen: dim {dim}, latent_dim {latent_dim}, {n_downsample} content and {n_class_downsample} "
             f"class downsamplings, {n_res} residual blocks, MLP {n_mlp} x {mlp_dim}.", which,
             "As in the official test_k_shot.py, the K references' class codes are averaged before the MLP. Images "
             "are letterboxed to the model's size (the official test stretches them to 128 x 128)."]
    return Converted(load_weights(network, weights), [f"{part}: {k}" for k in dropped], notes)


# --- NVlabs/imaginaire: UNIT, MUNIT, FUNIT, COCO-FUNIT ----------------------------------------------------
IMAGINAIRE_ENTRIES = ("net_G", "net_D", "opt_G", "opt_D", "sch_G", "sch_D", "current_epoch", "current_iteration")
AVERAGED, AS_TRAINED = "module.averaged_model.", "module.module."  # ModelAverage's two copies, inside a wrapper
UPDATES = "module.num_updates_tracked"  # ModelAverage's step counter: a buffer no network reads


@dataclass
class Imaginaire:
    """The generator an imaginaire checkpoint's `net_G` holds, spectral norm folded, its keys as in the file."""
    state: dict[str, torch.Tensor]
    prefix: str  # "module.averaged_model.", "module.module.", "module." or ""
    where: str
    dropped: list[str]
    notes: list[str]


def fold_spectral_norm(state: dict, where: str) -> tuple[dict, int]:
    """torch.nn.utils.spectral_norm's `X.weight_orig`, `X.weight_u`, `X.weight_v` -> `X.weight` = weight_orig /
    sigma, sigma = u . (W v) with W = weight_orig as a matrix (out, -1) and the stored u and v: what the hook
    computes in eval mode (no power iteration) and what imaginaire's ModelAverage writes into its averaged
    copy (`sn_compute_weight`). Returns the state without the three keys, with `X.weight`, and how many."""
    folded, n = {}, 0
    for key, value in state.items():
        if key.endswith((".weight_u", ".weight_v")) and key[:-2] + "_orig" in state:
            continue  # read with its weight_orig
        if not key.endswith(".weight_orig"):
            folded[key] = value
            continue
        base = key[:-len("_orig")]
        missing = [k for k in (f"{base}_u", f"{base}_v") if k not in state]
        if missing:
            raise WeightsError(f"{where}: missing key(s) {listing(missing)} (spectral norm of {key!r}).")
        if base in state:
            raise WeightsError(f"{where}: both {base!r} and {key!r}: a weight is stored plain or spectral-normalised, "
                               f"not both.")
        u, v = state[f"{base}_u"], state[f"{base}_v"]
        if not all(isinstance(t, torch.Tensor) for t in (value, u, v)) or value.dim() < 2 \
                or u.shape != (value.shape[0],) or v.shape != (value[0].numel(),):
            raise WeightsError(f"{where}: {key!r} and its weight_u and weight_v do not fit together "
                               f"(spectral norm needs (out, ...), (out,), (in x k x k,)).")
        sigma = torch.dot(u, torch.mv(value.reshape(value.shape[0], -1), v))
        folded[base] = value / sigma
        n += 1
    return folded, n


def imaginaire_generator(checkpoint, where: str) -> Imaginaire:
    """An imaginaire checkpoint ({'net_G', 'net_D', 'opt_G', ...}; any other entry is an error) -> its
    generator. `net_G` is the state dict of the wrapped ModelAverage: `module.averaged_model.*` (the moving
    average, what imaginaire's inference runs: converted), `module.module.*` (as trained: left out) and
    `module.num_updates_tracked` (dropped by name). Without an averaged copy the one as trained is converted,
    with a warning; a run without model averaging has plain `module.*` keys. Spectral norm is folded
    (`fold_spectral_norm`), whichever copy stores it."""
    present = tuple(n for n in IMAGINAIRE_ENTRIES if isinstance(checkpoint, dict) and n in checkpoint)
    net_g = parts(checkpoint, present if "net_G" in present else ("net_G", *present), where)["net_G"]
    part = f"{where} ['net_G']"
    if not isinstance(net_g, dict):
        raise WeightsError(f"{part} holds a {type(net_g).__name__}, not a state dict.")
    notes, dropped = [], []
    if any(k.startswith(AVERAGED) for k in net_g):
        prefix, left_out = AVERAGED, AS_TRAINED
        copies = sum(k.startswith(AS_TRAINED) for k in net_g)
        notes.append("The averaged generator (`net_G` `module.averaged_model`, the moving average imaginaire's "
                     "inference runs)" + (f"; the one as trained (`module.module`, {copies} keys) is left out."
                                          if copies else "."))
    elif any(k.startswith(AS_TRAINED) for k in net_g):
        prefix, left_out = AS_TRAINED, None
        warnings.warn(f"{part} has no averaged generator (module.averaged_model, what imaginaire's inference runs): "
                      f"converting the generator as trained, whose outputs are noisier.", stacklevel=3)
        notes.append("The generator as trained (`net_G` `module.module`): the file has no averaged copy, which "
                     "imaginaire's inference runs.")
    else:
        prefix, left_out = ("module." if net_g and all(k.startswith("module.") for k in net_g) else ""), None
        notes.append("The generator of a run without model averaging (`net_G`), what imaginaire's inference runs "
                     "then.")
    state = {}
    for key, value in net_g.items():
        if key.startswith(prefix) and key != UPDATES:
            state[key] = value
        elif key == UPDATES and prefix in (AVERAGED, AS_TRAINED):
            dropped.append(f"{part}: {key}")
        elif not (left_out and key.startswith(left_out)):
            raise WeightsError(f"{part}: unexpected key(s) {listing([key])}, not part of an imaginaire generator.")
    state, n_folded = fold_spectral_norm(state, part)
    if n_folded:
        notes.append(f"{n_folded} spectral-normalised weights folded: weight_orig / (u · W v) with the stored u and "
                     f"v, as torch's spectral_norm computes them at inference.")
    return Imaginaire(state, prefix, part, dropped, notes)


def stack_adain_projections(state: dict, projections: list[str], channels: list[int], cond_dim: int, key: str,
                            where: str) -> None:
    """imaginaire's AdaptiveNorm projects the MLP's output with an `fc` of its own ([gamma, beta] = fc(style),
    gamma first; each a Linear after the MLP's last ReLU). Ours read one MLP output laid out [beta, gamma] per
    norm: stacked in the order of our adaptive norms, each re-laid [beta, gamma], the fcs are our MLP's last
    Linear, the same numbers in one matrix. Their keys leave `state`; `key`.weight and .bias come in."""
    missing = [f"{fc}.{n}" for fc in projections for n in ("weight", "bias") if f"{fc}.{n}" not in state]
    if missing:
        raise WeightsError(f"{where}: missing key(s) {listing(missing)}.")
    weights, biases = [], []
    for fc, c in zip(projections, channels, strict=True):
        for name, shape in ((f"{fc}.weight", (2 * c, cond_dim)), (f"{fc}.bias", (2 * c,))):
            value = state[name]
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
                found = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise WeightsError(f"{where}: {name!r} is {found}; the network needs {shape}.")
        weight, bias = state.pop(f"{fc}.weight"), state.pop(f"{fc}.bias")
        weights += [weight[c:], weight[:c]]
        biases += [bias[c:], bias[:c]]
    state[f"{key}.weight"], state[f"{key}.bias"] = torch.cat(weights), torch.cat(biases)


def imaginaire_content_keys(table: Table, official: str, ours: str, n_downsample: int, n_res: int) -> None:
    """imaginaire's ContentEncoder `model`: Conv2dBlocks (`layers.conv`, `layers.norm`: affine instance norm)
    for the 7x7 conv and the downs, then Res2dBlocks (`conv_block_0`, `conv_block_1`) -> our flat `ours`."""
    for i in range(n_downsample + 1):
        conv_keys(table, f"{official}.model.{i}.layers.conv", f"{ours}.{i}.conv")
        conv_keys(table, f"{official}.model.{i}.layers.norm", f"{ours}.{i}.norm")
    for j in range(n_downsample + 1, n_downsample + 1 + n_res):
        for slot in (0, 1):
            unit = f"{official}.model.{j}.conv_block_{slot}.layers"
            conv_keys(table, f"{unit}.conv", f"{ours}.{j}.conv{slot + 1}.conv")
            conv_keys(table, f"{unit}.norm", f"{ours}.{j}.conv{slot + 1}.norm")


def imaginaire_adain_blocks_keys(table: Table, official: str, ours: str, n_res: int) -> list[str]:
    """The decoder's AdaIN Res2dBlocks (slots 0 .. n_res-1 of `official`) -> our decoder blocks at `ours`;
    returns the keys of their per-norm style projections, in our blocks' order (the caller stacks them into
    the MLP's last layer)."""
    projections = []
    for j in range(n_res):
        for slot in (0, 1):
            unit = f"{official}.{j}.conv_block_{slot}.layers"
            conv_keys(table, f"{unit}.conv", f"{ours}.{j}.conv{slot + 1}.conv")
            projections.append(f"{unit}.norm.fc.layers.conv")
    return projections


def imaginaire_style_keys(table: Table, official: str, ours: str, n_downsample: int) -> None:
    """imaginaire's StyleEncoder `model` (MUNIT's, and FUNIT's class encoder): Conv2dBlocks without norm, the
    pool, then a bare 1x1 conv -> our `ours` (`layers.N.conv`, `head`)."""
    for i in range(n_downsample + 1):
        conv_keys(table, f"{official}.model.{i}.layers.conv", f"{ours}.layers.{i}.conv")
    conv_keys(table, f"{official}.model.{n_downsample + 2}", f"{ours}.head")


def imaginaire_mlp_keys(table: Table, official: str, ours: str, n_layers: int) -> None:
    """imaginaire's MLP `model.K.layers.conv` (LinearBlocks, each with a ReLU) -> our MLP's Linears (0, 2, ...)."""
    for k in range(n_layers):
        conv_keys(table, f"{official}.model.{k}.layers.conv", f"{ours}.{2 * k}")


def imaginaire_munit(checkpoint: dict, args: argparse.Namespace) -> Converted:
    """imaginaire's MUNIT Generator: `autoencoder_a`, `autoencoder_b` (style encoder, content encoder,
    decoder, mlp each) -> our MUNIT in imaginaire's variant (see translator/munit.py). Its residual blocks are
    taken to be pre-activation, as in every published config: `pre_act: False` has the same keys."""
    g = imaginaire_generator(checkpoint, args.src.name)
    state, where, a = g.state, g.where, f"{g.prefix}autoencoder_a."
    dim = shape_of(state, f"{a}content_encoder.model.0.layers.conv.weight", where)[0]
    n_downsample = count(state, lambda i: f"{a}content_encoder.model.{i + 1}.layers.conv.weight")
    n_res = count(state, lambda j: f"{a}content_encoder.model.{n_downsample + 1 + j}.conv_block_0.layers.conv.weight")
    width = shape_of(state, f"{a}content_encoder.model.{n_downsample}.layers.conv.weight", where)[0]
    shape_of(state, f"{a}style_encoder.model.0.layers.conv.weight", where)
    n_style_downsample = count(state, lambda i: f"{a}style_encoder.model.{i}.layers.conv.weight") - 1
    style_dim = shape_of(state, f"{a}style_encoder.model.{n_style_downsample + 2}.weight", where)[0]
    n_mlp = count(state, lambda k: f"{a}mlp.model.{k}.layers.conv.weight")
    mlp_dim = shape_of(state, f"{a}mlp.model.0.layers.conv.weight", where)[0]
    if n_style_downsample < 2 or n_res < 1:
        raise WeightsError(f"{where}: not an imaginaire MUNIT generator ({n_style_downsample} style downsamplings, "
                           f"{n_res} residual blocks).")
    network = MUNIT(image_size=args.image_size or 256, dim=dim, style_dim=style_dim, n_downsample=n_downsample,
                    n_res=n_res, mlp_dim=mlp_dim, n_mlp=n_mlp + 1, n_style_downsample=n_style_downsample,
                    domain_a=args.domain_a, domain_b=args.domain_b, licence_note=IMAGINAIRE_NOTE.format(title="MUNIT"),
                    res_block="pre_act", instance_affine=True, up_norm="adain", adain_scale="1+gamma", output="clamp",
                    max_dim=width)
    table = {}
    for domain in ("a", "b"):
        official, ours = f"{g.prefix}autoencoder_{domain}.", f"gen_{domain}"
        imaginaire_style_keys(table, f"{official}style_encoder", f"{ours}.style_encoder", n_style_downsample)
        imaginaire_content_keys(table, f"{official}content_encoder", f"{ours}.content_encoder.layers", n_downsample,
                                n_res)
        projections = imaginaire_adain_blocks_keys(table, f"{official}decoder.decoder", f"{ours}.decoder.blocks", n_res)
        for i in range(n_downsample):  # (Upsample, Conv2dBlock) pairs after the residual blocks
            unit = f"{official}decoder.decoder.{n_res + 1 + 2 * i}.layers"
            conv_keys(table, f"{unit}.conv", f"{ours}.decoder.up.{i}.conv")
            projections.append(f"{unit}.norm.fc.layers.conv")
        conv_keys(table, f"{official}decoder.decoder.{n_res + 2 * n_downsample}.layers.conv",
                  f"{ours}.decoder.up.{n_downsample}.conv")
        imaginaire_mlp_keys(table, f"{official}mlp", f"{ours}.mlp.layers", n_mlp)
        stacked = f"{official}decoder.(AdaIN projections, stacked)"
        channels = [norm.channels for norm in adaptive_norms(network.generator(domain).decoder)]
        stack_adain_projections(state, projections, channels, mlp_dim, stacked, where)
        conv_keys(table, stacked, f"{ours}.mlp.layers.{2 * n_mlp}")
    weights = take(state, table, set(), network.state_dict(), where)[0]
    notes = [f"imaginaire MUNIT: dim {dim}, style_dim {style_dim}, {n_downsample} downsamplings (content width "
             f"{width}), {n_res} residual blocks, MLP {n_mlp} x {mlp_dim} and a projection per AdaIN.", *g.notes,
             IMAGINAIRE_MATHS.format(maths="pre-activation residual blocks, affine instance norms, AdaIN after the "
                                           "upsampling convs too, AdaIN scaling by 1 + γ, and no tanh (the output "
                                           "clamped to [-1, 1], as its test saves it)"),
             "As in imaginaire's inference, A → B takes A's content code and decodes it with B's decoder and a style "
             "drawn from N(0, I) (or one read off a reference image by B's style encoder)."]
    return Converted(load_weights(network, weights), g.dropped, notes)


def imaginaire_unit(checkpoint: dict, args: argparse.Namespace) -> Converted:
    """imaginaire's UNIT Generator: `autoencoder_a`, `autoencoder_b` (content encoder, decoder each) -> our
    UNIT in imaginaire's variant (see translator/unit.py), no layers shared. Pre-activation residual blocks,
    as in the published config (`pre_act: False` has the same keys); widths doubling without a cap (the
    published 48 -> 192 stays under its max_num_filters 256; a capped file is refused by its shapes)."""
    g = imaginaire_generator(checkpoint, args.src.name)
    state, where, a = g.state, g.where, f"{g.prefix}autoencoder_a."
    dim = shape_of(state, f"{a}content_encoder.model.0.layers.conv.weight", where)[0]
    n_downsample = count(state, lambda i: f"{a}content_encoder.model.{i + 1}.layers.conv.weight")
    n_res = count(state, lambda j: f"{a}content_encoder.model.{n_downsample + 1 + j}.conv_block_0.layers.conv.weight")
    up_kernel = shape_of(state, f"{a}decoder.decoder.{n_res + 1}.layers.conv.weight", where)[-1] \
        if n_downsample else 5
    if up_kernel % 2 == 0:
        raise WeightsError(f"{where}: not an imaginaire UNIT generator ({up_kernel}x{up_kernel} up-convs).")
    network = UNIT(image_size=args.image_size or 256, dim=dim, n_downsample=n_downsample, n_res=n_res, n_shared=0,
                   domain_a=args.domain_a, domain_b=args.domain_b, up_kernel=up_kernel,
                   licence_note=IMAGINAIRE_NOTE.format(title="UNIT"), res_block="pre_act", instance_affine=True,
                   up_norm="instance", output="clamp")
    table = {}
    for domain in ("a", "b"):
        official, ours = f"{g.prefix}autoencoder_{domain}.", f"decoder_{domain}.layers"
        imaginaire_content_keys(table, f"{official}content_encoder", f"encoder_{domain}.layers", n_downsample, n_res)
        for j in range(n_res):
            for slot in (0, 1):
                unit = f"{official}decoder.decoder.{j}.conv_block_{slot}.layers"
                conv_keys(table, f"{unit}.conv", f"{ours}.{j}.conv{slot + 1}.conv")
                conv_keys(table, f"{unit}.norm", f"{ours}.{j}.conv{slot + 1}.norm")
        for i in range(n_downsample):  # (Upsample, Conv2dBlock) pairs after the residual blocks
            unit = f"{official}decoder.decoder.{n_res + 1 + 2 * i}.layers"
            conv_keys(table, f"{unit}.conv", f"{ours}.{n_res + i}.conv")
            conv_keys(table, f"{unit}.norm", f"{ours}.{n_res + i}.norm")
        conv_keys(table, f"{official}decoder.decoder.{n_res + 2 * n_downsample}.layers.conv",
                  f"{ours}.{n_res + n_downsample}.conv")
    weights = take(state, table, set(), network.state_dict(), where)[0]
    notes = [f"imaginaire UNIT: dim {dim}, {n_downsample} downsamplings, {n_res} residual blocks, no layers shared "
             "between the domains.", *g.notes,
             IMAGINAIRE_MATHS.format(maths="pre-activation residual blocks, affine instance norms (after the "
                                           "upsampling convs too, not the layer norm), and no tanh (the output clamped "
                                           "to [-1, 1], as its test saves it)"),
             "As in imaginaire's inference, A → B decodes A's content code with B's decoder."]
    return Converted(load_weights(network, weights), g.dropped, notes)


def imaginaire_funit(checkpoint: dict, args: argparse.Namespace, coco: bool = False) -> Converted:
    """imaginaire's FUNIT (FUNITTranslator) or COCO-FUNIT (COCOFUNITTranslator, + `usb`, `mlp_style`,
    `mlp_content`) Generator `generator` -> our FUNIT in imaginaire's variant (see translator/funit.py)."""
    title = "COCO-FUNIT" if coco else "FUNIT"
    g = imaginaire_generator(checkpoint, args.src.name)
    state, where, p = g.state, g.where, f"{g.prefix}generator."
    dim = shape_of(state, f"{p}content_encoder.model.0.layers.conv.weight", where)[0]
    n_downsample = count(state, lambda i: f"{p}content_encoder.model.{i + 1}.layers.conv.weight")
    n_res = count(state, lambda j: f"{p}content_encoder.model.{n_downsample + 1 + j}.conv_block_0.layers.conv.weight")
    shape_of(state, f"{p}style_encoder.model.0.layers.conv.weight", where)
    n_class_downsample = count(state, lambda i: f"{p}style_encoder.model.{i}.layers.conv.weight") - 1
    latent_dim = shape_of(state, f"{p}style_encoder.model.{n_class_downsample + 2}.weight", where)[0]
    n_mlp = count(state, lambda k: f"{p}mlp.model.{k}.layers.conv.weight")
    mlp_dim = shape_of(state, f"{p}mlp.model.0.layers.conv.weight", where)[0]
    blocks = count(state, lambda j: f"{p}decoder.decoder.{j}.conv_block_0.layers.conv.weight")
    decoder_res = next((j for j in range(blocks) if f"{p}decoder.decoder.{j}.conv_block_s.layers.conv.weight" in state),
                       blocks)  # the residual blocks, then the upsampling ones (with a learned shortcut)
    n_up = blocks - decoder_res
    if decoder_res != n_res or n_up != n_downsample or n_class_downsample < 2:
        raise WeightsError(f"{where}: an imaginaire {title} generator this network cannot hold ({n_res} residual "
                           f"blocks in the content encoder, {decoder_res} in the decoder; {n_downsample} "
                           f"downsamplings, {n_up} upsampling blocks; {n_class_downsample} style downsamplings).")
    up_kernel = shape_of(state, f"{p}decoder.decoder.{n_res}.conv_block_0.layers.conv.weight", where)[-1] \
        if n_up else 5
    usb_dim = shape_of(state, f"{p}usb", where)[1] if coco else 1024
    image_size = args.image_size or 256
    stride = 2 ** max(n_downsample, n_class_downsample)
    if up_kernel % 2 == 0:
        raise WeightsError(f"{where}: not an imaginaire {title} generator ({up_kernel}x{up_kernel} up-convs).")
    if image_size % stride:
        raise WeightsError(f"--image-size {image_size}: this network needs a multiple of {stride}.")
    network = FUNIT(image_size=image_size, dim=dim, latent_dim=latent_dim, n_downsample=n_downsample,
                    n_class_downsample=n_class_downsample, n_res=n_res, mlp_dim=mlp_dim, n_mlp=n_mlp + 1,
                    up_kernel=up_kernel, style_encoder="coco" if coco else "funit", usb_dim=usb_dim,
                    domain_a=args.domain_a, domain_b=args.domain_b, licence_note=IMAGINAIRE_NOTE.format(title=title),
                    res_block="post_relu", instance_affine=True, adain_scale="1+gamma", up_block="residual")
    table = {}
    imaginaire_style_keys(table, f"{p}style_encoder", "class_encoder", n_class_downsample)
    imaginaire_content_keys(table, f"{p}content_encoder", "content_encoder.layers", n_downsample, n_res)
    projections = imaginaire_adain_blocks_keys(table, f"{p}decoder.decoder", "decoder.blocks", n_res)
    for i in range(n_downsample):  # UpRes2dBlocks: conv_block_0, conv_block_1, the learned shortcut conv_block_s
        for slot, ours in (("0", "conv0"), ("1", "conv1"), ("s", "shortcut")):
            unit = f"{p}decoder.decoder.{n_res + i}.conv_block_{slot}.layers"
            conv_keys(table, f"{unit}.conv", f"decoder.up.{i}.{ours}.conv")
            projections.append(f"{unit}.norm.fc.layers.conv")
    conv_keys(table, f"{p}decoder.decoder.{n_res + n_downsample}.layers.conv", f"decoder.up.{n_downsample}.conv")
    imaginaire_mlp_keys(table, f"{p}mlp", "mlp.layers", n_mlp)
    stacked = f"{p}decoder.(AdaIN projections, stacked)"
    channels = [norm.channels for norm in adaptive_norms(network.decoder)]
    stack_adain_projections(state, projections, channels, mlp_dim, stacked, where)
    conv_keys(table, stacked, f"mlp.layers.{2 * n_mlp}")
    if coco:  # usb; mlp_style on [class code, usb]; mlp_content on the content's mean: two LinearBlocks each
        table[f"{p}usb"] = "coco.usb"
        imaginaire_mlp_keys(table, f"{p}mlp_style", "coco.mlp_style.0.layers", 2)
        imaginaire_mlp_keys(table, f"{p}mlp_content", "coco.mlp_content.0.layers", 2)
    weights = take(state, table, set(), network.state_dict(), where)[0]
    notes = [f"imaginaire {title}: dim {dim}, latent_dim {latent_dim}, {n_downsample} content and "
             f"{n_class_downsample} style downsamplings, {n_res} residual blocks, MLP {n_mlp} x {mlp_dim} and a "
             f"projection per AdaIN" + (f", universal style bias of {usb_dim}." if coco else "."), *g.notes,
             IMAGINAIRE_MATHS.format(maths="residual blocks with a ReLU after their second norm too, affine instance "
                                           "norms, AdaIN scaling by 1 + γ, and upsampling residual blocks with a "
                                           "learned shortcut"),
             "imaginaire's inference reads the style of one image per content image; with K references their style "
             "codes are averaged before the MLP (FUNIT's K-shot rule), so K = 1 is its output. Images are letterboxed "
             "to the model's size (its test stretches them to 256 x 256)."]
    return Converted(load_weights(network, weights), g.dropped, notes)


def imaginaire_coco_funit(checkpoint: dict, args: argparse.Namespace) -> Converted:
    return imaginaire_funit(checkpoint, args, coco=True)


# --- znxlwm/UGATIT-pytorch ------------------------------------------------------------------------------------
def ugatit_generator_table(ours: str, n_blocks: int) -> Table:
    """ResnetGenerator -> our U-GAT-IT Generator at `ours`. DownBlock slots: pad, conv 1, IN, relu, then
    (pad, conv 5 | 9, IN, relu) x 2, then ResnetBlocks 12 ...; UpBlock2: (upsample, pad, conv 2 | 7, ILN 3 | 8,
    relu) x 2, pad, conv 11, tanh. No conv has a bias except conv1x1."""
    table = {"DownBlock.1.weight": f"{ours}.down.0.conv.weight", "DownBlock.5.weight": f"{ours}.down.1.conv.weight",
             "DownBlock.9.weight": f"{ours}.down.2.conv.weight"}
    for i in range(n_blocks):
        table[f"DownBlock.{12 + i}.conv_block.1.weight"] = f"{ours}.down.{3 + i}.conv1.conv.weight"
        table[f"DownBlock.{12 + i}.conv_block.5.weight"] = f"{ours}.down.{3 + i}.conv2.conv.weight"
    table.update({"gap_fc.weight": f"{ours}.cam.gap_fc.weight", "gmp_fc.weight": f"{ours}.cam.gmp_fc.weight",
                  "conv1x1.weight": f"{ours}.cam.conv1x1.weight", "conv1x1.bias": f"{ours}.cam.conv1x1.bias",
                  "FC.0.weight": f"{ours}.mlp.0.weight", "FC.2.weight": f"{ours}.mlp.2.weight",
                  "gamma.weight": f"{ours}.gamma.weight", "beta.weight": f"{ours}.beta.weight"})
    for i in range(n_blocks):
        for n in (1, 2):
            table[f"UpBlock1_{i + 1}.conv{n}.weight"] = f"{ours}.blocks.{i}.conv{n}.conv.weight"
            table[f"UpBlock1_{i + 1}.norm{n}.rho"] = f"{ours}.blocks.{i}.conv{n}.norm.rho"
    for i, (conv, norm) in enumerate(((2, 3), (7, 8))):
        table[f"UpBlock2.{conv}.weight"] = f"{ours}.up.{i}.conv.weight"
        for name in ("rho", "gamma", "beta"):
            table[f"UpBlock2.{norm}.{name}"] = f"{ours}.up.{i}.norm.{name}"
    table["UpBlock2.11.weight"] = f"{ours}.up.2.conv.weight"
    return table


def spectral_norm_keys(table: Table, official: str, ours: str) -> None:
    """torch.nn.utils.spectral_norm's keys (the old hook, official) -> parametrizations.spectral_norm's (ours).
    In eval mode both divide the weight by u . (W v) with the stored u and v."""
    table[f"{official}.weight_orig"] = f"{ours}.parametrizations.weight.original"
    table[f"{official}.weight_u"] = f"{ours}.parametrizations.weight.0._u"
    table[f"{official}.weight_v"] = f"{ours}.parametrizations.weight.0._v"


def ugatit_discriminator_table(ours: str, n_layers: int) -> Table:
    """Discriminator -> ours at `ours`: `model` = (pad, conv 1 | 4 | 7 ..., lrelu) x (n_layers - 1), then the
    CAM (gap_fc, gmp_fc, conv1x1) and the last conv `conv`; all spectral-normalised but conv1x1."""
    table = {}
    for i in range(n_layers - 1):
        spectral_norm_keys(table, f"model.{3 * i + 1}", f"{ours}.body.{i}.conv")
        table[f"model.{3 * i + 1}.bias"] = f"{ours}.body.{i}.conv.bias"
    spectral_norm_keys(table, "gap_fc", f"{ours}.cam.gap_fc")
    spectral_norm_keys(table, "gmp_fc", f"{ours}.cam.gmp_fc")
    conv_keys(table, "conv1x1", f"{ours}.cam.conv1x1")
    spectral_norm_keys(table, "conv", f"{ours}.head.conv")
    return table


UGATIT_PARTS = {"genA2B": "gen_ab", "genB2A": "gen_ba", "disGA": "d_global_a", "disGB": "d_global_b",
                "disLA": "d_local_a", "disLB": "d_local_b"}  # disGA: the global discriminator of domain A


def ugatit_pytorch(checkpoint: dict, args: argparse.Namespace) -> Converted:
    where = args.src.name
    nets = parts(checkpoint, tuple(UGATIT_PARTS), where)
    generator = nets["genA2B"]
    ngf = shape_of(generator, "DownBlock.1.weight", f"{where} ['genA2B']")[0]
    n_blocks = count(generator, lambda i: f"UpBlock1_{i + 1}.conv1.weight")
    mlp_in = shape_of(generator, "FC.0.weight", f"{where} ['genA2B']")[1]
    light = mlp_in == 4 * ngf  # light: the MLP takes pooled features; full: all of them, at one image size
    image_size = args.image_size or 256
    if not light:
        image_size = 4 * math.isqrt(mlp_in // (4 * ngf))
        if args.image_size and args.image_size != image_size:
            raise WeightsError(f"{where}: the full U-GAT-IT is tied to {image_size} px; --image-size {args.image_size} "
                               f"cannot be used.")
    ndf = shape_of(nets["disGA"], "model.1.weight_orig", f"{where} ['disGA']")[0]
    n_layers_global = 1 + count(nets["disGA"], lambda i: f"model.{3 * i + 1}.weight_orig")
    n_layers_local = 1 + count(nets["disLA"], lambda i: f"model.{3 * i + 1}.weight_orig")
    network = UGATIT(image_size=image_size, ngf=ngf, n_blocks=n_blocks, light=light, ndf=ndf,
                     n_layers_global=n_layers_global, n_layers_local=n_layers_local, domain_a=args.domain_a,
                     domain_b=args.domain_b, d_raw_cam_weights=True)
    expected, weights = network.state_dict(), {}
    for name, ours in UGATIT_PARTS.items():
        table = (ugatit_generator_table(ours, n_blocks) if name.startswith("gen") else
                 ugatit_discriminator_table(ours, n_layers_global if name.startswith("disG") else n_layers_local))
        weights.update(take(nets[name], table, set(), expected, f"{where} [{name!r}]")[0])
    notes = [f"{'Light' if light else 'Full'} generator: ngf {ngf}, {n_blocks} residual blocks"
             + ("" if light else f", tied to {image_size} px") + f"; discriminators {n_layers_global} (global) and "
             f"{n_layers_local} (local) layers.",
             "The discriminators' CAM reweights channels by the raw fc weights, as the official code does "
             "(`d_raw_cam_weights`): their heatmaps are the official ones.",
             "AdaLIN's and ILN's rho are clamped to [0, 1] at inference; the official trainer clips them after every "
             "step, so saved values are already in range."]
    return Converted(load_weights(network, weights), [], notes)


# --- the formats ------------------------------------------------------------------------------------------
JUNYANZ_LICENCE = ("The reference code is BSD-2-Clause (junyanz/pytorch-CycleGAN-and-pix2pix). The published "
                   "weights carry no licence statement of their own; the terms of the data they were trained on "
                   "apply (e.g. Cityscapes, Google Maps).")
NVIDIA_LICENCE = ("**Non-commercial.** NVIDIA's {title} code and published checkpoints are under CC BY-NC-SA 4.0 "
                  "({repo}): you may not use these weights, or anything made with them, commercially; give credit "
                  "and share adaptations under the same licence.")
IMAGINAIRE_LICENCE = ("**Non-commercial.** NVIDIA's imaginaire code, which its published {title} checkpoints come "
                      "with, is under the NVIDIA Source Code License for imaginaire "
                      "(https://github.com/NVlabs/imaginaire/blob/master/LICENSE.md): non-commercial use only, which "
                      "it defines as research or evaluation, and, in its words, with NVIDIA processors. Use these "
                      "weights, and anything made with them, on those terms.")


@dataclass(frozen=True)
class Format:
    convert: Callable[[dict, argparse.Namespace], Converted]
    family: str
    source: str  # the code that writes such files
    licence: str  # Markdown, for the card
    licence_tag: str  # the Hub's licence identifier
    read: Callable[[Path, bool], object] = read_checkpoint  # SRC (and --trust-pickle) -> what `convert` takes
    files: Callable[[Path], list[Path]] | None = None  # the files SRC stands for (the card's sha256s), if not itself


FORMATS = {
    "junyanz-cyclegan": Format(junyanz_cyclegan, "cyclegan", "junyanz/pytorch-CycleGAN-and-pix2pix, ResnetGenerator",
                               JUNYANZ_LICENCE, "other"),
    "junyanz-pix2pix": Format(junyanz_pix2pix, "pix2pix", "junyanz/pytorch-CycleGAN-and-pix2pix, UnetGenerator",
                              JUNYANZ_LICENCE, "other"),
    "munit": Format(munit, "munit", "NVlabs/MUNIT, AdaINGen pair",
                    NVIDIA_LICENCE.format(title="MUNIT", repo="https://github.com/NVlabs/MUNIT"), "cc-by-nc-sa-4.0"),
    "unit": Format(unit, "unit", "mingyuliutw/UNIT (master), VAEGen pair",
                   NVIDIA_LICENCE.format(title="UNIT", repo="https://github.com/mingyuliutw/UNIT"), "cc-by-nc-sa-4.0"),
    "funit": Format(funit, "funit", "NVlabs/FUNIT, FewShotGen ('gen_test', the averaged generator)",
                    NVIDIA_LICENCE.format(title="FUNIT", repo="https://github.com/NVlabs/FUNIT"), "cc-by-nc-sa-4.0"),
    "imaginaire-unit": Format(imaginaire_unit, "unit", "NVlabs/imaginaire UNIT, `net_G` (the averaged generator)",
                              IMAGINAIRE_LICENCE.format(title="UNIT"), "other"),
    "imaginaire-munit": Format(imaginaire_munit, "munit", "NVlabs/imaginaire MUNIT, `net_G` (the averaged generator)",
                               IMAGINAIRE_LICENCE.format(title="MUNIT"), "other"),
    "imaginaire-funit": Format(imaginaire_funit, "funit", "NVlabs/imaginaire FUNIT, `net_G` (the averaged generator)",
                               IMAGINAIRE_LICENCE.format(title="FUNIT"), "other"),
    "imaginaire-coco-funit": Format(imaginaire_coco_funit, "funit",
                                    "NVlabs/imaginaire COCO-FUNIT, `net_G` (the averaged generator)",
                                    IMAGINAIRE_LICENCE.format(title="COCO-FUNIT"), "other"),
    "ugatit-pytorch": Format(ugatit_pytorch, "ugatit", "znxlwm/UGATIT-pytorch, generators and discriminators",
                             "The reference code is MIT (znxlwm/UGATIT-pytorch). No official PyTorch weights were "
                             "published: this is a checkpoint trained with that code, under whatever terms its "
                             "trainer and training data set.", "other"),
    "ugatit-tf": Format(ugatit_tf, "ugatit", UGATIT_TF_SOURCE, UGATIT_TF_LICENCE, "other", read_ugatit_tf,
                        ugatit_tf_files),
}


DEFAULT_DOMAINS = {name: ("content", "references")  # FUNIT's own defaults; the rest: A and B
                   for name in ("funit", "imaginaire-funit", "imaginaire-coco-funit")}


# --- the conversion ---------------------------------------------------------------------------------------
def convert(args: argparse.Namespace, command: str = "") -> Path:
    """Convert args.src (and args.other) in args.format into the folder args.out; returns the folder."""
    fmt = FORMATS[args.format]
    sources = (fmt.files(args.src) if fmt.files else [args.src]) + ([args.other] if args.other else [])
    converted = fmt.convert(fmt.read(args.src, args.trust_pickle), args)
    out = Path(args.out)
    converted.network.save_pretrained(out)
    parameters = sum(p.numel() for p in converted.network.parameters())
    write_card(out, fmt, args.format, sources, converted, parameters, command)
    del converted  # the largest networks are over a gigabyte: one copy at a time

    t = translator.load(str(out), allow_local=True, warm_up=False)  # what a user will do next: it must work
    blank = torch.zeros(1, 3, t.image_size, t.image_size, device=t.device)
    with torch.inference_mode():
        for direction in t.directions:
            t.translate_tensor(blank, direction)
    print(f"{out}: {translator.FAMILIES[fmt.family].title}, {parameters:,} parameters, "
          f"{' and '.join(t.direction_label(d) for d in t.directions)}.")
    return out


def write_card(out: Path, fmt: Format, format_name: str, sources: list[Path], converted: Converted,
               parameters: int, command: str) -> None:
    family = translator.FAMILIES[fmt.family]
    config = json.loads((out / "config.json").read_text())
    a, b = config.get("domain_a", "A"), config.get("domain_b", "B")
    arrow = "→" if config.get("one_way") or len(family.directions) == 1 else "↔"
    data = ModelCardData(license=fmt.licence_tag, library_name="translator-studio", pipeline_tag="image-to-image",
                         tags=["gan", family.name, "image-to-image", "converted"], model_name=out.name)
    lines = [f"# {out.name}", "",
             f"An official **{family.title}** checkpoint converted for Translator Studio: {a} {arrow} {b} at "
             f"{config.get('image_size')} px, {parameters:,} parameters.", "", *usage(str(out), family, config), "",
             "## Source", ""]
    for path in sources:
        lines.append(f"- `{path.name}` ({path.stat().st_size:,} bytes), sha256 `{sha256(path)}`")
    lines += [f"- Format `{format_name}`: {fmt.source}",
              *([f"- Converted with `{command}`"] if command else []),
              f"- Entries dropped by name (legacy buffers, optimizer state; never weights): {len(converted.dropped)}"
              + (f" ({', '.join(f'`{k}`' for k in converted.dropped[:3])}"
                 + (", ..." if len(converted.dropped) > 3 else "") + ")" if converted.dropped else ""),
              "", "## Licence", "", fmt.licence, "", "## Paper", "", family.paper, "",
              "## Network", "", *[f"- {note}" for note in converted.notes], "", "| setting | value |", "|---|---|",
              *[f"| {k} | {v} |" for k, v in sorted(config.items())]]
    card = ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + "\n".join(lines) + "\n")
    card.save(out / "README.md")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path, help="the official checkpoint file")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("-o", "--out", type=Path, required=True, help="the folder to write")
    parser.add_argument("--domain-a", default=None,
                        help="name of domain A, e.g. horse (shown in the app; default A, *funit: content)")
    parser.add_argument("--domain-b", default=None, help="name of domain B, e.g. zebra (default B, *funit: references)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="the size inputs are brought to (default: the paper's, 256; unet_128 and funit: 128; "
                             "imaginaire: 256)")
    parser.add_argument("--direction", choices=("a2b", "b2a"), default="a2b",
                        help="junyanz-cyclegan: which way SRC translates (G_A: a2b, G_B: b2a)")
    parser.add_argument("--other", type=Path, default=None,
                        help="junyanz-cyclegan: the opposite generator of the same run")
    parser.add_argument("--test-dropout", action="store_true",
                        help="junyanz-pix2pix: keep dropout on at inference, as the official test does "
                             "(only for models trained with dropout, the default)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="read a file that weights_only=True refuses in full: it runs any code the file holds")
    args = parser.parse_args(argv)
    default_a, default_b = DEFAULT_DOMAINS.get(args.format, ("A", "B"))
    args.domain_a = default_a if args.domain_a is None else args.domain_a
    args.domain_b = default_b if args.domain_b is None else args.domain_b
    if args.format != "junyanz-cyclegan" and (args.other or args.direction != "a2b"):
        parser.error("--direction and --other are for junyanz-cyclegan")
    if args.format != "junyanz-pix2pix" and args.test_dropout:
        parser.error("--test-dropout is for junyanz-pix2pix")
    for path in [args.src] + ([args.other] if args.other else []):
        if not path.is_file():
            parser.error(f"{path} is not a file")
    return args


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parse_args(argv)
    try:
        return convert(args, command="python -m training.convert " + shlex.join(argv))
    except WeightsError as err:  # the file's fault, said plainly; anything else is a bug and keeps its traceback
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
