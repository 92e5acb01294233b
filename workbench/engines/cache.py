"""Engine cache on disk: one folder per key (model bytes, build config, flavour and version, target GPU).

A folder is written under a temporary name and renamed into place when complete, so a crash or an interrupted
build never leaves a partial entry. A damaged entry is detected and removed: unreadable metadata or a wrong engine
size at lookup (then rebuilt), engine bytes not matching their recorded SHA-256 when they are first read (hashing a
100 MB engine at every lookup would cost more than the lookup itself; that read raises EngineCacheError, it never
rebuilds behind the caller's back). A file the workbench may not read or write (permission denied, a full disk) is
an EngineCacheError naming the path: it is not damage, and nothing is deleted for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EngineCacheError
from ..files import atomic_write_bytes, atomic_write_text
from ..model.samples import cache_dir

ENGINE_FILE = "engine.plan"
META_FILE = "build.json"
FORMAT_VERSION = 1


@dataclass
class CacheLookup:
    folder: Path | None
    meta: dict | None
    status: str  # "hit", "miss" or "corrupt" (a damaged entry was found and removed)


class EngineCache:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else cache_dir() / "engines"

    @staticmethod
    def make_key(*parts: str) -> str:
        digest = hashlib.sha256()
        for part in (f"format-{FORMAT_VERSION}", *parts):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()[:32]

    def path(self, key: str) -> Path:
        return self.root / key

    def get(self, key: str) -> CacheLookup:
        """Look an entry up; metadata and engine size are checked here, the engine's hash when it is read."""
        folder = self.path(key)
        if not folder.exists():
            return CacheLookup(None, None, "miss")
        try:
            meta = json.loads(_read(folder / META_FILE).decode())
            if (folder / ENGINE_FILE).stat().st_size != meta["engine_size"] or len(meta["engine_sha256"]) != 64:
                raise ValueError("engine file size does not match its record")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, ValueError, KeyError, TypeError):
            self.discard(key)
            return CacheLookup(None, None, "corrupt")
        return CacheLookup(folder, meta, "hit")

    def read_engine(self, key: str, meta: dict) -> bytes:
        """The cached engine bytes, checked against their recorded hash.

        A mismatch (or a missing file) removes the entry and raises EngineCacheError saying so: build again to
        replace it. An unreadable file raises EngineCacheError naming it, and is left alone.
        """
        path = self.path(key) / ENGINE_FILE
        try:
            engine = _read(path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            engine = b""
        if hashlib.sha256(engine).hexdigest() != meta.get("engine_sha256"):
            self.discard(key)
            raise EngineCacheError(
                f"the cached engine {path} was damaged after it was written (its bytes do not "
                "match the recorded SHA-256); the entry was removed: build again to replace it"
            )
        return engine

    def discard(self, key: str) -> None:
        shutil.rmtree(self.path(key), ignore_errors=True)

    def put(self, key: str, engine: Any, meta: dict) -> Path:
        """Commit an engine (bytes or any buffer, e.g. TensorRT's IHostMemory) with its metadata."""
        engine = memoryview(engine).cast("B")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".tmp-{key}-"))
        except OSError as exc:
            raise EngineCacheError(f"engine cache folder {self.root} is not writable: {exc}") from None
        try:
            meta = dict(meta, engine_sha256=hashlib.sha256(engine).hexdigest(), engine_size=engine.nbytes)
            try:
                atomic_write_bytes(tmp / ENGINE_FILE, engine)
                atomic_write_text(tmp / META_FILE, json.dumps(meta, default=str))
            except OSError as exc:
                raise EngineCacheError(f"could not write the engine cache entry in {tmp}: {exc}") from None
            final = self.path(key)
            try:
                os.rename(tmp, final)
            except OSError as exc:
                if not final.exists():
                    raise EngineCacheError(f"could not commit engine cache entry {final}: {exc}") from None
                # else another process committed the same key first: theirs is as good as ours
            return final
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def entries(self) -> list[Path]:
        return sorted(p for p in self.root.glob("*") if p.is_dir() and not p.name.startswith(".tmp-"))


def _read(path: Path) -> bytes:
    """A cache file's bytes; a missing file passes as it is (a damaged entry), any other OSError is EngineCacheError."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise
    except OSError as exc:
        raise EngineCacheError(
            f"cannot read the engine cache file {path}: {exc.strerror or exc} "
            "(the entry is kept; fix the permissions or choose another cache folder)"
        ) from None
