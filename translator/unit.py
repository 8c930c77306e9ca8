"""UNIT (Liu, Breuel, Kautz, NIPS 2017): unsupervised translation through a shared latent space.

Two VAE-GANs, one per domain. Each domain's encoder maps an image to a latent code z; each domain's
generator decodes a z into that domain. The encoders share their last layers and the generators their
first layers (one module each, used by both domains), so both domains land in one latent space: a Noto
emoji and the Twemoji of the same code point should get the same z. Translating A -> B is encoding with
E_A and decoding with G_B; decoding with G_A instead gives the reconstruction from the same z.

Networks follow the official code's generator (mingyuliutw/UNIT, the MUNIT-style re-release): a 7x7 conv,
stride-2 4x4 convs down, residual blocks with instance norm; the decoder mirrors it with residual blocks,
nearest-neighbour x2 upsampling + 5x5 convs with MUNIT's layer norm, and a 7x7 conv to RGB with tanh. As
in the paper, `n_shared` of the residual blocks at the bottleneck are shared: the last ones of the
encoders and the first ones of the generators. The latent is a Gaussian with unit variance around the
encoder's output (the official "reduced VAE": KL = mean(mu^2)); inference decodes the mean, and
`sample=True` draws z = mu + noise (repeatable with `seed`).

**imaginaire's UNIT** (NVlabs/imaginaire) is this network with other maths, each a setting here so that its
converted weights give its outputs: `res_block="pre_act"` (norm-ReLU-conv twice in each residual block),
`instance_affine` (instance norms with a learned scale and shift), `up_norm="instance"` (instance norm,
not the layer norm, after the upsampling convs) and `output="clamp"` (no tanh: the last conv's output
clamped to [-1, 1], as its test saves it). The defaults are the original UNIT's.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image
from torch import nn

from .base import Family, HubModel, Output, Tab, Translator
from .layers import ConvNormAct, check_choice, make_instance_norms_affine, output_activation
from .layers import res_block as residual_block
from .registry import register


class Encoder(nn.Module):
    """One domain's own (lower) layers: 7x7 stem, stride-2 downs, its unshared residual blocks."""

    def __init__(self, dim: int, n_downsample: int, n_res: int, res_block_order: str = "post"):
        super().__init__()
        layers = [ConvNormAct(3, dim, 7, padding=3, norm="instance", padding_mode="reflect", bias=True)]
        for _ in range(n_downsample):
            layers.append(ConvNormAct(dim, dim * 2, 4, 2, 1, norm="instance", padding_mode="reflect", bias=True))
            dim *= 2
        layers += [residual_block(dim, "instance", res_block_order) for _ in range(n_res)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    """One domain's own (upper) layers: its unshared residual blocks, x2 nearest + 5x5 conv (`up_kernel`) +
    layer norm (or instance norm: `up_norm`) per downsampling of the encoder, and a 7x7 conv to RGB."""

    def __init__(self, dim: int, n_downsample: int, n_res: int, up_kernel: int = 5, res_block_order: str = "post",
                 up_norm: str = "layer", output: str = "tanh"):
        super().__init__()
        check_choice("up_norm", up_norm, ("layer", "instance"))
        dim = dim * 2 ** n_downsample
        layers = [residual_block(dim, "instance", res_block_order) for _ in range(n_res)]
        for _ in range(n_downsample):
            layers.append(ConvNormAct(dim, dim // 2, up_kernel, padding=up_kernel // 2, norm=up_norm,
                                      padding_mode="reflect", bias=True, upsample=2))
            dim //= 2
        layers.append(ConvNormAct(dim, 3, 7, padding=3, norm="none", padding_mode="reflect",
                                  activation=output_activation(output)))
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z)


