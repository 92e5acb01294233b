"""Precision charts: activation histograms with each calibrator's threshold, the int8 mapping, accuracy bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..errors import ConfigError
from .performance import require_columns, styled

_COLORS = {"minmax": "#d62728", "entropy": "#9467bd", "entropy2": "#1f77b4", "percentile": "#2ca02c",
           "mse": "#ff7f0e"}


def activation_histogram(tables, tensor: str, *, max_bars: int = 512) -> go.Figure:
    """The |x| histogram of ``tensor`` (log scale) with each calibration table's threshold (amax) marked.

    ``tables``: one CalibrationTable or a list of them (same model and data; the first one's histogram is drawn).
    """
    tables = tables if isinstance(tables, (list, tuple)) else [tables]
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
    fig = go.Figure(go.Bar(x=centers, y=np.maximum(counts, 0), width=edges[1] - edges[0], name="|x| count",
                           marker_color="#7f7f7f", hovertemplate="|x| ≈ %{x:.4g}<br>%{y:,} values"))
    for table in tables:
        row = table.frame.set_index("tensor").loc[tensor] if tensor in set(table.frame.tensor) else None
        if row is None:
            continue
        label = table.calibrator + (f" {table.percentile:g}" if table.percentile else "")
        fig.add_vline(x=float(row.amax), line_color=_COLORS.get(table.calibrator, "black"), line_dash="dash",
                      annotation_text=f"{label}: {row.amax:.3g}", annotation_textangle=-90)
    fig.update_yaxes(type="log")
    return styled(fig, f"Activation histogram of {tensor} with calibration thresholds", "|x|",
                   "count (log scale)", showlegend=False)


def quantization_mapping(amax: float, *, values: np.ndarray | None = None, bits: int = 8) -> go.Figure:
    """Symmetric linear quantization: real values on [-amax, amax] -> integers on [-127, 127] (scale = amax/127);
    values past amax clip, values inside round. With ``values``, their rounding and clipping errors are shown."""
    if not amax > 0:
        raise ConfigError(f"amax must be positive, got {amax}")
    levels = 2 ** (bits - 1) - 1
    scale = amax / levels
    span = 1.5 * amax if values is None else max(1.5 * amax, float(np.abs(values).max()))
    x = np.linspace(-span, span, 2001)
    q = np.clip(np.round(x / scale), -levels, levels)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=x / scale, name="ideal x / scale", line=dict(dash="dot", color="gray")))
    fig.add_trace(go.Scatter(x=x, y=q, name=f"int{bits}: clip(round(x / scale))", line=dict(shape="hv")))
    if values is not None:
        v = np.asarray(values, dtype=np.float64).ravel()
        qv = np.clip(np.round(v / scale), -levels, levels)
        error = v - qv * scale
        fig.add_trace(go.Scatter(x=v, y=qv, mode="markers", name="values", marker=dict(size=6),
                                 customdata=error, hovertemplate="x %{x:.4g} → q %{y}<br>error %{customdata:.3g}"))
    for side in (-amax, amax):
        fig.add_vline(x=side, line_dash="dash", line_color="red")
    fig.add_annotation(x=amax, y=levels, text=f"amax {amax:.3g} → {levels}", showarrow=True)
    return styled(fig, f"Symmetric linear quantization: scale = amax / {levels} = {scale:.3g}", "real value x",
                   f"int{bits} value q")


def accuracy_bars(frame: pd.DataFrame, *, metric: str = "accuracy") -> go.Figure:
    """One bar per variant (e.g. fp32, fp16, int8 per calibrator) of ``metric`` (from precision.accuracy_table)."""
    require_columns(frame, ["variant", metric], "accuracy_bars")
    data = frame.dropna(subset=[metric])
    if data.empty:
        raise ConfigError(f"accuracy_bars: no row has a value for '{metric}'")
    colors = [_COLORS.get(c, "#7f7f7f") if p in ("int8", "fp8") else "#444" for p, c in
              zip(data.get("precision", [""] * len(data)), data.get("calibrator", [""] * len(data)))]
    text = [f"{v:.2%}" if metric in ("accuracy", "top1_agreement") else f"{v:.3g}" for v in data[metric]]
    fig = go.Figure(go.Bar(x=data["variant"], y=data[metric], marker_color=colors, text=text,
                           textposition="outside"))
    if metric in ("accuracy", "top1_agreement"):
        low = float(data[metric].min())
        fig.update_yaxes(range=[max(0.0, low - 0.05), 1.0])
    return styled(fig, f"{metric.replace('_', ' ')} by precision and calibrator", "", metric)
