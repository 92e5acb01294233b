"""Issue 19: today's models (unsorted FP16 files, LLM decoders with a KV cache, vision transformers) load and get
shapes that fit together."""

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T, helper as h

from workbench.errors import ModelError
from workbench.model import load_model
from workbench.model.order import sort_nodes_topologically

from models import unsorted_fp16


def _load_quietly(source):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(source)
    return model, [str(w.message) for w in caught]


def test_unsorted_fp16_model_loads_sorted_and_said_once(tmp_path):
    proto = unsorted_fp16()
    with pytest.raises(onnx.checker.ValidationError, match="topologically sorted"):
        onnx.checker.check_model(proto)  # the defect: the checker refuses what ONNX Runtime runs
    path = tmp_path / "unsorted.onnx"
    onnx.save(proto, str(path))
    model, said = _load_quietly(path)
    assert [m for m in said if "topological order" in m] == [said[0]] and str(path) in said[0]
    names = [n.name for n in model.nodes]
    assert names.index("graph_input_cast_0") < names.index("conv") < names.index("greater") < names.index("if")
    onnx.checker.check_model(model.proto)
    feeds = {"x": np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)}
    run = lambda p: ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    np.testing.assert_array_equal(run(proto)[0], run(model.proto)[0])  # the same computation
    _, said_again = _load_quietly(model)
    assert not [m for m in said_again if "topological order" in m]


def test_sorted_graph_is_left_alone():
    proto = unsorted_fp16()
    assert sort_nodes_topologically(proto.graph)
    order = [n.name for n in proto.graph.node]
    assert not sort_nodes_topologically(proto.graph)
    assert [n.name for n in proto.graph.node] == order


def test_checker_error_is_whole_and_says_what_it_means():
    proto = unsorted_fp16()
    proto.graph.node[2].input[0] = "no_such_tensor"  # the Conv reads a tensor nothing produces
    with pytest.raises(ModelError) as info:
        load_model(proto, name="missing.onnx")
    text = str(info.value)
    assert "missing.onnx" in text and "fails onnx.checker" in text and "\n" not in text
    assert "is not output of any previous nodes" in text  # the whole message, not its first line
    assert "meaning:" in text and "missing tensor" in text
