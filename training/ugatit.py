"""Train U-GAT-IT (Kim et al., ICLR 2020) on two folders of unpaired images.

    python -m training.ugatit --dataroot DATA --out runs/my-ugatit                 # DATA/trainA, DATA/trainB
    python -m training.select_step --run runs/x      # the step to ship, on held-out validation pairs

The flags are the official PyTorch port's defaults (znxlwm/UGATIT-pytorch): the light generator (ngf 64,
4 residual blocks), global (7 layers) and local (5 layers) discriminators with spectral norm per domain;
LSGAN on both the patch scores and the discriminators' CAM logits; cycle L1 x10, identity L1 x10, CAM
loss x1000 (the generator's auxiliary classifier says "source domain" for the images it translates and
"not" for the identity inputs, binary cross-entropy); Adam 1e-4 (0.5, 0.999), weight decay 1e-4, linear
decay over the second half; rho of every AdaLIN/ILN clipped to [0, 1] after each generator step; batch 1.
The discriminators are exported with the generators: their heatmaps are part of what the model shows.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from training.common import (Departure, Run, add_common_args, add_compile_arg, add_unpaired_data_args, frozen,
                             parse_args as parse_with_recipe, resolve_unpaired_data, unpaired_data, unpaired_info)
from training.losses import blurred_l1, gan_loss, total_variation
from translator.layers import AdaptiveNorm, InstanceLayerNorm, init_weights
from translator.ugatit import UGATIT

DEPARTURES = {
    "cycle_blur_a": Departure(0.0, "the cycle A->B->A compares images blurred with this sigma, so a translation "
                                   "need not carry A's fine detail just to be reconstructed (found for CycleGAN)"),
    "cycle_blur_b": Departure(0.0, "the same for the cycle B->A->B"),
    "cycle_noise": Departure(0.0, "std of Gaussian noise added to each translation before it is translated back "
                                  "(as training.cyclegan: against hiding the source in faint patterns)"),
    "lambda_tv_a2b": Departure(0.0, "weight of a total-variation penalty on the translations A->B (taxes grain; "
                                    "as training.cyclegan)"),
    "lambda_tv_b2a": Departure(0.0, "the same on the translations B->A"),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_unpaired_data_args(parser)
    net = parser.add_argument_group("networks (defaults are the official PyTorch port's)")
    net.add_argument("--image-size", type=int, default=256)
    net.add_argument("--ngf", type=int, default=64)
    net.add_argument("--n-blocks", type=int, default=4)
    net.add_argument("--full", action="store_true", help="the full generator (its MLP sees every feature; size-bound)")
    net.add_argument("--ndf", type=int, default=64)
    net.add_argument("--n-layers-global", type=int, default=7)
    net.add_argument("--n-layers-local", type=int, default=5)
    loss = parser.add_argument_group("losses (the official weights)")
    loss.add_argument("--lambda-gan", type=float, default=1.0)
    loss.add_argument("--lambda-cycle", type=float, default=10.0)
    loss.add_argument("--lambda-identity", type=float, default=10.0)
    loss.add_argument("--lambda-cam", type=float, default=1000.0)
    loss.add_argument("--weight-decay", type=float, default=1e-4)
    add_common_args(parser)
    add_compile_arg(parser)
    parser.set_defaults(lr=1e-4)
    args = parse_with_recipe(parser, argv, DEPARTURES)
    resolve_unpaired_data(args, parser)
    return args


def adversarial(discriminator, x: torch.Tensor, real: bool) -> torch.Tensor:
    """LSGAN on a discriminator's patch scores and on its CAM logits."""
    score, cam_logit, _ = discriminator(x)
    return gan_loss(score, real) + gan_loss(cam_logit, real)


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), target))


