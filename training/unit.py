"""Train UNIT (Liu, Breuel, Kautz, NIPS 2017) on two folders of unpaired images.

    python -m training.unit --dataroot DATA --out runs/my-unit                       # DATA/trainA, DATA/trainB
    python -m training.unit --recipe training/recipes/unit-noto2twemoji.toml --out runs/x   # the shipped one
    python -m training.select_step --run runs/x      # the step to ship, on held-out validation pairs

The flags are the official code's defaults (mingyuliutw/UNIT, configs/unit_*_folder.yaml): generators
dim 64, 2 downsamplings, 4 residual blocks (here `--n-shared` of them shared between the domains, the
paper's weight sharing); 3-scale discriminators (dim 64, 4 layers, LSGAN); loss weights GAN 1, image
reconstruction 10, KL 0.01, cycle reconstruction 10, cycle KL 0.01; Adam 1e-4 (0.5, 0.999) with weight
decay 1e-4, Kaiming init for the generators and N(0, 0.02) for the discriminators, batch 1. The official
learning rate halves every 100,000 steps; runs here are shorter than that, so it stays constant unless
--decay-from says otherwise.

One step: the discriminators on real images and (detached) translations, then encoders and generators:
    z_a = E_A(a)                            the posterior mean; a sample is z_a + N(0, I)
    recon: G_A(z_a + n) ~ a                 L1, and KL = mean(z_a^2) (unit-variance Gaussian, reduced VAE)
    translate: G_B(z_a + n) should fool D_B
    cycle: G_A(E_B(G_B(z_a + n)) + n) ~ a   L1, and the KL of E_B(G_B(...))
and the same from b.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from training.common import (Departure, Run, add_common_args, add_compile_arg, add_unpaired_data_args, frozen,
                             parse_args as parse_with_recipe, resolve_unpaired_data, unpaired_data, unpaired_info)
from training.losses import blurred_l1, gan_loss
from translator.layers import MultiScaleDiscriminator, init_weights
from translator.unit import UNIT

DEPARTURES = {
    "cycle_blur_a": Departure(0.0, "the cycle A->B->A compares images blurred with this sigma, so a translation "
                                   "need not carry A's fine detail just to be reconstructed (found for CycleGAN)"),
    "cycle_blur_b": Departure(0.0, "the same for the cycle B->A->B"),
    "lambda_identity": Departure(0.0, "CycleGAN's identity term on UNIT's translators: G_B(E_A(b)) ~ b and "
                                      "G_A(E_B(a)) ~ a (L1, posterior means), an absolute weight (CycleGAN's "
                                      "is 0.5 x its cycle weight of 10 = 5). Without it the run at step 8,000 "
                                      "swapped colours (grey keycap -> orange) that the cycle undoes"),
}


class Discriminators(nn.Module):
    def __init__(self, ndf: int, n_layers: int, n_scales: int):
        super().__init__()
        self.d_a = MultiScaleDiscriminator(n_scales, "strided", ndf=ndf, n_layers=n_layers)  # real A vs G_A(z_b)
        self.d_b = MultiScaleDiscriminator(n_scales, "strided", ndf=ndf, n_layers=n_layers)  # real B vs G_B(z_a)

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor) -> tuple[list, list]:
        return self.d_a(x_a), self.d_b(x_b)


def discriminator_step(run: Run, discriminators: Discriminators, opt_d, real: tuple, fake: tuple,
                       weight: float) -> torch.Tensor:
    """One update of both domains' discriminators (LSGAN, summed over scales): real images against the
    (detached) translations into their domain. UNIT's and MUNIT's, alike."""
    with run.accelerator.autocast():
        real_a, real_b = discriminators(*real)
        fake_a, fake_b = discriminators(*(x.detach() for x in fake))
        loss_d = gan_loss(real_a, True) + gan_loss(fake_a, False) + gan_loss(real_b, True) + gan_loss(fake_b, False)
    opt_d.zero_grad(set_to_none=True)
    run.accelerator.backward(weight * loss_d)
    run.finite_step(opt_d)
    return loss_d


def optimisers(model: nn.Module, discriminators: nn.Module, args: argparse.Namespace) -> tuple:
    """The official optimisers, one for the encoders and generators, one for the discriminators: Adam
    (0.5, 0.999) with weight decay. UNIT's and MUNIT's, alike."""
    def adam(module: nn.Module) -> torch.optim.Adam:
        return torch.optim.Adam(module.parameters(), lr=args.lr, betas=(0.5, 0.999), weight_decay=args.weight_decay)

    return adam(model), adam(discriminators)


class GeneratorPass(nn.Module):
    """Everything the encoder/generator step computes, in one forward (so DDP sees one call per step)."""

    def __init__(self, model: UNIT):
        super().__init__()
        self.model = model

    def forward(self, a: torch.Tensor, b: torch.Tensor, cycle: bool = True,
                identity: bool = False) -> dict[str, torch.Tensor]:
        m = self.model
        noisy = lambda z: z + torch.randn_like(z)  # noqa: E731  (a sample of the unit-variance posterior)
        z_a, z_b = m.encode(a, "a"), m.encode(b, "b")
        sample_a, sample_b = noisy(z_a), noisy(z_b)
        out = {"z_a": z_a, "z_b": z_b, "rec_a": m.decode(sample_a, "a"), "rec_b": m.decode(sample_b, "b"),
               "fake_b": m.decode(sample_a, "b"), "fake_a": m.decode(sample_b, "a")}
        if cycle:
            out["z_ab"], out["z_ba"] = m.encode(out["fake_b"], "b"), m.encode(out["fake_a"], "a")
            out["cyc_a"], out["cyc_b"] = m.decode(noisy(out["z_ab"]), "a"), m.decode(noisy(out["z_ba"]), "b")
        if identity:  # each translator given an image already of its target domain
            out["idt_a"], out["idt_b"] = m.decode(m.encode(a, "b"), "a"), m.decode(m.encode(b, "a"), "b")
        return out


def kl(z: torch.Tensor) -> torch.Tensor:
    """KL(N(z, I) || N(0, I)) up to a constant and a factor 1/2: the official mean(z^2)."""
    return z.float().pow(2).mean()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_unpaired_data_args(parser)
    net = parser.add_argument_group("networks (defaults are the official code's)")
    net.add_argument("--image-size", type=int, default=256)
    net.add_argument("--dim", type=int, default=64, help="width of the first encoder layer")
    net.add_argument("--n-downsample", type=int, default=2)
    net.add_argument("--n-res", type=int, default=4, help="residual blocks per encoder and per generator")
    net.add_argument("--n-shared", type=int, default=1,
                     help="of those, how many are shared between the domains (the paper's high-level layers)")
    net.add_argument("--up-kernel", type=int, default=5, help="kernel of the decoder's upsampling convs")
    net.add_argument("--ndf", type=int, default=64)
    net.add_argument("--n-layers-d", type=int, default=4)
    net.add_argument("--n-scales-d", type=int, default=3)
    loss = parser.add_argument_group("losses (the official weights)")
    loss.add_argument("--lambda-gan", type=float, default=1.0)
    loss.add_argument("--lambda-recon", type=float, default=10.0, help="image reconstruction L1 (the VAE term)")
    loss.add_argument("--lambda-kl", type=float, default=0.01)
    loss.add_argument("--lambda-cycle", type=float, default=10.0, help="cycle reconstruction L1")
    loss.add_argument("--lambda-cycle-kl", type=float, default=0.01)
    loss.add_argument("--weight-decay", type=float, default=1e-4)
    add_common_args(parser)
    add_compile_arg(parser)
    parser.set_defaults(lr=1e-4, decay_from=1.0)  # the official optimiser; see the module docstring
    args = parse_with_recipe(parser, argv, DEPARTURES)
    resolve_unpaired_data(args, parser)
    if not 0 <= args.n_shared <= args.n_res:
        parser.error("--n-shared must be between 0 and --n-res")
    return args


def build(run: Run, args: argparse.Namespace):
    """(the model, its discriminators, the generator pass, their optimisers), initialised as the official code
    does; with --compile, the units a step calls go through torch.compile."""
    model = UNIT(args.image_size, args.dim, args.n_downsample, args.n_res, args.n_shared, args.domain_a, args.domain_b,
                 args.up_kernel)
    discriminators = Discriminators(args.ndf, args.n_layers_d, args.n_scales_d)
    init_weights(model, kind="kaiming")
    init_weights(discriminators)
    generator_pass = GeneratorPass(model)
    run.compile(generator_pass, discriminators.d_a, discriminators.d_b)  # the generator step calls d_a, d_b itself
    return model, discriminators, generator_pass, *optimisers(model, discriminators, args)


def training_step(run: Run, args: argparse.Namespace, generator_pass: nn.Module, discriminators: nn.Module,
                  opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                  batch: dict) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One step: the discriminators' update, then the encoders' and generators'. Returns (the generator's
    losses, unweighted; the discriminators' loss)."""
    d_raw = run.accelerator.unwrap_model(discriminators)
    a, b = batch["a"], batch["b"]
    cycle = args.lambda_cycle > 0 or args.lambda_cycle_kl > 0
    zero = torch.zeros(())

    # discriminator step: real images against translations of the other domain's images
    with torch.no_grad(), run.accelerator.autocast():
        out = generator_pass(a, b, cycle=False)
    loss_d = discriminator_step(run, discriminators, opt_d, (a, b), (out["fake_a"], out["fake_b"]), args.lambda_gan)

    # encoder/generator step
    with frozen(d_raw), run.accelerator.autocast():
        out = generator_pass(a, b, cycle=cycle, identity=args.lambda_identity > 0)
        losses = {
            "g_gan": gan_loss(d_raw.d_a(out["fake_a"]), True) + gan_loss(d_raw.d_b(out["fake_b"]), True),
            "recon": F.l1_loss(out["rec_a"], a) + F.l1_loss(out["rec_b"], b),
            "kl": kl(out["z_a"]) + kl(out["z_b"]),
            "cycle": blurred_l1(out["cyc_a"], a, args.cycle_blur_a) + blurred_l1(out["cyc_b"], b, args.cycle_blur_b)
            if cycle else zero,
            "cycle_kl": kl(out["z_ab"]) + kl(out["z_ba"]) if cycle else zero,
            "identity": F.l1_loss(out["idt_a"], a) + F.l1_loss(out["idt_b"], b) if args.lambda_identity > 0 else zero,
        }
        loss_g = sum(getattr(args, WEIGHTS[name]) * value for name, value in losses.items())
    opt_g.zero_grad(set_to_none=True)
    run.accelerator.backward(loss_g)
    run.finite_step(opt_g)
    return losses, loss_d


