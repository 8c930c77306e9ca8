"""Weights: bundled copies, a (fake) Hub with cache and pinned revisions, the offline fallback, and
clear errors for everything that can go wrong."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants
from PIL import Image

import translator
from conftest import ROOT, export, tiny_cyclegan
from translator import hub


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_list_models_names_the_bundled_models():
    names = translator.list_models()
    assert "cyclegan-noto2twemoji" in names
    for name in names:
        assert (hub.SHIPPED[name].bundled / "model.safetensors").is_file()


def test_shipped_model_falls_back_to_the_bundled_copy_quickly():
    # conftest points HF_ENDPOINT at a closed port: the Hub is unreachable
    start = time.perf_counter()
    t = translator.load("cyclegan-noto2twemoji", warm_up=False)
    assert time.perf_counter() - start < 15
    assert t.provenance.source == "bundled"
    assert t.provenance.path == hub.SHIPPED["cyclegan-noto2twemoji"].bundled
    assert "Cannot reach the Hub" in t.provenance.note


def test_shipped_model_translates_a_test_emoji_offline():
    t = translator.load("cyclegan-noto2twemoji")
    example = sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[0]
    out = t.translate(example, direction="a2b")
    assert out.mode == "RGB" and out.size == (256, 256)
    result = t.cycle(example, direction="a2b")
    assert result.reconstruction.size == out.size and result.seconds > 0


def test_download_from_the_hub_then_the_cache(fake_hub, tiny_model_dir):
    fake_hub.add("alice/tiny", tiny_model_dir)
    t = translator.load("alice/tiny", warm_up=False)
    assert t.provenance.source == "hub" and t.provenance.repo_id == "alice/tiny"
    assert Path(constants.HF_HUB_CACHE) in t.provenance.path.parents  # the normal Hub cache
    assert fake_hub.downloads("model.safetensors") == 1
    translator._cache.clear()
    translator.load("alice/tiny", warm_up=False)
    assert fake_hub.downloads("model.safetensors") == 1  # second time: from the cache


def test_pinned_revision_gets_exactly_that_commit(fake_hub, tmp_path):
    first = fake_hub.add("alice/tiny", export(tiny_cyclegan(seed=1), tmp_path / "v1"))
    fake_hub.add("alice/tiny", export(tiny_cyclegan(seed=2), tmp_path / "v2"))  # main moves on
    pinned = translator.load("alice/tiny", revision=first, warm_up=False)
    latest = translator.load("alice/tiny", warm_up=False)
    w = lambda t: t.model.g_ab.stem.conv.weight  # noqa: E731
    assert torch.equal(w(pinned), tiny_cyclegan(seed=1).g_ab.stem.conv.weight.half().float())
    assert not torch.equal(w(pinned), w(latest))
    assert first in str(pinned.provenance.path)


def test_offline_uses_the_cache(fake_hub, tiny_model_dir, monkeypatch):
    sha = fake_hub.add("alice/tiny", tiny_model_dir)
    translator.load("alice/tiny", revision=sha, warm_up=False)
    translator._cache.clear()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    before = len(fake_hub.requests)
    t = translator.load("alice/tiny", revision=sha, warm_up=False)
    assert t.provenance.source == "hub-cache" and len(fake_hub.requests) == before


def test_shipped_model_prefers_the_hub_when_it_is_there(fake_hub, tmp_path, monkeypatch):
    shipped = hub.SHIPPED["cyclegan-noto2twemoji"]
    fake_hub.add(shipped.repo_id, files_of(shipped.bundled))
    t = translator.load("cyclegan-noto2twemoji", warm_up=False)
    assert t.provenance.source == "hub" and t.provenance.repo_id == shipped.repo_id


def test_missing_repo_is_a_clear_error(fake_hub):
    with pytest.raises(translator.WeightsNotFoundError, match="No model repository 'nobody/nothing'"):
        translator.load("nobody/nothing")


def test_missing_revision_is_a_clear_error(fake_hub, tiny_model_dir):
    fake_hub.add("alice/tiny", tiny_model_dir)
    with pytest.raises(translator.WeightsNotFoundError, match="revision does not exist"):
        translator.load("alice/tiny", revision="v9")


def test_pickle_only_repo_is_refused(fake_hub, tiny_model_dir):
    fake_hub.add("alice/pickled", {"config.json": (tiny_model_dir / "config.json").read_bytes(),
                                   "pytorch_model.bin": b"\x80\x04 not loaded"})
    with pytest.raises(translator.WeightsNotFoundError, match="safetensors only"):
        translator.load("alice/pickled")


def test_truncated_safetensors_is_a_clear_error(fake_hub, tiny_model_dir):
    files = files_of(tiny_model_dir)
    files["model.safetensors"] = files["model.safetensors"][:-100]
    fake_hub.add("alice/broken", files)
    with pytest.raises(translator.WeightsError, match="truncated or not a safetensors file"):
        translator.load("alice/broken")


def test_shipped_model_with_a_damaged_hub_copy_falls_back_to_the_bundled_one(fake_hub):
    shipped = hub.SHIPPED["cyclegan-noto2twemoji"]
    files = files_of(shipped.bundled)
    files["model.safetensors"] = files["model.safetensors"][:1000]
    fake_hub.add(shipped.repo_id, files)
    t = translator.load("cyclegan-noto2twemoji", warm_up=False)
    assert t.provenance.source == "bundled" and "hub copy is unusable" in t.provenance.note
    assert "truncated" in t.provenance.note and t.provenance.summary == "using the bundled copy; the Hub copy is unusable"


@pytest.mark.parametrize("missing", ["repository", "revision"])
def test_a_shipped_model_not_yet_on_a_reachable_hub_says_so_not_that_the_hub_is_unreachable(fake_hub, missing):
    shipped = hub.SHIPPED["cyclegan-noto2twemoji"]
    if missing == "revision":
        fake_hub.add(shipped.repo_id, files_of(shipped.bundled))
    t = translator.load("cyclegan-noto2twemoji", revision="v9" if missing == "revision" else None, warm_up=False)
    assert t.provenance.source == "bundled"  # the fake Hub answers: it has no such repository / revision
    assert ("No model repository" if missing == "repository" else "revision does not exist") in t.provenance.note
    assert t.provenance.summary == "using the bundled copy; not on the Hub"


@pytest.mark.parametrize("damage", ["truncated weights", "config family as a list", "NaN weights"])
def test_a_poisoned_cache_entry_falls_back_to_the_bundled_copy_offline(fake_hub, monkeypatch, tmp_path, damage):
    """A damaged Hub copy of a shipped model lands in the cache; later, with HF_HUB_OFFLINE=1, the cache is
    all there is: the app must still start on the bundled copy, quickly, saying why."""
    import json

    from safetensors.torch import load_file, save_file

    shipped = hub.SHIPPED["cyclegan-noto2twemoji"]
    files = files_of(shipped.bundled)
    if damage == "truncated weights":
        files["model.safetensors"] = files["model.safetensors"][:1000]
    elif damage == "config family as a list":
        config = json.loads(files["config.json"])
        files["config.json"] = json.dumps({**config, "family": [config["family"]]}).encode()
    else:
        tensors = load_file(shipped.bundled / "model.safetensors")
        tensors = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in tensors.items()}
        save_file(tensors, tmp_path / "nan.safetensors")
        files["model.safetensors"] = (tmp_path / "nan.safetensors").read_bytes()
    fake_hub.add(shipped.repo_id, files)
    assert translator.load("cyclegan-noto2twemoji", warm_up=False).provenance.source == "bundled"
    translator._cache.clear()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    before, start = len(fake_hub.requests), time.monotonic()
    t = translator.load("cyclegan-noto2twemoji", warm_up=False)
    assert time.monotonic() - start < 10 and len(fake_hub.requests) == before  # offline: the cache only
    assert t.provenance.source == "bundled" and "hub-cache copy is unusable" in t.provenance.note
    assert t.translate(Image.new("RGB", (64, 64), "white")).getextrema() != ((0, 0), (0, 0), (0, 0))  # not all-NaN black


def test_offline_with_an_empty_cache_a_hub_repo_is_a_clear_error_at_once(fake_hub, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    start = time.monotonic()
    with pytest.raises(translator.WeightsNotFoundError, match="not in the local cache"):
        translator.load("alice/never-downloaded")
    assert time.monotonic() - start < 10 and not fake_hub.requests


def test_wrong_shapes_are_a_clear_error(tmp_path, tiny_model_dir):
    config = (tiny_model_dir / "config.json").read_text().replace('"ngf": 4', '"ngf": 8')
    (tiny_model_dir / "config.json").write_text(config)
    with pytest.raises(translator.WeightsError, match="do not fit the cyclegan network"):
        translator.load(str(tiny_model_dir))


def test_unknown_family(tiny_model_dir):
    config = (tiny_model_dir / "config.json").read_text().replace('"cyclegan"', '"stylegan"')
    (tiny_model_dir / "config.json").write_text(config)
    with pytest.raises(translator.WeightsError, match="family 'stylegan'"):
        translator.load(str(tiny_model_dir))


def test_not_a_name_or_repo():
    with pytest.raises(translator.WeightsNotFoundError, match="not a shipped model"):
        translator.load("no such model")


def test_export_then_load_gives_identical_outputs(tiny_model_dir):
    original = tiny_cyclegan().half().float().eval()  # what fp16 export keeps
    t = translator.load(str(tiny_model_dir), warm_up=False)
    assert t.provenance.source == "local"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(t.translate_tensor(x, "a2b"), original.g_ab(x))
        assert torch.equal(t.translate_tensor(x, "b2a"), original.g_ba(x))
    assert t.translate(Image.new("RGB", (50, 40)), direction="b2a").size == (256, 205)


def test_hf_endpoint_env_var_reaches_the_fake_hub(tmp_path, tiny_model_dir):
    """The real path a user takes: HF_ENDPOINT set in the environment of a fresh process (the CLI)."""
    from training.fake_hub import FakeHub

    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 40), "yellow").save(tmp_path / "in" / "face.png")
    with FakeHub() as server:
        server.add("alice/tiny", tiny_model_dir)
        env = {**os.environ, "HF_ENDPOINT": server.url, "HF_HOME": str(tmp_path / "hf"),
               "HF_HUB_CACHE": str(tmp_path / "hf" / "hub")}
        done = subprocess.run([sys.executable, "-m", "translator", "alice/tiny", str(tmp_path / "in"), "-o",
                               str(tmp_path / "out")], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "alice/tiny@main from the Hub" in done.stderr
    assert Image.open(tmp_path / "out" / "face.png").size == (256, 256)
    assert server.downloads("model.safetensors") == 1


def test_shipping_a_model_is_adding_its_folder(tmp_path, tiny_model_dir):
    import json
    import shutil

    shutil.copytree(tiny_model_dir, tmp_path / "models" / "tiny-shipped")
    (tmp_path / "models" / "tiny-shipped" / "shipped.json").write_text(json.dumps(
        {"repo_id": "someone/tiny-shipped", "revision": "abc", "summary": "a tiny one"}))
    shutil.copytree(tiny_model_dir, tmp_path / "models" / "not-shipped")  # no shipped.json: not listed
    found = hub.find_shipped(tmp_path / "models")
    assert list(found) == ["tiny-shipped"]
    assert found["tiny-shipped"].family == "cyclegan" and found["tiny-shipped"].revision == "abc"


def test_a_public_app_never_opens_a_folder_by_name(tiny_model_dir):
    with pytest.raises(translator.WeightsNotFoundError, match="not a shipped model") as err:
        translator.load(str(tiny_model_dir), allow_local=False)
    assert "local folder" not in str(err.value)
    assert translator.load(str(tiny_model_dir)).provenance.source == "local"  # the Python API may


@pytest.mark.parametrize("bad, says", [
    ({"image_size": 0}, "image_size = 0"), ({"image_size": 1536}, "image_size = 1536"), ({"ngf": "32"}, "ngf = '32'"),
    ({"ngf": 2000}, "parameters"), ({"n_blocks": True}, "n_blocks = True"), ({"colour": 1}, "colour"),
    ({"domain_a": ["x"]}, "domain_a"), ({"family": ["cyclegan"]}, "unknown family"),
])
def test_a_damaged_config_is_refused_before_anything_is_built(tiny_model_dir, bad, says):
    import json

    config = json.loads((tiny_model_dir / "config.json").read_text())
    (tiny_model_dir / "config.json").write_text(json.dumps({**config, **bad}))
    start = time.perf_counter()
    with pytest.raises(translator.WeightsError, match=says):
        translator.load(str(tiny_model_dir))
    assert time.perf_counter() - start < 5  # counted on the meta device, never allocated


def test_invalid_utf8_config_and_nan_weights_are_refused(tiny_model_dir):
    from safetensors.torch import load_file, save_file

    weights = load_file(tiny_model_dir / "model.safetensors")
    weights[next(iter(weights))] = torch.full_like(weights[next(iter(weights))], float("nan"))
    save_file(weights, tiny_model_dir / "model.safetensors")
    with pytest.raises(translator.WeightsError, match="non-finite"):
        translator.load(str(tiny_model_dir))
    (tiny_model_dir / "config.json").write_bytes(b'{"family": "cyclegan", "ngf": "\xff\xfe"}')
    with pytest.raises(translator.WeightsError, match="cannot be read"):
        translator.load(str(tiny_model_dir))


def test_the_model_cache_is_bounded_and_one_folder_is_one_entry(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(translator, "CACHE_SIZE", 2)
    spellings = [str(tiny_model_dir), str(tiny_model_dir) + "/", str(tiny_model_dir / ".." / tiny_model_dir.name)]
    first = translator.load(spellings[0], warm_up=False)
    assert all(translator.load(s, warm_up=False) is first for s in spellings)
    assert len(translator._cache) == 1
    for i in range(4):
        export(tiny_cyclegan(seed=i), tmp_path / f"m{i}")
        translator.load(str(tmp_path / f"m{i}"), warm_up=False)
    assert len(translator._cache) == 2  # the least recently used ones were dropped


def test_the_model_cache_is_bounded_by_the_memory_of_its_weights(tmp_path, monkeypatch):
    models = [translator.load(str(export(tiny_cyclegan(seed=i), tmp_path / f"m{i}")), warm_up=False) for i in range(3)]
    each = translator.weights_mb(models[0])
    assert each > 0 and len(translator._cache) == 3
    monkeypatch.setattr(translator, "CACHE_MB", 2.5 * each)
    newest = translator.load(str(export(tiny_cyclegan(seed=9), tmp_path / "m9")), warm_up=False)
    assert list(translator._cache.values()) == [models[2], newest]  # the oldest went, until two fit
    monkeypatch.setattr(translator, "CACHE_MB", 0.0)
    translator.load(str(tmp_path / "m0"), warm_up=False)
    assert len(translator._cache) == 1  # the model just loaded always stays


def test_a_stalled_hub_repo_holds_up_nobody_else(fake_hub, tiny_model_dir, tmp_path):
    """One visitor names a repo whose download hangs; another's model loads meanwhile, at once."""
    import threading

    fake_hub.add("alice/tiny", tiny_model_dir)
    fake_hub.add("mallory/stalled", export(tiny_cyclegan(seed=3), tmp_path / "stalled"))
    fake_hub.stalled.add("mallory/stalled")
    errors = []

    def stalled_visitor():
        try:
            translator.load("mallory/stalled", warm_up=False)
        except translator.TranslatorError as err:
            errors.append(err)

    visitor = threading.Thread(target=stalled_visitor)
    visitor.start()
    time.sleep(0.5)  # the stalled download is under way
    start = time.monotonic()
    assert translator.load("alice/tiny", warm_up=False).provenance.source == "hub"
    assert time.monotonic() - start < 2 and visitor.is_alive()
    visitor.join(hub.hub_deadline() + 5)
    assert errors and "did not deliver" in str(errors[0])  # the stalled one ends at the deadline, typed


def test_few_shot_examples_are_sets_of_references_with_a_word(tmp_path):
    sets = translator.hub.example_reference_sets("funit")
    assert len(sets) >= 4
    for images, word in sets.values():
        assert len(images) == 5 and word.isalpha()
    # a folder without examples.json still makes a set (no word); loose files are not sets
    (tmp_path / "funit" / "mine").mkdir(parents=True)
    Image.new("RGB", (8, 8), "white").save(tmp_path / "funit" / "mine" / "a.png")
    Image.new("RGB", (8, 8), "white").save(tmp_path / "funit" / "loose.png")
    assert translator.hub.example_reference_sets("funit", tmp_path) == {"mine": ([str(tmp_path / "funit" / "mine" / "a.png")], "")}
