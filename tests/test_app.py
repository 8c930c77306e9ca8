"""The app, launched for real on 127.0.0.1 and driven through gradio_client as a user's script would."""
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from conftest import ROOT


@pytest.fixture(scope="module")
def client():
    import app

    demo = app.build_demo()
    demo.queue(default_concurrency_limit=1)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(url, verbose=False, analytics_enabled=False)
    finally:
        demo.close()


def test_api_names(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/cyclegan" in endpoints


def test_cyclegan_tab_translates_a_test_emoji(client):
    example = sorted((ROOT / "assets/examples/cyclegan").glob("noto-*.png"))[0]
    translation, reconstruction, info = client.predict(handle_file(str(example)), "a2b", "cyclegan-noto2twemoji",
                                                       api_name="/cyclegan")
    assert Image.open(translation).size == (256, 256) and Image.open(translation).mode == "RGB"
    assert Image.open(reconstruction).size == (256, 256)
    assert " ms** on cpu" in info and "bundled" in info


def test_bad_input_is_a_message_not_a_trace(client, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(Exception, match="damaged or truncated") as err:
        client.predict(handle_file(str(broken)), "a2b", "cyclegan-noto2twemoji", api_name="/cyclegan")
    assert "Traceback" not in str(err.value)


def test_rgba_upload_is_composited_on_white(client, emoji_like, tmp_path):
    emoji_like.save(tmp_path / "rgba.png")
    translation, _, _ = client.predict(handle_file(str(tmp_path / "rgba.png")), "b2a", "cyclegan-noto2twemoji",
                                       api_name="/cyclegan")
    assert Image.open(translation).size == (256, 192)


def test_unknown_model_is_a_message(client):
    example = sorted((ROOT / "assets/examples/cyclegan").glob("*.png"))[0]
    with pytest.raises(Exception, match="No model repository|Cannot reach|not a shipped model"):
        client.predict(handle_file(str(example)), "a2b", "nobody/nothing", api_name="/cyclegan")
