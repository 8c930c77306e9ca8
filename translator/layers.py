"""The shared vocabulary of blocks every family is built from.

Conv layers take `padding_mode="reflect"` directly instead of a separate ReflectionPad module: the maths
is the same and the state-dict keys stay named (`stem.conv.weight`), not positional (`model.1.weight`).

Norms (`norm_layer`): "instance" and "batch" (CycleGAN, pix2pix), "layer" (MUNIT's decoder), "iln"
(U-GAT-IT's learned instance/layer mix), and two *adaptive* norms whose scale and shift come from a style
code rather than from weights of their own: "adain" (MUNIT, FUNIT) and "adalin" (U-GAT-IT). An adaptive
norm is called as `norm(x, (gamma, beta))`; `ConvNormAct` and `ResBlock` pass such a pair through, and
`adaptive_norms` / `split_style` hand each one its share of an MLP's output.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("instance", "batch", "layer", "iln", "adain", "adalin", "none")
Style = tuple[torch.Tensor, torch.Tensor]  # (gamma, beta), each N x C


class LayerNorm(nn.Module):
    """MUNIT's layer norm: per sample over (C, H, W) with the *unbiased* std and eps added to the std, then a
    per-channel scale and shift (nn.GroupNorm(1, C) differs in both, so official weights would drift)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.rand(channels))  # MUNIT initialises the scale uniform in [0, 1)
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        mean = flat.mean(1).view(-1, 1, 1, 1)
        std = flat.std(1).view(-1, 1, 1, 1)
        return (x - mean) / (std + self.eps) * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


def instance_layer_mix(x: torch.Tensor, rho: torch.Tensor, eps: float, unbiased: bool = True,
                       clamp: bool = True) -> torch.Tensor:
    """rho * instance-normalised x + (1 - rho) * layer-normalised x. The official PyTorch U-GAT-IT uses the
    unbiased variance and (the paper) rho clipped to [0, 1]; its TF code the biased variance (`tf.nn.moments`)
    and rho as stored: `unbiased` and `clamp` select, so each one's weights give its own outputs."""
    x_in = (x - x.mean((2, 3), keepdim=True)) / torch.sqrt(x.var((2, 3), unbiased=unbiased, keepdim=True) + eps)
    x_ln = (x - x.mean((1, 2, 3), keepdim=True)) / torch.sqrt(x.var((1, 2, 3), unbiased=unbiased, keepdim=True) + eps)
    if clamp:
        rho = rho.clamp(0, 1)  # clamping here keeps any state in range
    return rho * x_in + (1 - rho) * x_ln


