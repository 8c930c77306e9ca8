"""Train the finishing stage (translator/finishing.py): 64-px model outputs -> clean 256-px images.

    python -m training.data.emoji --out data/emoji-256 --size 256 --styles noto twemoji fluent-flat fluent-hc --skin-tones
    python -m training.finishing --out runs/finisher-x4 --threads 1
    python -m training.finishing_measure --model runs/finisher-x4/export     # PSNR/SSIM against bicubic

Paired data is unlimited: every vector emoji rendered at 256 px is a target, and the same drawing at 64 px
the input. Emoji come from the permissively licensed vendors only (Noto, Twemoji, Fluent flat and high
contrast, with skin tones; OpenMoji is CC BY-SA and stays out). Glyphs are rendered on the fly from the
fonts in `--fonts` (DejaVu by default; the Liberation faces are held out for measuring).

The input is degraded the way a GAN's 64-px output is (each with some probability, strengths drawn per
image): blur, colour gain and offset, low-frequency colour mottling, a period-2 checkerboard (the trace of
strided upsampling), pixel noise, a sub-pixel shift (the output is not where the target is); a fifth of
the inputs stay clean, so real renders are not harmed. The loss is L1 on the 256-px image.

Real GAN outputs can be mixed in (`--model-outputs`, written by `python -m training.data.model_outputs`):
each shipped model's 64-px output of a training-split input with the true 256-px render of its target, no
synthetic degradation; `--model-share` of the samples come from them.

Training works on random crops (a 48-px input crop, its 192-px target) aligned to the 4x grid, so a batch
of 16 costs what 9 whole images would; the network is fully convolutional.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from training.common import Run, add_common_args, data_version, parse_args
from training.data import model_outputs
from training.data.folders import list_images
from translator.finishing import Finisher
from translator.images import pil_to_tensor

EMOJI_STYLES = ("noto", "twemoji", "fluent-flat", "fluent-hc")  # permissive licences only
GLYPHS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789&?@%"
TRAIN_FONTS = "/usr/share/fonts/truetype/dejavu"
HELD_OUT_FONTS = "/usr/share/fonts/truetype/liberation"


def render_glyph(font_path: str, char: str, size: int, rng: random.Random | None = None) -> Image.Image:
    """One character, dark on white, centred, filling about 70% of a size x size square (the glyph models'
    layout); with `rng`, a random scale and a random dark ink colour."""
    scale = rng.uniform(0.5, 0.85) if rng else 0.7
    font = ImageFont.truetype(font_path, max(4, int(size * scale)))
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), char, font=font)
    ink = tuple(rng.randrange(0, 90) for _ in range(3)) if rng else (0, 0, 0)
    draw.text(((size - (right - left)) / 2 - left, (size - (bottom - top)) / 2 - top), char, font=font, fill=ink)
    return image


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB 3xHxW in [-1, 1] (the translator's conversion, without the batch dimension)."""
    return pil_to_tensor(image)[0]


