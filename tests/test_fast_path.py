"""The CPU fast path (translator/fast_path.py): ONNX Runtime runs what eager PyTorch would, for every family
that has a translation graph, within the parity bar; it is cached on disk, skipped where it does not apply,
and never makes a model unusable."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import app
import translator
from translator import fast_path
from translator.fast_path import PARITY_BAR, FastPath
from translator.layers import init_weights

pytest.importorskip("onnxruntime")

FAMILIES = sorted(f for f in translator.FAMILIES if f != "toy")


def tiny_folder(family: str, folder, seed: int = 0):
    torch.manual_seed(seed)
    spec = translator.FAMILIES[family]
    model = spec.network(**spec.tiny_config)
    init_weights(model)
    copy.deepcopy(model).half().save_pretrained(folder)
    return folder


def picture(seed: int = 0, size: int = 40) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size + 7, 3), dtype=np.uint8))


def glyph(seed: int = 0) -> Image.Image:
    """Ink on paper, as FUNIT's references must be."""
    from PIL import ImageDraw
    image = Image.new("RGB", (40, 40), "white")
    x, y = np.random.default_rng(seed).integers(4, 14, 2)
    ImageDraw.Draw(image).rectangle((int(x), int(y), int(x) + 8, int(y) + 20), fill="black")
    return image


def counting(monkeypatch) -> list:
    calls = []
    original = FastPath.run

    def run(self, *args):
        calls.append(args[2])  # the direction
        return original(self, *args)
    monkeypatch.setattr(FastPath, "run", run)
    return calls


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_translates_the_same_through_onnx_runtime(family, tmp_path, monkeypatch):
    folder = tiny_folder(family, tmp_path / family)
    eager = translator.load(str(folder), warm_up=False)
    fast = translator.load(str(folder), warm_up=False, fast="always")
    report = fast.fast_path.report
    assert report["used"] and report["kind"] == fast_path.kind_of(fast), report
    assert report["max_abs_difference"] <= PARITY_BAR
    calls = counting(monkeypatch)
    generator = torch.Generator().manual_seed(3)
    for direction in fast.directions:
        x = torch.rand(3, 3, fast.image_size, fast.image_size, generator=generator) * 2 - 1
        options = fast.fast_path.example_options(fast, generator)
        with torch.inference_mode():
            got = fast.network_output(x, direction, **options)
            expected = eager.translate_tensor(x, direction, **options)
        assert fast.last_fast and got.shape == expected.shape
        assert (got - expected).abs().max() / 2 <= PARITY_BAR
    assert calls == list(fast.directions)
    # the public call too: the same picture, the same answer, timed and marked as the fast path's
    options, image = ({"style": [0.3] * fast.style_dim} if family == "munit" else {}), picture()
    if family == "funit":
        options, image = {"references": [glyph(5), glyph(6)]}, glyph(1)
    for direction in fast.directions:
        a = np.asarray(fast.translate(image, direction, **options), dtype=float)
        b = np.asarray(eager.translate(image, direction, **options), dtype=float)
        assert fast.last_fast and not eager.last_fast and fast.last_seconds > 0
        assert np.abs(a - b).max() <= 3  # 8-bit images after resizing: a rounding step or two


def test_the_graph_and_the_decision_are_made_once_and_reused(tmp_path, monkeypatch):
    folder = tiny_folder("cyclegan", tmp_path / "m")
    t = translator.load(str(folder), warm_up=False)
    first = FastPath(t, "always")
    graph = fast_path.cache_root() / fast_path.weights_key(t, "image") / "a2b.onnx"
    assert first.used and graph.exists()

    def never(*args, **kwargs):
        raise AssertionError("done again")
    monkeypatch.setattr(fast_path, "export", never)
    monkeypatch.setattr(FastPath, "parity", never)
    again = FastPath(t, "always")  # the graph and the parity check come from the cache
    assert again.used and again.report["max_abs_difference"] == first.report["max_abs_difference"]
    other = tiny_folder("cyclegan", tmp_path / "other", seed=1)  # other weights: another graph, not built here
    refused = FastPath(translator.load(str(other), warm_up=False), "always")
    assert not refused.used and "done again" in refused.report["reason"]
    monkeypatch.undo()
    graph.write_bytes(b"not an onnx file")  # damaged on disk: exported again, once
    for decision in graph.parent.glob("decision-*.json"):
        decision.unlink()
    repaired = FastPath(t, "always")
    assert repaired.used and graph.stat().st_size > 1000


