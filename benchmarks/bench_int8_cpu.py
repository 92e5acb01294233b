"""INT8 speed on the CPU (issue: precision): the workbench's ONNX Runtime placement vs FP32 (goal >= 2.5x at batch 1
on a CPU with AVX512-VNNI) and vs ONNX Runtime's own quantize_static output for the same model (goal: no slower).

One run, interleaved measurements; ResNet-50-shaped sample (random weights: speed only).
"""

import tempfile
from pathlib import Path

import numpy as np

from workbench.bench import BenchmarkConfig, measure
from workbench.model import load_model
from workbench.precision import calibrate, quantize


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = set(next(line for line in text.splitlines() if line.startswith("flags")).split())
    return ", ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags)


def main():
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = load_model("resnet50")
    data = np.random.default_rng(0).standard_normal((16, 3, 224, 224)).astype(np.float32)
    ours = quantize(model, calibrate(model, data, "minmax", batch_size=8), target="onnxruntime").model

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"input": data[i:i + 8]} for i in range(0, 16, 8)])

        def get_next(self):
            return next(self.batches, None)

    folder = Path(tempfile.mkdtemp())
    model.save(folder / "m.onnx")
    quant_pre_process(str(folder / "m.onnx"), str(folder / "p.onnx"), skip_symbolic_shape=True)
    quantize_static(str(folder / "p.onnx"), str(folder / "default.onnx"), Reader())
    quantize_static(str(folder / "p.onnx"), str(folder / "u8s8.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    variants = {"fp32": model, "workbench int8 (onnxruntime target)": ours,
                "quantize_static defaults": load_model(folder / "default.onnx"),
                "quantize_static U8S8 per-channel": load_model(folder / "u8s8.onnx")}
    config = BenchmarkConfig(warmup_s=1.0, duration_s=4.0)
    medians = {name: [] for name in variants}
    for _ in range(2):  # interleaved, the better of two runs each
        for name, m in variants.items():
            medians[name].append(measure(m, batch=1, config=config).stats["median"])
    best = {name: min(v) for name, v in medians.items()}
    print(f"CPU flags: {cpu_flags()}; batch 1, median latency")
    for name, ms in best.items():
        print(f"  {name:<36} {ms:7.2f} ms")
    ours_ms = best["workbench int8 (onnxruntime target)"]
    print(f"INT8 vs FP32 speed-up:                      {best['fp32'] / ours_ms:.2f}x   (goal >= 2.5x)")
    print(f"vs quantize_static defaults (ratio of times): {best['quantize_static defaults'] / ours_ms:.2f}x   "
          "(goal >= 1.0)")
    print(f"vs quantize_static U8S8 per-channel:          {best['quantize_static U8S8 per-channel'] / ours_ms:.2f}x")


if __name__ == "__main__":
    main()
