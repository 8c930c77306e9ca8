"""Export a model to ONNX, every graph checked against PyTorch with ONNX Runtime.

    pip install onnx onnxruntime                      # in requirements-dev.txt; the app does not need them
    python -m training.export_onnx cyclegan-noto2twemoji -o onnx/cyclegan-noto2twemoji
    python -m training.export_onnx runs/x/export -o onnx/x     # any folder or Hub repo translator.load takes

Images go in and come out as N x 3 x S x S in [-1, 1] at the model's own size S, so the pre- and
post-processing of `translator.images` (letterbox, resize; FUNIT's glyph normalisation) stay in the
caller's hands. Every batch axis (N, K) is dynamic. The graphs, per family:

  CycleGAN, pix2pix, UNIT, U-GAT-IT   `<direction>.onnx` (a2b, b2a): image -> translation, exactly what
                                      `Translator.translate_tensor` computes (UNIT: the posterior mean).
  MUNIT                               `<direction>.onnx`: (image, style) -> translation; style is N x style_dim,
                                      or 1 x style_dim for the whole batch: the code the app's sliders set
                                      (a random style is a draw from N(0, I)). `style_encoder_<a|b>.onnx`:
                                      image -> style, that domain's style encoder: a reference's style for
                                      the direction into that domain (style_encoder_b for a2b).
  FUNIT, COCO-FUNIT                   `class_code.onnx`: references (K x 3 x S x S, K dynamic) -> code
                                      (1 x latent_dim), the K class codes averaged inside. `translate.onnx`:
                                      (content N x 3 x S x S, code N or 1 x latent_dim) -> translation (COCO-
                                      FUNIT's conditioning on the content is inside). Without references (FUNIT's
                                      reconstruction) a content's code is class_code of that one image.
                                      A grey model (channels 1) takes RGB too, averaged inside, as the
                                      translator does, and returns grey RGB.

`onnx.json` records the size, every graph (file, inputs, outputs) and its measured parity: the largest
difference between ONNX Runtime and PyTorch on random inputs, in [0, 1] units of the output image (the bar is
2/255). A graph that returns a code (style, class code) is measured end to end: its ONNX code fed to the
ONNX translation graph, against PyTorch translating with the same reference(s); the code's own largest
difference is recorded beside it (`max_abs_code_difference`). `directions` repeats, per direction, the entry
of the graph that translates.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

import translator
from translator.fast_path import PARITY_BAR, Direction, FewShotTranslate, StyledDirection, export, export_view

NEEDS_MORE = ("style", "references")  # options without which a family cannot translate deterministically
IMAGES = "N x 3 x S x S in [-1, 1]"
TRANSLATION = "N x 3 x S x S in [-1, 1]"


@dataclass
class Graph:
    """One ONNX file: the module traced, its example inputs and axes, and how to check it against PyTorch."""
    name: str  # the file's stem
    module: nn.Module
    inputs: dict[str, str]  # input name -> what it is (for onnx.json)
    outputs: dict[str, str]
    example: tuple[torch.Tensor, ...]
    dynamic: dict[str, dict[int, str]]
    check: Callable[[dict, torch.Generator, int], dict]  # (sessions by name, generator, checks) -> parity numbers


# --- the modules traced (the translation graphs are the fast path's, rewrites included: translator/fast_path.py)
class StyleEncoder(nn.Module):
    """MUNIT, one domain: image -> its style code."""

    def __init__(self, t, domain: str):
        super().__init__()
        self.encoder = t.model.generator(domain).style_encoder

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.encoder(image)


class ClassCode(nn.Module):
    """FUNIT: K references -> their class codes averaged (1 x latent_dim)."""

    def __init__(self, t):
        super().__init__()
        self.t, self.network = t, t.model

    def forward(self, references: torch.Tensor) -> torch.Tensor:
        return self.network.class_code(self.t.to_network(references))


# --- parity ----------------------------------------------------------------------------------------------
def random_images(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=generator) * 2 - 1


def run(session, **inputs: torch.Tensor) -> np.ndarray:
    return session.run(None, {name: value.numpy() for name, value in inputs.items()})[0]


def image_difference(got: np.ndarray, expected: torch.Tensor) -> float:
    """The largest |ONNX Runtime - PyTorch| of two images in [-1, 1] (clamped, as they are shown), in [0, 1] units."""
    return float(np.abs(np.clip(got, -1, 1) - expected.clamp(-1, 1).numpy()).max()) / 2


def code_difference(got: np.ndarray, expected: torch.Tensor) -> float:
    return float(np.abs(got - expected.numpy()).max())


def image_only_graphs(t, exported) -> list[Graph]:
    size = t.image_size

    def check(direction):
        def parity(sessions, generator, checks):
            worst = 0.0
            for batch in range(1, checks + 1):
                x = random_images(batch, size, generator)
                got = run(sessions[direction], image=x)
                worst = max(worst, image_difference(got, t.translate_tensor(x, direction)))
            return {"max_abs_difference": worst}
        return parity

    return [Graph(d, Direction(exported, d), {"image": IMAGES}, {"translation": TRANSLATION}, (torch.zeros(1, 3, size, size),),
                  {"image": {0: "batch"}, "translation": {0: "batch"}}, check(d)) for d in t.directions]


def munit_graphs(t, exported) -> list[Graph]:
    size, style_dim = t.image_size, t.style_dim
    into = {t.domains_of(d)[1]: d for d in t.directions}  # domain -> the direction whose styles it gives

    def check_direction(direction):
        def parity(sessions, generator, checks):
            worst = 0.0
            for batch in range(1, checks + 1):  # a style per image (even batches) or one for all (odd)
                x = random_images(batch, size, generator)
                style = torch.randn(batch if batch % 2 == 0 else 1, style_dim, generator=generator)
                got = run(sessions[direction], image=x, style=style)
                worst = max(worst, image_difference(got, t.translate_tensor(x, direction, style=style)))
            return {"max_abs_difference": worst}
        return parity

    def check_encoder(domain):
        def parity(sessions, generator, checks):
            direction, worst, worst_code = into[domain], 0.0, 0.0
            encoder = t.model.generator(domain).style_encoder
            for batch in range(1, checks + 1):
                references, x = random_images(batch, size, generator), random_images(batch, size, generator)
                style = run(sessions[f"style_encoder_{domain}"], image=references)
                worst_code = max(worst_code, code_difference(style, encoder(references)))
                got = run(sessions[direction], image=x, style=torch.from_numpy(style))  # ONNX Runtime only
                worst = max(worst, image_difference(got, t.translate_tensor(x, direction, reference=references)))
            return {"max_abs_difference": worst, "max_abs_code_difference": worst_code}
        return parity

    graphs = []
    for d in t.directions:
        graphs.append(Graph(
            d, StyledDirection(exported, d),
            {"image": IMAGES, "style": f"N (a style per image) or 1 (one for all) x {style_dim}: the target "
                                       f"domain's style code; N(0, I) draws a random one"},
            {"translation": TRANSLATION}, (torch.zeros(2, 3, size, size), torch.zeros(2, style_dim)),
            {"image": {0: "batch"}, "style": {0: "styles"}, "translation": {0: "batch"}}, check_direction(d)))
    for domain, d in sorted(into.items()):
        graphs.append(Graph(
            f"style_encoder_{domain}", StyleEncoder(exported, domain),
            {"image": f"{IMAGES}: references of domain {domain.upper()}"},
            {"style": f"N x {style_dim}: their style codes, what {d}.onnx takes"},
            (torch.zeros(2, 3, size, size),), {"image": {0: "batch"}, "style": {0: "batch"}}, check_encoder(domain)))
    return graphs


def funit_graphs(t, exported) -> list[Graph]:
    size, latent = t.image_size, t.model.class_encoder.head.out_channels
    model = t.model

    def pytorch_translate(x, code):  # the model's own decode (translate_tensor takes references, not codes)
        out = model.decode(model.content_encoder(t.to_network(x)), code)
        return out.expand(-1, 3, -1, -1) if t.channels == 1 else out

    def check_translate(sessions, generator, checks):
        worst = 0.0
        for batch in range(1, checks + 1):  # a class per image (even batches) or one for all (odd)
            x = random_images(batch, size, generator)
            code = model.class_encoder(t.to_network(random_images(batch if batch % 2 == 0 else 1, size, generator)))
            got = run(sessions["translate"], content=x, code=code)
            worst = max(worst, image_difference(got, pytorch_translate(x, code)))
        return {"max_abs_difference": worst}

    def check_class_code(sessions, generator, checks):
        worst, worst_code = 0.0, 0.0
        for k in range(1, checks + 1):
            references, x = random_images(k, size, generator), random_images(2, size, generator)
            code = run(sessions["class_code"], references=references)
            worst_code = max(worst_code, code_difference(code, model.class_code(t.to_network(references))))
            got = run(sessions["translate"], content=x, code=torch.from_numpy(code))  # ONNX Runtime only
            worst = max(worst, image_difference(got, t.translate_tensor(x, references=references)))
        return {"max_abs_difference": worst, "max_abs_code_difference": worst_code}

    return [
        Graph("class_code", ClassCode(exported), {"references": "K x 3 x S x S in [-1, 1]: K images of the target class"},
              {"code": f"1 x {latent}: their class codes, averaged"}, (torch.zeros(2, 3, size, size),),
              {"references": {0: "k"}}, check_class_code),
        Graph("translate", FewShotTranslate(exported),
              {"content": IMAGES, "code": f"N (a class per image) or 1 (one for all) x {latent}: from class_code.onnx"},
              {"translation": TRANSLATION}, (torch.zeros(2, 3, size, size), torch.zeros(2, latent)),
              {"content": {0: "batch"}, "code": {0: "codes"}, "translation": {0: "batch"}}, check_translate),
    ]


def graphs_of(t) -> tuple[list[Graph], dict[str, str], dict]:
    """(the graphs, direction -> the graph that translates, what onnx.json says about the family's codes).
    The graphs are traced from the fast path's export view (its rewrites, e.g. ResizeConvolution) and
    checked against `t` itself, the network as it is."""
    exported = export_view(t)
    if t.family_name == "munit":
        return munit_graphs(t, exported), {d: d for d in t.directions}, {"style_dim": t.style_dim}
    if t.family_name == "funit":
        extra = {"latent_dim": t.model.class_encoder.head.out_channels,
                 "style_encoder": t.config.get("style_encoder", "funit"), "inputs": t.config.get("inputs", "images")}
        return funit_graphs(t, exported), {d: "translate" for d in t.directions}, extra
    needs = [o for o in t.options if o in NEEDS_MORE]
    if needs:
        raise SystemExit(f"{t.name} is a {translator.FAMILIES[t.family_name].title} model: its translation needs "
                         f"{' and '.join(needs)} besides the image, and this exporter has no graphs for that family.")
    return image_only_graphs(t, exported), {d: d for d in t.directions}, {}


def export_onnx(model: str, out: Path, opset: int = 17, checks: int = 4) -> dict:
    """Write out/<graph>.onnx for every graph of `model` (see the module docstring) and out/onnx.json;
    returns the latter."""
    t = translator.load(model, device="cpu", warm_up=False)
    graphs, directions, extra = graphs_of(t)
    import onnxruntime  # (an optional dependency: say so before any work)

    out.mkdir(parents=True, exist_ok=True)
    report = {"model": t.name, "family": t.family_name, "image_size": t.image_size, "opset": opset, **extra,
              "graphs": {}}
    sessions = {}
    for graph in graphs:
        path = out / f"{graph.name}.onnx"
        export(graph.module, graph.example, path, list(graph.inputs), list(graph.outputs), graph.dynamic, opset)
        sessions[graph.name] = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    for graph in graphs:  # after all are written: a code graph is checked through its translation graph
        with torch.no_grad():
            numbers = graph.check(sessions, generator, checks)
        report["graphs"][graph.name] = {"file": f"{graph.name}.onnx", "inputs": graph.inputs, "outputs": graph.outputs,
                                        **numbers, "within_bar": numbers["max_abs_difference"] <= PARITY_BAR}
    report["directions"] = {d: report["graphs"][name] for d, name in directions.items()}
    (out / "onnx.json").write_text(json.dumps(report, indent=2))
    return report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a shipped name, a Hub repo id or a model folder")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the folder to write the graphs into")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--checks", type=int, default=4,
                        help="random batches per graph for the parity check (sizes 1..CHECKS; FUNIT's K too)")
    args = parser.parse_args(argv)
    try:
        report = export_onnx(args.model, args.out, args.opset, args.checks)
    except ImportError:
        raise SystemExit("ONNX export needs onnx and onnxruntime: pip install onnx onnxruntime") from None
    except translator.TranslatorError as err:
        raise SystemExit(f"error: {err}") from None
    for r in report["graphs"].values():
        code = f", its code {r['max_abs_code_difference']:.2e}" if "max_abs_code_difference" in r else ""
        print(f"{args.out / r['file']}: max |ONNX Runtime - PyTorch| = {r['max_abs_difference'] * 255:.3f}/255{code} "
              f"({'within' if r['within_bar'] else 'OVER'} the 2/255 bar)")


if __name__ == "__main__":
    main()
