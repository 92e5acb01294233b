"""The results store: every build and benchmark in one SQLite file, queried back as DataFrames.

SQLite is in the standard library and safe for several writers (two kernels) with WAL journaling and a busy
timeout; each record is one short transaction.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from ..errors import ResultsStoreError

SCHEMA_VERSION = 3
DEFAULT_FILENAME = "workbench-results.sqlite"

_STAT_COLUMNS = ["latency_ms_min", "latency_ms_mean", "latency_ms_median", "latency_ms_p90", "latency_ms_p95",
                 "latency_ms_p99", "latency_ms_max", "throughput", "cv"]

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('benchmark', 'build')),
    created TEXT NOT NULL,
    model TEXT, model_fingerprint TEXT, source_model TEXT, variant TEXT,
    backend TEXT, backend_version TEXT, device TEXT,
    precision TEXT, calibrator TEXT,
    optimization_level TEXT, threads INTEGER,
    batch INTEGER, concurrency INTEGER,
    {", ".join(f"{c} REAL" for c in _STAT_COLUMNS)},
    iterations INTEGER, wall_s REAL, unstable INTEGER, partial INTEGER,
    accuracy REAL, agreement REAL,
    build_seconds REAL, engine_bytes INTEGER, activation_bytes INTEGER, naive_activation_bytes INTEGER,
    engine_layers INTEGER,
    config TEXT, machine TEXT, extra TEXT,
    samples_ms BLOB
);
CREATE INDEX IF NOT EXISTS runs_model ON runs (model_fingerprint);
"""


def default_store_path() -> Path:
    """``$WORKBENCH_RESULTS`` if set, else ``workbench-results.sqlite`` in the current (workspace) folder."""
    return Path(os.environ.get("WORKBENCH_RESULTS") or Path.cwd() / DEFAULT_FILENAME)


def _clean(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.bool_, bool)):
        return int(value)
    return value


