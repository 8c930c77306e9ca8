"""What a public app meets: bad inputs and load, driven through the app's API and the Python API.

    python -m training.probe corpus --out /tmp/bad      # write the bad-input corpus (never committed)
    python -m training.probe inputs --readme README.md  # every bad input through every endpoint and load()
    python -m training.probe load --readme README.md    # 20 clients x 25 requests on the queue
    python -m training.probe hub --readme README.md     # every Hub fault: fallback or typed error, timed

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
import shutil
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


IMAGE_PARAMETERS = ("image", "sketch", "reference")  # a file a visitor uploads (reference: a style image)


def image_endpoints(client) -> dict[str, dict]:
    """Named endpoints whose first parameter is an image (a sketchpad value, a style reference)."""
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    return {name: spec for name, spec in endpoints.items()
            if spec["parameters"] and spec["parameters"][0]["parameter_name"] in IMAGE_PARAMETERS}


def upload(parameter: str, path: Path):
    """A file as a client sends it to an image parameter (a sketchpad takes it as its composite)."""
    from gradio_client import handle_file
    value = handle_file(str(path))
    return {"background": None, "layers": [], "composite": value} if parameter == "sketch" else value


def example_for(endpoint: str) -> Path:
    """A held-out example the endpoint's family ships (the compare tab's is CycleGAN's)."""
    family = endpoint.strip("/").split("_")[0]
    family = "cyclegan" if family == "compare" else family
    return sorted((ROOT / "assets/examples" / family).rglob("*.png"))[0]


def bad_values(parameter: dict) -> list:
    """Values a script (or a tampered page) can send for one control, by its type: out of range, wrong type,
    unknown words, hostile model names, too many or no references."""
    name, kind = parameter["parameter_name"], json.dumps(parameter.get("python_type", {})).lower()
    if name == "model":
        return ["nobody/nothing", "../../../../etc/passwd", "/etc", "x" * 5000, ""]
    if name == "direction":
        return ["sideways", "", "a2b; rm -rf /"]
    if "list" in kind or "gallery" in json.dumps(parameter.get("component", "")).lower():
        return [[], "not a list"]
    if "bool" in kind:
        return ["maybe"]
    if "float" in kind or "int" in kind:
        return [-1e12, 1e12, 0.5, "abc"]
    if "str" in kind:
        return ["", "x" * 100_000]
    return []


def probe_options(client, endpoints: dict[str, dict]) -> list[dict]:
    """Every named endpoint, each control given each bad value in turn beside a valid example input; the
    FUNIT-style reference galleries also with none and with more than the limit."""
    from gradio_client import handle_file

    from translator.options import MAX_REFERENCES

    outcomes = []
    for name, spec in endpoints.items():
        params = spec["parameters"]
        base = {}
        first = params[0]["parameter_name"] if params else None
        if first in IMAGE_PARAMETERS:
            base[first] = upload(first, example_for(name))
        trials = [(p["parameter_name"], v) for p in params if p["parameter_name"] not in base for v in bad_values(p)]
        trials += [(p["parameter_name"], [{"image": handle_file(str(example_for(name))), "caption": None}]
                    * (MAX_REFERENCES + 1)) for p in params if p["parameter_name"] == "references"]
        for parameter, value in trials:
            start = time.perf_counter()
            try:
                client.predict(**{**base, parameter: value}, api_name=name)
                kind, message = "ok", ""
            except Exception as err:  # noqa: BLE001  (what a client sees is the point)
                kind, message = client_saw(err)
            outcomes.append({"endpoint": name, "parameter": parameter, "value": repr(value)[:60], "outcome": kind,
                             "seconds": round(time.perf_counter() - start, 2), "message": message})
    return outcomes


def client_saw(err: Exception) -> tuple[str, str]:
    """What a client's exception says: ('trace' | 'unclear' | 'refused', its first line)."""
    message = str(err)
    kind = "trace" if "Traceback" in message or 'File "' in message else \
        "unclear" if ("upstream Gradio app has raised an exception" in message or not message.strip()) else "refused"
    return kind, message.splitlines()[0][:160] if message else ""


def call(client, endpoint: str, spec: dict, path: Path) -> tuple[str, float, str]:
    """('ok' | 'refused' | 'trace' | 'unclear', seconds, message)."""
    first = spec["parameters"][0]["parameter_name"]
    value = upload(first, path)
    start = time.perf_counter()
    try:
        client.predict(**{first: value}, api_name=endpoint)
        return "ok", time.perf_counter() - start, ""
    except Exception as err:  # noqa: BLE001  (what a client sees is the point)
        kind, message = client_saw(err)
        return kind, time.perf_counter() - start, message


