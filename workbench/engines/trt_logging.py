"""Capture TensorRT's log (the builder's VERBOSE `Layers:` report among it) while a build runs.

Written here because Polygraphy's TensorRT logger forwards VERBOSE messages to its own logger, whose default
severity drops them, and offers no sink. The workbench installs one logger for the process (TensorRT accepts only
one) that forwards to Polygraphy as before and records each message in the active captures it belongs to.

That logger is process-global and TensorRT does not say which operation a message belongs to, so a capture records
only the messages logged from the thread that opened it: a benchmark loading an engine or a panel parsing another
model in another thread (each a TensorRT call that logs) never puts lines in a build's log. TensorRT-RTX logs a
whole build from the calling thread (checked with resnet50, bert_base and yolo_detector, built on the main thread and
on a worker thread); should a TensorRT log from a thread of its own, the message goes to the running build, the one
long TensorRT operation a capture covers. Builds stay exclusive for that: ``capture_log`` lets one build at a time
run inside it, so such a message has one build to belong to, and a build that has to wait is told whose build it
waits for. ``capture_log(exclusive=False)`` records a short call (a parse, a deserialization) without waiting for a
running build.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..errors import EngineBuildError
from ..progress import CallbackReporter

SEVERITY_NAMES = {0: "INTERNAL_ERROR", 1: "ERROR", 2: "WARNING", 3: "INFO", 4: "VERBOSE"}
LogCallback = Callable[[str, str], None]  # (severity, message)

_lock = threading.Lock()
_captures: list["LogCapture"] = []
_installed = False
_build_slot = threading.Lock()  # one capturing build at a time (see the module docstring)
_building: list[str] = []  # the label of the build holding the slot, for "waiting for the build of X"
_owner: list[int] = []  # the thread holding it: a capture nested in its own thread does not wait


@dataclass
class LogCapture:
    """Messages recorded during a ``capture_log()`` block, as (severity name, text)."""

    messages: list[tuple[str, str]] = field(default_factory=list)
    on_message: LogCallback | None = None
    thread: int = field(default_factory=threading.get_ident)  # the thread whose messages it records


# What TensorRT-RTX's builder logs as an error on a machine with no (or too old a) CUDA driver, although an
# ahead-of-time build needs none: "cudaError 35: CUDA driver version is insufficient for CUDA runtime version".
CPU_ONLY_CUDA_NOISE = ("cudaError 35", "CUDA driver version is insufficient")


def is_cpu_only_cuda_noise(message: str) -> bool:
    return any(text in message for text in CPU_ONLY_CUDA_NOISE)


def install_logger(trt: Any) -> None:
    """Put the capturing logger in Polygraphy's place before any builder is created."""
    global _installed
    if _installed:
        return
    import polygraphy.backend.trt.util as polygraphy_trt_util
    from polygraphy.logger import G_LOGGER, LogMode

    forward = {
        trt.Logger.INTERNAL_ERROR: G_LOGGER.error,
        trt.Logger.ERROR: G_LOGGER.error,
        trt.Logger.WARNING: lambda msg: G_LOGGER.warning(msg, mode=LogMode.ONCE),
        trt.Logger.INFO: G_LOGGER.verbose,
        trt.Logger.VERBOSE: G_LOGGER.extra_verbose,
    }

    class WorkbenchTrtLogger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)

        def log(self, severity, msg):
            try:
                name = SEVERITY_NAMES.get(int(severity), "VERBOSE")
                thread = threading.get_ident()
                if isinstance(threading.current_thread(), threading._DummyThread):  # started by TensorRT, not Python
                    thread = next(iter(_owner), None)  # the running build's (see the module docstring)
                with _lock:
                    captures = [capture for capture in _captures if capture.thread == thread]
                for capture in captures:
                    capture.messages.append((name, msg))
                    if capture.on_message is not None:
                        capture.on_message(name, msg)  # a CallbackReporter: a failing callback is reported once
                # A captured message belongs to its capture: a failed build raises one EngineBuildError with the
                # builder's last errors, so printing each of them too (a reduction's dozens of failing builds
                # repeat them) is noise. Outside a capture the message is forwarded, but the CUDA-runtime check a
                # CPU-only machine always fails is not an error there.
                if captures:
                    return
                if int(severity) <= 1 and is_cpu_only_cuda_noise(msg):
                    G_LOGGER.verbose(msg)
                    return
                forward.get(severity, G_LOGGER.super_verbose)(msg)
            except Exception:  # noqa: BLE001 - log() is noexcept on the C++ side; callbacks report their own errors
                pass

    # Polygraphy prints "'colored' module is not installed" on its first message otherwise: noise, not a problem.
    G_LOGGER.colors = False
    if polygraphy_trt_util.TRT_LOGGER is None:
        polygraphy_trt_util.TRT_LOGGER = WorkbenchTrtLogger()
    # else: Polygraphy's logger was created before the workbench loaded; builds still work, but the engine-layer
    # report cannot be captured (build() then says so).
    _installed = True


def logger_captures() -> bool:
    import polygraphy.backend.trt.util as polygraphy_trt_util

    return type(polygraphy_trt_util.TRT_LOGGER).__name__ == "WorkbenchTrtLogger"


@contextmanager
def capture_log(
    label: str = "TensorRT calls in this block",
    on_message: LogCallback | None = None,
    *,
    on_wait: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    exclusive: bool = True,
) -> Iterator[LogCapture]:
    """Record the TensorRT messages this thread logs while the block runs, holding the process's one build slot.

    ``label`` names the build (shown to builds that wait for it); ``on_wait(text)`` is told when this one has to
    wait; ``cancel`` ends the wait with EngineBuildError. ``on_message(severity, text)`` sees every recorded message;
    if it raises, that is reported once (a warning) and it is not called again. ``exclusive=False``: no build slot
    (for calls other than builds, which need not wait for one).
    """
    if not exclusive:
        yield from _recording(on_message)
        return
    nested = _owner == [threading.get_ident()]  # this thread holds the slot already (a capture around a build)
    if not nested and not _build_slot.acquire(blocking=False):
        if on_wait is not None:
            on_wait(f"waiting for the build of {_building[0] if _building else 'another model'}")
        while not _build_slot.acquire(timeout=0.1):
            if cancel is not None and cancel.is_set():
                raise EngineBuildError(f"{label}: build cancelled while waiting for another build")
    if not nested:
        _building[:], _owner[:] = [label], [threading.get_ident()]
    try:
        yield from _recording(on_message)
    finally:
        if not nested:
            _building.clear()
            _owner.clear()
            _build_slot.release()


def _recording(on_message: LogCallback | None) -> Iterator[LogCapture]:
    capture = LogCapture(on_message=CallbackReporter(on_message, "log callback") if on_message else None)
    with _lock:
        _captures.append(capture)
    try:
        yield capture
    finally:
        with _lock:
            _captures.remove(capture)
