"""The losses every trainer draws from, defined once.

GAN losses take a discriminator's prediction (or a list of them, one per scale of a multi-scale
discriminator, summed as the official MUNIT and UNIT do) and whether the target is real:

    gan_loss(d(real), True, "lsgan") + gan_loss(d(fake), False, "lsgan")   # discriminator
    gan_loss(d(fake), True, "lsgan")                                       # generator

- "lsgan": least squares (Mao et al. 2017; CycleGAN, MUNIT, UNIT, U-GAT-IT);
- "vanilla": binary cross-entropy on logits (Goodfellow et al. 2014; pix2pix);
- "hinge": max(0, 1 -/+ D) for the discriminator, -D for the generator (FUNIT, imaginaire), so it needs
  to know which side is asking (`for_discriminator`).
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur

GAN_LOSSES = ("lsgan", "vanilla", "hinge")


def gan_loss(prediction: torch.Tensor | Sequence[torch.Tensor], real: bool, kind: str = "lsgan",
             for_discriminator: bool = True) -> torch.Tensor:
    if not isinstance(prediction, torch.Tensor):  # one prediction per scale: summed, as MUNIT and UNIT do
        return torch.stack([gan_loss(p, real, kind, for_discriminator) for p in prediction]).sum()
    p = prediction.float()  # losses in fp32 under autocast
    if kind == "lsgan":
        return F.mse_loss(p, torch.full_like(p, float(real)))
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(p, torch.full_like(p, float(real)))
    if kind == "hinge":
        if not for_discriminator:
            if not real:
                raise ValueError("the hinge generator loss asks for real (the generator wants D to say real)")
            return -p.mean()
        return F.relu(1 - p).mean() if real else F.relu(1 + p).mean()
    raise ValueError(f"GAN loss must be one of {GAN_LOSSES}, got {kind!r}")


def r1_penalty(real_prediction: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): the squared gradient norm of D's output at real images, per image, averaged.
    `real_images` must have requires_grad set before the discriminator saw them."""
    (grad,) = torch.autograd.grad(real_prediction.float().sum(), real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def gradient_penalty(discriminator, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (||grad D(x)|| - 1)^2 at random points between real and fake."""
    alpha = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    prediction = discriminator(mixed)
    (grad,) = torch.autograd.grad(prediction.float().sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def feature_matching(fake_features: Sequence[torch.Tensor], real_features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean L1 between a discriminator's features of fake and of real images (real ones as fixed targets)."""
    if len(fake_features) != len(real_features) or not fake_features:
        raise ValueError("feature matching needs the same, non-zero number of fake and real feature maps")
    return torch.stack([F.l1_loss(f.float(), r.detach().float()) for f, r in zip(fake_features, real_features)]).mean()


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur (kernel cut at 2 sigma); sigma <= 0 returns x unchanged."""
    if sigma <= 0:
        return x
    return gaussian_blur(x, kernel_size=2 * math.ceil(2 * sigma) + 1, sigma=sigma)


def blurred_l1(reconstruction: torch.Tensor, original: torch.Tensor, sigma: float = 0.0) -> torch.Tensor:
    """L1 between blurred images: a cycle loss that asks only for the coarse image back (colours, layout,
    large shapes), so a translation need not carry the source's fine detail just to be reconstructed
    (sigma 0 = the plain L1 of the papers). Found on the emoji task for CycleGAN: docs/experiments.md."""
    return F.l1_loss(blur(reconstruction, sigma), blur(original, sigma))


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (anisotropic L1 TV). It charges a ramp by its
    height, not by how smoothly it rises, so shading and sharp edges cost what they cost; what it makes
    expensive is oscillation -- the pixel-level grain a generator can add that real images lack. A loss for
    the trainers, and the evaluation's "roughness" column (outputs vs real targets)."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout") -> torch.Tensor:
    """Differentiable augmentation (Zhao et al., NeurIPS 2020): the same random transforms applied to every
    image the discriminator sees, real and generated, inside the graph so the generator's gradient flows
    through them. With a few thousand training images the discriminator otherwise memorises the real set
    and its gradient turns into texture noise. One draw per image in the batch; channels are transformed
    together, so a conditional input stacked on the image (pix2pix) moves with it.

    - color: brightness +-0.5, saturation x0..2, contrast x0.5..1.5 (on [-1, 1] images);
    - translation: shift by up to 1/8 of the side, zero-padded;
    - cutout: blank one square of half the side at a random place."""
    if not policy:
        return x
    n, _, h, w = x.shape
    for name in policy.split(","):
        if name == "color":
            x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
            mean = x.mean(1, keepdim=True)
            x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
            mean = x.mean((1, 2, 3), keepdim=True)
            x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean
        elif name == "translation":
            dy = torch.randint(-(h // 8), h // 8 + 1, (n,), device=x.device)
            dx = torch.randint(-(w // 8), w // 8 + 1, (n,), device=x.device)
            rows = (torch.arange(h, device=x.device)[None, :] - dy[:, None])  # n x h: source row of each row
            cols = (torch.arange(w, device=x.device)[None, :] - dx[:, None])
            inside = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[:, None, None, :]
            rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
            x = x[torch.arange(n, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
            x = x.permute(0, 3, 1, 2) * inside  # advanced indexing put the channels last
        elif name == "cutout":
            size_h, size_w = h // 2, w // 2
            top = torch.randint(0, h - size_h + 1, (n, 1, 1), device=x.device)
            left = torch.randint(0, w - size_w + 1, (n, 1, 1), device=x.device)
            ys, xs = torch.arange(h, device=x.device)[None, :, None], torch.arange(w, device=x.device)[None, None, :]
            hole = (ys >= top) & (ys < top + size_h) & (xs >= left) & (xs < left + size_w)
            x = x * (~hole)[:, None]
        else:
            raise ValueError(f"unknown DiffAugment transform {name!r}; known: color, translation, cutout")
    return x


class ImagePool:
    """The history buffer of Shrivastava et al. used by CycleGAN: once full, each fake is swapped with a
    stored one half of the time, so the discriminator also sees older generator outputs."""

    def __init__(self, size: int = 50):
        self.size, self.images = size, []

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.random() < 0.5:
                i = random.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out)
