"""Small kernels (wave fill with K splits, L2 residency), TensorRT-RTX Myelin kernels (fused attention, GroupNorm,
metadata notes) and the UNet-like check against PyTorch kernels on H200 (issue 20)."""

import json

import numpy as np
import pandas as pd
import pytest

from workbench.engines.estimate import EfficiencyFactors, estimate_engine, gpu_spec
from workbench.engines.estimate.gpu_check import H200_SMALL_KERNELS, h200_small_kernel_checks, unet_like_check
from workbench.engines.estimate.occupancy import L2_SPEEDUP, memory_seconds, wave_fill
from workbench.engines.layers import parse_layer_report

# three layers of the TensorRT-RTX 1.7 CPU build of tools/unet_like.py (FP16), as its verbose log reports them
RTX_REPORT = "\n".join([
    'Layers:',

    'Name: __myl_SiluGnor_myl0_3, LayerType: kgen, Inputs: [ { Name: __myln_k_arg__bb1_7_myl0, Dimensions: [64], Strides: [1], StrideOrder: [0], Datatype: Int32, Format: (Linear) Row major linear format }, { Name: __myln_k_arg__bb1_9_myl0, Dimensions: [1,320,32,48], Strides: [491520,1,15360,320], StrideOrder: [3,0,2,1], Datatype: Half, Format: (NHWC) Channel major format }], Constants: [ { Name: __mye121935_dconst_myl0, Dimensions: [1,320,1,1], Strides: [320,1,1,1], StrideOrder: [3,2,1,0], Datatype: Half, Format: (Linear) Row major linear format }, { Name: __mye121970_dconst_myl0, Dimensions: [1,320,1,1], Strides: [320,1,1,1], StrideOrder: [3,2,1,0], Datatype: Half, Format: (Linear) Row major linear format }], Outputs: [ { Name: /down.0/conv1/Conv_output_0.1_11_myl0, Dimensions: [1,320,32,48], Strides: [491520,1,15360,320], StrideOrder: [3,0,2,1], Datatype: Half, Format: (NHWC) Channel major format }, { Name: __mye126189_myl0, Dimensions: [24576], Strides: [1], StrideOrder: [0], Datatype: Float, Format: (Linear) Row major linear format }], TacticName: __myl_SiluGnor_0x7d5e11fde974d22827a5a3a30b321427, StreamId: 0, Metadata: [ONNX Layer: /down.0/norm1/Reshape]\x1f[ONNX Layer: /down.0/norm1/InstanceNormalization]\x1f[ONNX Layer: /down.0/norm1/Reshape_1]\x1f[ONNX Layer: /down.0/norm1/Mul]\x1f[ONNX Layer: /down.0/norm1/Add]\x1f[ONNX Layer: /down.0/Sigmoid]\x1f[ONNX Layer: /down.0/Mul]',

    'Name: __myl_FcAdd_myl0_10, LayerType: runtime_fusion, Inputs: [ { Name: /down_attn.0/norm/Add_output_0.1_myl0, Dimensions: [1,320,1536], Strides: [491520,1,320], StrideOrder: [2,0,1], Datatype: Half, Format: (NHWC) Channel major format }], Constants: [ { Name: __mye125803_dconst_myl0, Dimensions: [1,320,1], Strides: [320,1,320], StrideOrder: [2,0,1], Datatype: Half, Format: (Transposed) Transposed format }, { Name: __mye125798_dconst_myl0, Dimensions: [1,320,320], Strides: [102400,1,320], StrideOrder: [2,0,1], Datatype: Half, Format: (Transposed) Transposed format }], Outputs: [ { Name: __myln_k_arg__bb1_18_myl0, Dimensions: [1,320,1536], Strides: [491520,1,320], StrideOrder: [2,0,1], Datatype: Half, Format: (Transposed) Transposed format }], TacticName: , StreamId: 0, Metadata: [ONNX Layer: /down_attn.0/proj_in/Conv]__gemm_from_conv1x1',

    'Name: _gemm_mha_v2_myl0_14, LayerType: kgen, Inputs: [ { Name: __mye124144_myl0, Dimensions: [8,1536,40], Strides: [40,320,1], StrideOrder: [1,2,0], Datatype: Half, Format: (Linear) Row major linear format }, { Name: __mye124144_myl0, Dimensions: [8,40,1536], Strides: [40,1,320], StrideOrder: [1,0,2], Datatype: Half, Format: (Linear) Row major linear format }, { Name: __mye124779_22_myl0, Dimensions: [1,1,1,1], Strides: [1,1,1,1], StrideOrder: [3,2,1,0], Datatype: Half, Format: (Linear) Row major linear format }, { Name: __mye124144_myl0, Dimensions: [8,1536,40], Strides: [40,320,1], StrideOrder: [1,2,0], Datatype: Half, Format: (Linear) Row major linear format }], Constants: [], Outputs: [ { Name: __mye125237_myl0, Dimensions: [8,1536,40], Strides: [40,320,1], StrideOrder: [1,2,0], Datatype: Half, Format: (Arbitrary) Format with stride order = [1,2,0] }], TacticName: _gemm_mha_v2_0x1d3dbafa0cf8acdbfc8dff5b5c8d20fc, StreamId: 0, Metadata: [ONNX Layer: /down_attn.0/attn1/MatMul_1]\x1f[ONNX Layer: /down_attn.0/attn1/Softmax]\x1f[ONNX Layer: /down_attn.0/attn1/Mul]\x1f[ONNX Layer: /down_attn.0/attn1/MatMul]',
])
# factors close to the fitted ones, given so these tests need no fit
FACTORS = EfficiencyFactors(compute=0.61, memory=0.92, reformat=0.40, overhead_us=3.8)


