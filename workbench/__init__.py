"""TensorRT Workbench: see a model's graph before and after TensorRT's fusion, choose precisions and calibrators,
build engines, and chart latency and throughput.

Heavy libraries (onnx, pandas, TensorRT) are imported on first use, so ``import workbench`` stays fast.
"""

from __future__ import annotations

import importlib

from .errors import *  # noqa: F401,F403  (the exception hierarchy is light and always available)
from .errors import WorkbenchError

__version__ = "0.1.0"

# Public name -> module that defines it; resolved lazily by __getattr__.
_LAZY = {
    "load_model": "workbench.model",
    "Model": "workbench.model",
    "list_samples": "workbench.model",
    "SAMPLES": "workbench.model",
    "BuildConfig": "workbench.engines",
    "build_engine": "workbench.engines",
    "inspect_network": "workbench.engines",
    "tensorrt_environment": "workbench.engines",
    "EngineCache": "workbench.engines",
    "onnxruntime_optimized": "workbench.engines",
    "read_layer_information": "workbench.engines",
    "from_torch": "workbench.model",
    "PrecisionPlan": "workbench.precision",
    "apply_precision": "workbench.precision",
    "BenchmarkConfig": "workbench.bench",
    "measure": "workbench.bench",
    "sweep": "workbench.bench",
    "ResultsStore": "workbench.bench",
    "App": "workbench.widgets",
    "BuildPanel": "workbench.widgets",
    "BenchmarkPanel": "workbench.widgets",
}

__all__ = ["WorkbenchError", "__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