def clip_rho(module: torch.nn.Module) -> None:
    """The paper's constraint rho in [0, 1] for every AdaLIN and ILN."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (AdaptiveNorm, InstanceLayerNorm)) and hasattr(m, "rho"):
                m.rho.clamp_(0, 1)


class GeneratorPass(torch.nn.Module):
    """Everything the generator step computes, in one forward (so DDP sees one call per step)."""

    def __init__(self, model: UGATIT, cycle_noise: float = 0.0):
        super().__init__()
        self.gen_ab, self.gen_ba = model.gen_ab, model.gen_ba
        self.cycle_noise = cycle_noise

    def noisy(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.cycle_noise * torch.randn_like(x) if self.cycle_noise > 0 else x

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        fake_b, cam_ab, _ = self.gen_ab(a)
        fake_a, cam_ba, _ = self.gen_ba(b)
        idt_b, cam_bb, _ = self.gen_ab(b)
        idt_a, cam_aa, _ = self.gen_ba(a)
        return {"fake_a": fake_a, "fake_b": fake_b, "rec_a": self.gen_ba(self.noisy(fake_b))[0],
                "rec_b": self.gen_ab(self.noisy(fake_a))[0],
                "idt_a": idt_a, "idt_b": idt_b, "cam_ab": cam_ab, "cam_ba": cam_ba, "cam_aa": cam_aa, "cam_bb": cam_bb}


class DiscriminatorPass(torch.nn.Module):
    """The discriminator step's loss in one forward: real against translated, globally and locally."""

    def __init__(self, model: UGATIT):
        super().__init__()
        self.d_global_a, self.d_local_a = model.d_global_a, model.d_local_a
        self.d_global_b, self.d_local_b = model.d_global_b, model.d_local_b

    def forward(self, a, b, fake_a, fake_b) -> torch.Tensor:
        return sum(adversarial(d, real, True) + adversarial(d, fake, False)
                   for d, real, fake in ((self.d_global_a, a, fake_a), (self.d_local_a, a, fake_a),
                                         (self.d_global_b, b, fake_b), (self.d_local_b, b, fake_b)))


def build(run: Run, args: argparse.Namespace):
    """(the model, the generator pass, the discriminator pass, their optimisers), initialised as the official
    port does; with --compile, the two passes go through torch.compile (the generator step's discriminator
    calls and the discriminator step's translations stay eager)."""
    model = UGATIT(args.image_size, args.ngf, args.n_blocks, not args.full, args.ndf, args.n_layers_global,
                   args.n_layers_local, args.domain_a, args.domain_b)
    init_weights(model)
    generator_pass, discriminator_pass = GeneratorPass(model, args.cycle_noise), DiscriminatorPass(model)
    # the two passes only: the networks inside them are the exported model's own (the discriminators too),
    # which Run.compile leaves alone (the moving average is a copy of them)
    run.compile(generator_pass, discriminator_pass)
    opt_g = torch.optim.Adam(generator_pass.parameters(), lr=args.lr, betas=(0.5, 0.999), weight_decay=args.weight_decay)
    opt_d = torch.optim.Adam(discriminator_pass.parameters(), lr=args.lr, betas=(0.5, 0.999),
                             weight_decay=args.weight_decay)
    return model, generator_pass, discriminator_pass, opt_g, opt_d


def discriminators(model: UGATIT) -> tuple:
    return model.d_global_a, model.d_local_a, model.d_global_b, model.d_local_b


WEIGHTS = {"g_gan": "lambda_gan", "cycle": "lambda_cycle", "identity": "lambda_identity", "cam": "lambda_cam",
           "tv_a2b": "lambda_tv_a2b", "tv_b2a": "lambda_tv_b2a"}  # each loss's weight (an argument)


