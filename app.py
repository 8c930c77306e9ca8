"""Translator Studio: one tab per model family, each a thin face over the `translator` API.

    python app.py                       # http://127.0.0.1:7860, works with no network (bundled weights)
    python app.py --host 0.0.0.0 --port 7860 --concurrency 1

Every action has an `api_name`, so `gradio_client.Client(url).predict(..., api_name="/cyclegan")` works.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# Spaces and laptops share their cores: OpenMP spin-waiting makes torch 2-30x slower next to another busy
# process, PASSIVE costs a few percent when alone (shared/reference/cpu-performance.md). Before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

import translator  # noqa: E402
from translator import images  # noqa: E402
from translator.images import ImageError, load_image  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent / "assets" / "examples"
IMAGE_SOURCES = ["upload", "webcam", "clipboard"]


def image_upload(**kwargs) -> gr.Image:
    """A gr.Image input whose file reaches the translator core undecoded. gr.Image opens uploads with PIL
    itself and turns a bad file into a generic error; the core reads any mode, applies EXIF rotation and
    size limits, and says plainly what is wrong. (Wrapped per instance: a gr.Image subclass would make
    Gradio write a .pyi stub beside this file.)"""
    component = gr.Image(type="filepath", **kwargs)
    decode = component.preprocess

    def preprocess(payload):
        if payload is None or payload.path is None:  # nothing, or an inline data: URL
            return decode(payload)
        return payload.path

    component.preprocess = preprocess
    return component


def user_error(err: Exception) -> gr.Error:
    return gr.Error(str(err), title="Cannot translate")


def load_model(name: str) -> translator.Translator:
    try:
        return translator.load(name.strip())
    except (translator.WeightsNotFoundError, translator.WeightsError) as err:
        raise user_error(err) from None


def pretty(domain: str) -> str:
    return " ".join(word.capitalize() for word in domain.replace("-", " ").split())


def describe(t: translator.Translator, seconds: float) -> str:
    """The time the user waited (decode, model, encode), where it ran, and where the weights came from."""
    return (f"**{seconds * 1000:.0f} ms** on {t.device.type} at {t.image_size}×{t.image_size} px · "
            f"weights: {t.provenance.source} ({t.provenance.repo_id or t.provenance.path})")


# --- CycleGAN -------------------------------------------------------------------------------------------
def run_cyclegan(image, direction: str, model: str):
    """Translate an image with a CycleGAN; returns (translation, cycle reconstruction, info)."""
    if image is None:
        raise gr.Error("Add an image first: upload one, paste it, use the webcam or click an example.")
    t = load_model(model)
    start = time.perf_counter()
    try:
        result = t.cycle(image, direction=direction)
    except (ImageError, ValueError) as err:
        raise user_error(err) from None
    return result.translation, result.reconstruction, describe(t, time.perf_counter() - start)


def cyclegan_tab(default_model: str) -> None:
    t = load_model(default_model)
    a, b = t.domains
    gr.Markdown(f"Unpaired translation between two styles (CycleGAN). The reconstruction is the translation "
                f"translated back: what survives the round trip. Shipped model: **{pretty(a)} ↔ {pretty(b)}**.")
    with gr.Row():
        with gr.Column():
            image = image_upload(sources=IMAGE_SOURCES, format="png", label="Input", height=320)
            direction = gr.Radio([(f"{pretty(a)} → {pretty(b)}", "a2b"), (f"{pretty(b)} → {pretty(a)}", "b2a")],
                                 value="a2b", label="Direction")
            with gr.Accordion("Model", open=False):
                model = gr.Textbox(default_model, label="Shipped name, Hub repo id or local folder",
                                   info="Any repo whose config.json says family: cyclegan")
            button = gr.Button("Translate", variant="primary")
        with gr.Column():
            translation = gr.Image(type="pil", format="png", label="Translation", buttons=["download", "fullscreen"],
                                   interactive=False, height=320)
            reconstruction = gr.Image(type="pil", format="png", label="Cycle reconstruction",
                                      buttons=["download"], interactive=False, height=160)
            info = gr.Markdown()
    outputs = [translation, reconstruction, info]
    button.click(run_cyclegan, [image, direction, model], outputs, api_name="cyclegan", concurrency_id="model")
    examples = sorted((EXAMPLES / "cyclegan").glob("*.png"))
    if examples:
        gr.Examples([[str(p), "a2b" if p.name.startswith(a) else "b2a", default_model] for p in examples],
                    inputs=[image, direction, model], outputs=outputs, fn=run_cyclegan, cache_examples=False,
                    run_on_click=True, label="Held-out test emoji (never seen in training)",
                    api_visibility="private", visible_columns=[0, 1])


# --- pix2pix ---------------------------------------------------------------------------------------------
def run_pix2pix(image, model: str):
    """Translate a line drawing (an image file) with a pix2pix model; returns (translation, info)."""
    if image is None:
        raise gr.Error("Add a drawing first: upload one or click an example.")
    t = load_model(model)
    start = time.perf_counter()
    try:
        drawing = load_image(image)
        if images.is_blank(drawing):
            raise gr.Error("The drawing is empty: draw something first.")
        out = t.translate(drawing)
    except (ImageError, ValueError) as err:
        raise user_error(err) from None
    return out, describe(t, time.perf_counter() - start)


def run_pix2pix_drawing(sketch: dict | None, model: str):
    """Translate what is on the sketchpad (its composite layer; transparency counts as white paper)."""
    composite = (sketch or {}).get("composite")
    if composite is None:
        raise gr.Error("Draw something first.")
    return run_pix2pix(composite, model)


def pix2pix_tab(default_model: str) -> None:
    t = load_model(default_model)
    gr.Markdown(f"Paired translation (pix2pix): draw an emoji in black lines — a face, a heart, a fruit — and "
                f"it comes back coloured in **{pretty(t.domains[1])}** style. Any canvas size; the drawing is cut to what "
                f"you drew, so draw it big or small.")
    with gr.Row():
        with gr.Column():
            with gr.Tab("Draw"):
                pad = gr.Sketchpad(type="pil", image_mode="RGBA", canvas_size=(512, 512), label="Drawing",
                                   brush=gr.Brush(default_size=10, colors=["#000000"], color_mode="fixed"),
                                   eraser=gr.Eraser(default_size=24), layers=False, height=420)
                draw_button = gr.Button("Translate drawing", variant="primary")
            with gr.Tab("Upload"):
                upload = image_upload(sources=IMAGE_SOURCES, format="png", label="Line drawing", height=320)
                upload_button = gr.Button("Translate upload", variant="primary")
            with gr.Accordion("Model", open=False):
                model = gr.Textbox(default_model, label="Shipped name, Hub repo id or local folder",
                                   info="Any repo whose config.json says family: pix2pix")
        with gr.Column():
            output = gr.Image(type="pil", format="png", label="Emoji", buttons=["download", "fullscreen"],
                              interactive=False, height=420)
            info = gr.Markdown()
    draw_button.click(run_pix2pix_drawing, [pad, model], [output, info], api_name="pix2pix_drawing",
                      concurrency_id="model")
    # live: re-translate as strokes are added (the model takes milliseconds); the latest stroke wins
    pad.change(run_pix2pix_drawing, [pad, model], [output, info], api_visibility="private", show_progress="hidden",
               trigger_mode="always_last", concurrency_id="model")
    upload_button.click(run_pix2pix, [upload, model], [output, info], api_name="pix2pix", concurrency_id="model")
    examples = sorted((EXAMPLES / "pix2pix").glob("*.png"))
    if examples:
        gr.Examples([[str(p), default_model] for p in examples], inputs=[upload, model], outputs=[output, info],
                    fn=run_pix2pix, cache_examples=False, run_on_click=True,
                    label="Drawings (held-out test emoji and a hand-drawn smiley)", api_visibility="private",
                    visible_columns=[0])


FAMILY_TABS = {"cyclegan": ("CycleGAN", cyclegan_tab), "pix2pix": ("pix2pix", pix2pix_tab)}


def build_demo() -> gr.Blocks:
    shipped = {m.family: m.name for m in translator.hub.SHIPPED.values()}
    with gr.Blocks(title="Translator Studio") as demo:
        gr.Markdown("# Translator Studio\nClassic GAN image-to-image translation, running on this machine's CPU. "
                    "Weights load from the Hugging Face Hub, or from the copies bundled with the app when offline.")
        with gr.Tabs():
            for family, (label, build) in FAMILY_TABS.items():
                if family in shipped:  # a tab per family that has a model: no placeholders
                    with gr.Tab(label, id=family):
                        build(shipped[family])
    return demo


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--concurrency", type=int, default=1, help="translations at once (CPU: 1)")
    parser.add_argument("--queue-size", type=int, default=32, help="waiting requests before new ones are refused")
    parser.add_argument("--share", action="store_true")
    args = parser.parse_args(argv)
    demo = build_demo()
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, theme=gr.themes.Soft(),
                max_file_size="20mb")


if __name__ == "__main__":
    main()
