"""The multi-stream schedule of an engine: its layers laid out per CUDA stream, in dependency order."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from ..errors import ConfigError
from .performance import require_columns, styled

_SYNC = {"signal", "wait"}


def _event(value) -> int | None:
    """The layer's event id, or None (the column holds None or NaN where a layer has no event)."""
    return None if value is None or value != value else int(value)


def stream_schedule(layers: pd.DataFrame, *, duration: str | None = None) -> pd.DataFrame:
    """When each engine layer can start: after the layer before it on its stream (a stream runs in order), after the
    layers that produce its inputs, and, for a ``wait``, after the ``signal`` of the same event.

    Without measured times every compute layer takes one step and a signal/wait none, so the result is an order,
    not a duration; with ``duration`` (a column of milliseconds, e.g. ``median_ms`` from a trtexec profile) it is
    the schedule those times allow. Columns: name, stream, type, kind, start, end, event_id, onnx_nodes.
    """
    require_columns(layers, ["name", "type", "stream", "inputs", "outputs"], "stream_schedule")
    if duration is not None:
        require_columns(layers, [duration], "stream_schedule")
    producer_end: dict[str, float] = {}
    stream_end: dict[int, float] = {}
    signal_end: dict[int, float] = {}
    rows = []
    for _, layer in layers.iterrows():  # engine layers come in enqueue order: every producer is seen first
        stream = int(layer["stream"])
        is_sync = str(layer["type"]).lower() in _SYNC
        event = _event(layer.get("event_id"))
        start = stream_end.get(stream, 0.0)
        for tensor in layer["inputs"]:
            start = max(start, producer_end.get(tensor, 0.0))
        if str(layer["type"]).lower() == "wait" and event is not None:
            start = max(start, signal_end.get(event, 0.0))
        if is_sync:
            length = 0.0
        elif duration is not None and layer[duration] == layer[duration]:
            length = float(layer[duration])
        else:
            length = 1.0
        end = start + length
        stream_end[stream] = end
        for tensor in layer["outputs"]:
            producer_end[tensor] = end
        if str(layer["type"]).lower() == "signal" and event is not None:
            signal_end[event] = end
        rows.append(
            {
                "name": layer["name"],
                "stream": stream,
                "type": layer["type"],
                "kind": layer.get("kind", ""),
                "start": start,
                "end": end,
                "event_id": event,
                "onnx_nodes": layer.get("onnx_nodes", []),
            }
        )
    return pd.DataFrame(rows, columns=["name", "stream", "type", "kind", "start", "end", "event_id", "onnx_nodes"])


def stream_timeline(layers: pd.DataFrame, *, duration: str | None = None, title: str | None = None) -> go.Figure:
    """One row per CUDA stream, one bar per engine layer (from ``stream_schedule``); signal/wait events are drawn as
    arrows from the signalling stream to the waiting one. Hover a bar for the ONNX nodes it runs."""
    schedule = stream_schedule(layers, duration=duration)
    if schedule.empty:
        raise ConfigError("stream_timeline: the engine has no layers")
    compute = schedule[~schedule["type"].str.lower().isin(_SYNC)]
    fig = go.Figure()
    for stream, group in compute.groupby("stream", sort=True):
        fig.add_trace(
            go.Bar(
                base=group["start"],
                x=group["end"] - group["start"],
                y=[f"stream {stream}"] * len(group),
                orientation="h",
                name=f"stream {stream}",
                customdata=[
                    [n, t, ", ".join(o[:4]) + (" …" if len(o) > 4 else "")]
                    for n, t, o in zip(group["name"], group["type"], group["onnx_nodes"])
                ],
                hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>ONNX: %{customdata[2]}<extra></extra>",
                marker_line_width=1,
                marker_line_color="white",
            )
        )
    sync = schedule[schedule["type"].str.lower().isin(_SYNC)].dropna(subset=["event_id"])
    for event, group in sync.groupby("event_id"):
        signal = group[group["type"].str.lower() == "signal"]
        for _, wait in group[group["type"].str.lower() == "wait"].iterrows():
            if signal.empty:
                continue
            s = signal.iloc[0]
            fig.add_annotation(
                x=wait["start"],
                y=f"stream {wait['stream']}",
                ax=s["end"],
                ay=f"stream {s['stream']}",
                xref="x",
                yref="y",
                axref="x",
                ayref="y",
                showarrow=True,
                arrowhead=2,
                arrowcolor="gray",
                text="",
                hovertext=f"event {int(event)}",
            )
    streams = schedule["stream"].nunique()
    unit = "ms (from the recorded profile)" if duration is not None else "steps (order only: no times measured)"
    fig.update_yaxes(
        categoryorder="array", categoryarray=[f"stream {s}" for s in sorted(schedule["stream"].unique(), reverse=True)]
    )
    span = schedule["end"].max()
    serial = (compute["end"] - compute["start"]).sum()
    subtitle = (
        f"{len(compute)} layers on {streams} stream(s); critical path {span:.3g} vs {serial:.3g} if serial"
        if math.isfinite(span)
        else ""
    )
    return styled(
        fig, title or f"Engine schedule per stream — {subtitle}", unit, "", barmode="overlay", showlegend=False
    )
