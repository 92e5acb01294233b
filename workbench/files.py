"""Atomic file writes: engines, JSON results, calibration caches and HTML exports are written to a temporary file
in the same folder and renamed over the target, so an interrupted write leaves the old file (or none), never half
of a new one."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Iterable

from .errors import OutputFileError

PathArg = str | os.PathLike[str]  # what a function that reads or writes a file accepts
_SQLITE_HEADER = b"SQLite format 3\x00"


def _umask() -> int:
    try:  # Linux states it without changing it (os.umask would, briefly, for every thread)
        with open("/proc/self/status") as status:
            return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """A replaced file keeps its mode; a new one gets the usual 0666 minus the umask (mkstemp alone makes 0600)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def check_output_path(path: PathArg, what: str, inputs: Iterable[PathArg] = ()) -> Path:
    """Refuse an output path that is one of the command's inputs (the results store, the model) or an existing SQLite
    database (a results store given by mistake): writing would destroy it."""
    path = Path(path)
    for source in inputs:
        try:
            same = path.exists() and Path(source).exists() and os.path.samefile(path, source)
        except OSError:
            same = False
        if same or os.path.realpath(path) == os.path.realpath(source):
            raise OutputFileError(
                f"{path}: {what} would overwrite {source}, an input of this command; give another path"
            )
    try:
        with open(path, "rb") as handle:
            is_database = handle.read(16) == _SQLITE_HEADER
    except OSError:
        is_database = False
    if is_database:
        raise OutputFileError(
            f"{path}: is a SQLite database (a results store?); {what} would replace it: give another path"
        )
    return path


def atomic_write_bytes(path: PathArg, data: bytes | bytearray | memoryview) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputFileError(f"{path}: cannot be written: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), _mode_for(path))
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):  # a full disk, a quota: the file's name, not a bare errno
            raise OutputFileError(f"{path}: cannot be written: {exc.strerror or exc} (nothing was changed)") from None
        raise
    return path


def atomic_write_text(path: PathArg, text: str, encoding: str = "utf-8") -> Path:
    return atomic_write_bytes(path, text.encode(encoding))
