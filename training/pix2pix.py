"""Train pix2pix (Isola et al., 2017) on aligned pairs.

    python -m training.pix2pix --sketch-from data/emoji-64/noto/train --out runs/p2p ...  # drawing -> emoji
    python -m training.pix2pix --dataroot DATA --out runs/p2p                          # DATA/trainA + trainB, same names
    python -m training.pix2pix --train-a A_DIR --train-b B_DIR --out runs/p2p          # two folders, same names
    python -m training.pix2pix --pairs DIR --out runs/p2p                              # A|B side-by-side images
    python -m training.pix2pix --recipe training/recipes/pix2pix-sketch2emoji.toml --out runs/p2p  # the shipped one
    python -m training.pix2pix ... --lambda-gan 0                                      # the L1-only ablation
    python -m training.pix2pix --sketch-from ... --inside-channel                     # + what the strokes enclose
    python -m training.pix2pix --sketch-from data/emoji-64/noto/train \
        --outlines-from data/emoji-64/twemoji/train data/emoji-64/fluent-flat/train ...  # drawings of other vendors' shapes
    python -m training.pix2pix --sketch-from ... --one-colour-per-drawing             # one emoji per look (one heart)
    python -m training.pix2pix --sketch-from ... --region-colours                     # flat colour in enclosed regions
    python -m training.pix2pix --sketch-from ... --region-colours --palette-size 32   # ... chosen among 32 colours
    python -m training.pix2pix ... --palette-size 32 --palette-strokes                # ... stroke colours chosen too

Loss: the conditional GAN (vanilla, the discriminator sees input and output together) + 100 x L1 to the
target; D step first, then G, as in the reference code. With --lambda-gan 0 there is no discriminator
at all: the same U-Net trained on L1 alone. With --palette-size, each enclosed region's colour is chosen
among the palette's colours and learnt by cross-entropy to the target region's nearest palette colour (rare
colours weighed up with --palette-rebalance); L1 then scores only the strokes and the outside (inside, it
would pull the choice back to the middle colour), so the logged `l1` (inside pixels counting 0) is not
comparable with a run without a palette. --palette-strokes chooses each stroke pixel's colour the same way
(a regressed stroke, between two colours in training, comes out as their middle); L1 keeps the outside.
--stroke-target says which colour a stroke pixel is asked for: its own, or its darker side (all of it, or only
where that is a dark feature: docs/experiments.md, versions 23-25); --palette-stroke-width chooses only solid
ink (dots) and regresses thinner lines; --regressed-stroke-target asks the regressed strokes for the
--stroke-target colour too, by L1 (so its logged `l1` is measured against that colour on those strokes).
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from training.common import (Departure, Run, add_common_args, data_version, frozen,
                             parse_args as parse_with_recipe, write_validation_list)
from training.data.folders import PairedDataset, cyclegan_folders, is_held_out
from training.data.sketch import SketchPairs
from training.losses import diff_augment, gan_loss
from translator.layers import PatchDiscriminator, init_weights
from translator.pix2pix import (Pix2Pix, colour_by_region, enclosed_regions, is_palette_stroke_width, palette_pixels,
                               per_image_statistics, strokes_of)

DEPARTURES = {
    "diff_augment": Departure("", "DiffAugment transforms for every discriminator input, e.g. "
                                  "'color,translation,cutout' (colour on the image only; the shifts and holes move "
                                  "the drawing with it)"),
}


UNET_NORMS = ["batch", "instance", "layer", "none"]  # what --norm and --inner-norm may be

STROKE_TARGETS = ("pixel", "darker-side", "dark-features")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group("data (one of)")
    data.add_argument("--sketch-from", type=Path, help="colour images; drawings are made from them on the fly")
    data.add_argument("--outlines-from", type=Path, nargs="+", default=[],
                      help="with --sketch-from: other renderings of the same things under the same file names "
                           "(other vendors' emoji); a share of the drawings is made from them (see SketchPairs)")
    data.add_argument("--outline-share", type=float, default=0.5,
                      help="with --outlines-from: the share of training drawings made from them")
    data.add_argument("--simple-drawings", type=float, default=0.0, metavar="F",
                      help="with --sketch-from: the share of training drawings simplified as a person draws "
                           "(one outline, eyes and mouth; see SketchPairs)")
    data.add_argument("--zoom-out", type=float, default=0.0, metavar="F",
                      help="with --sketch-from: half the training pairs shrunk by up to F onto white paper "
                           "(drawings in the app come with a margin; see SketchPairs)")
    data.add_argument("--one-colour-per-drawing", action="store_true",
                      help="with --sketch-from: leave out emoji that look like an older one drawn (IoU > 0.8 at "
                           "64 px) but differ in colour (the hearts of six colours: the blue one stays), so a "
                           "drawing has fewer answers, mostly one (see keep_one_colour_per_drawing)")
    data.add_argument("--dataroot", type=Path, help="DATA/trainA, DATA/trainB with the same file names")
    data.add_argument("--train-a", type=Path, help="input images; with --train-b: the targets, paired by file name")
    data.add_argument("--train-b", type=Path)
    data.add_argument("--pairs", type=Path, help="a folder of A|B side-by-side images")
    data.add_argument("--sample-from", type=Path, help="held-out images for the sample grids (same kind as the data; "
                                                       "for file pairs: a folder holding A/ and B/)")
    data.add_argument("--val-fraction", type=float, default=0.0, metavar="F",
                      help="hold out ~F of the file pairs by a hash of the file name (as training.cyclegan does), "
                           "never trained on; listed in OUT/validation.json for training.select_step")
    data.add_argument("--domain-a", default=None, help="name of the input domain (config.json)")
    data.add_argument("--domain-b", default=None)
    net = parser.add_argument_group("networks (defaults are the paper's)")
    net.add_argument("--image-size", type=int, default=256)
    net.add_argument("--ngf", type=int, default=64)
    net.add_argument("--num-downs", type=int, default=None, help="default: down to 1x1 (8 at 256 px)")
    net.add_argument("--ndf", type=int, default=64)
    net.add_argument("--n-layers-d", type=int, default=3)
    net.add_argument("--norm", default="batch", choices=UNET_NORMS,
                     help="batch: the paper (per-image statistics at inference); instance: no affine; layer: "
                          "per image over channels and pixels, with a learned scale and shift (any batch size)")
    net.add_argument("--inner-norm", default=None, choices=UNET_NORMS,
                     help="the generator's norm at the two levels next to its bottleneck (the 2x2 and 4x4 maps when "
                          "the U-Net goes down to 1x1); "
                          "default: --norm everywhere (the paper)")
    net.add_argument("--layer-norm-scale", default="uniform", choices=["uniform", "one"],
                     help="where layer norm's scales start (generator and discriminator): uniform in [0, 1) "
                          "(MUNIT's; versions 8-11 of the sketch model) or around 1, N(1, 0.02), as batch norm's")
    net.add_argument("--dropout", type=float, default=0.5)
    net.add_argument("--inside-channel", action="store_true",
                     help="with --sketch-from: a fourth input channel marking what the strokes enclose "
                          "(translator.pix2pix.inside_of_drawing), for the U-Net and the discriminator")
    net.add_argument("--region-colours", action="store_true",
                     help="with --sketch-from: the generator colours each region the drawing encloses flat, with "
                          "its mean output colour there (translator.pix2pix.colour_by_region), and trains through "
                          "it; the targets are coloured by the same regions for L1 and the discriminator, so a "
                          "flat output is not told apart from the target by its shading")
    net.add_argument("--palette-size", type=int, default=0, metavar="K",
                     help="with --region-colours: choose each region's colour among K colours, k-means of the "
                          "training targets' region colours (translator.pix2pix, palette_size); 0: regress it")
    net.add_argument("--palette-strokes", action="store_true",
                     help="with --palette-size: choose each stroke pixel's colour among the palette too (its own "
                          "scores, learnt by cross-entropy to the nearest palette colour of the --stroke-target "
                          "colour); L1 then scores only the outside. The palette and its rebalancing weights stay "
                          "those of the regions' colours")
    net.add_argument("--stroke-target", choices=STROKE_TARGETS, default="pixel",
                     help="with --palette-strokes or --regressed-stroke-target: the colour a stroke pixel is "
                          "asked for: the target's there (pixel); the darkest within a pixel of it (darker-side: "
                          "a line marks the edge of a shape and takes the colour of its darker side, so a "
                          "smiley's eyes are dark, not the paper's white beside the outline); or that darkest "
                          "colour only where it is dark, a feature's (dark-features: eyes and mouths dark, other "
                          "strokes their own colour)")
    net.add_argument("--palette-stroke-width", type=int, default=1, metavar="W",
                     help="with --palette-strokes: choose only strokes of solid ink W pixels wide (odd; a "
                          "person's dots for eyes), regress the thinner lines; 1: every stroke")
    net.add_argument("--regressed-stroke-target", action="store_true",
                     help="with --palette-size and a --stroke-target other than pixel: ask the regressed strokes "
                          "(every stroke, or with --palette-strokes those thinner than --palette-stroke-width) for "
                          "the --stroke-target colour, by L1 (a drawn mouth's line dark, not the middle of the "
                          "colours either side of it)")
    net.add_argument("--palette-global", action="store_true",
                     help="with --palette-size: add to every pixel's palette scores a term read from the U-Net's "
                          "bottleneck (translator.pix2pix, palette_global), so what the whole drawing is reaches "
                          "each region's colour choice")
    net.add_argument("--palette-temperature", type=float, default=0.38,
                     help="softmax temperature of the palette's weighted mean (lower: nearer the likeliest colour)")
    net.add_argument("--palette-readings", type=int, default=1, metavar="N",
                     help="with --palette-size: the exported model averages its palette scores over N readings of "
                          "the drawing, its strokes widened by 0, 1, ... pixels (translator.pix2pix, "
                          "palette_readings); training reads each drawing once")
    loss = parser.add_argument_group("losses (the paper's)")
    loss.add_argument("--lambda-l1", type=float, default=100.0)
    loss.add_argument("--lambda-gan", type=float, default=1.0, help="0 = L1-only (no discriminator)")
    loss.add_argument("--lambda-palette", type=float, default=1.0,
                      help="with --palette-size: weight of the cross-entropy of each region's colour choice")
    loss.add_argument("--palette-rebalance", type=float, default=0.0, metavar="S",
                      help="with --palette-size: weigh each palette colour's cross-entropy by 1 / (S * its share of "
                           "the training regions' pixels + (1 - S) / K), so that an unsure region is not simply "
                           "given the commonest colour; 0: unweighted, 0.5: Zhang et al.'s class rebalancing")
    add_common_args(parser)
    args = parse_with_recipe(parser, argv, DEPARTURES)
    if (args.train_a is None) != (args.train_b is None):
        parser.error("--train-a and --train-b go together")
    if sum(x is not None for x in (args.sketch_from, args.dataroot, args.pairs, args.train_a)) != 1:
        parser.error("give exactly one of --sketch-from, --dataroot, --train-a/--train-b, --pairs")
    if args.dataroot:
        args.train_a, args.train_b = cyclegan_folders(args.dataroot, "train")
    if not 0 <= args.val_fraction < 1:
        parser.error("--val-fraction must be in [0, 1)")
    if args.val_fraction and not args.train_a:
        parser.error("--val-fraction needs file pairs (--dataroot or --train-a/--train-b)")
    if args.one_colour_per_drawing and not args.sketch_from:
        parser.error("--one-colour-per-drawing goes with --sketch-from (it compares the drawings made there)")
    if (args.simple_drawings or args.zoom_out) and not args.sketch_from:
        parser.error("--simple-drawings and --zoom-out go with --sketch-from (they change the drawings made there)")
    if not 0 <= args.simple_drawings <= 1:
        parser.error("--simple-drawings is a share of the drawings: between 0 and 1")
    if not 0 <= args.zoom_out < 1:
        parser.error("--zoom-out is the most a pair shrinks by: in [0, 1)")
    if args.inside_channel and not args.sketch_from:
        parser.error("--inside-channel goes with --sketch-from (it reads line drawings)")
    if args.region_colours and not args.sketch_from:
        parser.error("--region-colours goes with --sketch-from (it reads line drawings)")
    if args.palette_size and not args.region_colours:
        parser.error("--palette-size chooses the colour of each enclosed region: it goes with --region-colours")
    if not 0 <= args.palette_size <= 1024:
        parser.error("--palette-size must be between 0 and 1024")
    if not 0 <= args.palette_rebalance < 1:
        parser.error("--palette-rebalance must be in [0, 1) (1 would weigh an unused colour infinitely)")
    if args.palette_strokes and not args.palette_size:
        parser.error("--palette-strokes chooses stroke colours from the palette: it goes with --palette-size")
    if not is_palette_stroke_width(args.palette_stroke_width, args.palette_strokes):
        parser.error("--palette-stroke-width is an odd width up to 15: it goes with --palette-strokes")
    if args.stroke_target != "pixel" and not (args.palette_strokes or args.regressed_stroke_target):
        parser.error("--stroke-target is the colour asked of a chosen stroke (--palette-strokes) or of a regressed "
                     "one (--regressed-stroke-target): it goes with either")
    if args.regressed_stroke_target and (not args.palette_size or args.stroke_target == "pixel"
                                         or (args.palette_strokes and args.palette_stroke_width == 1)):
        parser.error("--regressed-stroke-target asks the regressed strokes (all of them, or with --palette-strokes "
                     "those thinner than --palette-stroke-width) for the --stroke-target colour: it goes with "
                     "--palette-size and a --stroke-target other than pixel, and needs some strokes regressed (not "
                     "--palette-strokes with width 1)")
    if args.palette_global and not args.palette_size:
        parser.error("--palette-global adds to the palette's scores: it goes with --palette-size")
    if not 1 <= args.palette_readings <= 4 or (args.palette_readings > 1 and not args.palette_size):
        parser.error("--palette-readings is 1 to 4 readings of the drawing for the palette's scores: more than 1 "
                     "goes with --palette-size")
    if args.palette_rebalance and not args.palette_size:
        parser.error("--palette-rebalance weighs the palette's cross-entropy: it goes with --palette-size")
    if args.num_downs is None:
        args.num_downs = max(5, args.image_size.bit_length() - 1)  # 256 -> 8, 128 -> 7, 64 -> 6
    return args


def make_dataset(args, folder=None, augment=True, keep=None):
    """The training pairs, or (`folder`) held-out ones of the same kind for the sample grids."""
    if args.outlines_from and not args.sketch_from:
        raise SystemExit("--outlines-from goes with --sketch-from")
    if args.sketch_from:
        return SketchPairs(folder or args.sketch_from, args.image_size, augment,
                           outline_folders=args.outlines_from if folder is None else (),
                           outline_share=args.outline_share,
                           one_colour_per_drawing=args.one_colour_per_drawing and folder is None,
                           simple_share=args.simple_drawings if folder is None else 0.0,
                           zoom_out=args.zoom_out if folder is None else 0.0)
    if args.train_a:
        a, b = (folder / "A", folder / "B") if folder is not None else (args.train_a, args.train_b)
        return PairedDataset(a, b, args.image_size, augment, keep=keep)
    return PairedDataset(folder or args.pairs, None, args.image_size, augment, keep=keep)


def main(argv=None) -> Pix2Pix:
    args = parse_args(argv)
    run = Run(args, "training.pix2pix", argv)
    sketch = args.sketch_from is not None
    domain_a = args.domain_a or (f"{args.sketch_from.parent.name}-sketch" if sketch else "A")
    domain_b = args.domain_b or (args.sketch_from.parent.name if sketch else "B")
    held_out = lambda name: is_held_out(name, args.val_fraction)  # noqa: E731
    train_set = make_dataset(args, keep=(lambda name: not held_out(name)) if args.val_fraction else None)
    if args.val_fraction and run.is_main:
        write_validation_list(args, held_out)
    if args.one_colour_per_drawing and run.is_main:
        print(f"one colour per drawing: {len(train_set)} emoji kept, {len(train_set.left_out)} left out", flush=True)
    model = Pix2Pix(args.image_size, 3, 3, args.ngf, args.num_downs, args.norm, args.dropout, domain_a, domain_b,
                    input_kind="sketch" if sketch else "image", inside_channel=args.inside_channel,
                    inner_norm=args.inner_norm, region_colours=args.region_colours,
                    palette_size=args.palette_size, palette_temperature=args.palette_temperature,
                    palette_strokes=args.palette_strokes, palette_stroke_width=args.palette_stroke_width,
                    palette_global=args.palette_global, palette_readings=args.palette_readings)
    model.palette_readings = 1  # what is trained is one reading; the export's config asks for --palette-readings
    init_weights(model, layer_norm_scale=args.layer_norm_scale)
    if args.palette_size:  # before the resume: a checkpoint's (or warm start's) palette then wins over this one
        region_samples, region_areas = region_colour_samples(train_set)
        with torch.no_grad():
            model.palette.copy_(k_means(region_samples, args.palette_size, args.seed))
    condition = model.condition  # the input as the U-Net sees it (plus the inside channel if asked)
    use_gan = args.lambda_gan > 0
    discriminator = PatchDiscriminator(6 + args.inside_channel, args.ndf, args.n_layers_d, args.norm) \
        if use_gan else nn.Identity()
    init_weights(discriminator, layer_norm_scale=args.layer_norm_scale)
    opt_g = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=args.lr, betas=(0.5, 0.999)) if use_gan else None

    model, opt_g = run.accelerator.prepare(model, opt_g)
    if use_gan:
        discriminator, opt_d = run.accelerator.prepare(discriminator, opt_d)
    d_raw = run.accelerator.unwrap_model(discriminator)
    run.maybe_resume()
    run.track_average(model)
    palette, palette_info, colour_weights = None, {}, None
    if args.palette_size:
        palette = run.accelerator.unwrap_model(model).palette  # the buffer itself: what the loss compares with
        palette_info = {"size": args.palette_size, "regions": len(region_samples),
                        "nearest_l1": round(nearest_colour_distance(region_samples, palette), 5)}
        if args.palette_rebalance:  # from the palette in use (a checkpoint's after a resume)
            colour_weights = palette_weights(region_samples, region_areas, palette, args.palette_rebalance)
            palette_info["rebalance"] = args.palette_rebalance
            palette_info["weights"] = [round(w, 4) for w in colour_weights.tolist()]
            colour_weights = colour_weights.to(run.device)
        if run.is_main:
            print(f"palette: {args.palette_size} colours ({'the checkpoint' if args.resume or args.warm_start else 'k-means of'}"
                  f" {len(region_samples)} training regions); a region's colour is {palette_info['nearest_l1']:.4f} from "
                  f"its nearest palette colour (mean |difference|, 0-1)", flush=True)
            if colour_weights is not None:
                print(f"rebalanced ({args.palette_rebalance}): colour weights {colour_weights.min():.2f} to "
                      f"{colour_weights.max():.2f} (about 1 on average over the training regions' pixels)", flush=True)
    batches = run.batches(run.loader(train_set))
    if sketch and not args.sample_from:  # the training set's own first drawings, drawn plainly
        shown = [train_set.plain(i) for i in range(min(8, len(train_set)))]
    else:
        shown = make_dataset(args, args.sample_from, augment=False)
    fixed = [shown[i] for i in range(min(8, len(shown)))]
    fixed = {k: torch.stack([f[k] for f in fixed]).to(run.device) for k in ("a", "b")}

    def pair(drawing, image):
        """What the discriminator judges: the input beside an output, through DiffAugment if asked."""
        if not args.diff_augment:
            return torch.cat([drawing, image], 1)
        policy = args.diff_augment.split(",")
        if "color" in policy:
            image = diff_augment(image, "color")
        return diff_augment(torch.cat([drawing, image], 1), ",".join(p for p in policy if p != "color"))

    run.progress()
    while run.running:
        batch = next(batches)
        a, b = batch["a"], batch["b"]
        regions = enclosed_regions(a) if args.region_colours else None  # once for the target and the output
        if args.region_colours:
            b = colour_by_region(b, regions=regions)  # the target as a flat-region output could match it
        seen = condition(a) if use_gan else None  # what the conditional discriminator sees beside an image
        run.set_lr(*([opt_g, opt_d] if use_gan else [opt_g]))
        with run.accelerator.autocast():
            # seen: the condition, computed once for G and D
            fake, scores = model(a, seen, regions, with_scores=True)

        if use_gan:  # discriminator: (input, real target) vs (input, generated); two calls keep BN stats apart
            with run.accelerator.autocast():
                loss_d = 0.5 * (gan_loss(discriminator(pair(seen, fake.detach())), False, "vanilla")
                                + gan_loss(discriminator(pair(seen, b)), True, "vanilla"))
            opt_d.zero_grad(set_to_none=True)
            run.accelerator.backward(loss_d)
            opt_d.step()

        with frozen(d_raw), run.accelerator.autocast():
            if scores is None:
                loss_l1 = F.l1_loss(fake, b)
                loss_palette = torch.zeros((), device=a.device)
            else:
                loss_l1, loss_palette = palette_losses(fake, scores, a, b, regions, palette, colour_weights, args)
            loss_gan = gan_loss(d_raw(pair(seen, fake)), True, "vanilla") if use_gan \
                else torch.zeros((), device=a.device)
            loss_g = args.lambda_gan * loss_gan + args.lambda_l1 * loss_l1 + args.lambda_palette * loss_palette
        opt_g.zero_grad(set_to_none=True)
        run.accelerator.backward(loss_g)
        opt_g.step()

        run.step_done(lambda: {**({"d": loss_d.item()} if use_gan else {}), "g_gan": loss_gan.item(),
                               "l1": loss_l1.item(), **({"palette": loss_palette.item()} if args.palette_size else {}),
                               "lr": opt_g.param_groups[0]["lr"]},
                      lambda: save_samples(run, model, fixed))
    source = args.sketch_from or args.train_a or args.pairs
    run.finish(model, {"family": "pix2pix", "data": str(source),
                       "losses": {"gan": "vanilla" if use_gan else "none", "lambda_gan": args.lambda_gan,
                                  "lambda_l1": args.lambda_l1,
                                  **({"lambda_palette": args.lambda_palette, "l1_off_regions": True,
                                      "palette_rebalance": args.palette_rebalance} if args.palette_size else {}),
                                  **({"l1_off_strokes": True, "palette_stroke_width": args.palette_stroke_width}
                                     if args.palette_strokes else {}),
                                  **({"stroke_target": args.stroke_target,
                                      "regressed_stroke_target": args.regressed_stroke_target}
                                     if args.palette_strokes or args.regressed_stroke_target else {}),
                                  **({"diff_augment": args.diff_augment} if use_gan and args.diff_augment else {})},
                       "val_fraction": args.val_fraction, "inside_channel": args.inside_channel,
                       **({"region_colours": True} if args.region_colours else {}),
                       **({"palette": palette_info} if args.palette_size else {}),
                       **({"one_colour_per_drawing": {"kept": len(train_set), "left_out": train_set.left_out}}
                          if args.one_colour_per_drawing else {}),
                       **({"layer_norm_scale": args.layer_norm_scale} if "layer" in (args.norm, args.inner_norm) else {}),
                       **({"outlines_from": [str(f) for f in args.outlines_from], "outline_share": args.outline_share}
                          if sketch and args.outlines_from else {}),
                       **({"simple_drawings": args.simple_drawings} if sketch and args.simple_drawings else {}),
                       **({"zoom_out": args.zoom_out} if sketch and args.zoom_out else {}),
                       **data_version(source)})
    return run.accelerator.unwrap_model(model)


def palette_choice_loss(scores: torch.Tensor, target: torch.Tensor, chosen: torch.Tensor,
                        palette: torch.Tensor, colour_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of each `chosen` pixel's scores (translator.pix2pix.palette_pixels: the enclosed pixels,
    whose scores are their region's mean, and with --palette-strokes the stroke pixels) to the palette colour
    nearest the target's colour there (the target is coloured by the same regions, so every pixel of a region
    asks for one colour); a pixel counts once, times its colour's weight if `colour_weights` (palette_weights)
    is given. 0 where nothing is chosen."""
    scored = chosen.reshape(-1).bool()
    flat_scores = scores.float().permute(0, 2, 3, 1).reshape(-1, scores.shape[1])
    if not scored.any():
        return flat_scores.sum() * 0
    colours = target.float().permute(0, 2, 3, 1).reshape(-1, 3)[scored]
    wanted = nearest_palette_colour(colours, palette.float())
    if colour_weights is None:
        return F.cross_entropy(flat_scores[scored], wanted)
    # a plain mean of the weighted terms (not F.cross_entropy's mean over the weights): with the weights'
    # expectation 1 over the training regions' pixels, the loss keeps its scale and --lambda-palette its meaning
    return (F.cross_entropy(flat_scores[scored], wanted, reduction="none") * colour_weights[wanted]).mean()


