"""TensorRT's network before fusion: the layers its ONNX parser creates, each with the ONNX node it came from."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import NetworkParseError
from .flavor import trt

if TYPE_CHECKING:
    from ..model import Model
    from ..model.sources import ModelSource


def parse_network(model: Model) -> tuple:
    """(builder, network, parser) for a workbench Model; a parse failure names the ONNX node and op."""
    from .diagnose import unsupported_ops_message

    unsupported = unsupported_ops_message(model)
    if unsupported:  # said before the parser prints a line per node of them
        raise NetworkParseError(unsupported)
    module = trt()
    from polygraphy.backend.trt import CreateNetwork
    from polygraphy.backend.trt.util import get_trt_logger

    strongly_typed = hasattr(module.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    builder, network = CreateNetwork(strongly_typed=strongly_typed)()
    parser = module.OnnxParser(network, get_trt_logger())
    ok = parser.parse(model.to_bytes())
    if not ok or parser.num_errors:
        problems = []
        for i in range(parser.num_errors):
            err = parser.get_error(i)
            node_name, op = err.node_name(), err.node_operator()
            where = f"ONNX node '{node_name}' ({op})" if node_name or op else "the model"
            problems.append(f"{where}: {err.desc()}")
        raise NetworkParseError(
            f"{model.label}: TensorRT's ONNX parser failed at "
            + "; ".join(problems or ["an unknown place (no parser error recorded)"])
        )
    return builder, network, parser


def _dtype(dt) -> str:
    return str(dt).rsplit(".", 1)[-1].lower()


def network_layers(network: object) -> pd.DataFrame:
    """One row per network layer: name, type, onnx_node, input/output shapes and dtypes."""
    rows = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        metadata = getattr(layer, "metadata", "") or ""
        origins = re.findall(r"\[ONNX Layer: (.*?)\]", metadata)
        inputs = [layer.get_input(j) for j in range(layer.num_inputs)]
        outputs = [layer.get_output(j) for j in range(layer.num_outputs)]
        rows.append(
            {
                "index": i,
                "name": layer.name,
                "type": str(layer.type).rsplit(".", 1)[-1],
                "onnx_node": origins[0] if origins else "",
                "inputs": [t.name for t in inputs if t is not None],
                "input_shapes": [list(t.shape) for t in inputs if t is not None],
                "input_dtypes": [_dtype(t.dtype) for t in inputs if t is not None],
                "outputs": [t.name for t in outputs],
                "output_shapes": [list(t.shape) for t in outputs],
                "output_dtypes": [_dtype(t.dtype) for t in outputs],
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "index",
            "name",
            "type",
            "onnx_node",
            "inputs",
            "input_shapes",
            "input_dtypes",
            "outputs",
            "output_shapes",
            "output_dtypes",
        ],
    )


def inspect_network(model: ModelSource) -> pd.DataFrame:
    """The network TensorRT's parser makes from ``model`` (any load_model source), before any fusion."""
    from ..model import load_model

    model = load_model(model)
    _, network, _ = parse_network(model)
    return network_layers(network)