class InstanceLayerNorm(nn.Module):
    """U-GAT-IT's ILN (decoder upsampling): a learned per-channel mix rho of instance and layer norm, with
    learned scale and shift."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.rho = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return instance_layer_mix(x, self.rho, self.eps) * self.gamma + self.beta


class AdaptiveNorm(nn.Module):
    """Normalise, then scale and shift by a (gamma, beta) pair computed from a style code.

    "adain": instance norm with the biased variance and eps 1e-5, then gamma * x + beta (gamma used as
    given, as MUNIT and FUNIT do). "adalin": U-GAT-IT's mix of instance and layer norm with a learned rho
    (initialised 0.9), then gamma * x + beta."""

    def __init__(self, channels: int, kind: str = "adain", eps: float = 1e-5):
        super().__init__()
        if kind not in ("adain", "adalin"):
            raise ValueError(f"adaptive norm must be 'adain' or 'adalin', got {kind!r}")
        self.channels, self.kind, self.eps = channels, kind, eps
        if kind == "adalin":
            self.rho = nn.Parameter(torch.full((1, channels, 1, 1), 0.9))

    def forward(self, x: torch.Tensor, style: Style | None = None) -> torch.Tensor:
        if style is None:
            raise ValueError(f"{self.kind} needs a style: call with (x, (gamma, beta))")
        gamma, beta = style
        if gamma.shape[-1] != self.channels or beta.shape[-1] != self.channels:
            raise ValueError(f"{self.kind} over {self.channels} channels got gamma/beta of {gamma.shape[-1]}/{beta.shape[-1]}")
        if self.kind == "adain":
            x = F.instance_norm(x, eps=self.eps)
        else:
            x = instance_layer_mix(x, self.rho, self.eps)
        return x * gamma[:, :, None, None] + beta[:, :, None, None]


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "instance":  # CycleGAN: no affine, no running stats (nothing to store)
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return LayerNorm(channels)
    if kind == "iln":
        return InstanceLayerNorm(channels)
    if kind in ("adain", "adalin"):
        return AdaptiveNorm(channels, kind)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def spectral(module: nn.Module) -> nn.Module:
    """Spectral normalisation of a layer's weight. On the meta device (where configs are sized before
    anything is allocated) it is left out: its power iterations cost seconds there, and it adds buffers, not
    parameters, so the count is the same."""
    if module.weight.device.type == "meta":
        return module
    return nn.utils.parametrizations.spectral_norm(module)


class ConvNormAct(nn.Module):
    """conv -> norm -> activation, the unit most of these networks are made of. With an adaptive norm,
    call it as `block(x, (gamma, beta))`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, norm: str = "instance", activation: nn.Module | None = None,
                 padding_mode: str = "zeros", transpose: bool = False, bias: bool | None = None,
                 upsample: int = 1, spectral_norm: bool = False):
        """`upsample`: nearest-neighbour upscaling by this factor before the conv — the resize-convolution
        of MUNIT, FUNIT and U-GAT-IT's decoders (no transposed-conv checkerboard; Odena et al., 2016).
        `spectral_norm`: constrain the conv's spectral norm (discriminators of U-GAT-IT, imaginaire)."""
        super().__init__()
        # a conv followed by a norm with a learned or given shift needs no bias of its own (the papers' rule:
        # bias unless batch norm); `bias` overrides it where the official network differs
        bias = norm in ("instance", "none") if bias is None else bias
        if transpose:  # upsampling by exactly `stride`: (H-1)s - 2p + k + output_padding = sH
            conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding,
                                      output_padding=stride - kernel_size + 2 * padding, bias=bias)
        else:
            conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias,
                             padding_mode=padding_mode)
        if upsample > 1:  # registered first, so it reads first; it has no weights, so keys stay conv/norm
            self.upsample = nn.Upsample(scale_factor=upsample, mode="nearest")
        self.conv = spectral(conv) if spectral_norm else conv
        self.norm = norm_layer(norm, out_channels)
        self.act = activation if activation is not None else nn.ReLU(inplace=True)
        self.adaptive = isinstance(self.norm, AdaptiveNorm)

    def forward(self, x: torch.Tensor, style: Style | None = None) -> torch.Tensor:
        if hasattr(self, "upsample"):
            x = self.upsample(x)
        x = self.conv(x)
        x = self.norm(x, style) if self.adaptive else self.norm(x)
        return self.act(x)


class ResBlock(nn.Module):
    """Two 3x3 convs with a skip connection (no activation after the sum, as in CycleGAN, MUNIT, U-GAT-IT).
    With an adaptive norm, `block(x, [style_1, style_2])` gives each conv's norm its (gamma, beta)."""

    def __init__(self, channels: int, norm: str = "instance", padding_mode: str = "reflect", dropout: float = 0.0,
                 bias: bool | None = None):
        super().__init__()
        self.conv1 = ConvNormAct(channels, channels, 3, padding=1, norm=norm, padding_mode=padding_mode, bias=bias)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = ConvNormAct(channels, channels, 3, padding=1, norm=norm, padding_mode=padding_mode, bias=bias,
                                 activation=nn.Identity())

    def forward(self, x: torch.Tensor, styles: Sequence[Style] | None = None) -> torch.Tensor:
        first, second = styles if styles is not None else (None, None)
        return x + self.conv2(self.dropout(self.conv1(x, first)), second)


# --- the official papers' variants of these blocks, for converted checkpoints (imaginaire's re-implementations
# differ from the original code in block order, norms and output); the first of each is the originals' ----------
RES_BLOCKS = ("post", "pre_act", "post_relu")
ADAIN_SCALES = ("gamma", "1+gamma")
OUTPUTS = ("tanh", "clamp")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


