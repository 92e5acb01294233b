"""Graph layer: the graphs the workbench draws (ONNX, TensorRT network, engine layers) as DataFrames, their
layered layout, collapsed views, and the ONNX-node <-> engine-layer fusion map."""

from .categories import CATEGORIES, category
from .data import (GraphData, collapse, from_engine, from_network, from_onnx, fusion_map, scope_of,
                   with_fusion_reasons)
from .layout import layered_layout

__all__ = ["CATEGORIES", "category", "GraphData", "collapse", "from_engine", "from_network", "from_onnx",
           "fusion_map", "scope_of", "layered_layout", "with_fusion_reasons"]
