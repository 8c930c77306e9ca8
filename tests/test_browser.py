"""The app in a real browser (headless Chromium driven by Playwright), as a person uses it: every tab,
the examples, the mouse on the sketchpad, the direction switch, clearing, a broken upload.

Needs Debian's `chromium` and the `playwright` package (no browser download: Playwright drives
/usr/bin/chromium); `.ci/run` installs both. Screenshots land in $TRANSLATOR_SCREENSHOTS if set (the
README's pictures come from this run).
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ["TRANSLATOR_SCREENSHOTS"]) if os.environ.get("TRANSLATOR_SCREENSHOTS") else None


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app as a user starts it (`python app.py`), offline."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("app") / "app.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"the app did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
    yield url, log
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(app_url[0])
        page.wait_for_selector("text=Translator Studio")
        yield page
        browser.close()


def shot(page, name: str) -> None:
    if SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def has_image(page, elem_id: str) -> bool:
    return page.locator(f"#{elem_id} img").count() > 0


def wait_for(condition, timeout: float = 45.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def info_text(page, family: str) -> str:
    return page.locator(f"#{family}-info").inner_text()


def open_tab(page, title: str) -> None:
    page.get_by_role("tab", name=title, exact=True).first.click()
    time.sleep(0.5)


def draw_circle(page, family: str, radius: float = 110) -> None:
    canvas = page.locator(f"#{family}-sketchpad canvas").first
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx + radius, cy)
    page.mouse.down()
    for i in range(41):
        angle = 2 * math.pi * i / 40
        page.mouse.move(cx + radius * math.cos(angle), cy + radius * math.sin(angle), steps=3)
    page.mouse.up()


def test_every_family_has_a_tab(page):
    import translator

    tabs = page.get_by_role("tab").all_inner_texts()
    for name in translator.list_models():
        assert translator.FAMILIES[translator.hub.SHIPPED[name].family].title in tabs


def test_cyclegan_example_runs_and_the_direction_switch_reruns(page):
    page.locator("#cyclegan-examples button, #cyclegan-examples tbody tr").first.click()
    assert wait_for(lambda: has_image(page, "cyclegan-translation") and " ms" in info_text(page, "cyclegan"))
    first = page.locator("#cyclegan-translation img").get_attribute("src")
    shot(page, "cyclegan")
    page.locator("#cyclegan-direction label").nth(1).click()  # the other direction: it re-runs by itself
    assert wait_for(lambda: page.locator("#cyclegan-translation img").get_attribute("src") != first)


def test_a_broken_upload_is_a_message_and_leaves_no_broken_image(page, app_url, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    page.locator("#cyclegan-input input[type=file]").set_input_files(str(broken))
    assert wait_for(lambda: page.get_by_text("damaged or truncated").count() > 0)
    assert wait_for(lambda: not has_image(page, "cyclegan-input"))  # taken out of the input box
    assert not has_image(page, "cyclegan-translation")
    shot(page, "broken-upload")
    log = app_url[1].read_text()
    assert "user error: broken.png is damaged or truncated" in log  # one line on the server...
    assert "Traceback" not in log  # ...and no traceback for a user's mistake


def test_sketchpad_draws_at_once_and_clearing_clears_the_result(page):
    open_tab(page, "pix2pix")
    assert wait_for(lambda: page.locator("#pix2pix-sketchpad").count() > 0)
    assert page.get_by_text("select the draw tool").count() == 0  # the brush is active on load
    draw_circle(page, "pix2pix")
    assert wait_for(lambda: has_image(page, "pix2pix-translation")), "a mouse drawing is translated as drawn"
    shot(page, "pix2pix-drawn")
    page.locator("#pix2pix-sketchpad button[aria-label='Undo']").click()  # undo the only stroke
    assert wait_for(lambda: not has_image(page, "pix2pix-translation")), "undoing every stroke clears the result"
    draw_circle(page, "pix2pix", 60)
    assert wait_for(lambda: has_image(page, "pix2pix-translation"))
    page.locator("#pix2pix-sketchpad button[aria-label='Clear canvas']").click()
    assert wait_for(lambda: not has_image(page, "pix2pix-translation")), "clearing the canvas clears the result"
    assert page.get_by_text("Draw something first").count() == 0  # and is no error


def test_drawing_examples_load_into_the_visible_sketchpad(page):
    open_tab(page, "pix2pix")
    examples = page.locator("#pix2pix-examples button, #pix2pix-examples tbody tr")
    assert wait_for(lambda: examples.count() > 0)
    examples.first.click()
    assert wait_for(lambda: has_image(page, "pix2pix-translation")), "the example is translated"
    assert page.get_by_role("tab", name="Draw", exact=True).get_attribute("aria-selected") == "true"
    shot(page, "pix2pix-example")


def test_an_error_is_a_message_that_does_not_cover_the_last_result(page):
    page.locator("#cyclegan-examples button, #cyclegan-examples tbody tr").first.click()
    assert wait_for(lambda: " ms" in info_text(page, "cyclegan"))
    page.get_by_text("Model", exact=True).first.click()  # open the Model accordion
    box = page.get_by_label("Shipped name, Hub repo id")
    box.fill("pix2pix-sketch2emoji")
    page.get_by_role("button", name="Translate", exact=True).click()
    assert wait_for(lambda: page.get_by_text("is a pix2pix model").count() > 0, timeout=90)  # slow beside a training job
    shot(page, "error")
    # the error shows in the toast and on the main output only, not over the timing text beside it
    assert page.locator("#cyclegan-info .error, #cyclegan-info [class*='error']").count() == 0
    assert page.locator("#cyclegan-info").is_visible()


def test_the_finishing_switch_reruns_and_fills_the_raw_vs_finished_slider(page):
    page.locator("#cyclegan-examples button, #cyclegan-examples tbody tr").first.click()
    assert wait_for(lambda: has_image(page, "cyclegan-translation") and " ms" in info_text(page, "cyclegan"))
    raw = page.locator("#cyclegan-translation img").get_attribute("src")
    assert "finished" not in info_text(page, "cyclegan")  # off by default
    page.locator("#cyclegan-finish input[type=checkbox]").check()  # it re-runs by itself
    assert wait_for(lambda: "finished ×4" in info_text(page, "cyclegan")
                    and page.locator("#cyclegan-translation img").get_attribute("src") != raw)
    page.get_by_text("Raw model output ↔ finished").first.click()
    assert wait_for(lambda: page.locator("#cyclegan-compare img").count() >= 2)
    shot(page, "cyclegan-finished")
