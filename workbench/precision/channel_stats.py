"""Per-channel activation statistics of the inputs of weighted MatMuls: what AWQ and SmoothQuant scale by.

Both methods look at the last axis of a MatMul's activation input (the K channels its weight [K, N] reduces over):
AWQ weighs channels by their mean magnitude, SmoothQuant by their maximum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ConfigError
from .qdq import MIN_GEMM_FEATURES

MAX_KEPT_ROWS = 512  # activation rows (tokens) kept per tensor for the search of AWQ's scales


@dataclass
class ChannelStats:
    """One activation tensor: per-channel max |x| and mean |x| over the data, and a sample of its rows."""

    tensor: str
    absmax: np.ndarray
    mean_abs: np.ndarray
    rows: np.ndarray
    count: int = 0
    consumers: list[int] = field(default_factory=list)  # indices in graph.node of the MatMuls that read it


def weighted_matmuls(
    graph: onnx.GraphProto, *, exclude_nodes: Collection[str] = (), min_features: int = MIN_GEMM_FEATURES
) -> list[tuple[int, str]]:
    """(index in graph.node, why not) of every MatMul whose B is a 2-D float initializer [K, N]; why is "" when it
    qualifies (K and N at least ``min_features``, not excluded)."""
    initializers = {t.name: t for t in graph.initializer}
    out = []
    for index, node in enumerate(graph.node):
        if node.op_type != "MatMul" or len(node.input) < 2 or node.input[1] not in initializers:
            continue
        weight = initializers[node.input[1]]
        if len(weight.dims) != 2 or weight.data_type != 1:
            continue
        k, n = (int(d) for d in weight.dims)
        why = (
            "excluded"
            if node.name in exclude_nodes
            else f"K={k}, N={n}: under {min_features}, kept in float"
            if min(k, n) < min_features
            else ""
        )
        out.append((index, why))
    return out


def weight_of(graph: onnx.GraphProto, node: onnx.NodeProto) -> np.ndarray:
    """The float32 values of ``node``'s weight (its second input, an initializer)."""
    initializer = next(t for t in graph.initializer if t.name == node.input[1])
    return numpy_helper.to_array(initializer).astype(np.float32)


def collect_channel_stats(
    model: Any,
    data: Any,
    tensors: list[str],
    *,
    samples: int | None = None,
    batch_size: int | None = None,
    max_rows: int = MAX_KEPT_ROWS,
) -> dict[str, ChannelStats]:
    """One pass of ONNX Runtime over ``data`` (anything ``calibrate`` takes) with ``tensors`` as extra outputs."""
    from .calibrate import augmented_session
    from .data import CalibrationData

    stream = (
        data
        if isinstance(data, CalibrationData)
        else CalibrationData(data, model, samples=samples, batch_size=batch_size)
    )
    session = augmented_session(model, tensors)
    stats: dict[str, ChannelStats] = {}
    rng = np.random.default_rng(0)
    for batch_index, feeds in enumerate(stream):
        try:
            values = session.run(tensors, feeds)
        except Exception as exc:  # ONNX Runtime raises its own classes
            raise ConfigError(f"calibration batch {batch_index} fails in ONNX Runtime: {exc}") from None
        for name, value in zip(tensors, values):
            rows = np.asarray(value, np.float32).reshape(-1, value.shape[-1])
            if name not in stats:
                zeros = np.zeros(rows.shape[1], np.float64)
                stats[name] = ChannelStats(name, zeros.copy(), zeros.copy(), rows[:0])
            s = stats[name]
            s.absmax = np.maximum(s.absmax, np.abs(rows).max(axis=0))
            s.mean_abs = s.mean_abs + np.abs(rows).sum(axis=0)
            s.count += len(rows)
            if len(s.rows) < max_rows:
                take = rows[rng.permutation(len(rows))[: max_rows - len(s.rows)]]
                s.rows = np.concatenate([s.rows, take])
    if not stats:
        raise ConfigError(f"no calibration samples for {model.label}: the data gave no batch")
    for s in stats.values():
        s.mean_abs = s.mean_abs / max(s.count, 1)
    return stats
