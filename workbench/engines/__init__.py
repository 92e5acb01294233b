"""Engines layer: TensorRT / TensorRT-RTX builds through Polygraphy, engine layers after fusion with their ONNX
origins, memory and streams, running and comparing on a GPU, and ONNX Runtime's own optimized graph."""

from .build import (
    BuilderConfig,
    BuildResult,
    CachedEngine,
    EngineBytes,
    LayerReport,
    NetworkFromOnnx,
    build_engine,
    check_engine_file,
    is_engine_file,
)
from .cache import EngineCache
from .config import BuildConfig
from .flavor import available_flavors, detect_gpus, select_flavor, tensorrt_environment
from .layers import (
    FusionSummary,
    fusion_summary,
    layers_frame,
    parse_layer_report,
    read_layer_information,
    read_profile,
    stream_map,
)
from .diff import EngineDiff, diff_engines
from .lint import lint_engine, lint_qdq_model
from .memory import ActivationMemory, describe_activation_memory, naive_activation_bytes
from .network import inspect_network
from .onnxruntime_graph import onnxruntime_fusion_report, onnxruntime_optimized
from .reduction import Reduction, reduce

__all__ = [
    "BuildConfig",
    "BuildResult",
    "build_engine",
    "check_engine_file",
    "is_engine_file",
    "NetworkFromOnnx",
    "BuilderConfig",
    "EngineBytes",
    "LayerReport",
    "CachedEngine",
    "EngineCache",
    "available_flavors",
    "detect_gpus",
    "select_flavor",
    "tensorrt_environment",
    "FusionSummary",
    "fusion_summary",
    "layers_frame",
    "parse_layer_report",
    "read_layer_information",
    "read_profile",
    "stream_map",
    "naive_activation_bytes",
    "ActivationMemory",
    "describe_activation_memory",
    "inspect_network",
    "onnxruntime_optimized",
    "onnxruntime_fusion_report",
    "Reduction",
    "reduce",
    "EngineDiff",
    "diff_engines",
    "lint_engine",
    "lint_qdq_model",
]
