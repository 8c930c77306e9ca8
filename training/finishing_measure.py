"""Measure the finishing stage against bicubic upscaling, at 256 px against the true 256-px render.

    python -m training.finishing_measure --model runs/finisher-x4/export --card

Inputs, all held out from the finisher's training (test code points of the emoji split; glyphs of four
Liberation faces, a family never rendered in training):
  - real 64-px renders (data/emoji-64/<style>/test, rendered at 64 px by the same builder), and glyphs
    rendered at 256 px and shrunk to 64 (see glyph_set);
  - every shipped 64-px model's outputs on its test inputs (a few-shot glyph model: K = 5 references of unseen
    fonts, fewshot_set), scored against the true 256-px render of the
    target (the translation's own errors are in both columns; what differs is what finishing adds).
For each: PSNR and SSIM of bicubic, of Lanczos (what the app did before this stage), and of the finisher.
Cost: median milliseconds per 64-px image on 2 threads, batch 1, after warm-up.
With --card: writes the model card (README.md) and samples.png into the model folder, and
docs/metrics/finisher-x4.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

import translator
from training.data.model_outputs import MULTIMODAL_STYLES, own_style_split, translated_split
from training.evaluate import draw_sheet, psnr, save_sheet, sheet_keys, ssim
from training.finishing import HELD_OUT_FONTS, render_glyph, to_tensor
from translator.finishing import Finisher, beats_bicubic, model_of, read_strengths

STYLES = MULTIMODAL_STYLES
SHEET_GLYPHS = "Rag5&"
GLYPH_FACES = ("LiberationSans-Regular", "LiberationSerif-Regular", "LiberationMono-Regular", "LiberationSans-BoldItalic")


def load_set(folder64: Path, folder256: Path) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    keys = sorted(p.stem for p in folder64.glob("*.png") if (folder256 / p.name).exists())
    small = torch.stack([to_tensor(Image.open(folder64 / f"{k}.png")) for k in keys])
    large = torch.stack([to_tensor(Image.open(folder256 / f"{k}.png")) for k in keys])
    return keys, small, large


def glyph_set() -> tuple[list[str], torch.Tensor, torch.Tensor]:
    fonts = [f for f in sorted(Path(HELD_OUT_FONTS).glob("*.ttf")) if f.stem in GLYPH_FACES]
    keys, small, large = [], [], []
    for font in fonts:
        for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789&?@%":
            keys.append(f"{font.stem}-{char}")
            # rendered once at 256 px and shrunk with a box filter: rendered separately, PIL rounds the pen
            # position at each size, which puts the 64-px glyph up to 2 px (at 256) off the true one
            large.append(to_tensor(render_glyph(str(font), char, 256)))
            small.append(F.interpolate(large[-1][None], scale_factor=0.25, mode="area")[0])
    return keys, torch.stack(small), torch.stack(large)


def lanczos(x: torch.Tensor) -> torch.Tensor:
    """The app's enlargement before this stage: PIL Lanczos."""
    out = []
    for image in x:
        array = ((image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        big = Image.fromarray(array).resize((image.shape[2] * 4, image.shape[1] * 4), Image.Resampling.LANCZOS)
        out.append(to_tensor(big))
    return torch.stack(out)


@torch.inference_mode()
def score(finisher: Finisher, small: torch.Tensor, large: torch.Tensor, strength: float = 1.0) -> dict:
    """PSNR and SSIM of bicubic, Lanczos and the finisher (at this strength of its correction) against `large`."""
    y = (large + 1) / 2
    results = {}
    methods = {"bicubic": lambda x: F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False),
               "lanczos": lanczos, "finisher": lambda x: finisher(x, strength)}
    for name, method in methods.items():
        outs = torch.cat([method(small[i:i + 32]).clamp(-1, 1) for i in range(0, len(small), 32)])
        x = (outs + 1) / 2
        results[name] = {"psnr": round(psnr(x, y).mean().item(), 3), "ssim": round(ssim(x, y).mean().item(), 4)}
    results["images"] = len(small)
    if strength != 1:
        results["strength"] = strength
    return results


FEWSHOT_CONTENT, FEWSHOT_REFERENCES, FEWSHOT_FONTS = "HbxQ3", "AgRek", 40


def fewshot_set(t, fonts_data: Path, debs: Path, split: str = "unseen") -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """A few-shot glyph model's outputs for unseen fonts: the content characters drawn in the app's base font,
    K = 5 references of other characters of the font; the truth is the font's own 256-px glyph. Every glyph is
    rendered once at 256 px and box-shrunk to the model's size (as glyph_set does, so nothing is misaligned)."""
    from translator.funit import render_glyph as layout_glyph

    manifest = json.loads((fonts_data / "manifest.json").read_text())
    fonts = [f for f in manifest["fonts"] if f["split"] == split][:FEWSHOT_FONTS]
    shrink = lambda image: F.interpolate(to_tensor(image)[None], size=t.image_size, mode="area")[0]  # noqa: E731
    content = torch.stack([shrink(layout_glyph(c, None, 256)) for c in FEWSHOT_CONTENT])
    keys, outs, large = [], [], []
    for font in fonts:
        path = debs / "root" / font["package"] / font["file"]
        references = torch.stack([shrink(layout_glyph(c, path, 256)) for c in FEWSHOT_REFERENCES])
        with torch.inference_mode():
            outs.append(t.translate_tensor(content, references=references).clamp(-1, 1))
        large += [to_tensor(layout_glyph(c, path, 256)) for c in FEWSHOT_CONTENT]
        keys += [f"{font['id']}-{c}" for c in FEWSHOT_CONTENT]
    return keys, torch.cat(outs), torch.stack(large)


def multimodal_set(t, multimodal: Path, data256: Path, split: str = "test",
                   limit: int | None = None) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """A drawing -> colour MUNIT's outputs on the held-out outlines, each in its own colour image's style
    (training.data.model_outputs.own_style_split), with the true 256-px renders."""
    keys, outs, _, truths = own_style_split(t, split, multimodal, data256, limit=limit)
    return keys, outs, torch.stack([to_tensor(Image.open(p)) for p in truths])


def model_sets(data64: Path, data256: Path, fonts_data: Path = Path("data/fonts-64"),
               debs: Path = Path("data/font-debs"),
               multimodal: Path = Path("data/multimodal-64"), split: str = "test",
               limit: int | None = None, models: list[str] | None = None,
               ) -> dict[str, tuple[list[str], torch.Tensor, torch.Tensor]]:
    """Each shipped 64-px model's outputs on its test inputs (or another split's: training.finishing_strength
    chooses on the training split), with the true 256-px render of the target. Each title starts with the
    model's name and a space. limit: at most about this many images a set, taken evenly. models: only these
    shipped models (names), else all."""
    shipped = translator.list_models()
    unknown = sorted(set(models or []) - set(shipped))
    if unknown:
        raise SystemExit(f"not a shipped model: {', '.join(unknown)} (shipped: {', '.join(shipped)})")
    sets = {}
    for name in shipped:
        if models is not None and name not in models:
            continue
        t = translator.load(name, warm_up=False, device="cpu")
        if t.image_size != 64:
            continue
        if t.family_name == "funit":
            fonts = "unseen" if split == "test" else split
            sets[f"{name} base font → {FEWSHOT_FONTS} {fonts} fonts, K = 5 (model output)"] = \
                fewshot_set(t, fonts_data, debs, fonts)
            continue
        if t.family_name == "munit":
            sets[f"{name} drawing → colour, each outline in its own emoji's style (model output)"] = \
                multimodal_set(t, multimodal, data256, split, limit)
            continue
        for direction in t.directions:
            translated = translated_split(t, direction, split, data64, data256, limit=limit)
            if translated is None:
                continue
            keys, outs, inputs, targets = translated
            large = torch.stack([to_tensor(Image.open(targets / f"{k}.png")) for k in keys])
            sets[f"{name} {inputs.parent.name} → {targets.parent.name} (model output)"] = (keys, outs, large)
    missing = [name for name in models or [] if not any(model_of(title) == name for title in sets)]
    if missing:  # asked for by name: a silent skip would drop its rows and strength
        raise SystemExit(f"nothing to measure for {', '.join(missing)}: a 64-px model whose {split} inputs and "
                         f"256-px targets are under {data64} and {data256} (see README, the finishing stage)")
    return sets


@torch.inference_mode()
def latency(finisher: Finisher, threads: int = 2, repeats: int = 50) -> dict:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    timings = {}
    for name, fn in {"finisher": finisher,
                     "bicubic": lambda t: F.interpolate(t, scale_factor=4, mode="bicubic", align_corners=False)}.items():
        for _ in range(5):
            fn(x)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(x)
            samples.append(time.perf_counter() - start)
        timings[name] = round(statistics.median(samples) * 1000, 2)
    torch.set_num_threads(before)
    return {"threads": threads, "median_ms": timings, "machine": f"{platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} torch threads available"}


def strength_of(title: str, strengths: dict[str, float]) -> float:
    """The strength a set is finished at: its model's (1 for real renders and glyphs)."""
    return strengths.get(model_of(title), 1.0)


def sheet(finisher: Finisher, sets: dict, strengths: dict[str, float] | None = None) -> Image.Image:
    blocks = []
    for title, (keys, small, large) in sets.items():
        chosen = sheet_keys(keys, 5) if "glyph" not in title else \
            [k for k in keys if k.split("-")[-1] in SHEET_GLYPHS and k.startswith("LiberationSerif-")][:5]
        index = [keys.index(k) for k in chosen]
        x, y = small[index], large[index]
        with torch.inference_mode():
            rows = [("64 px", x), ("bicubic", F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False).clamp(-1, 1)),
                    ("finished", finisher(x, strength_of(title, strengths or {})).clamp(-1, 1)), ("true 256", y)]
        blocks.append((title, chosen, rows))
    return draw_sheet(blocks, 256)


