"""Charts of one stored run as files, for exports such as ``ResultsStore.to_mlflow(..., artifacts=run_artifacts)``."""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from .performance import latency_distribution


def run_artifacts(row: Mapping) -> dict[str, bytes]:
    """``{file name: bytes}``: the latency distribution of a benchmark run (a standalone HTML chart that loads
    plotly.js from its CDN when opened, keeping each file small); nothing for runs without latency samples."""
    if not row.get("samples_ms"):
        return {}
    fig = latency_distribution(pd.DataFrame([dict(row)]))
    return {"latency_distribution.html": fig.to_html(include_plotlyjs="cdn", full_html=True).encode()}
