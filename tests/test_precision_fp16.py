"""FP16 precision plans: valid models, float32 I/O kept, kept ops stay FP32, TensorRT-RTX builds FP16 layers."""

import numpy as np
import onnxruntime as ort
import pytest

from workbench.engines import build_engine
from workbench.errors import ConfigError
from workbench.model import generate_feeds, load_model
from workbench.precision import PrecisionPlan, apply_precision


def _run(model, feeds):
    return ort.InferenceSession(model.to_bytes(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


@pytest.mark.parametrize("sample", ["resnet_tiny", "bert_tiny", "inception_tiny"])
def test_fp16_models_are_valid_and_close_to_fp32(sample):
    model = load_model(sample)
    half = apply_precision(model, "fp16")  # load_model runs onnx.checker: topological order is fixed
    assert half.precision == "fp16" and half.name == f"{sample}_fp16"
    assert [s.dtype for s in half.inputs] == [s.dtype for s in model.inputs]
    assert {s.dtype for s in half.outputs} == {"float32"}
    weights = {t.data_type for t in half.proto.graph.initializer if t.data_type in (1, 10)}
    assert weights == {10}  # every float weight is float16 now
    feeds = generate_feeds(model)
    ref, got = _run(model, feeds), _run(half, feeds)
    assert got.dtype == np.float32
    assert np.abs(got - ref).max() <= 0.01 * np.abs(ref).max() + 1e-3


def test_kept_op_types_stay_fp32_and_engines_get_fp16_layers():
    model = load_model("bert_tiny")
    plan = PrecisionPlan("fp16", keep_op_types=("Softmax", "LayerNormalization"))
    half = apply_precision(model, plan)
    dtypes = half.tensor_dtypes
    kept = [n for n in half.nodes if n.op_type in ("Softmax", "LayerNormalization")]
    assert kept and all(dtypes[n.output[0]] == "float32" for n in kept)
    converted = [n for n in half.nodes if n.op_type == "MatMul"]
    assert all(dtypes[n.output[0]] == "float16" for n in converted)
    layers = build_engine(half).layers
    out_types = [d for ds in layers.output_dtypes for d in ds]
    assert out_types.count("float16") > len(layers) // 2 and "float32" in out_types


def test_fp32_plan_returns_the_model_unchanged():
    model = load_model("resnet_tiny")
    assert apply_precision(model, PrecisionPlan()) is model


@pytest.mark.parametrize("kwargs, match", [
    (dict(precision="fp12"), "precision 'fp12' is unknown"),
    (dict(precision="fp16", keep_nodes=("no_such_node",)), "node 'no_such_node' is not in"),
    (dict(precision="fp16", keep_op_types=("Softmax",)), "op type 'Softmax' does not occur"),
])
def test_bad_plans_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        apply_precision("resnet_tiny", PrecisionPlan(**kwargs))