def write_card(folder: Path, metrics: dict) -> None:
    updates = "".join(f", then `{u['command']}` (a new version of {', '.join(u['models'])}; the sheet below "
                      "still shows the earlier version's outputs)" for u in metrics.get("updates", []))
    info = json.loads((folder / "training.json").read_text()) if (folder / "training.json").exists() else {}
    def cell(m: dict, method: str) -> str:  # bold: the better of bicubic and the finisher, per number
        other = "bicubic" if method == "finisher" else "finisher"
        return " / ".join(f"**{m[method][k]:{f}}**" if m[method][k] > m[other][k] else f"{m[method][k]:{f}}"
                          for k, f in (("psnr", ".2f"), ("ssim", ".4f")))
    def strength(m: dict) -> str:  # where training.finishing_strength chose less than the whole correction
        return f" (strength {m['strength']:g})" if "strength" in m else ""
    rows = "\n".join(f"| {name} | {m['images']} | {cell(m, 'bicubic')} | "
                     f"{m['lanczos']['psnr']:.2f} / {m['lanczos']['ssim']:.4f} | {cell(m, 'finisher')}{strength(m)} |"
                     for name, m in metrics["sets"].items())
    lat = metrics["latency"]
    card = f"""---
library_name: translator-studio
pipeline_tag: image-to-image
tags: [super-resolution, image-restoration, translator-studio]
license: cc-by-4.0
---
# finisher-x4: the finishing stage of Translator Studio

Turns a 64-px model output (emoji, glyphs) into a clean 256-px image for display: bicubic upscaling plus a
learned correction ({sum(p.numel() for p in Finisher(**_config(folder)).parameters()):,} parameters, 3x3
convolutions at 64 px and a x4 pixel shuffle). Trained on vector emoji (Noto, Twemoji, Fluent flat and
high contrast, with skin tones) and DejaVu glyphs rendered at 256 px, their 64-px versions degraded as
GAN outputs are (blur, colour shifts, mottling, checkerboard, noise, sub-pixel shifts){real_outputs(info)}. See
`translator/finishing.py` and `training/finishing.py`.

Every family's metrics are computed on its raw output; this stage is measured on its own here. The learned
correction can be scaled per model (`strengths.json`, chosen by `python -m training.finishing_strength` on the
model's outputs of *training* inputs, never these): a set marked "(strength s)" is finished, here and in the
app, as bicubic + s × the correction.

## Measured: PSNR (dB) / SSIM at 256 px against the true 256-px render (held out)

| input | images | bicubic | Lanczos (the app before) | finisher |
|---|---|---|---|---|
{rows}

**Verdict against the shipping rule** (docs/experiments.md, written before the run: beat bicubic on PSNR and
SSIM on every input set, at most 15 ms): {verdict(metrics)}

Cost, one 64-px image, batch 1, median of {50}: finisher {lat['median_ms']['finisher']} ms, bicubic
{lat['median_ms']['bicubic']} ms on {lat['threads']} threads ({lat['machine']}).
Reproduce: `{metrics['command']}`{updates}.

![held-out inputs: 64 px, bicubic, finished, true 256 px](samples.png)

## Training

- Command: `{info.get('command', '?')}`
- Sessions: {'; '.join(f'`{c}`' for c in info.get('sessions', [])) or '?'}
- Steps: {info.get('steps', '?')}, batch {info.get('batch_size', '?')} crops of {info.get('crop', '?')} px,
  {round(info.get('wall_seconds', 0) / 3600, 2)} h wall on {info.get('device', '?')}
- Data: {info.get('emoji', {}).get('data_version', '?')} at 256 px, styles {', '.join(info.get('emoji', {}).get('styles', []))}
  ({info.get('emoji', {}).get('images', '?')} images); glyphs from {', '.join(info.get('fonts', [])[:3])}...

## Licences

Weights: CC-BY-4.0, the most restrictive licence of the training images (and of the shipped models whose
outputs it trained on). Training images: Noto Emoji (Apache-2.0, by Google), Twemoji (CC-BY-4.0, by Twitter,
Inc. and other contributors), Fluent Emoji (MIT, Microsoft), DejaVu fonts (Bitstream Vera licence).
"""
    (folder / "README.md").write_text(card)


