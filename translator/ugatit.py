"""U-GAT-IT (Kim, Kim, Kang, Lee, ICLR 2020): unpaired translation with attention you can see.

Each generator and each discriminator carries an auxiliary classifier over its feature maps (global
average- and max-pooled, one logit each); the classifier's weights reweight the feature channels (class
activation mapping, CAM), and the channel sum of the reweighted features is a heatmap of where the network
looked. The generator's decoder uses AdaLIN: a learned mix rho of instance and layer norm, with scale and
shift from an MLP on the attended features.

Networks follow the official PyTorch port (znxlwm/UGATIT-pytorch): a ResNet encoder without conv biases
(instance norm), the CAM block (`gap_fc`, `gmp_fc`, a 1x1 conv fusing both), the MLP (`light`: pooled
features in; full: all of them, which ties the network to one image size), AdaLIN residual blocks sharing
one (gamma, beta), then nearest x2 upsampling + 3x3 conv + ILN, and a 7x7 conv to RGB with tanh. The
discriminators (a global and a local one per domain, spectral norm) ship with the model, because their
heatmaps on an output are part of what the app shows.

**The official TensorFlow U-GAT-IT** (taki0112/UGATIT, the code behind the paper and the only published
weights) is the same design with other maths, set by `variant="tf"` so that its converted checkpoints give
its outputs: biases on every conv and linear; affine instance norm in the encoder; one CAM classifier (a
C -> 1 linear with a bias) shared by the average- and max-pooled branches, whose channel weights are w + b;
AdaLIN's rho "smoothed" to clip(rho - `rho_smoothing`, 0, 1) (0.1 with the official `--smoothing`, its
default); the biased variance in (Ada)LIN; and TF's reflect padding (`ops.conv`: a 4x4 stride-1 conv is padded
1 before and 2 after). Its full model's MLP reads the features in TF's NHWC order; the converter re-orders
that kernel once, so both variants flatten alike here. The default, "pytorch", is the port's maths above.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from . import images
from .base import Family, HubModel, Output, Tab, Translator
from .errors import OptionsError
from .layers import ConvNormAct, ResBlock, instance_layer_mix, spectral
from .options import check_options
from .registry import register


class CAM(nn.Module):
    """Class activation mapping over C feature channels: two logits (average- and max-pooled features times
    a learned channel weight), the features reweighted by those weights and fused by a 1x1 conv, and the
    heatmap (the channel sum of the fused features)."""

    def __init__(self, channels: int, spectral_norm: bool = False, activation: nn.Module | None = None,
                 raw_channel_weights: bool = False):
        """raw_channel_weights: with spectral norm, reweight the channels by the fcs' raw weights (the logits
        still use the normalised ones). The official PyTorch discriminators do this — they read the weight
        as `parameters()[0]`, which spectral norm makes `weight_orig` — so their converted weights need it."""
        super().__init__()
        sn = spectral if spectral_norm else (lambda m: m)
        self.gap_fc = sn(nn.Linear(channels, 1, bias=False))
        self.gmp_fc = sn(nn.Linear(channels, 1, bias=False))
        self.conv1x1 = nn.Conv2d(2 * channels, channels, 1)
        self.act = activation if activation is not None else nn.ReLU(inplace=True)
        self.raw_channel_weights = raw_channel_weights and spectral_norm

    def channel_weight(self, fc: nn.Linear) -> torch.Tensor:
        weight = fc.parametrizations.weight.original if self.raw_channel_weights else fc.weight
        return weight[0][None, :, None, None]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gap_logit = self.gap_fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
        gmp_logit = self.gmp_fc(F.adaptive_max_pool2d(x, 1).flatten(1))
        x_gap = x * self.channel_weight(self.gap_fc)
        x_gmp = x * self.channel_weight(self.gmp_fc)
        x = self.act(self.conv1x1(torch.cat([x_gap, x_gmp], 1)))
        return x, torch.cat([gap_logit, gmp_logit], 1), x.sum(1, keepdim=True)


class Generator(nn.Module):
    def __init__(self, ngf: int = 64, n_blocks: int = 4, image_size: int = 256, light: bool = True):
        super().__init__()
        down = [ConvNormAct(3, ngf, 7, padding=3, norm="instance", padding_mode="reflect", bias=False)]
        for i in range(2):
            down.append(ConvNormAct(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, 2, 1, norm="instance",
                                    padding_mode="reflect", bias=False))
        width = ngf * 4
        down += [ResBlock(width, "instance", bias=False) for _ in range(n_blocks)]
        self.down = nn.Sequential(*down)
        self.cam = CAM(width)
        self.light = light
        mlp_in = width if light else width * (image_size // 4) ** 2
        self.mlp = nn.Sequential(nn.Linear(mlp_in, width, bias=False), nn.ReLU(inplace=True),
                                 nn.Linear(width, width, bias=False), nn.ReLU(inplace=True))
        self.gamma = nn.Linear(width, width, bias=False)
        self.beta = nn.Linear(width, width, bias=False)
        self.blocks = nn.ModuleList(ResBlock(width, "adalin", bias=False) for _ in range(n_blocks))
        up = []
        for i in range(2):
            up.append(ConvNormAct(width // 2 ** i, width // 2 ** (i + 1), 3, padding=1, norm="iln",
                                  padding_mode="reflect", bias=False, upsample=2))
        up.append(ConvNormAct(ngf, 3, 7, padding=3, norm="none", padding_mode="reflect", bias=False,
                              activation=nn.Tanh()))
        self.up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (translation, CAM logits N x 2, heatmap N x 1 x H/4 x W/4)"""
        x, cam_logit, heatmap = self.cam(self.down(x))
        pooled = F.adaptive_avg_pool2d(x, 1).flatten(1) if self.light else x.flatten(1)
        features = self.mlp(pooled)
        style = (self.gamma(features), self.beta(features))
        for block in self.blocks:  # every AdaLIN block uses the same gamma and beta
            x = block(x, [style, style])
        return self.up(x), cam_logit, heatmap


