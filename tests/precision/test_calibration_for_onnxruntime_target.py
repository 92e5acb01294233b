"""Calibrating for the ONNX Runtime CPU target covers only what its quantizer reads (issue 26, item 5): a Conv's
output that the pre-processing folds into its BatchNormalization is never calibrated, nor a Relu's input (its range
is derived from the Relu output's), and the quantized model is the same as with every tensor calibrated."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization.shape_inference import quant_pre_process

from workbench.model import load_model
from workbench.precision import calibrate, quantize
from workbench.precision.calibrate import (
    activation_tensors,
    derived_by_onnxruntime_quantizer,
    folded_by_onnxruntime_preprocessing,
)


def _feeds(model, count=16):
    spec = model.inputs[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in spec.shape][1:]
    return {spec.name: np.random.default_rng(0).standard_normal((count, *shape)).astype(np.float32)}


def _prepared_tensors(model, tmp_path) -> set[str]:
    source, prepared = tmp_path / "source.onnx", tmp_path / "prepared.onnx"
    model.save(source)
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    graph = onnx.load(prepared).graph
    return {t for n in graph.node for t in [*n.input, *n.output]}


def test_the_folded_conv_outputs_are_those_the_preprocessing_removes(tmp_path):
    model = load_model("resnet_tiny")
    folded = folded_by_onnxruntime_preprocessing(model)
    conv_into_bn = {
        n.output[0]
        for n in model.nodes
        if n.op_type == "Conv" and [c.op_type for c in model.nodes if n.output[0] in c.input] == ["BatchNormalization"]
    }
    assert folded == conv_into_bn and len(folded) == 6
    assert not folded & _prepared_tensors(model, tmp_path)  # gone after ONNX Runtime's pre-processing
    assert set(activation_tensors(model)) - folded <= _prepared_tensors(model, tmp_path) | {model.inputs[0].name}


@pytest.mark.parametrize("name, calibrated", [("resnet_tiny", (12, 23)), ("inception_tiny", (21, 47)), ("digits_cnn", (10, 14))])
def test_the_cpu_model_is_the_same_with_fewer_tensors_calibrated(name, calibrated):
    model = load_model(name)
    feeds = _feeds(model)
    every = calibrate(model, feeds, "minmax", histograms=False)
    read = calibrate(model, feeds, "minmax", only_quantized=True, target="onnxruntime")
    assert (len(read), len(every)) == calibrated and "Conv outputs folded" in read.notes[0]
    assert set(read.frame["tensor"]) < set(every.frame["tensor"])
    one = quantize(model, every, target="onnxruntime").model.proto
    two = quantize(model, read, target="onnxruntime").model.proto
    assert [(n.op_type, list(n.input), list(n.output)) for n in one.graph.node] == [
        (n.op_type, list(n.input), list(n.output)) for n in two.graph.node
    ]
    # The ranges agree to float32 rounding, not bit for bit: with the Conv outputs no longer outputs of the
    # calibration run, ONNX Runtime folds each BatchNormalization there too (as in the quantized model)
    first = {t.name: numpy_helper.to_array(t) for t in one.graph.initializer}
    second = {t.name: numpy_helper.to_array(t) for t in two.graph.initializer}
    assert first.keys() == second.keys()
    for name, values in first.items():
        assert values.dtype == second[name].dtype, name
        if values.dtype.kind == "f":
            np.testing.assert_allclose(values, second[name], rtol=1e-5, err_msg=name)
        else:  # quantized weights and zero points: at most one step apart where a scale's last bit moved
            assert np.abs(values.astype(np.int64) - second[name].astype(np.int64)).max(initial=0) <= 1, name


def _conv_bn(second_reader: bool, bn_scale_is_input: bool):
    w = numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), "w")
    params = [numpy_helper.from_array(np.full(2, v, np.float32), n) for n, v in
              (("scale", 1.0), ("bias", 0.0), ("mean", 0.0), ("var", 1.0))]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 4, 4])]
    if bn_scale_is_input:
        params = params[1:]
        inputs.append(helper.make_tensor_value_info("scale", TensorProto.FLOAT, [2]))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["b"], name="bn")]
    outputs = [helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n", 2, 4, 4])]
    if second_reader:
        nodes.append(helper.make_node("Relu", ["c"], ["r"], name="relu"))
        outputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, ["n", 2, 4, 4]))
    graph = helper.make_graph(nodes, "conv_bn", inputs, outputs, [w, *params])
    return load_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def test_a_conv_output_that_stays_is_calibrated(tmp_path):
    assert folded_by_onnxruntime_preprocessing(_conv_bn(False, False)) == {"c"}
    assert "c" not in _prepared_tensors(_conv_bn(False, False), tmp_path)
    for model in (_conv_bn(True, False), _conv_bn(False, True)):  # a second reader; a scale that is an input
        assert folded_by_onnxruntime_preprocessing(model) == set()
        assert "c" in _prepared_tensors(model, tmp_path)  # the pre-processing keeps it: it needs a range
    kept = _conv_bn(True, False)
    assert "c" in set(calibrate(kept, _feeds(kept), "minmax", only_quantized=True, target="onnxruntime").frame["tensor"])


def test_an_unknown_target_is_named():
    from workbench.errors import ConfigError

    model = load_model("resnet_tiny")
    with pytest.raises(ConfigError, match="calibration target 'cuda' must be tensorrt or onnxruntime"):
        calibrate(model, _feeds(model), "minmax", only_quantized=True, target="cuda")


def test_a_relu_input_takes_the_range_of_the_last_relu_of_a_chain_and_only_when_the_relu_is_its_one_reader():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r0"),
             helper.make_node("Relu", ["a"], ["b"], name="r1"),  # 'a' feeds a Relu whose output is derived: kept
             helper.make_node("Relu", ["b"], ["c"], name="r2"),  # 'b' takes the range of 'c', the chain's last
             helper.make_node("Neg", ["c"], ["d"], name="neg"),
             helper.make_node("Relu", ["d"], ["e"], name="r3"),
             helper.make_node("Add", ["d", "e"], ["y"], name="add")]  # 'd' has two readers: calibrated
    graph = helper.make_graph(nodes, "relus", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])])
    model = load_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert derived_by_onnxruntime_quantizer(model) == {"b": "c"}  # 'x' is a graph input
