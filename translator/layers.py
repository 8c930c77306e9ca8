"""The shared vocabulary of blocks every family is built from.

Conv layers take `padding_mode="reflect"` directly instead of a separate ReflectionPad module: the maths
is the same and the state-dict keys stay named (`stem.conv.weight`), not positional (`model.1.weight`).
"""
from __future__ import annotations

import torch
from torch import nn

NORMS = ("instance", "batch", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "instance":  # CycleGAN: no affine, no running stats (nothing to store)
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


class ConvNormAct(nn.Sequential):
    """conv -> norm -> activation, the unit most of these networks are made of."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, norm: str = "instance", activation: nn.Module | None = None,
                 padding_mode: str = "zeros", transpose: bool = False, bias: bool | None = None,
                 upsample: int = 1):
        """`upsample`: nearest-neighbour upscaling by this factor before the conv — the resize-convolution
        that avoids the checkerboard of transposed convs (Odena et al., 2016)."""
        # a conv followed by a norm with a learned shift needs no bias of its own (the papers' rule:
        # bias unless batch norm); `bias` overrides it where the official network differs
        bias = norm in ("instance", "none") if bias is None else bias
        if transpose:  # upsampling by exactly `stride`: (H-1)s - 2p + k + output_padding = sH
            conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding,
                                      output_padding=stride - kernel_size + 2 * padding, bias=bias)
        else:
            conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias,
                             padding_mode=padding_mode)
        super().__init__()
        if upsample > 1:  # registered first, so it runs first; it has no weights, so keys stay conv/norm
            self.upsample = nn.Upsample(scale_factor=upsample, mode="nearest")
        self.conv = conv
        self.norm = norm_layer(norm, out_channels)
        self.act = activation if activation is not None else nn.ReLU(inplace=True)


class ResBlock(nn.Module):
    """Two 3x3 convs with a skip connection (no activation after the sum, as in CycleGAN)."""

    def __init__(self, channels: int, norm: str = "instance", padding_mode: str = "reflect", dropout: float = 0.0):
        super().__init__()
        self.conv1 = ConvNormAct(channels, channels, 3, padding=1, norm=norm, padding_mode=padding_mode)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = ConvNormAct(channels, channels, 3, padding=1, norm=norm, padding_mode=padding_mode,
                                 activation=nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.dropout(self.conv1(x)))


class PatchDiscriminator(nn.Module):
    """PatchGAN: a score per overlapping patch (70x70 receptive field with the default 3 layers)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        lrelu = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        layers = [ConvNormAct(in_channels, ndf, 4, 2, 1, norm="none", activation=lrelu())]
        channels = ndf
        for i in range(1, n_layers + 1):
            out = ndf * min(2 ** i, 8)
            stride = 2 if i < n_layers else 1
            layers.append(ConvNormAct(channels, out, 4, stride, 1, norm=norm, activation=lrelu()))
            channels = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(channels, 1, 4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """N(0, 0.02) init of the pix2pix/CycleGAN papers (norm scales around 1)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
