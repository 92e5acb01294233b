import pytest

from workbench.engines import onnxruntime_fusion_report, onnxruntime_optimized
from workbench.errors import ConfigError
from workbench.model import load_model


def test_extended_level_fuses_conv_bn_and_activation():
    original = load_model("resnet_tiny")
    basic = onnxruntime_optimized(original, "basic")
    assert "BatchNormalization" not in basic.stats.op_histogram          # Conv+BN folded at BASIC
    assert basic.node_count < original.node_count
    extended = onnxruntime_optimized(original, "extended")
    assert extended.stats.op_histogram.get("com.microsoft.FusedConv", 0) > 0  # Conv+Relu -> FusedConv
    assert "ONNX Runtime, extended" in extended.name


def test_transformer_fusions():
    optimized = onnxruntime_optimized("bert_tiny", "extended")
    ops = optimized.stats.op_histogram
    assert "Erf" not in ops and any("Gelu" in op for op in ops)


def test_report_counts_every_level():
    df = onnxruntime_fusion_report("resnet_tiny")
    assert list(df.columns) == ["original", "basic", "extended", "all"]
    totals = df.loc["total nodes"]
    assert totals["original"] == 22 and totals["original"] > totals["basic"] >= totals["extended"]


def test_unknown_level():
    with pytest.raises(ConfigError, match="level 'max' is unknown"):
        onnxruntime_optimized("resnet_tiny", "max")