def training_step(run: Run, args: argparse.Namespace, model: UGATIT, generator_pass: torch.nn.Module,
                  discriminator_pass: torch.nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                  batch: dict) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One step: the discriminators' update, then the generators' (rho clipped after it). Returns (the
    generator's losses, unweighted; the discriminators' loss)."""
    a, b = batch["a"], batch["b"]
    # discriminators: real against translated, for patches and CAM logits, globally and locally
    with torch.no_grad(), run.accelerator.autocast():
        fake_b, fake_a = model.gen_ab(a)[0], model.gen_ba(b)[0]
    with run.accelerator.autocast():
        loss_d = discriminator_pass(a, b, fake_a, fake_b)
    opt_d.zero_grad(set_to_none=True)
    run.accelerator.backward(args.lambda_gan * loss_d)
    opt_d.step()

    # generators: fool the discriminators, cycle back, keep target-domain inputs, and the CAM loss
    d_global_a, d_local_a, d_global_b, d_local_b = discriminators(model)
    with frozen(*discriminators(model)), run.accelerator.autocast():
        out = generator_pass(a, b)
        losses = {
            "g_gan": sum(adversarial(d, out[fake], True) for d, fake in (
                (d_global_a, "fake_a"), (d_local_a, "fake_a"), (d_global_b, "fake_b"), (d_local_b, "fake_b"))),
            "cycle": blurred_l1(out["rec_a"], a, args.cycle_blur_a) + blurred_l1(out["rec_b"], b, args.cycle_blur_b),
            "identity": F.l1_loss(out["idt_a"], a) + F.l1_loss(out["idt_b"], b),
            "cam": bce(out["cam_ab"], 1.0) + bce(out["cam_bb"], 0.0) + bce(out["cam_ba"], 1.0) + bce(out["cam_aa"], 0.0),
            "tv_a2b": total_variation(out["fake_b"]),
            "tv_b2a": total_variation(out["fake_a"]),
        }
        loss_g = sum(getattr(args, WEIGHTS[name]) * value for name, value in losses.items() if getattr(args, WEIGHTS[name]))
    opt_g.zero_grad(set_to_none=True)
    run.accelerator.backward(loss_g)
    opt_g.step()
    clip_rho(model)
    return losses, loss_d


def main(argv=None) -> UGATIT:
    args = parse_args(argv)
    run = Run(args, "training.ugatit", argv)
    model, generator_pass, discriminator_pass, opt_g, opt_d = build(run, args)
    dataset, fixed = unpaired_data(args, run)
    generator_pass, discriminator_pass, opt_g, opt_d = run.accelerator.prepare(generator_pass, discriminator_pass,
                                                                               opt_g, opt_d)
    run.maybe_resume()
    run.track_average(model)
    batches = run.batches(run.loader(dataset))

    run.progress()
    while run.running:
        batch = next(batches)
        run.set_lr(opt_g, opt_d)
        losses, loss_d = training_step(run, args, model, generator_pass, discriminator_pass, opt_g, opt_d, batch)
        run.step_done(lambda: {**{name: value.item() for name, value in losses.items()}, "d": loss_d.item(),
                               "lr": opt_g.param_groups[0]["lr"]},
                      lambda: save_samples(run, model, fixed))
    run.finish(model, {"family": "ugatit",
                       "losses": {"gan": "lsgan (patches and CAM logits)", "lambda_gan": args.lambda_gan,
                                  "lambda_cycle": args.lambda_cycle, "lambda_identity": args.lambda_identity,
                                  "lambda_cam": args.lambda_cam, "weight_decay": args.weight_decay,
                                  **{name: getattr(args, name) for name in DEPARTURES}},
                       **unpaired_info(args)})
    return model


@torch.no_grad()
def save_samples(run: Run, model: UGATIT, fixed: dict[str, torch.Tensor]) -> None:
    """Rows: A, G_ab(A), G_ba(G_ab(A)), B, G_ba(B), G_ab(G_ba(B))."""
    with run.sampling(model) as net:
        fake_b, fake_a = net.gen_ab(fixed["a"])[0], net.gen_ba(fixed["b"])[0]
        run.save_samples([fixed["a"], fake_b, net.gen_ba(fake_b)[0], fixed["b"], fake_a, net.gen_ab(fake_a)[0]])


if __name__ == "__main__":
    main()
