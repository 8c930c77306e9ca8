"""Does int8 (ONNX Runtime static quantization, VNNI) get CycleGAN to issue 20's 1.5x within 2/255? (No.)

    OMP_WAIT_POLICY=PASSIVE python -m training.int8_check --threads 1 --json docs/metrics/int8-check.json

The paper-size CycleGAN generator (ResNet-9, 256 px, random weights, as `training.fast_path_bench`) is
exported as the fast path exports it (`translator.fast_path.Direction`), then quantized the way ONNX
Runtime recommends for x86 (QDQ, uint8 activations, int8 weights per output channel), calibrated on
random inputs by min-max and by the 99.99th percentile. Each graph is scored as the fast path scores its
graph: the largest difference from eager PyTorch on fresh random inputs, in [0, 1] image units (bar
2/255), and timed against eager PyTorch alternately (`translator.fast_path.interleaved`)."""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

import translator
from translator.fast_path import Direction, export, interleaved

CALIBRATIONS = {"min-max": {"calibrate_method": CalibrationMethod.MinMax},
                "percentile 99.99": {"calibrate_method": CalibrationMethod.Percentile,
                                     "extra_options": {"CalibPercentile": 99.99}}}


class RandomImages(CalibrationDataReader):
    def __init__(self, count: int, size: int, seed: int):
        rng = np.random.default_rng(seed)
        self.images = iter([{"image": rng.random((1, 3, size, size), dtype=np.float32) * 2 - 1} for _ in range(count)])

    def get_next(self):
        return next(self.images, None)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calibration-images", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    size = 256
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    tests = [rng.random((1, 3, size, size), dtype=np.float32) * 2 - 1 for _ in range(3)]
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        translator.FAMILIES["cyclegan"].network(image_size=size).save_pretrained(Path(tmp) / "cyclegan")
        direction = Direction(translator.load(str(Path(tmp) / "cyclegan"), device="cpu", warm_up=False), "a2b")
        with torch.inference_mode():
            reference = [direction(torch.from_numpy(x)).numpy() for x in tests]
        fp32, prepared = Path(tmp) / "fp32.onnx", Path(tmp) / "prepared.onnx"
        export(direction, (torch.from_numpy(tests[0]),), fp32, ["image"])
        quant_pre_process(str(fp32), str(prepared))
        graphs = {"fp32": fp32}
        for name, calibration in CALIBRATIONS.items():
            graphs[f"int8, {name}"] = Path(tmp) / f"int8-{len(graphs)}.onnx"
            quantize_static(str(prepared), str(graphs[f"int8, {name}"]), RandomImages(args.calibration_images, size, 2),
                            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, **calibration)
        for name, path in graphs.items():
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            run = lambda x: session.run(None, {"image": x})[0]  # noqa: E731
            difference = max(float(np.abs(np.clip(run(x), -1, 1) - np.clip(r, -1, 1)).max())  # as FastPath.parity
                             for x, r in zip(tests, reference)) / 2  # in [0, 1] image units
            eager_s, onnx_s = interleaved(lambda: direction(torch.from_numpy(tests[0])), lambda: run(tests[0]),
                                          args.repeats)
            rows.append({"graph": name, "eager_s": eager_s, "onnxruntime_s": onnx_s, "speed_up": eager_s / onnx_s,
                         "max_abs_difference": difference, "within_bar": difference <= 2 / 255})
            print(f"{name:22s} eager {eager_s * 1000:7.1f} ms  ONNX Runtime {onnx_s * 1000:7.1f} ms  "
                  f"{eager_s / onnx_s:.2f}x  max difference {difference * 255:.2f}/255", flush=True)
    result = {"network": "CycleGAN ResNet-9, 256 px, random weights", "threads": args.threads,
              "repeats": args.repeats, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
