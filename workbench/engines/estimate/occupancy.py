"""Small kernels: how much of the GPU a batch-1 or small-spatial layer can use, and what the L2 cache saves it.

- Wave fill: a conv/GEMM is cut into 128x128 output tiles, one per SM at a time, so a layer with fewer tiles than
  SMs (or a last partial wave) leaves SMs idle. Libraries split the reduction (K) dimension of such layers across
  SMs (split-K / stream-K) when K is deep enough: on the H200 (``data/h200_small_kernels.csv``, PyTorch kernels)
  an FP16 GEMM of 64 tiles (M = N = 1,024, K = 2,560) ran at 565 TFLOP/s, and a 1,280 -> 1,280 3x3 convolution at
  16x24 (15 tiles) at 390: far above the 48 % and 11 % of the SMs their plain tile counts would fill. So the fill is
  the best over K splits of at least ``SPLIT_K_MIN`` deep.
- L2 residency: a tensor the previous layer has just written is still in L2 when it fits, so a memory-bound layer
  whose activations fit reads them at L2 speed. On the H200 an FP16 add of 8 MiB tensors took 4.0 us hot against
  10.0 us cold, and the hot rate between 1 and 8 MiB was ``L2_SPEEDUP`` x 4.8 TB/s; beyond about half the L2 the
  gain fades (32 MiB tensors: 25 vs 28 us). Weights are read once per inference, from DRAM. Modelled on Hopper only
  (``l2_speedup``), where it was measured.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .gpus import GpuSpec

TILE = 128
SPLIT_K_MIN = 256  # each K slice keeps a main loop of at least this depth (a shallower split costs more than it fills)
MAX_SPLIT = (
    3  # fitted on the H200 conv/GEMM rows: 1, 2, 3, 4, 16 splits gave log-rms error 0.63, 0.42, 0.37, 0.38, 0.53
)
L2_SPEEDUP = 1.9  # L2 over DRAM bandwidth: H200 hot adds, 1-8 MiB: (24 - 3) MB in (4.0 - 1.7) us = 9.1 TB/s
L2_RESIDENT_SHARE = 0.5  # the share of the L2 a layer's activations can count on (the rest: weights, other tensors)


def wave_fill(m: ArrayLike, n: ArrayLike, k: ArrayLike, sm_count: int) -> np.ndarray:
    """Fraction of the SM-time a conv/GEMM's tiles keep busy: tiles (x the best K split) against whole waves."""
    rows = np.nan_to_num(np.asarray(m, dtype=float), nan=TILE)
    cols = np.nan_to_num(np.asarray(n, dtype=float), nan=TILE)
    depth = np.nan_to_num(np.asarray(k, dtype=float), nan=0.0)
    tiles = np.ceil(np.maximum(rows, 1) / TILE) * np.ceil(np.maximum(cols, 1) / TILE)
    best = tiles / (np.ceil(tiles / sm_count) * sm_count)
    for split in range(2, MAX_SPLIT + 1):
        work = tiles * split
        fill = work / (np.ceil(work / sm_count) * sm_count)
        best = np.where(depth >= split * SPLIT_K_MIN, np.maximum(best, fill), best)
    return best


def l2_hit_share(activation_bytes: ArrayLike, l2_mb: float) -> np.ndarray:
    """Share of a layer's activation traffic served by L2: all of it while it fits in ``L2_RESIDENT_SHARE`` of the
    cache, then that part of the cache over the traffic."""
    act = np.maximum(np.nan_to_num(np.asarray(activation_bytes, dtype=float)), 1.0)
    return np.minimum(1.0, L2_RESIDENT_SHARE * l2_mb * 2**20 / act)


def l2_speedup(gpu: GpuSpec) -> float:
    """L2 over DRAM bandwidth where it was measured: Hopper (the H200; the H100 has the same chip). Elsewhere 1: the
    recordings' GPUs (A100, RTX 3090, TITAN RTX) were not measured, and a fit on two of them that assumed the H200's
    ratio predicted the third worse (TITAN RTX left out: per-layer 35 % against 26 % without)."""
    return L2_SPEEDUP if gpu.architecture == "Hopper" else 1.0


def memory_seconds(nbytes: ArrayLike, weight_bytes: ArrayLike, gpu: GpuSpec, *, resident: bool = True) -> np.ndarray:
    """Seconds at 100 % efficiency to move ``nbytes`` (of which ``weight_bytes`` are weights, read from DRAM): the
    activations at L2 speed for the share that fits (``resident``: they were just written by the layer before)."""
    total = np.asarray(nbytes, dtype=float)
    weights = np.minimum(np.nan_to_num(np.asarray(weight_bytes, dtype=float)), total)
    act = total - weights
    hit = l2_hit_share(act, gpu.l2_mb) if resident else 0.0
    return (weights + act * (1 - hit) + act * hit / l2_speedup(gpu)) / (gpu.memory_bandwidth_gbs * 1e9)
