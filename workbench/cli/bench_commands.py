"""Benchmark subcommands: bench, runs (thin shells over workbench.bench)."""

from __future__ import annotations


import argparse

from ..errors import ConfigError
from .engine_commands import end_progress, progress_to_stderr
from .main import CONFIGURE, command
from .shapes_option import add_shapes_option, model_at_shapes, shapes_line


RESULTS_HELP = (
    "results store: a file, sqlite:///path or postgresql://user:password@host/db for a shared store "
    "(default $WORKBENCH_RESULTS or ./workbench-results.sqlite)"
)


def _configure_bench(p):
    p.add_argument("target", help="an .onnx model, a sample name, or a TensorRT engine file (.engine/.plan)")
    p.add_argument(
        "--backend",
        choices=["onnxruntime", "tensorrt"],
        help="default: tensorrt for engine files, onnxruntime for models",
    )
    p.add_argument("--batch", default="1", help="batch sizes, e.g. 1,8 (default 1)")
    p.add_argument("--concurrency", default="1", help="concurrent sessions/streams, e.g. 1,2 (default 1)")
    p.add_argument("--duration", type=float, default=1.0, help="seconds measured per configuration (default 1)")
    p.add_argument("--warmup", type=float, default=0.2, help="warm-up seconds, never counted (default 0.2)")
    p.add_argument("--iterations", type=int, default=10, help="at least this many timed iterations (default 10)")
    p.add_argument(
        "--ort-level", default=None, help="ONNX Runtime graph optimization levels, e.g. disable,all (default all)"
    )
    p.add_argument("--threads", default=None, help="ONNX Runtime intra-op threads, e.g. 1,2")
    p.add_argument("--cuda-graph", action="store_true", help="TensorRT: launch through a CUDA graph")
    p.add_argument("--spin-wait", action="store_true", help="TensorRT: spin while waiting for the GPU")
    add_shapes_option(p)
    p.add_argument("--results", metavar="URL", help=RESULTS_HELP)
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run each configuration as a Ray task (pip install 'tensorrt-workbench[ray]'); without an "
        "ADDRESS a local Ray is started",
    )


@command("bench", "measure latency and throughput (ONNX Runtime on the CPU, TensorRT on a GPU); stores every run")
def cmd_bench(args: argparse.Namespace) -> tuple[str, list[dict]]:
    from ..bench import BenchmarkConfig, ResultsStore, TensorRTOptions, sweep
    from ..bench.records import run_json
    from ..engines import is_engine_file
    from ..model.tensors import parse_int_list

    batches = parse_int_list(args.batch, "--batch")
    concurrency = parse_int_list(args.concurrency, "--concurrency")
    threads = parse_int_list(args.threads, "--threads") if args.threads else None
    levels = [v.strip() for v in args.ort_level.split(",")] if args.ort_level else None
    config = BenchmarkConfig(warmup_s=args.warmup, duration_s=args.duration, min_iterations=args.iterations)
    store = ResultsStore(args.results)  # before measuring: an unwritable path is reported at once
    target = args.target
    is_engine = is_engine_file(target)
    backend = args.backend or ("tensorrt" if is_engine else "onnxruntime")
    shapes_note, options = [], {}
    if is_engine and args.shapes:
        raise ConfigError("--shapes applies to a model; an engine's shapes were fixed when it was built")
    if not is_engine:
        # One ONNX Runtime run at the shapes first: a model that cannot run there fails now, in words, with the
        # --shapes to give, instead of ONNX Runtime's bare message in the middle of the sweep.
        model = model_at_shapes(args.target, args.shapes, prove=backend == "onnxruntime")
        shapes_note = [shapes_line(model)]
        options["tags"] = {"input_shapes": model.shapes.describe()}  # recorded with each run (batch: its own column)
        target = model if not args.ray or args.shapes else target  # Ray tasks load a path themselves
    if backend == "tensorrt":
        if levels or threads:
            raise ConfigError("--ort-level and --threads apply to --backend onnxruntime only")
        options["options"] = TensorRTOptions(cuda_graph=args.cuda_graph, spin_wait=args.spin_wait)
        if not is_engine and args.ray:  # each Ray task builds the engine on the GPU machine that times it
            options["build_config"] = _build_config_for_batches(target, batches)
        elif not is_engine:
            target = _engine_for_batches(target, batches)
    elif is_engine:
        raise ConfigError(f"{target} is a TensorRT engine; ONNX Runtime needs the .onnx model")

    executor = None
    if args.ray:
        from ..bench.ray_executor import RayExecutor

        executor = RayExecutor(None if args.ray == "local" else args.ray)
    frame = sweep(
        target,
        batch=batches,
        concurrency=concurrency,
        optimization_level=levels,
        threads=threads,
        config=config,
        store=store,
        backend=backend,
        on_progress=progress_to_stderr,
        executor=executor,
        **options,  # type: ignore[arg-type]
    )
    end_progress()
    rows = [run_json(r) for r in frame.to_dict(orient="records")]  # the shape of `runs --json`
    table = (
        frame[
            ["label", "batch", "concurrency", "latency_ms_median", "latency_ms_p99", "throughput", "cv", "iterations"]
        ].to_string(index=False, float_format=lambda v: f"{v:,.3f}")
        if len(frame)
        else ""
    )
    notes = shapes_note + [f"results recorded in {store.location}"]
    if frame.attrs.get("pending"):
        notes.append(
            f"{frame.attrs['pending']} runs could not reach {store.location} and wait in "
            f"{store.spool_path}: send them with `workbench runs --push --results URL`"
        )
    for failure in frame.attrs.get("failed", []):
        notes.append(
            f"failed on Ray: batch {failure['batch']} concurrency {failure['concurrency']}: {failure['error']}"
        )
    if frame.attrs.get("partial"):
        notes.append(f"stopped early: {len(frame)} of {frame.attrs.get('planned')} configurations measured")
    return table + "\n" + "\n".join(notes), rows