def shrink(target: torch.Tensor, scale: int, rng: random.Random) -> torch.Tensor:
    """3xHxW -> 3x(H/s)x(W/s), antialiased: area (box) or bicubic with antialiasing, as renderers differ."""
    size = (target.shape[1] // scale, target.shape[2] // scale)
    mode = rng.choice(["area", "bicubic"])
    if mode == "area":
        return F.interpolate(target[None], size=size, mode="area")[0]
    return F.interpolate(target[None], size=size, mode="bicubic", antialias=True, align_corners=False)[0].clamp(-1, 1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[0]
    x = F.pad(x[None], (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)[0]


def degrade(x: torch.Tensor, rng: random.Random, texture: float = 0.0) -> torch.Tensor:
    """A clean 3xHxW render in [-1, 1] -> what a GAN might have made of it (see the module docstring).
    texture: the probability of a GAN's fine colour texture (2-3 px speckles of colour, strong): without it
    the stage took such texture for detail and sharpened it (measured on the shipped models' outputs)."""
    if rng.random() < 0.2:
        return x
    g = torch.Generator().manual_seed(rng.randrange(2 ** 31))
    c, h, w = x.shape
    if rng.random() < 0.5:  # sub-pixel misregistration
        dx, dy = rng.uniform(-0.5, 0.5) * 2 / w, rng.uniform(-0.5, 0.5) * 2 / h
        theta = torch.tensor([[1, 0, dx], [0, 1, dy]], dtype=torch.float32)[None]
        grid = F.affine_grid(theta, (1, c, h, w), align_corners=False)
        x = F.grid_sample(x[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    if rng.random() < 0.6:
        x = gaussian_blur(x, rng.uniform(0.3, 1.0))
    if rng.random() < 0.5:  # colour gain and offset per channel
        x = x * (1 + 0.06 * torch.randn(c, 1, 1, generator=g)) + 0.06 * torch.randn(c, 1, 1, generator=g)
    if rng.random() < 0.5:  # mottling: smooth blotches of colour
        blotches = torch.randn(1, c, rng.choice([4, 8, 16]), rng.choice([4, 8, 16]), generator=g)
        x = x + rng.uniform(0.02, 0.12) * F.interpolate(blotches, size=(h, w), mode="bicubic", align_corners=False)[0]
    if rng.random() < 0.4:  # checkerboard of period 2, as strided upsampling leaves
        tile = torch.randn(c, 2, 2, generator=g)
        x = x + rng.uniform(0.01, 0.08) * tile.repeat(1, (h + 1) // 2, (w + 1) // 2)[:, :h, :w]
    if rng.random() < texture:
        period = rng.choice([2, 3])
        speckles = torch.randn(1, c, -(-h // period), -(-w // period), generator=g)
        speckles = F.interpolate(speckles, scale_factor=period, mode=rng.choice(["nearest", "bilinear"]))[0, :, :h, :w]
        x = x + rng.uniform(0.05, 0.25) * speckles
    if rng.random() < 0.5:
        x = x + rng.uniform(0.005, 0.04) * torch.randn(x.shape, generator=g)
    return x.clamp(-1, 1)


class FinishingPairs(torch.utils.data.Dataset):
    """(degraded 64-px-scale crop, clean 4x crop) pairs from 256-px emoji renders and rendered glyphs."""

    def __init__(self, emoji_files: list[Path], fonts: list[str], crop: int = 48, glyph_share: float = 0.25,
                 epoch_size: int = 100_000, scale: int = 4, texture: float = 0.0,
                 model_pairs: list[tuple[Path, Path]] = (), model_share: float = 0.0):
        if not emoji_files and not fonts:
            raise SystemExit("no training images: build data/emoji-256 (see the module docstring) or pass --fonts")
        self.emoji_files, self.fonts = emoji_files, fonts
        self.crop, self.glyph_share, self.epoch_size, self.scale = crop, glyph_share, epoch_size, scale
        self.texture = texture
        self.model_pairs, self.model_share = list(model_pairs), model_share if model_pairs else 0.0

    def __len__(self) -> int:
        return self.epoch_size

    def __getitem__(self, index: int):
        rng = random.Random(torch.randint(0, 2 ** 31, ()).item())  # follows torch's seed (and workers')
        size = 64 * self.scale
        if rng.random() < self.model_share:  # a real model output and the true render of its target
            small_path, target_path = rng.choice(self.model_pairs)
            small = to_tensor(Image.open(small_path))
            target = to_tensor(Image.open(target_path).convert("RGB").resize((size, size), Image.Resampling.LANCZOS))
            return self.aligned_crops(small, target, rng)
        if self.fonts and (not self.emoji_files or rng.random() < self.glyph_share):
            image = render_glyph(rng.choice(self.fonts), rng.choice(GLYPHS), size, rng)
        else:
            image = Image.open(rng.choice(self.emoji_files)).convert("RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.LANCZOS)
        target = to_tensor(image)
        return self.aligned_crops(degrade(shrink(target, self.scale, rng), rng, self.texture), target, rng)

    def aligned_crops(self, small: torch.Tensor, target: torch.Tensor, rng: random.Random):
        """The same random flip and crop of a 64-px input and its 4x target (offsets on the 64-px grid)."""
        if rng.random() < 0.5:
            small, target = small.flip(2), target.flip(2)
        cells = 64 - self.crop
        left, top = rng.randint(0, cells), rng.randint(0, cells)
        s = self.scale
        return (small[:, top:top + self.crop, left:left + self.crop],
                target[:, top * s:(top + self.crop) * s, left * s:(left + self.crop) * s])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--emoji", type=Path, default=Path("data/emoji-256"), help="a 256-px build of training.data.emoji")
    data.add_argument("--styles", nargs="+", default=list(EMOJI_STYLES))
    data.add_argument("--fonts", default=TRAIN_FONTS, help="a folder of .ttf files to render glyphs from ('' for none)")
    data.add_argument("--crop", type=int, default=48, help="input crop side on the 64-px grid")
    data.add_argument("--texture", type=float, default=0.0,
                      help="probability of strong fine colour texture in the degraded input (see degrade)")
    data.add_argument("--model-outputs", type=Path,
                      help="real model outputs paired with true renders (training.data.model_outputs)")
    data.add_argument("--model-share", type=float, default=0.5,
                      help="with --model-outputs: the share of training samples taken from them")
    net = parser.add_argument_group("network")
    net.add_argument("--width", type=int, default=32)
    net.add_argument("--n-layers", type=int, default=4)
    add_common_args(parser)
    parser.set_defaults(steps=6000, batch_size=16, lr=1e-3, save_every=500, sample_every=500, decay_from=0.5)
    args = parse_args(parser, argv, {})
    run = Run(args, "training.finishing", argv)

    emoji_files = [f for style in args.styles for f in list_images(args.emoji / style / "train")] \
        if args.emoji.is_dir() else []
    fonts = sorted(str(p) for p in Path(args.fonts).glob("*.ttf")) if args.fonts else []
    model_pairs = model_outputs.pairs(args.model_outputs) if args.model_outputs else []
    dataset = FinishingPairs(emoji_files, fonts, crop=args.crop, texture=args.texture, model_pairs=model_pairs,
                             model_share=args.model_share)
    model = Finisher(width=args.width, n_layers=args.n_layers).to(run.device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    model, opt = run.accelerator.prepare(model, opt)
    run.maybe_resume()
    run.track_average(model)
    batches = run.batches(run.loader(dataset))
    fixed_in, fixed_target = next(iter(torch.utils.data.DataLoader(dataset, batch_size=6)))

    def samples():
        with torch.no_grad(), run.sampling(model) as net:
            out = net(fixed_in.to(run.device)).clamp(-1, 1).cpu()
        bicubic = F.interpolate(fixed_in, scale_factor=4, mode="bicubic", align_corners=False).clamp(-1, 1)
        nearest = F.interpolate(fixed_in, scale_factor=4, mode="nearest")
        run.save_samples([nearest, bicubic, out, fixed_target])

    with run.progress():
        while run.running:
            degraded, target = next(batches)
            run.set_lr(opt)
            loss = F.l1_loss(model(degraded), target)
            opt.zero_grad(set_to_none=True)
            run.accelerator.backward(loss)
            opt.step()
            run.step_done(lambda: {"l1": loss.item(), "lr": opt.param_groups[0]["lr"]}, samples)

    run.bar.close()
    run.save_checkpoint()
    if run.is_main:
        export(run, model, args, emoji_files, fonts, model_pairs)


def export(run: Run, model, args, emoji_files, fonts, model_pairs=()) -> Path:
    """fp16 config.json + model.safetensors + training.json (the card is written by training.finishing_measure)."""
    folder = run.out / "export"
    folder.mkdir(parents=True, exist_ok=True)
    half = run.inference_model(model)
    state = {k: v.detach().half().cpu() for k, v in half.state_dict().items()}
    clean = Finisher(width=args.width, n_layers=args.n_layers)
    clean.load_state_dict({k: v.float() for k, v in state.items()})
    clean.half().save_pretrained(folder)
    info = {"name": "finisher-x4", "command": run.command, "sessions": run.commands, "steps": run.step,
            "wall_seconds": round(run.wall_seconds), "batch_size": args.batch_size, "crop": args.crop,
            "texture": args.texture,
            "model_outputs": ({"folder": str(args.model_outputs), "pairs": len(model_pairs), "share": args.model_share,
                               "made_by": json.loads((args.model_outputs / "manifest.json").read_text())}
                              if args.model_outputs else None),
            "device": run.device.type, "seed": args.seed, "ema": args.ema, "torch": torch.__version__,
            "emoji": {"folder": str(args.emoji), "styles": args.styles, "images": len(emoji_files),
                      **(data_version(args.emoji) if args.emoji.is_dir() else {})},
            "fonts": [Path(f).name for f in fonts]}
    (folder / "training.json").write_text(json.dumps(info, indent=2))
    print(f"exported to {folder}")
    return folder


if __name__ == "__main__":
    main()
