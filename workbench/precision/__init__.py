"""Precision layer: precision plans written into the ONNX model (TensorRT 11 / TensorRT-RTX are strongly typed)."""

from .plan import PRECISIONS, PrecisionPlan, apply_precision

__all__ = ["PRECISIONS", "PrecisionPlan", "apply_precision"]
