"""Model layer: load ONNX models from any source, describe them, generate bundled samples."""

from .feeds import batch_shapes, check_feeds, generate_feeds
from .from_torch import from_torch
from .loading import Model, fold_model_constants, load_model
from .samples import SAMPLES, list_samples
from .tensors import TensorSpec, dims_text, parse_shapes

__all__ = [
    "Model",
    "load_model",
    "fold_model_constants",
    "SAMPLES",
    "list_samples",
    "TensorSpec",
    "dims_text",
    "parse_shapes",
    "generate_feeds",
    "batch_shapes",
    "check_feeds",
    "from_torch",
]