def _engine_for_batches(model_source, batches):
    from ..engines import build_engine, tensorrt_environment
    from ..errors import GpuUnavailableError
    from ..model import load_model

    env = tensorrt_environment()
    if not env.can_run_engines:  # say so before spending a build on it
        raise GpuUnavailableError(f"TensorRT engines cannot be timed here: {env.reason}")
    return build_engine(load_model(model_source), _build_config_for_batches(model_source, batches))


def _build_config_for_batches(model_source, batches):
    """A build configuration whose optimization profile covers the batch sizes of the sweep."""
    from ..engines import BuildConfig
    from ..model import batch_shapes, load_model

    model = load_model(model_source)
    lo, hi = batch_shapes(model, min(batches)), batch_shapes(model, max(batches))
    return BuildConfig(shapes={name: (lo[name], hi[name], hi[name]) for name in lo})


def _configure_runs(p):
    p.add_argument("--kind", choices=["benchmark", "build"], help="only benchmarks or only builds")
    p.add_argument("--model", help="only runs of this model (name or fingerprint)")
    p.add_argument("--csv", help="also export the runs to this CSV file")
    p.add_argument(
        "--push",
        action="store_true",
        help="first send the runs kept locally while the shared store's server was unreachable",
    )
    p.add_argument(
        "--to-mlflow",
        metavar="URI",
        help="log the runs to this MLflow tracking server (idempotent: runs logged before are skipped)",
    )
    p.add_argument(
        "--mlflow-experiment", default="tensorrt-workbench", help="MLflow experiment (default tensorrt-workbench)"
    )
    p.add_argument(
        "--copy-from",
        metavar="URL",
        help="first copy the runs of another store (e.g. a laptop's SQLite file) that this one lacks",
    )
    p.add_argument("--results", metavar="URL", help=RESULTS_HELP)


@command("runs", "list the runs in the results store")
def cmd_runs(args: argparse.Namespace) -> tuple[str, list[dict]]:
    from ..bench import ResultsStore
    from ..bench.records import run_json

    store = ResultsStore(args.results)
    notes = []
    if args.push:
        notes.append(f"{store.push_pending()} pending runs sent to {store.location}")
    if args.copy_from:
        notes.append(f"{store.copy_runs_from(args.copy_from)} runs copied into {store.location}")
    frame = store.runs(args.kind, model=args.model)
    if args.to_mlflow:
        from ..charts import run_artifacts

        logged = store.to_mlflow(
            args.to_mlflow, experiment=args.mlflow_experiment, artifacts=run_artifacts, kind=args.kind, model=args.model
        )
        notes.append(
            f"MLflow {args.to_mlflow}: {int(logged['created'].sum())} runs logged, "
            f"{int((~logged['created']).sum())} already there"
        )
    if args.csv:
        store.to_csv(args.csv, kind=args.kind, model=args.model)
    columns = [
        "id",
        "created",
        "kind",
        "label",
        "batch",
        "concurrency",
        "latency_ms_median",
        "throughput",
        "build_seconds",
    ]
    text = frame[columns].to_string(index=False) if len(frame) else f"no runs in {store.location}"
    text = "\n".join([*notes, text])
    return text, [run_json(r) for r in frame.to_dict(orient="records")]  # the shape of `bench --json`


CONFIGURE.update({"bench": _configure_bench, "runs": _configure_runs})
