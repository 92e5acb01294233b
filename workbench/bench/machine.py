"""Facts about the machine a result was measured on, recorded with every run."""

from __future__ import annotations

import os
import platform
from functools import lru_cache


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def machine_facts() -> dict:
    """CPU model and core count, GPU name and driver (when there is one), OS and Python."""
    from ..engines.flavor import detect_gpus

    gpus = detect_gpus()
    facts = {
        "hostname": platform.node(),
        "cpu": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "gpu": gpus[0].name if gpus else None,
        "gpu_compute_capability": ".".join(map(str, gpus[0].compute_capability)) if gpus else None,
        "gpu_driver": gpus[0].driver_version if gpus else None,
    }
    return facts