def warm_up(client, endpoints: dict[str, dict], settle_s: float = 30.0) -> None:
    """Every endpoint once with its example, time for the fast path's background builds, then once more: the
    RSS measured after this is the app's working size, so what the probe adds on top of it is what it leaks."""
    for _ in range(2):
        for name, spec in endpoints.items():
            call(client, name, spec, example_for(name))
        time.sleep(settle_s)


def probe_inputs(folder: Path) -> dict:
    import translator
    from translator.errors import TranslatorError

    files = sorted(folder.iterdir())
    app = App()
    report = {"files": len(files), "endpoints": {}, "python_api": {}}
    try:
        client = app.client()
        endpoints = image_endpoints(client)
        warm_up(client, endpoints)
        rss_before = rss_mb(app.proc.pid)
        outcomes = []
        for name, spec in endpoints.items():
            for path in files:
                kind, seconds, message = call(client, name, spec, path)
                outcomes.append({"endpoint": name, "file": path.name, "outcome": kind, "seconds": round(seconds, 2),
                                 "message": message})
        options = probe_options(client, client.view_api(print_info=False, return_format="dict")["named_endpoints"])
        rss_after = rss_mb(app.proc.pid)
        still = call(client, "/cyclegan", endpoints["/cyclegan"], example_for("/cyclegan"))
        report["endpoints"] = summarise(outcomes)
        report["options"] = summarise(options)
        report["options"]["endpoints"] = len({o["endpoint"] for o in options})
        report["option_outcomes"] = options
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
    report["python_options"] = summarise(options := python_option_outcomes(files))
    report["python_option_outcomes"] = options
    return report


def python_option_outcomes(files: list[Path]) -> list[dict]:
    """Bad option values through `translate` of every shipped model: unknown directions, options the family
    does not take, and for each option it takes, values of the wrong type, length, range or content."""
    import translator
    from translator.errors import TranslatorError
    from translator.options import MAX_REFERENCES

    example = example_for("/cyclegan")
    bad_file = next(p for p in files if p.name.startswith("truncated-png"))
    per_option = {
        "seed": [-1, 2 ** 64, 1.5, "abc", [1]],
        "sample": ["yes", 2],
        "style": [[], [float("nan")] * 8, [float("inf")] * 8, [1e30] * 8, [0.0] * 10_000, "abc", [[0.0]]],
        "reference": [str(bad_file), b"", "/etc/passwd", 42],
        "references": [[], [str(example)] * (MAX_REFERENCES + 1), [str(example), str(bad_file)], "abc"],
        "tiled": ["yes", 2],
    }
    outcomes = []
    for model in translator.list_models():
        t = translator.load(model)
        trials = [{"direction": d} for d in ("sideways", "", None, 7)]
        trials += [{name: value} for name in t.options for value in per_option.get(name, [])]
        trials += [{"nonsense": 1}] + [{name: values[0]} for name, values in per_option.items() if name not in t.options]
        for trial in trials:
            start = time.perf_counter()
            try:
                t.translate(example.read_bytes(), **trial)
                kind, message = "ok", ""
            except TranslatorError as err:
                kind, message = "refused", str(err)[:160]
            except Exception as err:  # noqa: BLE001
                kind, message = "crash", f"{type(err).__name__}: {err}"[:160]
            outcomes.append({"model": model, "options": repr(trial)[:80], "outcome": kind,
                             "seconds": round(time.perf_counter() - start, 2), "message": message})
    return outcomes


def summarise(outcomes: list[dict]) -> dict:
    kinds = [o["outcome"] for o in outcomes]
    return {"calls": len(outcomes), **{k: kinds.count(k) for k in ("ok", "refused", "trace", "unclear", "crash")},
            "slower_than_10s": sum(o["seconds"] > SLOW for o in outcomes),
            "slowest_s": max((o["seconds"] for o in outcomes), default=0)}


def probe_load(clients: int = 20, requests: int = 25) -> dict:
    app = App()
    try:
        warm = app.client()
        endpoints = image_endpoints(warm)
        examples = {name: example_for(name) for name in endpoints}
        warm_up(warm, endpoints)
        rss_before = rss_mb(app.proc.pid)
        names = sorted(endpoints)

        def one_client(index: int) -> list[tuple[str, float, str]]:
            client = app.client()
            results = []
            for i in range(requests):
                name = names[(index + i) % len(names)]
                spec = endpoints[name]
                first = spec["parameters"][0]["parameter_name"]
                value = upload(first, examples[name])
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


