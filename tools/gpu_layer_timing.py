"""Time the sample models' convolution and matmul layers with PyTorch (cuDNN / cuBLAS) on a GPU.

Self-contained (PyTorch only), so it runs on a GPU machine without the workbench installed:

    python tools/gpu_layer_timing.py --shapes tools/gpu_layer_shapes.json --out h100_layer_timing.json

The shapes come from CPU builds of the bundled samples (workbench.engines.estimate.gpu_check.timing_shapes).
Each layer is timed at fp32 (TF32 allowed, as TensorRT does by default), fp16 and, for matmuls whose sizes
torch._int_mm accepts, int8 (PyTorch has no INT8 cuDNN convolution). `--iters` launches captured in a CUDA graph (no host
overhead), after `--warmup` eager launches; CUDA events around each replay; the median of `--repeats` replays.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics

import torch

DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def time_launches(fn, warmup: int, iters: int, repeats: int) -> tuple[float, str]:
    """Per-launch milliseconds. The launches are captured in a CUDA graph and replayed, so the host's Python and
    dispatch overhead (tens of microseconds per eager call) does not hide kernels shorter than it; eager timing
    only when capture fails."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):   # warm up (and let cuDNN benchmark its algorithms) outside the capture
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    try:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(iters):
                fn()
        run, how = graph.replay, "cuda graph"
        run()
    except RuntimeError:
        def run():
            for _ in range(iters):
                fn()
        how = "eager"
    torch.cuda.synchronize()
    runs = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        torch.cuda.synchronize()
        runs.append(start.elapsed_time(end) / iters)
    return statistics.median(runs), how


def _conv(shape: dict, precision: str):
    dtype = DTYPES[precision]
    x = torch.randn(shape["n"], shape["c"], shape["h"], shape["w"], device="cuda", dtype=dtype)
    x = x.to(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(shape["c"], shape["k"], (shape["r"], shape["s"]), stride=shape["stride"],
                           padding=(shape["r"] // 2, shape["s"] // 2), groups=shape["groups"], bias=False)
    conv = conv.to(device="cuda", dtype=dtype, memory_format=torch.channels_last)
    return lambda: conv(x)


def _gemm(shape: dict, precision: str):
    m, n, k = shape["m"], shape["n"], shape["k"]
    if precision == "int8":
        # torch._int_mm: m > 16, k and n multiples of 8
        if m <= 16 or k % 8 or n % 8:
            return None
        a = torch.randint(-127, 127, (m, k), device="cuda", dtype=torch.int8)
        b = torch.randint(-127, 127, (k, n), device="cuda", dtype=torch.int8)
        return lambda: torch._int_mm(a, b)
    a = torch.randn(m, k, device="cuda", dtype=DTYPES[precision])
    b = torch.randn(k, n, device="cuda", dtype=DTYPES[precision])
    return lambda: torch.mm(a, b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="tools/gpu_layer_shapes.json")
    parser.add_argument("--out", required=True)
    parser.add_argument("--precisions", default="fp32,fp16,int8")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gpu-table-name", default="", help="the workbench GPU table row for this GPU (e.g. h100)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible to PyTorch")
    torch.backends.cuda.matmul.allow_tf32 = True   # TensorRT runs FP32 as TF32 by default on Ampere and later
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True           # let cuDNN pick its fastest algorithm, as TensorRT picks tactics
    shapes = json.load(open(args.shapes))["layers"]
    name = torch.cuda.get_device_name()
    table_name = args.gpu_table_name or ("h100-pcie" if "PCIe" in name else "h100" if "H100" in name
                                         else "h200" if "H200" in name else "")
    layers = []
    for shape in shapes:
        for precision in args.precisions.split(","):
            if precision == "int8" and shape["op"] != "gemm":
                continue
            fn = _conv(shape, precision) if shape["op"] == "conv" else _gemm(shape, precision)
            if fn is None:
                continue
            ms, how = time_launches(fn, args.warmup, args.iters, args.repeats)
            layers.append({"shape": shape, "precision": precision, "time_ms": ms, "timing": how})
            print(f"{shape['model']:18} {shape['layer'][:48]:48} {precision:5} {ms * 1000:9.1f} us", flush=True)
    props = torch.cuda.get_device_properties(0)
    record = {"device": name, "gpu_table_name": table_name, "sm_count": props.multi_processor_count,
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
              "host": platform.node(), "method": f"CUDA events, {args.warmup} warm-up launches, median of "
              f"{args.repeats} CUDA-graph replays of {args.iters} launches; fp32 with TF32 allowed; channels_last convolutions",
              "layers": layers}
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)
    print(f"wrote {args.out}: {len(layers)} timings on {name}")


if __name__ == "__main__":
    main()
