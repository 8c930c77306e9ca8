"""Train MUNIT (Huang et al., ECCV 2018) on two folders of unpaired images.

    python -m training.munit --dataroot DATA --out runs/my-munit                   # DATA/trainA, DATA/trainB
    python -m training.munit --train-a DRAWINGS --train-b COLOUR --out runs/x ...

The flags are the official code's defaults (NVlabs/MUNIT, configs/edges2shoes_folder.yaml): generators
dim 64, style_dim 8, 2 downsamplings, 4 residual blocks, MLP 256 x 3; 3-scale discriminators (dim 64,
4 layers, LSGAN); loss weights GAN 1, image reconstruction 10, style reconstruction 1, content
reconstruction 1, style-augmented cycle 0 (10 in the official summer2winter config); Adam 1e-4
(0.5, 0.999), weight decay 1e-4, Kaiming init for the generators, N(0, 0.02) for the discriminators,
batch 1. The official learning rate halves every 100,000 steps; runs here are shorter, so it stays
constant unless --decay-from says otherwise.

One step: the discriminators on real images and (detached) translations, then:
    c_a, s_a' = E_A(a)                      content and style of a real image
    recon:   G_A(c_a, s_a') ~ a             L1
    translate with a random style s_b ~ N(0, I): x_ab = G_B(c_a, s_b) should fool D_B
    latent recon:  E_B(x_ab) ~ (c_a, s_b)   L1 on both codes
    cycle (optional): G_A(content of x_ab, s_a') ~ a
and the same from b.

Two departures, off unless a recipe sets them, for data that is paired by file name although MUNIT trains
unpaired (the multimodal builder's outline of each colour emoji): lambda_paired adds
    paired:  G_B(c_a, E_B's style of a's own B image) ~ that image      L1, and the same from b
and lambda_style_kl pulls the styles read off real images towards the prior, 0.5 |s|^2, so that a random
style and a reference's style mean the same kind of thing (BicycleGAN's two paths, on MUNIT's networks).
A third, lambda_style_partner, for B images named <style>-<code point> (the vendor of an emoji):
    style partner:  G_B(c_a, E_B's style of ANOTHER B image of the same style) ~ a's own B image   L1
The own-image path lets a code carry the colours of that one image; this one asks it for what every image of
the style shares, which is what a style reference means in the app (issue 17's style control).
A fourth, lambda_style_gan, for the same names: B's discriminator gets one more score map per style (FUNIT's
multi-task discriminator), and
    per-style GAN:  G_B(c_a, E_B's style of a random B image r) should look like real images of r's style
to the score map of r's style, which sees real images of that style only. The outline a may come from another
style's emoji (its own lines tell it), so only the reference can say which style to draw in.
"""
from __future__ import annotations

import argparse
import re

import torch
import torch.nn.functional as F
from torch import nn

from training.common import (Departure, Run, add_common_args, add_compile_arg, add_unpaired_data_args, frozen,
                             parse_args as parse_with_recipe, resolve_unpaired_data, unpaired_data, unpaired_info)
from training.losses import gan_loss
from training.unit import Discriminators, discriminator_step, optimisers  # UNIT's discriminators, their step, the optimisers
from translator.layers import MultiScaleDiscriminator, init_weights
from translator.munit import MUNIT

DEPARTURES: dict[str, Departure] = {
    "lambda_paired": Departure(0.0, "weight of an L1 between G_B(content of a, style encoded from a's same-named B "
                                    "image) and that image, and the same from B to A, on the pairs the data has by "
                                    "file name (0: unpaired, as the paper). BicycleGAN's conditional-VAE path: it "
                                    "teaches the style code the colouring of a real image"),
    "lambda_style_kl": Departure(0.0, "weight of 0.5 |s|^2 on the style codes encoded from real images: the KL to "
                                      "the N(0, I) prior of a unit-variance Gaussian centred on the code, so styles "
                                      "read off references and random styles come from one region (0: off, as the "
                                      "paper)"),
    "lambda_style_partner": Departure(0.0, "weight of an L1 between G_B(content of a, style encoded from another B "
                                           "image of the same style: the <style>-<code point> file name's prefix) "
                                           "and a's same-named B image (0: off). Teaches a style code what all "
                                           "images of its style share, not one image's colours"),
    "lambda_style_gan": Departure(0.0, "weight of a per-style adversarial term: B's discriminator has one extra "
                                       "score map per style (<style>-<code point> names), real images of a style "
                                       "against translations with a random reference of that style, and the "
                                       "generator is asked to fool the reference style's map (0: off)"),
}

