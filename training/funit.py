"""Train FUNIT or COCO-FUNIT (Liu et al., ICCV 2019; Saito et al., ECCV 2020) on images in classes.

    python -m training.funit --recipe training/recipes/funit-fonts.toml --out runs/funit-fonts     # the fonts
    python -m training.funit --data DIR --out runs/mine          # DIR/<class>/*.png, one folder per class
    python -m training.funit ... --style-encoder coco            # COCO-FUNIT

Data: `--data DIR` is either the font builder's layout, DIR/train/<font>/<HEX>.png (and DIR/unseen/...,
fonts held out for the sample grids and the evaluation), or any folder whose subfolders are the classes.
Each class is one output of the discriminator, so the class list is fixed for a run (resume with the same
data). A sample is a content image (any image of any class), K images of another class, and, when that
class has an image of the same name (the same character of another font), that image as the target: the
log's `paired_l1` compares the translation with it (a check on the side, unless the departure
`lambda_paired` makes it a loss).

Validation hold-out (`--val-fraction F`, the font recipe: 0.05): about F of the training classes are
never trained on, so `training.select_step` can choose a step on classes the model never saw without
touching the unseen split. In the font builder's layout whole family groups are held out (by a hash of
the group named in the data's manifest.json, the way the builder holds out the unseen fonts), so no
weight or sibling of a validation font is trained on; in any other folder, by a hash of the class name.
The held-out classes are listed in OUT/validation.json (training.evaluate's "fewshot" protocol reads it).

The flags are the official code's defaults (NVlabs/FUNIT configs/funit_animals.yaml): generator nf 64,
2 residual blocks, MLP 256 x 3, latent 64, 3 content / 4 class downsamplings; the multi-task
discriminator GPPatchMcResDis (nf 64, 10 pre-activation residual blocks, one output map per training
class); hinge GAN x1 on the translation and on the reconstruction (averaged), image reconstruction L1 x0.1,
feature matching x1 (L1 between the discriminator's spatially averaged features of the reconstruction
and the content image, and of the translation and the class image), the real-image gradient penalty x10
(R1: squared gradient of the mean real output, summed per image); Kaiming init; the exported generator is
the moving average of the weights (decay 0.999, the official `gen_test`). The optimiser is Adam 1e-4,
betas (0, 0.999), as imaginaire's FUNIT and COCO-FUNIT (`--optimizer rmsprop`: the original repo's
RMSprop 1e-4 with weight decay 1e-4); the learning rate stays constant (the original's). Batch 8 per
process (the official 64 = 8 GPUs x 8). One class image per class code in training (K = 1, official); at
test time the K codes are averaged. Glyphs are not flipped or cropped (a mirrored letter is another
letter); `--jitter` gives the official resize-then-random-crop.

One step, as the official one: the discriminator on real class images (hinge, + R1) and on (detached)
translations, then the generator:
    c = content_encoder(x_a), s_a = class_encoder(x_a), s_b = class_encoder(x_b)   (K codes averaged)
    translation x_t = decode(c, s_b), reconstruction x_r = decode(c, s_a)
    adv: D_lb(x_t) and D_la(x_r) should say real; recon: x_r ~ x_a; features: D(x_r) ~ D(x_a), D(x_t) ~ D(x_b)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from torchvision.transforms.v2.functional import pil_to_tensor

from training.common import Departure, Run, add_common_args, data_version, frozen, parse_args as parse_with_recipe
from training.data.folders import IMAGE_SUFFIXES, ImageFiles, eval_transform, is_held_out, random_geometry
from training.losses import feature_matching, gan_loss, r1_penalty
from translator.funit import FUNIT, INPUTS, STYLE_ENCODERS
from translator.layers import ConvNormAct, init_weights

DEPARTURES = {
    "ema": Departure(0.999, "the exported generator is the moving average of the weights with this decay (official "
                            "FUNIT: 0.999, its gen_test); 0 exports the last weights"),
    "train_k": Departure(1, "class images averaged into each class code in training (official: 1); the first of "
                            "them is the real image the discriminator sees"),
    "lambda_paired": Departure(0.0, "weight of an L1 loss between the translation and the class's own image of the "
                                    "content (the same character in the target font), on the samples that have one: "
                                    "supervision FUNIT does not use, which glyph data gives for free (official: 0)"),
    "base_content": Departure(False, "the translation's content image is its character drawn in the app's base font "
                                     "(what the app and the evaluation feed the model), not an image of a random "
                                     "training class; the reconstruction keeps the class image (official: false). "
                                     "Needs images named by code point (the font layout)"),
}


# --- data ------------------------------------------------------------------------------------------------
def class_root(data: Path, split: str = "train") -> Path:
    """DATA/<split> in the font builder's layout, else DATA itself (its subfolders are the classes)."""
    nested = Path(data) / split
    return nested if nested.is_dir() and any(p.is_dir() for p in nested.iterdir()) else Path(data)


