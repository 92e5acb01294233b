"""Graph layer: the graphs the workbench draws (ONNX, TensorRT network, engine layers) as DataFrames, their
layered layout, collapsed views, the ONNX-node <-> engine-layer fusion map, and its export as Model
Explorer node data."""

from .categories import CATEGORIES, PRECISION_COLORS, category
from .data import GraphData, collapse, from_engine, from_network, from_onnx, fusion_map, scope_of, with_fusion_reasons
from .layout import layered_layout
from .model_explorer import model_explorer_node_data, write_model_explorer_node_data

__all__ = [
    "CATEGORIES",
    "PRECISION_COLORS",
    "category",
    "model_explorer_node_data",
    "write_model_explorer_node_data",
    "GraphData",
    "collapse",
    "from_engine",
    "from_network",
    "from_onnx",
    "fusion_map",
    "scope_of",
    "layered_layout",
    "with_fusion_reasons",
]
