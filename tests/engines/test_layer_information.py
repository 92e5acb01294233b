"""The inspector-JSON reader on every fixture exported from real GPU builds, and the builder-report parser."""

import json

import pytest

from workbench.engines import fusion_summary, parse_layer_report, read_layer_information, read_profile
from workbench.engines.layers import layers_frame, normalize_dtype
from workbench.errors import EngineFileError

from conftest import ENGINE_JSON

GRAPHS = sorted(ENGINE_JSON.glob("*.graph.json"))


def test_fixtures_are_present():
    assert len(GRAPHS) >= 2, f"engine JSON fixtures expected in {ENGINE_JSON}"


@pytest.mark.parametrize("graph", GRAPHS, ids=lambda p: p.name)
def test_every_fixture_parses_with_its_profile(graph):
    profile = graph.with_name(graph.name.replace(".graph.json", ".profile.json"))
    df = read_layer_information(graph, profile)
    raw = json.loads(graph.read_text())["Layers"]
    assert len(df) == len(raw)
    assert list(df["name"]) == [layer["Name"] for layer in raw]
    assert df["time_ms"].notna().all() and abs(df["time_pct"].sum() - 100) < 0.5
    assert (df["kind"].isin(["compute", "reformat", "noop", "shape", "sync", "inserted"])).all()
    compute = df[df["kind"] == "compute"]
    assert compute["onnx_nodes"].apply(len).gt(0).all()
    assert all(d for ds in df["output_dtypes"] for d in ds)


def test_resnet_fixture_fusions():
    df = read_layer_information(ENGINE_JSON / "resnet.onnx.engine.graph.json")
    row = df[df["name"] == "Conv_5 + Add_6 + Relu_7"].iloc[0]
    assert row["onnx_nodes"] == ["Conv_5", "Add_6", "Relu_7"] and row["output_dtypes"] == ["float16"]
    patterns = fusion_summary(df).to_dict()
    fused = {f["pattern"]: f["count"] for f in patterns["fusions"]}
    assert fused["Conv + Relu"] == 9 and fused["Conv + Add + Relu"] == 8
    assert patterns["inserted_layers"]["reformat"] == 12


def test_mobilenet_qat_fixture_is_int8():
    df = read_layer_information(ENGINE_JSON / "mobilenet.qat.onnx.engine.graph.json")
    first_conv = df.iloc[1]
    assert first_conv["onnx_nodes"] == ["features.0.0.weight", "QuantizeLinear_8", "Conv_12", "Clip_16"]
    assert first_conv["output_dtypes"] == ["int8"]
    assert df.iloc[0]["kind"] == "compute" and df.iloc[0]["onnx_nodes"] == ["QuantizeLinear_2"]


REPORT = ("Layers:\n"
          "Name: __myl_CorrMulAddRelu_myl0_2, LayerType: runtime_fusion, Inputs: [ { Name: x, Dimensions: [-1,3,16,16],"
          " Strides: [768,1,48,3], StrideOrder: [3,0,2,1], Datatype: Half, Format: (NHWC) Channel major format }], "
          "Constants: [ { Name: c0, Dimensions: [1,8,1,1], Datatype: Float, Format: (Linear) Row major linear format }],"
          " Outputs: [ { Name: y, Dimensions: [-1,8,16,16], Datatype: Int8, Format: (NHWC) Channel major format }], "
          "TacticName: __myl_x, StreamId: 2, Metadata: [ONNX Layer: conv1]\x1f[ONNX Layer: bn1]\x1f[ONNX Layer: relu1]\n"
          "Name: __mye1_myl0_3, LayerType: signal, Inputs: [], Constants: [], Outputs: [], TacticName: , StreamId: 2, "
          "EventId: 7, Metadata: \n"
          "\nI/O Tensors:\n Name: x, IOMode: Input\n")


def test_builder_report_parser():
    raw = parse_layer_report(REPORT)
    assert len(raw) == 2
    df = layers_frame(raw, source="builder-log")
    first, second = df.iloc[0], df.iloc[1]
    assert first["onnx_nodes"] == ["conv1", "bn1", "relu1"] and first["stream"] == 2
    assert first["input_dtypes"] == ["float16"] and first["output_dtypes"] == ["int8"]
    assert first["output_shapes"] == [[-1, 8, 16, 16]] and first["tactic"] == "__myl_x"
    assert second["kind"] == "sync" and second["event_id"] == 7 and second["onnx_nodes"] == []


def test_dtype_words():
    assert normalize_dtype("Channel major FP16 format where channel % 8 == 0") == "float16"
    assert normalize_dtype("Thirty-two wide channel vectorized row major Int8 format") == "int8"
    assert normalize_dtype("Row major linear FP32") == "float32"
    assert normalize_dtype("BFloat16") == "bfloat16"


def test_bad_layer_files(tmp_path):
    with pytest.raises(EngineFileError, match="no such"):
        read_layer_information(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(EngineFileError, match="not a layer information JSON"):
        read_layer_information(bad)
    bad.write_text('{"something": []}')
    with pytest.raises(EngineFileError, match="no 'Layers' list"):
        read_layer_information(bad)
    bad.write_text('{"count": 3}')
    with pytest.raises(EngineFileError, match="not a TensorRT profile"):
        read_profile(bad)


def test_names_only_file_still_reads(tmp_path):
    f = tmp_path / "names.json"
    f.write_text(json.dumps({"Layers": ["Conv_0 + Relu_1", "MaxPool_2"]}))
    df = read_layer_information(f)
    assert list(df["onnx_nodes"]) == [["Conv_0", "Relu_1"], ["MaxPool_2"]]


def test_one_profile_join_by_position_then_by_name():
    import pandas as pd

    from workbench.engines.layers import join_profile

    layers = pd.DataFrame({"name": ["a", "b", "a"]})
    same = pd.DataFrame({"name": ["a", "b", "a"], "time_ms": [1.0, 2.0, 3.0]})
    assert join_profile(layers, same)["time_ms"].tolist() == [1.0, 2.0, 3.0]  # repeated names stay apart
    # the same count but other names (lint once aligned by count alone): joined by name, NaN where none matches
    other = pd.DataFrame({"name": ["b", "x", "a"], "time_ms": [2.0, 9.0, 1.0]})
    joined = join_profile(layers, other)["time_ms"]
    assert joined.tolist() == [1.0, 2.0, 1.0]
    assert join_profile(pd.DataFrame({"name": ["c"]}), other)["time_ms"].isna().all()
