"""One run record: the columns of a build or benchmark run, written once.

The results store's table, the rows a sweep returns, a run's label, the quality filter, MLflow parameters and
metrics, and the CLI's JSON (``bench --json`` and ``runs --json`` alike) all derive from ``RUN_COLUMNS``. Adding a
column here adds it everywhere; before, eight hand-kept lists drifted (MLflow lost ``agreement``, Ray rows skipped
the quality filter, the two commands printed one run in two shapes).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, TYPE_CHECKING

import numpy as np
import sqlalchemy as sa

from ..redact import redact_value
from .quality import measured_quality_only

if TYPE_CHECKING:
    from ..engines import BuildResult
    from ..model.sources import ModelSource
    from .harness import Measurement
    import pandas as pd


@dataclass(frozen=True)
class RunColumn:
    """One column of a run. ``dtype``: text, integer, big_integer, float, flag (stored 0/1), json (stored as text,
    decoded in JSON output) or blob. ``role``: key (identity), config (what was run: an MLflow parameter), stat
    (what was measured), quality (accuracy/agreement, only where measured), build or detail (json, samples).
    ``metric``: logged as an MLflow metric. ``json_path``: where the CLI's JSON puts it (None: left out)."""

    name: str
    dtype: str
    role: str
    metric: bool = False
    json_path: tuple[str, ...] | None = None

    @property
    def path(self) -> tuple[str, ...] | None:
        return self.json_path if self.json_path is not None else (None if self.dtype == "blob" else (self.name,))


def _stat(name: str, dtype: str = "float", metric: bool = True) -> RunColumn:
    # latency percentiles nest under "latency_ms" in JSON ({"latency_ms": {"median": ...}}), as trtexec reports them
    path = ("latency_ms", name[len("latency_ms_") :]) if name.startswith("latency_ms_") else None
    return RunColumn(name, dtype, "stat", metric, path)


LATENCY_STATS = ("min", "mean", "median", "p90", "p95", "p99", "max")
CONFIG_TEXT = (
    "model",
    "model_fingerprint",
    "source_model",
    "variant",
    "backend",
    "backend_version",
    "device",
    "precision",
    "calibrator",
    "optimization_level",
)

RUN_COLUMNS: tuple[RunColumn, ...] = (
    RunColumn("id", "integer", "key"),
    RunColumn("uid", "text", "key"),  # one id per run across stores (copy, push and MLflow never duplicate)
    RunColumn("kind", "text", "config"),
    RunColumn("created", "text", "key"),
    *[RunColumn(name, "text", "config") for name in CONFIG_TEXT],
    *[RunColumn(name, "integer", "config") for name in ("threads", "batch", "concurrency")],
    *[_stat(f"latency_ms_{s}") for s in LATENCY_STATS],
    _stat("throughput"),
    _stat("cv"),
    _stat("iterations", "integer"),
    _stat("wall_s"),
    _stat("unstable", "flag", metric=False),
    _stat("partial", "flag", metric=False),
    RunColumn("accuracy", "float", "quality", metric=True),
    RunColumn("agreement", "float", "quality", metric=True),  # top-1 agreement with FP32 (random inputs)
    RunColumn("build_seconds", "float", "build", metric=True),
    *[
        RunColumn(name, "big_integer", "build", metric=True)
        for name in ("engine_bytes", "activation_bytes", "naive_activation_bytes")
    ],
    RunColumn("engine_layers", "integer", "build", metric=True),
    *[RunColumn(name, "json", "detail") for name in ("config", "machine", "extra")],
    RunColumn("samples_ms", "blob", "detail"),
)
COLUMNS = {c.name: c for c in RUN_COLUMNS}
STAT_COLUMNS = [c.name for c in RUN_COLUMNS if c.role == "stat" and c.dtype == "float" and c.name != "wall_s"]
INTEGER_COLUMNS = [c.name for c in RUN_COLUMNS if c.dtype in ("integer", "big_integer") and c.name != "id"]
FLAG_COLUMNS = [c.name for c in RUN_COLUMNS if c.dtype == "flag"]
JSON_COLUMNS = [c.name for c in RUN_COLUMNS if c.dtype == "json"]
MLFLOW_PARAMS = [c.name for c in RUN_COLUMNS if c.role == "config"]
MLFLOW_METRICS = [c.name for c in RUN_COLUMNS if c.metric]
# The tags that fill a column of their own (the rest of a run's tags are kept in ``extra``).
COLUMN_TAGS = ("precision", "calibrator", "accuracy", "agreement", "model_fingerprint")

# The engine-layer table kept with a build run (in its ``extra`` JSON): one record per layer after fusion.
ENGINE_LAYER_TABLE = "engine_layer_table"

_SQL_TYPES = {
    "text": sa.Text,
    "integer": sa.Integer,
    "big_integer": sa.BigInteger,
    "float": sa.Float,
    "flag": sa.Integer,
    "json": sa.Text,
    "blob": sa.LargeBinary,
}


def runs_table(metadata: sa.MetaData) -> sa.Table:
    """The store's ``runs`` table, one SQL column per run column."""

    def column(c: RunColumn) -> sa.Column:
        if c.name == "id":
            return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)
        if c.name == "uid":
            return sa.Column("uid", sa.String(32))
        return sa.Column(c.name, _SQL_TYPES[c.dtype], nullable=c.name not in ("kind", "created"))

    return sa.Table(
        "runs",
        metadata,
        *[column(c) for c in RUN_COLUMNS],
        sa.CheckConstraint("kind IN ('benchmark', 'build')", name="runs_kind"),
        sqlite_autoincrement=True,
    )


