"""The bundled CycleGAN is a trained model, not a placeholder: on the bundled test-split examples it
changes the image (unlike identity) and its cycle comes back close to the input (unlike random weights,
which land ~0.4 away). The shipped model (cycle-blur 5, 20,000 steps) moves these examples by 0.05-0.09
and cycles back within 0.04-0.10."""
import pytest
import torch

import translator
from conftest import ROOT

EXAMPLES = sorted((ROOT / "assets/examples/cyclegan").glob("*.png"))


@pytest.fixture(scope="module")
def cyclegan():
    return translator.load("cyclegan-noto2twemoji", warm_up=False)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_shipped_cyclegan_translates_and_cycles_back(cyclegan, example):
    there, back = ("a2b", "b2a") if example.name.startswith("noto-") else ("b2a", "a2b")
    x, _ = cyclegan.prepare(example)
    with torch.inference_mode():
        y = cyclegan.translate_tensor(x, there)
        reconstruction = cyclegan.translate_tensor(y, back)
    moved = (y - x).abs().mean().item() / 2  # mean absolute difference on [0, 1]
    cycle_error = (reconstruction - x).abs().mean().item() / 2
    assert 0.02 < moved < 0.2
    assert cycle_error < 0.15
