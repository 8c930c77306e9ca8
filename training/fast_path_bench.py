"""How much faster is ONNX Runtime than eager PyTorch on the paper-size networks? (issue 20's fast path)

    python -m training.fast_path_bench --threads 2 --repeats 20

For each image-only family at its paper size (random weights: speed does not depend on them), one 256-px
image, batch 1: the median seconds of eager `translate_tensor` (inference mode, flush-denormal on, as the
app runs it) and of an ONNX Runtime session of the same graph (training/export_onnx.py, all graph
optimisations on, the same thread count), measured interleaved in one run, and their largest difference
in [0, 1] units. Prints a Markdown table; `--json FILE` also writes the numbers.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import translator
from training.export_onnx import export_onnx

PAPER_SIZE = {  # family -> constructor arguments of the official configuration at 256 px
    "cyclegan": {"image_size": 256},                      # ResNet-9, ngf 64
    "pix2pix": {"image_size": 256},                       # U-Net 256, ngf 64
    "ugatit": {"image_size": 256, "light": True},         # U-GAT-IT light
    "unit": {"image_size": 256},                          # the official UNIT generator pair
}


def bench(family: str, threads: int, repeats: int, folder: Path) -> dict:
    network = translator.FAMILIES[family].network(**PAPER_SIZE[family]).eval()
    network.save_pretrained(folder / family)
    export_onnx(str(folder / family), folder / f"{family}-onnx", checks=1)
    t = translator.load(str(folder / family), device="cpu", warm_up=False)

    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(str(folder / f"{family}-onnx" / "a2b.onnx"), options,
                                           providers=["CPUExecutionProvider"])
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    eager_fn = lambda: t.translate_tensor(x, "a2b")  # noqa: E731
    onnx_fn = lambda: session.run(None, {"image": x.numpy()})[0]  # noqa: E731
    with torch.inference_mode():
        for _ in range(3):
            eager_fn(), onnx_fn()
        eager, fast = [], []
        for _ in range(repeats):  # interleaved, so both see the same machine
            start = time.perf_counter()
            expected = eager_fn()
            eager.append(time.perf_counter() - start)
            start = time.perf_counter()
            got = onnx_fn()
            fast.append(time.perf_counter() - start)
    difference = float(np.abs(np.clip(got, -1, 1) - expected.clamp(-1, 1).numpy()).max()) / 2
    parameters = sum(p.numel() for p in network.parameters())
    return {"family": family, "parameters": parameters, "eager_s": statistics.median(eager),
            "onnxruntime_s": statistics.median(fast), "speed_up": statistics.median(eager) / statistics.median(fast),
            "max_abs_difference": difference}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--families", nargs="+", default=list(PAPER_SIZE), choices=list(PAPER_SIZE))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench(f, args.threads, args.repeats, Path(tmp)) for f in args.families]
    print(f"Machine: {platform.machine()}, {args.threads} threads, torch {torch.__version__}; "
          f"one 256-px image, median of {args.repeats}.\n")
    print("| family (paper size) | parameters | eager PyTorch | ONNX Runtime | speed-up | max difference |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {translator.FAMILIES[r['family']].title} | {r['parameters'] / 1e6:.1f} M | {r['eager_s'] * 1000:.0f} ms | "
              f"{r['onnxruntime_s'] * 1000:.0f} ms | {r['speed_up']:.2f}× | {r['max_abs_difference'] * 255:.3f}/255 |")
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "repeats": args.repeats, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
