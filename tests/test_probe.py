"""The bad-input corpus (generated, never committed) through the Python API of every shipped model: each
input is handled or refused with a TranslatorError, never a crash, never slower than 10 s. The same corpus
through the app's endpoints is `python -m training.probe inputs` (numbers in the README)."""
import time

import translator
from training.probe import corpus
from translator.errors import TranslatorError


def test_the_corpus_is_large_and_varied():
    files = corpus()
    assert len(files) >= 60
    assert any(n.startswith("truncated-png") for n in files) and any(n.startswith("bomb-") for n in files)
    assert {"cmyk.jpg", "16bit.png", "nan-float.tiff", "gif-300-frames.gif", "tiff-multi.tiff", "exif-rotated.jpg",
            "webp.webp", "heic.heic", "svg.png", "pdf.png", "empty.png"} <= set(files)


def test_every_bad_input_is_handled_or_refused_clearly_and_quickly():
    files = corpus()
    for name in translator.list_models():
        t = translator.load(name)
        for filename, data in files.items():
            start = time.perf_counter()
            try:
                out = t.translate(data)
                assert out.mode == "RGB", filename
            except TranslatorError as err:
                assert str(err) and "Traceback" not in str(err), filename
            assert time.perf_counter() - start < 10, (name, filename)


def test_the_hub_probe_meets_every_fault_and_says_so(monkeypatch):
    """`python -m training.probe hub` end to end (a 2 s download deadline keeps it short): every fault of the
    issue's list, for a shipped name and another repo, and the app's start beside a silent Hub."""
    from training.probe import hub_table, probe_hub

    monkeypatch.setenv("TRANSLATOR_HUB_DEADLINE", "2")
    report = probe_hub()
    faults = {r["fault"] for r in report["rows"]}
    assert {"network: silent", "network: trickle", "404: no such repository", "wrong tensor shapes", "NaN weights",
            "only pytorch_model.bin", "HF_HUB_OFFLINE=1, empty cache"} <= faults and len(report["rows"]) == 2 * len(faults)
    assert report["all_ok"], [r for r in report["rows"] if not r["ok"]]
    assert report["slowest_s"] < 10 and report["app_start_beside_silent_hub_s"] < 2 + 8
    text = hub_table(report, "python -m training.probe hub")
    assert "| network: silent | bundled copy |" in text and "All within the rule: yes" in text


def test_bad_files_and_option_values_through_every_endpoint_of_the_app(tmp_path):
    """The app's side of `python -m training.probe inputs`, in CI: a varied part of the corpus through every
    endpoint that takes a file, and every control of every named endpoint given bad values; a client sees a
    message each time, never a traceback or a generic error, and never waits 10 s."""
    from gradio_client import Client

    import app
    from training.probe import call, image_endpoints, probe_options

    files = corpus()
    chosen = ["empty.png", "svg.png", "pdf.png", "cmyk.jpg", "16bit.png", "gif-300-frames.gif", "heic.heic",
              next(n for n in files if n.startswith("truncated-png")), next(n for n in files if n.startswith("bomb-"))]
    for name in chosen:
        (tmp_path / name).write_bytes(files[name])
    demo = app.build_demo(fast=False)
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False, analytics_enabled=False)
        endpoints = image_endpoints(client)
        assert {"/cyclegan", "/pix2pix"} <= set(endpoints)
        for endpoint, spec in endpoints.items():
            for name in chosen:
                kind, seconds, message = call(client, endpoint, spec, tmp_path / name)
                assert kind in ("ok", "refused") and seconds < 10, (endpoint, name, kind, message)
        named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        outcomes = probe_options(client, named)
        assert {o["endpoint"] for o in outcomes} >= {"/cyclegan", "/pix2pix", "/pix2pix_drawing"}
        bad = [o for o in outcomes if o["outcome"] not in ("ok", "refused") or o["seconds"] >= 10]
        assert not bad, bad
        assert any(o["parameter"] == "model" and o["outcome"] == "refused" for o in outcomes)
        assert not any("x" * 100 in o["message"] for o in outcomes)  # a 5,000-character name is not echoed back
    finally:
        demo.close()
