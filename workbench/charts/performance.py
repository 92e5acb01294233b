"""Performance charts from sweep / results-store frames (see ``workbench.bench``: one row per configuration)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from typing import Any, Iterable

from ..errors import ConfigError

# Enough points to draw a faithful distribution without shipping every sample to the browser.
_MAX_POINTS = 2000


def require_columns(frame: pd.DataFrame, columns: Iterable[str], chart: str) -> pd.DataFrame:
    """``frame`` if it is a DataFrame with ``columns``; else a ConfigError naming the chart and what is missing."""
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(
            f"{chart} needs a DataFrame (from sweep() or ResultsStore.runs()), got {type(frame).__name__}"
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"{chart} needs column(s) {', '.join(missing)}; got {', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise ConfigError(f"{chart}: the frame has no rows to draw")
    return frame


def _labels(frame: pd.DataFrame) -> pd.Series:
    if "label" in frame.columns:
        return frame["label"].astype(str)
    return frame["backend"].astype(str)


def styled(fig: go.Figure, title: str, x: str, y: str, **kw: Any) -> go.Figure:
    """The workbench charts' one look: title, axis titles, white template, margins."""
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
        legend_title_text="",
        margin=dict(l=60, r=20, t=50, b=50),
        **kw,
    )
    return fig


def _quantile_subsample(samples, n: int = _MAX_POINTS) -> np.ndarray:
    x = np.sort(np.asarray(samples, dtype=float))
    if len(x) <= n:
        return x
    return np.quantile(x, np.linspace(0, 1, n))  # keeps the distribution's shape, tails included


def latency_distribution(frame: pd.DataFrame, *, kind: str = "box") -> go.Figure:
    """Per-iteration latency of each configuration as a box (or violin) plot; needs the ``samples_ms`` column."""
    require_columns(frame, ["samples_ms", "batch"], "latency_distribution")
    if kind not in ("box", "violin"):
        raise ConfigError(f"kind must be 'box' or 'violin', got {kind!r}")
    fig = go.Figure()
    for label, row in zip(_labels(frame), frame.itertuples(index=False)):
        name = f"{label} · batch {row.batch}" + (f" · ×{row.concurrency}" if getattr(row, "concurrency", 1) > 1 else "")
        y = _quantile_subsample(row.samples_ms)
        trace = (
            go.Box(y=y, name=name, boxpoints=False)
            if kind == "box"
            else go.Violin(y=y, name=name, box_visible=True, meanline_visible=True, points=False)
        )
        fig.add_trace(trace)
    return styled(fig, "Latency distribution per configuration", "", "latency (ms)", showlegend=False)


def latency_throughput(frame: pd.DataFrame, *, latency: str = "latency_ms_median") -> go.Figure:
    """Latency vs throughput over batch sizes: one line per configuration, points labelled by batch."""
    require_columns(frame, [latency, "throughput", "batch"], "latency_throughput")
    fig = go.Figure()
    data = frame.assign(_label=_labels(frame))
    if "concurrency" in data.columns:
        data = data[data["concurrency"] == data["concurrency"].min()]
    for label, group in data.groupby("_label", sort=False):
        group = group.sort_values("batch")
        fig.add_trace(
            go.Scatter(
                x=group["throughput"],
                y=group[latency],
                mode="lines+markers+text",
                name=label,
                text=[f"b{b}" for b in group["batch"]],
                textposition="top center",
                hovertemplate="batch %{text}<br>%{x:,.1f} inferences/s<br>%{y:.3f} ms",
            )
        )
    return styled(
        fig,
        "Latency vs throughput over batch sizes",
        "throughput (inferences/s)",
        f"{latency.replace('latency_ms_', '')} latency (ms)",
    )


def throughput_vs_concurrency(frame: pd.DataFrame) -> go.Figure:
    """Throughput against concurrent sessions / streams: the multi-stream lesson."""
    require_columns(frame, ["concurrency", "throughput", "batch"], "throughput_vs_concurrency")
    fig = go.Figure()
    data = frame.assign(_label=_labels(frame))
    for (label, batch), group in data.groupby(["_label", "batch"], sort=False):
        group = group.sort_values("concurrency")
        fig.add_trace(
            go.Scatter(
                x=group["concurrency"], y=group["throughput"], mode="lines+markers", name=f"{label} · batch {batch}"
            )
        )
    fig.update_xaxes(dtick=1)
    return styled(fig, "Throughput vs concurrent sessions / streams", "concurrency", "throughput (inferences/s)")