WEIGHTS = {"g_gan": "lambda_gan", "recon": "lambda_recon", "kl": "lambda_kl", "cycle": "lambda_cycle",
           "cycle_kl": "lambda_cycle_kl", "identity": "lambda_identity"}  # each loss's weight (an argument)


def main(argv=None) -> UNIT:
    """Train, export, and return the trained model (each process's own copy under multi-process)."""
    args = parse_args(argv)
    run = Run(args, "training.unit", argv)
    model, discriminators, generator_pass, opt_g, opt_d = build(run, args)
    dataset, fixed = unpaired_data(args, run)
    generator_pass, discriminators, opt_g, opt_d = run.accelerator.prepare(generator_pass, discriminators, opt_g, opt_d)
    run.maybe_resume()
    run.track_average(model)
    batches = run.batches(run.loader(dataset))

    run.progress()
    while run.running:
        batch = next(batches)
        run.set_lr(opt_g, opt_d)
        losses, loss_d = training_step(run, args, generator_pass, discriminators, opt_g, opt_d, batch)
        run.step_done(lambda: {**{name: value.item() for name, value in losses.items()}, "d": loss_d.item(),
                               "lr": opt_g.param_groups[0]["lr"]},
                      lambda: save_samples(run, model, fixed))
    run.finish(model, {"family": "unit",
                       "losses": {"gan": "lsgan", "lambda_gan": args.lambda_gan, "lambda_recon": args.lambda_recon,
                                  "lambda_kl": args.lambda_kl, "lambda_cycle": args.lambda_cycle,
                                  "lambda_cycle_kl": args.lambda_cycle_kl, "weight_decay": args.weight_decay,
                                  **{name: getattr(args, name) for name in DEPARTURES}},
                       **unpaired_info(args)})
    return model


@torch.no_grad()
def save_samples(run: Run, model: UNIT, fixed: dict[str, torch.Tensor]) -> None:
    """Rows: A, G_B(E_A(A)) the translation, G_A(E_A(A)) the reconstruction; then the same from B."""
    with run.sampling(model) as net:
        z_a, z_b = net.encode(fixed["a"], "a"), net.encode(fixed["b"], "b")
        run.save_samples([fixed["a"], net.decode(z_a, "b"), net.decode(z_a, "a"),
                          fixed["b"], net.decode(z_b, "a"), net.decode(z_b, "b")])


if __name__ == "__main__":
    main()
