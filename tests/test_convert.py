"""training.convert: a checkpoint of each official format -- the official key names and shapes, random
values, small widths at the official depths -- converts into a folder `translator.load` takes, and the
converted model gives what the official forward pass gives on the same weights (max abs difference
<= 1e-5 on images).

The layouts and forward passes below are this test's own reading of the official code (junyanz
networks.py, NVlabs/MUNIT and mingyuliutw/UNIT networks.py, NVlabs/FUNIT networks.py and blocks.py,
NVlabs/imaginaire generators/{unit,munit,funit,coco_funit}.py and layers/, znxlwm/UGATIT-pytorch
networks.py), written as plain functional torch on the official state dicts; they share nothing with
translator's modules or the converter's tables. The layouts are pinned by the parameter and key counts
measured on the official classes (shared/reference/official-implementations.md, appendix A1-A19).
"""
import argparse
import math
import re

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import translator
from training.convert import convert, main, parse_args, read_checkpoint
from translator.errors import WeightsError

NGF = 8  # every width at 1/8 of the paper's; depths, kernels and key names as published


# --- the official layouts: key -> shape, in state_dict order ------------------------------------------------
def junyanz_resnet(ngf=64, n_blocks=9, channels=3):
    """ResnetGenerator(norm=instance, no dropout): every conv has a bias (use_bias with InstanceNorm)."""
    layout = {}

    def conv(name, out, inp, k, transpose=False):
        layout[f"{name}.weight"] = (inp, out, k, k) if transpose else (out, inp, k, k)
        layout[f"{name}.bias"] = (out,)

    conv("model.1", ngf, channels, 7)
    conv("model.4", 2 * ngf, ngf, 3)
    conv("model.7", 4 * ngf, 2 * ngf, 3)
    for b in range(n_blocks):
        conv(f"model.{10 + b}.conv_block.1", 4 * ngf, 4 * ngf, 3)
        conv(f"model.{10 + b}.conv_block.5", 4 * ngf, 4 * ngf, 3)
    conv(f"model.{10 + n_blocks}", 2 * ngf, 4 * ngf, 3, transpose=True)
    conv(f"model.{13 + n_blocks}", ngf, 2 * ngf, 3, transpose=True)
    conv(f"model.{17 + n_blocks}", channels, ngf, 7)
    return layout


def unet_prefix(k):
    return "model.model" if k == 0 else "model.model.1.model" + ".3.model" * (k - 1)


def junyanz_unet(ngf=64, num_downs=8, channels=3, norm="batch"):
    """UnetGenerator. norm=batch: convs without bias except the outermost up-conv, BatchNorm with buffers;
    norm=instance: every conv with a bias, InstanceNorm without parameters."""
    layout = {}
    inner = [ngf, 2 * ngf, 4 * ngf] + [8 * ngf] * (num_downs - 3)  # inner_nc of each level

    def conv(name, shape, transpose=False, bias=norm == "instance"):  # ConvTranspose2d weights: (in, out, k, k)
        layout[f"{name}.weight"] = shape
        if bias:
            layout[f"{name}.bias"] = (shape[1] if transpose else shape[0],)

    def batch_norm(name, c):
        if norm == "batch":
            layout.update({f"{name}.weight": (c,), f"{name}.bias": (c,), f"{name}.running_mean": (c,),
                           f"{name}.running_var": (c,), f"{name}.num_batches_tracked": ()})

    def level(k):
        p = unet_prefix(k)
        if k == 0:
            conv(f"{p}.0", (inner[0], channels, 4, 4))
            level(1)
            conv(f"{p}.3", (2 * inner[0], channels, 4, 4), transpose=True, bias=True)
        elif k == num_downs - 1:
            conv(f"{p}.1", (inner[k], inner[k - 1], 4, 4))
            conv(f"{p}.3", (inner[k], inner[k - 1], 4, 4), transpose=True)
            batch_norm(f"{p}.4", inner[k - 1])
        else:
            conv(f"{p}.1", (inner[k], inner[k - 1], 4, 4))
            batch_norm(f"{p}.2", inner[k])
            level(k + 1)
            conv(f"{p}.5", (2 * inner[k], inner[k - 1], 4, 4), transpose=True)
            batch_norm(f"{p}.6", inner[k - 1])

    level(0)
    return layout


def nvidia_conv(layout, name, out, inp, k):
    layout[f"{name}.conv.weight"] = (out, inp, k, k)
    layout[f"{name}.conv.bias"] = (out,)


def nvidia_content_encoder(layout, prefix, dim, n_down=2, n_res=4):
    nvidia_conv(layout, f"{prefix}.model.0", dim, 3, 7)
    for i in range(n_down):
        nvidia_conv(layout, f"{prefix}.model.{i + 1}", dim * 2 ** (i + 1), dim * 2 ** i, 4)
    width = dim * 2 ** n_down
    for j in range(n_res):
        for slot in (0, 1):
            nvidia_conv(layout, f"{prefix}.model.{n_down + 1}.model.{j}.model.{slot}", width, width, 3)


