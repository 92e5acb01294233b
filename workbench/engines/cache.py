"""Engine cache on disk: one folder per key (model bytes, build config, flavour and version, target GPU).

A folder is written under a temporary name and renamed into place when complete, so a crash or an interrupted
build never leaves a partial entry; a damaged entry (unreadable metadata, engine bytes not matching their
recorded hash) is detected on read, removed and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import EngineCacheError
from ..model.samples import cache_dir

ENGINE_FILE = "engine.plan"
META_FILE = "build.json"
FORMAT_VERSION = 1


@dataclass
class CacheLookup:
    engine: bytes | None
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
        folder = self.path(key)
        if not folder.exists():
            return CacheLookup(None, None, "miss")
        try:
            meta = json.loads((folder / META_FILE).read_text())
            engine = (folder / ENGINE_FILE).read_bytes()
            if hashlib.sha256(engine).hexdigest() != meta["engine_sha256"]:
                raise ValueError("engine bytes do not match their recorded hash")
        except (OSError, ValueError, KeyError, TypeError):
            shutil.rmtree(folder, ignore_errors=True)
            return CacheLookup(None, None, "corrupt")
        return CacheLookup(engine, meta, "hit")

    def put(self, key: str, engine: bytes, meta: dict) -> Path:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".tmp-{key}-"))
        except OSError as exc:
            raise EngineCacheError(f"engine cache folder {self.root} is not writable: {exc}") from None
        try:
            (tmp / ENGINE_FILE).write_bytes(engine)
            meta = dict(meta, engine_sha256=hashlib.sha256(engine).hexdigest())
            (tmp / META_FILE).write_text(json.dumps(meta, default=str))
            final = self.path(key)
            try:
                os.rename(tmp, final)
            except OSError:  # another process committed the same key first: theirs is as good as ours
                if not final.exists():
                    shutil.rmtree(final, ignore_errors=True)
                    os.rename(tmp, final)
            return final
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def entries(self) -> list[Path]:
        return sorted(p for p in self.root.glob("*") if p.is_dir() and not p.name.startswith(".tmp-"))

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