def real_outputs(info: dict) -> str:
    """The card's line on real model outputs in the training data, when there were any."""
    used = info.get("model_outputs")
    if not used:
        return ""
    made = ", ".join(f"{v['model']} {v['direction']}" for v in used.get("made_by", {}).values())
    return (f"; and, for {used['share']:.0%} of the samples, real outputs of the shipped models on training-split "
            f"inputs ({used['pairs']:,} images: {made}; `training.data.model_outputs`) paired with the true "
            "256-px render of their target")


def verdict(metrics: dict) -> str:
    lost = [f"{name}: {m['finisher']['psnr']:.2f} dB / {m['finisher']['ssim']:.4f} against bicubic's "
            f"{m['bicubic']['psnr']:.2f} dB / {m['bicubic']['ssim']:.4f}"
            for name, m in metrics["sets"].items() if not beats_bicubic(m)]
    slow = metrics["latency"]["median_ms"]["finisher"] > 15
    if not lost and not slow:
        return "met."
    if not slow and all("(model output)" in name for name in lost):  # every real render and glyph set won
        return ("met on every real render and glyph set; **not met** on " + "; ".join(lost) + ". The app therefore "
                "starts those models' tabs with the stage off (`translator.finishing.measured_on`), the switch one "
                "click away, and every other model's with it on. On a model's output the true 256-px image "
                "differs in content, and sharpening a wrong edge costs more than blurring it: bicubic is the blur "
                "that squared error favours.")
    return ("**not met**, so the stage ships switched off (a visible switch in the app, `finishing=True` in the "
            "API). " + ("It loses to bicubic on " + "; ".join(lost) + ". " if lost else "") +
            (f"It takes {metrics['latency']['median_ms']['finisher']} ms, over the 15 ms bar. " if slow else "") +
            "On a model's output the true 256-px image differs in content, and sharpening a wrong edge costs "
            "more than blurring it: bicubic is the blur that squared error favours. The sheet shows what the "
            "numbers do not: crisp edges, less speckle.")