class Discriminator(nn.Module):
    """Stride-2 4x4 convs (spectral norm, leaky ReLU), a stride-1 one, a CAM block, a 4x4 conv to one score
    per patch. n_layers 7 is the official global one (70x70 ... whole-image view at 256 px), 5 the local."""

    def __init__(self, ndf: int = 64, n_layers: int = 5, raw_cam_weights: bool = False):
        super().__init__()
        lrelu = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        layers, channels = [ConvNormAct(3, ndf, 4, 2, 1, norm="none", activation=lrelu(), padding_mode="reflect",
                                        bias=True, spectral_norm=True)], ndf
        for _ in range(n_layers - 3):
            layers.append(ConvNormAct(channels, channels * 2, 4, 2, 1, norm="none", activation=lrelu(),
                                      padding_mode="reflect", bias=True, spectral_norm=True))
            channels *= 2
        layers.append(ConvNormAct(channels, channels * 2, 4, 1, 1, norm="none", activation=lrelu(),
                                  padding_mode="reflect", bias=True, spectral_norm=True))
        channels *= 2
        self.body = nn.Sequential(*layers)
        self.cam = CAM(channels, spectral_norm=True, activation=nn.LeakyReLU(0.2, inplace=True),
                       raw_channel_weights=raw_cam_weights)
        self.head = ConvNormAct(channels, 1, 4, 1, 1, norm="none", activation=nn.Identity(), padding_mode="reflect",
                                bias=False, spectral_norm=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (patch scores, CAM logits N x 2, heatmap)"""
        x, cam_logit, heatmap = self.cam(self.body(x))
        return self.head(x), cam_logit, heatmap


# --- the official TensorFlow maths (variant="tf") -----------------------------------------------------------
class TFConv2d(nn.Conv2d):
    """A conv padded as the official TF code pads (`ops.conv`): reflect padding of `pad` before, and after as
    well if kernel - stride is even, else kernel - stride - pad (so a 4x4 stride-1 conv keeps the size), then
    a valid conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, pad: int = 0):
        super().__init__(in_channels, out_channels, kernel_size, stride, bias=True)
        after = pad if (kernel_size - stride) % 2 == 0 else kernel_size - stride - pad
        self.pads = (pad, after, pad, after)  # left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pads):
            x = F.pad(x, self.pads, mode="reflect")
        return super().forward(x)


