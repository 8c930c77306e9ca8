"""Export a model to ONNX, one graph per direction, checked against PyTorch with ONNX Runtime.

    pip install onnx onnxruntime                      # in requirements-dev.txt; the app does not need them
    python -m training.export_onnx cyclegan-noto2twemoji -o onnx/cyclegan-noto2twemoji
    python -m training.export_onnx runs/x/export -o onnx/x     # any folder or Hub repo translator.load takes

Each graph, `<direction>.onnx` (a2b, b2a), takes `image`, N x 3 x S x S in [-1, 1] at the model's own size S
(the batch is dynamic), and returns `translation`: exactly what `Translator.translate_tensor` computes, so
the pre- and post-processing of `translator.images` (letterbox, resize) stay in the caller's hands.
`onnx.json` records the size, the directions and the measured parity: the largest difference between
ONNX Runtime and PyTorch on random inputs, in [0, 1] units (the bar is 2/255).

Families whose translation needs more than an image (MUNIT's style code, FUNIT's reference images) are
not exported yet: they are refused with a message.
"""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

import translator

PARITY_BAR = 2 / 255  # in [0, 1] units
NEEDS_MORE = ("style", "references")  # options without which a family cannot translate deterministically


class Direction(nn.Module):
    """One direction of a translator as a plain module (what the exporter traces)."""

    def __init__(self, t: translator.Translator, direction: str):
        super().__init__()
        self.t, self.direction = t, direction
        self.network = t.model  # registered, so its weights become the graph's initialisers

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.t.translate_tensor(image, self.direction)


def export_onnx(model: str, out: Path, opset: int = 17, checks: int = 4) -> dict:
    """Write out/<direction>.onnx for every direction of `model` and out/onnx.json; returns the latter."""
    t = translator.load(model, device="cpu", warm_up=False)
    needs = [o for o in t.options if o in NEEDS_MORE]
    if needs:
        raise SystemExit(f"{t.name} is a {translator.FAMILIES[t.family_name].title} model: its translation needs "
                         f"{' and '.join(needs)} besides the image, which this exporter does not take yet.")
    import onnxruntime  # noqa: F401  (an optional dependency: say so before any work)

    out.mkdir(parents=True, exist_ok=True)
    size = t.image_size
    report = {"model": t.name, "family": t.family_name, "image_size": size, "opset": opset,
              "input": "image: N x 3 x S x S in [-1, 1]", "output": "translation: the same shape, in [-1, 1]",
              "directions": {}}
    generator = torch.Generator().manual_seed(0)
    for direction in t.directions:
        path = out / f"{direction}.onnx"
        module = Direction(t, direction).eval()
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on its own deprecation and tracing
            torch.onnx.export(module, torch.zeros(1, 3, size, size), path, dynamo=False, opset_version=opset,
                              input_names=["image"], output_names=["translation"],
                              dynamic_axes={"image": {0: "batch"}, "translation": {0: "batch"}})
        worst = parity(module, path, size, checks, generator)
        report["directions"][direction] = {"file": path.name, "max_abs_difference": worst,
                                           "within_bar": worst <= PARITY_BAR}
    (out / "onnx.json").write_text(json.dumps(report, indent=2))
    return report


def parity(module: nn.Module, path: Path, size: int, checks: int, generator: torch.Generator) -> float:
    """The largest |ONNX Runtime - PyTorch| over `checks` random batches, in [0, 1] units."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in range(1, checks + 1):
        x = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
        with torch.no_grad():
            expected = module(x).clamp(-1, 1).numpy()
        got = np.clip(session.run(None, {"image": x.numpy()})[0], -1, 1)
        worst = max(worst, float(np.abs(got - expected).max()) / 2)
    return worst


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a shipped name, a Hub repo id or a model folder")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the folder to write the graphs into")
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args(argv)
    try:
        report = export_onnx(args.model, args.out, args.opset)
    except ImportError:
        raise SystemExit("ONNX export needs onnx and onnxruntime: pip install onnx onnxruntime") from None
    except translator.TranslatorError as err:
        raise SystemExit(f"error: {err}") from None
    for direction, r in report["directions"].items():
        print(f"{args.out / r['file']}: max |ONNX Runtime - PyTorch| = {r['max_abs_difference'] * 255:.3f}/255 "
              f"({'within' if r['within_bar'] else 'OVER'} the 2/255 bar)")


if __name__ == "__main__":
    main()