def test_export_leaves_the_modes_alone_and_random_networks_stay_eager(tmp_path):
    t = translator.load(str(tiny_folder("cyclegan", tmp_path / "c")), warm_up=False)
    t.model.g_ab.train()  # whatever the translator set up, the export must not change it
    modes = {name: m.training for name, m in t.model.named_modules()}
    FastPath(t, "always")
    assert modes == {name: m.training for name, m in t.model.named_modules()}
    spec = translator.FAMILIES["pix2pix"]  # with dropout blocks (6 levels), kept on as the official test does
    network = spec.network(**{**spec.tiny_config, "image_size": 64, "num_downs": 6, "test_dropout": True})
    folder = tmp_path / "p"
    network.save_pretrained(folder)
    random_one = translator.load(str(folder), warm_up=False, fast="always")
    assert not random_one.fast_path.used and fast_path.kind_of(random_one) is None
    assert any(isinstance(m, torch.nn.Dropout) and m.training for m in random_one.model.modules())


def test_an_error_while_running_falls_back_to_pytorch(tmp_path):
    t = translator.load(str(tiny_folder("cyclegan", tmp_path / "c")), warm_up=False, fast="always")
    eager = np.asarray(translator.load(str(tmp_path / "c"), warm_up=False).translate(picture()), dtype=float)

    class Broken:
        def run(self, *args):
            raise RuntimeError("onnxruntime fell over")
    t.fast_path.sessions = {d: Broken() for d in t.directions}
    out = np.asarray(t.translate(picture()), dtype=float)
    assert not t.last_fast and np.abs(out - eager).max() == 0
    assert not t.fast_path.used and "fell over" in t.fast_path.report["reason"]


def test_what_stays_on_pytorch(tmp_path, monkeypatch):
    unit, cyclegan, munit = (translator.load(str(tiny_folder(f, tmp_path / f)), warm_up=False, fast="always")
                             for f in ("unit", "cyclegan", "munit"))
    calls = counting(monkeypatch)  # from here on, every session run is counted
    unit.translate(picture(), "a2b", sample=True, seed=3)  # a draw from the posterior: eager
    assert not unit.last_fast and calls == []
    unit.translate(picture(), "a2b", seed=3)  # a seed without sampling: the mean, on the fast path
    assert unit.last_fast and calls == ["a2b"]
    cyclegan.translate(picture(size=70), "a2b", tiled=True)  # tiles share whole-image statistics: eager
    assert not cyclegan.last_fast and calls == ["a2b"]
    munit.samples(picture(), n=3, seed=1)  # the grid: one content code, decoded n times, eager
    assert calls == ["a2b"]
    assert fast_path.kind_of(translator.FAMILIES["toy"].translator) is None  # a family needing what no graph takes


def test_any_failure_leaves_the_model_on_pytorch(tmp_path, monkeypatch):
    folder = tiny_folder("cyclegan", tmp_path / "m")
    t = translator.load(str(folder), warm_up=False)
    monkeypatch.setattr(fast_path, "PARITY_BAR", -1.0)  # no session can pass
    failed = FastPath(t, "always", cache=tmp_path / "cache")  # (a cache of its own: no decision kept yet)
    assert not failed.used and "differs from PyTorch" in failed.report["reason"]
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # not installed
    missing = FastPath(t, "always", cache=tmp_path / "cache2")
    assert not missing.used and missing.report["reason"].startswith(("ModuleNotFoundError", "ImportError"))
    t.fast_path = missing
    assert t.translate(picture()).size and not t.last_fast


