"""Engine analysis charts: roofline and per-layer time of a GPU estimate, estimated time per precision, and the
side-by-side view of two engines (TREx drew per-layer latency bars; the roofline and the diff view are new)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..engines import EngineDiff
    from ..engines.estimate import EngineEstimate

_BOUND_COLORS = {"compute": "#1f77b4", "memory": "#ff7f0e", "none": "#bbbbbb", "unknown (no shapes)": "#d62728"}
_CHANGE_COLORS = {"same": "#9e9e9e", "tactic": "#7e57c2", "only in A": "#d62728", "only in B": "#2ca02c"}


def _estimate_parts(estimate):
    """(layers DataFrame, GpuSpec, label) from an EngineEstimate."""
    if not hasattr(estimate, "layers") or not hasattr(estimate, "gpu"):
        raise ConfigError(
            f"expected an EngineEstimate (workbench.engines.estimate.estimate_engine), got {type(estimate).__name__}"
        )
    if estimate.layers.empty:
        raise ConfigError("the estimate has no layers to draw")
    return estimate.layers, estimate.gpu, estimate.label


def _short(name: str, n: int = 48) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def roofline_chart(estimate: EngineEstimate) -> go.Figure:
    """Each layer a point: arithmetic intensity (FLOP/byte) vs estimated achieved throughput, with the GPU's
    memory roof and one compute roof per precision the engine uses."""
    layers, gpu, label = _estimate_parts(estimate)
    pts = layers[(layers["flops"] > 0) & (layers["bytes"] > 0) & (layers["estimated_ms"] > 0)]
    if pts.empty:
        raise ConfigError("no layer has both FLOPs and bytes to place on a roofline")
    fig = go.Figure()
    for bound, group in pts.groupby("bound"):
        fig.add_trace(
            go.Scatter(
                x=group["intensity"],
                y=group["achieved_tflops"],
                mode="markers",
                name=f"{bound}-bound layers",
                marker=dict(color=_BOUND_COLORS.get(bound, "#555"), size=8, opacity=0.8),
                text=[
                    f"{_short(n)}<br>{op} {p}<br>{ms * 1e3:.1f} us (estimate)"
                    for n, op, p, ms in zip(group["name"], group["op"], group["precision"], group["estimated_ms"])
                ],
                hovertemplate="%{text}<br>%{x:.1f} FLOP/byte, %{y:.1f} TFLOP/s<extra></extra>",
            )
        )
    x = np.logspace(np.log10(max(pts["intensity"].min() / 2, 1e-3)), np.log10(pts["intensity"].max() * 4), 64)
    bandwidth = gpu.memory_bandwidth_gbs * 1e9
    rates = sorted(set(pts["rate"]))
    for rate in rates:
        precision = rate.split(" ")[0]
        peak, _ = gpu.peak_flops("float32" if precision == "tf32" else precision, tensor_cores="CUDA cores" not in rate)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.minimum(peak, bandwidth * x) / 1e12,
                mode="lines",
                name=f"roof: {rate}",
                line=dict(dash="dash", width=1.5),
                hoverinfo="skip",
            )
        )
    fig.update_xaxes(type="log", title="arithmetic intensity (FLOP / byte)")
    fig.update_yaxes(type="log", title="achieved TFLOP/s (estimate)")
    fig.update_layout(
        title=f"Roofline on {gpu.label} — {label}",
        template="plotly_white",
        margin=dict(l=60, r=20, t=60, b=50),
        title_font_size=13,
    )
    return fig


def layer_time_bars(estimate: EngineEstimate, measured: pd.DataFrame | None = None, top: int | None = 40) -> go.Figure:
    """Estimated time per layer (coloured by what bounds it); ``measured``: ``EngineEstimate.compare`` output, whose
    measured times are drawn beside the estimate."""
    layers, gpu, label = _estimate_parts(estimate)
    shown = layers[layers["estimated_ms"] > 0].copy()
    if top and len(shown) > top:
        shown = shown.nlargest(top, "estimated_ms").sort_index()
    fig = go.Figure()
    names = [f"{i}: {_short(n, 40)}" for i, n in zip(shown.index, shown["name"])]
    for bound in shown["bound"].unique():
        mask = (shown["bound"] == bound).to_numpy()
        fig.add_trace(
            go.Bar(
                y=np.array(names)[mask],
                x=shown["estimated_ms"].to_numpy()[mask] * 1e3,
                orientation="h",
                name=f"estimate ({bound}-bound)",
                marker_color=_BOUND_COLORS.get(bound, "#555"),
            )
        )
    if measured is not None and "measured_ms" in measured:
        m = measured.loc[shown.index, "measured_ms"] if len(measured) == len(layers) else None
        if m is not None:
            fig.add_trace(
                go.Bar(
                    y=names, x=m.to_numpy() * 1e3, orientation="h", name="measured", marker_color="#2ca02c", opacity=0.7
                )
            )
    fig.update_layout(
        title=f"Time per layer on {gpu.label}, {layers['estimated_ms'].sum():.3f} ms total — {label}",
        barmode="group",
        template="plotly_white",
        xaxis_title="microseconds",
        yaxis=dict(autorange="reversed"),
        height=max(300, 18 * len(shown) + 120),
        margin=dict(l=260, r=20, t=60, b=40),
        title_font_size=13,
    )
    return fig


def precision_variant_bars(table: pd.DataFrame, gpu_label: str = "") -> go.Figure:
    """Estimated engine time per precision (``estimate_model``'s table), labelled with the estimate's error."""
    if not isinstance(table, pd.DataFrame) or not {"precision", "estimated_ms"} <= set(table.columns):
        raise ConfigError("precision_variant_bars needs estimate_model's table (precision, estimated_ms)")
    speedup = [c for c in table.columns if c.startswith("speedup_vs_")]
    text = [
        f"{ms:.3f} ms" + (f" ({s:.1f}x)" if speedup else "")
        for ms, s in zip(table["estimated_ms"], table[speedup[0]] if speedup else table["estimated_ms"])
    ]
    fig = go.Figure(
        go.Bar(x=table["precision"], y=table["estimated_ms"], text=text, textposition="outside", marker_color="#1f77b4")
    )
    fig.update_layout(
        title=f"Estimated engine time{' on ' + gpu_label if gpu_label else ''} — "
        f"{table.attrs.get('label', 'estimate')}",
        template="plotly_white",
        yaxis_title="ms (estimate)",
        xaxis_title="precision",
        title_font_size=12,
        margin=dict(l=60, r=20, t=60, b=40),
    )
    return fig


def engine_diff_chart(diff: EngineDiff, selected_region: int | None = None) -> go.Figure:
    """Side by side: regions down a shared axis, engine A's time (or layer count) on the left, B's on the right;
    the shared axis keeps both sides aligned when zooming, and ``selected_region`` is highlighted on both."""
    regions = diff.regions
    if regions.empty:
        raise ConfigError("the diff has no regions to draw")
    timed = regions["a_ms"].notna().all() and regions["b_ms"].notna().all()
    a_values = regions["a_ms"] * 1e3 if timed else regions["a_layers"].map(len)
    b_values = regions["b_ms"] * 1e3 if timed else regions["b_layers"].map(len)
    labels = [
        f"{r}: {_short(', '.join(n[:2]) or '(inserted)', 36)}" for r, n in zip(regions["region"], regions["onnx_nodes"])
    ]
    colors = [_CHANGE_COLORS.get(c, "#ff7f0e") for c in regions["change"]]
    line = [3 if r == selected_region else 0 for r in regions["region"]]
    hover = [
        f"region {r} ({c})<br>A: {', '.join(_short(x, 40) for x in a[:3])}<br>B: "
        f"{', '.join(_short(x, 40) for x in b[:3])}"
        for r, c, a, b in zip(regions["region"], regions["change"], regions["a_layers"], regions["b_layers"])
    ]
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.02,
        subplot_titles=(f"A: {diff.a.label} ({diff.a.time_source})", f"B: {diff.b.label} ({diff.b.time_source})"),
    )
    for col, values in ((1, a_values), (2, b_values)):
        fig.add_trace(
            go.Bar(
                y=labels,
                x=values,
                orientation="h",
                marker=dict(color=colors, line=dict(width=line, color="black")),
                customdata=regions["region"],
                hovertext=hover,
                hoverinfo="text+x",
                showlegend=False,
            ),
            row=1,
            col=col,
        )
    fig.update_xaxes(autorange="reversed", row=1, col=1)  # A grows to the left, B to the right
    unit = "microseconds" if timed else "engine layers"
    fig.update_xaxes(title_text=unit)
    fig.update_yaxes(autorange="reversed")
    estimated = [s.time_source for s in (diff.a, diff.b) if s.time_source.startswith("estimated")]
    if estimated:
        from ..engines.estimate import accuracy_label

        note = "<br><sup>times: " + accuracy_label() + "</sup>"
    else:
        note = ""
    fig.update_layout(
        template="plotly_white",
        height=max(300, 22 * len(regions) + 120),
        title_font_size=13,
        title="Engine vs engine by region (colour: what changed — grey same, orange precision/"
        "fusion/reformats, red only in A, green only in B)" + note,
        margin=dict(l=230, r=20, t=70, b=40),
    )
    return fig
