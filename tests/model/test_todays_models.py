"""Issue 19: today's models (unsorted FP16 files, LLM decoders with a KV cache, vision transformers) load and get
shapes that fit together."""

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from models import unsorted_fp16
from onnx import TensorProto as T
from onnx import helper as h

from workbench.errors import ModelError
from workbench.model import load_model
from workbench.model.order import sort_nodes_topologically


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


@pytest.fixture(scope="module")
def decoder_path(tmp_path_factory):
    """The KV-cache decoder with its weights in an external data file, as large LLM exports ship."""
    from models import kv_cache_decoder

    folder = tmp_path_factory.mktemp("decoder")
    path = folder / "decoder_model_merged.onnx"
    onnx.save(kv_cache_decoder(), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="decoder_model_merged.onnx_data", size_threshold=128)
    return path


def _run(path_or_proto, feeds):
    source = str(path_or_proto) if not isinstance(path_or_proto, onnx.ModelProto) else \
        path_or_proto.SerializeToString()
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"]).run(None, feeds)


def test_kv_cache_defaults_fit_together(decoder_path):
    from workbench.model import generate_feeds

    model = load_model(decoder_path)
    shapes = model.shapes.default
    assert shapes["input_ids"] == (1, 1) and shapes["past_key_values.0.key"] == (1, 2, 128, 8)
    assert shapes["attention_mask"] == (1, 129)  # past + sequence, computed, not 128
    sources = model.shapes.sources().set_index(["input", "axis"])
    assert sources.loc[("attention_mask", 1), "source"] == "relation"
    assert "past_sequence_length = 128" in sources.loc[("attention_mask", 1), "detail"]
    logits, present_key, _ = _run(decoder_path, generate_feeds(model))  # ONNX Runtime runs at the defaults
    assert logits.shape == (1, 1, 100) and present_key.shape == (1, 2, 129, 8)
    assert "computed from the other dimensions" in model.shapes.describe()


def test_given_shapes_carry_over_to_same_named_and_computed_dims(decoder_path):
    model = load_model(decoder_path)
    shapes = model.shapes.resolve({"input_ids": (1, 16), "past_key_values.0.key": (1, 2, 4, 8)})
    assert shapes["attention_mask"] == (1, 20)  # 4 + 16
    assert shapes["past_key_values.0.value"] == (1, 2, 4, 8)


def test_shapes_contradicting_a_relation_name_it(decoder_path):
    from workbench.errors import ConfigError

    model = load_model(decoder_path)
    with pytest.raises(ConfigError, match="past_sequence_length \\+ sequence_length.*130 at the other dimensions"):
        model.shapes.resolve({"input_ids": (1, 2), "attention_mask": (1, 128), "past_key_values.0.key": (1, 2, 128, 8)})
    with pytest.raises(ConfigError, match="'past_sequence_length' is 5 in input 'past_key_values.0.key' but 6"):
        model.shapes.resolve({"input_ids": (1, 4), "past_key_values.0.key": (1, 2, 5, 8),
                              "past_key_values.0.value": (1, 2, 6, 8)})


def test_pixel_values_get_channels_from_the_conv_weight_and_224():
    from models import pixel_values_vision

    model = load_model(pixel_values_vision())
    assert model.shapes.default == {"pixel_values": (1, 3, 224, 224)}
    detail = model.shapes.sources().set_index("dim").loc["num_channels", "detail"]
    assert "patch_embed" in detail
    assert model.stats.macs() == 8 * 3 * 16 * 16 * 14 * 14 + 8 * 10  # patch embedding at 224², and the classifier


def _reshape_to_48():
    """A model that runs only when its open 'features' dim is 48 (nothing in the model says so)."""
    shape = onnx.numpy_helper.from_array(np.array([1, 3, 16], np.int64), "to")
    g = h.make_graph([h.make_node("Reshape", ["x", "to"], ["y"], name="reshape_to_3x16")], "needs_48",
                     [h.make_tensor_value_info("x", T.FLOAT, ["N", "features"])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 3, 16])], [shape])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_prove_shapes_names_node_defaults_and_the_shapes_to_give():
    from workbench.model.proving import prove_shapes

    model = load_model(_reshape_to_48(), name="needs_48.onnx")
    with pytest.raises(ModelError) as info:
        prove_shapes(model)
    text = str(info.value)
    assert "needs_48.onnx: ONNX Runtime cannot run the model at x:1x1" in text
    assert "reshape_to_3x16" in text and "features = 1" in text and "--shapes x:1x1" in text
    assert "[ONNXRuntimeError]" not in text and "\n" not in text
    assert prove_shapes(model.at_shapes("x:1x48")) == {"x": (1, 48)}


def test_bench_takes_shapes_prints_and_records_them(run_cli, decoder_path, tmp_path):
    db = tmp_path / "runs.sqlite"
    fast = ("--duration", "0.02", "--warmup", "0.01", "--iterations", "2", "--results", db)
    code, out, err = run_cli("bench", decoder_path, *fast)  # no flags: the decode preset
    assert code == 0, err
    assert "shapes: input_ids:1x1" in out and "attention_mask:1x129" in out and "decode preset" in out
    code, out, err = run_cli("bench", decoder_path, "--shapes", "input_ids:1x16,past_key_values.0.key:1x2x4x8", *fast)
    assert code == 0, err
    assert "attention_mask:1x20" in out
    code, out, _ = run_cli("runs", "--results", db, "--json")
    import json

    recorded = [json.loads(r["extra"]) if isinstance(r.get("extra"), str) else r for r in json.loads(out)]
    text = json.dumps(recorded)
    assert "attention_mask:1x129" in text and "attention_mask:1x20" in text