def test_the_timing_decides_where_it_pays(tmp_path):
    t = translator.load(str(tiny_folder("pix2pix", tmp_path / "p", seed=7)), warm_up=False, fast=True)
    report = t.fast_path.report
    assert report["eager_s"] > 0 and report["onnxruntime_s"] > 0
    assert report["used"] == (report["onnxruntime_s"] <= fast_path.PAYS * report["eager_s"])
    assert report["used"] or report["reason"] == "not faster than PyTorch here"


def test_the_app_says_when_onnx_runtime_ran(tmp_path):
    t = translator.load(str(tiny_folder("cyclegan", tmp_path / "m")), warm_up=False, fast="always")
    t.translate(picture())
    assert "on cpu with ONNX Runtime at 32×32 px" in app.describe(t, 0.01)
    t.translate(picture(size=70), tiled=True)
    assert "ONNX Runtime" not in app.describe(t, 0.01, tiled=(70, 77))


def test_in_the_background_the_model_serves_on_pytorch_until_its_session_is_checked(tmp_path, monkeypatch):
    """What the app does: load returns at once, translations run eagerly while the export and the timing run
    on a background thread, and the fast path is used from the moment its decision is in."""
    import threading

    release, original = threading.Event(), FastPath._build

    def held(self, *args):
        assert release.wait(60)
        original(self, *args)
    monkeypatch.setattr(FastPath, "_build", held)
    monkeypatch.setattr(fast_path, "PAYS", 1e9)  # the timing is noise on tiny networks: let it pass
    t = translator.load(str(tiny_folder("cyclegan", tmp_path / "m")), warm_up=False, fast="background")
    assert not t.fast_path.ready.is_set() and "being built" in t.fast_path.report["reason"]
    eager = t.translate(picture())
    assert not t.last_fast and not t.fast_path.used
    release.set()
    assert t.fast_path.wait(60) and t.fast_path.used and t.fast_path.report["speed_up"] > 0
    fast = t.translate(picture())
    assert t.last_fast
    assert np.abs(np.asarray(fast, dtype=float) - np.asarray(eager, dtype=float)).max() <= 2 * PARITY_BAR * 255 + 1


def test_ugatit_attention_view_has_a_graph_of_its_own_that_matches_eager(tmp_path):
    """U-GAT-IT's tab computes the translation, three CAM heatmaps and the CAM logit: one graph per direction
    (issue 19's latency bar is on exactly that), each output within the parity bar of eager PyTorch relative
    to its range; the model's own spectral norms are untouched; a run-time failure falls back to PyTorch."""
    from torch.nn.utils import parametrize

    t = translator.load(str(tiny_folder("ugatit", tmp_path / "u")), warm_up=False, fast="always")
    assert set(t.fast_path.heatmap_sessions) == {"a2b", "b2a"}
    x = torch.rand(2, 3, t.image_size, t.image_size) * 2 - 1
    for direction in ("a2b", "b2a"):
        with torch.inference_mode():
            fast = t.heatmaps(x, direction)
            assert t.last_fast
            eager = t.heatmaps_tensor(x, direction)
        assert set(fast) == set(eager)
        for name, value in eager.items():
            assert fast[name].shape == value.shape
            assert (fast[name] - value).abs().max() <= PARITY_BAR * fast_path.heatmap_scale(name, value), name
    t.attention(picture())
    assert t.last_fast
    assert any(parametrize.is_parametrized(m) for m in t.model.modules())  # eager keeps its spectral norms

    class Broken:
        def run(self, *args):
            raise RuntimeError("boom")
    t.fast_path.heatmap_sessions["a2b"] = Broken()
    attention = t.attention(picture())
    assert not t.last_fast and not t.fast_path.used and attention.translation.size
    assert t.fast_path.report["reason"] == "RuntimeError: boom"
    t.fast_path.disable(KeyError("a2b"))  # a request that raced the first failure does not overwrite its reason
    assert t.fast_path.report["reason"] == "RuntimeError: boom"


