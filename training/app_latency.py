"""End-to-end latency of the app's live controls, through gradio_client, beside Gradio's own floor.

    OMP_WAIT_POLICY=PASSIVE python -m training.app_latency --munit MODEL [--funit MODEL] \
        --json docs/metrics/app-latency.json

MODEL is a shipped name or an exported folder. Latency does not depend on the weights' values, so a MUNIT
not trained yet is measured at the size its recipe will ship with an untrained export of it
(`python -m training.munit --recipe R --steps 0 --out runs/x`, then `--munit runs/x/export`).

What is measured, in one run, with the app in its own process (as a user's app runs) on --threads threads:
- **MUNIT, one style-slider move**: a call of `/munit` with the content image and the style code, one
  slider value changed each call (what a slider move runs: the same handler, `FamilyTab.translate`).
- **FUNIT, a five-letter word with K = 5 references** (`/funit`, when --funit is given).
- **The floor**: an echo app served by the same process, taking the same payload (the image file and the
  same values) and returning new copies of the image file it got, as many as the app returns (the image,
  and the raw/finished pair of the comparison slider when a finishing stage is attached): what Gradio's
  queue, upload and download cost without a model. Calls alternate between echo and model, so drift on a shared machine hits both alike.
- **Model time**: `translate()` of the core API in that process, the model loaded as the app loads it
  (finishing stage and fast path on) (decode, network, post-processing),
  median of the same number of calls, before the server starts.
The MUNIT bar (issue 17): median slider move <= floor + model time + 30 ms.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from training.benchmark import machine

ROOT = Path(__file__).resolve().parent.parent
WORD = "hello"
BAR_MS = 30.0

# The app process: measures the model in-process, then serves the app and an echo app, prints one JSON line.
CHILD = r"""
import itertools, json, shutil, sys, tempfile
from pathlib import Path
import torch
torch.set_num_threads({threads})
import gradio as gr
import app, translator
spec = json.loads(sys.argv[1])

from training.benchmark import median_ms as timings
median_ms = lambda fn, runs: timings(fn, runs)[0]  # noqa: E731

model_ms = {{}}
# loaded as the app's tabs load them (finishing stage and fast path on, built in the background: waited for
# here), so "model time" is what the app computes, and the app's tabs reuse these translators
if spec.get("munit"):
    t = translator.load(spec["munit"], "munit", allow_local=True, finishing=True, fast="background")
    t.fast_path.wait()
    spec["compare"] = t.finishing is not None  # the echo then returns a comparison pair too
    styles = itertools.cycle(t.sample_styles(spec["moves"], 0))
    model_ms["munit"] = median_ms(lambda: t.translate(spec["image"], style=next(styles)), spec["moves"])
if spec.get("funit"):
    f = translator.load(spec["funit"], "funit", allow_local=True, finishing=True, fast="background")
    f.fast_path.wait()
    model_ms["funit"] = median_ms(lambda: f.translate_text(spec["word"], references=spec["references"]),
                                  spec["moves"] // 5)

models = {{k: spec[k] for k in ("munit", "funit") if spec.get(k)}}
demo = app.build_demo(allow_local_models=True, models=models)
demo.queue(default_concurrency_limit=1)
_, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)

# the floor: the same inputs and the same kinds of outputs, no model
with gr.Blocks() as echo:
    image = gr.Image(type="filepath")
    values = [gr.Number() for _ in range(spec.get("style_values", 8))]
    out, compare, info = gr.Image(type="filepath", format="png"), gr.ImageSlider(type="filepath"), gr.Markdown()
    def echo_fn(img, *v):  # new files each call, as the app writes them: Gradio caches them as it would the outputs
        folder = Path(tempfile.mkdtemp())
        copies = [shutil.copyfile(img, folder / f"echo-{{i}}.png") for i in range(3)]
        # with a finishing stage the app also returns the (raw, finished) pair for its comparison slider
        return str(copies[0]), (str(copies[1]), str(copies[2])) if spec.get("compare") else None, "echo"
    gr.Button().click(echo_fn, [image, *values], [out, compare, info], api_name="echo")
