"""Beyond TREx: GPU estimate (workload, GPU table, calibration), lint, engine diff, and their CLI — on the recorded
GPU engine JSON and on real TensorRT-RTX CPU builds of a sample."""

import json

import numpy as np
import pytest

from workbench.engines import BuildConfig, build_engine, diff_engines, lint_engine, lint_qdq_model
from workbench.engines.estimate import (RECORDINGS, error_metrics, estimate_engine, fit_factors, gpu_for_device,
                                        gpu_spec, gpus, layer_workload, leave_one_gpu_out, leave_one_out, recording,
                                        tactic_math)
from workbench.engines.estimate.gpu_check import compare_measurements, timing_shapes
from workbench.errors import ConfigError, EngineFileError, EngineMismatchError
from workbench.model import generate_feeds, load_model
from workbench.precision import calibrate, quantize

RESNET, MOBILENET = recording("resnet18-fp16-a100"), recording("mobilenetv2-int8-titan-rtx")
SHAPES = {"input": (4, 3, 32, 32)}


@pytest.fixture(scope="module")
def tiny():
    model = load_model("resnet_tiny")
    table = calibrate(model, [generate_feeds(model, SHAPES, seed=s) for s in range(2)], "minmax")
    config = BuildConfig(shapes=SHAPES)
    good = quantize(model, table, target="tensorrt").model
    bad = quantize(model, table, target="tensorrt", exclude_op_types=("Add",)).model  # residual Adds left float
    return {"fp32": build_engine(model, config), "int8": build_engine(good, config),
            "bad_int8": build_engine(bad, config), "good_model": good, "bad_model": bad}


# --- GPU table and workload -------------------------------------------------------------------------------------
def test_gpu_table_has_sources_and_unknown_gpu_lists_known_ones():
    table = gpus()
    assert {"a100", "h100", "t4", "rtx4090", "l4", "titan-rtx"} <= set(table["name"])
    assert table["source"].str.len().gt(10).all() and (table["memory_bandwidth_gbs"] > 0).all()
    assert gpu_spec("A100").peak_flops("float32")[1] == "tf32"      # TensorRT runs FP32 as TF32 on Ampere
    assert gpu_spec("t4").peak_flops("float32")[1] == "float32"     # Turing has no TF32
    with pytest.raises(ConfigError, match="known GPUs: .*h100"):
        gpu_spec("b300")
    assert gpu_for_device("NVIDIA A100 80GB PCIe").name == "a100-80gb-pcie"
    with pytest.raises(ConfigError, match="known devices: .*NVIDIA TITAN RTX"):
        gpu_for_device("NVIDIA B300")


def test_fp16_peak_follows_the_kernels_accumulator():
    # GeForce cards: FP16 tensor math accumulating in FP16 runs at twice the FP32-accumulate rate; A100: the same
    assert tactic_math("sm80_xmma_fprop_implicit_gemm_f16f16_f16f16_f16_nhwckrsc_nhwc_tilesize128x64") == (
        "tensor", "float16")
    assert tactic_math("trt_turing_cutlass_image_network_first_layer_hmma_fprop_f16f16f32_nhwc") == ("tensor",
                                                                                                    "float32")
    assert tactic_math("ampere_scudnn_winograd_128x128_ldg1_ldg4_relu_tile148t_nt_v1") == ("winograd", "")
    assert tactic_math("ampere_scudnn_128x64_relu_medium_nn_v1") == ("simt", "")
    assert tactic_math("sm75_xmma_fprop_implicit_gemm_interleaved_i8i8_i8i32_f32_nchw") == ("tensor", "int32")
    assert tactic_math("0x0000000000000461") == ("", "")
    rtx3090 = gpu_spec("rtx3090")
    assert rtx3090.peak_flops("float16", accumulate="float16")[0] == pytest.approx(142e12)
    assert rtx3090.peak_flops("float16", accumulate="float32")[0] == pytest.approx(71e12)
    assert rtx3090.peak_flops("float32", tensor_cores=False)[0] == pytest.approx(35.6e12)
    assert gpu_spec("a100").peak_flops("float16", accumulate="float16")[0] == pytest.approx(312e12)


def test_every_recording_names_its_gpu_and_end_to_end_time():
    assert len(RECORDINGS) >= 10 and len({r.gpu for r in RECORDINGS}) >= 3
    for rec in RECORDINGS:
        assert rec.gpu in set(gpus()["name"]) and rec.latency_ms > 0
        profile = rec.measured_ms()
        assert len(profile) == len(rec.workload())  # the profile times every layer of the graph, in order
        # per-layer profiling costs something on every machine: the profile sums to more than the end-to-end time
        assert profile.sum() > rec.latency_ms and 0 < rec.profiler_overhead_ms * 1e3 < 10


