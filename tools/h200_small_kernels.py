"""Small kernels on an H200 (PyTorch, FP16, batch 1): what the estimate's small-kernel model is fitted and checked on.

    python tools/h200_small_kernels.py --out DIR   # DIR/h200_small_kernels.csv, DIR/h200_unet_modules.csv, DIR/*.meta.json
    python tools/h200_small_kernels.py --out DIR --network-only   # DIR/h200_unet_modules.csv only

- launch floor: a 1-element add, and an empty CUDA graph replay, per launch;
- elementwise add, GroupNorm(32), NCHW -> NHWC reformat and FP32 -> FP16 cast from 64 KiB to 1 GiB, each "hot" (the
  same buffers every launch: the input is in L2 when it fits, as when a layer reads what the layer before it just
  wrote) and "cold" (a read of a 2x-L2 scrub buffer before every launch; that scrub's own time, measured alone, is
  subtracted);
- batch-1 FP16 convolutions at UNet shapes (32x48 / 16x24 / 8x12, 320-1,280 channels, 3x3 and 1x1), hot and cold
  (cold: weights and activations from DRAM, as in an engine where every layer has its own weights);
- an FP16 GEMM wave sweep (M = N = 128 ... 2,048 at K = 2,560: 1 to 256 output tiles of 128x128 on 132 SMs);
- the UNet-like network of tools/unet_like.py (channels-last, attention through SDPA): every Conv2d, GroupNorm, LayerNorm, Linear, Attention and whole block
  timed alone on the inputs it gets in a forward pass (hot), and the whole network in one CUDA graph.

Timing: tools/gpu_layer_timing.py's time_launches (CUDA graph of `iters` launches, CUDA events, median of `repeats`
replays). PyTorch's kernels (cuDNN, cuBLAS, its own elementwise/norm kernels), not TensorRT's.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import statistics

import torch
from gpu_layer_timing import time_launches  # run as `python tools/h200_small_kernels.py`: tools/ is on the path

import unet_like

F16 = torch.float16
ROWS: list[dict] = []
L2 = torch.cuda.get_device_properties(0).L2_cache_size if torch.cuda.is_available() else 60 * 2**20
SCRUB = None


def _graph_ms(fns, iters=20, repeats=7) -> float:
    """Median per-iteration ms of a CUDA graph holding `iters` rounds of `fns` (each a list of callables)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            for f in fns:
                f()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(iters):
            for f in fns:
                f()
    graph.replay()
    torch.cuda.synchronize()
    runs = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        torch.cuda.synchronize()
        runs.append(start.elapsed_time(end) / iters)
    return statistics.median(runs)


