"""Speed and memory of every shipped model, and of the app, on this machine.

    OMP_WAIT_POLICY=PASSIVE python -m training.benchmark --threads 2 --readme README.md

For each shipped model, in a fresh process each (so nothing is warm that a user's process would not have):
- load: `translator.load(name)` (weights resolution + building + warm-up), seconds, and `import translator`;
- model: median (and min-max) ms per image of the network alone at its native size, batch 1;
- pipeline: median ms of `translate()` on a 512x384 RGBA PNG file (decode, letterbox, network, resize back);
- peak RSS of that process (MB).
For the app: `python app.py` cold start until its first page answers, and its peak RSS after one translation.
Timings on a shared 2-core VM are noisy: run on an idle machine; medians of --runs runs after warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
start = time.perf_counter()
import torch
torch.set_num_threads({threads})
import translator
imported = time.perf_counter() - start
from PIL import Image
t0 = time.perf_counter()
t = translator.load({name!r}, device="cpu")
loaded = time.perf_counter() - t0
x = torch.rand(1, 3, t.image_size, t.image_size) * 2 - 1
from training.benchmark import median_ms
with torch.inference_mode():
    model = median_ms(lambda: t.translate_tensor(x, t.directions[0]), {runs})
Image.new("RGBA", (512, 384), (255, 200, 0, 255)).save({image!r})
pipeline = median_ms(lambda: t.translate({image!r}), max(5, {runs} // 3))
print(json.dumps({{"import_s": imported, "load_s": loaded, "model_ms": model, "pipeline_ms": pipeline,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "image_size": t.image_size, "source": t.provenance.source}}))
"""


def median_ms(fn, runs: int, warm_up: int = 3) -> tuple[float, float, float]:
    """(median, min, max) milliseconds of `runs` calls of fn, after `warm_up` calls not counted."""
    for _ in range(warm_up):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times), max(times)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_model(name: str, threads: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        code = CHILD.format(threads=threads, name=name, runs=runs, image=str(Path(tmp) / "in.png"))
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_app(timeout: float = 120) -> dict:
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - start > timeout or proc.poll() is not None:
                raise RuntimeError("the app did not start")
            time.sleep(0.05)
        cold_start = time.perf_counter() - start
        from gradio_client import Client, handle_file

        import translator
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False)
        round_trips = {}
        for name in translator.list_models():  # each tab's main endpoint, once, on its first example
            family = translator.hub.SHIPPED[name].family
            if family in round_trips:
                continue
            example = sorted((ROOT / "assets" / "examples" / family).glob("*.png"))[0]
            t0 = time.perf_counter()
            client.predict(image=handle_file(str(example)), model=name, api_name=f"/{family}")
            round_trips[family] = time.perf_counter() - t0
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024
        return {"cold_start_s": cold_start, "first_request_s": round_trips, "peak_rss_mb": peak}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import torch
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}"


def table(results: dict) -> str:
    rows = ["| model | size | network ms/img (median, min–max) | translate() ms, 512×384 PNG | load s | peak RSS MB |",
            "|---|---|---|---|---|---|"]
    for name, r in results["models"].items():
        m, p = r["model_ms"], r["pipeline_ms"]
        rows.append(f"| {name} | {r['image_size']}² | {m[0]:.1f} ({m[1]:.1f}–{m[2]:.1f}) | {p[0]:.1f} | "
                    f"{r['load_s']:.2f} (+ {r['import_s']:.1f} import) | {r['peak_rss_mb']:.0f} |")
    app = results["app"]
    first = ", ".join(f"/{family} {seconds * 1000:.0f} ms" for family, seconds in app["first_request_s"].items())
    rows += ["", f"App: cold start to first page **{app['cold_start_s']:.1f} s**, first request of each tab through "
                 f"`gradio_client` ({first}), peak RSS {app['peak_rss_mb']:.0f} MB.",
             "", f"Machine: {results['machine']}; {results['threads']} threads, "
                 f"OMP_WAIT_POLICY={results['omp_wait_policy']}. Command: `{results['command']}`"]
    return "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--readme", type=Path)
    parser.add_argument("--json", type=Path, default=ROOT / "assets" / "benchmark.json")
    args = parser.parse_args(argv)
    import translator
    results = {"machine": machine(), "threads": args.threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
               "command": "python -m training.benchmark " + " ".join(argv if argv is not None else sys.argv[1:]),
               "models": {name: bench_model(name, args.threads, args.runs) for name in translator.list_models()},
               "app": bench_app()}
    args.json.write_text(json.dumps(results, indent=2))
    print(table(results))
    if args.readme:
        from training.evaluate import replace_block
        replace_block(args.readme, "speed", table(results))


if __name__ == "__main__":
    main()
