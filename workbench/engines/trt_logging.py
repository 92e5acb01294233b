"""Capture TensorRT's log (the builder's VERBOSE `Layers:` report among it) while a build runs.

Written here because Polygraphy's TensorRT logger forwards VERBOSE messages to its own logger, whose default
severity drops them, and offers no sink. The workbench installs one logger for the process (TensorRT accepts only
one) that forwards to Polygraphy as before and, while a capture is active, records every message.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

SEVERITY_NAMES = {0: "INTERNAL_ERROR", 1: "ERROR", 2: "WARNING", 3: "INFO", 4: "VERBOSE"}

_lock = threading.Lock()
_captures: list["LogCapture"] = []
_installed = False


@dataclass
class LogCapture:
    """Messages recorded during a ``capture_log()`` block, as (severity name, text)."""

    messages: list[tuple[str, str]] = field(default_factory=list)
    on_message: Callable[[str, str], None] | None = None

    def text(self, min_severity: str = "VERBOSE") -> str:
        order = list(SEVERITY_NAMES.values())
        limit = order.index(min_severity)
        return "\n".join(f"[{sev[0]}] {msg}" for sev, msg in self.messages if order.index(sev) <= limit)

    def find(self, prefix: str) -> list[str]:
        return [msg for _, msg in self.messages if msg.startswith(prefix)]


def install_logger(trt) -> None:
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
                with _lock:
                    captures = list(_captures)
                for capture in captures:
                    capture.messages.append((name, msg))
                    if capture.on_message is not None:
                        capture.on_message(name, msg)
                forward.get(severity, G_LOGGER.super_verbose)(msg)
            except Exception:  # log() is noexcept on the C++ side: never let an exception escape
                pass

    if polygraphy_trt_util.TRT_LOGGER is None:
        polygraphy_trt_util.TRT_LOGGER = WorkbenchTrtLogger()
    # else: Polygraphy's logger was created before the workbench loaded; builds still work, but the engine-layer
    # report cannot be captured (build() then says so).
    _installed = True


def logger_captures() -> bool:
    import polygraphy.backend.trt.util as polygraphy_trt_util

    return type(polygraphy_trt_util.TRT_LOGGER).__name__ == "WorkbenchTrtLogger"


@contextmanager
def capture_log(on_message: Callable[[str, str], None] | None = None) -> Iterator[LogCapture]:
    capture = LogCapture(on_message=on_message)
    with _lock:
        _captures.append(capture)
    try:
        yield capture
    finally:
        with _lock:
            _captures.remove(capture)