def class_folders(root: Path) -> list[str]:
    classes = sorted(p.name for p in Path(root).iterdir()
                     if p.is_dir() and any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir()))
    if len(classes) < 2:
        raise SystemExit(f"{root}: few-shot training needs at least 2 classes (subfolders of images), "
                         f"found {len(classes)}")
    return classes


def class_groups(root: Path, classes: list[str]) -> tuple[dict[str, str], str]:
    """({class: the group it is held out with}, what the groups are): the family group the font builder's
    manifest.json (in ROOT or a folder above) gives each font, else each class on its own."""
    for parent in [Path(root), *Path(root).parents]:
        manifest = parent / "manifest.json"
        if manifest.exists():
            fonts = json.loads(manifest.read_text()).get("fonts")
            if isinstance(fonts, list):
                group = {f["id"]: f.get("group") for f in fonts if isinstance(f, dict) and f.get("group")}
                if all(c in group for c in classes):
                    return {c: group[c] for c in classes}, "family group (manifest.json)"
            break
    return {c: c for c in classes}, "class name"


def validation_classes(root: Path, classes: list[str], fraction: float) -> tuple[list[str], str]:
    """The classes held out of training for choosing a step (about `fraction` of them, decided by a hash of
    their group, so the same on every run), and how they were grouped. At least one class stays in training
    and, with fraction > 0, at least one is held out."""
    if fraction <= 0:
        return [], "none"
    groups, by = class_groups(root, classes)
    held = [c for c in classes if is_held_out(groups[c], fraction)]
    if not held:  # a tiny data set: hold out the class whose hash is smallest
        held = [min(classes, key=lambda c: hashlib.sha1(groups[c].encode()).digest())]
        held = [c for c in classes if groups[c] == groups[held[0]]]
    if len(held) >= len(classes) - 1:
        raise SystemExit(f"--val-fraction {fraction}: the hold-out would leave fewer than 2 training classes "
                         f"of {len(classes)}")
    return held, by


