"""The Space folder: assembled by one command, and the app starts from it with no network at all."""
import os
import subprocess
import sys
import time
import urllib.request

from gradio_client import Client, handle_file
from PIL import Image



def test_the_space_folder_starts_offline_and_translates(tmp_path):
    from training import space

    folder = space.build(tmp_path / "space")
    readme = (folder / "README.md").read_text()
    assert readme.startswith("---\ntitle: Translator Studio") and "sdk: gradio" in readme and "app_file: app.py" in readme
    assert "download.pytorch.org/whl/cpu" in (folder / "requirements.txt").read_text()
    assert (folder / "assets/models/cyclegan-noto2twemoji/model.safetensors").is_file()
    assert (folder / "assets/finishing/finisher-x4/model.safetensors").is_file()  # on by default in the app
    assert (folder / "assets/fonts/DejaVuSans.ttf").is_file()  # FUNIT writes typed words in it
    assert not (folder / "training").exists() and not (folder / "tests").exists()

    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT="http://127.0.0.1:9")
    log = open(tmp_path / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=folder, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except OSError:
                assert time.time() < deadline and proc.poll() is None, (tmp_path / "app.log").read_text()[-2000:]
                time.sleep(0.3)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False)
        example = next((folder / "assets/examples/cyclegan").glob("noto-*.png"))
        translation, *_, info = client.predict(image=handle_file(str(example)), api_name="/cyclegan")
        # finished ×4 for display, as in a checkout (without the stage the raw output is merely enlarged)
        assert Image.open(translation).size == (256, 256) and "bundled copy" in info and "finished ×4" in info
    finally:
        proc.terminate()
        proc.wait(timeout=30)