def test_timed_the_attention_view_is_kept_only_where_it_pays(tmp_path, monkeypatch):
    folder = tiny_folder("ugatit", tmp_path / "u")
    t = translator.load(str(folder), warm_up=False)
    monkeypatch.setattr(fast_path, "PAYS", 1e9)  # every graph "pays"
    kept = FastPath(t, True, cache=tmp_path / "c1")
    assert kept.used and kept.heatmap_sessions and kept.report["attention_used"] and kept.report["attention_speed_up"] > 0
    monkeypatch.setattr(FastPath, "attention_timings", lambda self, t: (1.0, 1e10))  # far slower than PyTorch
    dropped = FastPath(t, True, cache=tmp_path / "c2")
    assert dropped.used and not dropped.heatmap_sessions and dropped.report["attention_used"] is False
    assert FastPath(t, True, cache=tmp_path / "c2").heatmap_sessions == {}  # the cached decision says so too


def test_exporting_never_puts_the_network_in_training_mode(tmp_path, monkeypatch):
    """The app exports beside requests: a network switched to training mode for a moment would run dropout
    or spectral norm's power iteration in someone's translation."""
    t = translator.load(str(tiny_folder("ugatit", tmp_path / "u")), warm_up=False)
    seen = []
    original = torch.nn.Module.train

    def train(self, mode=True):
        if mode:
            seen.append(type(self).__name__)
        return original(self, mode)
    monkeypatch.setattr(torch.nn.Module, "train", train)
    FastPath(t, "always", cache=tmp_path / "c")
    assert seen == [] and not any(m.training for m in t.model.modules())


def test_funit_takes_a_class_per_content_image_only_when_the_counts_match(tmp_path, monkeypatch):
    t = translator.load(str(tiny_folder("funit", tmp_path / "f")), warm_up=False, fast="always")
    calls = counting(monkeypatch)
    x = torch.rand(2, 3, t.image_size, t.image_size) * 2 - 1
    per_image = torch.rand(2, 3, 3, t.image_size, t.image_size) * 2 - 1  # N x K references
    with torch.inference_mode():
        got = t.network_output(x, "a2b", references=per_image)
        expected = t.translate_tensor(x, "a2b", references=per_image)
    assert calls == ["a2b"] and (got - expected).abs().max() / 2 <= PARITY_BAR
    fast = t.fast_path.applies(x[:1], "a2b", {"references": per_image})  # 2 classes for 1 image: not the graph's
    assert not fast


