"""training.convert's `ugatit-tf` format (taki0112/UGATIT, the official TensorFlow U-GAT-IT) and the reader of
TF checkpoints it uses (training.tf_checkpoint), on real TF checkpoints: tests/fixtures/ugatit_tf/ holds two,
saved by TensorFlow's own Saver (TF 2.21, tf.compat.v1) with the official variable names at tiny widths, a
light model and a full one, made by tests/fixtures/make_ugatit_tf_checkpoint.py (which needs TensorFlow;
these tests do not). Their values are a function of each name, which that script's `values` regenerates
here bit for bit; each folder's tf_outputs.npz holds what TensorFlow computed with them.

The TF forward pass below (`official_generator`, `official_discriminator`) is this test's own reading of
the official UGATIT.py and ops.py, in numpy float64, NHWC, on the TF-layout values as saved: it shares
nothing with translator's modules or the converter's re-layouts. It is checked against TensorFlow's outputs,
and the converted model against it (max abs difference <= 1e-5 on images).
"""
import dataclasses
import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from safetensors.torch import load_file

import translator
from training.convert import main, parse_args
from training.convert_ugatit_tf import ugatit_tf
from training.tf_checkpoint import TensorBundle, checkpoint_prefix, crc32c, unmask
from translator.errors import WeightsError

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("make_ugatit_tf_checkpoint",
                                               HERE / "fixtures" / "make_ugatit_tf_checkpoint.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)  # layout, values, image: numpy only

KINDS = ["light", "full"]


def fixture(kind):
    """(the .index path, the settings)"""
    folder, prefix, settings = fixtures.FIXTURES[kind]
    return fixtures.HERE / folder / f"{prefix}.index", settings


def tf_outputs(kind):
    index, _ = fixture(kind)
    with np.load(index.parent / "tf_outputs.npz") as f:
        return {k: f[k] for k in f.files if k != "tensorflow_version"}


# --- the official forward pass, NHWC, numpy float64 -----------------------------------------------------------
def conv(x, kernel, bias, stride=1, pad=0):
    """ops.conv: reflect padding, `pad` before and (kernel - stride is odd) kernel - stride - pad after, then
    a VALID tf.nn.conv2d with an HWIO kernel, then the bias."""
    k = kernel.shape[0]
    if pad:
        after = pad if (k - stride) % 2 == 0 else k - stride - pad
        x = np.pad(x, ((0, 0), (pad, after), (pad, after), (0, 0)), mode="reflect")
    patches = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # N, H', W', C, kh, kw
    return np.einsum("nijcab,abco->nijo", patches, kernel) + bias


def moments_norm(x, axes, eps=1e-5):  # tf.nn.moments: the biased variance
    return (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)


def lin_mix(x, rho):
    return rho * moments_norm(x, (1, 2)) + (1 - rho) * moments_norm(x, (1, 2, 3))


def relu(x):
    return np.maximum(x, 0)


def lrelu(x):
    return np.where(x > 0, x, 0.2 * x)


def l2n(x):
    return x / np.sqrt(max(np.sum(x * x), 1e-12))


def spectral(w, u):
    """ops.spectral_norm: one power iteration from the stored u."""
    w2 = w.reshape(-1, w.shape[-1])
    v = l2n(u @ w2.T)
    u_hat = l2n(v @ w2)
    return (w2 / (v @ w2 @ u_hat.T)).reshape(w.shape)


def cam(x, kernel, bias):
    """fully_connected_with_w, twice with one kernel [C, 1] and bias [1]: logits, features times (w + b)."""
    logits = np.concatenate([x.mean((1, 2)) @ kernel + bias, x.max((1, 2)) @ kernel + bias], -1)
    weighted = x * (kernel[:, 0] + bias)
    return np.concatenate([weighted, weighted], -1), logits


def official_generator(v, scope, light, smoothing=True):
    """UGATIT.generator: -> (image NHWC, cam_logit N x 2, heatmap N x h x w)."""
    p = lambda name: v[f"{scope}/{name}"]  # noqa: E731

    def c(name, x, stride=1, pad=0):  # a tf.layers.conv2d in scope `name`
        return conv(x, p(f"{name}/conv2d/kernel"), p(f"{name}/conv2d/bias"), stride, pad)

    inorm = lambda name, x: moments_norm(x, (1, 2)) * p(f"{name}/gamma") + p(f"{name}/beta")  # noqa: E731

    x = relu(inorm("ins_norm", c("conv", v["x"], 1, 3)))
    for i in range(2):
        x = relu(inorm(f"ins_norm_{i}", c(f"conv_{i}", x, 2, 1)))
    n_res = sum(1 for k in v if k.startswith(f"{scope}/resblock_") and k.endswith("res1/conv_0/conv2d/kernel"))
    for i in range(n_res):
        b = f"resblock_{i}"
        y = relu(inorm(f"{b}/res1/instance_norm", c(f"{b}/res1/conv_0", x, 1, 1)))
        x = x + inorm(f"{b}/res2/instance_norm", c(f"{b}/res2/conv_0", y, 1, 1))
    x, cam_logit = cam(x, p("CAM_logit/kernel"), p("CAM_logit/bias"))
    x = relu(c("conv_1x1", x))
    heatmap = x.sum(-1)
    h = x.mean((1, 2)) if light else x.reshape(x.shape[0], -1)  # tf.layers.flatten of NHWC
    dense = lambda name, h: h @ p(f"MLP/{name}/dense/kernel") + p(f"MLP/{name}/dense/bias")  # noqa: E731
    h = relu(dense("linear_1", relu(dense("linear_0", h))))
    gamma, beta = dense("gamma", h)[:, None, None, :], dense("beta", h)[:, None, None, :]
    for i in range(n_res):
        b = f"adaptive_resblock{i}"
        rho = [p(f"{b}/res{r}/instance_layer_norm/rho") for r in (1, 2)]
        rho = [np.clip(r - 0.1, 0, 1) if smoothing else r for r in rho]
        y = relu(lin_mix(c(f"{b}/res1/conv_0", x, 1, 1), rho[0]) * gamma + beta)
        x = x + lin_mix(c(f"{b}/res2/conv_0", y, 1, 1), rho[1]) * gamma + beta
    for i in range(2):
        x = x.repeat(2, axis=1).repeat(2, axis=2)  # resize_nearest_neighbor to twice the size
        x = c(f"up_conv_{i}", x, 1, 1)
        n = f"layer_ins_norm_{i}"
        x = relu(lin_mix(x, p(f"{n}/rho")) * p(f"{n}/gamma") + p(f"{n}/beta"))
    return np.tanh(c("G_logit", x, 1, 3)), cam_logit, heatmap


def official_discriminator(v, scope, x):
    """discriminator_global / _local (sn): -> (logit map NHWC, cam_logit, heatmap)."""
    p = lambda name: v[f"{scope}/{name}"]  # noqa: E731

    def sn(name, x, stride):  # ops.conv with sn: kernel, u, bias in scope `name`
        return conv(x, spectral(p(f"{name}/kernel"), p(f"{name}/u")), p(f"{name}/bias"), stride, 1)

    x = lrelu(sn("conv_0", x, 2))
    i = 1
    while f"{scope}/conv_{i}/kernel" in v:
        x = lrelu(sn(f"conv_{i}", x, 2))
        i += 1
    x = lrelu(sn("conv_last", x, 1))
    x, cam_logit = cam(x, spectral(p("CAM_logit/kernel"), p("CAM_logit/u")), p("CAM_logit/bias"))
    x = lrelu(conv(x, p("conv_1x1/conv2d/kernel"), p("conv_1x1/conv2d/bias")))
    return sn("D_logit", x, 1), cam_logit, x.sum(-1)


def official(kind, smoothing=True):
    """Every official output on the fixture's input, by the names tf_outputs.npz uses."""
    _, settings = fixture(kind)
    v = {k: a.astype(np.float64) for k, a in fixtures.values(settings).items()}
    v["x"] = fixtures.image(settings).astype(np.float64)
    out = {}
    for direction, scope in (("a2b", "generator_B"), ("b2a", "generator_A")):
        out.update(zip([f"{direction}/{k}" for k in ("image", "cam_logit", "heatmap")],
                       official_generator(v, scope, settings["light"], smoothing)))
    for scope in ("discriminator_A/local", "discriminator_A/global", "discriminator_B/local", "discriminator_B/global"):
        out.update(zip([f"{scope}/{k}" for k in ("logit", "cam_logit", "heatmap")],
                       official_discriminator(v, scope, v["x"])))
    return out


def ours(t, x_nhwc):
    """The converted model's outputs, NHWC where the official ones are, by the same names."""
    x = torch.from_numpy(x_nhwc).permute(0, 3, 1, 2)
    nhwc = lambda y: y.permute(0, 2, 3, 1).numpy()  # noqa: E731
    out = {}
    with torch.inference_mode():
        for direction, generator in (("a2b", t.model.gen_ab), ("b2a", t.model.gen_ba)):
            image, cam_logit, heatmap = generator(x)
            out.update({f"{direction}/image": nhwc(image), f"{direction}/cam_logit": cam_logit.numpy(),
                        f"{direction}/heatmap": heatmap[:, 0].numpy()})
        for scope, d in (("discriminator_A/local", t.model.d_local_a), ("discriminator_A/global", t.model.d_global_a),
                         ("discriminator_B/local", t.model.d_local_b), ("discriminator_B/global", t.model.d_global_b)):
            logit, cam_logit, heatmap = d(x)
            out.update({f"{scope}/logit": nhwc(logit), f"{scope}/cam_logit": cam_logit.numpy(),
                        f"{scope}/heatmap": heatmap[:, 0].numpy()})
    return out


def assert_matches(got, want, what):
    """Images within 1e-5; logits and heatmaps (sums over channels, larger numbers) within 1e-5 relative."""
    assert set(want) <= set(got), what
    for key, value in want.items():
        g = np.asarray(got[key], np.float64).reshape(np.shape(value))
        if key.endswith("/image"):
            assert np.abs(g - value).max() <= 1e-5, (what, key, np.abs(g - value).max())
        else:
            np.testing.assert_allclose(g, value, rtol=1e-5, atol=1e-5, err_msg=f"{what}: {key}")


def convert_fixture(tmp_path, index, *extra, name="out"):
    out = main([str(index), "--format", "ugatit-tf", "-o", str(tmp_path / name), *map(str, extra)])
    return out, translator.load(str(out), allow_local=True, warm_up=False)


# --- the reader ---------------------------------------------------------------------------------------------
def test_crc32c_is_castagnolis_and_its_fast_path_agrees():
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert crc32c(b"") == 0
    data = np.random.RandomState(0).randint(0, 256, 300_001).astype(np.uint8).tobytes()
    slow = 0xFFFFFFFF
    for byte in data[:50_000]:
        slow ^= byte
        for _ in range(8):
            slow = (slow >> 1) ^ 0x82F63B78 if slow & 1 else slow >> 1
    assert crc32c(data[:50_000]) == slow ^ 0xFFFFFFFF
    assert crc32c(data) == crc32c(data, block=65_536) == crc32c(data, block=12_345)
    assert unmask(((0x12345678 >> 15 | 0x12345678 << 17) + 0xA282EAD8) & 0xFFFFFFFF) == 0x12345678


@pytest.mark.parametrize("kind", KINDS)
def test_the_reader_returns_exactly_what_tensorflow_saved(kind):
    index, settings = fixture(kind)
    want = fixtures.values(settings)
    bundle = TensorBundle(index)
    assert sorted(bundle.names) == sorted(want) and bundle.num_shards == 1
    assert bundle.files == [index, index.with_name(index.name.replace(".index", ".data-00000-of-00001"))]
    for name, value in want.items():
        entry = bundle.entries[name]
        got = bundle.read(name)
        assert (entry.dtype, entry.shape) == (value.dtype.name, value.shape), name
        assert got.dtype == value.dtype and got.shape == value.shape and got.tobytes() == value.tobytes(), name
    assert bundle.read("global_step").dtype == np.int64 and bundle.read("beta1_power").shape == ()
    assert len(bundle.read_all()) == len(want)
    # the same checkpoint named four ways
    prefix = index.with_suffix("")
    for way in (prefix, index, bundle.files[1], index.parent):
        assert checkpoint_prefix(way) == prefix


def damaged(tmp_path, kind, which, change):
    """A copy of a fixture checkpoint with its .index or .data file changed by change(bytes) -> bytes."""
    index, _ = fixture(kind)
    folder = tmp_path / index.parent.name
    shutil.copytree(index.parent, folder)
    target = folder / (index.name if which == "index" else index.name.replace(".index", ".data-00000-of-00001"))
    target.write_bytes(change(target.read_bytes()))
    return folder / index.name


def flip(at):
    return lambda data: data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1:]


