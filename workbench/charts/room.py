"""The room's chart: each machine's best speed-up (from ``workbench.bench.room.room_results``)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .performance import require_columns, styled


def room_speedups(summary: pd.DataFrame, *, precision: str = "INT8", baseline: str = "FP32") -> go.Figure:
    """One bar per machine (and model): its best ``precision`` speed-up over ``baseline``, coloured by GPU."""
    require_columns(summary, ["machine", "gpu", "model", "speedup"], "room_speedups")
    measured = summary.dropna(subset=["speedup"])
    fig = go.Figure()
    for gpu, rows in measured.groupby("gpu", sort=True):
        fig.add_bar(
            x=[f"{m} · {model}" for m, model in zip(rows["machine"], rows["model"])],
            y=rows["speedup"],
            name=str(gpu),
            text=[f"{v:.2f}×" for v in rows["speedup"]],
            textposition="outside",
            customdata=rows[["baseline_ms", "best_ms", "batch"]].to_numpy(),
            hovertemplate="%{x}<br>speed-up %{y:.2f}×<br>"
            + baseline
            + " %{customdata[0]:.3f} ms → "
            + precision
            + " %{customdata[1]:.3f} ms (batch %{customdata[2]})<extra></extra>",
        )
    waiting = len(summary) - len(measured)
    title = f"Best {precision} speed-up over {baseline} per machine"
    if waiting:
        title += f" ({waiting} machine(s) without both precisions yet)"
    fig.add_hline(y=1.0, line_dash="dot", line_color="#888")
    return styled(fig, title, "machine · model", "speed-up (×)")