class UNIT(HubModel):
    """Encoders and generators of both domains, with the shared high-level blocks in between:

        E_A = encoder_a -> shared_encoder        G_A = shared_decoder -> decoder_a
        E_B = encoder_b -> shared_encoder        G_B = shared_decoder -> decoder_b

    Discriminators are a training matter and are not part of the shipped model."""

    def __init__(self, image_size: int = 256, dim: int = 64, n_downsample: int = 2, n_res: int = 4,
                 n_shared: int = 1, domain_a: str = "A", domain_b: str = "B", up_kernel: int = 5,
                 licence_note: str = "", res_block: str = "post", instance_affine: bool = False,
                 up_norm: str = "layer", output: str = "tanh"):
        """up_kernel: the decoder's upsampling convs (the official 5; 3 costs less than half on a CPU).
        n_shared=0: no shared blocks, as in the official re-release (its gen_a and gen_b share nothing).
        licence_note: terms that come with the weights, for the app to show (NVIDIA's published UNIT
        checkpoints are non-commercial; training.convert writes it).
        res_block, instance_affine, up_norm, output: the original UNIT's maths by default; imaginaire's UNIT
        is "pre_act", True, "instance" and "clamp" (see the module docstring)."""
        super().__init__()
        if not 0 <= n_shared <= n_res:
            raise ValueError(f"n_shared must be between 0 and n_res ({n_res}), got {n_shared}")
        width = dim * 2 ** n_downsample
        self.encoder_a = Encoder(dim, n_downsample, n_res - n_shared, res_block)
        self.encoder_b = Encoder(dim, n_downsample, n_res - n_shared, res_block)
        self.shared_encoder = nn.Sequential(*(residual_block(width, "instance", res_block) for _ in range(n_shared)))
        self.shared_decoder = nn.Sequential(*(residual_block(width, "instance", res_block) for _ in range(n_shared)))
        if up_kernel % 2 == 0:
            raise ValueError(f"up_kernel must be odd, got {up_kernel}")
        self.decoder_a = Decoder(dim, n_downsample, n_res - n_shared, up_kernel, res_block, up_norm, output)
        self.decoder_b = Decoder(dim, n_downsample, n_res - n_shared, up_kernel, res_block, up_norm, output)
        if instance_affine:
            make_instance_norms_affine(self)

    def encode(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """The mean of the posterior q(z | x); z = mean + N(0, I)."""
        return self.shared_encoder((self.encoder_a if domain == "a" else self.encoder_b)(x))

    def decode(self, z: torch.Tensor, domain: str) -> torch.Tensor:
        return (self.decoder_a if domain == "a" else self.decoder_b)(self.shared_decoder(z))

    def forward(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        source, target = ("a", "b") if direction == "a2b" else ("b", "a")
        return self.decode(self.encode(x, source), target)


@dataclass
class Streams:
    """Both streams from one latent code: into the other domain, and back into the input's own."""
    translation: Image.Image
    reconstruction: Image.Image
    seconds: float


class UNITTranslator(Translator):
    directions = ("a2b", "b2a")
    options = ("sample", "seed")
    model: UNIT

    def latent(self, x: torch.Tensor, source: str, sample: bool = False, seed: int | None = None) -> torch.Tensor:
        mean = self.model.encode(x, source)
        if not sample:
            return mean
        generator = torch.Generator(device="cpu").manual_seed(seed if seed is not None else
                                                              int(torch.randint(0, 2 ** 31, ())))
        return mean + torch.randn(mean.shape, generator=generator).to(mean.device)

    def translate_tensor(self, x: torch.Tensor, direction: str = "a2b", sample: bool = False,
                         seed: int | None = None) -> torch.Tensor:
        source, target = ("a", "b") if direction == "a2b" else ("b", "a")
        return self.model.decode(self.latent(x, source, sample, seed), target)

    def streams(self, image, direction: str = "a2b", sample: bool = False, seed: int | None = None) -> Streams:
        """The translation (the other domain's generator) and the reconstruction (the input domain's own)
        decoded from the same latent code."""
        from .options import check_options

        self.check_direction(direction)
        options = check_options(self, {"sample": sample, "seed": seed})
        source, target = ("a", "b") if direction == "a2b" else ("b", "a")
        x, layout = self.prepare(image)

        def both(x):
            z = self.latent(x, source, **options)
            return self.model.decode(z, target), self.model.decode(z, source)

        translation, reconstruction = self._timed(both, x)
        return Streams(self.finish(translation, layout), self.finish(reconstruction, layout), self.last_seconds)


register(Family(
    name="unit", title="UNIT", network=UNIT, translator=UNITTranslator,
    paper="Liu, Breuel, Kautz, *Unsupervised Image-to-Image Translation Networks*, NIPS 2017 "
          "(https://arxiv.org/abs/1703.00848)",
    code_licence="CC BY-NC-SA 4.0, non-commercial (mingyuliutw/UNIT); this implementation: MIT",
    tab=Tab(method="streams", outputs=(Output("translation", "Translation"),
                                      Output("reconstruction", "Reconstruction (same latent, own domain)", small=True)),
            intro="Translation through a shared latent space (UNIT): the input is encoded once, then decoded by the "
                  "other domain's generator (the translation) and by its own (the reconstruction). Shipped model: "
                  "**{a} ↔ {b}**. *Sample the latent* draws from the posterior instead of using its mean."),
    tiny_config={"image_size": 32, "dim": 4, "n_downsample": 2, "n_res": 2, "n_shared": 1,
                 "domain_a": "left", "domain_b": "right"},
))