def now() -> str:
    """A run's ``created``: UTC, milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def clean(value: Any) -> Any:
    """A value as JSON and SQL take it: numpy scalars as Python numbers, NaN/inf/NA as None, booleans as 0/1;
    text with any credential redacted (a tag or a note may quote a URL: no password is ever stored or exported)."""
    if isinstance(value, (str, dict, list)):
        return redact_value(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.bool_, bool)):
        return int(value)
    try:
        import pandas as pd

        if value is pd.NA:
            return None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return value


def present(value: Any) -> bool:
    """Measured: not None, NaN, NA or an empty string (what a database read gives for a missing value)."""
    value = clean(value)
    return value is not None and value != ""


def run_label(row: Mapping) -> str:
    """``variant (or model) · backend · level · N threads``: one name per configuration, for sweeps and the store.

    ``row``: a mapping; missing values (None, "", NaN from a database read) are left out."""

    def get(key):
        value = row.get(key)
        return value if present(value) else None

    parts = [get("variant") or get("model"), get("backend"), get("optimization_level")]
    if get("threads"):
        parts.append(f"{int(row['threads'])} threads")
    return " · ".join(str(p) for p in parts if p)


def benchmark_tags(tags: Mapping | None, backend: str | None) -> dict:
    """A benchmark's tags with the quality filter applied (the one place it is applied: the sweep's rows and the
    store's record both take what this returns)."""
    return measured_quality_only(tags, backend)


def benchmark_record(
    measurement: Measurement,
    tags: Mapping | None = None,
    *,
    model: ModelSource | None = None,
    accuracy: float | None = None,
    uid: str | None = None,
) -> dict:
    """The stored record of one Measurement: every run column (statistics, samples, configuration, machine facts).
    ``tags`` must already be filtered by :func:`benchmark_tags` when they come from a sweep (filtering twice changes
    nothing)."""
    from .machine import machine_facts

    row = measurement.row()
    tags = benchmark_tags(tags, row.get("backend"))
    fingerprint = (
        getattr(model, "fingerprint", None) or tags.pop("model_fingerprint", None) or row.get("model_fingerprint")
    )
    values = {name: row.get(name) for name in COLUMNS if COLUMNS[name].role in ("config", "stat")}
    values.update(
        kind="benchmark",
        created=now(),
        model_fingerprint=fingerprint,
        precision=tags.pop("precision", None) or row.get("precision"),
        calibrator=tags.pop("calibrator", None) or row.get("calibrator"),
        accuracy=accuracy if accuracy is not None else tags.pop("accuracy", None),
        agreement=tags.pop("agreement", None),
        config=json.dumps(
            {"benchmark": measurement.to_dict()["config"], "runner": measurement.description}, default=str
        ),
        machine=json.dumps(machine_facts()),
        extra=json.dumps({k: clean(v) for k, v in tags.items()}, default=str),
        samples_ms=np.asarray(measurement.samples_ms, dtype=np.float32).tobytes(),
    )
    if uid is not None:
        values["uid"] = uid
    return values


def build_record(result: BuildResult, tags: Mapping | None = None) -> dict:
    """The stored record of one engine build (flavour, version, build time, engine size, memory, layer count, and
    the engine-layer table in ``extra``)."""
    from dataclasses import fields

    from .machine import machine_facts

    tags = dict(tags or {})
    model = result.model
    return {
        "kind": "build",
        "created": now(),
        "model": getattr(model, "name", None),
        "model_fingerprint": getattr(model, "fingerprint", None),
        "source_model": getattr(model, "source_model", None),
        "variant": tags.pop("variant", None),
        "backend": result.flavor,
        "backend_version": result.version,
        "device": None,
        "precision": tags.pop("precision", None) or getattr(model, "precision", None) or "fp32",
        "calibrator": tags.pop("calibrator", None) or getattr(model, "calibrator", None),
        "build_seconds": result.build_seconds,
        "engine_bytes": result.engine_size,
        "activation_bytes": result.memory.get("activation_bytes"),
        "naive_activation_bytes": result.memory.get("naive_activation_bytes"),
        "engine_layers": len(result.layers),
        "config": json.dumps(
            {
                "build": {f.name: getattr(result.config, f.name) for f in fields(result.config)},
                "cache_hit": result.cache_hit,
            },
            default=str,
        ),
        "machine": json.dumps(machine_facts()),
        "extra": json.dumps({**tags, ENGINE_LAYER_TABLE: engine_layer_table(result.layers)}, default=str),
    }


_LAYER_TABLE_COLUMNS = ["name", "type", "kind", "onnx_nodes", "output_dtypes", "output_formats", "tactic", "stream"]


def engine_layer_table(layers: pd.DataFrame) -> list[dict]:
    """A build's engine layers as JSON-ready records (lists joined with ", ")."""
    table = layers[[c for c in _LAYER_TABLE_COLUMNS if c in layers.columns]]
    return [
        {k: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else clean(v) for k, v in row.items()}
        for row in table.to_dict(orient="records")
    ]


def run_json(row: Mapping) -> dict:
    """The CLI's one JSON shape of a run (``bench --json`` rows and ``runs --json`` alike): every run column at its
    ``json_path`` (latency percentiles under ``latency_ms``; config, machine and extra decoded), plus ``label``.
    A column the row lacks (a sweep row has no database ``id`` yet) is null, so both commands give the same keys."""
    out: dict = {}
    for column in RUN_COLUMNS:
        path = column.path
        if path is None:
            continue
        value = clean(row.get(column.name))
        if column.dtype == "json" and isinstance(value, str):
            value = json.loads(value) if value else None
        elif column.dtype == "flag" and value is not None:
            value = bool(value)
        elif column.dtype in ("integer", "big_integer") and value is not None:
            value = int(value)
        target = out
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
    out["label"] = row.get("label") or run_label(row)
    return out