@pytest.mark.parametrize("padding_mode", ["reflect", "zeros"])
@pytest.mark.parametrize("kernel", [5, 7, 9])
def test_resize_convolution_on_the_small_image_is_the_same_maths(padding_mode, kernel):
    from translator.layers import ConvNormAct
    torch.manual_seed(kernel)
    block = ConvNormAct(6, 4, kernel, padding=kernel // 2, norm="none", padding_mode=padding_mode, upsample=2).eval()
    network = torch.nn.Sequential(block)
    copy_ = fast_path.rewritten(network)
    assert copy_ is not network and hasattr(block, "upsample") and type(block.conv) is torch.nn.Conv2d  # untouched
    assert isinstance(copy_[0].conv, fast_path.ResizeConvolution) and not hasattr(copy_[0], "upsample")
    # the edges of reflect padding come from strips: every size, down to inputs smaller than the strips
    for size in ((2, 2), (3, 3), (2, 5), (4, 4), (8, 8), (16, 12), (5, 9)):
        if 2 * min(size) <= kernel // 2:  # reflect padding itself needs more than that
            continue
        x = torch.randn(2, 6, *size)
        with torch.no_grad():
            assert (copy_(x) - network(x)).abs().max() < 1e-5, size
    # fewer multiply-adds: 4 phases of the folded kernel against 4 large pixels of the full one
    folded = copy_[0].conv.phases.weight.shape[-1]
    assert folded == {5: 3, 7: 5, 9: 5}[kernel] < kernel


def test_rewrite_leaves_other_convolutions_alone():
    from translator.layers import ConvNormAct
    kept = torch.nn.Sequential(ConvNormAct(4, 4, 3, padding=1, norm="none", padding_mode="reflect", upsample=2),
                               ConvNormAct(4, 4, 5, padding=2, norm="none"))  # a 3x3 folds to no fewer taps
    assert fast_path.rewritten(kept) is kept


@pytest.mark.parametrize("padding_mode", ["reflect", "zeros"])
@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("bias", [True, False])
def test_winograd_convolution_is_the_same_maths(padding_mode, padding, bias):
    torch.manual_seed(padding)
    conv = torch.nn.Conv2d(8, 6, 3, padding=padding, padding_mode=padding_mode, bias=bias)
    winograd = fast_path.WinogradConvolution(conv).eval()
    # outputs of 32 x 32 and 32 x 40 tile into 4 x 4 blocks; 30 x 30 does not (the plain conv), nor 8 x 8 (too small)
    for size in ((32, 32), (32, 40), (30, 30), (8, 8)):
        x = torch.randn(2, 8, size[0] + 2 - 2 * padding, size[1] + 2 - 2 * padding)
        assert winograd.pays(*size) == (size in ((32, 32), (32, 40)))  # the Winograd branch, or the plain conv
        with torch.no_grad():
            expected, got = conv(x), winograd(x)
        assert got.shape == expected.shape == (2, 6, *size)
        assert (got - expected).abs().max() <= 1e-5 * expected.abs().max(), size


def test_winograd_applies_to_wide_3x3_convolutions_only():
    Conv = torch.nn.Conv2d
    applies = fast_path.WinogradConvolution.applies
    assert applies(Conv(256, 128, 3, padding=1, padding_mode="reflect")) and applies(Conv(128, 256, 3))
    assert not applies(Conv(128, 128, 3, padding=1))         # measured: no gain at 128 x 128 channels
    assert not applies(Conv(512, 64, 3, padding=1))          # nor with a narrow side
    assert not applies(Conv(256, 256, 5, padding=2))         # not 3 x 3
    assert not applies(Conv(256, 256, 3, stride=2, padding=1))
    assert not applies(Conv(256, 256, 3, padding=1, groups=2))
    assert not applies(Conv(256, 256, 3, padding=1, dilation=2))
    assert not applies(Conv(256, 256, 3, padding=1, padding_mode="circular"))
    assert not applies(torch.nn.utils.parametrizations.spectral_norm(Conv(256, 256, 3, padding=1)))
    wide, wider = (fast_path.WinogradConvolution(Conv(c, c, 3)) for c in (256, 512))
    assert wide.pays(32, 64) and not wide.pays(16, 16) and wider.pays(16, 16)  # 16 x 16 pays at 512 only
    assert not wider.pays(34, 32) and not wider.pays(12, 12)


def test_a_wide_network_exports_with_winograd_at_parity(tmp_path):
    """A CycleGAN wide enough for the rewrite (a 256-channel block at 32 x 32): the exported graph does its
    3 x 3 convs as matrix products, the session agrees with PyTorch, and the served network is untouched."""
    import onnx
    torch.manual_seed(0)
    network = translator.FAMILIES["cyclegan"].network(image_size=128, ngf=64, n_blocks=1)
    init_weights(network)
    network.save_pretrained(tmp_path / "wide")
    t = translator.load(str(tmp_path / "wide"), warm_up=False)
    assert fast_path.rewrites(t.model) == 4  # two convs of one block, each way
    fast = FastPath(t, "always", cache=tmp_path / "cache")
    assert fast.used and fast.report["max_abs_difference"] <= PARITY_BAR
    graph = onnx.load(str(Path(fast.report["folder"]) / "a2b.onnx")).graph
    assert sum(node.op_type == "MatMul" for node in graph.node) == 4  # 2 convs x (filters, outputs)
    depthwise = [n for n in graph.node if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)]
    assert len(depthwise) == 4  # the input transform, rows then columns, of each
    assert not any(isinstance(m, fast_path.WinogradConvolution) for m in t.model.modules())