def test_wave_fill_counts_tiles_partial_waves_and_k_splits():
    sm = 132
    assert wave_fill(128, 128, 64, sm) == pytest.approx(1 / sm)          # one tile, K too shallow to split
    assert wave_fill(128, 128, 4096, sm) == pytest.approx(3 / sm)        # ... split three ways when K is deep
    assert wave_fill(128 * 12, 128 * 11, 64, sm) == pytest.approx(1.0)    # 132 tiles: one full wave
    assert wave_fill(128 * 133, 128, 64, sm) == pytest.approx(133 / 264)  # a last wave of one tile
    assert np.allclose(wave_fill([np.nan, 128], [128, 128], [64, 64], sm), 1 / sm)


def test_l2_residency_only_for_activations_that_fit():
    h200 = gpu_spec("h200")
    small, huge = 24 * 2**20, 3 * 2**30
    hot = memory_seconds(small, 0, h200)
    cold = memory_seconds(small, 0, h200, resident=False)
    assert hot == pytest.approx(cold / L2_SPEEDUP)
    weights_only = memory_seconds(small, small, h200)
    assert weights_only == pytest.approx(cold)  # weights come from DRAM
    a100 = gpu_spec("a100")  # not measured: no L2 residency modelled
    assert memory_seconds(small, 0, a100) == memory_seconds(small, 0, a100, resident=False)
    big_hot = memory_seconds(huge, 0, h200)
    assert big_hot > 0.98 * memory_seconds(huge, 0, h200, resident=False)


def test_small_kernel_model_against_pytorch_kernels_on_h200():
    meta = json.loads(H200_SMALL_KERNELS.with_suffix(".meta.json").read_text())
    assert meta["device"] == "NVIDIA H200" and "PyTorch kernels on H200" in meta["label"]
    assert gpu_spec("h200").l2_mb * 2**20 == meta["l2_bytes"]
    checks = h200_small_kernel_checks(factors=FACTORS)
    convs_gemms = checks[checks["kind"].isin(["conv", "gemm"])]
    assert len(convs_gemms) == 28 and convs_gemms["ratio"].between(0.67, 1.5).mean() >= 0.6
    assert convs_gemms["ratio"].between(0.5, 1.75).all(), convs_gemms
    streams = checks[checks["kind"].isin(["add", "cast"]) & (checks["measured_ms"] > 0.012)]
    assert len(streams) >= 16 and streams["ratio"].between(0.85, 1.15).all(), streams
    add8 = checks[checks["kernel"] == "add 8 MiB"].set_index("cache")
    assert add8.at["hot", "measured_ms"] < 0.5 * add8.at["cold", "measured_ms"]  # the L2 effect, measured
    assert add8.at["hot", "estimated_ms"] < 0.8 * add8.at["cold", "estimated_ms"]  # ... and modelled


