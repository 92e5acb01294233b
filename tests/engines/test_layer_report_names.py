"""Names are data in the engine layer report: node names built to break the parser (its separators, template
payloads, quotes, brackets, newlines) keep every engine layer and its ONNX origins, from a real TensorRT-RTX build
and from report text."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from workbench.engines.layers import layers_frame, parse_layer_report

HOSTILE = ["conv, Metadata: x", '${x}{{y("z")()}}' * 10, "line1\nline2", "a, Name: b, LayerType: c",
           "q'uo\"te [x] {y}", "ends]\n[ONNX Layer: fake]", "tab\tand, StreamId: 9, Outputs: [ { Name: z }]"]
# (\x1f is not in the list: it is the separator TensorRT itself writes between names, unescaped, in its report)


def _chain(names):
    nodes, weights, prev = [], [], "input"
    for i, name in enumerate(names):
        weights.append(numpy_helper.from_array(np.full((4, 4, 1, 1), 0.1, np.float32), f"w{i}"))
        nodes += [helper.make_node("Conv", [prev, f"w{i}"], [f"t{i}"], name=name),
                  helper.make_node("Relu", [f"t{i}"], [f"r{i}"], name=name + " relu")]
        prev = f"r{i}"
    graph = helper.make_graph(nodes, "hostile", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 4, 8, 8])], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _line(name, origins, stream=0):
    metadata = "\x1f".join(f"[ONNX Layer: {o}]" for o in origins)
    return (f"Name: {name}, LayerType: CaskConvolution, Inputs: [ {{ Name: a, Dimensions: [1,4], Format/Datatype: "
            f"Float }}], Outputs: [ {{ Name: b, Dimensions: [1,4], Format/Datatype: Float }}], TacticName: t, "
            f"StreamId: {stream}, Metadata: {metadata}")


@pytest.mark.parametrize("name", HOSTILE)
def test_report_text_with_a_hostile_name(name):
    report = "Layers:\n" + "\n".join([_line("first", ["first"]), _line(name, [name, name + " relu"], 1),
                                      _line("last", ["last"])]) + "\n\nI/O Tensors:\n Name: input, IOMode: Input\n"
    frame = layers_frame(parse_layer_report(report), source="builder-log")
    assert list(frame.name) == ["first", name, "last"]
    assert frame.onnx_nodes.iloc[1] == [name.strip(), (name + " relu").strip()]
    assert list(frame.stream) == [0, 1, 0] and list(frame.outputs.iloc[1]) == ["b"]


def test_a_real_build_keeps_every_origin_of_hostile_names():
    pytest.importorskip("tensorrt_rtx")
    from workbench.engines import build_engine
    from workbench.model import load_model

    result = build_engine(load_model(_chain(HOSTILE), name="hostile"))
    frame = result.layers
    compute = frame[frame.kind == "compute"]
    origins = {o for nodes in compute.onnx_nodes for o in nodes}
    assert origins == {n.strip() for name in HOSTILE for n in (name, name + " relu")}
