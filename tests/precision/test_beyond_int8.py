"""Beyond INT8 (issue 26 item 6): FP16/BF16 for the unquantized layers, FP8 targets; INT4 and SmoothQuant are in
test_llm_quantization.py."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T

from workbench.engines import BuildConfig, build_engine
from workbench.engines.estimate.workload import layer_workload
from workbench.errors import ConfigError, EngineBuildError
from workbench.model import load_model
from workbench.model.datasets import digits
from workbench.precision import PrecisionPlan, apply_precision, calibrate, compare, quantize


@pytest.fixture(scope="module")
def digits_model():
    return load_model("digits_cnn")


@pytest.fixture(scope="module")
def minmax_table(digits_model):
    return calibrate(digits_model, digits("calibration")[0], "minmax", only_quantized=True)


def _engine_precisions(model) -> dict:
    return layer_workload(build_engine(model), model)["precision"].value_counts().to_dict()


def test_int8_with_the_rest_in_fp16_builds_runs_and_agrees(digits_model, minmax_table):
    fp32_rest = quantize(digits_model, minmax_table).model
    result = quantize(digits_model, minmax_table, float_precision="fp16")
    q = result.model
    onnx.checker.check_model(q.proto, full_check=True)
    assert q.opset >= 19 and q.metadata("workbench.float_precision") == "fp16"
    # DequantizeLinear writes FP16 straight into the Conv (its scales are FP16); inputs and outputs stay FP32
    scales = {t.name: t.data_type for t in q.proto.graph.initializer}
    dq = [n for n in q.nodes if n.op_type == "DequantizeLinear"]
    assert dq and all(scales[n.input[1]] == T.FLOAT16 for n in dq)
    assert q.inputs[0].dtype == "float32" and q.stats.op_histogram["QuantizeLinear"] == fp32_rest.stats.op_histogram[
        "QuantizeLinear"]
    ort.InferenceSession(q.to_bytes(), providers=["CPUExecutionProvider"])
    test_x, test_y = digits("test")
    int8_row = compare(digits_model, fp32_rest, test_x[:200], labels=test_y[:200]).iloc[0]
    row = compare(digits_model, q, test_x[:200], labels=test_y[:200]).iloc[0]
    assert row.sqnr_db > int8_row.sqnr_db - 1.0 and row.top1_agreement >= 0.99, row.to_dict()
    before, after = _engine_precisions(fp32_rest), _engine_precisions(q)
    assert after.get("float16", 0) >= 2 and before.get("float16", 0) == 0
    assert after["int8"] >= 4 and after.get("float32", 0) < before["float32"]


def test_float_precision_through_the_plan_and_its_errors(digits_model, minmax_table):
    plan = PrecisionPlan("int8", calibrator="minmax", float_precision="BF16")
    assert plan.float_precision == "bf16" and plan.label.endswith("rest bf16")
    q = apply_precision(digits_model, plan, minmax_table)
    assert any(t.data_type == T.BFLOAT16 for t in q.proto.graph.initializer)
    with pytest.raises(ConfigError, match="for the tensorrt target"):
        PrecisionPlan("int8", target="onnxruntime", float_precision="fp16")
    with pytest.raises(ConfigError, match="float_precision 'fp64' is unknown"):
        quantize(digits_model, minmax_table, float_precision="fp64")
    with pytest.raises(ConfigError, match="for int8/fp8 plans"):
        PrecisionPlan("fp16", float_precision="fp16")


def test_cli_float_precision(run_cli, tmp_path):
    out = tmp_path / "q.onnx"
    code, stdout, err = run_cli("quantize", "digits_cnn", "--calib-data", "digits:calibration", "--calibrator",
                                "minmax", "--samples", "40", "--float-precision", "fp16", "-o", out, "--json")
    assert code == 0, err
    assert json.loads(stdout)["float_precision"] == "fp16"
    assert load_model(out).metadata("workbench.float_precision") == "fp16"


def test_fp8_builds_for_ada_and_blackwell_targets_and_not_for_ampere(digits_model):
    table = calibrate(digits_model, digits("calibration")[0], "minmax", precision="fp8", only_quantized=True)
    q = quantize(digits_model, table).model
    assert np.allclose(table.frame["scale"], table.frame["amax"] / 448)
    for caps in (("8.9",),):  # 12.0 builds too (README); one target keeps the test short
        layers = build_engine(q, BuildConfig(compute_capabilities=caps)).layers
        assert "float8" in [d for ds in layers.output_dtypes for d in ds], caps
    with pytest.raises(EngineBuildError, match="sm86"):  # E4M3 needs Ada (8.9) or newer
        build_engine(q, BuildConfig(compute_capabilities=("8.6",)))


def test_panel_offers_the_float_precision_for_the_tensorrt_target_only(digits_model):
    from workbench.widgets import PrecisionPanel

    panel = PrecisionPanel(digits_model, digits("calibration")[0][:32])
    assert list(panel.float_precision.options) == ["fp32", "fp16", "bf16"]
    panel.float_precision.value = "fp16"
    assert panel.plan().float_precision == "fp16"
    panel.target.value = "onnxruntime"
    assert panel.float_precision.value == "fp32" and panel.float_precision.disabled
    panel.precision.value = "fp16"
    assert panel.float_precision.disabled and panel.plan().float_precision == "fp32"
