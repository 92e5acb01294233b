"""The fits over the bundled recordings (all of them, leave one out, leave one GPU out) kept on disk between
processes: they depend only on package files, yet cost 10-40 s of Nelder-Mead on 2 cores, paid again by every new
process (a CLI call, a notebook kernel, a CI gate) that quotes an estimate's error band."""

from __future__ import annotations

import functools
import hashlib
import pickle
import platform
from importlib.metadata import version
from pathlib import Path
from typing import Callable, TypeVar

from ...files import atomic_write_bytes
from ...model.samples import cache_dir

ENGINES_PACKAGE = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@functools.lru_cache(maxsize=1)
def fit_inputs_key() -> str:
    """A digest of everything a fit reads: the engines package's code and data (recordings, layer JSON, GPU table)
    and the numeric libraries' versions. Any change to one of them is a new key, so a stale fit is never read."""
    digest = hashlib.sha256()
    for path in sorted(ENGINES_PACKAGE.rglob("*")):
        if (
            path.is_file()
            and path.suffix in (".py", ".csv", ".json", ".toml", ".txt")
            and "__pycache__" not in path.parts
        ):
            digest.update(str(path.relative_to(ENGINES_PACKAGE)).encode())
            digest.update(path.read_bytes())
    for package in ("numpy", "scipy", "pandas"):
        digest.update(f"{package}={version(package)}".encode())
    digest.update(platform.python_version().encode())
    return digest.hexdigest()[:20]


def disk_cached(name: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
    """Keep a no-argument function's result in the cache folder under ``name`` and the fit inputs' key. An
    unreadable entry is computed again; a cache folder that cannot be written only costs the time."""

    def decorate(compute: Callable[[], T]) -> Callable[[], T]:
        @functools.wraps(compute)
        def cached() -> T:
            path = cache_dir() / "estimate" / f"{name}-{fit_inputs_key()}.pickle"
            try:
                return pickle.loads(path.read_bytes())  # written by this function only, in the user's own cache
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
                pass
            result = compute()
            try:
                atomic_write_bytes(path, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
            except OSError:
                pass
            return result

        return cached

    return decorate
