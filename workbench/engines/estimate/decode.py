"""LLM decode throughput: each generated token reads every weight once and the whole KV cache once, and does
2 FLOPs per weight per sequence in the batch. Tokens/s per GPU follows from the slower of the two, and the bound is
named. Checked against a Llama-3-8B-shaped decode step on an H200 (``data/h200_kernels.csv``, benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...errors import ConfigError
from .gpus import gpu_spec

if TYPE_CHECKING:
    from .gpus import GpuSpec

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float8": 1, "int8": 1, "int4": 0.5, "float4": 0.5}
# Fractions of peak a decode step reaches, from the H200 measurement (PyTorch, BF16): weight-streaming GEMMs at
# batch 1 moved 3.0-4.4 TB/s of the 4.8 TB/s (a whole 32-layer step 3.35 TB/s, 70 %); compute-bound GEMMs ~0.7.
DECODE_MEMORY_EFFICIENCY = 0.70
DECODE_COMPUTE_EFFICIENCY = 0.70


@dataclass(frozen=True)
class DecodeEstimate:
    gpu: str
    tokens_per_s: float  # generated tokens per second, over the whole batch
    step_ms: float  # one decode step (one token for each sequence in the batch)
    bound: str  # "memory (weights + KV cache)" or "compute"
    weight_bytes: float
    kv_bytes: float
    flops: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def kv_cache_bytes(
    layers: int, kv_heads: int, head_dim: int, context: int, batch: int = 1, dtype: str = "float16"
) -> float:
    """K and V of every layer for ``context`` tokens of each sequence."""
    return 2.0 * layers * kv_heads * head_dim * context * batch * DTYPE_BYTES[dtype]


def decode_estimate(
    parameters: float,
    gpu: GpuSpec | str,
    *,
    weight_dtype: str = "bfloat16",
    kv_bytes: float = 0.0,
    batch: int = 1,
    context: int = 0,
    layers: int = 0,
    hidden: int = 0,
    memory_efficiency: float = DECODE_MEMORY_EFFICIENCY,
    compute_efficiency: float = DECODE_COMPUTE_EFFICIENCY,
) -> DecodeEstimate:
    """Tokens/s of a decoder at the decode step (one new token per sequence): time = max(bytes / bandwidth,
    FLOPs / peak) at measured efficiencies; bytes = weights + ``kv_bytes``; FLOPs = 2 x parameters x batch plus
    attention over the cache (4 x layers x hidden x context x batch)."""
    if parameters <= 0 or batch < 1:
        raise ConfigError(f"decode estimate: parameters must be > 0 and batch >= 1 (got {parameters}, {batch})")
    if weight_dtype not in DTYPE_BYTES:
        raise ConfigError(f"decode estimate: weight dtype '{weight_dtype}' unknown (known: {', '.join(DTYPE_BYTES)})")
    spec = gpu_spec(gpu)
    weight_bytes = parameters * DTYPE_BYTES[weight_dtype]
    flops = 2.0 * parameters * batch + 4.0 * layers * hidden * context * batch
    memory_s = (weight_bytes + kv_bytes) / (spec.memory_bandwidth_gbs * 1e9 * memory_efficiency)
    precision = {"int4": "int8", "float4": "float8"}.get(weight_dtype, weight_dtype)
    peak, _ = spec.peak_flops(precision if precision != "float32" else "float16")
    compute_s = flops / (peak * compute_efficiency)
    step = max(memory_s, compute_s)
    return DecodeEstimate(
        gpu=spec.name,
        tokens_per_s=batch / step,
        step_ms=step * 1e3,
        bound="memory (weights + KV cache)" if memory_s >= compute_s else "compute",
        weight_bytes=weight_bytes,
        kv_bytes=kv_bytes,
        flops=flops,
    )