STYLE_PREFIX = re.compile(r"(.+?)-[0-9a-f]{4,6}(?:-|$)")  # `fluent-flat-1f9d2-1f3fd` -> `fluent-flat`


def style_group(name: str) -> str | None:
    """The style a file name says its image is in (`noto-1f600` -> `noto`), or None if it says none."""
    match = STYLE_PREFIX.match(name.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def any_style(outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """The score maps (one per scale) of B's discriminator as the paper has it: real B of any style against
    translations with random styles (channel 0; the only one without per-style maps)."""
    return [o[:, :1] for o in outputs]


def of_style(outputs: list[torch.Tensor], groups: torch.Tensor) -> list[torch.Tensor]:
    """Each row's score map of its own style (channel 1 + the style's index), one per scale."""
    rows = torch.arange(len(groups), device=groups.device)
    return [o[rows, 1 + groups] for o in outputs]


class GeneratorPass(nn.Module):
    """Everything an update computes of the generators, in one forward (so DDP sees one call per update)."""

    def __init__(self, model: MUNIT, style_dim: int):
        super().__init__()
        self.model, self.style_dim = model, style_dim

    def forward(self, a: torch.Tensor, b: torch.Tensor, latents: bool = True, cycle: bool = False,
                paired: bool = False, b_style: torch.Tensor | None = None, ref: torch.Tensor | None = None) -> dict:
        gen_a, gen_b = self.model.gen_a, self.model.gen_b
        s_a, s_b = (torch.randn(len(a), self.style_dim, device=a.device) for _ in range(2))  # random styles
        c_a, c_b = gen_a.content_encoder(a), gen_b.content_encoder(b)
        out = {"c_a": c_a, "c_b": c_b, "s_a": s_a, "s_b": s_b,
               "fake_a": gen_a.decode(c_b, s_a), "fake_b": gen_b.decode(c_a, s_b)}
        if ref is not None:  # a's content in the style of a random B image (the per-style GAN's translation)
            out["styled_b"] = gen_b.decode(c_a, gen_b.style_encoder(ref))
        if latents:
            own_a, own_b = gen_a.style_encoder(a), gen_b.style_encoder(b)
            out.update(rec_a=gen_a.decode(c_a, own_a), rec_b=gen_b.decode(c_b, own_b))
            out.update(c_a_rec=gen_b.content_encoder(out["fake_b"]), s_b_rec=gen_b.style_encoder(out["fake_b"]),
                       c_b_rec=gen_a.content_encoder(out["fake_a"]), s_a_rec=gen_a.style_encoder(out["fake_a"]))
            if cycle:
                out.update(cyc_a=gen_a.decode(out["c_a_rec"], own_a), cyc_b=gen_b.decode(out["c_b_rec"], own_b))
            out.update(own_a=own_a, own_b=own_b)
            if paired:  # a's content in b's style, which (where b is a's pair) is b itself
                out.update(paired_b=gen_b.decode(c_a, own_b), paired_a=gen_a.decode(c_b, own_a))
            if b_style is not None:  # a's content in the style of another image of b's style, which is b again
                out.update(partner_b=gen_b.decode(c_a, gen_b.style_encoder(b_style)))
        return out


# each logged loss of the generator step, and the flag or recipe setting that weighs it
WEIGHTS = {"g_gan": "lambda_gan", "recon": "lambda_recon", "style": "lambda_style", "content": "lambda_content",
           "cycle": "lambda_cycle", "paired": "lambda_paired", "style_kl": "lambda_style_kl",
           "style_partner": "lambda_style_partner", "style_gan": "lambda_style_gan"}


def generator_losses(out: dict, a: torch.Tensor, b: torch.Tensor, has_pair: torch.Tensor,
                     d: Discriminators, has_style: torch.Tensor | None = None,
                     ref_group: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The generator step's losses, unweighted, from GeneratorPass's outputs. `has_pair` marks the rows
    whose b is a's own pair (only those enter the paired loss); `has_style`, those whose b_style is another
    image of b's style (only those enter the style-partner loss); `ref_group`, the style of each row's
    reference (-1: none; only the others enter the per-style GAN)."""
    zero = torch.zeros((), device=a.device)
    partner = has_style if has_style is not None else torch.zeros_like(has_pair)
    styled = ref_group is not None and "styled_b" in out and bool((ref_group >= 0).any())
    if styled:
        known = ref_group >= 0
        style_gan = gan_loss(of_style(d.d_b(out["styled_b"][known]), ref_group[known]), True)
    return {
        "g_gan": gan_loss(d.d_a(out["fake_a"]), True) + gan_loss(any_style(d.d_b(out["fake_b"])), True),
        "recon": F.l1_loss(out["rec_a"], a) + F.l1_loss(out["rec_b"], b),
        "style": F.l1_loss(out["s_a_rec"], out["s_a"]) + F.l1_loss(out["s_b_rec"], out["s_b"]),
        "content": F.l1_loss(out["c_a_rec"], out["c_a"]) + F.l1_loss(out["c_b_rec"], out["c_b"]),
        "cycle": F.l1_loss(out["cyc_a"], a) + F.l1_loss(out["cyc_b"], b) if "cyc_a" in out else zero,
        "paired": F.l1_loss(out["paired_b"][has_pair], b[has_pair]) + F.l1_loss(out["paired_a"][has_pair], a[has_pair])
        if "paired_b" in out else zero,
        "style_kl": 0.5 * (out["own_a"].pow(2).sum(1).mean() + out["own_b"].pow(2).sum(1).mean()),
        "style_partner": F.l1_loss(out["partner_b"][partner], b[partner])
        if "partner_b" in out and bool(partner.any()) else zero,
        "style_gan": style_gan if styled else zero,
    }


def weighted_sum(args: argparse.Namespace, losses: dict[str, torch.Tensor]) -> torch.Tensor:
    """The generator's objective; a loss of weight 0 is left out (it is only logged)."""
    return sum(getattr(args, WEIGHTS[name]) * value for name, value in losses.items() if getattr(args, WEIGHTS[name]))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_unpaired_data_args(parser)
    net = parser.add_argument_group("networks (defaults are the official code's)")
    net.add_argument("--image-size", type=int, default=256)
    net.add_argument("--dim", type=int, default=64)
    net.add_argument("--style-dim", type=int, default=8)
    net.add_argument("--n-downsample", type=int, default=2)
    net.add_argument("--n-res", type=int, default=4)
    net.add_argument("--mlp-dim", type=int, default=256)
    net.add_argument("--input-kind", choices=["image", "sketch"], default="image",
                     help="sketch: domain A is line drawings (training.data.sketch's); recorded in config.json, it gives "
                          "the app's a2b direction a sketchpad and cuts drawings to what was drawn")
    net.add_argument("--ndf", type=int, default=64)
    net.add_argument("--n-layers-d", type=int, default=4)
    net.add_argument("--n-scales-d", type=int, default=3)
    loss = parser.add_argument_group("losses (the official weights)")
    loss.add_argument("--lambda-gan", type=float, default=1.0)
    loss.add_argument("--lambda-recon", type=float, default=10.0, help="image reconstruction L1")
    loss.add_argument("--lambda-style", type=float, default=1.0, help="style code reconstruction L1")
    loss.add_argument("--lambda-content", type=float, default=1.0, help="content code reconstruction L1")
    loss.add_argument("--lambda-cycle", type=float, default=0.0, help="style-augmented cycle L1 (0 = off)")
    loss.add_argument("--weight-decay", type=float, default=1e-4)
    add_common_args(parser)
    add_compile_arg(parser)
    parser.set_defaults(lr=1e-4, decay_from=1.0)  # the official optimiser; see the module docstring
    args = parse_with_recipe(parser, argv, DEPARTURES)
    resolve_unpaired_data(args, parser)
    return args


def build(run: Run, args: argparse.Namespace, n_styles: int = 0):
    """(the model, its discriminators, the generator pass, their optimisers), initialised as the official code
    does; with --compile, the units a step calls go through torch.compile. n_styles > 0: B's discriminator
    has a score map per style after the paper's one (lambda_style_gan)."""
    model = MUNIT(args.image_size, args.dim, args.style_dim, args.n_downsample, args.n_res, args.mlp_dim,
                  domain_a=args.domain_a, domain_b=args.domain_b, input_kind=args.input_kind)
    discriminators = Discriminators(args.ndf, args.n_layers_d, args.n_scales_d)
    if n_styles:
        discriminators.d_b = MultiScaleDiscriminator(args.n_scales_d, "strided", ndf=args.ndf,
                                                     n_layers=args.n_layers_d, n_outputs=1 + n_styles)
    init_weights(model, kind="kaiming")
    init_weights(discriminators)
    generator_pass = GeneratorPass(model, args.style_dim)
    run.compile(generator_pass, discriminators.d_a, discriminators.d_b)  # the generator step calls d_a, d_b itself
    return model, discriminators, generator_pass, *optimisers(model, discriminators, args)


def style_discriminator_step(run: Run, args: argparse.Namespace, discriminators: nn.Module, opt_d, batch: dict,
                             out: dict) -> torch.Tensor:
    """UNIT's discriminator step (the paper's maps) plus the per-style maps: real B images against
    translations in a reference's style, each on its own style's map. One update for both."""
    a, b, n = batch["a"], batch["b"], len(batch["b"])
    b_group, ref_group = batch["b_group"], batch["ref_group"]
    with run.accelerator.autocast():
        real_a, real_b = discriminators(a, b)
        fake_a, fake_b = discriminators(out["fake_a"].detach(), torch.cat([out["fake_b"], out["styled_b"]]).detach())
        loss_d = (gan_loss(real_a, True) + gan_loss(fake_a, False) + gan_loss(any_style(real_b), True)
                  + gan_loss(any_style([o[:n] for o in fake_b]), False))
        loss_style = torch.zeros((), device=a.device)
        if bool((b_group >= 0).any()):
            loss_style = loss_style + gan_loss(of_style([o[b_group >= 0] for o in real_b], b_group[b_group >= 0]), True)
        if bool((ref_group >= 0).any()):
            styled = [o[n:][ref_group >= 0] for o in fake_b]
            loss_style = loss_style + gan_loss(of_style(styled, ref_group[ref_group >= 0]), False)
    opt_d.zero_grad(set_to_none=True)
    run.accelerator.backward(args.lambda_gan * loss_d + args.lambda_style_gan * loss_style)
    run.finite_step(opt_d)
    return loss_d


def training_step(run: Run, args: argparse.Namespace, generator_pass: nn.Module, discriminators: nn.Module,
                  opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                  batch: dict) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One step: the discriminators' update, then the encoders' and decoders'. Returns (the generator's
    losses, unweighted; the discriminators' loss)."""
    d_raw = run.accelerator.unwrap_model(discriminators)
    a, b = batch["a"], batch["b"]

    # discriminator step: real images against translations with random styles (and in references' styles)
    styled = args.lambda_style_gan > 0
    with torch.no_grad(), run.accelerator.autocast():
        out = generator_pass(a, b, latents=False, ref=batch["ref"] if styled else None)
    if styled:
        loss_d = style_discriminator_step(run, args, discriminators, opt_d, batch, out)
    else:
        loss_d = discriminator_step(run, discriminators, opt_d, (a, b), (out["fake_a"], out["fake_b"]), args.lambda_gan)

    # generator step
    with frozen(d_raw), run.accelerator.autocast():
        paired = args.lambda_paired > 0 and bool(batch["has_pair"].any())
        partner = args.lambda_style_partner > 0 and bool(batch.get("has_style", torch.zeros(1)).any())
        out = generator_pass(a, b, latents=True, cycle=args.lambda_cycle > 0, paired=paired,
                             b_style=batch["b_style"] if partner else None, ref=batch["ref"] if styled else None)
        losses = generator_losses(out, a, b, batch["has_pair"], d_raw, batch.get("has_style"), batch.get("ref_group"))
        loss_g = weighted_sum(args, losses)
    opt_g.zero_grad(set_to_none=True)
    run.accelerator.backward(loss_g)
    run.finite_step(opt_g)  # an overflowing batch is skipped, not applied (see Run.finite_step)
    return losses, loss_d


def main(argv=None) -> MUNIT:
    """Train, export, and return the trained model (each process's own copy under multi-process)."""
    args = parse_args(argv)
    run = Run(args, "training.munit", argv)
    partners, references = args.lambda_style_partner > 0, args.lambda_style_gan > 0
    dataset, fixed = unpaired_data(args, run, paired=args.lambda_paired > 0 or partners,
                                   style_group=style_group if partners or references else None,
                                   partners=partners, references=references)
    styles = dataset.group_names if references else []
    model, discriminators, generator_pass, opt_g, opt_d = build(run, args, len(styles))
    generator_pass, discriminators, opt_g, opt_d = run.accelerator.prepare(generator_pass, discriminators, opt_g, opt_d)
    run.maybe_resume()
    run.track_average(model)
    batches = run.batches(run.loader(dataset))

    fixed["styles"] = torch.randn(3, args.style_dim, generator=torch.Generator().manual_seed(0)).to(run.device)

    run.progress()
    while run.running:
        batch = next(batches)
        run.set_lr(opt_g, opt_d)
        losses, loss_d = training_step(run, args, generator_pass, discriminators, opt_g, opt_d, batch)
        run.step_done(lambda: {**{name: value.item() for name, value in losses.items()}, "d": loss_d.item(),
                               "lr": opt_g.param_groups[0]["lr"]},
                      lambda: save_samples(run, model, fixed))
    run.finish(model, {"family": "munit",
                       "losses": {"gan": "lsgan", "lambda_gan": args.lambda_gan, "lambda_recon": args.lambda_recon,
                                  "lambda_style": args.lambda_style, "lambda_content": args.lambda_content,
                                  "lambda_cycle": args.lambda_cycle, "weight_decay": args.weight_decay,
                                  **{name: getattr(args, name) for name in DEPARTURES},
                                  **({"styles": styles} if styles else {})},
                       **unpaired_info(args)})
    return model


@torch.no_grad()
def save_samples(run: Run, model: MUNIT, fixed: dict[str, torch.Tensor]) -> None:
    """Rows: A, then A translated with three fixed random B styles, then with the style of the B image below
    it (its pair, where the test folders pair by name); the same from B."""
    with run.sampling(model) as net:
        rows = []
        for source, target in (("a", "b"), ("b", "a")):
            images, references = fixed[source], fixed[target]
            content = net.generator(source).content_encoder(images)
            rows.append(images)
            rows += [net.generator(target).decode(content, s.expand(len(images), -1)) for s in fixed["styles"]]
            n = min(len(images), len(references))
            reference_styles = net.generator(target).style_encoder(references[:n])
            rows.append(torch.cat([net.generator(target).decode(content[:n], reference_styles), images[n:]]))
        run.save_samples(rows)


if __name__ == "__main__":
    main()
