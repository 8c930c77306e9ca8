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