# --- Hub faults --------------------------------------------------------------------------------------------
def damaged_copies(bundled: Path) -> dict[str, dict[str, bytes]]:
    """A shipped model's files, damaged each way a Hub repo (or a cache) can be: what the probe publishes."""
    import torch
    from safetensors.torch import load_file, save_file

    files = {p.name: p.read_bytes() for p in bundled.iterdir() if p.is_file()}
    config = json.loads(files["config.json"])
    weights = files["model.safetensors"]
    corrupted = bytearray(weights)
    for i in range(len(corrupted) // 2, len(corrupted), 997):  # same length, the tensor bytes scrambled
        corrupted[i] ^= 0xFF
    tensors = load_file(bundled / "model.safetensors")
    with tempfile.TemporaryDirectory() as tmp:
        save_file({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in tensors.items()},
                  Path(tmp) / "nan.safetensors")
        nan = (Path(tmp) / "nan.safetensors").read_bytes()
    def replace(name: str, data: bytes) -> dict[str, bytes]:
        return {**files, name: data}

    return {
        "truncated model.safetensors": replace("model.safetensors", weights[:len(weights) // 3]),
        "corrupted model.safetensors (same length)": replace("model.safetensors", bytes(corrupted)),
        "NaN weights": replace("model.safetensors", nan),
        "config.json not JSON": replace("config.json", b"\xff\xfe{ not json"),
        "unknown family": replace("config.json", json.dumps({**config, "family": "stylegan9"}).encode()),
        "wrong tensor shapes": replace("config.json", json.dumps({**config, "ngf": config["ngf"] * 2}).encode()),
        "only pytorch_model.bin": {"config.json": files["config.json"], "pytorch_model.bin": b"\x80\x04 never unpickled"},
    }


def probe_hub(shipped_name: str = "cyclegan-noto2twemoji", other: str = "someone/their-model") -> dict:
    """Every Hub fault the issue lists, each in a fresh cache: the time `translator.load` takes and what it
    does, for a shipped name (must fall back to the bundled copy) and any other repo (must be a typed error);
    then the app's start beside a Hub that accepts and never answers."""
    from huggingface_hub import constants

    import translator
    from training.fake_hub import MODES, FakeHub, FaultyHub
    from translator import hub

    saved = constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE, constants.HF_HUB_CACHE, constants.HF_HUB_OFFLINE
    shipped = hub.SHIPPED[shipped_name]
    root = Path(tempfile.mkdtemp(prefix="hub-probe-"))
    rows = []

    def point_at(url: str, offline: bool = False) -> None:
        constants.ENDPOINT = url
        constants.HUGGINGFACE_CO_URL_TEMPLATE = url + "/{repo_id}/resolve/{revision}/{filename}"
        constants.HF_HUB_CACHE = str(root / f"cache-{len(rows)}")  # each fault meets an empty cache
        constants.HF_HUB_OFFLINE = offline
        hub._reachable.clear()

    def attempt(fault: str) -> None:
        for name, expect in ((shipped_name, "bundled copy"), (other, "typed error")):
            translator._cache.clear()
            start = time.perf_counter()
            try:
                t = translator.load(name, warm_up=False)
                outcome = "bundled copy" if t.provenance.source == "bundled" else f"loaded ({t.provenance.source})"
                message = t.provenance.note
            except translator.TranslatorError as err:
                outcome, message = "typed error", f"{type(err).__name__}: {err}"
            except Exception as err:  # noqa: BLE001  (an untyped error is what the probe is looking for)
                outcome, message = "UNTYPED ERROR", f"{type(err).__name__}: {err}"
            seconds = time.perf_counter() - start
            rows.append({"fault": fault, "model": name, "outcome": outcome, "expected": expect,
                         "seconds": round(seconds, 2), "ok": outcome == expect and seconds < SLOW,
                         "message": message.splitlines()[0][:200] if message else ""})
            hub._reachable.clear()

    try:
        for mode in MODES:
            server = FaultyHub(mode)
            point_at(server.url)
            attempt(f"network: {mode}")
            server.close()
        with FakeHub() as server:
            point_at(server.url)
            attempt("404: no such repository")
            for fault, files in damaged_copies(shipped.bundled).items():
                server.repos.clear()
                server.refs.clear()
                server.add(shipped.repo_id, files)
                server.add(other, files)
                point_at(server.url)
                attempt(fault)
        point_at(f"http://127.0.0.1:{free_port()}")  # nothing listens there
        attempt("connection refused (no network)")
        point_at(f"http://127.0.0.1:{free_port()}", offline=True)
        attempt("HF_HUB_OFFLINE=1, empty cache")

        import app
        server = FaultyHub("silent")
        point_at(server.url)
        translator._cache.clear()  # every shipped model meets the silent Hub, none is already loaded
        start = time.perf_counter()
        app.build_demo(fast=False)
        app_start = round(time.perf_counter() - start, 1)
        server.close()
    finally:
        (constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE, constants.HF_HUB_CACHE,
         constants.HF_HUB_OFFLINE) = saved
        hub._reachable.clear()
        translator._cache.clear()  # nothing loaded here from a fake Hub outlives the probe
        shutil.rmtree(root, ignore_errors=True)
    return {"rows": rows, "faults": len(rows) // 2, "all_ok": all(r["ok"] for r in rows),
            "slowest_s": max(r["seconds"] for r in rows), "deadline_s": hub.hub_deadline(),
            "app_start_beside_silent_hub_s": app_start, "shipped_models": len(hub.SHIPPED)}


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
                 *([f"| bad option values, app ({o['calls']} calls on {o['endpoints']} endpoints) | {o['ok']} | {o['refused']} | "
                    f"{o['trace']} | {o['unclear']} | – | {o['slower_than_10s']} | {o['slowest_s']} s |"]
                   if (o := inputs.get("options")) else []),
                 *([f"| bad option values, Python API ({q['calls']} calls) | {q['ok']} | {q['refused']} | – | – | "
                    f"{q['crash']} | {q['slower_than_10s']} | {q['slowest_s']} s |"] if (q := inputs.get("python_options")) else []),
                 "", f"The app still served afterwards: {'yes' if e['serves_afterwards'] else 'NO'}; its RSS went from "
                 f"{e['rss_before_mb']} MB to {e['rss_after_mb']} MB; tracebacks in its log: {e['tracebacks_in_log']}.", ""]
    if load:
        rows += [f"**Load**: {load['clients']} concurrent clients × {load['requests_each']} requests across the main "
                 f"endpoints, on the default queue (1 at a time, 32 waiting): {load['ok']} answered, "
                 f"{load['queue_full']} refused as queue full, {load['errors']} errors; latency p50 {load['p50_s']} s, "
                 f"p95 {load['p95_s']} s (queueing included) over {load['wall_s']} s; RSS {load['rss_before_mb']} → "
                 f"{load['rss_after_mb']} MB; served afterwards: {'yes' if load['serves_afterwards'] else 'NO'}.", ""]
    from training.benchmark import machine
    rows.append(f"Machine: {machine()}. Command: `{command}`")
    return "\n".join(rows)


def hub_table(report: dict, command: str) -> str:
    from training.benchmark import machine
    rows = [f"**Hub faults**: {report['faults']} faults, each met with an empty cache, by a shipped name (must fall "
            f"back to its bundled copy) and by another repo id (must be a typed error), within {SLOW:g} s "
            f"(download deadline {report['deadline_s']:g} s):", "",
            "| fault | shipped name | s | another repo | s |", "|---|---|---|---|---|"]
    by_fault: dict[str, list[dict]] = {}
    for row in report["rows"]:
        by_fault.setdefault(row["fault"], []).append(row)
    mark = lambda r: r["outcome"] if r["ok"] else f"**{r['outcome']} (expected {r['expected']})**"  # noqa: E731
    for fault, (named, other) in by_fault.items():
        rows.append(f"| {fault} | {mark(named)} | {named['seconds']} | {mark(other)} | {other['seconds']} |")
    rows += ["", f"All within the rule: {'yes' if report['all_ok'] else 'NO'}; slowest {report['slowest_s']} s. "
             f"The app's start beside a Hub that accepts and never answers (all {report['shipped_models']} shipped "
             f"models load, then fall back): {report['app_start_beside_silent_hub_s']} s.", "",
             f"Machine: {machine()}. Command: `{command}`"]
    return "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["corpus", "inputs", "load", "all", "hub"])
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
    if args.what == "hub":
        report = probe_hub()
        text = hub_table(report, command)
        print(text)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))
        if args.readme:
            from training.evaluate import replace_block
            replace_block(args.readme, "probe-hub", text)
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
