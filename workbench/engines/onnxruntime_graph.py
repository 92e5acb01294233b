"""ONNX Runtime's own "after fusion" graph: the model after its graph optimizations, loaded back as a Model."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence, TYPE_CHECKING

import pandas as pd

from ..errors import ConfigError, ModelError

if TYPE_CHECKING:
    import onnxruntime as ort
    from ..model import Model
    from ..model.sources import ModelSource

LEVELS = ("disable", "basic", "extended", "all")


def ort_optimization_level(name: str) -> ort.GraphOptimizationLevel:
    """ONNX Runtime's GraphOptimizationLevel for a level name (ConfigError naming the levels when unknown)."""
    import onnxruntime as ort

    mapping = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    key = str(name).lower()
    if key not in mapping:
        raise ConfigError(f"ONNX Runtime optimization level '{name}' is unknown (levels: {', '.join(LEVELS)})")
    return mapping[key]


def onnxruntime_optimized(model: ModelSource, level: str = "extended") -> Model:
    """The graph ONNX Runtime (CPU) runs after its optimizations at ``level`` (basic, extended or all).

    The saved graph is tied to the provider, the level and this CPU's instruction set (ONNX Runtime's note).
    """
    import onnxruntime as ort

    from ..model import load_model

    model = load_model(model)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort_optimization_level(level)
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix="workbench-ort-") as folder:
        out = Path(folder) / f"{model.name}.{level}.onnx"
        options.optimized_model_filepath = str(out)
        try:
            ort.InferenceSession(model.to_bytes(), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"{model.label}: ONNX Runtime could not load the model: {exc}") from None
        # ORT's contrib ops (com.microsoft FusedConv, ...) have no schema in onnx: skip the checker for them.
        return load_model(out.read_bytes(), check=False, name=f"{model.name} (ONNX Runtime, {level})")


def onnxruntime_fusion_report(model: ModelSource, levels: Sequence[str] = ("basic", "extended", "all")) -> pd.DataFrame:
    """Op-type counts of the original graph and after each ONNX Runtime level: what each level fused away."""
    from ..model import load_model

    model = load_model(model)
    columns = {"original": model.stats.op_histogram}
    for level in levels:
        columns[level] = onnxruntime_optimized(model, level).stats.op_histogram
    df = pd.DataFrame(columns).fillna(0).astype(int)
    df.index.name = "op_type"
    total = df.sum().rename("total nodes")
    return pd.concat([df.sort_values("original", ascending=False), total.to_frame().T])