@pytest.mark.parametrize("which, change, message", [
    ("index", lambda d: d[:-7], "not a valid TensorFlow checkpoint index, or is damaged: its footer lacks"),
    ("index", lambda d: b"", "not a valid TensorFlow checkpoint index, or is damaged: 0 bytes"),
    ("index", flip(100), "not a valid TensorFlow checkpoint index, or is damaged: the block at byte 0 fails"),
    ("index", lambda d: b"model_checkpoint_path: x\n" * 10, "not a valid TensorFlow checkpoint index"),
    ("data", lambda d: d[:-1000], "is truncated: 'generator_"),
    ("data", flip(50_000), "is damaged: '.*' fails its checksum"),
], ids=["truncated-index", "empty-index", "flipped-index", "text-index", "truncated-data", "flipped-data"])
def test_a_damaged_checkpoint_is_a_clear_error_not_a_crash(tmp_path, which, change, message):
    src = damaged(tmp_path, "light", which, change)
    with pytest.raises(SystemExit, match="^error: .*" + message):  # said plainly, without a traceback
        main([str(src), "--format", "ugatit-tf", "-o", str(tmp_path / "out")])


def test_a_missing_data_file_or_index_is_named(tmp_path):
    src = damaged(tmp_path, "light", "data", lambda d: d)
    src.with_name(src.name.replace(".index", ".data-00000-of-00001")).unlink()
    with pytest.raises(WeightsError, match=r"its data file UGATIT_light.model-2.data-00000-of-00001 is missing"):
        TensorBundle(src)
    with pytest.raises(WeightsError, match=r"does not exist: a TensorFlow checkpoint is PREFIX.index"):
        TensorBundle(tmp_path / "nothing.index")
    torch.save({"genA2B": {}}, tmp_path / "model.pt")  # a PyTorch file given as a TF checkpoint
    with pytest.raises(SystemExit, match="^error: .*model.pt.index does not exist"):
        main([str(tmp_path / "model.pt"), "--format", "ugatit-tf", "-o", str(tmp_path / "out")])