def test_tensorrt_rtx_myelin_kernels_attention_groupnorm_and_metadata_note():
    raw = parse_layer_report(RTX_REPORT)
    assert [r["Name"] for r in raw] == ["__myl_SiluGnor_myl0_3", "__myl_FcAdd_myl0_10", "_gemm_mha_v2_myl0_14"]
    assert raw[1]["Metadata"] == "[ONNX Layer: /down_attn.0/proj_in/Conv]"  # the __gemm_from_conv1x1 note is not a name
    est = estimate_engine(raw, "h200", factors=FACTORS)
    norm, gemm, attention = est.layers.itertuples(index=False)
    assert norm.op == "norm" and norm.precision == "float16" and norm.basis == "plugin table"
    assert gemm.op == "gemm" and gemm.onnx_nodes == ["/down_attn.0/proj_in/Conv"]
    assert attention.op == "attention" and attention.basis == "fused attention"
    assert attention.flops == 4 * 8 * 1536 * 1536 * 40  # QKᵀ and PV of 8 heads over 1,536 tokens, head dim 40
    assert "8 heads x 1536 queries x 1536 keys" in attention.note
    h200 = gpu_spec("h200")
    assert attention.estimated_ms > 3 * attention.flops / (h200.peak_tflops["float16"] * 1e12) * 1e3


def test_unet_like_check_matches_layers_to_modules_by_kind(tmp_path):
    modules = pd.DataFrame([
        {"module": "blk.conv", "type": "Conv2d", "time_ms": 0.02}, {"module": "blk.norm", "type": "GroupNorm",
                                                                   "time_ms": 0.01},
        {"module": "blk.attn", "type": "Attention", "time_ms": 0.05}, {"module": "blk.attn.to_q", "type": "Linear",
                                                                       "time_ms": 0.01},
        {"module": "blk.attn.to_out", "type": "Linear", "time_ms": 0.01},
        {"module": "(whole network)", "type": "UNetLike", "time_ms": 0.2}])
    modules[["input_shape", "params", "how"]] = ["[1]", 1, "cuda graph"]
    path = tmp_path / "modules.csv"
    modules.to_csv(path, index=False)

    class Estimate:
        layers = pd.DataFrame([
            {"name": "move", "op": "reformat", "estimated_ms": 0.004, "onnx_nodes": ["/blk/norm/Reshape"]},
            {"name": "gnorm", "op": "norm", "estimated_ms": 0.012, "onnx_nodes": ["/blk/norm/InstanceNormalization"]},
            {"name": "conv", "op": "conv", "estimated_ms": 0.018, "onnx_nodes": ["/blk/conv/Conv"]},
            {"name": "qo", "op": "gemm", "estimated_ms": 0.015, "onnx_nodes": ["/blk/attn/to_q/MatMul",
                                                                                 "/blk/attn/to_out/MatMul"]},
            {"name": "mha", "op": "attention", "estimated_ms": 0.03, "onnx_nodes": ["/blk/attn/MatMul"]}])

    out, summary = unet_like_check(Estimate(), path)
    measured = dict(zip(out["name"], out["pytorch_ms"]))
    assert np.isnan(measured["move"])  # a reformat carries the norm's reshape, not its work
    assert measured["gnorm"] == 0.01 and measured["conv"] == 0.02 and measured["qo"] == pytest.approx(0.02)
    assert measured["mha"] == pytest.approx(0.03)  # the Attention module less its projections
    assert summary["matched_layers"] == 4 and summary["pytorch_whole_ms"] == 0.2
    assert summary["spearman"] == pytest.approx(3 / 10 ** 0.5) and "not a TensorRT profile" in summary["label"]
