"""The workbench's one exception hierarchy.

Every error a user can cause (a bad file, a bad setting, a missing GPU) is a ``WorkbenchError`` whose message names
the input and what is wrong. Widgets show ``str(error)``; the CLI prints it on one line and exits non-zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from pathlib import Path

__all__ = [
    "WorkbenchError",
    "ModelError",
    "ModelNotFoundError",
    "ExternalDataError",
    "UnsupportedOpsetError",
    "ConfigError",
    "TensorRTUnavailableError",
    "NetworkParseError",
    "EngineBuildError",
    "EngineFileError",
    "EngineMismatchError",
    "EngineCacheError",
    "GpuUnavailableError",
    "BenchmarkError",
    "BenchmarkBusyError",
    "ResultsStoreError",
    "ResultsStoreUnavailableError",
    "CalibrationCancelled",
    "OutputFileError",
    "QuantizationAccuracyError",
]


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose."""


class ModelError(WorkbenchError):
    """A model could not be loaded or is not a valid ONNX model."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """A model path (or sample name) does not exist."""


class ExternalDataError(ModelError):
    """A model's external weight file is missing or unreadable."""


class UnsupportedOpsetError(ModelError):
    """A model uses an opset newer than the installed onnx package knows."""


class ConfigError(WorkbenchError, ValueError):
    """A setting (shapes, build options, names) is invalid."""


class TensorRTUnavailableError(WorkbenchError):
    """No TensorRT flavour (tensorrt or tensorrt_rtx) can be imported."""


class NetworkParseError(WorkbenchError):
    """TensorRT's ONNX parser rejected the model."""


class EngineBuildError(WorkbenchError):
    """TensorRT failed to build an engine."""


class EngineFileError(WorkbenchError):
    """A file given as an engine or as engine layer information is not one."""


class EngineMismatchError(WorkbenchError):
    """Two engines given to compare do not come from the same model."""


class EngineCacheError(WorkbenchError):
    """The engine cache directory cannot be used."""


class GpuUnavailableError(WorkbenchError):
    """The engine was built, but no GPU here can run it."""


class BenchmarkError(WorkbenchError):
    """A measurement could not run (bad input for the runner, a failing inference)."""


class BenchmarkBusyError(BenchmarkError):
    """A benchmark was started while another one runs in the same process."""


class ResultsStoreError(WorkbenchError):
    """The results database cannot be opened, written or read."""


class ResultsStoreUnavailableError(ResultsStoreError):
    """A shared results server cannot be reached; ``spooled``: the local file where the run was kept, if any."""

    def __init__(self, message: str, spooled: Path | None = None):
        super().__init__(message)
        self.spooled = spooled


class OutputFileError(WorkbenchError, OSError):
    """An output file cannot be written (a full disk, no permission) or would overwrite an input."""


class CalibrationCancelled(WorkbenchError):
    """Calibration was stopped; nothing was computed from the partial pass."""


class QuantizationAccuracyError(WorkbenchError):
    """A quantized model falls below the agreement floor on held-back samples; ``report``: the per-output check."""

    def __init__(self, message: str, report: pd.DataFrame | None = None):
        super().__init__(message)
        self.report = report
