"""How much faster is the fast path (ONNX Runtime) than eager PyTorch? (issue 20)

    python -m training.fast_path_bench --threads 2 --repeats 20                # paper-size networks, then the shipped models
    python -m training.fast_path_bench --families cyclegan munit --no-shipped  # a subset
    python -m training.fast_path_bench --families ugatit --no-shipped --models runs/x/export  # any model folder

Two tables. **Paper size**: every family's official configuration (random weights: speed does not depend
on them), one image at its paper resolution (256 px; FUNIT 128). **Shipped**: the models the app serves,
at their own size. Each row is `translator.fast_path.FastPath` exactly as `translator.load(..., fast=True)`
builds it (the same export, session options and thread count), timed against the translator's eager
`translate_tensor` (inference mode, flush-denormal on, as the app runs it), interleaved in one run so both
see the same machine; MUNIT with a style code, FUNIT with two references (its class code is computed in
PyTorch on both sides); U-GAT-IT also with its attention view (translation, three heatmaps and the CAM logit:
the network + CAMs of issue 19's latency bar). "max difference" is the parity check's, in [0, 1] units of
the image (bar 2/255).
Prints Markdown; `--json FILE` also writes the numbers.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import torch

import translator
from translator import fast_path
from translator.fast_path import FastPath

PAPER_SIZE = {  # family -> constructor arguments of the official configuration
    "cyclegan": {"image_size": 256},                      # ResNet-9, ngf 64
    "pix2pix": {"image_size": 256},                       # U-Net 256, ngf 64
    "unit": {"image_size": 256},                          # the official UNIT generator pair
    "munit": {"image_size": 256},                         # edges2shoes: dim 64, style 8, 4 residual blocks
    "funit": {"image_size": 128},                         # animal faces: 128 px
    "ugatit": {"image_size": 256, "light": True},         # U-GAT-IT light
}


def bench(t: translator.Translator, repeats: int, label: str, folder: Path) -> dict:
    fast = FastPath(t, "always", cache=folder / "cache")  # a fresh cache: the graph exported as a first load does
    if not fast.used:
        raise SystemExit(f"{label}: no fast path ({fast.report.get('reason')})")
    eager_s, fast_s = fast.timings(t, repeats)
    row = {"model": label, "family": t.family_name, "image_size": t.image_size,
           "parameters": sum(p.numel() for p in t.model.parameters()), "eager_s": eager_s, "onnxruntime_s": fast_s,
           "speed_up": eager_s / fast_s, "max_abs_difference": fast.report["max_abs_difference"]}
    if fast_path.rewrites(t.model):  # what the graph rewrites gain: both sessions, interleaved
        plain = FastPath(t, "always", cache=folder / "cache", rewrite=False)
        x, direction = torch.rand(1, 3, t.image_size, t.image_size) * 2 - 1, next(iter(fast.sessions))
        options = fast.example_options(t, torch.Generator().manual_seed(1))
        plain_s, rewritten_s = fast_path.interleaved(lambda: plain.run(t, x, direction, options),
                                                     lambda: fast.run(t, x, direction, options), repeats)
        row["rewrites"] = {"plain_graph_s": plain_s, "rewritten_graph_s": rewritten_s, "gain": plain_s / rewritten_s}
    if fast.heatmap_sessions:  # U-GAT-IT's attention view: the translation, three heatmaps and the CAM logit
        eager_s, fast_s = fast.attention_timings(t, repeats)
        row["attention"] = {"eager_s": eager_s, "onnxruntime_s": fast_s, "speed_up": eager_s / fast_s}
    return row


def paper_size(family: str, repeats: int, folder: Path) -> dict:
    network = translator.FAMILIES[family].network(**PAPER_SIZE[family]).eval()
    network.save_pretrained(folder / family)
    return bench(translator.load(str(folder / family), device="cpu", warm_up=False), repeats,
                 translator.FAMILIES[family].title, folder)


def table(rows: list[dict], first: str) -> str:
    lines = [f"| {first} | parameters | size | eager PyTorch | ONNX Runtime | speed-up | max difference |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['parameters'] / 1e6:.2f} M | {r['image_size']} px | {r['eager_s'] * 1000:.1f} ms | "
                     f"{r['onnxruntime_s'] * 1000:.1f} ms | {r['speed_up']:.2f}× | {r['max_abs_difference'] * 255:.3f}/255 |")
        if "rewrites" in r:
            w = r["rewrites"]
            lines.append(f"| {r['model']}: graph not rewritten / rewritten, interleaved pairs | | | | "
                         f"{w['plain_graph_s'] * 1000:.1f} / {w['rewritten_graph_s'] * 1000:.1f} ms | "
                         f"rewrites: {w['gain']:.2f}× | |")
        if "attention" in r:
            a = r["attention"]
            lines.append(f"| {r['model']}, attention view | | | {a['eager_s'] * 1000:.1f} ms | "
                         f"{a['onnxruntime_s'] * 1000:.1f} ms | {a['speed_up']:.2f}× | (same check) |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--families", nargs="*", default=list(PAPER_SIZE), choices=list(PAPER_SIZE),
                        help="paper-size networks to measure (none: only the models)")
    parser.add_argument("--no-shipped", action="store_true", help="only the paper-size networks")
    parser.add_argument("--models", nargs="+", default=[], help="more models (names or folders), as the shipped ones")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    with tempfile.TemporaryDirectory() as tmp:  # the networks and their graphs (paper size: hundreds of MB)
        paper = [paper_size(f, args.repeats, Path(tmp)) for f in args.families]
        shipped = [] if args.no_shipped else [
            bench(translator.load(name, device="cpu", warm_up=False), args.repeats, f"`{name}`", Path(tmp))
            for name in translator.list_models()]
        models = [bench(translator.load(name, device="cpu", warm_up=False), args.repeats, f"`{name}`", Path(tmp))
                  for name in args.models]
    print(f"Machine: {platform.machine()}, {args.threads} threads, torch {torch.__version__}; one image, "
          f"median of {args.repeats}. Command: python -m training.fast_path_bench "
          + " ".join(sys.argv[1:] if argv is None else argv) + "\n")
    if paper:
        print(table(paper, "family (paper size)") + "\n")
    if shipped:
        print(table(shipped, "shipped model") + "\n")
    if models:
        print(table(models, "model"))
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "repeats": args.repeats, "paper_size": paper,
                                         "shipped": shipped, "models": models}, indent=2))


if __name__ == "__main__":
    main()