class OrderedResBlock(ResBlock):
    """A ResBlock (same keys) whose two conv/norm/ReLU units run in another official order:
    "post": x + norm(conv(relu(norm(conv(x))))), the original MUNIT's, UNIT's and FUNIT's (`ResBlock`);
    "pre_act": x + conv(relu(norm(conv(relu(norm(x)))))), imaginaire's pre-activation Res2dBlock (MUNIT, UNIT);
    "post_relu": x + relu(norm(conv(relu(norm(conv(x)))))), imaginaire's CNACNA Res2dBlock (FUNIT)."""

    def __init__(self, channels: int, norm: str = "instance", order: str = "post"):
        super().__init__(channels, norm, bias=True)
        check_choice("res_block", order, RES_BLOCKS)
        self.order = order

    @staticmethod
    def normalise(unit: ConvNormAct, x: torch.Tensor, style: Style | None) -> torch.Tensor:
        return unit.norm(x, style) if unit.adaptive else unit.norm(x)

    def forward(self, x: torch.Tensor, styles=None) -> torch.Tensor:
        first, second = styles if styles is not None else (None, None)
        if self.order == "pre_act":
            y = self.conv1.conv(F.relu(self.normalise(self.conv1, x, first)))
            return x + self.conv2.conv(F.relu(self.normalise(self.conv2, y, second)))
        y = self.conv2(self.conv1(x, first), second)
        return x + (F.relu(y) if self.order == "post_relu" else y)


def res_block(channels: int, norm: str, order: str = "post") -> ResBlock:
    """The original ResBlock for "post" (what every default network is made of), else an OrderedResBlock."""
    return ResBlock(channels, norm, bias=True) if order == "post" else OrderedResBlock(channels, norm, order)


def make_instance_norms_affine(module: nn.Module) -> None:
    """Give every instance norm of `module`'s conv units a learned per-channel scale and shift (imaginaire's
    instance norm is affine by default; the originals' is not)."""
    for unit in module.modules():
        if isinstance(unit, ConvNormAct) and isinstance(unit.norm, nn.InstanceNorm2d) and not unit.norm.affine:
            unit.norm = nn.InstanceNorm2d(unit.norm.num_features, affine=True)


def output_activation(output: str) -> nn.Module:
    """After the last conv: tanh (the originals), or a clamp to [-1, 1] (imaginaire has no output
    nonlinearity and clamps what it saves; Hardtanh is exactly that clamp)."""
    check_choice("output", output, OUTPUTS)
    return nn.Tanh() if output == "tanh" else nn.Hardtanh(-1.0, 1.0)


def scaled_styles(styles: list[Style], adain_scale: str) -> list[Style]:
    """AdaIN computes gamma * x + beta ("gamma", the originals) or (1 + gamma) * x + beta ("1+gamma",
    imaginaire's AdaptiveNorm)."""
    return styles if adain_scale == "gamma" else [(1 + gamma, beta) for gamma, beta in styles]


def adaptive_norms(module: nn.Module) -> list[AdaptiveNorm]:
    """The adaptive norms of a network, in the order their parameters are laid out in a style vector."""
    return [m for m in module.modules() if isinstance(m, AdaptiveNorm)]


def style_params_count(module: nn.Module) -> int:
    """How many numbers an MLP must produce to drive every adaptive norm of `module`: 2 x channels each."""
    return sum(2 * m.channels for m in adaptive_norms(module))


def split_style(params: torch.Tensor, module: nn.Module) -> list[Style]:
    """N x style_params_count(module) -> one (gamma, beta) per adaptive norm, in module order. Each norm's
    slice is laid out [beta, gamma] (mean first), MUNIT's and FUNIT's order, so their weights load as they are."""
    styles, start = [], 0
    for norm in adaptive_norms(module):
        beta, gamma = params[:, start:start + norm.channels], params[:, start + norm.channels:start + 2 * norm.channels]
        styles.append((gamma, beta))
        start += 2 * norm.channels
    if start != params.shape[1]:
        raise ValueError(f"style vector has {params.shape[1]} values; the adaptive norms need {start}")
    return styles


