import random

import onnx
import pytest
from onnx import TensorProto as T, helper as h

import workbench
from workbench.errors import (ConfigError, ExternalDataError, ModelError, ModelNotFoundError, UnsupportedOpsetError,
                              WorkbenchError)
from workbench.model import load_model

from models import constant_weights, conv_bn_relu, heavy_ops, old_exporter


def test_load_from_path_bytes_proto_and_sample(tmp_path):
    proto = conv_bn_relu()
    path = tmp_path / "m.onnx"
    onnx.save(proto, str(path))
    for source in (path, str(path), path.read_bytes(), proto):
        m = load_model(source)
        assert m.node_count == 3
        assert [s.name for s in m.inputs] == ["x"]
        assert m.inputs[0].shape == ("N", 3, 16, 16)  # symbolic dimension kept by name
        assert m.inputs[0].dtype == "float32"
        assert m.stats.op_histogram == {"BatchNormalization": 1, "Conv": 1, "Relu": 1}
    sample = load_model("resnet_tiny")
    assert sample.label == "sample:resnet_tiny"
    assert sample.inputs[0].shape == ("batch", 3, 32, 32)


def test_loading_a_proto_does_not_modify_it():
    proto = conv_bn_relu()
    before = proto.SerializeToString()
    load_model(proto)
    assert proto.SerializeToString() == before


def test_description_facts():
    m = load_model(conv_bn_relu())
    assert m.stats.parameter_count == 8 * 3 * 3 * 3 + 4 * 8
    assert m.stats.parameter_bytes == 4 * m.stats.parameter_count
    assert m.opset == 17 and m.opsets == {"ai.onnx": 17}
    assert m.ir_version == m.proto.ir_version
    # shape inference applied: intermediate tensors have shapes
    assert m.shapes.declared["c"] == ("N", 8, 16, 16)
    summary = m.summary()
    assert list(summary.columns) == ["property", "value"]
    assert "nodes" in set(summary["property"])
    html = m._repr_html_()
    assert "conv_bn_relu" in html and "<table" in html


def test_macs_of_heavy_ops_by_hand():
    m = load_model(heavy_ops())
    df = m.stats.estimate_flops({"x": (2, 4, 8, 8)}).set_index("node")
    assert df.loc["conv", "macs"] == 2 * 16 * 8 * 8 * (4 * 3 * 3)
    assert df.loc["convT", "macs"] == (2 * 16 * 8 * 8) * (8 * 2 * 2)
    assert df.loc["gemm", "macs"] == 2 * 10 * (8 * 16 * 16)
    assert df.loc["matmul", "macs"] == 2 * 5 * 10
    assert df["shapes_known"].all()
    assert df.attrs["input_shapes"] == {"x": [2, 4, 8, 8]}
    # FLOPs are two per MAC for the MAC-only ops
    assert df.loc["matmul", "flops"] == 2 * df.loc["matmul", "macs"]


def test_realistic_samples_match_published_sizes():
    resnet = load_model("resnet50")
    assert 25.5e6 < resnet.stats.parameter_count < 25.7e6           # torchvision ResNet-50: 25.6 M
    assert 4.0e9 < resnet.stats.macs() < 4.2e9                      # 4.1 GMACs at 224x224
    assert {"Conv", "BatchNormalization", "Relu", "Add", "MaxPool", "GlobalAveragePool", "Gemm"} <= set(
        resnet.stats.op_histogram)
    bert = load_model("bert_base")
    assert 108e6 < bert.stats.parameter_count < 111e6               # BERT-base without pooler: ~109 M
    assert {"MatMul", "Add", "LayerNormalization", "Softmax", "Erf", "Reshape", "Transpose"} <= set(bert.stats.op_histogram)
    assert bert.inputs[0].shape == ("batch", "sequence")
    assert 10.5e9 < bert.stats.macs({"input_ids": (1, 128)}) < 11.5e9  # ~11.2 GMACs at sequence 128