# --- the conversion -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_our_reading_of_the_official_maths_is_what_tensorflow_computed(kind):
    assert_matches(official(kind), tf_outputs(kind), f"{kind}: this test's TF forward vs TensorFlow")


@pytest.mark.parametrize("kind", KINDS)
def test_ugatit_tf_converts_every_variable_and_matches_the_official_forward(tmp_path, kind):
    index, settings = fixture(kind)
    out, t = convert_fixture(tmp_path, index, "--domain-a", "selfie", "--domain-b", "anime")
    assert not t.model.training  # spectral norm in eval mode: the stored (u, v), no further power iteration
    config = t.config
    assert (config["variant"], config["rho_smoothing"], config["light"]) == ("tf", 0.1, settings["light"])
    assert t.image_size == (256 if settings["light"] else settings["image_size"]) and t.domains == ("selfie", "anime")
    # every key: as many as the official model variables, plus one per spectral norm (u becomes _u and _v)
    model = fixtures.layout(**settings)
    weights = load_file(out / "model.safetensors")
    family = translator.FAMILIES["ugatit"]
    config_file = json.loads((out / "config.json").read_text())
    network = family.network(**{k: v for k, v in config_file.items() if k != "family"})
    assert set(weights) == set(network.state_dict())
    assert len(weights) == len(model) + sum(1 for name in model if name.endswith("/u"))
    # against this test's forward pass, and against TensorFlow's own outputs
    got = ours(t, fixtures.image(settings))
    assert_matches(got, official(kind), f"{kind}: converted vs the official maths")
    assert_matches(got, tf_outputs(kind), f"{kind}: converted vs TensorFlow")
    card = (out / "README.md").read_text()
    for path in TensorBundle(index).files:
        assert f"`{path.name}` ({path.stat().st_size:,} bytes)" in card
    assert "Format `ugatit-tf`" in card and "MIT (taki0112/UGATIT)" in card and "license: other" in card
    assert "Dropped by name: 8 Adam slots and 5 other optimizer variables" in card
    assert ("re-ordered from TF's NHWC" in card) is not settings["light"]
    result = t.attention(torch.rand(3, 40, 52).mul(255).byte().permute(1, 2, 0).numpy())  # the app's method runs
    width, height = result.translation.size  # at display size, the input's shape
    assert abs(width / height - 52 / 40) < 0.02 and 0 <= result.source_probability <= 1


