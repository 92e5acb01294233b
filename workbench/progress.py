"""The one progress-callback signature used by every long action (build, calibration, sensitivity, benchmarks).

``on_progress(stage, fraction)``: ``stage`` says what is happening in words; ``fraction`` is 0..1, or None when the
stage changed but the fraction did not. Callers' callbacks run inside library loops (and inside TensorRT's C++
callbacks): a callback that raises must not break the action, but it must not be hidden either, so
``ProgressReporter`` reports the first failure once as a warning and then stops calling it. ``CallbackReporter``
does the same for any other callback (e.g. a build's ``on_log(severity, message)``).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

ProgressCallback = Callable[[str, "float | None"], None]


class CallbackReporter:
    """Calls ``callback(*args)``; a failing callback is reported once (a warning) and then left alone."""

    def __init__(self, callback: Callable | None, what: str = "callback"):
        self.callback = callback
        self.what = what
        self.error: BaseException | None = None

    def __call__(self, *args: Any) -> None:
        if self.callback is None or self.error is not None:
            return
        try:
            self.callback(*args)
        except Exception as exc:  # noqa: BLE001 - reported below, never swallowed silently
            self.error = exc
            warnings.warn(
                f"the {self.what} raised {type(exc).__name__}: {exc}; it is not called again for this "
                "action (the action itself goes on)",
                RuntimeWarning,
                stacklevel=2,
            )


class ProgressReporter(CallbackReporter):
    """Calls ``callback(stage, fraction)``; a failing callback is reported once (a warning) and then left alone."""

    def __init__(self, callback: ProgressCallback | None, what: str = "progress callback"):
        super().__init__(callback, what)

    def __call__(self, stage: str, fraction: float | None = None) -> None:
        super().__call__(stage, fraction)
