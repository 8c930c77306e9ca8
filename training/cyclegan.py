"""Train a CycleGAN (Zhu et al., 2017) on two folders of unpaired images.

    python -m training.cyclegan --dataroot DATA --out runs/my-cyclegan            # DATA/trainA, DATA/trainB
    python -m training.cyclegan --train-a A_DIR --train-b B_DIR --out runs/x ...
    python -m training.cyclegan --recipe training/recipes/cyclegan-noto2twemoji.toml --out runs/x  # the shipped one
    accelerate launch --num_processes 2 -m training.cyclegan ...                  # multi-GPU / multi-process
    python -m training.select_step --run runs/x       # ship the best step on held-out validation pairs

The flags are the paper's method: least-squares GAN, cycle L1 x10 per direction (the official lambda_A /
lambda_B), identity L1 x0.5 of that, a 50-image history pool for the discriminators, Adam 2e-4
(0.5, 0.999), constant then linear decay. One generator step (both generators together, discriminators
frozen), then one discriminator step. The departures listed at the end of --help are recipe settings
(`--set KEY=VALUE`), each off by default; what each bought on the emoji task is in docs/experiments.md.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from training.common import (Departure, Run, add_common_args, add_unpaired_data_args, frozen,
                             parse_args as parse_with_recipe, resolve_unpaired_data, unpaired_data, unpaired_info)
from training.losses import ImagePool, blurred_l1, gan_loss, total_variation
from translator.cyclegan import CycleGAN
from translator.layers import PatchDiscriminator, init_weights

DEPARTURES = {
    "cycle_noise": Departure(0.0, "std of Gaussian noise added to each translation before it is translated back "
                                  "(against CycleGAN's steganography, Chu et al. 2017)"),
    "cycle_blur_a": Departure(0.0, "the cycle A->B->A compares images blurred with this sigma, so a translation "
                                   "need not carry A's fine detail just to be reconstructed"),
    "cycle_blur_b": Departure(0.0, "the same for the cycle B->A->B"),
    "lambda_tv_a2b": Departure(0.0, "weight of a total-variation penalty on the translations A->B (taxes grain)"),
    "lambda_tv_b2a": Departure(0.0, "the same on the translations B->A"),
}


class Discriminators(nn.Module):
    def __init__(self, ndf: int, n_layers: int, norm: str):
        super().__init__()
        self.d_a = PatchDiscriminator(3, ndf, n_layers, norm)  # real A vs G_ba(b)
        self.d_b = PatchDiscriminator(3, ndf, n_layers, norm)  # real B vs G_ab(a)

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.d_a(x_a), self.d_b(x_b)


class GeneratorPass(nn.Module):
    """Everything the generator step computes, in one forward (so DDP sees one call per step).
    Translation and identity share a batch: instance norm is per sample, so this is exact and faster.

    cycle_noise > 0 adds Gaussian noise (std in [-1, 1] units) to each translation before it is translated
    back. Without it a generator can hide the source's details in faint high-frequency patterns that only
    the other generator decodes (Chu et al., 2017, "CycleGAN, a master of steganography"); noise on the way
    back makes such low-amplitude codes unreliable."""

    def __init__(self, model: CycleGAN, identity: bool, cycle_noise: float = 0.0):
        super().__init__()
        self.model, self.identity, self.cycle_noise = model, identity, cycle_noise

    def noisy(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.cycle_noise * torch.randn_like(x) if self.cycle_noise > 0 else x

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        n = a.shape[0]
        if self.identity:
            fake_b, idt_b = self.model.g_ab(torch.cat([a, b])).split(n)
            fake_a, idt_a = self.model.g_ba(torch.cat([b, a])).split(n)
        else:
            fake_b, fake_a, idt_a, idt_b = self.model.g_ab(a), self.model.g_ba(b), None, None
        return {"fake_a": fake_a, "fake_b": fake_b, "rec_a": self.model.g_ba(self.noisy(fake_b)),
                "rec_b": self.model.g_ab(self.noisy(fake_a)),
                "idt_a": idt_a, "idt_b": idt_b}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_unpaired_data_args(parser)
    net = parser.add_argument_group("networks (defaults are the paper's)")
    net.add_argument("--image-size", type=int, default=256)
    net.add_argument("--ngf", type=int, default=64)
    net.add_argument("--n-blocks", type=int, default=9)
    net.add_argument("--ndf", type=int, default=64)
    net.add_argument("--n-layers-d", type=int, default=3)
    net.add_argument("--norm", default="instance", choices=["instance", "batch", "none"])
    loss = parser.add_argument_group("losses (the paper's)")
    loss.add_argument("--lambda-cycle-a", type=float, default=10.0, help="weight of the cycle A->B->A")
    loss.add_argument("--lambda-cycle-b", type=float, default=10.0, help="weight of the cycle B->A->B")
    loss.add_argument("--lambda-identity", type=float, default=0.5,
                      help="times the cycle weight of the domain the identity image comes from")
    loss.add_argument("--pool-size", type=int, default=50)
    add_common_args(parser)
    args = parse_with_recipe(parser, argv, DEPARTURES)
    resolve_unpaired_data(args, parser)
    return args


def main(argv=None) -> CycleGAN:
    """Train, export, and return the trained model (each process's own copy under multi-process)."""
    args = parse_args(argv)
    run = Run(args, "training.cyclegan", argv)
    model = CycleGAN(args.image_size, 3, args.ngf, args.n_blocks, args.norm, args.domain_a, args.domain_b)
    discriminators = Discriminators(args.ndf, args.n_layers_d, args.norm)
    init_weights(model)
    init_weights(discriminators)
    opt_g = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminators.parameters(), lr=args.lr, betas=(0.5, 0.999))

    dataset, fixed = unpaired_data(args, run)
    generator_pass = GeneratorPass(model, identity=args.lambda_identity > 0, cycle_noise=args.cycle_noise)
    generator_pass, discriminators, opt_g, opt_d = run.accelerator.prepare(generator_pass, discriminators, opt_g, opt_d)
    d_raw = run.accelerator.unwrap_model(discriminators)
    run.maybe_resume()
    run.track_average(model)
    batches = run.batches(run.loader(dataset))

    # fixed held-out images for the sample grids (training images if no test folder was given)

    pool_a, pool_b = ImagePool(args.pool_size), ImagePool(args.pool_size)
    # the identity term of the generator into B, G_ab(b) ~ b, is weighted by B's cycle weight and vice versa
    lambda_a, lambda_b = args.lambda_cycle_a, args.lambda_cycle_b
    run.progress()
    while run.running:
        batch = next(batches)
        a, b = batch["a"], batch["b"]
        run.set_lr(opt_g, opt_d)

        # generator step: fool both discriminators, keep cycles and identities
        with frozen(d_raw), run.accelerator.autocast():
            out = generator_pass(a, b)
            loss_gan = gan_loss(d_raw.d_b(out["fake_b"]), True) + gan_loss(d_raw.d_a(out["fake_a"]), True)
            cycle_a, cycle_b = blurred_l1(out["rec_a"], a, args.cycle_blur_a), blurred_l1(out["rec_b"], b, args.cycle_blur_b)
            loss_cycle = lambda_a * cycle_a + lambda_b * cycle_b
            loss_idt = args.lambda_identity * (lambda_a * F.l1_loss(out["idt_a"], a) + lambda_b * F.l1_loss(out["idt_b"], b)) \
                if out["idt_a"] is not None else torch.zeros(())
            tv_a2b, tv_b2a = total_variation(out["fake_b"]), total_variation(out["fake_a"])
            loss_g = loss_gan + loss_cycle + loss_idt + args.lambda_tv_a2b * tv_a2b + args.lambda_tv_b2a * tv_b2a
        opt_g.zero_grad(set_to_none=True)
        run.accelerator.backward(loss_g)
        opt_g.step()

        # discriminator step: real vs (pooled) fake, real and fake in one batch per discriminator
        with run.accelerator.autocast():
            n = a.shape[0]
            pred_a, pred_b = discriminators(torch.cat([a, pool_a(out["fake_a"])]), torch.cat([b, pool_b(out["fake_b"])]))
            loss_d = 0.5 * (gan_loss(pred_a[:n], True) + gan_loss(pred_a[n:], False)) \
                + 0.5 * (gan_loss(pred_b[:n], True) + gan_loss(pred_b[n:], False))
        opt_d.zero_grad(set_to_none=True)
        run.accelerator.backward(loss_d)
        opt_d.step()

        run.step_done(lambda: {"g_gan": loss_gan.item(), "cycle_a": cycle_a.item(), "cycle_b": cycle_b.item(),
                               "identity": loss_idt.item(), "tv_a2b": tv_a2b.item(), "tv_b2a": tv_b2a.item(),
                               "d": loss_d.item(), "lr": opt_g.param_groups[0]["lr"]},
                      lambda: save_samples(run, model, fixed))
    run.finish(model, {"family": "cyclegan",
                       "losses": {"gan": "lsgan", "lambda_cycle_a": lambda_a, "lambda_cycle_b": lambda_b,
                                  "lambda_identity": args.lambda_identity, "pool_size": args.pool_size,
                                  **{name: getattr(args, name) for name in DEPARTURES}},
                       **unpaired_info(args)})
    return model


@torch.no_grad()
def save_samples(run: Run, model: CycleGAN, fixed: dict[str, torch.Tensor]) -> None:
    """Rows: A, G_ab(A), G_ba(G_ab(A)), B, G_ba(B), G_ab(G_ba(B))."""
    with run.sampling(model) as net:
        fake_b, fake_a = net.g_ab(fixed["a"]), net.g_ba(fixed["b"])
        run.save_samples([fixed["a"], fake_b, net.g_ba(fake_b), fixed["b"], fake_a, net.g_ab(fake_a)])


if __name__ == "__main__":
    main()
