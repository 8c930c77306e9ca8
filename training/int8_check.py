"""Can lower precision or anything else get CycleGAN to issue 20's 1.5x within 2/255? (No.)

    OMP_WAIT_POLICY=PASSIVE python -m training.int8_check --threads 2 --json docs/metrics/int8-check.json

The paper-size CycleGAN generator (ResNet-9, 256 px, random weights, as `training.fast_path_bench`) is
exported as the fast path exports it (`translator.fast_path.Direction`), then quantized the way ONNX
Runtime recommends for x86 (QDQ, uint8 activations, int8 weights per output channel), calibrated on
random inputs by min-max and by the 99.99th percentile; and run by PyTorch under bf16 autocast (oneDNN's
AVX512-BF16 kernels where the CPU has them). Each is scored as the fast path scores its graph: the largest
difference from eager PyTorch on fresh random inputs, in [0, 1] image units (bar 2/255), and timed against
eager PyTorch alternately (`translator.fast_path.interleaved`).

The ceiling: the network's multiply-adds (counted on its convolutions) over each time give its arithmetic
rate, set beside the rate of its main convolution run alone in each library (the same threads). If every
multiply-add ran at the better of those, a fp32 graph would be that rate over eager's faster than eager:
the margin left to graph fusion, layouts and threads without fewer multiplications or less precision.
(A matrix product is no ceiling here: torch.mm, MKL, gave 215 GFLOP/s on this AMD CPU, below the network.)"""
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
        with torch.inference_mode():
            ops = multiply_adds(direction, tests[0])
            bf16 = lambda x: autocast_bf16(direction, x)  # noqa: E731
            difference = max(float((bf16(torch.from_numpy(x)).clamp(-1, 1) - torch.from_numpy(r).clamp(-1, 1)).abs().max())
                             for x, r in zip(tests, reference)) / 2
            eager_s, bf16_s = interleaved(lambda: direction(torch.from_numpy(tests[0])),
                                          lambda: bf16(torch.from_numpy(tests[0])), args.repeats)
        rows.append({"graph": "bf16 (PyTorch autocast)", "eager_s": eager_s, "bf16_s": bf16_s,
                     "speed_up": eager_s / bf16_s, "max_abs_difference": difference, "within_bar": difference <= 2 / 255})
        print(f"{'bf16 (PyTorch)':22s} eager {eager_s * 1000:7.1f} ms  bf16 {bf16_s * 1000:7.1f} ms  "
              f"{eager_s / bf16_s:.2f}x  max difference {difference * 255:.2f}/255", flush=True)
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
        single = best_convolution_rate(args.threads, args.repeats, Path(tmp))
    eager_s = float(np.median([row["eager_s"] for row in rows]))
    onnx_s = next(row["onnxruntime_s"] for row in rows if row["graph"] == "fp32")
    best = max(single.values())
    ceiling = {"multiply_adds": ops, "eager_gflops": 2 * ops / eager_s / 1e9, "onnxruntime_gflops": 2 * ops / onnx_s / 1e9,
               "one_convolution_gflops": single, "fp32_speed_up_ceiling": best / (2 * ops / eager_s / 1e9)}
    print(f"{ops / 1e9:.1f} G multiply-adds: the network at {ceiling['eager_gflops']:.0f} GFLOP/s eager, "
          f"{ceiling['onnxruntime_gflops']:.0f} in ONNX Runtime; its main convolution alone at "
          f"{single['eager_gflops']:.0f} (PyTorch) and {single['onnxruntime_gflops']:.0f} (ONNX Runtime): every "
          f"multiply-add at the better rate would be {ceiling['fp32_speed_up_ceiling']:.2f}x eager", flush=True)
    result = {"network": "CycleGAN ResNet-9, 256 px, random weights", "threads": args.threads,
              "repeats": args.repeats, "rows": rows, "ceiling": ceiling}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


def autocast_bf16(direction, x: torch.Tensor) -> torch.Tensor:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return direction(x).float()


def multiply_adds(network: torch.nn.Module, image: np.ndarray) -> int:  # groups: none in these generators
    """The convolutions' multiply-adds for one image (what dominates a convolutional generator's time)."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        # weight[0]: (in, kh, kw) of one output channel for a convolution, (out, kh, kw) of one input channel
        # for a transposed one, so each output (or input) element costs that many
        per_element = module.weight[0].numel()
        total += (output if isinstance(module, torch.nn.Conv2d) else inputs[0]).numel() * per_element

    hooks = [m.register_forward_hook(count) for m in network.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    network(torch.from_numpy(image))
    for hook in hooks:
        hook.remove()
    return total


def best_convolution_rate(threads: int, repeats: int, folder: Path) -> dict:
    """GFLOP/s of the residual blocks' own convolution alone (3x3, 256 -> 256 channels, 64 x 64: 88 % of the
    network's multiply-adds), in eager PyTorch (oneDNN) and in ONNX Runtime (MLAS), median of repeats: the best
    rate either library reaches on this CPU with these threads, with nothing around the convolution."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).eval()
    x = torch.randn(1, 256, 64, 64)
    flops = 2 * x[0, 0].numel() * 256 * 256 * 9
    path = folder / "conv.onnx"
    with torch.inference_mode():
        torch.onnx.export(conv, (x,), str(path), input_names=["x"], dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        eager_s, onnx_s = interleaved(lambda: conv(x), lambda: session.run(None, {"x": x.numpy()}), max(repeats, 10))
    return {"eager_gflops": flops / eager_s / 1e9, "onnxruntime_gflops": flops / onnx_s / 1e9}


if __name__ == "__main__":
    main()
