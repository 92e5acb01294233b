"""SmoothQuant (Xiao et al., 2023): move activation outliers into the weights, then quantize to INT8 as usual.

LLM activations carry a few channels 10-100x larger than the rest; one per-tensor INT8 scale then spends its levels
on them. Per channel j of a weighted MatMul's input, ``s_j = max|x_j| ** alpha / max|W_j| ** (1 - alpha)``; the
input is divided by ``s`` (folded into the RMSNorm gamma that writes it when it can be, else a Mul) and the weight
rows multiplied by it, which leaves the product unchanged in float. The smoothed model then goes through the
workbench's own calibration and TensorRT Q/DQ placement, so the result is the Q/DQ model TensorRT reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection

import numpy as np
import onnx
import pandas as pd

from ..errors import ConfigError
from ..model import Model, load_model
from .channel_stats import collect_channel_stats, weight_of, weighted_matmuls
from .weight_only import apply_input_scales

DEFAULT_ALPHA = 0.5  # the paper's default migration strength (0.75-0.85 for models with heavier outliers)


@dataclass
class SmoothedModel:
    """The smoothed float model (same function as the input) and, per smoothed tensor, the spread it removed."""

    model: Model
    report: pd.DataFrame  # tensor, matmuls, alpha, outlier_ratio_before, outlier_ratio_after, folded


def smooth(
    model: Any,
    data: Any,
    *,
    alpha: float = DEFAULT_ALPHA,
    exclude_nodes: Collection[str] = (),
    samples: int | None = None,
    batch_size: int | None = None,
) -> SmoothedModel:
    """``model`` with SmoothQuant's per-channel scales applied (a float model computing the same outputs).

    ``data``: calibration data (anything ``calibrate`` takes). The MatMuls that read one tensor share its scales
    (their weights' per-row maxima are combined). ``outlier_ratio``: the largest channel maximum over the median
    one, before and after — what a per-tensor INT8 scale has to cover."""
    model = load_model(model)
    if not 0.0 <= float(alpha) <= 1.0:
        raise ConfigError(f"SmoothQuant alpha {alpha} must be in [0, 1] (0.5 is the paper's default)")
    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    graph = proto.graph
    chosen = [i for i, why in weighted_matmuls(graph, exclude_nodes=set(exclude_nodes)) if not why]
    if not chosen:
        raise ConfigError(f"{model.label} has no MatMul with a 2-D weight to smooth")
    by_input: dict[str, list[int]] = {}
    for index in chosen:
        by_input.setdefault(graph.node[index].input[0], []).append(index)
    stats = collect_channel_stats(model, data, list(by_input), samples=samples, batch_size=batch_size, max_rows=0)
    factors, rows = {}, []
    for tensor, indices in by_input.items():
        weights = [weight_of(graph, graph.node[i]) for i in indices]
        x_max = np.maximum(stats[tensor].absmax, 1e-5)
        w_max = np.maximum(np.max([np.abs(w).max(axis=1) for w in weights], axis=0), 1e-5)
        s = (x_max**alpha / w_max ** (1.0 - alpha)).astype(np.float32)
        s = np.clip(s, 1e-4, 1e4)
        for i, w in zip(indices, weights):
            initializer = next(t for t in graph.initializer if t.name == graph.node[i].input[1])
            initializer.CopyFrom(onnx.numpy_helper.from_array((w * s[:, None]).astype(np.float32), initializer.name))
        factors[tensor] = 1.0 / s
        after = x_max / s
        rows.append(
            (
                tensor,
                len(indices),
                float(alpha),
                float(x_max.max() / np.median(x_max)),
                float(after.max() / np.median(after)),
            )
        )
    folded_before = len(factors)
    folded = apply_input_scales(graph, factors, by_input)
    from .graph_edit import toposorted

    proto = toposorted(proto)
    out = load_model(proto, name=f"{model.name}_smoothed")
    out.label = f"{model.label} (SmoothQuant alpha {alpha:g})"
    report = pd.DataFrame(rows, columns=["tensor", "matmuls", "alpha", "outlier_ratio_before", "outlier_ratio_after"])
    report.attrs["folded"] = f"{folded} of {folded_before} scales folded into the producing weights"
    return SmoothedModel(out, report)


def smoothquant(
    model: Any,
    data: Any,
    *,
    alpha: float = DEFAULT_ALPHA,
    calibrator: str = "minmax",
    exclude_nodes: Collection[str] = (),
    samples: int | None = None,
    batch_size: int | None = None,
    **quantize_options: Any,
) -> Any:
    """SmoothQuant INT8 for TensorRT: ``smooth`` then the workbench's calibration and Q/DQ placement.

    Returns the QuantizationResult of the smoothed model (its notes say how much outlier spread was removed)."""
    from .calibrate import calibrate
    from .qdq import quantize

    smoothed = smooth(model, data, alpha=alpha, exclude_nodes=exclude_nodes, samples=samples, batch_size=batch_size)
    table = calibrate(smoothed.model, data, calibrator, samples=samples, batch_size=batch_size, only_quantized=True)
    result = quantize(smoothed.model, table, **quantize_options)
    worst = smoothed.report.sort_values("outlier_ratio_before", ascending=False).iloc[0]
    result.notes.append(
        f"SmoothQuant alpha {alpha:g}: {smoothed.report.attrs['folded']}; largest channel over the "
        f"median one {worst.outlier_ratio_before:.1f}x -> {worst.outlier_ratio_after:.1f}x "
        f"('{worst.tensor}')"
    )
    result.calibrator = f"smoothquant-{calibrator}"
    return result