def test_smoothing_is_read_off_the_official_folder_name(tmp_path):
    index, settings = fixture("light")
    plain = tmp_path / index.parent.name.removesuffix("_smoothing")  # trained with --smoothing False
    shutil.copytree(index.parent, plain)
    out, t = convert_fixture(tmp_path, plain / index.name, name="plain")
    assert t.config["rho_smoothing"] == 0.0 and "has no `_smoothing`" in (out / "README.md").read_text()
    want = {k: v for k, v in official("light", smoothing=False).items() if k.startswith(("a2b", "b2a"))}
    assert_matches(ours(t, fixtures.image(settings)), want, "without smoothing")
    renamed = tmp_path / "my-checkpoint"  # not an official name: the official default, said in the card
    shutil.copytree(index.parent, renamed)
    out, t = convert_fixture(tmp_path, renamed / index.name, name="renamed")
    assert t.config["rho_smoothing"] == 0.1 and "is not an official one" in (out / "README.md").read_text()


def test_the_full_model_is_tied_to_its_size(tmp_path):
    index, settings = fixture("full")
    with pytest.raises(SystemExit, match=f"tied to {settings['image_size']} px"):
        main([str(index), "--format", "ugatit-tf", "-o", str(tmp_path / "out"), "--image-size", "64"])


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_or_missing_variable_is_an_error_that_names_it(tmp_path, kind):
    index, _ = fixture(kind)
    args = parse_args([str(index), "--format", "ugatit-tf", "-o", str(tmp_path / "out")])
    bundle = TensorBundle(index)
    real = bundle.entries["generator_A/MLP/beta/dense/bias"]
    extra = "generator_A/MLP/delta/dense/bias"
    bundle.entries[extra] = dataclasses.replace(real, name=extra)
    with pytest.raises(WeightsError, match=re.escape("unexpected variable(s) 'generator_A/MLP/delta/dense/bias'")):
        ugatit_tf(bundle, args)
    for name in ("generator_A/MLP/delta/dense/bias", "discriminator_B/local/D_logit/u"):
        del bundle.entries[name]
    with pytest.raises(WeightsError, match=re.escape("missing variable(s) 'discriminator_B/local/D_logit/u'")):
        ugatit_tf(bundle, args)
    bundle = TensorBundle(index)  # optimizer state is dropped by name only: an unknown slot-like name is not
    bundle.entries["generator_A/conv/conv2d/kernel/Momentum"] = dataclasses.replace(real, name="x")
    with pytest.raises(WeightsError, match=re.escape("'generator_A/conv/conv2d/kernel/Momentum'")):
        ugatit_tf(bundle, args)