def cold_ms(fn) -> float:
    """One launch after the L2 is filled with other data: time(scrub + fn) - time(scrub)."""
    global SCRUB
    if SCRUB is None:
        SCRUB = (torch.randn(2 * L2 // 2, device="cuda", dtype=F16), torch.empty((), device="cuda", dtype=F16))
    scrub = lambda: torch.sum(SCRUB[0], dim=0, out=SCRUB[1])  # noqa: E731 - reads 2x L2 (clean lines)
    return _graph_ms([scrub, fn]) - _graph_ms([scrub])


def record(kind, name, shape, flops, nbytes, fn, cold=True):
    ms, how = time_launches(fn, 5, 20, 7)
    ROWS.append({"kind": kind, "name": name, "dtype": "float16", "shape": json.dumps(shape), "flops": flops,
                 "bytes": nbytes, "cache": "hot", "time_ms": f"{ms:.6f}", "how": how})
    line = f"{kind:10} {name:44} hot {ms * 1e3:8.2f} us"
    if cold:
        c = cold_ms(fn)
        ROWS.append({**ROWS[-1], "cache": "cold", "time_ms": f"{c:.6f}", "how": "cuda graph, after a 2x-L2 scrub read, "
                     "scrub time subtracted"})
        line += f"  cold {c * 1e3:8.2f} us"
    print(line, flush=True)


def launch_floor():
    a = torch.zeros(1, device="cuda")
    record("floor", "add 1 element", {"elements": 1}, 1, 8, lambda: torch.add(a, 1, out=a), cold=False)
    x = torch.zeros(256, device="cuda", dtype=F16)
    record("floor", "add 256 elements fp16", {"elements": 256}, 256, 1024, lambda: torch.add(x, 1, out=x), cold=False)


def memory_kernels():
    for mib in (0.0625, 0.25, 1, 4, 8, 16, 32, 64, 256, 1024):
        n = int(mib * 2**20) // 2
        a, b, o = (torch.randn(n, device="cuda", dtype=F16) for _ in range(3))
        record("add", f"add {mib:g} MiB", {"elements": n}, n, 6 * n, lambda: torch.add(a, b, out=o))
        c = 320 if n % (320 * 32) == 0 else 64
        hw = n // c
        h = max(1, int(hw ** 0.5))
        while hw % h:
            h -= 1
        x = torch.randn(1, c, h, hw // h, device="cuda", dtype=F16)
        gn = torch.nn.GroupNorm(32, c).to("cuda", F16)
        record("groupnorm", f"groupnorm c{c} {h}x{hw // h} ({mib:g} MiB)", {"n": 1, "c": c, "h": h, "w": hw // h},
               8 * n, 4 * n, lambda: gn(x))
        out = torch.empty_like(x, memory_format=torch.channels_last)
        record("reformat", f"nchw->nhwc {mib:g} MiB", {"n": 1, "c": c, "h": h, "w": hw // h}, 0, 4 * n,
               lambda: out.copy_(x))
        x32 = torch.randn(n, device="cuda")
        o16 = torch.empty(n, device="cuda", dtype=F16)
        record("cast", f"fp32->fp16 {mib:g} MiB out", {"elements": n}, 0, 6 * n, lambda: o16.copy_(x32))


def convs():
    for c, h, w in ((320, 32, 48), (640, 32, 48), (640, 16, 24), (1280, 16, 24), (320, 16, 24), (1280, 8, 12),
                    (640, 8, 12), (2560, 8, 12), (320, 64, 96)):
        for r in (3, 1):
            k = 1280 if c == 2560 else c
            x = torch.randn(1, c, h, w, device="cuda", dtype=F16).to(memory_format=torch.channels_last)
            m = torch.nn.Conv2d(c, k, r, padding=r // 2).to("cuda", F16, memory_format=torch.channels_last)
            flops = 2.0 * h * w * k * c * r * r
            nbytes = 2.0 * (c * h * w + k * h * w + k * c * r * r)
            record("conv", f"conv{r}x{r} n1 {c}->{k} {h}x{w}", {"n": 1, "c": c, "k": k, "h": h, "w": w, "r": r,
                                                                   "stride": 1}, flops, nbytes, lambda: m(x))


def gemm_sweep():
    for s in (128, 256, 384, 512, 640, 768, 1024, 1280, 1536, 2048):
        a = torch.randn(s, 2560, device="cuda", dtype=F16)
        b = torch.randn(2560, s, device="cuda", dtype=F16)
        record("gemm", f"gemm m{s} n{s} k2560", {"m": s, "n": s, "k": 2560}, 2.0 * s * s * 2560,
               2.0 * (2 * s * 2560 + s * s), lambda: a @ b, cold=False)


def unet_modules(out_dir):
    # channels-last (NHWC), the layout TensorRT runs FP16 convolutions in: cuDNN's NCHW FP16 path adds transposes
    unet_like.USE_SDPA = True  # attention through the fused SDPA kernel (TensorRT fuses it too: _gemm_mha)
    model = unet_like.build(F16, "cuda").to(memory_format=torch.channels_last)
    sample, context = unet_like.inputs(F16, "cuda")
    sample = sample.contiguous(memory_format=torch.channels_last)
    captured = {}
    kinds = (torch.nn.Conv2d, torch.nn.GroupNorm, torch.nn.LayerNorm, torch.nn.Linear, unet_like.Attention,
             unet_like.TransformerBlock, unet_like.ResBlock)
    hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: captured.setdefault(name, args))
             for name, m in model.named_modules() if isinstance(m, kinds)]
    with torch.no_grad():
        model(sample, context)
        for h in hooks:
            h.remove()
        rows = []
        modules = dict(model.named_modules())
        for name, args in captured.items():
            mod = modules[name]
            ms, how = time_launches(lambda mod=mod, args=args: mod(*args), 3, 10, 5)
            params = sum(p.numel() for p in mod.parameters())
            rows.append({"module": name, "type": type(mod).__name__, "input_shape": json.dumps(list(args[0].shape)),
                         "params": params, "time_ms": f"{ms:.6f}", "how": how})
        whole, how = time_launches(lambda: model(sample, context), 3, 5, 5)
        rows.append({"module": "(whole network)", "type": "UNetLike", "input_shape": json.dumps(list(sample.shape)),
                     "params": sum(p.numel() for p in model.parameters()), "time_ms": f"{whole:.6f}", "how": how})
    print(f"UNet-like network: whole {whole * 1e3:.1f} us; {len(rows) - 1} modules timed", flush=True)
    with open(os.path.join(out_dir, "h200_unet_modules.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--network-only", action="store_true", help="only the UNet-like network's modules")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.backends.cudnn.benchmark = True
    unet_modules(args.out)
    if args.network_only:
        return
    launch_floor()
    gemm_sweep()
    convs()
    memory_kernels()
    with open(os.path.join(args.out, "h200_small_kernels.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(ROWS[0]))
        w.writeheader()
        w.writerows(ROWS)
    props = torch.cuda.get_device_properties(0)
    meta = {"device": torch.cuda.get_device_name(0), "sm_count": props.multi_processor_count, "l2_bytes": L2,
            "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "label": "PyTorch kernels on H200 (not TensorRT)", "method": __doc__.strip()}
    with open(os.path.join(args.out, "h200_small_kernels.meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({k: v for k, v in meta.items() if k != "method"}))


if __name__ == "__main__":
    main()