class MLP(nn.Module):
    """Linear layers with ReLU between them (none after the last): style code -> norm parameters."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 256, n_layers: int = 3):
        super().__init__()
        if n_layers < 1:
            raise ValueError("an MLP needs at least one layer")
        widths = [in_features] + [hidden] * (n_layers - 1) + [out_features]
        layers: list[nn.Module] = []
        for i in range(n_layers):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i < n_layers - 1:
                layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


class PatchDiscriminator(nn.Module):
    """PatchGAN: a score per overlapping patch (70x70 receptive field with the default 3 layers)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 spectral_norm: bool = False):
        super().__init__()
        lrelu = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        layers = [ConvNormAct(in_channels, ndf, 4, 2, 1, norm="none", activation=lrelu(), spectral_norm=spectral_norm)]
        channels = ndf
        for i in range(1, n_layers + 1):
            out = ndf * min(2 ** i, 8)
            stride = 2 if i < n_layers else 1
            layers.append(ConvNormAct(channels, out, 4, stride, 1, norm=norm, activation=lrelu(),
                                      spectral_norm=spectral_norm))
            channels = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(channels, 1, 4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class StridedDiscriminator(nn.Module):
    """One scale of MUNIT's and UNIT's discriminator: stride-2 4x4 convs (leaky ReLU, reflect padding, no
    norm by default), then a 1x1 conv to one score per patch (n_outputs scores: one per class)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 4, norm: str = "none",
                 spectral_norm: bool = False, n_outputs: int = 1):
        super().__init__()
        lrelu = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        layers, channels = [], in_channels
        for i in range(n_layers):
            out = ndf * 2 ** i
            layers.append(ConvNormAct(channels, out, 4, 2, 1, norm="none" if i == 0 else norm, activation=lrelu(),
                                      padding_mode="reflect", bias=True, spectral_norm=spectral_norm))
            channels = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(channels, n_outputs, 1)  # n_outputs > 1: one score map per class (FUNIT's idea)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class MultiScaleDiscriminator(nn.Module):
    """The same discriminator at several scales (MUNIT, UNIT, pix2pixHD): scale k sees the image average-
    pooled k times (3x3, stride 2, padding not counted). Returns one prediction per scale, finest first.
    `body`: "patch" (PatchDiscriminator) or "strided" (StridedDiscriminator, MUNIT's and UNIT's)."""

    def __init__(self, n_scales: int = 3, body: str = "patch", **kwargs):
        super().__init__()
        make = {"patch": PatchDiscriminator, "strided": StridedDiscriminator}[body]
        self.scales = nn.ModuleList(make(**kwargs) for _ in range(n_scales))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for i, discriminator in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(discriminator(x))
        return outputs


def init_weights(module: nn.Module, std: float = 0.02, kind: str = "normal", layer_norm_scale: str = "uniform") -> None:
    """N(0, 0.02) init of the pix2pix/CycleGAN papers (batch norm scales around 1); kind="kaiming": He's fan-in
    normal init, which the official MUNIT and UNIT use for their generators. layer_norm_scale: "uniform" keeps
    LayerNorm's own scale init, MUNIT's uniform in [0, 1); "one" starts it as batch norm's, N(1, std). Why the
    choice: in pix2pix U-Nets trained 18,000 steps the uniform scales barely moved (mean 0.5, std 0.29 at the
    end), so a random tenth of the channels stayed damped below 0.1 at every layer-norm level."""
    if layer_norm_scale not in ("uniform", "one"):
        raise ValueError(f"layer_norm_scale must be 'uniform' or 'one', not {layer_norm_scale!r}")
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            parametrized = nn.utils.parametrize.is_parametrized(m, "weight")  # spectral norm: init the raw weight
            weight = m.parametrizations.weight.original if parametrized else m.weight
            if kind == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            else:
                nn.init.normal_(weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
        elif isinstance(m, LayerNorm) and layer_norm_scale == "one":
            nn.init.normal_(m.gamma, 1.0, std)
            nn.init.zeros_(m.beta)
