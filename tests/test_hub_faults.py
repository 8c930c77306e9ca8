"""A Hub that misbehaves: every fault falls back to the bundled copy (shipped names) or is a typed error,
within 10 s, never a hang and never a raw network exception."""
from __future__ import annotations

import time

import pytest

import translator
from conftest import point_hub_at
from training.fake_hub import MODES, FaultyHub
from translator import hub


@pytest.fixture(params=MODES)
def faulty_hub(request, monkeypatch, tmp_path):
    server = FaultyHub(request.param)
    point_hub_at(monkeypatch, server.url, tmp_path / "hub")
    yield server
    server.close()
    hub._reachable.clear()


def test_a_shipped_model_falls_back_to_its_bundled_copy_within_10_s(faulty_hub):
    start = time.perf_counter()
    t = translator.load("cyclegan-noto2twemoji", warm_up=False)
    assert time.perf_counter() - start < 10, faulty_hub.mode
    assert t.provenance.source == "bundled" and t.provenance.summary == "using the bundled copy; Hub not reachable"


def test_any_other_repo_is_a_typed_error_within_10_s(faulty_hub):
    start = time.perf_counter()
    with pytest.raises(translator.WeightsNotFoundError):
        translator.load("someone/tiny", warm_up=False)
    assert time.perf_counter() - start < 10, faulty_hub.mode


def test_the_app_starts_quickly_beside_a_silent_hub(monkeypatch):
    """Every shipped model behind a Hub that accepts and never answers: the first waits out the deadline,
    the rest ask the cache only, so the app is up in about one deadline, not one per model."""
    from huggingface_hub import constants

    import app

    server = FaultyHub("silent")
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
    hub._reachable.clear()
    try:
        start = time.perf_counter()
        app.build_demo()
        assert time.perf_counter() - start < hub.hub_deadline() + 8
    finally:
        server.close()
        hub._reachable.clear()
