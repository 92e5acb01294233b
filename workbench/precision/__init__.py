"""Precision layer: precision plans written into the ONNX model (TensorRT 11 / TensorRT-RTX are strongly typed):
FP16 casts, INT8/FP8 Q/DQ with this workbench's calibrators, and what each costs in accuracy."""

from .accuracy import accuracy_table, check_quantized, compare, layer_sensitivity, mixed_precision, run_outputs
from .calibrate import CalibrationTable, activation_tensors, calibrate, tensors_after_fusion
from .calibrators import CALIBRATORS, DEFAULT_CALIBRATOR
from .data import CalibrationData
from .plan import ATTENTION_FRAGILE_OPS, PRECISIONS, PrecisionPlan, apply_precision, fragile_nodes
from .qat import QATResult, fake_quant_finetune
from .qdq import TARGETS, QuantizationResult, quantize

__all__ = [
    "PRECISIONS",
    "PrecisionPlan",
    "apply_precision",
    "fragile_nodes",
    "ATTENTION_FRAGILE_OPS",
    "CALIBRATORS",
    "DEFAULT_CALIBRATOR",
    "CalibrationData",
    "CalibrationTable",
    "calibrate",
    "activation_tensors",
    "tensors_after_fusion",
    "TARGETS",
    "QuantizationResult",
    "quantize",
    "compare",
    "check_quantized",
    "accuracy_table",
    "layer_sensitivity",
    "mixed_precision",
    "run_outputs",
    "QATResult",
    "fake_quant_finetune",
]
