"""Assemble a Hugging Face Space (Gradio, free CPU tier) from this checkout.

    python -m training.space --out dist/space          # then: cd dist/space && git init && ... push to the Space

The folder holds the app, the core, the shipped models' bundled copies, the finishing stage, the base
font and the app's examples, a requirements.txt that takes PyTorch's CPU wheels (the free tier has no GPU,
and the CUDA build is ~5 GB), and the README header a Space reads (sdk, its pinned version, app_file,
hardware, licence). Nothing at start needs the network: the models load from the bundled copies when the
Hub cannot be reached. The examples run when first clicked and are kept from then (app.ExampleResults);
nothing is computed at build time.

On a GPU Space set the Space variable TRANSLATOR_DEVICE=cuda (app.py's --device default). On ZeroGPU,
add `spaces` to requirements.txt as well: app.py runs each translation under `spaces.GPU` when
SPACES_ZERO_GPU is set (elsewhere the decorator is not applied).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import gradio

ROOT = Path(__file__).resolve().parent.parent

HEADER = """---
title: Translator Studio
emoji: 🎨
colorFrom: indigo
colorTo: yellow
sdk: gradio
sdk_version: {gradio}
app_file: app.py
python_version: "3.11"
suggested_hardware: cpu-basic
license: mit
short_description: Classic GAN image-to-image translation (CycleGAN, pix2pix, ...)
---

"""

REQUIREMENTS = """# PyTorch's CPU wheels: a free Space has no GPU, and the default (CUDA) build is ~5 GB
--extra-index-url https://download.pytorch.org/whl/cpu
torch>=2.4,<2.15
huggingface_hub>=1.16,<3
safetensors>=0.4.3
numpy>=1.26,<3
pillow>=10.3,<13
tqdm>=4.66
onnx>=1.16,<2
onnxruntime>=1.18,<2
"""


def build(out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", out / "app.py")
    shutil.copytree(ROOT / "translator", out / "translator", ignore=shutil.ignore_patterns("__pycache__"))
    (out / "assets").mkdir()
    # the shipped models, the ×4 finishing stage the app applies for display, FUNIT's base font (DejaVu Sans)
    for part in ("models", "finishing", "fonts"):
        shutil.copytree(ROOT / "assets" / part, out / "assets" / part)
    shutil.copytree(ROOT / "assets" / "examples", out / "assets" / "examples")
    shutil.copytree(ROOT / "docs" / "images", out / "docs" / "images")  # the README's screenshots
    shutil.copy2(ROOT / "LICENSE", out / "LICENSE")
    (out / "requirements.txt").write_text(REQUIREMENTS)
    readme = (ROOT / "README.md").read_text()
    (out / "README.md").write_text(HEADER.format(gradio=gradio.__version__) + readme)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("dist/space"))
    args = parser.parse_args(argv)
    folder = build(args.out)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2 ** 20
    print(f"{folder}: {size:.0f} MB")


if __name__ == "__main__":
    main()