class FewShotClasses(Dataset):
    """Content images (each image of each class in turn) with K images of a random other class and, when
    that class has an image of the same name, that image as the target. `base_content`: each sample also
    has "base", the content's character (its file name is the code point, as in the font layout) drawn in
    the app's base font, which the app writes every typed word in."""

    def __init__(self, root: Path, size: int, k: int = 1, channels: int = 3, jitter: float = 1.0,
                 classes: list[str] | None = None, base_content: bool = False):
        self.root = Path(root)
        self.classes = classes or class_folders(self.root)
        self.sets = [ImageFiles(self.root / c, size) for c in self.classes]
        self.by_name = [{p.stem: i for i, p in enumerate(s.files)} for s in self.sets]
        self.index = [(c, i) for c, s in enumerate(self.sets) for i in range(len(s))]
        self.k, self.channels, self.size = k, channels, size
        self.geometry = random_geometry(size, jitter, flip=False) if jitter > 1 else None
        self.base: dict[str, torch.Tensor] = {}
        if base_content:  # drawn once per character, as the app draws them (no jitter)
            for stem in sorted({f.stem for s in self.sets for f in s.files}):
                self.base[stem] = self.base_glyph(stem)

    def __len__(self) -> int:
        return len(self.index)

    def image(self, c: int, i: int) -> torch.Tensor:
        x = self.sets[c][i]
        return self.in_channels(eval_transform()(self.geometry(x) if self.geometry else x))

    def in_channels(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(0, keepdim=True) if self.channels == 1 else x

    def base_glyph(self, stem: str) -> torch.Tensor:
        from translator.funit import render_glyph

        try:
            char = chr(int(stem, 16))
        except (ValueError, OverflowError):
            raise SystemExit(f"base_content needs images named by their code point in hex (e.g. 0041.png); "
                             f"found {stem!r}") from None
        return self.in_channels(eval_transform()(pil_to_tensor(render_glyph(char, None, self.size))))

    def __getitem__(self, n: int) -> dict:
        a, i = self.index[n]
        b = random.choice([c for c in range(len(self.sets)) if c != a])
        pool = range(len(self.sets[b]))
        picks = random.sample(pool, self.k) if self.k <= len(pool) else random.choices(pool, k=self.k)
        j = self.by_name[b].get(self.sets[a].files[i].stem)
        target = self.image(b, j) if j is not None else torch.zeros_like(self.image(a, i))
        sample = {"content": self.image(a, i), "content_label": a, "class_label": b,
                  "class_images": torch.stack([self.image(b, p) for p in picks]),
                  "target": target, "has_target": j is not None}
        if self.base:
            sample["base"] = self.base[self.sets[a].files[i].stem]
        return sample


# --- the multi-task discriminator (GPPatchMcResDis) -------------------------------------------------------
class ActFirstResBlock(nn.Module):
    """Pre-activation residual block: (leaky ReLU, 3x3 conv) twice; a learned 1x1 shortcut without bias
    when the width changes."""

    def __init__(self, fin: int, fout: int):
        super().__init__()
        hidden = min(fin, fout)
        self.conv_0 = ConvNormAct(fin, hidden, 3, padding=1, norm="none", activation=nn.Identity(),
                                  padding_mode="reflect", bias=True)
        self.conv_1 = ConvNormAct(hidden, fout, 3, padding=1, norm="none", activation=nn.Identity(),
                                  padding_mode="reflect", bias=True)
        self.shortcut = nn.Conv2d(fin, fout, 1, bias=False) if fin != fout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dx = self.conv_0(F.leaky_relu(x, 0.2))
        dx = self.conv_1(F.leaky_relu(dx, 0.2))
        return self.shortcut(x) + dx


class Downsample(nn.Module):
    """Reflection pad 1 + 3x3 average pool, stride 2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, 2)


class MultiTaskDiscriminator(nn.Module):
    """A 7x7 conv, then per stage two pre-activation residual blocks (the second doubling the width, at
    most 1024) and a downsampling, `n_res // 2` stages (the last without downsampling); a leaky ReLU and a
    1x1 conv to one score map per class. `forward(x, y)` returns the maps of each image's class y and
    the features (what feature matching compares)."""

    def __init__(self, n_classes: int, channels: int = 3, nf: int = 64, n_res: int = 10):
        super().__init__()
        if n_res % 2:
            raise ValueError("the discriminator's residual blocks come in pairs: n_res must be even")
        layers: list[nn.Module] = [nn.Conv2d(channels, nf, 7, padding=3, padding_mode="reflect")]
        for stage in range(n_res // 2):
            out = min(nf * 2, 1024)
            layers += [ActFirstResBlock(nf, nf), ActFirstResBlock(nf, out)]
            if stage < n_res // 2 - 1:
                layers.append(Downsample())
            nf = out
        self.features = nn.Sequential(*layers)
        self.classes = nn.Conv2d(nf, n_classes, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        scores = self.classes(F.leaky_relu(features, 0.2))
        return scores[torch.arange(len(x), device=x.device), y], features


# --- the two updates -------------------------------------------------------------------------------------
class GeneratorPass(nn.Module):
    """The translation (content with the class images' averaged code) and, if asked, the reconstruction
    (content with its own code), in one forward (so DDP sees one call per step)."""

    def __init__(self, model: FUNIT):
        super().__init__()
        self.model = model

    def forward(self, content: torch.Tensor, class_images: torch.Tensor, recon: bool = True,
                recon_content: torch.Tensor | None = None) -> dict:
        """recon_content: the image to reconstruct, when it is not the translation's content (base_content)."""
        m = self.model
        c = m.content_encoder(content)
        out = {"translation": m.decode(c, m.class_code(class_images))}
        if recon:
            if recon_content is not None:
                content, c = recon_content, m.content_encoder(recon_content)
            out["reconstruction"] = m.decode(c, m.class_encoder(content))
        return out


def discriminator_step(run: Run, discriminator, opt_d, real, labels, fake, args) -> dict[str, torch.Tensor]:
    """Hinge on real class images and detached translations (same class labels), plus R1 on the reals. The
    penalty's gradient is taken of the loss-scaled output and unscaled, as PyTorch's AMP recipe for
    gradient penalties does, so fp16 does not flush it to zero."""
    real = real.detach().requires_grad_(args.lambda_gp > 0)
    with run.accelerator.autocast():
        scores, _ = discriminator(torch.cat([real, fake.detach()]), torch.cat([labels, labels]))
        real_scores, fake_scores = scores.split(len(real))
        loss_real, loss_fake = gan_loss(real_scores, True, "hinge"), gan_loss(fake_scores, False, "hinge")
    if args.lambda_gp > 0:
        scale = run.accelerator.scaler.get_scale() if run.accelerator.scaler is not None else 1.0
        gp = r1_penalty(real_scores.float().mean() * scale, real) / scale ** 2  # official: grad of the mean output
    else:
        gp = torch.zeros((), device=real.device)
    opt_d.zero_grad(set_to_none=True)
    run.accelerator.backward(args.lambda_gan * (loss_real + loss_fake) + args.lambda_gp * gp)
    opt_d.step()
    return {"d_real": loss_real, "d_fake": loss_fake, "gp": gp}


# --- the run ---------------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--data", type=Path, help="DATA/train/<class>/ (the font layout) or DATA/<class>/ (required)")
    data.add_argument("--split", default="train", help="the training split's folder in the font layout")
    data.add_argument("--unseen", type=Path, help="classes never trained on, for the sample grids "
                                                  "(default: DATA/unseen if it exists)")
    data.add_argument("--val-fraction", type=float, default=0.0, metavar="F",
                      help="hold out about this fraction of the training classes (whole family groups in the font "
                           "layout) for choosing a step with training.select_step; listed in OUT/validation.json, "
                           "never trained on (0: train on all)")
    data.add_argument("--jitter", type=float, default=1.0,
                      help="resize by this factor then random-crop back (official: 140/128 on animal faces; glyphs: 1)")
    data.add_argument("--inputs", choices=INPUTS, default="images",
                      help="glyphs: the app normalises dragged-in glyphs and refuses non-glyphs (the fonts); images: "
                           "any pictures, letterboxed")
    data.add_argument("--domain-a", default="content", help="what the content images are, in words (config.json)")
    data.add_argument("--domain-b", default="references", help="what the reference classes are, in words")
    net = parser.add_argument_group("networks (defaults are the official code's)")
    net.add_argument("--image-size", type=int, default=128)
    net.add_argument("--channels", type=int, choices=[1, 3], default=3)
    net.add_argument("--dim", type=int, default=64)
    net.add_argument("--latent-dim", type=int, default=64)
    net.add_argument("--n-downsample", type=int, default=3, help="content encoder downsamplings")
    net.add_argument("--n-class-downsample", type=int, default=4, help="class encoder downsamplings")
    net.add_argument("--n-res", type=int, default=2)
    net.add_argument("--mlp-dim", type=int, default=256)
    net.add_argument("--n-mlp", type=int, default=3)
    net.add_argument("--up-kernel", type=int, default=5, help="kernel of the decoder's upsampling convs")
    net.add_argument("--style-encoder", choices=STYLE_ENCODERS, default="funit", help="coco: COCO-FUNIT")
    net.add_argument("--usb-dim", type=int, default=1024, help="COCO-FUNIT's universal style bias length")
    net.add_argument("--ndf", type=int, default=64, help="discriminator base width")
    net.add_argument("--n-res-d", type=int, default=10, help="discriminator residual blocks (even)")
    loss = parser.add_argument_group("losses and optimiser (the official weights)")
    loss.add_argument("--lambda-gan", type=float, default=1.0)
    loss.add_argument("--lambda-recon", type=float, default=0.1, help="reconstruction L1")
    loss.add_argument("--lambda-fm", type=float, default=1.0, help="feature matching")
    loss.add_argument("--lambda-gp", type=float, default=10.0, help="R1 gradient penalty on real images")
    loss.add_argument("--optimizer", choices=["adam", "rmsprop"], default="adam")
    loss.add_argument("--weight-decay", type=float, default=None, help="default: 0 with adam, 1e-4 with rmsprop")
    add_common_args(parser)
    parser.set_defaults(lr=1e-4, decay_from=1.0, batch_size=8)
    args = parse_with_recipe(parser, argv, DEPARTURES)
    if args.data is None:
        parser.error("give --data DIR (DIR/train/<class>/ or DIR/<class>/)")
    if not args.data.is_dir():
        parser.error(f"--data {args.data}: no such folder")
    if args.unseen is None and (args.data / "unseen").is_dir():
        args.unseen = args.data / "unseen"
    if args.weight_decay is None:
        args.weight_decay = 1e-4 if args.optimizer == "rmsprop" else 0.0
    if args.train_k < 1:
        parser.error("train_k must be at least 1")
    if not 0 <= args.val_fraction < 1:
        parser.error("--val-fraction must be in [0, 1)")
    return args


def optimizer(params, args) -> torch.optim.Optimizer:
    if args.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=args.lr, weight_decay=args.weight_decay)
    return torch.optim.Adam(params, lr=args.lr, betas=(0.0, 0.999), weight_decay=args.weight_decay)


def main(argv=None) -> FUNIT:
    """Train, export, and return the trained model (each process's own copy under multi-process)."""
    args = parse_args(argv)
    run = Run(args, "training.funit", argv)
    root = class_root(args.data, args.split)
    classes = class_folders(root)
    held, held_by = validation_classes(root, classes, args.val_fraction)
    if held and run.is_main:
        (args.out / "validation.json").write_text(json.dumps(
            {"fraction": args.val_fraction, "by": held_by, "root": str(root), "classes": held}, indent=1))
    dataset = FewShotClasses(root, args.image_size, args.train_k, args.channels, args.jitter,
                             classes=[c for c in classes if c not in held], base_content=args.base_content)
    model = FUNIT(args.image_size, args.channels, args.dim, args.latent_dim, args.n_downsample,
                  args.n_class_downsample, args.n_res, args.mlp_dim, args.n_mlp, args.up_kernel, args.style_encoder,
                  args.usb_dim, args.inputs, args.domain_a, args.domain_b)
    discriminator = MultiTaskDiscriminator(len(dataset.classes), args.channels, args.ndf, args.n_res_d)
    init_weights(model, kind="kaiming")
    init_weights(discriminator, kind="kaiming")
    opt_g, opt_d = optimizer(model.parameters(), args), optimizer(discriminator.parameters(), args)

    fixed = fixed_samples(args, dataset, run.device)
    generator_pass = GeneratorPass(model)
    generator_pass, discriminator, opt_g, opt_d = run.accelerator.prepare(generator_pass, discriminator, opt_g, opt_d)
    d_raw = run.accelerator.unwrap_model(discriminator)
    run.maybe_resume()
    run.track_average(model)
    batches = run.batches(run.loader(dataset))

    run.progress()
    while run.running:
        batch = next(batches)
        x_a, y_a, x_b, y_b = batch["content"], batch["content_label"], batch["class_images"], batch["class_label"]
        content = batch["base"] if args.base_content else x_a  # what is translated
        run.set_lr(opt_g, opt_d)

        # discriminator step: real class images against translations into their class
        with torch.no_grad(), run.accelerator.autocast():
            out = generator_pass(content, x_b, recon=False)
        d_losses = discriminator_step(run, discriminator, opt_d, x_b[:, 0], y_b, out["translation"], args)

        # generator step
        with frozen(d_raw), run.accelerator.autocast():
            out = generator_pass(content, x_b, recon_content=x_a if args.base_content else None)
            scores, features = d_raw(torch.cat([out["translation"], out["reconstruction"]]), torch.cat([y_b, y_a]))
            with torch.no_grad():
                _, real_features = d_raw(torch.cat([x_b[:, 0], x_a]), torch.cat([y_b, y_a]))
            score_t, score_r = scores.split(len(x_a))
            feat_t, feat_r = features.mean((2, 3)).split(len(x_a))
            real_b, real_a = real_features.mean((2, 3)).split(len(x_a))
            loss_adv = 0.5 * (gan_loss(score_t, True, "hinge", for_discriminator=False)
                              + gan_loss(score_r, True, "hinge", for_discriminator=False))
            loss_recon = F.l1_loss(out["reconstruction"].float(), x_a.float())
            loss_fm = feature_matching([feat_r], [real_a]) + feature_matching([feat_t], [real_b])
            loss_g = args.lambda_gan * loss_adv + args.lambda_recon * loss_recon + args.lambda_fm * loss_fm
            if args.lambda_paired > 0 and batch["has_target"].any():
                paired = batch["has_target"]
                loss_g = loss_g + args.lambda_paired * F.l1_loss(out["translation"][paired].float(),
                                                                 batch["target"][paired].float())
        opt_g.zero_grad(set_to_none=True)
        run.accelerator.backward(loss_g)
        opt_g.step()

        def losses():
            paired = batch["has_target"]
            l1 = (out["translation"].detach().float() - batch["target"].float()).abs().flatten(1).mean(1)
            return {"g_adv": loss_adv.item(), "recon": loss_recon.item(), "fm": loss_fm.item(),
                    **{k: v.item() for k, v in d_losses.items()},
                    **({"paired_l1": l1[paired].mean().item()} if paired.any() else {}),  # batches with targets
                    "lr": opt_g.param_groups[0]["lr"]}

        run.step_done(losses, lambda: save_samples(run, model, fixed))
    run.finish(model, {"family": "funit", "style_encoder": args.style_encoder,
                       "classes": len(dataset.classes), "images": len(dataset), "data": str(args.data),
                       "val_fraction": args.val_fraction, "validation_classes": len(held), "validation_by": held_by,
                       "unseen": str(args.unseen) if args.unseen else None,
                       "losses": {"gan": "hinge", "lambda_gan": args.lambda_gan, "lambda_recon": args.lambda_recon,
                                  "lambda_fm": args.lambda_fm, "lambda_gp": args.lambda_gp,
                                  "optimizer": args.optimizer, "weight_decay": args.weight_decay,
                                  "train_k": args.train_k, "lambda_paired": args.lambda_paired,
                                  "base_content": args.base_content,
                                  "discriminator": {"ndf": args.ndf, "n_res": args.n_res_d}},
                       **data_version(args.data)})
    return model


def fixed_samples(args, dataset: FewShotClasses, device) -> dict[str, torch.Tensor]:
    """Eight content images spread over the first training class (in the base font with base_content), and
    five images each of up to three classes for them to be translated into: unseen ones if there are, else
    training ones."""
    def spread(count: int, n: int) -> list[int]:
        """n indices evenly over range(count) (fewer if count < n)."""
        return sorted({round(i * (count - 1) / max(1, n - 1)) for i in range(n)})

    picked = spread(len(dataset.sets[0]), 8)
    content = [dataset.base[dataset.sets[0].files[i].stem] if dataset.base else dataset.image(0, i) for i in picked]
    source = FewShotClasses(args.unseen, args.image_size, 1, args.channels) if args.unseen else dataset
    references = [torch.stack([source.image(c, i) for i in spread(len(source.sets[c]), 5)])
                  for c in spread(len(source.sets), 3)]
    return {"content": torch.stack(content).to(device), "references": [r.to(device) for r in references]}


@torch.no_grad()
def save_samples(run: Run, model: FUNIT, fixed: dict) -> None:
    """Rows: the content images; then per class, its references (padded with white) and the translations."""
    with run.sampling(model) as net:
        content = fixed["content"]
        rows = [content]
        for refs in fixed["references"]:
            shown = torch.ones_like(content)
            shown[:min(len(refs), len(content))] = refs[:len(content)]
            rows += [shown, net(content, refs)]
        run.save_samples([r.expand(-1, 3, -1, -1) for r in rows])


if __name__ == "__main__":
    main()
