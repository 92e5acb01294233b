"""Which TensorRT is in use (``tensorrt`` or ``tensorrt_rtx``), its version, and whether a GPU here can run it.

Polygraphy binds its TensorRT module when ``polygraphy.backend.trt`` is first imported, and TensorRT keeps one
logger per process, so the flavour is chosen once per process: by ``WORKBENCH_TENSORRT`` (``tensorrt``,
``tensorrt_rtx`` or ``auto``), by ``select_flavor()`` before first use, or automatically (``tensorrt`` when it
imports, else ``tensorrt_rtx``).
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from types import ModuleType

from ..errors import ConfigError, TensorRTUnavailableError

FLAVORS = ("tensorrt", "tensorrt_rtx")
# TensorRT-RTX 1.x engines run on these compute capabilities (measured: a 9.0 H100 is refused).
RTX_COMPUTE_CAPABILITIES = ((8, 0), (8, 6), (8, 9))
RTX_MIN_BLACKWELL = (12, 0)

_selected: str | None = None
_trt_module = None


NOT_INSTALLED = "not installed"


def import_problem(name: str) -> str | None:
    """None when the TensorRT module ``name`` imports and works; ``NOT_INSTALLED`` when no such package is
    installed; otherwise what is broken about the installed one (its import error, or no ``Builder``)."""
    try:
        if importlib.util.find_spec(name) is None:
            return NOT_INSTALLED
        module = importlib.import_module(name)
    except Exception as exc:  # e.g. the PyPI `tensorrt` stub raises at import when its libraries are missing
        return f"installed but broken: importing it fails with {type(exc).__name__}: {exc}"
    if not hasattr(module, "Builder"):
        return f"installed but broken: the module {getattr(module, '__file__', name)} has no Builder"
    return None


def _importable(name: str) -> bool:
    return import_problem(name) is None


def available_flavors() -> list[str]:
    return [f for f in FLAVORS if _importable(f)]


def broken_flavors() -> dict[str, str]:
    """Flavours that are installed but cannot be used, with what is wrong (a broken install is not a missing one)."""
    problems = {f: import_problem(f) for f in FLAVORS}
    return {f: p for f, p in problems.items() if p not in (None, NOT_INSTALLED)}


def select_flavor(flavor: str | None = None) -> str:
    """Choose the flavour for this process (idempotent; changing it after TensorRT was loaded is an error)."""
    global _selected
    wanted = (flavor or os.environ.get("WORKBENCH_TENSORRT") or "auto").strip().lower().replace("-", "_")
    if wanted not in (*FLAVORS, "auto"):
        raise ConfigError(f"TensorRT flavour '{wanted}' is unknown: use tensorrt, tensorrt_rtx or auto")
    if wanted == "auto":
        if _selected:
            return _selected
        found = available_flavors()
        if not found:
            broken = broken_flavors()
            if broken:
                raise TensorRTUnavailableError(
                    "no working TensorRT: "
                    + "; ".join(f"{f} is {p}" for f, p in broken.items())
                    + " (reinstall it, e.g. `pip install --force-reinstall tensorrt-rtx-cu13`)"
                )
            raise TensorRTUnavailableError(
                "no TensorRT is installed: `pip install tensorrt-rtx-cu13` (any machine, builds without a GPU) "
                "or `pip install tensorrt` (NVIDIA GPU machines)"
            )
        wanted = found[0]
    elif (problem := import_problem(wanted)) is not None:
        raise TensorRTUnavailableError(
            f"TensorRT flavour '{wanted}' was asked for but cannot be used: {problem} "
            f"(working: {', '.join(available_flavors()) or 'none'})"
        )
    if _selected and _selected != wanted:
        raise ConfigError(
            f"this process already uses {_selected}; TensorRT cannot switch to {wanted} in the same "
            "process (restart the kernel, or set WORKBENCH_TENSORRT before the first build)"
        )
    _selected = wanted
    return wanted


def trt() -> ModuleType:
    """The selected TensorRT module, with Polygraphy configured to use it and the workbench's logger installed."""
    global _trt_module
    if _trt_module is None:
        flavor = select_flavor()
        from polygraphy import config as polygraphy_config

        polygraphy_config.USE_TENSORRT_RTX = flavor == "tensorrt_rtx"
        _trt_module = importlib.import_module(flavor)
        from .trt_logging import install_logger

        install_logger(_trt_module)
    return _trt_module


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: tuple[int, int]
    driver_version: str


@lru_cache(maxsize=1)
def detect_gpus() -> tuple[GpuInfo, ...]:
    """GPUs visible through the CUDA driver (libcuda), without needing any CUDA Python package."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return ()
    if cuda.cuInit(0) != 0:
        return ()
    count, version = ctypes.c_int(), ctypes.c_int()
    if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return ()
    cuda.cuDriverGetVersion(ctypes.byref(version))
    gpus = []
    for ordinal in range(count.value):
        device, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        name = ctypes.create_string_buffer(256)
        cuda.cuDeviceGet(ctypes.byref(device), ordinal)
        cuda.cuDeviceGetName(name, 256, device)
        cuda.cuDeviceGetAttribute(ctypes.byref(major), 75, device)  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
        cuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, device)  # ..._MINOR
        gpus.append(
            GpuInfo(
                name.value.decode(), (major.value, minor.value), f"{version.value // 1000}.{version.value % 1000 // 10}"
            )
        )
    return tuple(gpus)


def can_run_on(flavor: str, gpu: GpuInfo) -> bool:
    if flavor == "tensorrt_rtx":
        return gpu.compute_capability in RTX_COMPUTE_CAPABILITIES or gpu.compute_capability >= RTX_MIN_BLACKWELL
    return gpu.compute_capability >= (7, 5)  # TensorRT 10/11 support Turing and newer


@dataclass(frozen=True)
class TensorRTEnvironment:
    flavor: str
    version: str
    gpu: GpuInfo | None
    can_run_engines: bool
    reason: str
    broken: dict = field(default_factory=dict)  # other flavours installed but broken: flavour -> what is wrong

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.gpu:
            d["gpu"]["compute_capability"] = ".".join(map(str, self.gpu.compute_capability))
        return d

    def __str__(self) -> str:
        gpu = (
            f"{self.gpu.name} (compute capability {'.'.join(map(str, self.gpu.compute_capability))})"
            if self.gpu
            else "no GPU"
        )
        broken = "".join(f" · {f} is {p}" for f, p in self.broken.items())
        return (
            f"{self.flavor} {self.version} · {gpu} · "
            f"{'engines run here' if self.can_run_engines else self.reason}{broken}"
        )

    def _repr_html_(self) -> str:
        return f"<code>{self}</code>"


def tensorrt_environment() -> TensorRTEnvironment:
    """Which flavour and version is in use, and whether a GPU here can run its engines (and if not, why)."""
    module = trt()
    flavor = select_flavor()
    gpus = detect_gpus()
    broken = broken_flavors()
    runnable = [g for g in gpus if can_run_on(flavor, g)]
    if runnable:
        return TensorRTEnvironment(flavor, module.__version__, runnable[0], True, "", broken)
    if gpus:
        g = gpus[0]
        cc = ".".join(map(str, g.compute_capability))
        return TensorRTEnvironment(
            flavor,
            module.__version__,
            g,
            False,
            f"{flavor} cannot run engines on {g.name} (compute capability {cc}); engines "
            "are still built and inspected, use ONNX Runtime for timings",
            broken,
        )
    return TensorRTEnvironment(
        flavor,
        module.__version__,
        None,
        False,
        "no GPU here: engines are built and inspected, use ONNX Runtime for timings",
        broken,
    )
