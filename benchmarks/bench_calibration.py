"""Speed and memory of Entropy calibration (issue: precision): the workbench vs ONNX Runtime's entropy calibrator
configured for 2,048 bins, on the ResNet-50-shaped sample with 256 samples. Goal: >= 3x faster, <= 1/3 peak memory.

Each side runs in its own process (peak RSS from getrusage); same model, same data, all 176 activation tensors.
ONNX Runtime keeps every intermediate output of every sample before it builds histograms (~300 MB per 224x224
image for this model), so 256 samples at 224x224 need ~77 GB there; the default resolution is 112x112 (ResNet-50's
layers are resolution independent up to the global pooling), which fits a 24 GB machine.
BENCH_SAMPLES and BENCH_SIZE change the sample count and resolution.
"""

import json
import os
import subprocess
import sys
import textwrap

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "256"))
SIZE = int(os.environ.get("BENCH_SIZE", "112"))

COMMON = textwrap.dedent(f"""
    import json, resource, sys, time
    import numpy as np
    from workbench.model import load_model
    from workbench.model.samples import resnet
    model = load_model(resnet("resnet50", (3, 4, 6, 3), (64, 128, 256, 512), True, 64, {SIZE}, 1000))
    data = np.random.default_rng(0).standard_normal(({SAMPLES}, 3, {SIZE}, {SIZE})).astype(np.float32)
    data = np.maximum(data, -2.5)  # a bounded input, like normalized images
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
""")

OURS = COMMON + textwrap.dedent("""
    from workbench.precision import calibrate
    table = calibrate(model, data, "entropy2")  # batch size chosen by the workbench (activation budget)
    seconds = time.perf_counter() - t
    amax = table.amax
""")

ORT = COMMON + textwrap.dedent("""
    import tempfile
    from pathlib import Path
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, create_calibrator
    folder = Path(tempfile.mkdtemp())
    model.save(folder / "m.onnx")
    calibrator = create_calibrator(folder / "m.onnx", None, augmented_model_path=str(folder / "aug.onnx"),
                                   calibrate_method=CalibrationMethod.Entropy,
                                   extra_options={"num_bins": 2048, "num_quantized_bins": 128})
    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"input": data[i:i + 16]} for i in range(0, len(data), 16)])
        def get_next(self):
            return next(self.batches, None)
    calibrator.collect_data(Reader())
    ranges = calibrator.compute_data()
    seconds = time.perf_counter() - t
    amax = {k: float(max(abs(np.asarray(v.range_value[0]).ravel()[0]), abs(np.asarray(v.range_value[1]).ravel()[0])))
            for k, v in ranges.data.items()}
""")

TAIL = textwrap.dedent("""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "added_mb": (peak - rss_before) / 1024,
                      "tensors": len(amax)}))
""")


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code + TAIL], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    ours, ort = run(OURS), run(ORT)
    print(f"Entropy calibration, resnet50 sample, {SAMPLES} samples at 3x{SIZE}x{SIZE} "
          "(ONNX Runtime fed batches of 16)")
    for name, r in (("workbench entropy2", ours), ("onnxruntime entropy, 2048 bins", ort)):
        print(f"  {name:<32} {r['seconds']:7.1f} s   peak RSS {r['peak_mb']:8.0f} MB "
              f"(+{r['added_mb']:.0f} MB while calibrating), {r['tensors']} tensors")
    print(f"speed-up:        {ort['seconds'] / ours['seconds']:.1f}x   (goal >= 3x)")
    print(f"peak memory:     {ours['peak_mb'] / ort['peak_mb']:.2f} of ONNX Runtime's   (goal <= 0.33)")
