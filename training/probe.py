"""What a public app meets: bad inputs and load, driven through the app's API and the Python API.

    python -m training.probe corpus --out /tmp/bad      # write the bad-input corpus (never committed)
    python -m training.probe inputs --readme README.md  # every bad input through every endpoint and load()
    python -m training.probe load --readme README.md    # 20 clients x 25 requests on the queue

`inputs` starts the app (`python app.py`, offline) and sends every corpus file to every named endpoint that
takes an image (and a few option values to those that take options), then the same files to
`translate` of every shipped model in this process. It counts stack traces shown to the user, crashes,
answers slower than 10 s and refusals without a clear message, checks the app still serves, and compares
its RSS before and after. `load` sends 20 concurrent clients x 25 requests across the main endpoints and
reports errors (and clean "queue full" refusals), p50/p95 latency and RSS. Numbers go to the README.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SLOW = 10.0  # seconds: anything slower counts as a hang


# --- the corpus ------------------------------------------------------------------------------------------
def _png(image: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", **kwargs)
    return buf.getvalue()


def _save(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge size, with a tiny highly compressed body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = zlib.compress(b"\x00" * (min(width, 4096) // 8 + 1) * 64, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def corpus() -> dict[str, bytes]:
    """name -> file bytes: at least 60 inputs a public app must refuse clearly or handle."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    good_png, good_jpg = _png(photo), _save(photo, "JPEG", quality=90)
    files: dict[str, bytes] = {"empty.png": b"", "text.png": b"hello, I am not an image\n" * 10,
                               "svg.png": b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="5"/></svg>',
                               "pdf.png": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
                               "heic.heic": b"\x00\x00\x00\x18ftypheic" + bytes(rng.integers(0, 255, 500, dtype=np.uint8)),
                               "html.png": b"<html><body>not an image</body></html>",
                               "zip.png": b"PK\x03\x04" + b"\x00" * 100,
                               "elf.png": b"\x7fELF" + b"\x00" * 200}
    for cut in (8, 16, 33, 60, 100, 200, len(good_png) // 2, len(good_png) - 12):
        files[f"truncated-png-{cut}.png"] = good_png[:cut]
    for cut in (2, 20, 200, len(good_jpg) // 2, len(good_jpg) - 2):
        files[f"truncated-jpeg-{cut}.jpg"] = good_jpg[:cut]
    corrupt = bytearray(good_png)
    corrupt[100:140] = b"\xff" * 40
    files["corrupt-idat.png"] = bytes(corrupt)
    for w, h in ((100000, 100000), (65535, 65535), (30000, 30000), (1, 1000000), (200000, 1)):
        files[f"bomb-{w}x{h}.png"] = _bomb_png(w, h)
    files["bomb-real-8000x8000.png"] = _png(Image.new("1", (8000, 8000)))
    for size in ((1, 1), (2, 2), (10000, 200), (200, 10000), (40000, 1), (3, 900)):
        files[f"shape-{size[0]}x{size[1]}.png"] = _png(Image.new("RGB", size, (250, 200, 40)))
    files["cmyk.jpg"] = _save(photo.convert("CMYK"), "JPEG")
    files["16bit.png"] = _png(Image.fromarray((rng.integers(0, 65535, (64, 64))).astype(np.uint16)))
    files["16bit-white.png"] = _png(Image.fromarray(np.full((64, 64), 65535, np.uint16)))
    files["float.tiff"] = _save(Image.fromarray(rng.random((64, 64)).astype(np.float32)), "TIFF")
    nan = rng.random((64, 64)).astype(np.float32)
    nan[::3] = np.nan
    files["nan-float.tiff"] = _save(Image.fromarray(nan), "TIFF")
    files["inf-float.tiff"] = _save(Image.fromarray(np.full((32, 32), np.inf, np.float32)), "TIFF")
    palette = photo.convert("P")
    files["palette-transparency.png"] = _png(palette, transparency=0)
    files["la.png"] = _png(photo.convert("LA"))
    files["1bit.png"] = _png(photo.convert("1"))
    files["rgba-transparent.png"] = _png(Image.new("RGBA", (64, 64), (0, 0, 0, 0)))
    frames = [Image.new("P", (32, 32), i) for i in range(300)]
    files["gif-300-frames.gif"] = _save(frames[0], "GIF", save_all=True, append_images=frames[1:])
    files["tiff-multi.tiff"] = _save(photo, "TIFF", save_all=True, append_images=[photo] * 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    files["exif-rotated.jpg"] = _save(photo, "JPEG", exif=exif.tobytes())
    files["exif-bad-orientation.jpg"] = _save(photo, "JPEG", exif=(lambda e: (e.__setitem__(0x0112, 99), e)[1])(
        Image.Exif()).tobytes())
    files["webp.webp"] = _save(photo, "WEBP")
    files["bmp.bmp"] = _save(photo, "BMP")
    files["eps.eps"] = _save(photo.convert("RGB"), "EPS")
    files["ico.ico"] = _save(photo, "ICO")
    big_text = {"comment": "x" * 5_000_000}
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", big_text["comment"], zip=True)
    files["huge-text-chunk.png"] = _png(photo, pnginfo=info)
    files["png-renamed.jpg"] = good_png
    files["jpeg-renamed.png"] = good_jpg
    files["blank-white.png"] = _png(Image.new("RGB", (300, 300), "white"))
    files["blank-black.png"] = _png(Image.new("RGB", (300, 300), "black"))
    files["noise.png"] = good_png
    files["tiny-drawing.png"] = _png(Image.new("RGB", (5, 5), "white"))
    files["huge-ok-4000x3000.jpg"] = _save(Image.new("RGB", (4000, 3000), (30, 120, 200)), "JPEG")
    files["gif-one-frame.gif"] = _save(photo.convert("P"), "GIF")
    files["png-interlaced.png"] = _png(photo, optimize=True)
    files["jpeg-progressive.jpg"] = _save(photo, "JPEG", progressive=True)
    return files


# --- the app ---------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) / 1024


class App:
    """`python app.py` in a subprocess, offline, with its log."""

    def __init__(self, extra: list[str] | None = None):
        self.port = free_port()
        self.log_path = Path(tempfile.mkdtemp()) / "app.log"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
        self.proc = subprocess.Popen([sys.executable, "app.py", "--port", str(self.port), *(extra or [])], cwd=ROOT,
                                     env=env, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}/"
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(self.url, timeout=2)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"the app did not start:\n{self.log_path.read_text()[-2000:]}")
                time.sleep(0.3)

    def client(self):
        from gradio_client import Client
        return Client(self.url, verbose=False, analytics_enabled=False)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def image_endpoints(client) -> dict[str, dict]:
    """Named endpoints whose first parameter is an image (or a sketchpad value)."""
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    return {name: spec for name, spec in endpoints.items()
            if spec["parameters"] and spec["parameters"][0]["parameter_name"] in ("image", "sketch")}


def call(client, endpoint: str, spec: dict, path: Path) -> tuple[str, float, str]:
    """('ok' | 'refused' | 'trace' | 'unclear', seconds, message)."""
    from gradio_client import handle_file
    first = spec["parameters"][0]["parameter_name"]
    value = handle_file(str(path))
    if first == "sketch":
        value = {"background": None, "layers": [], "composite": value}
    start = time.perf_counter()
    try:
        client.predict(**{first: value}, api_name=endpoint)
        return "ok", time.perf_counter() - start, ""
    except Exception as err:  # noqa: BLE001  (what a client sees is the point)
        message = str(err)
        kind = "trace" if "Traceback" in message or 'File "' in message else \
            "unclear" if ("upstream Gradio app has raised an exception" in message or not message.strip()) else "refused"
        return kind, time.perf_counter() - start, message.splitlines()[0][:160] if message else ""


def probe_inputs(folder: Path) -> dict:
    import translator
    from translator.errors import TranslatorError

    files = sorted(folder.iterdir())
    app = App()
    report = {"files": len(files), "endpoints": {}, "python_api": {}}
    try:
        client = app.client()
        endpoints = image_endpoints(client)
        client.predict(**{"image": __import__("gradio_client").handle_file(
            str(next((ROOT / "assets/examples/cyclegan").glob("*.png"))))}, api_name="/cyclegan")  # warm
        rss_before = rss_mb(app.proc.pid)
        outcomes = []
        for name, spec in endpoints.items():
            for path in files:
                kind, seconds, message = call(client, name, spec, path)
                outcomes.append({"endpoint": name, "file": path.name, "outcome": kind, "seconds": round(seconds, 2),
                                 "message": message})
        rss_after = rss_mb(app.proc.pid)
        still = call(client, "/cyclegan", endpoints["/cyclegan"], next((ROOT / "assets/examples/cyclegan").glob("*.png")))
        report["endpoints"] = summarise(outcomes)
        report["endpoints"].update(rss_before_mb=round(rss_before), rss_after_mb=round(rss_after),
                                   serves_afterwards=still[0] == "ok", alive=app.proc.poll() is None,
                                   tracebacks_in_log=app.log_path.read_text().count("Traceback"))
        report["endpoint_outcomes"] = outcomes
    finally:
        app.close()
    outcomes = []
    for model in translator.list_models():
        t = translator.load(model)
        for path in files:
            start = time.perf_counter()
            try:
                t.translate(path.read_bytes())
                kind, message = "ok", ""
            except TranslatorError as err:
                kind, message = "refused", str(err)[:160]
            except Exception as err:  # noqa: BLE001
                kind, message = "crash", f"{type(err).__name__}: {err}"[:160]
            outcomes.append({"model": model, "file": path.name, "outcome": kind,
                             "seconds": round(time.perf_counter() - start, 2), "message": message})
    report["python_api"] = summarise(outcomes)
    report["python_api_outcomes"] = outcomes
    return report


def summarise(outcomes: list[dict]) -> dict:
    kinds = [o["outcome"] for o in outcomes]
    return {"calls": len(outcomes), **{k: kinds.count(k) for k in ("ok", "refused", "trace", "unclear", "crash")},
            "slower_than_10s": sum(o["seconds"] > SLOW for o in outcomes),
            "slowest_s": max((o["seconds"] for o in outcomes), default=0)}


def probe_load(clients: int = 20, requests: int = 25) -> dict:
    from gradio_client import handle_file
    app = App()
    try:
        warm = app.client()
        endpoints = image_endpoints(warm)
        examples = {name: next((ROOT / "assets/examples" / name.strip("/").split("_")[0]).glob("*.png"))
                    for name in endpoints}
        rss_before = rss_mb(app.proc.pid)
        names = sorted(endpoints)

        def one_client(index: int) -> list[tuple[str, float, str]]:
            client = app.client()
            results = []
            for i in range(requests):
                name = names[(index + i) % len(names)]
                spec = endpoints[name]
                first = spec["parameters"][0]["parameter_name"]
                value = handle_file(str(examples[name]))
                if first == "sketch":
                    value = {"background": None, "layers": [], "composite": value}
                start = time.perf_counter()
                try:
                    client.predict(**{first: value}, api_name=name)
                    results.append(("ok", time.perf_counter() - start, ""))
                except Exception as err:  # noqa: BLE001
                    full = "queue is full" in str(err).lower()
                    results.append(("queue full" if full else "error", time.perf_counter() - start, str(err)[:120]))
            return results

        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = [r for batch in pool.map(one_client, range(clients)) for r in batch]
        wall = time.perf_counter() - start
        latencies = sorted(s for kind, s, _ in results if kind == "ok")
        rss_after = rss_mb(app.proc.pid)
        serves = call(warm, names[0], endpoints[names[0]], examples[names[0]])[0] == "ok"
    finally:
        app.close()
    return {"clients": clients, "requests_each": requests, "requests": len(results),
            "ok": sum(k == "ok" for k, _, _ in results), "queue_full": sum(k == "queue full" for k, _, _ in results),
            "errors": sum(k == "error" for k, _, _ in results),
            "error_messages": sorted({m for k, _, m in results if k == "error"})[:5],
            "p50_s": round(statistics.median(latencies), 2) if latencies else None,
            "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 2) if latencies else None,
            "wall_s": round(wall, 1), "rss_before_mb": round(rss_before), "rss_after_mb": round(rss_after),
            "serves_afterwards": serves}


def table(inputs: dict | None, load: dict | None, command: str) -> str:
    rows = []
    if inputs:
        e, p = inputs["endpoints"], inputs["python_api"]
        rows += [f"**Bad inputs**: {inputs['files']} files (`python -m training.probe corpus`), through every image "
                 f"endpoint of the app ({e['calls']} calls) and `translate` of every shipped model ({p['calls']} calls).", "",
                 "| path | handled | refused with a message | stack traces shown | unclear errors | crashes | over 10 s | slowest |",
                 "|---|---|---|---|---|---|---|---|",
                 f"| app endpoints | {e['ok']} | {e['refused']} | {e['trace']} | {e['unclear']} | – | {e['slower_than_10s']} | {e['slowest_s']} s |",
                 f"| Python API | {p['ok']} | {p['refused']} | – | – | {p['crash']} | {p['slower_than_10s']} | {p['slowest_s']} s |",
                 "", f"The app still served afterwards: {'yes' if e['serves_afterwards'] else 'NO'}; its RSS went from "
                 f"{e['rss_before_mb']} MB to {e['rss_after_mb']} MB; tracebacks in its log: {e['tracebacks_in_log']}.", ""]
    if load:
        rows += [f"**Load**: {load['clients']} concurrent clients × {load['requests_each']} requests across the main "
                 f"endpoints, on the default queue (1 at a time, 32 waiting): {load['ok']} answered, "
                 f"{load['queue_full']} refused as queue full, {load['errors']} errors; latency p50 {load['p50_s']} s, "
                 f"p95 {load['p95_s']} s (queueing included) over {load['wall_s']} s; RSS {load['rss_before_mb']} → "
                 f"{load['rss_after_mb']} MB; served afterwards: {'yes' if load['serves_afterwards'] else 'NO'}.", ""]
    import platform
    rows.append(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores. Command: `{command}`")
    return "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["corpus", "inputs", "load", "all"])
    parser.add_argument("--out", type=Path, help="corpus: where to write the files")
    parser.add_argument("--readme", type=Path, help="write the results between the README's probe markers")
    parser.add_argument("--json", type=Path, default=None, help="the full report (every call) as JSON")
    args = parser.parse_args(argv)
    command = "python -m training.probe " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    if args.what == "corpus":
        out = args.out or Path(tempfile.mkdtemp(prefix="bad-inputs-"))
        out.mkdir(parents=True, exist_ok=True)
        for name, data in corpus().items():
            (out / name).write_bytes(data)
        print(f"{len(list(out.iterdir()))} files in {out}")
        return
    inputs = load = None
    if args.what in ("inputs", "all"):
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in corpus().items():
                (Path(tmp) / name).write_bytes(data)
            inputs = probe_inputs(Path(tmp))
    if args.what in ("load", "all"):
        load = probe_load()
    text = table(inputs, load, command)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"inputs": inputs, "load": load}, indent=1))
    if args.readme:
        from training.evaluate import replace_block
        replace_block(args.readme, "probe", text)


if __name__ == "__main__":
    main()