def merge_sets(old: dict, new: dict, models: list[str]) -> dict:
    """`old` per-set records with those of `models` replaced by `new`'s (after a model is re-measured on its
    own): the other models' sets stay, in their order; the re-measured ones take the place of the first set
    they replace (at the end if the model is new)."""
    merged, placed = {}, False
    for title, record in old.items():
        if model_of(title) in models:
            if not placed:
                merged.update(new)
                placed = True
            continue
        merged[title] = record
    if not placed:
        merged.update(new)
    return merged


def _config(folder: Path) -> dict:
    return {k: v for k, v in json.loads((folder / "config.json").read_text()).items() if k != "family"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a finisher folder (config.json + model.safetensors)")
    parser.add_argument("--data64", type=Path, default=Path("data/emoji-64"))
    parser.add_argument("--data256", type=Path, default=Path("data/emoji-256"))
    parser.add_argument("--card", action="store_true", help="write README.md + samples.png into --model, and docs/metrics")
    parser.add_argument("--no-models", action="store_true", help="only real renders and glyphs")
    parser.add_argument("--threads", type=int, default=2, help="for scoring (the latency is always on 2 threads)")
    parser.add_argument("--only", nargs="+", metavar="MODEL",
                        help="re-measure only these shipped models' outputs (after shipping a new version of one); "
                             "with --card, their rows in the existing metrics.json and card are replaced and the "
                             "rest kept, and the sample sheet is left as it was (drawing it needs every set)")
    args = parser.parse_args(argv)
    if args.only and args.no_models:
        parser.error("--only re-measures models: it does not go with --no-models")
    if args.only and args.card and not (args.model / "metrics.json").exists():
        parser.error(f"--only --card updates {args.model / 'metrics.json'}, which is not there: run without --only")
    torch.set_num_threads(args.threads)
    finisher = Finisher.from_folder(args.model, json.loads((args.model / "config.json").read_text())).float().eval()
    sets = {}
    if not args.only:
        sets = {f"{style} (real 64-px render)": load_set(args.data64 / style / "test", args.data256 / style / "test")
                for style in STYLES if (args.data64 / style / "test").is_dir()}
        sets["Liberation glyphs (256-px render shrunk to 64)"] = glyph_set()
    if not args.no_models:
        sets.update(model_sets(args.data64, args.data256, models=args.only))
    strengths = read_strengths(args.model)
    command = "python -m training.finishing_measure " + " ".join(argv or __import__("sys").argv[1:])
    # the cost is the finisher's, whatever model it finishes: --only keeps the one measured with every set
    metrics = {"sets": {name: score(finisher, small, large, strength_of(name, strengths))
                        for name, (_, small, large) in sets.items()},
               "latency": None if args.only else latency(finisher), "command": command}
    if args.only and args.card:
        earlier = json.loads((args.model / "metrics.json").read_text())
        metrics = {**earlier, "sets": merge_sets(earlier["sets"], metrics["sets"], args.only),  # command: the full one
                   "updates": [*earlier.get("updates", []), {"command": command, "models": args.only}]}
    wins = all(beats_bicubic(m) for m in metrics["sets"].values())
    metrics["beats_bicubic_everywhere"] = wins
    for name, m in metrics["sets"].items():
        print(f"{name:60s} bicubic {m['bicubic']['psnr']:.2f}/{m['bicubic']['ssim']:.4f}  "
              f"lanczos {m['lanczos']['psnr']:.2f}/{m['lanczos']['ssim']:.4f}  "
              f"finisher {m['finisher']['psnr']:.2f}/{m['finisher']['ssim']:.4f}")
    print("latency", metrics["latency"] or "(not measured with --only)", "| beats bicubic on every input:", wins)
    if args.card and args.only:
        print(f"{args.model / 'samples.png'} left as it was: run without --only to draw it again")
    elif args.card:
        save_sheet(sheet(finisher, {k: v for k, v in sets.items() if "fluent" not in k}, strengths), args.model / "samples.png")
    if args.card:
        (args.model / "metrics.json").write_text(json.dumps(metrics, indent=2))
        write_card(args.model, metrics)
        Path("docs/metrics").mkdir(parents=True, exist_ok=True)
        Path("docs/metrics/finisher-x4.json").write_text(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