def palette_losses(fake: torch.Tensor, scores: torch.Tensor, drawing: torch.Tensor, target: torch.Tensor,
                   regions: torch.Tensor, palette: torch.Tensor, colour_weights: torch.Tensor,
                   args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """A palette model's two losses: L1 where its output is regressed, cross-entropy where it is chosen. Each
    stroke pixel is asked for its --stroke-target colour when chosen, and when regressed too with
    --regressed-stroke-target (otherwise the target's own colour there)."""
    chosen = palette_pixels(drawing, regions, args.palette_strokes, args.palette_stroke_width)
    asked = stroke_targets(target, (strokes_of(drawing) > 0) & (regions.unsqueeze(1) == 0), args.stroke_target)
    loss_l1 = ((fake - (asked if args.regressed_stroke_target else target)).abs() * ~chosen).mean()
    return loss_l1, palette_choice_loss(scores, asked, chosen, palette, colour_weights)


def stroke_targets(target: torch.Tensor, strokes: torch.Tensor, kind: str) -> torch.Tensor:
    """`target` with the colour each stroke pixel is asked for (--stroke-target `kind`, STROKE_TARGETS)."""
    if kind == "pixel":
        return target
    darkest = darkest_neighbour(target)
    if kind == "dark-features":  # mean channel below -0.5 (about 64/255): a dark brown eye, not an orange rim
        strokes = strokes & (darkest.mean(1, keepdim=True) < -0.5)
    return torch.where(strokes, darkest, target)


def darkest_neighbour(image: torch.Tensor) -> torch.Tensor:
    """Bx3xHxW -> each pixel's darkest colour (lowest sum of channels) within one pixel of it, diagonals
    included; beyond the border counts as white paper (--stroke-target darker-side)."""
    batch, channels, height, width = image.shape
    patches = F.unfold(F.pad(image, (1, 1, 1, 1), value=1.0), 3).view(batch, channels, 9, height * width)
    darkest = patches.sum(1).argmin(1)  # B x HW: which of the 9 neighbours
    picked = patches.gather(2, darkest[:, None, None].expand(-1, channels, 1, -1))
    return picked.view(batch, channels, height, width)


def palette_weights(samples: torch.Tensor, areas: torch.Tensor, palette: torch.Tensor,
                    rebalance: float) -> torch.Tensor:
    """Class rebalancing (Zhang, Isola & Efros, Colorful Image Colorization, 2016): colour k weighs
    1 / (rebalance * p_k + (1 - rebalance) / K), p_k its share of the training regions' pixels (each region
    counted by its area and given to its nearest palette colour), scaled so that the expected weight of a
    training pixel is 1 (about 1: the loss also sees regions under 16 px and augmented drawings).
    rebalance 0 weighs every colour 1; towards 1, inverse frequency."""
    palette = palette.detach().float().cpu()
    share = torch.zeros(len(palette)).index_add_(0, nearest_palette_colour(samples, palette), areas.float())
    share = share / share.sum()
    weights = 1 / (rebalance * share + (1 - rebalance) / len(palette))
    return weights / (share * weights).sum()


@torch.no_grad()
def region_colour_samples(pairs: SketchPairs, min_area: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Nx3 in [-1, 1]: the mean colour of every region of `min_area` pixels or more that the deterministic
    drawings of the training targets enclose, one row per region (so a small red region counts as much as a
    large yellow face, and the specks between close strokes not at all); and N: each region's area in pixels
    (what the pixel-wise cross-entropy sees of it)."""
    samples, areas = [], []
    for start in range(0, len(pairs), 64):
        batch = [pairs.plain(i) for i in range(start, min(start + 64, len(pairs)))]
        drawings, targets = torch.stack([p["a"] for p in batch]), torch.stack([p["b"] for p in batch])
        regions = enclosed_regions(drawings)
        flat = colour_by_region(targets, regions=regions)
        for image, numbers in zip(flat, regions):
            found, area = torch.unique(numbers[numbers > 0], return_counts=True)
            large = area >= min_area
            for number, size in zip(found[large], area[large]):
                y, x = (numbers == number).nonzero()[0]
                samples.append(image[:, y, x])
                areas.append(size)
    if not samples:
        return torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)
    return torch.stack(samples), torch.stack(areas)


@torch.no_grad()
def k_means(samples: torch.Tensor, size: int, seed: int = 0, iterations: int = 50) -> torch.Tensor:
    """`size` centres (the palette of --palette-size) of Nx3 `samples`: a k-means++ start drawn with `seed`,
    then Lloyd's steps; a centre left with no samples moves to the sample farthest from every centre."""
    if len(samples) < size:
        raise SystemExit(f"--palette-size {size}: the training drawings enclose only {len(samples)} regions "
                         "large enough to count")
    generator = torch.Generator().manual_seed(seed)
    centres = samples[torch.randint(len(samples), (1,), generator=generator)]
    while len(centres) < size:  # each next centre drawn by squared distance to the nearest so far
        distance = torch.cdist(samples, centres).min(1).values ** 2
        centres = torch.cat([centres, samples[torch.multinomial(distance + 1e-12, 1, generator=generator)]])
    for _ in range(iterations):
        distance, nearest = torch.cdist(samples, centres).min(1)
        for k in range(size):
            members = samples[nearest == k]
            if len(members):
                centres[k] = members.mean(0)
            else:
                farthest = distance.argmax()
                centres[k], distance[farthest] = samples[farthest], 0
    return centres.clamp(-1, 1)


def nearest_colour_distance(samples: torch.Tensor, palette: torch.Tensor) -> float:
    """What a palette costs a perfect choice: the samples' mean |difference| (0-1 units) from their nearest
    palette colour."""
    palette = palette.detach().float().cpu()
    return float((samples - palette[nearest_palette_colour(samples, palette)]).abs().mean() / 2)


def nearest_palette_colour(colours: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """For each Nx3 colour, the index of its nearest (Euclidean) palette colour: the colour a region is asked
    for (palette_choice_loss), counted as (palette_weights) and measured from (nearest_colour_distance)."""
    return torch.cdist(colours, palette).argmin(1)


@torch.no_grad()
def save_samples(run: Run, model, fixed: dict[str, torch.Tensor]) -> None:
    """Rows: input, output as the translator computes it (per-image statistics, no dropout), target."""
    net = copy.deepcopy(run.inference_model(model)).eval()
    per_image_statistics(net)
    run.save_samples([fixed["a"], net(fixed["a"]), fixed["b"]])


if __name__ == "__main__":
    main()
