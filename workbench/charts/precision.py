"""Precision charts: activation histograms with each calibrator's threshold, the int8 mapping, the error-vs-amax
curve, accuracy bars and per-layer sensitivity bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from typing import Mapping, Sequence, TYPE_CHECKING

from ..errors import ConfigError
from ..precision.plan import is_quantized
from .performance import require_columns, styled

if TYPE_CHECKING:
    from ..precision import CalibrationTable

_COLORS = {"minmax": "#d62728", "entropy": "#9467bd", "entropy2": "#1f77b4", "percentile": "#2ca02c", "mse": "#ff7f0e"}


def activation_histogram(
    tables: CalibrationTable | Sequence[CalibrationTable], tensor: str, *, max_bars: int = 512
) -> go.Figure:
    """The |x| histogram of ``tensor`` (log scale) with each calibration table's threshold (amax) marked.

    ``tables``: one CalibrationTable or a list of them (same model and data; the first one's histogram is drawn).
    """
    tables = tables if isinstance(tables, (list, tuple)) else [tables]  # type: ignore[list-item]
    if not tables:
        raise ConfigError("activation_histogram needs at least one calibration table")
    hist = next((t.histograms.get(tensor) for t in tables if t.histograms.get(tensor) is not None), None)
    if hist is None:
        known = ", ".join(list(tables[0].histograms)[:8])
        raise ConfigError(f"no histogram of tensor '{tensor}' in these tables (tensors: {known}, …)")
    counts, edges = hist.histogram()
    if len(counts) > max_bars:  # merge neighbouring bins for drawing; thresholds stay exact
        factor = int(np.ceil(len(counts) / max_bars))
        pad = (-len(counts)) % factor
        counts = np.append(counts, np.zeros(pad, counts.dtype)).reshape(-1, factor).sum(axis=1)
        edges = np.append(edges[::factor], edges[-1] + (pad * (edges[1] - edges[0])))[: len(counts) + 1]
    centers = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(
        go.Bar(
            x=centers,
            y=np.maximum(counts, 0),
            width=edges[1] - edges[0],
            name="|x| count",
            marker_color="#7f7f7f",
            hovertemplate="|x| ≈ %{x:.4g}<br>%{y:,} values",
        )
    )
    for table in tables:
        row = table.frame.set_index("tensor").loc[tensor] if tensor in set(table.frame.tensor) else None
        if row is None:
            continue
        label = table.calibrator + (f" {table.percentile:g}" if table.percentile else "")
        fig.add_vline(
            x=float(row.amax),
            line_color=_COLORS.get(table.calibrator, "black"),
            line_dash="dash",
            annotation_text=f"{label}: {row.amax:.3g}",
            annotation_textangle=-90,
        )
    fig.update_yaxes(type="log")
    return styled(
        fig,
        f"Activation histogram of {tensor} with calibration thresholds",
        "|x|",
        "count (log scale)",
        showlegend=False,
    )


def quantization_mapping(amax: float, *, values: np.ndarray | None = None, bits: int = 8) -> go.Figure:
    """Symmetric linear quantization as TensorRT and ONNX QuantizeLinear do it: q = clip(round(x / scale), -128, 127)
    with scale = amax / 127 and zero point 0, so [-amax, amax] maps to [-127, 127] and only values below -amax
    reach -128 (NVIDIA TensorRT Developer Guide, "Working with Quantized Types"). Values past amax clip, values
    inside round. With ``values``, their rounding and clipping errors are shown."""
    if not amax > 0:
        raise ConfigError(f"amax must be positive, got {amax}")
    levels = 2 ** (bits - 1) - 1
    lowest = -levels - 1
    scale = amax / levels
    span = 1.5 * amax if values is None else max(1.5 * amax, float(np.abs(values).max()))
    x = np.linspace(-span, span, 2001)
    q = np.clip(np.round(x / scale), lowest, levels)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=x / scale, name="ideal x / scale", line=dict(dash="dot", color="gray")))
    fig.add_trace(
        go.Scatter(x=x, y=q, name=f"int{bits}: clip(round(x / scale), {lowest}, {levels})", line=dict(shape="hv"))
    )
    if values is not None:
        v = np.asarray(values, dtype=np.float64).ravel()
        qv = np.clip(np.round(v / scale), lowest, levels)
        error = v - qv * scale
        fig.add_trace(
            go.Scatter(
                x=v,
                y=qv,
                mode="markers",
                name="values",
                marker=dict(size=6),
                customdata=error,
                hovertemplate="x %{x:.4g} → q %{y}<br>error %{customdata:.3g}",
            )
        )
    for side in (-amax, amax):
        fig.add_vline(x=side, line_dash="dash", line_color="red")
    fig.add_annotation(x=amax, y=levels, text=f"amax {amax:.3g} → {levels}", showarrow=True)
    return styled(
        fig,
        f"Symmetric linear quantization: scale = amax / {levels} = {scale:.3g}",
        "real value x",
        f"int{bits} value q",
    )


def accuracy_bars(frame: pd.DataFrame, *, metric: str = "accuracy") -> go.Figure:
    """One bar per variant (e.g. fp32, fp16, int8 per calibrator) of ``metric`` (from precision.accuracy_table)."""
    require_columns(frame, ["variant", metric], "accuracy_bars")
    data = frame.dropna(subset=[metric])
    if data.empty:
        raise ConfigError(f"accuracy_bars: no row has a value for '{metric}'")
    colors = [
        _COLORS.get(c, "#7f7f7f") if is_quantized(p) else "#444"
        for p, c in zip(data.get("precision", [""] * len(data)), data.get("calibrator", [""] * len(data)))
    ]
    text = [f"{v:.2%}" if metric in ("accuracy", "top1_agreement") else f"{v:.3g}" for v in data[metric]]
    fig = go.Figure(go.Bar(x=data["variant"], y=data[metric], marker_color=colors, text=text, textposition="outside"))
    if metric in ("accuracy", "top1_agreement"):
        low = float(data[metric].min())
        fig.update_yaxes(range=[max(0.0, low - 0.05), 1.0])
    return styled(fig, f"{metric.replace('_', ' ')} by precision and calibrator", "", metric)


def amax_error_curve(
    values: np.ndarray, *, amax: Mapping[str, float] | None = None, bits: int = 8, points: int = 60
) -> go.Figure:
    """Mean squared quantization error of ``values`` as amax moves, split into rounding (inside ±amax) and clipping
    (beyond it): the trade-off every calibrator settles. ``amax``: thresholds to mark, e.g. {"minmax": 3.9}."""
    x = np.abs(np.asarray(values, dtype=np.float64).ravel())
    if x.size == 0 or not x.max() > 0:
        raise ConfigError("amax_error_curve: values must hold at least one non-zero number")
    levels = 2 ** (bits - 1) - 1
    grid = np.linspace(x.max() / points, x.max(), points)
    rounding, clipping = [], []
    for a in grid:
        scale = a / levels
        inside = x <= a
        rounding.append(float(np.sum((x[inside] - np.round(x[inside] / scale) * scale) ** 2)) / x.size)
        clipping.append(float(np.sum((x[~inside] - a) ** 2)) / x.size)
    total = np.add(rounding, clipping)
    fig = go.Figure(
        [
            go.Scatter(x=grid, y=rounding, name="rounding error (|x| ≤ amax)", line=dict(dash="dot")),
            go.Scatter(x=grid, y=clipping, name="clipping error (|x| > amax)", line=dict(dash="dot")),
            go.Scatter(x=grid, y=total, name="total mean squared error", line=dict(width=3, color="black")),
        ]
    )
    for name, a in dict(amax or {}).items():
        fig.add_vline(
            x=float(a),
            line_dash="dash",
            line_color=_COLORS.get(name, "#7f7f7f"),
            annotation_text=name,
            annotation_position="top",
        )
    fig.update_yaxes(type="log")
    return styled(fig, f"Quantization error vs amax (int{bits}, scale = amax / {levels})", "amax", "mean squared error")


def sensitivity_bars(frame: pd.DataFrame, *, metric: str = "sqnr_db") -> go.Figure:
    """Per-layer sensitivity (from precision.layer_sensitivity): the output's SQNR, or accuracy, when only that layer
    is INT8. The lowest bars are the layers to keep in higher precision."""
    require_columns(frame, ["node", metric], "sensitivity_bars")
    data = frame.sort_values(metric, ascending=True, kind="stable")
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
    ops = sorted(data["op"].unique()) if "op" in data.columns else []
    colors = [palette[ops.index(op) % len(palette)] for op in data["op"]] if ops else None
    fig = go.Figure(
        go.Bar(
            x=data[metric],
            y=data["node"],
            orientation="h",
            marker_color=colors,
            text=[f"{v:.1f} dB" if metric == "sqnr_db" else f"{v:.3g}" for v in data[metric]],
            textposition="outside",
        )
    )
    fig.update_yaxes(autorange="reversed")
    label = "SQNR of the output (dB, higher is better)" if metric == "sqnr_db" else metric
    return styled(fig, "Per-layer INT8 sensitivity: only that layer quantized", label, "")