echo.queue(default_concurrency_limit=1)
_, echo_url, _ = echo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
print(json.dumps({{"url": url, "echo_url": echo_url, "model_ms": model_ms}}), flush=True)
sys.stdin.read()  # serve until the parent closes stdin
"""


def start_app(spec: dict, threads: int, timeout: float = 300) -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(threads=threads), json.dumps(spec)], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    start = time.perf_counter()
    for line in proc.stdout:
        if line.startswith("{"):
            return proc, json.loads(line)
        if time.perf_counter() - start > timeout:
            break
    proc.kill()
    raise SystemExit(f"the app process did not start (exit code {proc.poll()})")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def summary(times: list[float]) -> dict:
    q = statistics.quantiles(times, n=20)
    return {"median_ms": round(statistics.median(times), 1), "p95_ms": round(q[18], 1), "n": len(times)}


def measure(spec: dict, threads: int) -> dict:
    from gradio_client import Client, handle_file

    proc, ready = start_app(spec, threads)
    try:
        client = Client(ready["url"], verbose=False, analytics_enabled=False)
        echo = Client(ready["echo_url"], verbose=False, analytics_enabled=False)
        image = handle_file(spec["image"])
        results: dict = {"model_ms": {k: round(v, 1) for k, v in ready["model_ms"].items()}}
        if spec.get("munit"):
            n = spec["style_values"]
            style = [0.0] * n
            echo_times, move_times = [], []
            for move in range(spec["moves"] + 3):  # the first 3 warm both up and are not counted
                style[move % n] = round(((move * 7) % 21 - 10) / 10 * 2.0, 2)  # a slider dragged to a new value
                names = {f"style_{i + 1}": v for i, v in enumerate(style)}
                e = timed(lambda: echo.predict(image, *style, api_name="/echo"))
                m = timed(lambda: client.predict(image=image, direction="a2b", model=spec["munit"], **names,
                                                 api_name="/munit"))
                if move >= 3:
                    echo_times.append(e)
                    move_times.append(m)
            floor, moves = summary(echo_times), summary(move_times)
            bar = floor["median_ms"] + ready["model_ms"]["munit"] + BAR_MS
            results["munit_slider"] = {"echo": floor, "slider_move": moves, "bar_ms": round(bar, 1),
                                       "met": moves["median_ms"] <= bar,
                                       "overhead_ms": round(moves["median_ms"] - floor["median_ms"]
                                                            - ready["model_ms"]["munit"], 1)}
        if spec.get("funit"):
            refs = [{"image": handle_file(p), "caption": None} for p in spec["references"]]  # gallery items
            word_times = [timed(lambda: client.predict(image=None, model=spec["funit"], references=refs, text=WORD,
                                                       api_name="/funit")) for _ in range(max(3, spec["moves"] // 5) + 1)][1:]
            results["funit_word"] = {"word": WORD, "k": len(refs), **summary(word_times)}
        return results
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(timeout=30)


def content_image(folder: Path) -> str:
    """A held-out line drawing as a user would give it (256 px, as the app's examples are)."""
    from PIL import Image

    drawings = sorted((ROOT / "assets" / "examples" / "pix2pix").glob("drawing-*.png"))
    path = folder / "content.png"
    Image.open(drawings[0]).convert("RGB").resize((256, 256), Image.LANCZOS).save(path)
    return str(path)


def table(results: dict) -> str:
    rows = ["| action | median ms | p95 ms | model ms (in-process) | echo floor ms | bar |", "|---|---|---|---|---|---|"]
    if "munit_slider" in results:
        r = results["munit_slider"]
        rows.append(f"| MUNIT style-slider move (`/munit`) | {r['slider_move']['median_ms']} | {r['slider_move']['p95_ms']} | "
                    f"{results['model_ms']['munit']} | {r['echo']['median_ms']} | ≤ {r['bar_ms']} "
                    f"({'met' if r['met'] else 'not met'}; overhead {r['overhead_ms']} ms) |")
    if "funit_word" in results:
        r = results["funit_word"]
        rows.append(f"| FUNIT five-letter word, K = {r['k']} (`/funit`) | {r['median_ms']} | {r['p95_ms']} | "
                    f"{results['model_ms']['funit']} | – | – |")
    return "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--munit", help="a MUNIT model: shipped name or exported folder")
    parser.add_argument("--funit", help="a FUNIT model: shipped name or exported folder")
    parser.add_argument("--moves", type=int, default=50, help="slider moves measured (FUNIT words: a fifth)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not (args.munit or args.funit):
        parser.error("give --munit and/or --funit")
    import translator
    with tempfile.TemporaryDirectory() as tmp:
        # the references: the five glyphs of the app's first FUNIT example (a font no model trained on)
        references = next(iter(translator.hub.example_reference_sets("funit").values()))[0]
        spec = {"munit": args.munit, "funit": args.funit, "moves": max(5, args.moves), "word": WORD,
                "image": content_image(Path(tmp)), "references": references}
        if args.munit:  # the slider count, read off the config (the app process loads the network)
            config = translator.read_config(translator.hub.resolve(args.munit, allow_local=True).path)
            spec["style_values"] = config["style_dim"]
        results = measure(spec, args.threads)
    results.update(machine=machine(), threads=args.threads, command="python -m training.app_latency " +
                   " ".join(argv if argv is not None else sys.argv[1:]))
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
