"""PyTorch kernels on an H200 at the shapes of today's models (diffusion UNet/ControlNet at batch 1, transformer
attention, LLM decode), as checks of the estimate's hardware model on Hopper. Self-contained (PyTorch only):

    python tools/h200_kernels.py --out DIR      # writes DIR/h200_kernels.csv and DIR/h200_kernels.meta.json

Each kernel: warm-up launches, then `iters` launches captured in a CUDA graph (no host overhead), CUDA events around
each replay, median of `repeats` replays. These time PyTorch (cuDNN, cuBLAS, FlashAttention/cuDNN SDPA), not TensorRT.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform

import torch
import torch.nn.functional as F
from gpu_layer_timing import time_launches  # run as `python tools/h200_kernels.py`: tools/ is on the path

F16, BF16 = torch.float16, torch.bfloat16


def timed(fn, warmup=5, iters=20, repeats=5):
    """Per-launch milliseconds and how they were timed: the CUDA-graph method of tools/gpu_layer_timing.py."""
    return time_launches(fn, warmup, iters, repeats)


ROWS = []


def record(kind, name, dtype, shape, flops, nbytes, fn, **kw):
    try:
        ms, how = timed(fn, **kw)
    except Exception as exc:  # noqa: BLE001 - a kernel PyTorch lacks on this build: say so in the CSV
        ROWS.append({"kind": kind, "name": name, "dtype": dtype, "shape": json.dumps(shape), "flops": flops, "bytes": nbytes,
                         "time_ms": "", "tflops": "", "gbs": "", "how": f"failed: {type(exc).__name__}: {str(exc)[:80]}"})
        print("FAIL", name, exc, flush=True)
        return
    ROWS.append({"kind": kind, "name": name, "dtype": dtype, "shape": json.dumps(shape), "flops": flops, "bytes": nbytes,
                     "time_ms": f"{ms:.6f}", "tflops": f"{flops / ms / 1e9:.3f}", "gbs": f"{nbytes / ms / 1e6:.1f}", "how": how})
    print(kind, name, dtype, f"{ms*1e3:.1f} us", f"{flops/ms/1e9:.1f} TFLOPS", f"{nbytes/ms/1e6:.0f} GB/s", flush=True)


def attention(b, h, lq, lk, d, dtype=F16, tag=""):
    q = torch.randn(b, h, lq, d, device="cuda", dtype=dtype)
    k = torch.randn(b, h, lk, d, device="cuda", dtype=dtype)
    v = torch.randn(b, h, lk, d, device="cuda", dtype=dtype)
    flops = 4.0 * b * h * lq * lk * d
    nbytes = 2.0 * b * h * (2 * lq + 2 * lk) * d
    record("attention", f"sdpa b{b} h{h} q{lq} k{lk} d{d}{tag}", str(dtype).split(".")[-1],
           {"b": b, "h": h, "lq": lq, "lk": lk, "d": d}, flops, nbytes, lambda: F.scaled_dot_product_attention(q, k, v))


def groupnorm(c, hh, ww, groups=32, dtype=F16):
    x = torch.randn(1, c, hh, ww, device="cuda", dtype=dtype)
    gn = torch.nn.GroupNorm(groups, c).to("cuda", dtype)
    n = c * hh * ww
    record("groupnorm", f"groupnorm c{c} {hh}x{ww} g{groups}", "float16", {"n": 1, "c": c, "h": hh, "w": ww, "groups": groups},
           8.0 * n, 4.0 * n, lambda: gn(x))


def layernorm(tokens, c, dtype=F16):
    x = torch.randn(tokens, c, device="cuda", dtype=dtype)
    ln = torch.nn.LayerNorm(c).to("cuda", dtype)
    n = tokens * c
    record("layernorm", f"layernorm {tokens}x{c}", "float16", {"tokens": tokens, "c": c}, 8.0 * n, 4.0 * n,
           lambda: ln(x))


def conv(n, c, k, hh, ww, r=3, stride=1, dtype=F16):
    x = torch.randn(n, c, hh, ww, device="cuda", dtype=dtype).to(memory_format=torch.channels_last)
    m = torch.nn.Conv2d(c, k, r, stride=stride, padding=r // 2, bias=True).to("cuda", dtype,
                                                                              memory_format=torch.channels_last)
    oh, ow = (hh + 2 * (r // 2) - r) // stride + 1, (ww + 2 * (r // 2) - r) // stride + 1
    flops = 2.0 * n * k * oh * ow * c * r * r
    nbytes = 2.0 * (n * c * hh * ww + n * k * oh * ow + k * c * r * r)
    record("conv", f"conv{r}x{r}/{stride} n{n} {c}->{k} {hh}x{ww}", "float16",
           {"n": n, "c": c, "k": k, "h": hh, "w": ww, "r": r, "stride": stride}, flops, nbytes, lambda: m(x))


def gemm(mm, nn, kk, dtype=F16, kind="gemm", tag=""):
    if dtype == "fp8":
        a = torch.randn(mm, kk, device="cuda").to(torch.float8_e4m3fn)
        b = torch.randn(nn, kk, device="cuda").to(torch.float8_e4m3fn).t()
        one = torch.ones((), device="cuda")
        fn = lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=BF16)
        size, name = 1, "float8_e4m3"
    else:
        a = torch.randn(mm, kk, device="cuda", dtype=dtype)
        b = torch.randn(kk, nn, device="cuda", dtype=dtype)
        fn = lambda: a @ b
        size, name = 2, str(dtype).split(".")[-1]
    nbytes = size * (mm * kk + kk * nn) + 2 * mm * nn
    record(kind, f"gemm m{mm} n{nn} k{kk}{tag}", name, {"m": mm, "n": nn, "k": kk}, 2.0 * mm * nn * kk, nbytes, fn)


def decode_step(layers=32, hidden=4096, inter=14336, heads=32, kv_heads=8, context=2048, batch=1):
    """One decode step of a Llama-3-8B-shaped decoder's layers (BF16, batch 1): every projection at M=batch,
    attention of one query over the KV cache; no sampling, no embedding (lm_head timed separately)."""
    d = hidden // heads
    w = {n: torch.randn(k, m, device="cuda", dtype=BF16) for n, (k, m) in {
        "qkv": (hidden, hidden + 2 * kv_heads * d), "o": (hidden, hidden), "gateup": (hidden, 2 * inter),
        "down": (inter, hidden)}.items()}
    kc = [torch.randn(batch, heads, context, d, device="cuda", dtype=BF16) for _ in range(layers)]
    vc = [torch.randn(batch, heads, context, d, device="cuda", dtype=BF16) for _ in range(layers)]
    x = torch.randn(batch, hidden, device="cuda", dtype=BF16)

    def step():
        h = x
        for i in range(layers):
            qkv = h @ w["qkv"]
            q = qkv[:, :hidden].view(batch, heads, 1, d)
            a = F.scaled_dot_product_attention(q, kc[i], vc[i]).reshape(batch, hidden)
            h = h + a @ w["o"]
            gu = h @ w["gateup"]
            h = h + (F.silu(gu[:, :inter]) * gu[:, inter:]) @ w["down"]
        return h

    weight_bytes = 2.0 * layers * sum(t.numel() for t in w.values())
    # the cache read per step: K and V, here expanded to all heads as SDPA reads it (a GQA kernel reads kv_heads only)
    kv_bytes = 2.0 * layers * 2 * batch * heads * context * d
    flops = 2.0 * batch * layers * sum(t.numel() for t in w.values()) + 4.0 * batch * layers * heads * context * d
    record("decode", f"decode step llama3-8b-shaped {layers}L ctx{context} b{batch}", "bfloat16",
           {"layers": layers, "hidden": hidden, "inter": inter, "heads": heads, "kv_heads": kv_heads, "context": context,
                "batch": batch, "weight_bytes": weight_bytes, "kv_bytes": kv_bytes}, flops, weight_bytes + kv_bytes, step,
           warmup=3, iters=5, repeats=5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    # diffusion UNet / ControlNet at 512x768 (latent 64x96 -> 32x48, 16x24, 8x12), SD-1.5 widths, batch 1 and 2 (CFG)
    for b in (1, 2):
        for tokens, heads, d in ((6144, 8, 40), (1536, 8, 80), (384, 8, 160), (96, 8, 160)):
            attention(b, heads, tokens, tokens, d)
            attention(b, heads, tokens, 77, d, tag=" cross")
    attention(1, 16, 4096, 4096, 64)             # SDXL-like / ViT-L
    attention(1, 12, 197, 197, 64)               # ViT-B/16
    attention(8, 32, 2048, 2048, 128, BF16)      # LLM prefill
    attention(1, 32, 1, 2048, 128, BF16, " decode")
    attention(1, 32, 1, 8192, 128, BF16, " decode")
    for c, hh, ww in ((320, 64, 96), (320, 32, 48), (640, 32, 48), (640, 16, 24), (1280, 16, 24), (1280, 8, 12),
                      (2560, 8, 12)):
        groupnorm(c, hh, ww)
    for tokens, c in ((6144, 320), (1536, 640), (384, 1280), (96, 1280), (197, 768), (2048, 4096)):
        layernorm(tokens, c)
    for c, k, hh, ww in ((320, 320, 64, 96), (320, 320, 32, 48), (640, 640, 32, 48), (640, 640, 16, 24),
                         (1280, 1280, 16, 24), (1280, 1280, 8, 12), (2560, 1280, 8, 12), (4, 320, 64, 96)):
        conv(1, c, k, hh, ww)
    conv(1, 320, 320, 64, 96, stride=2)
    conv(1, 640, 1280, 16, 24, r=1)
    conv(32, 64, 64, 56, 56)                      # ResNet at batch 32 (what the recordings know)
    conv(32, 256, 256, 14, 14)
    # transformer projections and feed-forward (M = tokens), FP16
    for tokens, c in ((6144, 320), (1536, 640), (384, 1280), (96, 1280)):
        gemm(tokens, c, c)
        gemm(tokens, 8 * c, c, tag=" geglu-in")
        gemm(tokens, c, 4 * c, tag=" ff-out")
    gemm(77, 320, 768, tag=" cross-kv")
    for s in (1024, 4096, 8192):
        gemm(s, s, s, BF16)
        gemm(s, s, s, F16)
        gemm(s, s, s, "fp8")
    gemm(2048, 14336, 4096, BF16)
    gemm(2048, 14336, 4096, "fp8")
    # LLM decode GEMMs: M = batch (1..64), memory bound on the weights
    for m in (1, 8, 64):
        for n, k in ((4096, 4096), (6144, 4096), (28672, 4096), (4096, 14336), (128256, 4096)):
            gemm(m, n, k, BF16, kind="decode-gemm")
    gemm(1, 28672, 4096, "fp8", kind="decode-gemm")
    decode_step()
    decode_step(context=8192)
    decode_step(batch=8)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "h200_kernels.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(ROWS[0]))
        w.writeheader()
        w.writerows(ROWS)
    props = torch.cuda.get_device_properties(0)
    meta = {"device": torch.cuda.get_device_name(0), "sm_count": props.multi_processor_count,
            "memory_gib": props.total_memory / 2**30, "l2_bytes": getattr(props, "L2_cache_size", None),
            "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "python": platform.python_version(), "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "label": "PyTorch kernels on H200 (not TensorRT)", "method": __doc__.strip()}
    with open(os.path.join(args.out, "h200_kernels.meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))
    import shutil
    import subprocess

    if shutil.which("nvidia-smi"):  # clocks and power limit, for the record
        print(subprocess.run(["nvidia-smi", "--query-gpu=name,clocks.sm,clocks.max.sm,power.limit",
                              "--format=csv"], capture_output=True, text=True, check=False).stdout)


if __name__ == "__main__":
    main()
