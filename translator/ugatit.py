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
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from . import images
from .base import Family, HubModel, Output, Tab, Translator
from .layers import ConvNormAct, ResBlock, spectral
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


class UGATIT(HubModel):
    """Both generators and, for the attention they show, both domains' global and local discriminators."""

    def __init__(self, image_size: int = 256, ngf: int = 64, n_blocks: int = 4, light: bool = True, ndf: int = 64,
                 n_layers_global: int = 7, n_layers_local: int = 5, domain_a: str = "A", domain_b: str = "B",
                 d_raw_cam_weights: bool = False):
        """d_raw_cam_weights: the discriminators' CAM reweights channels by the raw, not the spectral-
        normalised, fc weights, as the official PyTorch code does (see CAM); for its converted checkpoints."""
        super().__init__()
        self.gen_ab = Generator(ngf, n_blocks, image_size, light)
        self.gen_ba = Generator(ngf, n_blocks, image_size, light)
        discriminator = lambda n_layers: Discriminator(ndf, n_layers, d_raw_cam_weights)  # noqa: E731
        self.d_global_a, self.d_local_a = discriminator(n_layers_global), discriminator(n_layers_local)
        self.d_global_b, self.d_local_b = discriminator(n_layers_global), discriminator(n_layers_local)

    def generator(self, direction: str) -> Generator:
        return self.gen_ab if direction == "a2b" else self.gen_ba

    def discriminators(self, domain: str) -> tuple[Discriminator, Discriminator]:
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
    model: UGATIT

    def translate_tensor(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        return self.model.generator(direction)(x)[0]

    def heatmaps(self, x: torch.Tensor, direction: str = "a2b") -> dict[str, torch.Tensor]:
        """The raw maps (N x 1 x h x w) and logits, computed from the model's own weights for this input."""
        y, cam_logit, g_map = self.model.generator(direction)(x)
        d_global, d_local = self.model.discriminators("b" if direction == "a2b" else "a")
        _, _, global_map = d_global(y)
        _, _, local_map = d_local(y)
        return {"translation": y, "generator": g_map, "global": global_map, "local": local_map,
                "cam_logit": cam_logit}

    def attention(self, image, direction: str = "a2b", opacity: float = 0.5) -> Attention:
        self.check_direction(direction)
        x, layout = self.prepare(image)
        maps = self._timed(self.heatmaps, x, direction)
        translation = self.finish(maps["translation"], layout)
        source = images.from_model_output(x, layout)  # the input as given: never through the finishing stage
        probability = torch.sigmoid(maps["cam_logit"]).mean().item()
        return Attention(translation,
                         images.overlay(source, maps["generator"][0, 0], layout, opacity),
                         images.overlay(translation, maps["global"][0, 0], layout, opacity),
                         images.overlay(translation, maps["local"][0, 0], layout, opacity),
                         probability, self.last_seconds)


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
