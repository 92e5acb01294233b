"""Budgets checked before allocations: an input, a calibration file or a thread count that would exhaust the
machine is refused with a clear error naming it and the bytes, before anything is allocated.

The memory budget defaults to half of the memory available now (``WORKBENCH_MEMORY_BUDGET`` sets it: bytes, or a
percentage of available memory such as ``80%``); threads to 4 per CPU core (``WORKBENCH_MAX_THREADS``)."""

from __future__ import annotations

import math
import os
from typing import Iterable

from .errors import ConfigError

DEFAULT_FRACTION = 0.5
THREADS_PER_CORE = 4


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # neither: assume a small laptop rather than no limit
        return 8 << 30


def memory_budget() -> int:
    """Bytes one input, array or file may take."""
    setting = os.environ.get("WORKBENCH_MEMORY_BUDGET", "").strip()
    if setting:
        try:
            if setting.endswith("%"):
                return int(_available_memory() * float(setting[:-1]) / 100)
            return int(float(setting))
        except ValueError:
            raise ConfigError(
                f"WORKBENCH_MEMORY_BUDGET={setting!r}: give bytes (e.g. 4e9) or a percentage of "
                "available memory (e.g. 80%)"
            ) from None
    return int(_available_memory() * DEFAULT_FRACTION)


def _human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n}"


def check_bytes(nbytes: int, what: str) -> int:
    """Refuse ``what`` needing ``nbytes`` over the memory budget."""
    budget = memory_budget()
    if nbytes > budget:
        raise ConfigError(
            f"{what} needs {nbytes:,} bytes ({_human(nbytes)}), over the memory budget of "
            f"{budget:,} bytes ({_human(budget)}; set WORKBENCH_MEMORY_BUDGET to change it)"
        )
    return nbytes


def array_bytes(shape: Iterable[int], itemsize: int) -> int:
    return math.prod(int(d) for d in shape) * int(itemsize)


def max_threads() -> int:
    setting = os.environ.get("WORKBENCH_MAX_THREADS", "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return max(1, (os.cpu_count() or 1) * THREADS_PER_CORE)


def check_threads(threads: int, what: str = "threads") -> int:
    """A positive thread count no larger than :func:`max_threads` (100,000 threads crash ONNX Runtime)."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"{what} must be a positive integer, got {threads!r}")
    limit = max_threads()
    if threads > limit:
        raise ConfigError(
            f"{what} {threads:,} is more than this machine can run ({limit}: {THREADS_PER_CORE} per "
            f"CPU core; set WORKBENCH_MAX_THREADS to change it)"
        )
    return threads