class TFLayerInstanceNorm(nn.Module):
    """`ops.layer_instance_norm` (the decoder's upsampling): rho (initialised 0), gamma, beta. rho is used as
    stored, as TF does (its trainer's constraint keeps it in [0, 1])."""

    def __init__(self, channels: int):
        super().__init__()
        self.rho = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return instance_layer_mix(x, self.rho, 1e-5, unbiased=False, clamp=False) * self.gamma + self.beta


class TFAdaLIN(nn.Module):
    """`ops.adaptive_instance_layer_norm`: rho (initialised 1) smoothed to clip(rho - smoothing, 0, 1) (with
    smoothing 0, used as stored, as TF does without `--smoothing`), then the style's gamma and beta."""

    def __init__(self, channels: int, smoothing: float = 0.1):
        super().__init__()
        self.rho = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.smoothing = smoothing

    def forward(self, x: torch.Tensor, style: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        gamma, beta = style
        rho = (self.rho - self.smoothing).clamp(0, 1) if self.smoothing else self.rho
        return instance_layer_mix(x, rho, 1e-5, unbiased=False, clamp=False) * gamma[:, :, None, None] + beta[:, :, None, None]


class TFConvNormAct(nn.Module):
    """[nearest x2 upsampling] -> TFConv2d (spectral-normalised in the discriminators) -> norm -> activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, pad: int = 0,
                 norm: nn.Module | None = None, activation: nn.Module | None = None, upsample: bool = False,
                 spectral_norm: bool = False):
        super().__init__()
        conv = TFConv2d(in_channels, out_channels, kernel_size, stride, pad)
        self.conv = spectral(conv) if spectral_norm else conv
        self.norm = norm if norm is not None else nn.Identity()
        self.act = activation if activation is not None else nn.Identity()
        self.upsample = upsample  # tf.image.resize_nearest_neighbor to twice the size: PyTorch's "nearest"

    def forward(self, x: torch.Tensor, style: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv(x)
        return self.act(self.norm(x) if style is None else self.norm(x, style))


class TFResBlock(nn.Module):
    """`ops.resblock` (affine instance norm) or `ops.adaptive_ins_layer_resblock` (AdaLIN, called with a style):
    reflect-padded 3x3 conv, norm, ReLU, 3x3 conv, norm, plus the input."""

    def __init__(self, channels: int, norm: Callable[[], nn.Module]):
        super().__init__()
        self.conv1 = TFConvNormAct(channels, channels, 3, 1, 1, norm(), nn.ReLU())
        self.conv2 = TFConvNormAct(channels, channels, 3, 1, 1, norm())

    def forward(self, x: torch.Tensor, style: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        return x + self.conv2(self.conv1(x, style), style)


class TFCAM(nn.Module):
    """`ops.fully_connected_with_w` applied to both pooled features: one linear C -> 1 with a bias (spectral-
    normalised in the discriminators); both branches reweight the channels by w + b, so their halves of the
    1x1 conv's input are equal (kept as two, as the official weights are)."""

    def __init__(self, channels: int, spectral_norm: bool = False, activation: nn.Module | None = None):
        super().__init__()
        fc = nn.Linear(channels, 1)
        self.fc = spectral(fc) if spectral_norm else fc
        self.conv1x1 = nn.Conv2d(2 * channels, channels, 1)
        self.act = activation if activation is not None else nn.ReLU()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        weight = self.fc.weight  # computed once: with spectral norm every read normalises again
        gap_logit = F.linear(x.mean((2, 3)), weight, self.fc.bias)
        gmp_logit = F.linear(x.amax((2, 3)), weight, self.fc.bias)
        weighted = x * (weight[0] + self.fc.bias)[None, :, None, None]
        x = self.act(self.conv1x1(torch.cat([weighted, weighted], 1)))
        return x, torch.cat([gap_logit, gmp_logit], 1), x.sum(1, keepdim=True)


class TFGenerator(nn.Module):
    """UGATIT.generator of the official TF code, module for module like Generator (down, cam, mlp, gamma,
    beta, blocks, up), with the TF maths. The MLP's width is the residual width (the official `ch * n_res`,
    which the code needs equal to it: n_res 4)."""

    def __init__(self, ngf: int = 64, n_blocks: int = 4, image_size: int = 256, light: bool = True,
                 rho_smoothing: float = 0.1):
        super().__init__()
        relu = nn.ReLU
        affine = lambda c: nn.InstanceNorm2d(c, affine=True)  # noqa: E731  (tf.contrib instance_norm, eps 1e-5)
        down = [TFConvNormAct(3, ngf, 7, 1, 3, affine(ngf), relu())]
        for i in range(2):
            down.append(TFConvNormAct(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, 2, 1, affine(ngf * 2 ** (i + 1)), relu()))
        width = ngf * 4
        down += [TFResBlock(width, lambda: affine(width)) for _ in range(n_blocks)]
        self.down = nn.Sequential(*down)
        self.cam = TFCAM(width)
        self.light = light
        mlp_in = width if light else width * (image_size // 4) ** 2
        self.mlp = nn.Sequential(nn.Linear(mlp_in, width), relu(), nn.Linear(width, width), relu())
        self.gamma = nn.Linear(width, width)
        self.beta = nn.Linear(width, width)
        self.blocks = nn.ModuleList(TFResBlock(width, lambda: TFAdaLIN(width, rho_smoothing)) for _ in range(n_blocks))
        up = [TFConvNormAct(width // 2 ** i, width // 2 ** (i + 1), 3, 1, 1, TFLayerInstanceNorm(width // 2 ** (i + 1)),
                            relu(), upsample=True) for i in range(2)]
        up.append(TFConvNormAct(ngf, 3, 7, 1, 3, activation=nn.Tanh()))
        self.up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (translation, CAM logits N x 2, heatmap N x 1 x H/4 x W/4)"""
        x, cam_logit, heatmap = self.cam(self.down(x))
        pooled = x.mean((2, 3)) if self.light else x.flatten(1)  # full: the kernel was re-ordered to CHW
        features = self.mlp(pooled)
        style = (self.gamma(features), self.beta(features))
        for block in self.blocks:
            x = block(x, style)
        return self.up(x), cam_logit, heatmap


class TFDiscriminator(nn.Module):
    """discriminator_global / _local of the official TF code: spectral-normalised 4x4 convs with biases
    (stride 2, then one of stride 1), the TF CAM, a 4x4 conv (with a bias) to one score per patch. n_layers
    counts as Discriminator's does: the official n_dis 6 is 7 (global) and 5 (local)."""

    def __init__(self, ndf: int = 64, n_layers: int = 5):
        super().__init__()
        lrelu = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        layers, channels = [TFConvNormAct(3, ndf, 4, 2, 1, activation=lrelu(), spectral_norm=True)], ndf
        for _ in range(n_layers - 3):
            layers.append(TFConvNormAct(channels, channels * 2, 4, 2, 1, activation=lrelu(), spectral_norm=True))
            channels *= 2
        layers.append(TFConvNormAct(channels, channels * 2, 4, 1, 1, activation=lrelu(), spectral_norm=True))
        channels *= 2
        self.body = nn.Sequential(*layers)
        self.cam = TFCAM(channels, spectral_norm=True, activation=lrelu())
        self.head = TFConvNormAct(channels, 1, 4, 1, 1, spectral_norm=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (patch scores, CAM logits N x 2, heatmap)"""
        x, cam_logit, heatmap = self.cam(self.body(x))
        return self.head(x), cam_logit, heatmap


VARIANTS = ("pytorch", "tf")


class UGATIT(HubModel):
    """Both generators and, for the attention they show, both domains' global and local discriminators."""

    def __init__(self, image_size: int = 256, ngf: int = 64, n_blocks: int = 4, light: bool = True, ndf: int = 64,
                 n_layers_global: int = 7, n_layers_local: int = 5, domain_a: str = "A", domain_b: str = "B",
                 d_raw_cam_weights: bool = False, variant: str = "pytorch", rho_smoothing: float = 0.0):
        """d_raw_cam_weights: the discriminators' CAM reweights channels by the raw, not the spectral-
        normalised, fc weights, as the official PyTorch code does (see CAM); for its converted checkpoints.
        variant: "pytorch" (the official PyTorch port's maths, the default) or "tf" (the official TensorFlow
        code's, for its converted checkpoints; see the module docstring). rho_smoothing: "tf" only, AdaLIN's
        rho is clip(rho - rho_smoothing, 0, 1): 0.1 for a model trained with the official `--smoothing True`
        (its default, and the published models'), 0 (rho as stored) without; training.convert reads it off the
        checkpoint's folder name."""
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if image_size % 4:  # two stride-2 downsamplings, undone exactly by two x2 upsamplings
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
        for name, n_layers in (("n_layers_global", n_layers_global), ("n_layers_local", n_layers_local)):
            # n_layers - 2 halvings, then two 4x4 convs with reflection padding 1: at least 3 x 3 must be left
            if n_layers < 3 or image_size >> (n_layers - 2) < 3:
                raise ValueError(f"{name} = {n_layers} does not fit {image_size}-px images (at least 3 layers, and "
                                 f"at most {max(3, (image_size // 3).bit_length() + 1)} at this size)")
        if variant != "tf" and rho_smoothing:
            raise ValueError("rho_smoothing is the TF variant's (variant='tf')")
        if variant == "tf":
            if d_raw_cam_weights:
                raise ValueError("d_raw_cam_weights is the PyTorch port's; the TF discriminators reweight by w + b")
            if not 0 <= rho_smoothing <= 1:
                raise ValueError(f"rho_smoothing must be in [0, 1], got {rho_smoothing}")
            self.gen_ab = TFGenerator(ngf, n_blocks, image_size, light, rho_smoothing)
            self.gen_ba = TFGenerator(ngf, n_blocks, image_size, light, rho_smoothing)
            discriminator = lambda n_layers: TFDiscriminator(ndf, n_layers)  # noqa: E731
        else:
            self.gen_ab = Generator(ngf, n_blocks, image_size, light)
            self.gen_ba = Generator(ngf, n_blocks, image_size, light)
            discriminator = lambda n_layers: Discriminator(ndf, n_layers, d_raw_cam_weights)  # noqa: E731
        self.d_global_a, self.d_local_a = discriminator(n_layers_global), discriminator(n_layers_local)
        self.d_global_b, self.d_local_b = discriminator(n_layers_global), discriminator(n_layers_local)

    def generator(self, direction: str) -> Generator | TFGenerator:
        if direction not in ("a2b", "b2a"):
            raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")
        return self.gen_ab if direction == "a2b" else self.gen_ba

    def discriminators(self, domain: str) -> tuple[nn.Module, nn.Module]:
        if domain not in ("a", "b"):
            raise ValueError(f"domain must be 'a' or 'b', got {domain!r}")
        return (self.d_global_a, self.d_local_a) if domain == "a" else (self.d_global_b, self.d_local_b)

    def forward(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        return self.generator(direction)(x)[0]


@dataclass
class Attention:
    """A translation and where the networks looked: heatmaps as overlays, and the generator's classifier."""
    translation: Image.Image
    generator_attention: Image.Image  # on the input: what the generator found most telling of its domain
    global_attention: Image.Image  # on the output: the target domain's global discriminator
    local_attention: Image.Image  # on the output: its local discriminator
    source_probability: float  # the generator's auxiliary classifier: how sure the input is of the source domain
    seconds: float

    @property
    def summary(self) -> str:
        return f"The generator's classifier: {self.source_probability:.0%} sure the input is of the source domain."


class UGATITTranslator(Translator):
    directions = ("a2b", "b2a")
    # tiled: each tile gets its own CAM weighting and AdaLIN gamma and beta (from its own pooled features, or
    # in the full model its own features: tiles are exactly the model size), as if it were a whole image
    options = ("tiled",)
    model: UGATIT

    @property
    def size_multiple(self) -> int | None:
        return 4 if self.config.get("light", True) else None  # full: the MLP reads a fixed-size feature map

    def translate_tensor(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        return self.model.generator(direction)(x)[0]

    def heatmaps(self, x: torch.Tensor, direction: str = "a2b") -> dict[str, torch.Tensor]:
        """`heatmaps_tensor`, through the fast path (ONNX Runtime) where it holds this direction's graph."""
        def fast():
            maps = self.fast_path.heatmaps(x, direction)
            return None if maps is None else {name: value.to(self.device) for name, value in maps.items()}
        return self.fast_or_eager(fast, lambda: self.heatmaps_tensor(x, direction))

    def heatmaps_tensor(self, x: torch.Tensor, direction: str = "a2b") -> dict[str, torch.Tensor]:
        """The raw maps (N x 1 x h x w) and logits, computed from the model's own weights for this input."""
        y, cam_logit, g_map = self.model.generator(direction)(x)
        d_global, d_local = self.model.discriminators("b" if direction == "a2b" else "a")
        _, _, global_map = d_global(y)
        _, _, local_map = d_local(y)
        return {"translation": y, "generator": g_map, "global": global_map, "local": local_map,
                "cam_logit": cam_logit}

    def attention(self, image, direction: str = "a2b", opacity: float = 0.5, **options) -> Attention:
        """`tiled=True`: the translation at the input's own size, in tiles (see `translate`); the heatmaps and
        the classifier stay those of the whole image at the model size (and are overlaid on its translation)."""
        self.check_direction(direction)
        if isinstance(opacity, bool) or not isinstance(opacity, (int, float)) or not 0 <= opacity <= 1:
            raise OptionsError(f"opacity must be a number from 0 to 1, got {opacity!r}.")
        native = self.prepare_native(image) if check_options(self, options).get("tiled") else None
        x, layout = self.prepare(image)
        maps = self._timed(self.heatmaps, x, direction)
        seconds = self.last_seconds
        translation = self.finish(maps["translation"], layout)
        source = images.from_model_output(x, layout)  # the input as given: never through the finishing stage
        probability = torch.sigmoid(maps["cam_logit"]).mean().item()
        main = translation
        if native is not None:
            main = images.tensor_to_pil(self._timed(self.translate_tiled_tensor, native, direction))
            seconds += self.last_seconds
        return Attention(main,
                         images.overlay(source, maps["generator"][0, 0], layout, opacity),
                         images.overlay(translation, maps["global"][0, 0], layout, opacity),
                         images.overlay(translation, maps["local"][0, 0], layout, opacity),
                         probability, seconds)


register(Family(
    name="ugatit", title="U-GAT-IT", network=UGATIT, translator=UGATITTranslator,
    paper="Kim, Kim, Kang, Lee, *U-GAT-IT: Unsupervised Generative Attentional Networks with Adaptive "
          "Layer-Instance Normalization for Image-to-Image Translation*, ICLR 2020 (https://arxiv.org/abs/1907.10830)",
    code_licence="MIT (znxlwm/UGATIT-pytorch); this implementation: MIT",
    tab=Tab(method="attention", outputs=(
        Output("translation", "Translation"),
        Output("generator_attention", "Where the generator looked (on the input)", small=True),
        Output("global_attention", "Global discriminator (on the output)", small=True),
        Output("local_attention", "Local discriminator (on the output)", small=True),
        Output("summary", "Domain classifier", kind="text")),
        intro="Unpaired translation with attention (U-GAT-IT): beside the translation, the heatmaps of where the "
              "generator and the target domain's discriminators looked. Shipped model: **{a} ↔ {b}**."),
    tiny_config={"image_size": 32, "ngf": 4, "n_blocks": 1, "ndf": 4, "n_layers_global": 4, "n_layers_local": 3,
                 "domain_a": "left", "domain_b": "right"},
))