def test_the_pytorch_variant_is_the_default_and_the_settings_are_checked():
    from translator.ugatit import TFGenerator, UGATIT, Generator

    assert isinstance(UGATIT(image_size=32, ngf=2, n_blocks=1, ndf=2, n_layers_global=4, n_layers_local=3).gen_ab,
                      Generator)
    assert isinstance(UGATIT(image_size=32, ngf=2, n_blocks=1, ndf=2, n_layers_global=4, n_layers_local=3,
                             variant="tf").gen_ab, TFGenerator)
    for bad in ({"variant": "keras"}, {"rho_smoothing": 0.1}, {"variant": "tf", "d_raw_cam_weights": True},
                {"variant": "tf", "rho_smoothing": 2.0}):
        with pytest.raises(ValueError):
            UGATIT(image_size=32, ngf=2, n_blocks=1, ndf=2, n_layers_global=4, n_layers_local=3, **bad)


def test_a_converted_tf_model_exports_to_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    from training.export_onnx import PARITY_BAR, export_onnx

    out, _ = convert_fixture(tmp_path, fixture("full")[0])
    report = export_onnx(str(out), tmp_path / "onnx")
    assert set(report["directions"]) == {"a2b", "b2a"}
    assert all(r["within_bar"] and r["max_abs_difference"] <= PARITY_BAR for r in report["directions"].values())
