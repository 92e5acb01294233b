"""Builds and benchmarks of a results store as MLflow runs (``ResultsStore.to_mlflow`` / ``workbench runs
--to-mlflow URI``), through MLflow's own client: parameters (model, precision, calibrator, build and benchmark
configuration, machine), metrics (latency percentiles, throughput, agreement/accuracy where measured, build time and
sizes) and artifacts (the run's configuration and latency samples, plus whatever ``artifacts`` adds, e.g. the charts
of ``workbench.charts.run_artifacts``).

Idempotent: every MLflow run is tagged with the workbench run's uid, and runs already logged are looked up before
anything is created, so exporting twice (or from two machines) gives one MLflow run per workbench run.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Mapping, TYPE_CHECKING

import pandas as pd

from ..errors import ConfigError, ResultsStoreError
from .records import ENGINE_LAYER_TABLE, MLFLOW_METRICS, MLFLOW_PARAMS, present
from ..redact import redact, redact_value

if TYPE_CHECKING:
    from .store import ResultsStore

UID_TAG = "workbench.run_uid"
_MAX_PARAM = 6000  # MLflow's limit on a parameter value


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif present(value):
        out[prefix] = str(value)[:_MAX_PARAM]


def run_params(row: Mapping) -> dict[str, str]:
    """MLflow parameters of one stored run: its configuration columns, its build/benchmark configuration and the
    machine it ran on (``machine.gpu``, ``machine.hostname``, ...)."""
    params = {name: str(row[name]) for name in MLFLOW_PARAMS if present(row.get(name))}
    for column in ("config", "machine"):
        try:
            parsed = json.loads(row[column]) if present(row.get(column)) else {}
        except json.JSONDecodeError:
            parsed = {}
        _flatten("machine" if column == "machine" else "", parsed, params)
    return params


def run_metrics(row: Mapping) -> dict[str, float]:
    """MLflow metrics of one stored run: only what was measured (no zero for a missing value)."""
    return {name: float(row[name]) for name in MLFLOW_METRICS if present(row.get(name))}


def export_to_mlflow(
    store: ResultsStore,
    tracking_uri: str,
    *,
    experiment: str = "tensorrt-workbench",
    artifacts: Callable[[Mapping], Mapping[str, bytes]] | None = None,
    kind: str | None = None,
    model: str | None = None,
) -> pd.DataFrame:
    """Log the store's runs to the MLflow tracking server at ``tracking_uri``; returns one row per workbench run:
    ``uid``, ``mlflow_run_id`` and ``created`` (False: it was logged before and left alone)."""
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("exporting to MLflow needs mlflow: pip install 'tensorrt-workbench[mlflow]'") from None
    runs = store.runs(kind, model=model, samples=True)
    # MLflow prints a "View run" link per finished run on stdout: the CLI's output and JSON must stay clean.
    quiet, os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = (
        os.environ.get("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"),
        "true",
    )
    try:
        return _export(
            store,
            runs,
            MlflowClient(tracking_uri=tracking_uri),
            tracking_uri,
            experiment,
            artifacts,
            Metric,
            Param,
            RunTag,
        )
    finally:
        if quiet is None:
            os.environ.pop("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", None)
        else:
            os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = quiet


def _export(store, runs, client, tracking_uri, experiment, artifacts, Metric, Param, RunTag) -> pd.DataFrame:
    try:
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        logged = _logged_uids(client, experiment_id)
    except Exception as exc:  # noqa: BLE001 - MLflow raises its own and requests' errors; one clear message
        raise ResultsStoreError(
            redact(
                f"MLflow tracking server {tracking_uri} cannot be used: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            )
        ) from None
    out = []
    for row in runs.to_dict(orient="records"):
        row = redact_value(row)  # a store written before redaction may still hold a credential
        uid = row["uid"]
        if uid in logged:
            out.append({"uid": uid, "mlflow_run_id": logged[uid], "created": False})
            continue
        run = client.create_run(
            experiment_id,
            run_name=f"{row['kind']} · {row['label']}"
            + (f" · batch {row['batch']}" if present(row.get("batch")) else ""),
            tags={UID_TAG: uid, "workbench.kind": row["kind"], "workbench.store": store.location},
        )
        run_id = run.info.run_id
        stamp = int(pd.Timestamp(row["created"]).timestamp() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, stamp, 0) for k, v in run_metrics(row).items()],
            params=[Param(k, v) for k, v in run_params(row).items()],
            tags=[RunTag("workbench.created", str(row["created"]))],
        )
        files = {
            "workbench_run.json": json.dumps(
                {k: v for k, v in row.items() if k != "samples_ms"}, default=str, indent=1
            ).encode()
        }
        if row.get("samples_ms"):
            files["latency_samples_ms.csv"] = (
                "latency_ms\n" + "\n".join(f"{v:.6g}" for v in row["samples_ms"])
            ).encode()
        layer_table = json.loads(row.get("extra") or "{}").get(ENGINE_LAYER_TABLE) if row["kind"] == "build" else None
        if layer_table:
            files["engine_layers.csv"] = pd.DataFrame(layer_table).to_csv(index=False).encode()
        files.update(artifacts(row) if artifacts is not None else {})
        with tempfile.TemporaryDirectory() as folder:
            for name, data in files.items():
                (Path(folder) / name).write_bytes(data)
            client.log_artifacts(run_id, folder)
        client.set_terminated(run_id, "FINISHED")
        logged[uid] = run_id
        out.append({"uid": uid, "mlflow_run_id": run_id, "created": True})
    return pd.DataFrame(out, columns=["uid", "mlflow_run_id", "created"])


def _logged_uids(client, experiment_id: str) -> dict[str, str]:
    """uid -> MLflow run id of every workbench run already in the experiment (paged search, once per export)."""
    found, token = {}, None
    while True:
        page = client.search_runs([experiment_id], filter_string="", max_results=1000, page_token=token)
        for run in page:
            uid = run.data.tags.get(UID_TAG)
            if uid:
                found[uid] = run.info.run_id
        token = page.token
        if not token:
            return found
