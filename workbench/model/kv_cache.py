"""KV-cache size of an LLM decoder from its ``past_key_values`` inputs: bytes per token, and at a profile's maximum.

Read from the inputs' own shapes and element type (an FP16 cache is half an FP32 one), not from a config file: the
ONNX file is all a user may have. The length axis is the dimension whose name says "past" (optimum's
``past_sequence_length``), else the second to last one ([batch, kv_heads, length, head_size], as every exporter
writes it).
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .tensors import TensorSpec

_CACHE_NAME = re.compile(r"past|cache", re.IGNORECASE)
COLUMNS = ["input", "dtype", "length_axis", "bytes_per_token", "max_tokens", "bytes_at_max"]


def _element_bytes(dtype: str) -> float:
    if dtype in ("bfloat16", "float16"):
        return 2
    if dtype.startswith("float8"):
        return 1
    try:
        return float(np.dtype(dtype).itemsize)
    except TypeError:
        return 0.0


def kv_cache_inputs(inputs: Iterable[TensorSpec]) -> list[TensorSpec]:
    """The inputs that hold a KV cache: named past/cache, floating point, rank 3 or more."""
    return [
        s
        for s in inputs
        if _CACHE_NAME.search(s.name)
        and s.shape is not None
        and len(s.shape) >= 3
        and (s.dtype.startswith("float") or s.dtype == "bfloat16")
    ]


def length_axis(spec: TensorSpec) -> int:
    """The axis that grows by one per token."""
    assert spec.shape is not None
    named = [i for i, d in enumerate(spec.shape) if isinstance(d, str) and "past" in d.lower()]
    return named[0] if named else len(spec.shape) - 2


def kv_cache_table(
    inputs: Iterable[TensorSpec], max_shapes: Mapping[str, Sequence[int]] | Sequence[Mapping[str, Sequence[int]]]
) -> pd.DataFrame:
    """One row per cache input (columns ``COLUMNS``) and a last row "total": the bytes one more token adds to the
    cache, and the cache at ``max_shapes`` (one profile's maximum shapes, or several profiles: the largest of each
    input). Empty when the model has no cache inputs."""
    profiles = [max_shapes] if isinstance(max_shapes, Mapping) else list(max_shapes)
    rows = []
    for spec in kv_cache_inputs(inputs):
        shapes = [tuple(p[spec.name]) for p in profiles if spec.name in p]
        if not shapes:
            continue
        shape = max(shapes, key=math.prod)
        axis = length_axis(spec)
        per_token = math.prod(d for i, d in enumerate(shape) if i != axis) * _element_bytes(spec.dtype)
        rows.append((spec.name, spec.dtype, axis, int(per_token), int(shape[axis]), int(per_token * shape[axis])))
    df = pd.DataFrame(rows, columns=COLUMNS)
    if len(df):
        total = (
            "total",
            "",
            -1,
            int(df["bytes_per_token"].sum()),
            int(df["max_tokens"].max()),
            int(df["bytes_at_max"].sum()),
        )
        df = pd.concat([df, pd.DataFrame([total], columns=COLUMNS)], ignore_index=True)
    return df


def describe_kv_cache(table: pd.DataFrame) -> str | None:
    """ "KV cache: 65,536 bytes per token (2 inputs); 8.00 MiB at the profile's maximum (128 tokens)", or None."""
    if not len(table):
        return None
    total = table.iloc[-1]
    return (
        f"KV cache: {total.bytes_per_token:,} bytes per token ({len(table) - 1} inputs); "
        f"{total.bytes_at_max / 2**20:,.2f} MiB at the profile's maximum ({total.max_tokens} tokens)"
    )
