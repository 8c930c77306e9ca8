"""training.convert: a checkpoint of each official format -- the official key names and shapes, random
values, small widths at the official depths -- converts into a folder `translator.load` takes, and the
converted model gives what the official forward pass gives on the same weights (max abs difference
<= 1e-5 on images).

The layouts and forward passes below are this test's own reading of the official code (junyanz
networks.py, NVlabs/MUNIT and mingyuliutw/UNIT networks.py, znxlwm/UGATIT-pytorch networks.py), written as
plain functional torch on the official state dicts; they share nothing with translator's modules or the
converter's tables. The layouts are pinned by the parameter and key counts measured on the official
classes (shared/reference/official-implementations.md, appendix A1-A14).
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


def parameters_of(layout):
    buffers = ("running_mean", "running_var", "num_batches_tracked", "weight_u", "weight_v")
    return sum(math.prod(shape) for key, shape in layout.items() if not key.endswith(buffers))


@pytest.mark.parametrize("layout, parameters, keys", [
    (junyanz_resnet(), 11_378_179, 48), (junyanz_resnet(n_blocks=6), 7_837_699, 36),
    (junyanz_unet(), 54_413_955, 82), (munit_gen(), 15_026_187, 82), (unit_gen(), 11_140_483, 48),
    (ugatit_gen(), 278_959_808, 44), (ugatit_gen(light=True), 10_589_888, 44),
    (ugatit_dis(n_layers=7), 53_130_176, 35), (ugatit_dis(n_layers=5), 3_290_560, 27),
], ids=["resnet_9blocks", "resnet_6blocks", "unet_256", "munit", "unit", "ugatit_full", "ugatit_light",
        "ugatit_global_d", "ugatit_local_d"])
def test_the_layouts_here_are_the_official_ones(layout, parameters, keys):
    # measured by instantiating the official classes (official-implementations.md, A1-A14)
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
    assert "Legacy buffers dropped by name: 9" in (out / "README.md").read_text()
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
    assert f"Legacy buffers dropped by name: {16 + 16 + 22}" in card  # AdaIN's in both, 0.3's in 'a'
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