def test_conv_flops_follow_the_layer_json():
    raw = json.loads(RESNET.graph.read_text())["Layers"]
    work = layer_workload(RESNET.graph)
    for layer, row in zip(raw, work.itertuples()):
        if layer.get("ParameterType") != "Convolution":
            continue
        n, k, p, q = layer["Outputs"][0]["Dimensions"]
        c = layer["Inputs"][0]["Dimensions"][1]
        r, s = layer["Kernel"]
        assert row.op == "conv" and row.flops == pytest.approx(2 * n * k * p * q * c // layer["Groups"] * r * s)
        assert row.precision == "float16"
    assert set(work.loc[work["type"] == "NoOp", "op"]) == {"noop"}
    # a convolution fused with its max-pooling (ConvActPool): the FLOPs are the convolution's, before pooling
    fused = layer_workload(recording("resnet18-int8-residual-a100").graph).iloc[1]
    assert fused["op"] == "conv" and fused["flops"] == pytest.approx(2 * 32 * 64 * 112 * 112 * 3 * 7 * 7)
    # a Winograd kernel keeps the convolution's FLOPs but is timed at 2.25x fewer multiplies, on CUDA cores
    rec = recording("resnet50-fp32-rtx3090")
    work = layer_workload(rec.graph)
    est = estimate_engine(rec.graph, rec.gpu).layers
    winograd = work["math"] == "winograd"
    assert winograd.sum() == 6 and set(est.loc[winograd, "rate"]) == {"float32 (CUDA cores)"}
    mobile = layer_workload(MOBILENET.graph)
    assert (mobile["op"] == "depthwise").sum() == 17 and set(mobile.loc[mobile["op"] == "conv", "precision"]) == {
        "int8"}


def test_layers_without_shapes_are_named_and_the_rest_estimated():
    data = json.loads(RESNET.graph.read_text())
    for layer in data["Layers"][1:3]:
        for tensor in layer["Inputs"] + layer["Outputs"]:
            tensor.pop("Dimensions")
    est = estimate_engine(data, "a100")
    assert est.layers_without_shapes == [data["Layers"][1]["Name"], data["Layers"][2]["Name"]]
    assert est.layers["estimated_ms"].iloc[3] > 0 and np.isnan(est.layers["estimated_ms"].iloc[1])
    assert est.to_dict()["layers_without_shapes"] == est.layers_without_shapes
    with pytest.raises(EngineFileError, match="detailed"):
        estimate_engine({"Layers": ["conv1", "relu1"]}, "a100")  # names only: nothing to estimate


# --- calibration and accuracy -----------------------------------------------------------------------------------
def test_error_metrics():
    m = error_metrics([1.1, 2.0, 0.5, 9.0], [1.0, 2.0, 0.8, 0.0])  # the last layer has no measured time
    assert m["layers"] == 3 and m["median_abs_pct_error"] == pytest.approx(10.0)
    assert m["total_pct_error"] == pytest.approx((3.6 / 3.8 - 1) * 100) and m["spearman"] == pytest.approx(1.0)
    # with the end-to-end time: the profiler's overhead per layer is (3.8 - 3.5) / 3, added to each estimate
    m = error_metrics([1.1, 2.0, 0.5, 9.0], [1.0, 2.0, 0.8, 0.0], latency_ms=3.5)
    assert m["profiler_overhead_ms"] == pytest.approx(0.1) and m["total_pct_error"] == pytest.approx(
        (3.6 / 3.5 - 1) * 100)
    assert m["median_abs_pct_error"] == pytest.approx(20.0)  # 1.2 vs 1.0, 2.1 vs 2.0, 0.6 vs 0.8


def test_fit_predicts_its_own_recording_and_leave_one_out_is_reported():
    factors = fit_factors((RESNET,))
    assert 0 < factors.compute <= 1 and 0 < factors.memory <= 1 and factors.overhead_us > 0
    own = estimate_engine(RESNET.graph, RESNET.gpu, factors=factors).compare(RESNET.profile).attrs["metrics"]
    assert own["median_abs_pct_error"] < 35 and abs(own["total_pct_error"]) < 20
    assert own["compared_with"] == "end-to-end GPU time"  # read from the metadata file beside the profile
    assert own["measured_total_ms"] == pytest.approx(RESNET.latency_ms)
    loo = leave_one_out()
    assert list(loo["predicted"]) == [r.name for r in RECORDINGS]
    assert all(name not in fitted.split(", ") for name, fitted in zip(loo["predicted"], loo["fitted_on"]))
    assert loo["median_abs_pct_error"].notna().all()
    # the raw-profile comparison takes the profiler overhead from the machine's other recordings, never its own
    row = loo.set_index("predicted").loc[MOBILENET.name]
    assert row["profiler_overhead_used_ms"] == pytest.approx(
        recording("mobilenetv2-residuals-int8-titan-rtx").profiler_overhead_ms)
    assert row["profiler_overhead_used_ms"] != pytest.approx(MOBILENET.profiler_overhead_ms, rel=1e-6)
    by_gpu = leave_one_gpu_out()  # no recording of the predicted GPU is fitted on
    gpu_of = {r.name: r.gpu for r in RECORDINGS}
    for name, fitted in zip(by_gpu["predicted"], by_gpu["fitted_on"]):
        assert all(gpu_of[other] != gpu_of[name] for other in fitted.split(", "))


def test_h100_measurements_are_compared():
    c = compare_measurements()
    assert c.attrs["device"].startswith("NVIDIA H100") and len(c) == c.attrs["metrics"]["all"]["layers"]
    assert {"fp32", "fp16"} <= set(c.attrs["metrics"])


# --- CPU builds ---------------------------------------------------------------------------------------------------
def test_cpu_builds_are_estimated_per_precision(tiny):
    fp32 = estimate_engine(tiny["fp32"], "h100", model=tiny["fp32"].model)
    int8 = estimate_engine(tiny["int8"], "h100", model=tiny["int8"].model)
    convs32 = fp32.layers[fp32.layers["op"] == "conv"]
    assert len(convs32) >= 5 and (convs32["flops"] > 0).all() and set(convs32["precision"]) == {"float32"}
    assert (int8.layers["precision"] == "int8").sum() >= 5
    assert fp32.total_ms > 0 and "leave-one-out" in fp32.label
    shapes = timing_shapes({"tiny": tiny["fp32"]})
    convs = [s for s in shapes if s["op"] == "conv"]
    assert convs and all(s["r"] in (1, 3) and s["c"] > 0 for s in convs)


# --- lint -----------------------------------------------------------------------------------------------------
def test_workbench_quantization_lints_clean_of_errors_and_bad_placement_is_found(tiny):
    good = lint_engine(tiny["int8"])
    assert not (good["severity"] == "error").any()
    # TensorRT-RTX's CPU build writes INT8 conv outputs in FP32 and requantizes in a separate layer: reported, as info
    epilogue = good[good["rule"] == "int8-epilogue-separate"]
    assert len(epilogue) and (epilogue["severity"] == "info").all()
    assert epilogue["message"].str.contains("float32").all()
    assert not good["rule"].str.startswith("qdq-residual").any()
    bad = lint_engine(tiny["bad_int8"])
    residual = bad[bad["rule"] == "qdq-residual-add"]
    assert set(residual["layer"]) == {"layer1.0/add", "layer2.0/add"}
    assert residual["fix"].str.contains("residual input").all() and (residual["severity"] == "warning").all()


def test_unpaired_quantize_is_an_error(tiny):
    import onnx

    proto = onnx.ModelProto()
    proto.CopyFrom(tiny["good_model"].proto)
    dq = next(n for n in proto.graph.node if n.op_type == "DequantizeLinear" and "relu_out" in n.input[0])
    consumers = [n for n in proto.graph.node if dq.output[0] in n.input]
    for n in consumers:  # bypass the DQ: the Q now feeds a Conv directly
        n.input[list(n.input).index(dq.output[0])] = dq.input[0]
    findings = lint_qdq_model(proto)
    assert "qdq-unpaired" in set(findings.loc[findings["severity"] == "error", "rule"])


def test_fp32_engine_has_no_int8_findings(tiny):
    findings = lint_engine(tiny["fp32"])
    assert not findings["rule"].isin(["precision-left-float", "qdq-residual-add", "int8-epilogue-separate"]).any()


# --- diff -------------------------------------------------------------------------------------------------------
def test_diff_fp32_vs_int8_cpu_builds(tiny):
    diff = diff_engines(tiny["fp32"], tiny["int8"], gpu="a100", labels=("fp32", "int8"))
    regions = diff.regions
    assert (regions["a_layers"].map(len) > 0).all() and (regions["b_layers"].map(len) > 0).all()
    assert regions["change"].str.contains("precision").any()
    assert any("int8" in p for p in regions["b_precisions"]) and not any("int8" in p for p in regions["a_precisions"])
    compute_a = (~diff.a.layers["op"].isin(["noop", "sync", "shape"])).sum()
    assert sum(map(len, regions["a_layers"])) == compute_a
    totals = diff.totals.set_index("metric")
    assert totals.loc["layers", "a"] == compute_a and json.dumps(diff.to_dict(), default=str)


def test_diff_of_recordings():
    same = diff_engines(RESNET.graph, RESNET.graph, a_profile=RESNET.profile, b_profile=RESNET.profile)
    assert set(same.regions["change"]) == {"same"} and (same.regions["delta_ms"] == 0).all()
    with pytest.raises(EngineMismatchError, match="same model"):
        diff_engines(RESNET.graph, MOBILENET.graph)


# --- CLI --------------------------------------------------------------------------------------------------------
def test_cli_estimate_lint_diff(run_cli):
    code, out, _ = run_cli("estimate", "--engine-json", RESNET.graph, "--profile", RESNET.profile, "--gpu", "a100",
                           "--json")
    info = json.loads(out)
    assert code == 0 and info["gpu"] == "a100" and info["total_ms"] > 0
    assert set(info["layers"][0]) >= {"name", "estimated_ms", "bound", "flops", "bytes"}
    assert info["comparison"]["metrics"]["layers"] > 0 and "median_abs_pct_error" in info["accuracy"]
    assert info["comparison"]["metrics"]["compared_with"] == "end-to-end GPU time"  # the metadata beside the profile
    code, out, _ = run_cli("estimate", "--engine-json", RESNET.graph, "--profile", RESNET.profile, "--gpu", "a100",
                           "--latency-ms", "0.5")
    assert code == 0 and "0.5000 ms, the end-to-end GPU time; each layer allows" in out
    code, _, err = run_cli("estimate", "--engine-json", RESNET.graph, "--profile", RESNET.profile, "--latency-ms",
                           "-1")
    assert code == 1 and "latency_ms" in err and "got -1" in err
    code, out, _ = run_cli("estimate", "--accuracy", "--json")
    info = json.loads(out)
    assert code == 0 and len(info["recordings"]) == len(RECORDINGS)
    worst_total = max(abs(r["total % (left out)"]) for r in info["recordings"])  # the table is rounded to 0.1
    assert info["summary"]["total_abs_pct_error"] == pytest.approx(worst_total, abs=0.06)
    code, _, err = run_cli("estimate", "resnet_tiny", "--gpu", "b300")
    assert code == 1 and "known GPUs" in err
    code, out, _ = run_cli("lint", MOBILENET.graph, "--profile", MOBILENET.profile, "--json")
    findings = json.loads(out)
    assert code == 0 and findings and set(findings[0]) == {"severity", "rule", "layer", "onnx_nodes", "message",
                                                             "fix"}
    code, _, err = run_cli("diff", RESNET.graph, MOBILENET.graph)
    assert code == 1 and "same model" in err


# --- charts -----------------------------------------------------------------------------------------------------
def test_charts_are_labelled_estimates():
    from workbench.charts import engine_diff_chart, layer_time_bars, roofline_chart

    est = estimate_engine(RESNET.graph, "a100")
    roof = roofline_chart(est)
    assert any(t.name.startswith("roof: float16") for t in roof.data) and "leave-one-out" in roof.layout.title.text
    bars = layer_time_bars(est, est.compare(RESNET.profile))
    assert "measured" in {t.name for t in bars.data} and "estimate" in bars.layout.title.text
    diff = diff_engines(RESNET.graph, RESNET.graph, a_profile=RESNET.profile, gpu="h100")
    assert "leave-one-out" in engine_diff_chart(diff, selected_region=1).layout.title.text
    with pytest.raises(ConfigError, match="EngineEstimate"):
        roofline_chart("resnet")


def test_commands_that_build_take_the_shared_build_options(run_cli, tmp_path):
    import onnx

    from models import conv_bn_relu

    model = tmp_path / "tiny.onnx"
    onnx.save(conv_bn_relu(), model)
    shared = ["--opt-level", "1", "--workspace", "64", "--no-cache", "--json"]
    code, out, err = run_cli("lint", model, *shared)
    assert code == 0, err
    code, out, err = run_cli("estimate", model, *shared)
    assert code == 0 and json.loads(out)["total_ms"] > 0, err
    code, out, err = run_cli("diff", model, model, "--precision-b", "fp16", *shared)
    assert code == 0, err
    code, _, err = run_cli("lint", model, "--opt-level", "9")
    assert code == 1 and "optimization" in err.lower()
