"""The GPU table: peak dense throughput per precision, memory bandwidth, SMs, L2 (``data/gpus.csv``, sources in
``data/SOURCES.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ...errors import ConfigError

GPU_TABLE = Path(__file__).resolve().parent / "data" / "gpus.csv"
PRECISION_COLUMNS = {
    "float32": "fp32_tflops",
    "tf32": "tf32_tflops",
    "float16": "fp16_tflops",
    "float16-acc16": "fp16_acc16_tflops",
    "bfloat16": "bf16_tflops",
    "int8": "int8_tops",
    "float8": "fp8_tflops",
}


@lru_cache(maxsize=1)
def gpus() -> pd.DataFrame:
    """The GPU table as a DataFrame (one row per GPU; throughput in TFLOPS/TOPS, bandwidth in GB/s)."""
    return pd.read_csv(GPU_TABLE)


def _key(name: str) -> str:
    return str(name).strip().lower().replace(" ", "-").replace("_", "-")


@dataclass(frozen=True)
class GpuSpec:
    name: str
    label: str
    architecture: str
    peak_tflops: dict  # precision (float32, tf32, float16, bfloat16, int8, float8) -> TFLOPS/TOPS or None
    memory_bandwidth_gbs: float
    sm_count: int
    l2_mb: float
    source: str

    def peak_flops(self, precision: str, tensor_cores: bool = True, accumulate: str = "") -> tuple[float, str]:
        """FLOP/s a layer of this precision can reach and the rate used (TensorRT enables TF32 for FP32 by default;
        a precision the GPU lacks falls back to the next wider one it has, as TensorRT would).

        FP16 with ``accumulate`` "float16" or unknown ("") uses the FP16-accumulate rate (twice the FP32-accumulate
        one on GeForce cards): TensorRT picked FP16-accumulating kernels for all but the first convolution of every
        recorded FP16 engine."""
        if not tensor_cores:  # CUDA cores: FP32 rate, x2 for packed FP16, x4 for INT8 dot products (dp4a)
            factor = {"float16": 2, "bfloat16": 2, "int8": 4, "float8": 2}.get(precision, 1)
            return self.peak_tflops["float32"] * factor * 1e12, f"{precision} (CUDA cores)"
        fp16 = ["float16", "float32"] if accumulate == "float32" else ["float16-acc16", "float16", "float32"]
        chain = {
            "float32": ["tf32", "float32"],
            "float16": fp16,
            "bfloat16": ["bfloat16", "float16", "float32"],
            "int8": ["int8", "float16", "float32"],
            "float8": ["float8", "float16", "float32"],
        }.get(precision, ["float32"])
        for name in chain:
            value = self.peak_tflops.get(name)
            if value:
                return value * 1e12, name
        return self.peak_tflops["float32"] * 1e12, "float32"


def gpu_for_device(device_name: str) -> GpuSpec:
    """The table's GPU for a CUDA device name (``torch.cuda.get_device_name()``, trtexec's "Selected Device")."""
    table = gpus()
    match = table[table["cuda_device_name"].str.lower() == str(device_name).strip().lower()]
    if match.empty:
        raise ConfigError(
            f"CUDA device '{device_name}' is not in the GPU table (known devices: "
            f"{', '.join(table['cuda_device_name'])})"
        )
    return gpu_spec(match.iloc[0]["name"])


def gpu_spec(name: GpuSpec | str) -> GpuSpec:
    """The named GPU (case-insensitive: a100, h100, t4, rtx4090, ...); ConfigError listing the known ones."""
    if isinstance(name, GpuSpec):
        return name
    table = gpus()
    match = table[table["name"] == _key(name)]
    if match.empty:
        raise ConfigError(f"GPU '{name}' is not in the GPU table (known GPUs: {', '.join(table['name'])})")
    row = match.iloc[0]
    peaks = {p: (float(row[c]) if pd.notna(row[c]) else None) for p, c in PRECISION_COLUMNS.items()}
    return GpuSpec(
        name=row["name"],
        label=row["label"],
        architecture=row["architecture"],
        peak_tflops=peaks,
        memory_bandwidth_gbs=float(row["memory_bandwidth_gbs"]),
        sm_count=int(row["sm_count"]),
        l2_mb=float(row["l2_mb"]),
        source=row["source"],
    )
