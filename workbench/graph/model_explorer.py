"""The engine mapping as Google Model Explorer node data: open the ONNX model in Model Explorer (with its ONNX
adapter, ``model-explorer-onnx``), add these files as node data, and each ONNX node shows the engine layer that
holds it, its precision and its stream — TensorRT's fusion inside that viewer.

The format is Model Explorer's ``ModelNodeData`` (``model_explorer/node_data_builder.py`` in
``ai-edge-model-explorer``): ``{graph id: {"name", "results": {node id: {"value", "bgColor"?, "textColor"?}},
"thresholds"?, "gradient"?, ...}}``. The ONNX adapter's graph id is the ONNX graph's name and a node's id its name
(``<node_i>`` for the i-th node when it has none). One overlay holds one value per node, so the mapping is three
overlays.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TYPE_CHECKING

from ..errors import ConfigError
from ..files import atomic_write_text
from ..model import load_model
from .categories import PRECISION_COLORS
from .data import GraphData

if TYPE_CHECKING:
    from ..files import PathArg
    from ..model.sources import ModelSource

NO_LAYER = "no engine layer"
NO_LAYER_COLOR = "#d9d9d9"
STREAM_COLORS = ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5"]
OVERLAYS = ("engine_layer", "precision", "stream")


def _node_ids(model) -> list[str]:
    """Node ids as Model Explorer's ONNX adapter names them."""
    return [node.name or f"<node_{i}>" for i, node in enumerate(model.nodes)]


def model_explorer_node_data(
    model: ModelSource, engine: GraphData, *, unmapped_reason: dict[str, str] | None = None
) -> dict[str, dict]:
    """Three node-data overlays (``engine_layer``, ``precision``, ``stream``) for ``model``'s ONNX graph from the
    engine's layers (``from_engine``). An ONNX node no layer names gets ``no engine layer``, or its reason
    from ``unmapped_reason`` (ONNX node name -> why it has no layer, e.g. "shape arithmetic folded at build time")."""
    model = load_model(model)
    if engine.kind != "engine":
        raise ConfigError(
            f"model_explorer_node_data needs the engine's layers (from_engine), not a {engine.kind} graph"
        )
    layer_of: dict[str, tuple[str, str, int]] = {}
    for name, precision, stream, members in zip(
        engine.nodes["name"], engine.nodes["precision"], engine.nodes["stream"], engine.nodes["members"]
    ):
        for member in members:
            layer_of.setdefault(member, (str(name), str(precision), int(stream)))
    reasons = unmapped_reason or {}
    graph_id = model.proto.graph.name
    layers, precisions, streams = {}, {}, {}
    for node_id, node in zip(_node_ids(model), model.nodes):
        if node.name in layer_of:
            layer, precision, stream = layer_of[node.name]
            color = PRECISION_COLORS.get(precision, NO_LAYER_COLOR)
            layers[node_id] = {"value": layer, "bgColor": color, "textColor": "#ffffff"}
            precisions[node_id] = {"value": precision, "bgColor": color, "textColor": "#ffffff"}
            streams[node_id] = {"value": stream, "bgColor": STREAM_COLORS[stream % len(STREAM_COLORS)]}
        else:
            why = reasons.get(node.name, NO_LAYER)
            layers[node_id] = {"value": why, "bgColor": NO_LAYER_COLOR}
            precisions[node_id] = {"value": NO_LAYER, "bgColor": NO_LAYER_COLOR}  # the reason is in the layer overlay

    def overlay(name, results, **extra):
        return {graph_id: {"name": name, "results": results, **extra}}

    return {
        "engine_layer": overlay("TensorRT engine layer", layers, showExpandedSummaryOnGroupNode=True),
        "precision": overlay(
            "TensorRT precision",
            precisions,
            showExpandedSummaryOnGroupNode=True,
            showLabelCountColumnsInChildrenStatsTable=True,
        ),
        "stream": overlay("TensorRT stream", streams),
    }


def write_model_explorer_node_data(model: ModelSource, engine: GraphData, path: PathArg, **kwargs: Any) -> list[Path]:
    """Write the overlays: ``path`` (``out.json``) holds the engine layer of each node; ``out.precision.json`` and
    ``out.stream.json`` beside it. Returns the paths written."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        raise ConfigError(f"Model Explorer node data is JSON: '{path}' should end in .json")
    data = model_explorer_node_data(model, engine, **kwargs)
    written = []
    for key in OVERLAYS:
        target = path if key == "engine_layer" else path.with_suffix(f".{key}.json")
        written.append(atomic_write_text(target, json.dumps(data[key], indent=1)))
    return written