class ResultsStore:
    """One SQLite database of runs. ``path`` defaults to :func:`default_store_path`.

    Opening checks that the file can be created and written, so an unwritable path fails before any measuring.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_store_path()
        if self.path.is_dir():
            raise ResultsStoreError(f"results store {self.path} is a folder; give a file path such as "
                                    f"{self.path / DEFAULT_FILENAME}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise ResultsStoreError(f"results store {self.path} cannot be used: {exc}") from None
        except OSError as exc:
            raise ResultsStoreError(f"results store {self.path} cannot be created: {exc.strerror or exc}") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # Autocommit mode: each INSERT is its own transaction; explicit BEGIN where several statements belong together.
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            yield conn
        finally:
            conn.close()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ResultsStoreError(f"results store {self.path} has schema version {version}, newer than this "
                                    f"workbench understands ({SCHEMA_VERSION}); upgrade the workbench")
        # BEGIN IMMEDIATE takes the write lock now: a read-only file or folder fails here, not at the first record.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version == 0:
                for statement in _SCHEMA.strip().split(";"):
                    if statement.strip():
                        conn.execute(statement)
            else:
                if version < 2:  # v2: the model a converted variant came from
                    conn.execute("ALTER TABLE runs ADD COLUMN source_model TEXT")
                if version < 3:  # v3: agreement with FP32 (random inputs), apart from accuracy (labels)
                    conn.execute("ALTER TABLE runs ADD COLUMN agreement REAL")
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("PRAGMA journal_mode = WAL")

    # --- writing ------------------------------------------------------------------------------------------------
    def _insert(self, values: dict) -> int:
        values = {k: _clean(v) for k, v in values.items()}
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        for attempt in range(5):
            try:
                with self._connect() as conn:
                    cur = conn.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", list(values.values()))
                    return int(cur.lastrowid)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 4:
                    raise ResultsStoreError(f"results store {self.path}: cannot record the run: {exc}") from None
                time.sleep(0.05 * (attempt + 1))
            except sqlite3.DatabaseError as exc:
                raise ResultsStoreError(f"results store {self.path}: cannot record the run: {exc}") from None
        raise AssertionError("unreachable")

    @staticmethod
    def _now() -> str:
        return datetime.now(timezone.utc).isoformat(timespec="milliseconds")

    def record_measurement(self, measurement, *, model=None, tags: dict | None = None,
                           accuracy: float | None = None) -> int:
        """Store one Measurement (statistics, samples, configuration, machine facts); returns its id.

        ``accuracy`` (or ``tags['accuracy']``, with labels) and ``tags['agreement']`` (top-1 agreement with FP32):
        tags measured on another backend than this run's are left out (see ``quality.measured_quality_only``)."""
        from .machine import machine_facts
        from .quality import measured_quality_only

        row = measurement.row()
        tags = measured_quality_only(tags, row.get("backend"))
        fingerprint = (getattr(model, "fingerprint", None) or tags.pop("model_fingerprint", None)
                       or row.get("model_fingerprint"))
        values = {
            "kind": "benchmark", "created": self._now(),
            "model": row.get("model"), "model_fingerprint": fingerprint, "source_model": row.get("source_model"),
            "variant": row.get("variant"),
            "backend": row.get("backend"), "backend_version": row.get("backend_version"), "device": row.get("device"),
            "precision": tags.pop("precision", None) or row.get("precision"),
            "calibrator": tags.pop("calibrator", None) or row.get("calibrator"),
            "optimization_level": row.get("optimization_level"), "threads": row.get("threads"),
            "batch": row["batch"], "concurrency": row["concurrency"],
            **{c: row.get(c) for c in _STAT_COLUMNS},
            "iterations": row["iterations"], "wall_s": row["wall_s"], "unstable": row["unstable"],
            "partial": row["partial"], "accuracy": accuracy if accuracy is not None else tags.pop("accuracy", None),
            "agreement": tags.pop("agreement", None),
            "config": json.dumps({"benchmark": measurement.to_dict()["config"],
                                  "runner": measurement.description}, default=str),
            "machine": json.dumps(machine_facts()),
            "extra": json.dumps({k: _clean(v) for k, v in tags.items()}, default=str),
            "samples_ms": np.asarray(measurement.samples_ms, dtype=np.float32).tobytes(),
        }
        return self._insert(values)

    def record_build(self, result, *, tags: dict | None = None) -> int:
        """Store one engine build (flavour, version, build time, engine size, memory, layer count)."""
        from .machine import machine_facts

        tags = dict(tags or {})
        model = result.model
        values = {
            "kind": "build", "created": self._now(),
            "model": getattr(model, "name", None), "model_fingerprint": getattr(model, "fingerprint", None),
            "source_model": getattr(model, "source_model", None), "variant": tags.pop("variant", None),
            "backend": result.flavor, "backend_version": result.version, "device": None,
            "precision": tags.pop("precision", None) or getattr(model, "precision", None) or "fp32",
            "calibrator": tags.pop("calibrator", None) or getattr(model, "calibrator", None),
            "build_seconds": result.build_seconds, "engine_bytes": len(result.engine_bytes),
            "activation_bytes": result.memory.get("activation_bytes"),
            "naive_activation_bytes": result.memory.get("naive_activation_bytes"),
            "engine_layers": len(result.layers),
            "config": json.dumps({"build": result.config.__dict__, "cache_hit": result.cache_hit}, default=str),
            "machine": json.dumps(machine_facts()),
            "extra": json.dumps(tags, default=str),
        }
        return self._insert(values)

    # --- reading ------------------------------------------------------------------------------------------------
    def runs(self, kind: str | None = None, *, model: str | None = None, samples: bool = False) -> pd.DataFrame:
        """Stored runs as a DataFrame (newest last); ``samples=True`` adds each run's latency samples (ms).

        ``model``: a model name or fingerprint; variants converted from that model (FP16, INT8, ...) are included.
        """
        query, args = "SELECT * FROM runs", []
        where = []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if model is not None:  # the model (name or fingerprint) and the variants converted from it
            where.append("(model = ? OR model_fingerprint = ? OR source_model = ?)")
            args += [model, model, model]
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY id"
        try:
            with self._connect() as conn:
                frame = pd.read_sql_query(query, conn, params=args)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
            raise ResultsStoreError(f"results store {self.path} cannot be read: {exc}") from None
        blobs = frame.pop("samples_ms")
        if samples:
            frame["samples_ms"] = [np.frombuffer(b, dtype=np.float32).astype(np.float64).tolist() if b else []
                                   for b in blobs]
        for flag in ("unstable", "partial"):
            frame[flag] = frame[flag].astype("boolean")
        for column in ("threads", "batch", "concurrency", "iterations", "engine_bytes", "activation_bytes",
                       "naive_activation_bytes", "engine_layers"):
            frame[column] = frame[column].astype("Int64")  # builds have no batch: keep integers, not floats
        from .sweep import run_label

        frame["label"] = [run_label(r) for r in frame.to_dict(orient="records")]
        return frame

    def to_csv(self, path, **filters) -> Path:
        from ..files import atomic_write_text

        return atomic_write_text(path, self.runs(**filters).to_csv(index=False))  # never half a file

    def __len__(self) -> int:
        with self._connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def __repr__(self) -> str:
        return f"<ResultsStore {self.path} ({len(self)} runs)>"