def test_shapes_validated():
    m = load_model("resnet_tiny")
    with pytest.raises(ConfigError, match="not an input"):
        m.stats.estimate_flops({"nope": (1, 3, 32, 32)})
    with pytest.raises(ConfigError, match="rank 4"):
        m.stats.estimate_flops({"input": (1, 3, 32)})
    with pytest.raises(ConfigError, match="fixed at 32"):
        m.stats.estimate_flops({"input": (1, 3, 64, 64)})
    assert m.stats.macs({"input": (4, 3, 32, 32)}) == 4 * m.stats.macs()


def test_external_data(tmp_path):
    proto = conv_bn_relu()
    path = tmp_path / "ext.onnx"
    onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.weights", size_threshold=0)
    m = load_model(path)
    assert m.stats.parameter_count == 8 * 3 * 3 * 3 + 4 * 8
    assert onnx.numpy_helper.to_array(m.proto.graph.initializer[0]).shape == (8, 3, 3, 3)
    (tmp_path / "ext.weights").unlink()
    with pytest.raises(ExternalDataError, match="ext.weights.*missing"):
        load_model(path)


def test_old_exporter_model():
    m = load_model(old_exporter())
    assert [s.name for s in m.inputs] == ["x"]                # initializer listed as input is not an input
    assert m.opset == 7 and m.ir_version == 3
    assert m.stats.op_histogram == {"Conv": 1, "Dropout": 1, "LRN": 1, "Sum": 1}
    assert m.shapes.declared["y"] == (1, 4, 8, 8)
    assert m.stats.macs() == 4 * 8 * 8 * 3


def test_constant_folding_on_request():
    plain = load_model(constant_weights())
    assert "Constant" in plain.stats.op_histogram and plain.stats.parameter_count == 4 * 6 + 1
    folded = load_model(constant_weights(), fold_constants=True)
    assert "Constant" not in folded.stats.op_histogram and "ConstantOfShape" not in folded.stats.op_histogram
    assert {t.name for t in folded.proto.graph.initializer} >= {"w", "b"}
    assert folded.stats.parameter_count == 4 * 6 + 6


# --- bad input ------------------------------------------------------------------------------------------------
def test_missing_path():
    with pytest.raises(ModelNotFoundError, match="nope.onnx: no such file"):
        load_model("/definitely/nope.onnx")


@pytest.mark.parametrize("content,what", [
    (b"hello, this is not a model\n", "text file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG image"),
    (bytes(random.Random(1).randrange(256) for _ in range(4096)), "not an ONNX model"),
    (b"", "empty"),
])
def test_not_onnx(tmp_path, content, what):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=what) as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_truncated(tmp_path):
    data = load_model("resnet_tiny").to_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated or corrupted") as info:
        load_model(path)
    assert "truncated.onnx" in str(info.value)


def test_checker_failure():
    proto = conv_bn_relu()
    proto.graph.node[2].op_type = "NoSuchOp"
    with pytest.raises(ModelError, match="fails onnx.checker"):
        load_model(proto, name="broken.onnx")


def test_opset_too_new():
    proto = conv_bn_relu()
    proto.opset_import[0].version = onnx.defs.onnx_opset_version() + 5
    with pytest.raises(UnsupportedOpsetError, match=f"opset {onnx.defs.onnx_opset_version() + 5}"):
        load_model(proto)


def test_empty_graph():
    g = h.make_graph([], "empty", [h.make_tensor_value_info("x", T.FLOAT, [1])],
                     [h.make_tensor_value_info("x", T.FLOAT, [1])])
    with pytest.raises(ModelError, match="graph is empty"):
        load_model(h.make_model(g))


def test_wrong_source_type():
    with pytest.raises(ConfigError, match="cannot load a model from a int"):
        load_model(42)


def test_one_hierarchy():
    for cls in (ModelError, ConfigError, ExternalDataError, UnsupportedOpsetError):
        assert issubclass(cls, WorkbenchError)
    assert workbench.WorkbenchError is WorkbenchError