def nvidia_decoder(layout, dim, n_down=2, n_res=4, adain=False):
    width = dim * 2 ** n_down
    for j in range(n_res):
        for slot in (0, 1):
            name = f"dec.model.0.model.{j}.model.{slot}"
            if adain:  # AdaptiveInstanceNorm2d's dummy buffers, registered before the conv is
                layout[f"{name}.norm.running_mean"] = (width,)
                layout[f"{name}.norm.running_var"] = (width,)
            nvidia_conv(layout, name, width, width, 3)
    for i in range(n_down):
        name = f"dec.model.{2 + 2 * i}"
        layout[f"{name}.norm.gamma"] = (width // 2,)
        layout[f"{name}.norm.beta"] = (width // 2,)
        nvidia_conv(layout, name, width // 2, width, 5)
        width //= 2
    nvidia_conv(layout, f"dec.model.{1 + 2 * n_down}", 3, width, 7)


def munit_gen(dim=64, style_dim=8, mlp_dim=256, n_res=4):
    """AdaINGen (edges2shoes config): StyleEncoder(4 downs), ContentEncoder, AdaIN Decoder, MLP of 3."""
    layout = {}
    nvidia_conv(layout, "enc_style.model.0", dim, 3, 7)
    nvidia_conv(layout, "enc_style.model.1", 2 * dim, dim, 4)
    nvidia_conv(layout, "enc_style.model.2", 4 * dim, 2 * dim, 4)
    nvidia_conv(layout, "enc_style.model.3", 4 * dim, 4 * dim, 4)
    nvidia_conv(layout, "enc_style.model.4", 4 * dim, 4 * dim, 4)
    layout["enc_style.model.6.weight"] = (style_dim, 4 * dim, 1, 1)
    layout["enc_style.model.6.bias"] = (style_dim,)
    nvidia_content_encoder(layout, "enc_content", dim, n_res=n_res)
    nvidia_decoder(layout, dim, n_res=n_res, adain=True)
    adain_params = 2 * 4 * dim * 2 * n_res
    for i, (out, inp) in enumerate([(mlp_dim, style_dim), (mlp_dim, mlp_dim), (adain_params, mlp_dim)]):
        layout[f"mlp.model.{i}.fc.weight"] = (out, inp)
        layout[f"mlp.model.{i}.fc.bias"] = (out,)
    return layout


def unit_gen(dim=64):
    """VAEGen: ContentEncoder `enc`, Decoder `dec` with instance-norm residual blocks."""
    layout = {}
    nvidia_content_encoder(layout, "enc", dim)
    nvidia_decoder(layout, dim)
    return layout


def pooled_encoder(layout, prefix, dim, out_dim, n_down, block):
    """The style / class-model encoder both NVIDIA codebases share: `block` units for a 7x7 conv and n_down
    4x4 downs (the first two doubling the width), the pool in slot n_down + 1, a bare 1x1 conv after it."""
    block(layout, f"{prefix}.model.0", dim, 3, 7)
    width = dim
    for i in range(n_down):
        out = 2 * width if i < 2 else width
        block(layout, f"{prefix}.model.{i + 1}", out, width, 4)
        width = out
    layout[f"{prefix}.model.{n_down + 2}.weight"] = (out_dim, width, 1, 1)
    layout[f"{prefix}.model.{n_down + 2}.bias"] = (out_dim,)


def funit_gen(dim=64, latent_dim=64, mlp_dim=256, n_down=3, n_class_down=4, n_res=2):
    """FewShotGen (funit_animals.yaml): ClassModelEncoder (7x7 conv, two doubling downs, the rest at that
    width, pool in slot n_class_down + 1, a bare 1x1 conv after it), ContentEncoder, a Decoder whose AdaIN
    ResBlocks keep AdaptiveInstanceNorm2d's dummy buffers and whose up-convs' InstanceNorm has no keys, MLP."""
    layout = {}
    pooled_encoder(layout, "enc_class_model", dim, latent_dim, n_class_down, nvidia_conv)
    nvidia_content_encoder(layout, "enc_content", dim, n_down, n_res)
    width = dim * 2 ** n_down
    for j in range(n_res):
        for slot in (0, 1):
            name = f"dec.model.0.model.{j}.model.{slot}"
            layout[f"{name}.norm.running_mean"] = (width,)
            layout[f"{name}.norm.running_var"] = (width,)
            nvidia_conv(layout, name, width, width, 3)
    for i in range(n_down):
        nvidia_conv(layout, f"dec.model.{2 + 2 * i}", width // 2, width, 5)
        width //= 2
    nvidia_conv(layout, f"dec.model.{1 + 2 * n_down}", 3, width, 7)
    adain_params = 2 * 2 * n_res * dim * 2 ** n_down
    for i, (out, inp) in enumerate([(mlp_dim, latent_dim), (mlp_dim, mlp_dim), (adain_params, mlp_dim)]):
        layout[f"mlp.model.{i}.fc.weight"] = (out, inp)
        layout[f"mlp.model.{i}.fc.bias"] = (out,)
    return layout


def ugatit_gen(ngf=64, n_blocks=4, img_size=256, light=False):
    width = 4 * ngf
    layout = {"gap_fc.weight": (1, width), "gmp_fc.weight": (1, width), "conv1x1.weight": (width, 2 * width, 1, 1),
              "conv1x1.bias": (width,), "gamma.weight": (width, width), "beta.weight": (width, width)}
    for i in range(1, n_blocks + 1):
        for n in (1, 2):
            layout[f"UpBlock1_{i}.conv{n}.weight"] = (width, width, 3, 3)
            layout[f"UpBlock1_{i}.norm{n}.rho"] = (1, width, 1, 1)
    layout.update({"DownBlock.1.weight": (ngf, 3, 7, 7), "DownBlock.5.weight": (2 * ngf, ngf, 3, 3),
                   "DownBlock.9.weight": (width, 2 * ngf, 3, 3)})
    for i in range(n_blocks):
        layout[f"DownBlock.{12 + i}.conv_block.1.weight"] = (width, width, 3, 3)
        layout[f"DownBlock.{12 + i}.conv_block.5.weight"] = (width, width, 3, 3)
    layout["FC.0.weight"] = (width, width if light else (img_size // 4) ** 2 * width)
    layout["FC.2.weight"] = (width, width)
    for conv, norm, out, inp in ((2, 3, 2 * ngf, width), (7, 8, ngf, 2 * ngf)):
        layout[f"UpBlock2.{conv}.weight"] = (out, inp, 3, 3)
        for name in ("rho", "gamma", "beta"):
            layout[f"UpBlock2.{norm}.{name}"] = (1, out, 1, 1)
    layout["UpBlock2.11.weight"] = (3, ngf, 7, 7)
    return layout


def ugatit_dis(ndf=64, n_layers=7):
    """Discriminator with torch.nn.utils.spectral_norm: weight_orig, weight_u (out), weight_v (in*k*k)."""
    layout = {}

    def sn(name, shape):
        layout[f"{name}.weight_orig"] = shape
        layout[f"{name}.weight_u"] = (shape[0],)
        layout[f"{name}.weight_v"] = (math.prod(shape[1:]),)

    channels = ndf * 2 ** (n_layers - 2)
    sn("gap_fc", (1, channels))
    sn("gmp_fc", (1, channels))
    layout["conv1x1.weight"] = (channels, 2 * channels, 1, 1)
    layout["conv1x1.bias"] = (channels,)
    sn("conv", (1, channels, 4, 4))
    widths = [3] + [ndf * 2 ** i for i in range(n_layers - 1)]
    for i in range(n_layers - 1):
        layout[f"model.{3 * i + 1}.bias"] = (widths[i + 1],)
        sn(f"model.{3 * i + 1}", (widths[i + 1], widths[i], 4, 4))
    return layout


def imaginaire_block(layout, name, out, inp, k, norm=None, cond=None, norm_first=False):
    """A Conv2dBlock (or half a Res2dBlock) at `name`: `layers.conv` with a bias, and its norm over the conv's
    output (its input if `norm_first`, pre-activation): "instance" (affine: `layers.norm.weight`, `.bias`) or
    "adaptive" (`layers.norm.fc.layers.conv`, a Linear cond -> 2 x channels). Pre-activation lists the norm first."""
    channels = inp if norm_first else out
    conv = {f"{name}.layers.conv.weight": (out, inp, k, k), f"{name}.layers.conv.bias": (out,)}
    norms = {"instance": {f"{name}.layers.norm.weight": (channels,), f"{name}.layers.norm.bias": (channels,)},
             "adaptive": {f"{name}.layers.norm.fc.layers.conv.weight": (2 * channels, cond),
                          f"{name}.layers.norm.fc.layers.conv.bias": (2 * channels,)}}.get(norm, {})
    layout.update({**norms, **conv} if norm_first else {**conv, **norms})


def imaginaire_style(layout, prefix, dim, out_dim, n_down):
    """StyleEncoder: 7x7, two doubling downs, the rest at that width (no norm), pool, a bare 1x1 conv."""
    pooled_encoder(layout, prefix, dim, out_dim, n_down, imaginaire_block)


def imaginaire_content(layout, prefix, dim, n_down, n_res, max_dim=None, pre_act=True):
    """ContentEncoder: Conv2dBlocks (affine instance norm) doubling up to max_dim, Res2dBlocks (pre-activation
    for MUNIT and UNIT, CNACNA for FUNIT). Returns the width."""
    imaginaire_block(layout, f"{prefix}.model.0", dim, 3, 7, "instance")
    width = dim
    for i in range(n_down):
        out = min(2 * width, max_dim or 2 * width)
        imaginaire_block(layout, f"{prefix}.model.{i + 1}", out, width, 4, "instance")
        width = out
    for j in range(n_down + 1, n_down + 1 + n_res):
        for slot in (0, 1):
            imaginaire_block(layout, f"{prefix}.model.{j}.conv_block_{slot}", width, width, 3, "instance",
                             norm_first=pre_act)
    return width


def imaginaire_mlp(layout, prefix, widths):
    for k, (out, inp) in enumerate(zip(widths[1:], widths[:-1])):
        layout[f"{prefix}.model.{k}.layers.conv.weight"] = (out, inp)
        layout[f"{prefix}.model.{k}.layers.conv.bias"] = (out,)


def imaginaire_munit_gen(dim=64, style_dim=8, mlp_dim=256, n_down=2, n_res=4, n_style_down=4, max_dim=256):
    """imaginaire MUNIT Generator (afhq_dog2cat / edges2shoes ampO1.yaml), the averaged copy (plain weights):
    per autoencoder a style encoder, a pre-activation content encoder, a decoder with AdaIN everywhere
    (each with its fc from the 256-d MLP output) and no output nonlinearity, an MLP of two LinearBlocks."""
    layout = {}
    for ae in ("autoencoder_a", "autoencoder_b"):
        imaginaire_style(layout, f"{ae}.style_encoder", dim, style_dim, n_style_down)
        width = imaginaire_content(layout, f"{ae}.content_encoder", dim, n_down, n_res, max_dim)
        for j in range(n_res):
            for slot in (0, 1):
                imaginaire_block(layout, f"{ae}.decoder.decoder.{j}.conv_block_{slot}", width, width, 3, "adaptive",
                                 mlp_dim, norm_first=True)
        for i in range(n_down):
            imaginaire_block(layout, f"{ae}.decoder.decoder.{n_res + 1 + 2 * i}", width // 2, width, 5, "adaptive",
                             mlp_dim)
            width //= 2
        imaginaire_block(layout, f"{ae}.decoder.decoder.{n_res + 2 * n_down}", 3, width, 7)
        imaginaire_mlp(layout, f"{ae}.mlp", [style_dim, mlp_dim, mlp_dim])
    return layout


def imaginaire_unit_gen(dim=48, n_down=2, n_res=4):
    """imaginaire UNIT Generator (winter2summer base48_bs1.yaml): pre-activation blocks, affine instance norm
    everywhere, no output nonlinearity, no spectral norm."""
    layout = {}
    for ae in ("autoencoder_a", "autoencoder_b"):
        width = imaginaire_content(layout, f"{ae}.content_encoder", dim, n_down, n_res)
        for j in range(n_res):
            for slot in (0, 1):
                imaginaire_block(layout, f"{ae}.decoder.decoder.{j}.conv_block_{slot}", width, width, 3, "instance",
                                 norm_first=True)
        for i in range(n_down):
            imaginaire_block(layout, f"{ae}.decoder.decoder.{n_res + 1 + 2 * i}", width // 2, width, 5, "instance")
            width //= 2
        imaginaire_block(layout, f"{ae}.decoder.decoder.{n_res + 2 * n_down}", 3, width, 7)
    return layout


def imaginaire_funit_gen(dim=64, style_dim=64, mlp_dim=256, n_down=4, n_style_down=5, n_res=2, usb_dim=None):
    """imaginaire FUNITTranslator (funit/animal_faces base64_bs8_class149.yaml) under `generator`; with usb_dim,
    COCOFUNITTranslator (+ usb, mlp_content, mlp_style). CNACNA residual blocks, two AdaIN Res2dBlocks, then
    UpRes2dBlocks (conv_block_0, conv_block_1, learned shortcut conv_block_s, each with its AdaIN fc), tanh."""
    layout = {} if usb_dim is None else {"generator.usb": (1, usb_dim)}
    imaginaire_style(layout, "generator.style_encoder", dim, style_dim, n_style_down)
    width = content = imaginaire_content(layout, "generator.content_encoder", dim, n_down, n_res, pre_act=False)
    for j in range(2):
        for slot in (0, 1):
            imaginaire_block(layout, f"generator.decoder.decoder.{j}.conv_block_{slot}", width, width, 3, "adaptive",
                             mlp_dim)
    for i in range(n_down):
        name = f"generator.decoder.decoder.{2 + i}"
        imaginaire_block(layout, f"{name}.conv_block_0", width // 2, width, 5, "adaptive", mlp_dim)
        imaginaire_block(layout, f"{name}.conv_block_1", width // 2, width // 2, 5, "adaptive", mlp_dim)
        imaginaire_block(layout, f"{name}.conv_block_s", width // 2, width, 1, "adaptive", mlp_dim)
        width //= 2
    imaginaire_block(layout, f"generator.decoder.decoder.{2 + n_down}", 3, width, 7)
    imaginaire_mlp(layout, "generator.mlp", [style_dim, mlp_dim, mlp_dim])
    if usb_dim is not None:
        imaginaire_mlp(layout, "generator.mlp_content", [content, mlp_dim, style_dim])
        imaginaire_mlp(layout, "generator.mlp_style", [style_dim + usb_dim, mlp_dim, style_dim])
    return layout


def spectral_normalised_convs(layout):
    """The convs imaginaire's MUNIT wraps with torch.nn.utils.spectral_norm (weight_norm_type spectral): every
    conv of a Conv2dBlock but the output one. Its MLP, AdaIN fcs and the style encoder's bare 1x1 conv are not."""
    last = max(int(k.split(".")[3]) for k in layout if ".decoder.decoder." in k)
    return [k[:-len(".weight")] for k, shape in layout.items()
            if k.endswith(".layers.conv.weight") and len(shape) == 4 and f".decoder.decoder.{last}." not in k]


def spectral_layout(layout):
    """The layout as trained: `weight` -> `weight_orig`, plus `weight_u` (out) and `weight_v` (in x k x k)."""
    wrapped = dict(layout)
    for name in spectral_normalised_convs(layout):
        shape = wrapped.pop(f"{name}.weight")
        wrapped.update({f"{name}.weight_orig": shape, f"{name}.weight_u": (shape[0],),
                        f"{name}.weight_v": (math.prod(shape[1:]),)})
    return wrapped


def with_spectral_norm(state, seed=0):
    """A state as trained with spectral norm: weight_orig (3x the weight) and u, v from a few power
    iterations, as training leaves them."""
    g = torch.Generator().manual_seed(seed)
    wrapped = dict(state)
    for name in spectral_normalised_convs({k: tuple(v.shape) for k, v in state.items()}):
        weight = wrapped.pop(f"{name}.weight")
        matrix = weight.reshape(weight.shape[0], -1)
        v = F.normalize(torch.randn(matrix.shape[1], generator=g), dim=0)
        for _ in range(3):
            u = F.normalize(matrix @ v, dim=0)
            v = F.normalize(matrix.t() @ u, dim=0)
        wrapped.update({f"{name}.weight_orig": 3 * weight, f"{name}.weight_u": u, f"{name}.weight_v": v})
    return wrapped


def parameters_of(layout):
    buffers = ("running_mean", "running_var", "num_batches_tracked", "weight_u", "weight_v")
    return sum(math.prod(shape) for key, shape in layout.items() if not key.endswith(buffers))


@pytest.mark.parametrize("layout, parameters, keys", [
    (junyanz_resnet(), 11_378_179, 48), (junyanz_resnet(n_blocks=6), 7_837_699, 36),
    (junyanz_unet(), 54_413_955, 82), (munit_gen(), 15_026_187, 82), (unit_gen(), 11_140_483, 48),
    (funit_gen(), 29_866_435, 58), (ugatit_gen(), 278_959_808, 44), (ugatit_gen(light=True), 10_589_888, 44),
    (ugatit_dis(n_layers=7), 53_130_176, 35), (ugatit_dis(n_layers=5), 3_290_560, 27),
    (imaginaire_munit_gen(), 30_258_966, 204), (spectral_layout(imaginaire_munit_gen()), 30_258_966, 308),
    (imaginaire_unit_gen(), 12_555_654, 172), (imaginaire_funit_gen(), 120_987_203, 120),
    (imaginaire_funit_gen(usb_dim=1024), 121_562_307, 129),
], ids=["resnet_9blocks", "resnet_6blocks", "unet_256", "munit", "unit", "funit", "ugatit_full", "ugatit_light",
        "ugatit_global_d", "ugatit_local_d", "imaginaire_munit", "imaginaire_munit_raw", "imaginaire_unit",
        "imaginaire_funit", "imaginaire_coco_funit"])
def test_the_layouts_here_are_the_official_ones(layout, parameters, keys):
    # measured by instantiating the official classes (official-implementations.md, A1-A19)
    assert parameters_of(layout) == parameters and len(layout) == keys


def randomise(layout, seed=0):
    """Random values of the right kind for each key: weights ~ 1/sqrt(fan-in), scales near 1, unit-norm power-
    iteration vectors, rho in [0, 1] (the official trainer clips it), positive running variances."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in layout.items():
        name = key.rsplit(".", 1)[-1]
        if name == "num_batches_tracked":
            value = torch.tensor(1000)
        elif name in ("weight_u", "weight_v"):
            value = F.normalize(torch.randn(shape, generator=g), dim=0)
        elif name == "rho":
            value = torch.rand(shape, generator=g)
        elif name == "running_var":
            value = 0.5 + torch.rand(shape, generator=g)
        elif name in ("weight", "weight_orig") and len(shape) > 1:
            value = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
        elif name in ("weight", "gamma"):
            value = 1 + 0.2 * torch.randn(shape, generator=g)
        else:  # bias, beta, running_mean
            value = 0.1 * torch.randn(shape, generator=g)
        state[key] = value
    return state


# --- the official forward passes, from the official code's maths ---------------------------------------------
def reflect(x, p):
    return F.pad(x, (p, p, p, p), mode="reflect")


def instance_norm(x, eps=1e-5):  # nn.InstanceNorm2d: per sample and channel, biased variance
    return (x - x.mean((2, 3), keepdim=True)) / torch.sqrt(x.var((2, 3), unbiased=False, keepdim=True) + eps)


def official_resnet(sd, x, n_blocks):
    x = F.relu(instance_norm(F.conv2d(reflect(x, 3), sd["model.1.weight"], sd["model.1.bias"])))
    for i in (4, 7):
        x = F.relu(instance_norm(F.conv2d(x, sd[f"model.{i}.weight"], sd[f"model.{i}.bias"], stride=2, padding=1)))
    for b in range(n_blocks):
        p = f"model.{10 + b}.conv_block"
        y = F.relu(instance_norm(F.conv2d(reflect(x, 1), sd[f"{p}.1.weight"], sd[f"{p}.1.bias"])))
        x = x + instance_norm(F.conv2d(reflect(y, 1), sd[f"{p}.5.weight"], sd[f"{p}.5.bias"]))
    for i in (10 + n_blocks, 13 + n_blocks):
        x = F.relu(instance_norm(F.conv_transpose2d(x, sd[f"model.{i}.weight"], sd[f"model.{i}.bias"], stride=2,
                                                    padding=1, output_padding=1)))
    last = f"model.{17 + n_blocks}"
    return torch.tanh(F.conv2d(reflect(x, 3), sd[f"{last}.weight"], sd[f"{last}.bias"]))


def official_unet(sd, x, num_downs, dropout=False):
    """The recursive U-Net in train mode (the official test): batch norm with this batch's statistics,
    dropout in the ngf*8 blocks around the innermost if `dropout`. Without batch norm keys: instance norm."""
    def norm(x, name):
        if f"{name}.weight" not in sd:
            return instance_norm(x)
        mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), unbiased=False, keepdim=True)
        scale, shift = sd[f"{name}.weight"][None, :, None, None], sd[f"{name}.bias"][None, :, None, None]
        return (x - mean) / torch.sqrt(var + 1e-5) * scale + shift

    def conv(x, name, transpose=False):
        return (F.conv_transpose2d if transpose else F.conv2d)(x, sd[f"{name}.weight"], sd.get(f"{name}.bias"),
                                                               stride=2, padding=1)

    def block(x, k):
        p = unet_prefix(k)
        if k == 0:
            inner = block(conv(x, f"{p}.0"), 1)
            return torch.tanh(conv(F.relu(inner), f"{p}.3", transpose=True))
        x = F.leaky_relu(x, 0.2)  # in place in the official code: the skip returned below is this too
        down = conv(x, f"{p}.1")
        if k == num_downs - 1:
            up = norm(conv(F.relu(down), f"{p}.3", transpose=True), f"{p}.4")
        else:
            inner = block(norm(down, f"{p}.2"), k + 1)
            up = norm(conv(F.relu(inner), f"{p}.5", transpose=True), f"{p}.6")
            if dropout and k >= 4:  # the num_downs - 5 blocks built with use_dropout
                up = F.dropout(up, 0.5, training=True)
        return torch.cat([x, up], 1)

    return block(x, 0)


def nvidia_block(sd, name, x, pad, stride=1, norm=None, activation=F.relu):
    """Conv2dBlock: reflect pad, conv (with bias), norm, activation."""
    x = F.conv2d(reflect(x, pad), sd[f"{name}.conv.weight"], sd[f"{name}.conv.bias"], stride=stride)
    x = norm(x) if norm else x
    return activation(x) if activation else x


def nvidia_res_blocks(sd, name, x, n_res, norms):
    """ResBlocks: each x + [conv-norm-relu, conv-norm](x); `norms` gives the norm of each conv in order."""
    for j in range(n_res):
        y = nvidia_block(sd, f"{name}.model.{j}.model.0", x, 1, norm=next(norms))
        x = x + nvidia_block(sd, f"{name}.model.{j}.model.1", y, 1, norm=next(norms), activation=None)
    return x


def nvidia_content(sd, prefix, x, n_down=2, n_res=4):
    x = nvidia_block(sd, f"{prefix}.model.0", x, 3, norm=instance_norm)
    for i in range(n_down):
        x = nvidia_block(sd, f"{prefix}.model.{i + 1}", x, 1, stride=2, norm=instance_norm)
    return nvidia_res_blocks(sd, f"{prefix}.model.{n_down + 1}", x, n_res, iter([instance_norm] * 2 * n_res))


def munit_layer_norm(gamma, beta, eps=1e-5):
    def norm(x):  # per sample over (C, H, W), *unbiased* std, eps added to the std
        flat = x.reshape(x.shape[0], -1)
        mean, std = flat.mean(1).view(-1, 1, 1, 1), flat.std(1).view(-1, 1, 1, 1)
        return (x - mean) / (std + eps) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)
    return norm


def nvidia_decoder_forward(sd, x, norms, n_down=2, n_res=4):
    x = nvidia_res_blocks(sd, "dec.model.0", x, n_res, norms)
    for i in range(n_down):
        name = f"dec.model.{2 + 2 * i}"
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = nvidia_block(sd, name, x, 2, norm=munit_layer_norm(sd[f"{name}.norm.gamma"], sd[f"{name}.norm.beta"]))
    return nvidia_block(sd, f"dec.model.{1 + 2 * n_down}", x, 3, activation=torch.tanh)


def munit_style(sd, x):
    x = nvidia_block(sd, "enc_style.model.0", x, 3)
    for i in range(1, 5):
        x = nvidia_block(sd, f"enc_style.model.{i}", x, 1, stride=2)
    x = x.mean((2, 3), keepdim=True)  # AdaptiveAvgPool2d(1)
    return F.conv2d(x, sd["enc_style.model.6.weight"], sd["enc_style.model.6.bias"]).flatten(1)


def munit_decode(sd, content, style):
    """AdaINGen.decode: the MLP's output, read in order, gives each AdaIN [mean (its bias), std (its weight)]."""
    h = F.relu(F.linear(style, sd["mlp.model.0.fc.weight"], sd["mlp.model.0.fc.bias"]))
    h = F.relu(F.linear(h, sd["mlp.model.1.fc.weight"], sd["mlp.model.1.fc.bias"]))
    params = F.linear(h, sd["mlp.model.2.fc.weight"], sd["mlp.model.2.fc.bias"])
    channels = content.shape[1]

    def adain():
        for start in range(0, params.shape[1], 2 * channels):
            bias = params[:, start:start + channels, None, None]
            weight = params[:, start + channels:start + 2 * channels, None, None]
            yield lambda x, w=weight, b=bias: instance_norm(x) * w + b  # F.batch_norm(training=True) on (1, B*C, H, W)

    return nvidia_decoder_forward(sd, content, adain())


def funit_class_code(sd, references, n_class_down=4):
    """ClassModelEncoder on each of the K references (no norm, ReLU, reflect), then the mean over the K
    codes (FewShotGen.encode / test_k_shot.py): 1 x latent_dim."""
    x = nvidia_block(sd, "enc_class_model.model.0", references, 3)
    for i in range(1, n_class_down + 1):
        x = nvidia_block(sd, f"enc_class_model.model.{i}", x, 1, stride=2)
    x = x.mean((2, 3), keepdim=True)  # AdaptiveAvgPool2d(1)
    key = f"enc_class_model.model.{n_class_down + 2}"
    codes = F.conv2d(x, sd[f"{key}.weight"], sd[f"{key}.bias"])  # K x latent x 1 x 1
    return codes.mean(0, keepdim=True).flatten(1)


def funit_decode(sd, content, code, n_down=3, n_res=2):
    """FewShotGen.decode: the MLP on the averaged code; its output read in order gives each AdaIN [mean (bias),
    std (weight)]; AdaIN ResBlocks, then per up: nearest x2, reflect-padded 5x5 conv, plain instance norm, ReLU;
    the 7x7 conv and tanh."""
    h = F.relu(F.linear(code, sd["mlp.model.0.fc.weight"], sd["mlp.model.0.fc.bias"]))
    h = F.relu(F.linear(h, sd["mlp.model.1.fc.weight"], sd["mlp.model.1.fc.bias"]))
    params = F.linear(h, sd["mlp.model.2.fc.weight"], sd["mlp.model.2.fc.bias"])
    c = content.shape[1]
    # AdaptiveInstanceNorm2d: F.batch_norm(training=True) on (1, B*C, H, W), i.e. instance norm, then std, mean
    adain = iter([lambda x, s=s: instance_norm(x) * params[:, s + c:s + 2 * c, None, None]
                  + params[:, s:s + c, None, None] for s in range(0, params.shape[1], 2 * c)])
    x = nvidia_res_blocks(sd, "dec.model.0", content, n_res, adain)
    for i in range(n_down):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = nvidia_block(sd, f"dec.model.{2 + 2 * i}", x, 2, norm=instance_norm)
    return nvidia_block(sd, f"dec.model.{1 + 2 * n_down}", x, 3, activation=torch.tanh)


def funit_official(sd, x, references):
    """test_k_shot.py: decode(enc_content(content), mean of the K class codes)."""
    return funit_decode(sd, nvidia_content(sd, "enc_content", x, n_down=3, n_res=2), funit_class_code(sd, references))


def ugatit_mix(x, rho, eps=1e-5):  # adaILN / ILN: torch.var, i.e. unbiased
    x_in = (x - x.mean((2, 3), keepdim=True)) / torch.sqrt(x.var((2, 3), keepdim=True) + eps)
    x_ln = (x - x.mean((1, 2, 3), keepdim=True)) / torch.sqrt(x.var((1, 2, 3), keepdim=True) + eps)
    return rho * x_in + (1 - rho) * x_ln


def ugatit_generator(sd, x, n_blocks, light):
    x = F.relu(instance_norm(F.conv2d(reflect(x, 3), sd["DownBlock.1.weight"])))
    x = F.relu(instance_norm(F.conv2d(reflect(x, 1), sd["DownBlock.5.weight"], stride=2)))
    x = F.relu(instance_norm(F.conv2d(reflect(x, 1), sd["DownBlock.9.weight"], stride=2)))
    for i in range(n_blocks):
        p = f"DownBlock.{12 + i}.conv_block"
        y = F.relu(instance_norm(F.conv2d(reflect(x, 1), sd[f"{p}.1.weight"])))
        x = x + instance_norm(F.conv2d(reflect(y, 1), sd[f"{p}.5.weight"]))
    gap_logit = F.linear(x.mean((2, 3)), sd["gap_fc.weight"])
    gmp_logit = F.linear(x.amax((2, 3)), sd["gmp_fc.weight"])
    x = torch.cat([x * sd["gap_fc.weight"][:, :, None, None], x * sd["gmp_fc.weight"][:, :, None, None]], 1)
    x = F.relu(F.conv2d(x, sd["conv1x1.weight"], sd["conv1x1.bias"]))
    heatmap = x.sum(1, keepdim=True)
    h = x.mean((2, 3)) if light else x.reshape(x.shape[0], -1)
    h = F.relu(F.linear(F.relu(F.linear(h, sd["FC.0.weight"])), sd["FC.2.weight"]))
    gamma, beta = F.linear(h, sd["gamma.weight"])[:, :, None, None], F.linear(h, sd["beta.weight"])[:, :, None, None]
    for i in range(1, n_blocks + 1):
        p = f"UpBlock1_{i}"
        y = F.relu(ugatit_mix(F.conv2d(reflect(x, 1), sd[f"{p}.conv1.weight"]), sd[f"{p}.norm1.rho"]) * gamma + beta)
        x = x + ugatit_mix(F.conv2d(reflect(y, 1), sd[f"{p}.conv2.weight"]), sd[f"{p}.norm2.rho"]) * gamma + beta
    for conv, norm in ((2, 3), (7, 8)):
        x = F.conv2d(reflect(F.interpolate(x, scale_factor=2, mode="nearest"), 1), sd[f"UpBlock2.{conv}.weight"])
        scale, shift = sd[f"UpBlock2.{norm}.gamma"], sd[f"UpBlock2.{norm}.beta"]  # ILN's own
        x = F.relu(ugatit_mix(x, sd[f"UpBlock2.{norm}.rho"]) * scale + shift)
    return torch.tanh(F.conv2d(reflect(x, 3), sd["UpBlock2.11.weight"])), torch.cat([gap_logit, gmp_logit], 1), heatmap


def spectral_normalised(sd, name):
    """torch.nn.utils.spectral_norm in eval mode: weight_orig / (u . W v), with the stored u and v."""
    w = sd[f"{name}.weight_orig"]
    return w / torch.dot(sd[f"{name}.weight_u"], w.reshape(w.shape[0], -1) @ sd[f"{name}.weight_v"])


def ugatit_discriminator(sd, x, n_layers):
    for i in range(n_layers - 1):
        name = f"model.{3 * i + 1}"
        stride = 2 if i < n_layers - 2 else 1
        x = F.leaky_relu(F.conv2d(reflect(x, 1), spectral_normalised(sd, name), sd[f"{name}.bias"], stride=stride), 0.2)
    gap_logit = F.linear(x.mean((2, 3)), spectral_normalised(sd, "gap_fc"))
    gmp_logit = F.linear(x.amax((2, 3)), spectral_normalised(sd, "gmp_fc"))
    # the channel weights are list(fc.parameters())[0]: with the spectral-norm hook that is weight_orig
    x = torch.cat([x * sd["gap_fc.weight_orig"][:, :, None, None], x * sd["gmp_fc.weight_orig"][:, :, None, None]], 1)
    x = F.leaky_relu(F.conv2d(x, sd["conv1x1.weight"], sd["conv1x1.bias"]), 0.2)
    heatmap = x.sum(1, keepdim=True)
    return F.conv2d(reflect(x, 1), spectral_normalised(sd, "conv")), torch.cat([gap_logit, gmp_logit], 1), heatmap


def imaginaire_folded(sd):
    """The as-trained copy with spectral norm applied as at inference (the test's own fold: `spectral_normalised`)."""
    out = {}
    for key, value in sd.items():
        if key.endswith(".weight_orig"):
            name = key[:-len(".weight_orig")]
            out[f"{name}.weight"] = spectral_normalised(sd, name)
        elif not key.endswith((".weight_u", ".weight_v")):
            out[key] = value
    return out


def imaginaire_conv(sd, name, x, pad, stride=1):
    """A Conv2dBlock's conv: reflect padding (padding_mode="reflect"), bias."""
    return F.conv2d(reflect(x, pad) if pad else x, sd[f"{name}.layers.conv.weight"], sd[f"{name}.layers.conv.bias"],
                    stride=stride)


def imaginaire_instance(sd, name):
    """nn.InstanceNorm2d(affine=True), imaginaire's default."""
    weight, bias = sd[f"{name}.layers.norm.weight"], sd[f"{name}.layers.norm.bias"]
    return lambda x: instance_norm(x) * weight[None, :, None, None] + bias[None, :, None, None]


def imaginaire_adaptive(sd, name, h):
    """AdaptiveNorm: [gamma, beta] = fc(h).chunk(2); addcmul(beta, instance_norm(x), 1 + gamma)."""
    gamma, beta = F.linear(h, sd[f"{name}.layers.norm.fc.layers.conv.weight"],
                           sd[f"{name}.layers.norm.fc.layers.conv.bias"]).chunk(2, 1)
    return lambda x: beta[:, :, None, None] + instance_norm(x) * (1 + gamma[:, :, None, None])


def imaginaire_style_code(sd, prefix, x, n_down):
    x = F.relu(imaginaire_conv(sd, f"{prefix}.model.0", x, 3))
    for i in range(1, n_down + 1):
        x = F.relu(imaginaire_conv(sd, f"{prefix}.model.{i}", x, 1, stride=2))
    head = f"{prefix}.model.{n_down + 2}"
    return F.conv2d(x.mean((2, 3), keepdim=True), sd[f"{head}.weight"], sd[f"{head}.bias"]).flatten(1)


def imaginaire_content_code(sd, prefix, x, n_down, n_res, pre_act=True):
    """Conv2dBlocks CNA; Res2dBlocks pre-activation (NACNAC) or CNACNA (a ReLU after the second norm too)."""
    x = F.relu(imaginaire_instance(sd, f"{prefix}.model.0")(imaginaire_conv(sd, f"{prefix}.model.0", x, 3)))
    for i in range(1, n_down + 1):
        name = f"{prefix}.model.{i}"
        x = F.relu(imaginaire_instance(sd, name)(imaginaire_conv(sd, name, x, 1, stride=2)))
    return imaginaire_res_blocks(sd, prefix + ".model", range(n_down + 1, n_down + 1 + n_res), x, pre_act,
                                 lambda name: imaginaire_instance(sd, name))


def imaginaire_res_blocks(sd, prefix, blocks, x, pre_act, norm_of):
    for j in blocks:
        first, second = f"{prefix}.{j}.conv_block_0", f"{prefix}.{j}.conv_block_1"
        if pre_act:
            y = imaginaire_conv(sd, first, F.relu(norm_of(first)(x)), 1)
            x = x + imaginaire_conv(sd, second, F.relu(norm_of(second)(y)), 1)
        else:
            y = F.relu(norm_of(first)(imaginaire_conv(sd, first, x, 1)))
            x = x + F.relu(norm_of(second)(imaginaire_conv(sd, second, y, 1)))
    return x


def imaginaire_mlp_forward(sd, prefix, x, n_layers=2):
    for k in range(n_layers):  # LinearBlocks, each with its ReLU
        layer = f"{prefix}.model.{k}.layers.conv"
        x = F.relu(F.linear(x, sd[f"{layer}.weight"], sd[f"{layer}.bias"]))
    return x


def imaginaire_munit_decode(sd, ae, content, style, n_down=2, n_res=4):
    """AutoEncoder.decode: h = mlp(style); pre-activation AdaIN Res2dBlocks; (nearest x2, 5x5 conv, AdaIN, ReLU)
    per up; the 7x7 conv, no nonlinearity; the test's clamp to [-1, 1] (trainers/base.py test())."""
    h = imaginaire_mlp_forward(sd, f"{ae}.mlp", style)
    x = imaginaire_res_blocks(sd, f"{ae}.decoder.decoder", range(n_res), content, True,
                              lambda name: imaginaire_adaptive(sd, name, h))
    for i in range(n_down):
        name = f"{ae}.decoder.decoder.{n_res + 1 + 2 * i}"
        x = imaginaire_conv(sd, name, F.interpolate(x, scale_factor=2, mode="nearest"), 2)
        x = F.relu(imaginaire_adaptive(sd, name, h)(x))
    return imaginaire_conv(sd, f"{ae}.decoder.decoder.{n_res + 2 * n_down}", x, 3).clamp(-1, 1)


def imaginaire_unit_translate(sd, source, target, x, n_down=2, n_res=4):
    """Generator.inference: the source's content encoder, the target's decoder (affine instance norms), clamped."""
    x = imaginaire_content_code(sd, f"{source}.content_encoder", x, n_down, n_res)
    x = imaginaire_res_blocks(sd, f"{target}.decoder.decoder", range(n_res), x, True,
                              lambda name: imaginaire_instance(sd, name))
    for i in range(n_down):
        name = f"{target}.decoder.decoder.{n_res + 1 + 2 * i}"
        x = imaginaire_conv(sd, name, F.interpolate(x, scale_factor=2, mode="nearest"), 2)
        x = F.relu(imaginaire_instance(sd, name)(x))
    return imaginaire_conv(sd, f"{target}.decoder.decoder.{n_res + 2 * n_down}", x, 3).clamp(-1, 1)


def imaginaire_funit_translate(sd, x, style_image, n_down=4, n_style_down=5, coco=False):
    """FUNITTranslator / COCOFUNITTranslator: decode(content_encoder(x), style_encoder(style image)). COCO: the
    style is mlp_style([style, usb]) * mlp_content(mean of the content), then the MLP; decoder: two CNACNA
    AdaIN Res2dBlocks, UpRes2dBlocks (main: conv, AdaIN, ReLU, nearest x2, conv, AdaIN, ReLU; shortcut: nearest
    x2, 1x1 conv, AdaIN, ReLU), the 7x7 conv and tanh."""
    content = imaginaire_content_code(sd, "generator.content_encoder", x, n_down, 2, pre_act=False)
    style = imaginaire_style_code(sd, "generator.style_encoder", style_image, n_style_down)
    if coco:
        content_style = imaginaire_mlp_forward(sd, "generator.mlp_content", content.mean(3).mean(2))
        usb = sd["generator.usb"].repeat(style.shape[0], 1)
        style = imaginaire_mlp_forward(sd, "generator.mlp_style", torch.cat([style, usb], 1)) * content_style
    h = imaginaire_mlp_forward(sd, "generator.mlp", style)
    ada = lambda name: imaginaire_adaptive(sd, name, h)  # noqa: E731
    x = imaginaire_res_blocks(sd, "generator.decoder.decoder", range(2), content, False, ada)
    up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
    for i in range(n_down):
        b = f"generator.decoder.decoder.{2 + i}"
        shortcut = F.relu(ada(f"{b}.conv_block_s")(imaginaire_conv(sd, f"{b}.conv_block_s", up(x), 0)))
        y = up(F.relu(ada(f"{b}.conv_block_0")(imaginaire_conv(sd, f"{b}.conv_block_0", x, 2))))
        x = shortcut + F.relu(ada(f"{b}.conv_block_1")(imaginaire_conv(sd, f"{b}.conv_block_1", y, 2)))
    return torch.tanh(imaginaire_conv(sd, f"generator.decoder.decoder.{2 + n_down}", x, 3))


# --- helpers ------------------------------------------------------------------------------------------------
def run_convert(tmp_path, checkpoint, fmt, *extra, name="model"):
    src = tmp_path / f"{name}.pth"
    torch.save(checkpoint, src)
    out = main([str(src), "--format", fmt, "-o", str(tmp_path / name), *map(str, extra)])
    return out, translator.load(str(out), allow_local=True, warm_up=False)


def image(size, seed=1):
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def assert_loads_every_key(out, expected_count):
    """The folder holds exactly the network's keys (no missing, no extra), as many as the official non-legacy ones."""
    import json

    config = json.loads((out / "config.json").read_text())
    family = translator.FAMILIES[config["family"]]
    network = family.network(**{k: v for k, v in config.items() if k != "family"})
    weights = load_file(out / "model.safetensors")
    assert set(weights) == set(network.state_dict()) and len(weights) == expected_count


def max_difference(ours, official):
    return (ours - official).abs().max().item()


# --- junyanz CycleGAN -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_blocks", [9, 6])
def test_cyclegan_both_generators_convert_and_match_the_official_forward(tmp_path, n_blocks):
    g_a, g_b = randomise(junyanz_resnet(NGF, n_blocks), 1), randomise(junyanz_resnet(NGF, n_blocks), 2)
    torch.save(g_b, tmp_path / "latest_net_G_B.pth")
    out, t = run_convert(tmp_path, g_a, "junyanz-cyclegan", "--other", tmp_path / "latest_net_G_B.pth",
                         "--domain-a", "horse", "--domain-b", "zebra", name="latest_net_G_A")
    assert t.family_name == "cyclegan" and t.directions == ("a2b", "b2a") and t.domains == ("horse", "zebra")
    assert_loads_every_key(out, 2 * len(g_a))
    x = image(64)
    with torch.inference_mode():
        assert max_difference(t.translate_tensor(x, "a2b"), official_resnet(g_a, x, n_blocks)) <= 1e-5
        assert max_difference(t.translate_tensor(x, "b2a"), official_resnet(g_b, x, n_blocks)) <= 1e-5
    card = (out / "README.md").read_text()
    assert "sha256" in card and "Zhu, Park, Isola, Efros" in card and "BSD-2-Clause" in card


def test_a_single_b2a_generator_is_a_one_way_model_from_b_to_a(tmp_path, emoji_like):
    g = randomise(junyanz_resnet(NGF, 9), 3)
    out, t = run_convert(tmp_path, g, "junyanz-cyclegan", "--direction", "b2a", "--domain-a", "horse",
                         "--domain-b", "zebra", name="zebra2horse")
    assert t.directions == ("a2b",) and t.domains == ("zebra", "horse") and t.config["one_way"] is True
    assert_loads_every_key(out, len(g))
    x = image(64)
    with torch.inference_mode():
        assert max_difference(t.translate_tensor(x), official_resnet(g, x, 9)) <= 1e-5
    result = t.cycle(emoji_like)
    assert result.translation.mode == "RGB" and result.reconstruction is None  # no way back
    with pytest.raises(translator.OptionsError, match="one way only"):
        t.translate(emoji_like, direction="b2a")


def test_pre_0_4_instance_norm_buffers_are_dropped_by_name(tmp_path):
    g = randomise(junyanz_resnet(NGF, 9), 4)
    legacy = {f"{norm}.{buffer}": torch.zeros(c) if buffer != "num_batches_tracked" else torch.tensor(0)
              for norm, c in (("model.2", NGF), ("model.10.conv_block.2", 4 * NGF), ("model.20", 2 * NGF))
              for buffer in ("running_mean", "running_var", "num_batches_tracked")}
    out, t = run_convert(tmp_path, {**g, **legacy}, "junyanz-cyclegan", name="horse2zebra")
    assert_loads_every_key(out, len(g))
    assert "Entries dropped by name (legacy buffers, optimizer state; never weights): 9" in (out / "README.md").read_text()
    x = image(64)
    with torch.inference_mode():
        assert max_difference(t.translate_tensor(x), official_resnet(g, x, 9)) <= 1e-5


# --- junyanz pix2pix ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_downs", [8, 7], ids=["unet_256", "unet_128"])
def test_pix2pix_converts_and_matches_the_official_train_mode_test_without_dropout(tmp_path, num_downs):
    g = randomise(junyanz_unet(NGF, num_downs), 5)
    out, t = run_convert(tmp_path, g, "junyanz-pix2pix", "--domain-a", "edges", "--domain-b", "shoes")
    assert t.image_size == 2 ** num_downs and t.config["test_dropout"] is False
    assert_loads_every_key(out, len(g))
    x = image(2 ** num_downs)
    with torch.inference_mode():
        assert max_difference(t.translate_tensor(x), official_unet(g, x, num_downs)) <= 1e-5


def test_an_instance_norm_unet_converts_too(tmp_path):
    g = randomise(junyanz_unet(NGF, 7, norm="instance"), 5)
    out, t = run_convert(tmp_path, g, "junyanz-pix2pix")
    assert t.config["norm"] == "instance"
    assert_loads_every_key(out, len(g))
    x = image(128)
    with torch.inference_mode():
        assert max_difference(t.translate_tensor(x), official_unet(g, x, 7)) <= 1e-5


def test_pix2pix_with_test_dropout_is_the_official_stochastic_test(tmp_path):
    g = randomise(junyanz_unet(NGF, 8), 6)
    _, t = run_convert(tmp_path, g, "junyanz-pix2pix", "--test-dropout")
    x = image(256)
    with torch.inference_mode():
        torch.manual_seed(11)
        ours = t.translate_tensor(x)
        torch.manual_seed(11)
        official = official_unet(g, x, 8, dropout=True)
        assert max_difference(ours, official) <= 1e-5
        assert max_difference(t.translate_tensor(x), ours) > 1e-3  # a new draw of the dropout masks


def test_pix2pix_files_without_batch_norm_counters_still_convert(tmp_path):
    g = randomise(junyanz_unet(NGF, 7), 7)
    old = {k: v for k, v in g.items() if not k.endswith("num_batches_tracked")}  # written before PyTorch 0.4.1
    out, t = run_convert(tmp_path, old, "junyanz-pix2pix")
    assert_loads_every_key(out, len(g))
    x = image(128)
    with torch.inference_mode():
        assert max_difference(t.translate_tensor(x), official_unet(g, x, 7)) <= 1e-5


# --- MUNIT and UNIT -------------------------------------------------------------------------------------------
ENC_CONTENT_03 = [f"enc_content.model.{i}.norm" for i in range(3)] + [
    f"enc_content.model.3.model.{j}.model.{slot}.norm" for j in range(4) for slot in range(2)]


def test_munit_converts_drops_its_unused_buffers_and_matches_the_official_forward(tmp_path):
    a, b = randomise(munit_gen(NGF), 8), randomise(munit_gen(NGF), 9)
    adain_buffers = [k for k in a if ".norm.running_" in k]
    assert len(adain_buffers) == 16
    legacy = {f"{name}.{buffer}": torch.zeros(4 * NGF)
              for name in ENC_CONTENT_03 for buffer in ("running_mean", "running_var")}
    out, t = run_convert(tmp_path, {"a": {**a, **legacy}, "b": b}, "munit", "--domain-a", "edges",
                         "--domain-b", "shoes", name="edges2shoes")
    assert t.style_dim == 8
    assert_loads_every_key(out, 2 * (len(a) - 16))
    x, reference = image(64), image(64, seed=2)
    style = torch.randn(1, 8, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        official_a2b = munit_decode(b, nvidia_content(a, "enc_content", x), style)
        assert max_difference(t.translate_tensor(x, "a2b", style=style), official_a2b) <= 1e-5
        official_b2a = munit_decode(a, nvidia_content(b, "enc_content", x), munit_style(a, reference))
        assert max_difference(t.translate_tensor(x, "b2a", reference=reference), official_b2a) <= 1e-5
    card = (out / "README.md").read_text()
    assert f"Entries dropped by name (legacy buffers, optimizer state; never weights): {16 + 16 + 22}" in card  # AdaIN's in both, 0.3's in 'a'
    assert "Non-commercial" in card and "cc-by-nc-sa-4.0" in card
    assert "non-commercial" in t.config["licence_note"]


def test_unit_converts_and_matches_the_official_forward(tmp_path):
    a, b = randomise(unit_gen(NGF), 10), randomise(unit_gen(NGF), 11)
    legacy = {f"{name.replace('enc_content', 'enc')}.{buffer}": torch.zeros(4 * NGF)
              for name in ENC_CONTENT_03 for buffer in ("running_mean", "running_var")}
    out, t = run_convert(tmp_path, {"a": a, "b": {**b, **legacy}}, "unit", name="gen_00100000")
    assert t.config["n_shared"] == 0 and "non-commercial" in t.config["licence_note"]
    assert_loads_every_key(out, len(a) + len(b))
    x = image(64)
    in_norms = lambda: iter([instance_norm] * 8)  # noqa: E731
    with torch.inference_mode():
        official_a2b = nvidia_decoder_forward(b, nvidia_content(a, "enc", x), in_norms())
        assert max_difference(t.translate_tensor(x, "a2b"), official_a2b) <= 1e-5
        official_b2a = nvidia_decoder_forward(a, nvidia_content(b, "enc", x), in_norms())
        assert max_difference(t.translate_tensor(x, "b2a"), official_b2a) <= 1e-5
    assert "Non-commercial" in (out / "README.md").read_text()


# --- FUNIT ----------------------------------------------------------------------------------------------------
def small_funit(seed):
    return randomise(funit_gen(NGF, latent_dim=64 // NGF, mlp_dim=256 // NGF), seed)


def test_funit_converts_gen_test_and_matches_the_official_k_shot_forward(tmp_path):
    gen, gen_test = small_funit(18), small_funit(19)
    adain_buffers = [k for k in gen_test if ".norm.running_" in k]
    assert len(adain_buffers) == 8
    out, t = run_convert(tmp_path, {"gen": gen, "gen_test": gen_test}, "funit", "--image-size", 64,
                         name="animal149_gen")
    assert t.family_name == "funit" and t.image_size == 64 and t.domains == ("content", "references")
    assert t.config["inputs"] == "images" and "non-commercial" in t.config["licence_note"]
    assert_loads_every_key(out, len(gen_test) - 8)
    x, references = image(64), torch.cat([image(64, seed=s) for s in (2, 3, 4)])  # K = 3
    with torch.inference_mode():
        official = funit_official(gen_test, x, references)
        assert max_difference(t.translate_tensor(x, references=references), official) <= 1e-5
        assert max_difference(t.translate_tensor(x, references=references), funit_official(gen, x, references)) > 1e-2
        reconstruction = funit_official(gen_test, x, x)  # no references: the content's own class code
        assert max_difference(t.translate_tensor(x), reconstruction) <= 1e-5
    card = (out / "README.md").read_text()
    assert "Entries dropped by name (legacy buffers, optimizer state; never weights): 8" in card and "'gen_test'" in card and "sha256" in card
    assert "Non-commercial" in card and "cc-by-nc-sa-4.0" in card and "Liu, Huang, Mallya" in card


def test_funit_without_gen_test_converts_gen_with_a_warning_and_other_entries_are_errors(tmp_path):
    gen = small_funit(20)
    with pytest.warns(UserWarning, match="no 'gen_test'"):
        out, t = run_convert(tmp_path, {"gen": gen}, "funit", "--image-size", 64, "--domain-a", "dog",
                             "--domain-b", "new species", name="gen_only")
    assert t.domains == ("dog", "new species")
    x, references = image(64), torch.cat([image(64, seed=s) for s in (5, 6)])
    with torch.inference_mode():
        assert max_difference(t.translate_tensor(x, references=references), funit_official(gen, x, references)) <= 1e-5
    assert "('gen'): the file has no averaged 'gen_test'" in (out / "README.md").read_text()
    out, _ = run_convert(tmp_path, {"gen_test": gen}, "funit", "--image-size", 64, name="gen_test_only")
    assert "('gen_test'), which the official test uses." in (out / "README.md").read_text()  # nothing left out
    torch.save({"gen": gen, "gen_test": gen, "dis": {}}, tmp_path / "with_dis.pt")
    with pytest.raises(WeightsError, match="unexpected 'dis'"):
        convert(parse_args([str(tmp_path / "with_dis.pt"), "--format", "funit", "-o", str(tmp_path / "out")]))
    torch.save({"dis": {}}, tmp_path / "dis_only.pt")
    with pytest.raises(WeightsError, match="missing 'gen', 'gen_test'"):
        convert(parse_args([str(tmp_path / "dis_only.pt"), "--format", "funit", "-o", str(tmp_path / "out")]))


# --- imaginaire -----------------------------------------------------------------------------------------------
AVERAGED = "module.averaged_model."


def small_imaginaire_munit(seed, **kwargs):
    return randomise(imaginaire_munit_gen(NGF, mlp_dim=256 // NGF, max_dim=256 // NGF, **kwargs), seed)


def net_g(state, prefix=AVERAGED):
    return {prefix + k: v for k, v in state.items()}


def training_checkpoint(net_G):
    """imaginaire's _save_checkpoint: the generator's wrapped ModelAverage and the rest of the training state."""
    return {"net_G": net_G, "net_D": {"module.model.0.weight": torch.zeros(2)},
            "opt_G": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.5, 0.999), "params": [0, 1]}]},
            "opt_D": {"state": {}, "param_groups": []}, "sch_G": {"last_epoch": 3}, "sch_D": {"last_epoch": 3},
            "current_epoch": 3, "current_iteration": 200_000}


def max_differences(t, ours, official, state, *inputs):
    """(float64, float32) max abs differences between ours(*inputs) and official(state, *inputs). imaginaire's
    deep decoders (AdaIN scaling by 1 + gamma, instance norms over 4 x 4 maps) amplify float32 rounding on
    random weights: either side lands ~4e-5 from the float64 result, alike. So the maths are compared in
    float64 (the converted float32 weights, cast), where they agree to ~1e-13, and float32 is held to 1e-4."""
    with torch.inference_mode():
        in32 = max_difference(ours(*inputs), official(state, *inputs))
        t.model.double()
        try:
            wide = [x.double() for x in inputs]
            in64 = max_difference(ours(*wide), official({k: v.double() for k, v in state.items()}, *wide))
        finally:
            t.model.float()
    return in64, in32


def test_imaginaire_munit_converts_the_averaged_generator_and_matches_its_forward(tmp_path):
    averaged, trained = small_imaginaire_munit(30), with_spectral_norm(small_imaginaire_munit(31))
    checkpoint = training_checkpoint({**net_g(averaged), **net_g(trained, "module.module."),
                                      "module.num_updates_tracked": torch.tensor(200_000)})
    out, t = run_convert(tmp_path, checkpoint, "imaginaire-munit", "--domain-a", "dog", "--domain-b", "cat",
                         name="epoch_00040_iteration_000200000_checkpoint")
    config = t.config
    assert (config["res_block"], config["instance_affine"], config["up_norm"], config["adain_scale"],
            config["output"], config["max_dim"]) == ("pre_act", True, "adain", "1+gamma", "clamp", 32)
    assert t.image_size == 256 and t.style_dim == 8 and "non-commercial" in config["licence_note"]
    fcs = sum(k.endswith("norm.fc.layers.conv.weight") for k in averaged)
    assert fcs == 2 * 10
    assert_loads_every_key(out, len(averaged) - 2 * fcs + 2 * 2)  # the 2 x 10 fcs: one Linear per autoencoder
    x, reference = image(64), image(64, seed=2)
    style = torch.randn(1, 8, generator=torch.Generator().manual_seed(3))

    def official_a2b(sd, x, style):  # Generator.inference(a2b=True, random_style=True), the style given
        return imaginaire_munit_decode(sd, "autoencoder_b", imaginaire_content_code(sd, "autoencoder_a.content_encoder",
                                                                                    x, 2, 4), style)

    def official_b2a(sd, x, reference):  # a2b=False, random_style=False: the style of the paired A image
        content = imaginaire_content_code(sd, "autoencoder_b.content_encoder", x, 2, 4)
        return imaginaire_munit_decode(sd, "autoencoder_a", content,
                                       imaginaire_style_code(sd, "autoencoder_a.style_encoder", reference, 4))

    in64, in32 = max_differences(t, lambda x, s: t.translate_tensor(x, "a2b", style=s), official_a2b, averaged, x,
                                 style)
    assert in64 <= 1e-5 and in32 <= 1e-4
    in64, in32 = max_differences(t, lambda x, r: t.translate_tensor(x, "b2a", reference=r), official_b2a, averaged, x,
                                 reference)
    assert in64 <= 1e-5 and in32 <= 1e-4
    with torch.inference_mode():
        assert 0 < (official_a2b(averaged, x, style).abs() == 1).float().mean() < 0.5  # clamped here and there
    card = (out / "README.md").read_text()
    assert "`module.averaged_model`" in card and f"(`module.module`, {len(trained)} keys) is left out" in card
    assert "Entries dropped by name (legacy buffers, optimizer state; never weights): 1" in card and "num_updates_tracked" in card and "sha256" in card
    assert "NVIDIA Source Code License" in card and "license: other" in card and "1 + γ" in card


def test_imaginaire_munit_as_trained_hd_folds_spectral_norm_with_a_warning(tmp_path):
    # summer2winter_hd: 3 downsamplings, the content width held at max_num_filters
    trained = with_spectral_norm(small_imaginaire_munit(32, n_down=3))
    assert sum(k.endswith("weight_orig") for k in trained) == 2 * 28
    with pytest.warns(UserWarning, match="no averaged generator"):
        out, t = run_convert(tmp_path, {"net_G": net_g(trained, "module.module.")}, "imaginaire-munit",
                             "--image-size", 64, name="hd")
    assert t.config["max_dim"] == 32 and t.config["n_downsample"] == 3
    assert "56 spectral-normalised weights folded" in (out / "README.md").read_text()
    folded = imaginaire_folded(trained)  # in float32, from the file's values, as imaginaire's inference does
    x = image(64)
    style = torch.randn(1, 8, generator=torch.Generator().manual_seed(4))

    def official(sd, x, style):
        content = imaginaire_content_code(sd, "autoencoder_a.content_encoder", x, 3, 4)
        return imaginaire_munit_decode(sd, "autoencoder_b", content, style, n_down=3)

    in64, in32 = max_differences(t, lambda x, s: t.translate_tensor(x, "a2b", style=s), official, folded, x, style)
    assert in64 <= 1e-5 and in32 <= 1e-4
    name = "module.module.autoencoder_a.content_encoder.model.1.layers.conv.weight_u"
    del trained[name[len("module.module."):]]
    torch.save({"net_G": net_g(trained, "module.module.")}, tmp_path / "no_u.pt")
    with pytest.raises(WeightsError, match=re.escape(repr(name))), pytest.warns(UserWarning):
        convert(parse_args([str(tmp_path / "no_u.pt"), "--format", "imaginaire-munit", "-o", str(tmp_path / "o")]))
    torch.save({"net_D": {}, "opt_G": {}}, tmp_path / "no_net_g.pt")
    with pytest.raises(WeightsError, match="missing 'net_G'"):
        convert(parse_args([str(tmp_path / "no_net_g.pt"), "--format", "imaginaire-munit", "-o", str(tmp_path / "o")]))


def test_imaginaire_unit_converts_and_matches_its_forward(tmp_path):
    averaged = randomise(imaginaire_unit_gen(48 // NGF), 33)  # dim 6, as winter2summer's 48 at 1/8
    out, t = run_convert(tmp_path, {"net_G": {**net_g(averaged), "module.num_updates_tracked": torch.tensor(9)}},
                         "imaginaire-unit", "--domain-a", "winter", "--domain-b", "summer", name="winter2summer")
    config = t.config
    assert (config["res_block"], config["instance_affine"], config["up_norm"], config["output"],
            config["n_shared"]) == ("pre_act", True, "instance", "clamp", 0)
    assert_loads_every_key(out, len(averaged))
    x = image(64)
    for direction, source, target in (("a2b", "autoencoder_a", "autoencoder_b"),
                                      ("b2a", "autoencoder_b", "autoencoder_a")):
        in64, in32 = max_differences(t, lambda x: t.translate_tensor(x, direction),
                                     lambda sd, x: imaginaire_unit_translate(sd, source, target, x), averaged, x)
        assert in64 <= 1e-5 and in32 <= 1e-4
    assert "Non-commercial" in (out / "README.md").read_text()


@pytest.mark.parametrize("coco", [False, True], ids=["funit", "coco_funit"])
def test_imaginaire_funit_and_coco_funit_convert_and_match_their_forward(tmp_path, coco):
    layout = imaginaire_funit_gen(NGF, 64 // NGF, 256 // NGF, usb_dim=1024 // NGF if coco else None)
    averaged = randomise(layout, 34 + coco)
    fmt = "imaginaire-coco-funit" if coco else "imaginaire-funit"
    out, t = run_convert(tmp_path, training_checkpoint(net_g(averaged)), fmt, "--image-size", 64, name="animal149")
    config = t.config
    assert (config["res_block"], config["instance_affine"], config["adain_scale"], config["up_block"],
            config["style_encoder"]) == ("post_relu", True, "1+gamma", "residual", "coco" if coco else "funit")
    assert t.domains == ("content", "references") and "non-commercial" in config["licence_note"]
    fcs = sum(k.endswith("norm.fc.layers.conv.weight") for k in averaged)
    assert fcs == 4 + 3 * 4
    assert_loads_every_key(out, len(averaged) - 2 * fcs + 2)
    x, style_image = image(64), image(64, seed=5)
    official = lambda sd, x, style_image: imaginaire_funit_translate(sd, x, style_image, coco=coco)  # noqa: E731
    in64, in32 = max_differences(t, lambda x, r: t.translate_tensor(x, references=r), official, averaged, x,
                                 style_image)  # K = 1: the inference's one style image per content image
    assert in64 <= 1e-5 and in32 <= 1e-4
    in64, in32 = max_differences(t, lambda x: t.translate_tensor(x), lambda sd, x: official(sd, x, x), averaged, x)
    assert in64 <= 1e-5 and in32 <= 1e-4  # no references: Generator.forward's images_recon
    card = (out / "README.md").read_text()
    assert f"imaginaire {'COCO-FUNIT' if coco else 'FUNIT'}: dim 8" in card and "K = 1 is its output" in card
    with pytest.raises(WeightsError, match="unexpected .*usb" if not coco else "missing .*usb"):
        other = {k: v for k, v in averaged.items() if k != "generator.usb"} if coco else \
            {**averaged, "generator.usb": torch.zeros(1, 128)}
        torch.save({"net_G": net_g(other)}, tmp_path / "other.pt")
        convert(parse_args([str(tmp_path / "other.pt"), "--format", fmt, "-o", str(tmp_path / "o")]))


# --- U-GAT-IT -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("light", [True, False], ids=["light", "full"])
def test_ugatit_converts_and_matches_the_official_generators_and_discriminators(tmp_path, light):
    size = 128  # the global discriminator's 7 layers need at least 128 px
    checkpoint = {"genA2B": randomise(ugatit_gen(NGF, 4, size, light), 12),
                  "genB2A": randomise(ugatit_gen(NGF, 4, size, light), 13),
                  "disGA": randomise(ugatit_dis(NGF, 7), 14), "disGB": randomise(ugatit_dis(NGF, 7), 15),
                  "disLA": randomise(ugatit_dis(NGF, 5), 16), "disLB": randomise(ugatit_dis(NGF, 5), 17)}
    extra = [] if not light else ["--image-size", size]
    out, t = run_convert(tmp_path, checkpoint, "ugatit-pytorch", *extra, name="selfie2anime_params_0100000")
    assert t.config["light"] is light and t.image_size == size and t.config["d_raw_cam_weights"] is True
    assert_loads_every_key(out, sum(len(state) for state in checkpoint.values()))
    x = image(size)
    with torch.inference_mode():
        for direction, official, ours in (("a2b", "genA2B", t.model.gen_ab), ("b2a", "genB2A", t.model.gen_ba)):
            expected = ugatit_generator(checkpoint[official], x, 4, light)
            assert max_difference(t.translate_tensor(x, direction), expected[0]) <= 1e-5
            for got, want in zip(ours(x)[1:], expected[1:]):  # CAM logits and heatmap
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        for official, ours, n_layers in (("disGA", t.model.d_global_a, 7), ("disGB", t.model.d_global_b, 7),
                                         ("disLA", t.model.d_local_a, 5), ("disLB", t.model.d_local_b, 5)):
            for got, want in zip(ours(x), ugatit_discriminator(checkpoint[official], x, n_layers)):
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    t.attention(torch.rand(3, 90, 120).mul(255).byte().permute(1, 2, 0).numpy())  # the app's method runs


# --- every key accounted for ----------------------------------------------------------------------------------
def checkpoints():
    """(format, a small official checkpoint, where to add an unknown key, a key to take away)."""
    ugatit = {"genA2B": randomise(ugatit_gen(NGF, 4, 64, True)), "genB2A": randomise(ugatit_gen(NGF, 4, 64, True)),
              "disGA": randomise(ugatit_dis(NGF, 7)), "disGB": randomise(ugatit_dis(NGF, 7)),
              "disLA": randomise(ugatit_dis(NGF, 5)), "disLB": randomise(ugatit_dis(NGF, 5))}
    return [("junyanz-cyclegan", randomise(junyanz_resnet(NGF, 9)), None, "model.4.bias"),
            ("junyanz-pix2pix", randomise(junyanz_unet(NGF, 7)), None, "model.model.1.model.2.running_var"),
            ("munit", {"a": randomise(munit_gen(NGF)), "b": randomise(munit_gen(NGF))}, "b", "mlp.model.1.fc.bias"),
            ("unit", {"a": randomise(unit_gen(NGF)), "b": randomise(unit_gen(NGF))}, "b", "dec.model.4.norm.gamma"),
            ("funit", {"gen": small_funit(0), "gen_test": small_funit(1)}, "gen_test", "dec.model.4.conv.bias"),
            ("imaginaire-munit", {"net_G": net_g(small_imaginaire_munit(0))}, "net_G",
             AVERAGED + "autoencoder_b.decoder.decoder.5.layers.norm.fc.layers.conv.bias"),
            ("imaginaire-unit", {"net_G": net_g(randomise(imaginaire_unit_gen(6)))}, "net_G",
             AVERAGED + "autoencoder_a.content_encoder.model.3.conv_block_1.layers.norm.weight"),
            ("imaginaire-funit", {"net_G": net_g(randomise(imaginaire_funit_gen(NGF, 8, 32)))}, "net_G",
             AVERAGED + "generator.decoder.decoder.3.conv_block_s.layers.conv.bias"),
            ("imaginaire-coco-funit", {"net_G": net_g(randomise(imaginaire_funit_gen(NGF, 8, 32, usb_dim=128)))},
             "net_G", AVERAGED + "generator.mlp_style.model.1.layers.conv.weight"),
            ("ugatit-pytorch", ugatit, "disLB", "conv1x1.bias")]


@pytest.mark.parametrize("fmt, checkpoint, part, key", checkpoints(), ids=lambda v: v if isinstance(v, str) else "-")
def test_an_unknown_key_and_a_missing_key_are_errors_that_name_them(tmp_path, fmt, checkpoint, part, key):
    state = checkpoint[part] if part else checkpoint
    src = tmp_path / "checkpoint.pth"
    state["model.99.weight"] = torch.zeros(3)
    torch.save(checkpoint, src)
    with pytest.raises(WeightsError, match=re.escape("'model.99.weight'")):
        convert(parse_args([str(src), "--format", fmt, "-o", str(tmp_path / "extra")]))
    del state["model.99.weight"], state[key]
    torch.save(checkpoint, src)
    with pytest.raises(WeightsError, match=re.escape(repr(key))):
        convert(parse_args([str(src), "--format", fmt, "-o", str(tmp_path / "missing")]))


def test_a_wrong_shape_a_wrong_container_and_the_command_line_error(tmp_path):
    g = randomise(junyanz_resnet(NGF, 9))
    g["model.26.weight"] = torch.zeros(3, NGF, 5, 5)
    torch.save(g, tmp_path / "g.pth")
    with pytest.raises(WeightsError, match=re.escape("'model.26.weight' is (3, 8, 5, 5)")):
        convert(parse_args([str(tmp_path / "g.pth"), "--format", "junyanz-cyclegan", "-o", str(tmp_path / "out")]))
    torch.save({"a": randomise(unit_gen(NGF)), "b": randomise(unit_gen(NGF)), "c": {}}, tmp_path / "gen.pt")
    with pytest.raises(SystemExit, match="unexpected 'c'"):  # the command says it without a traceback
        main([str(tmp_path / "gen.pt"), "--format", "unit", "-o", str(tmp_path / "out")])


def test_a_file_that_needs_full_unpickling_is_refused_unless_trusted(tmp_path):
    plain = tmp_path / "plain.pth"
    torch.save({"model.1.weight": torch.zeros(1)}, plain)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_checkpoint(plain)
    pickled = tmp_path / "pickled.pth"
    torch.save({"opts": argparse.Namespace(lr=0.0002)}, pickled)  # an options object, as old scripts saved
    with pytest.raises(WeightsError, match="--trust-pickle"):  # a pickled object and a payload fail alike
        read_checkpoint(pickled)
    with pytest.warns(UserWarning, match="weights_only=False"):
        assert read_checkpoint(pickled, trust_pickle=True)["opts"].lr == 0.0002
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(plain.read_bytes()[:100])
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        read_checkpoint(truncated)
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(SystemExit, match="^error: .*text.pth"):  # said plainly, no traceback
        main([str(tmp_path / "text.pth"), "--format", "unit", "-o", str(tmp_path / "out")])
