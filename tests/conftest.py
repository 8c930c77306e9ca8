"""Shared fixtures. Tests never touch the network: the Hub is a fake on 127.0.0.1 and HF_HOME is a
temporary folder, set before huggingface_hub is imported anywhere."""
from __future__ import annotations

import copy
import os
import sys
import tempfile
from pathlib import Path

_HOME = tempfile.mkdtemp(prefix="translator-tests-hf-")
os.environ["HF_HOME"] = _HOME
os.environ["HF_HUB_CACHE"] = os.path.join(_HOME, "hub")
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens on the discard port: "no network"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["TRANSLATOR_STUDIO_CACHE"] = os.path.join(_HOME, "translator-studio")  # the fast path's graphs
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["TRANSLATOR_HUB_TIMEOUT"] = "2"
os.environ["TRANSLATOR_HUB_DEADLINE"] = "5"  # the deadline tests stay well inside their 10 s
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from translator.cyclegan import CycleGAN  # noqa: E402
from translator.layers import init_weights  # noqa: E402
from training.fake_hub import FakeHub  # noqa: E402
import toy_family  # noqa: E402,F401  (registers the test-only family that takes every option)


def tiny_cyclegan(seed: int = 0, image_size: int = 32) -> CycleGAN:
    torch.manual_seed(seed)
    model = CycleGAN(image_size=image_size, ngf=4, n_blocks=1, domain_a="left", domain_b="right")
    init_weights(model)
    return model


def export(model, folder: Path) -> Path:
    """What the trainer ships: fp16 safetensors + config.json (+ card)."""
    copy.deepcopy(model).half().save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_model_dir(tmp_path) -> Path:
    return export(tiny_cyclegan(), tmp_path / "tiny-cyclegan")


def point_hub_at(monkeypatch, url: str, cache: Path) -> None:
    """huggingface_hub and our reachability probe to a (fake) Hub at `url`, with a Hub cache of this test's
    own, so a damaged copy one test puts there is never another test's fallback."""
    from huggingface_hub import constants

    from translator import hub as translator_hub

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    translator_hub._reachable.clear()


@pytest.fixture
def fake_hub(monkeypatch, tmp_path_factory):
    """A running fake Hub, pointed at by point_hub_at."""
    from translator import hub as translator_hub

    with FakeHub() as server:
        point_hub_at(monkeypatch, server.url, tmp_path_factory.mktemp("hub-cache"))
        yield server
    translator_hub._reachable.clear()


@pytest.fixture(autouse=True)
def fresh_translator_cache():
    import translator

    translator._cache.clear()
    yield
    translator._cache.clear()


@pytest.fixture
def emoji_like() -> Image.Image:
    """A yellow disc on transparency, like an emoji: RGBA, non-square."""
    yy, xx = np.mgrid[0:90, 0:120]
    alpha = (((xx - 60) ** 2 + (yy - 45) ** 2) < 40 ** 2).astype(np.uint8) * 255
    rgba = np.dstack([np.full_like(alpha, 250), np.full_like(alpha, 200), np.full_like(alpha, 40), alpha])
    return Image.fromarray(rgba, "RGBA")