def test_bench_failure_carries_the_guidance(run_cli, tmp_path):
    path = tmp_path / "needs_48.onnx"
    onnx.save(_reshape_to_48(), str(path))
    code, out, err = run_cli("bench", path, "--duration", "0.02", "--results", tmp_path / "r.sqlite")
    assert code == 1 and out == ""
    assert "cannot run the model at x:1x1" in err and "--shapes x:1x1" in err and "reshape_to_3x16" in err
    code, out, err = run_cli("bench", path, "--shapes", "x:1x48", "--duration", "0.02", "--warmup", "0.01",
                             "--iterations", "2", "--results", tmp_path / "r.sqlite")
    assert code == 0, err
    code, _, err = run_cli("bench", path, "--shapes", "x:1x2x3")
    assert code == 1 and "rank" in err


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory, decoder_path):
    from models import pixel_values_vision

    folder = tmp_path_factory.mktemp("samples")
    paths = {"decoder": decoder_path}
    for name, proto in (("unsorted_fp16", unsorted_fp16()), ("pixel_values", pixel_values_vision())):
        paths[name] = folder / f"{name}.onnx"
        onnx.save(proto, str(paths[name]))
    return paths


@pytest.mark.parametrize("sample", ["decoder", "unsorted_fp16", "pixel_values"])
@pytest.mark.parametrize("command", ["inspect", "layers", "build", "lint"])
def test_every_command_runs_on_todays_samples_with_no_flags(run_cli, sample_files, sample, command, tmp_path,
                                                          monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    code, out, err = run_cli(command, sample_files[sample])
    assert code == 0, err
    assert "cudaError" not in err + out
    if command in ("layers", "build"):
        assert "shapes: " in out
    if sample == "decoder" and command in ("inspect", "layers", "build"):
        assert "attention_mask:1x129" in out


def test_lint_finds_no_qdq_problems_on_a_float_model():
    from workbench.engines import build_engine
    from workbench.engines.lint import lint_engine

    findings = lint_engine(build_engine(load_model("bert_tiny")))
    assert len(findings) > 0  # its reformats are still reported ...
    assert not findings["rule"].str.startswith("qdq").any()  # ... but not as unfused Q/DQ: the model has none


def _conv_integer():
    """A layer as ONNX Runtime's quantize_dynamic writes it (QOperator format)."""
    g = h.make_graph([h.make_node("ConvInteger", ["x", "w"], ["y"], name="conv_int")], "ort_quantized",
                     [h.make_tensor_value_info("x", T.UINT8, [1, 3, 8, 8])],
                     [h.make_tensor_value_info("y", T.INT32, [1, 4, 6, 6])],
                     [onnx.numpy_helper.from_array(np.ones((4, 3, 3, 3), np.uint8), "w")])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _ml_normalizer():
    g = h.make_graph([h.make_node("Normalizer", ["x"], ["y"], name="norm", domain="ai.onnx.ml", norm="L2")], "ml",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, 4])], [h.make_tensor_value_info("y", T.FLOAT, [1, 4])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("ai.onnx.ml", 3)])


@pytest.mark.parametrize("make, expected", [
    (_conv_integer, ["ConvInteger x1 (domain ai.onnx)", "export the float model", "workbench quantize"]),
    (_ml_normalizer, ["Normalizer x1 (domain ai.onnx.ml)", "not for TensorRT"]),
])
def test_unsupported_ops_get_one_guiding_message(run_cli, tmp_path, make, expected):
    path = tmp_path / "model.onnx"
    onnx.save(make(), str(path))
    code, out, err = run_cli("build", path)
    assert code == 1 and out == ""
    line = err.strip().splitlines()[-1]
    assert "TensorRT cannot run these ops" in line and all(e in line for e in expected)
    assert "Plugin not found" not in err and "cudaError" not in err and len(line) < 500


def test_quantize_refuses_fp16_on_fp16_and_quantized_models_and_writes_nothing(run_cli, tmp_path):
    from models import qdq_conv

    cases = [(unsorted_fp16(), "fp16", "already fp16"), (_conv_integer(), "int8", "already quantized by ONNX Runtime"),
             (qdq_conv(), "int8", "already has QuantizeLinear/DequantizeLinear")]
    for proto, precision, expected in cases:
        source = tmp_path / f"in_{precision}.onnx"
        onnx.save(proto, str(source))
        written = tmp_path / f"out_{precision}.onnx"
        code, _, err = run_cli("quantize", source, "--precision", precision, "-o", written,
                                 "--calib-data", "digits:calibration")
        assert code == 1 and expected in err and str(source) in err, err
        assert not written.exists()


def test_a_converted_model_that_onnx_runtime_refuses_is_not_written(tmp_path):
    from workbench.precision.guards import check_written_model

    broken = load_model(unsorted_fp16())
    cast = broken.proto.graph.node[0]
    assert cast.op_type == "Cast" and cast.attribute[0].name == "to"
    cast.attribute[0].i = T.INT64  # the Conv then reads int64: the checker passes it, ONNX Runtime refuses it
    broken._bytes = None
    with pytest.raises(ModelError, match="not written"):
        check_written_model(broken, "fp16")