@pytest.mark.parametrize("family", ["munit", "funit", "unit"])
def test_the_exported_graph_of_a_resize_convolution_decoder_is_rewritten(family, tmp_path):
    import onnx
    folder = tiny_folder(family, tmp_path / family)
    t = translator.load(str(folder), warm_up=False)
    graphs = {}
    for rewrite in (True, False):
        fast = FastPath(t, "always", cache=tmp_path / "cache", rewrite=rewrite)
        assert fast.used and fast.report["max_abs_difference"] <= PARITY_BAR
        path = sorted(Path(fast.report["folder"]).glob("*.onnx"))[0]
        graphs[rewrite] = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "DepthToSpace" in graphs[True] and "DepthToSpace" not in graphs[False]  # the pixel shuffle
    assert not any(isinstance(m, fast_path.ResizeConvolution) for m in t.model.modules())  # served model untouched


def test_the_benchmark_measures_the_rewrites_against_the_plain_graph(tmp_path):
    from training.fast_path_bench import bench, table
    t = translator.load(str(tiny_folder("munit", tmp_path / "munit")), warm_up=False)
    row = bench(t, 1, "MUNIT", tmp_path)
    assert row["rewrites"]["plain_graph_s"] > 0 and row["rewrites"]["gain"] > 0
    assert "graph not rewritten / rewritten" in table([row], "model")
    cyclegan = translator.load(str(tiny_folder("cyclegan", tmp_path / "cyclegan")), warm_up=False)
    assert "rewrites" not in bench(cyclegan, 1, "CycleGAN", tmp_path)  # nothing in it to rewrite


def test_the_ceiling_counts_every_convolutions_multiply_adds():
    """training.int8_check's multiply-add count (the ceiling's numerator): a 3x3 convolution costs
    (outputs x in-channels x 9), a stride-2 transposed 4x4 one (inputs x out-channels x 16), other layers nothing."""
    import numpy as np
    from torch import nn

    from training.int8_check import multiply_adds

    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(8, 5, 4, stride=2, padding=1))
    counted = multiply_adds(net, np.zeros((1, 3, 16, 16), np.float32))
    assert counted == 8 * 16 * 16 * 3 * 9 + 8 * 16 * 16 * 5 * 16


def test_a_process_exiting_during_a_background_build_lets_that_build_end_and_starts_no_other(tmp_path):
    """A daemon thread stopped by the exit inside torch's ONNX export aborted the process (exit status 134,
    "terminate called without an active exception") after a test run that had passed: at exit the build in
    progress now ends, and no queued build starts."""
    import subprocess
    import textwrap

    code = textwrap.dedent(f"""
        import threading, time
        from pathlib import Path
        from translator import fast_path
        started = threading.Event()
        def build(name, seconds):
            started.set()
            time.sleep(seconds)  # stands in for an export: the exit comes in the middle of it
            Path({str(tmp_path)!r}, name).write_text("built")
        fast_path._build_in_background(build, "first", 1.0)
        fast_path._build_in_background(build, "second", 0.0)
        started.wait(10)
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "first").exists() and not (tmp_path / "second").exists()
    assert "letting the ONNX build in progress stop" in result.stderr  # the wait is said, not silent

    idle = textwrap.dedent("""
        import threading, time
        from translator import fast_path
        done = threading.Event()
        fast_path._build_in_background(done.set)
        done.wait(10)
        time.sleep(0.2)  # the builder is idle, waiting on its queue, when the process exits
        print("exiting", flush=True)
    """)
    result = subprocess.run([sys.executable, "-c", idle], cwd=Path(__file__).resolve().parent.parent,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "exiting" in result.stdout, result.stderr
    assert "letting the ONNX build" not in result.stderr  # an idle builder is woken and ends at once
