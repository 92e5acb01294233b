"""The engine graph's input nodes carry their shapes (an int32 input was drawn as "?": no layer writes a graph
input, and the layer table kept only output shapes)."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from workbench.engines import build_engine
from workbench.graph import from_engine
from workbench.model import Model


def _token_model() -> Model:
    """Token ids (int32, [batch, sequence]) and a float mask, as a text encoder's inputs."""
    table = numpy_helper.from_array(np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32), "table")
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["embedded"], name="embed"),
        helper.make_node("Unsqueeze", ["mask", "axis"], ["mask3"], name="unsqueeze"),
        helper.make_node("Mul", ["embedded", "mask3"], ["masked"], name="mask_mul"),
        helper.make_node("Relu", ["masked"], ["hidden"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "tokens",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT32, ["batch", "sequence"]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "sequence", 8])],
        [table, numpy_helper.from_array(np.array([2], np.int64), "axis")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto)
    return Model(proto, label="tokens")


def test_engine_inputs_show_their_shape_with_the_models_dimension_names():
    model = _token_model()
    result = build_engine(model, cache=False)
    graph = from_engine(result.layers, model=model)
    edges = graph.edges[graph.edges["tensor"] == "input_ids"]
    assert len(edges), graph.edges["tensor"].tolist()
    texts = " ".join(edges["shape"].astype(str))
    assert "[batch, sequence]" in texts or "[1, " in texts, texts
    assert "?" not in texts
    # without the model the engine's own dimensions are shown (-1 where dynamic), never "?"
    bare = from_engine(result.layers)
    bare_texts = " ".join(bare.edges[bare.edges["tensor"] == "input_ids"]["shape"].astype(str))
    assert bare_texts and "?" not in bare_texts, bare_texts