def speedup_bars(frame: pd.DataFrame, *, baseline: str | None = None) -> go.Figure:
    """Speed-up of each configuration over the baseline at the same batch and concurrency, from median latency
    (``bench.speedups``: the mean and wall-time throughput follow a busy machine's stalls). A bar whose run or
    baseline was unstable (latency CV above the harness's threshold) is hatched and labelled "unstable"; the title
    says when contenders ran with different thread counts.

    ``baseline``: a ``label`` value (default: the first row's label, e.g. the FP32 model).
    """
    from ..bench.compare import speedups

    require_columns(frame, ["latency_ms_median", "batch"], "speedup_bars")
    data = speedups(frame, baseline)
    baseline = data["baseline"].iloc[0] if len(data) else baseline
    fig = go.Figure()
    for label, group in data.groupby("label", sort=False):
        unstable = group["unstable"].tolist()
        fig.add_trace(
            go.Bar(
                x=[f"batch {b}" + (f" ×{c}" if c > 1 else "") for b, c in zip(group["batch"], group["concurrency"])],
                y=group["speedup"],
                name=label,
                text=[f"{s:.2f}×" + (" unstable" if u else "") for s, u in zip(group["speedup"], unstable)],
                marker_pattern_shape=["/" if u else "" for u in unstable],
                textposition="outside",
            )
        )
    fig.add_hline(y=1.0, line_dash="dot", line_color="gray")
    notes = []
    if data["unstable"].any():
        notes.append("hatched: unstable run (CV above threshold), do not trust the ratio")
    if (data["same_threads"] == False).any():  # noqa: E712 - elementwise on a column; None means not recorded
        notes.append("contenders ran with different thread counts")
    title = f"Speed-up vs {baseline} (median latency)" + (f" — {'; '.join(notes)}" if notes else "")
    return styled(fig, title, "", "baseline median latency ÷ median latency", barmode="group")


# What the Pareto chart's y axis can show: accuracy needs labels; agreement is top-1 agreement with the FP32 model on
# the same (possibly random) inputs, which says how faithful a variant is, not how accurate.
QUALITY_METRICS = {
    "accuracy": "accuracy (labelled data)",
    "agreement": "agreement with FP32 (top-1, same inputs; not accuracy)",
}


def pareto(frame: pd.DataFrame, *, metric: str | None = None, latency: str = "latency_ms_median") -> go.Figure:
    """Quality vs latency over all recorded configurations, with the Pareto front (nothing both faster and
    better) drawn as a line. ``metric``: ``accuracy`` or ``agreement`` (see ``QUALITY_METRICS``); by default
    accuracy when any row has it, else agreement. The title and axis say which one is shown."""
    if metric is None:
        metric = (
            next((m for m in QUALITY_METRICS if m in frame and frame[m].notna().any()), "accuracy")
            if isinstance(frame, pd.DataFrame)
            else "accuracy"
        )
    require_columns(frame, [metric, latency], "pareto")
    data = frame.assign(_label=_labels(frame)).dropna(subset=[metric, latency])
    if data.empty:
        raise ConfigError(
            f"pareto: no row has both '{metric}' and '{latency}'; record accuracy (with labels) or "
            "agreement with FP32 with the runs (sweep(..., variant_tags={'int8': {'accuracy': ...}}))"
        )
    data = data.sort_values([latency, metric], ascending=[True, False])
    front, best = [], -np.inf
    for index, value in zip(data.index, data[metric]):
        if value > best:
            front.append(index)
            best = value
    title = QUALITY_METRICS.get(metric, metric)
    fig = go.Figure()
    for label, group in data.groupby("_label", sort=False):
        fig.add_trace(
            go.Scatter(
                x=group[latency],
                y=group[metric],
                mode="markers",
                name=label,
                marker=dict(size=10),
                hovertemplate=f"{label}<br>%{{x:.3f}} ms<br>{metric} %{{y:.4f}}",
            )
        )
    f = data.loc[front]
    fig.add_trace(
        go.Scatter(
            x=f[latency],
            y=f[metric],
            mode="lines",
            name="Pareto front",
            line=dict(shape="hv", dash="dash", color="black"),
        )
    )
    return styled(
        fig,
        f"{title[0].upper()}{title[1:]} vs latency (Pareto front)",
        f"{latency.replace('latency_ms_', '')} latency (ms)",
        title,
    )


def _memory_label(activation_bytes, naive_bytes) -> str:
    from ..engines.memory import ActivationMemory

    memory = ActivationMemory.from_totals({"activation_bytes": activation_bytes, "naive_activation_bytes": naive_bytes})
    return memory.label if memory is not None else ""


def memory_bars(frame: pd.DataFrame) -> go.Figure:
    """Activation memory the TensorRT engine reserves vs naive (every tensor kept), per model/engine; a bar says how
    many times less, or that there is no saving (tiny models: the engine's fixed minimum, see engines.memory)."""
    require_columns(frame, ["activation_bytes", "naive_activation_bytes"], "memory_bars")
    data = frame.assign(_label=_labels(frame) if ("label" in frame or "backend" in frame) else frame.index.astype(str))
    if "batch" in data.columns:
        data["_label"] = [f"{name} · batch {b}" if b == b else name for name, b in zip(data["_label"], data["batch"])]
    mib = 2**20
    fig = go.Figure(
        [
            go.Bar(x=data["_label"], y=data["naive_activation_bytes"] / mib, name="naive (every ONNX tensor kept)"),
            go.Bar(
                x=data["_label"],
                y=data["activation_bytes"] / mib,
                name="TensorRT engine (fusion + reuse)",
                text=[_memory_label(a, n) for a, n in zip(data["activation_bytes"], data["naive_activation_bytes"])],
                textposition="outside",
            ),
        ]
    )
    return styled(fig, "Activation memory: TensorRT engine vs naive", "", "MiB", barmode="group")
