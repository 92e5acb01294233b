"""Build a TensorRT engine from a model and report what TensorRT did: layers after fusion, memory, streams."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from ..errors import ConfigError, EngineBuildError, EngineFileError, GpuUnavailableError
from ..progress import ProgressCallback
from .cache import ENGINE_FILE, EngineCache
from .config import BuildConfig
from .flavor import detect_gpus, select_flavor, tensorrt_environment, trt
from .layers import FusionSummary, fusion_summary, layers_frame, parse_layer_report, stream_map
from .memory import memory_from_log, naive_activation_bytes
from .network import network_layers, parse_network
from .trt_logging import capture_log, logger_captures

LogCallback = Callable[[str, str], None]         # (severity, message)

_POOLS = {"workspace": "WORKSPACE", "tactic_shared_memory": "TACTIC_SHARED_MEMORY", "tactic_dram": "TACTIC_DRAM"}
# Log lines worth keeping with a cached engine (the full VERBOSE log of a ResNet-50 is ~18,000 messages).
_KEPT_VERBOSE = ("Layers:", "Layer: ", "Original: ", "After ", "[MS]")


@dataclass
class BuildResult:
    """A built engine and everything learned while building it."""

    model: object
    config: BuildConfig
    flavor: str
    version: str
    engine_path: Path | None              # in the engine cache; None when built with cache=None (bytes in memory)
    layers: pd.DataFrame                  # engine layers after fusion (see layers.COLUMNS)
    network: pd.DataFrame                 # network layers before fusion
    memory: dict                          # activation/weights/scratch totals + naive_activation_bytes
    memory_per_layer: pd.DataFrame
    log: str
    cache_hit: bool
    cache_status: str
    build_seconds: float
    profiles: dict = field(default_factory=dict)
    _engine: bytes | None = field(default=None, repr=False)
    _load_engine: Callable[["BuildResult"], bytes] | None = field(default=None, repr=False)

    @property
    def engine_bytes(self) -> bytes:
        """The serialized engine (read from the cache, and verified, on first use)."""
        if self._engine is None:
            self._engine = self._load_engine(self)
        return self._engine

    @property
    def fusion(self) -> FusionSummary:
        return fusion_summary(self.layers, self.model, network_layers=len(self.network))

    @property
    def streams(self) -> pd.DataFrame:
        return stream_map(self.layers)

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.engine_bytes)
        return path

    def check_shapes(self, shapes: dict) -> None:
        """Raise ConfigError when ``shapes`` fall outside the engine's optimization profile."""
        for name, dims in shapes.items():
            if name not in self.profiles:
                raise ConfigError(f"'{name}' is not an input of this engine (inputs: {', '.join(self.profiles)})")
            lo, _, hi = self.profiles[name]
            if len(dims) != len(lo) or not all(a <= d <= b for a, d, b in zip(lo, dims, hi)):
                raise ConfigError(f"input '{name}' shape {list(dims)} is outside the engine's profile "
                                  f"(min {list(lo)}, max {list(hi)}); rebuild with a wider profile")

    def to_dict(self) -> dict:
        fusion_facts = self.fusion.to_dict()
        return {
            "flavor": self.flavor,
            "version": self.version,
            "model": getattr(self.model, "name", ""),
            "engine": str(self.engine_path) if self.engine_path else None,
            "engine_bytes": len(self.engine_bytes),
            "cache_hit": self.cache_hit,
            "build_seconds": round(self.build_seconds, 3),
            "profiles": {k: {"min": list(v[0]), "opt": list(v[1]), "max": list(v[2])} for k, v in
                         self.profiles.items()},
            "onnx_nodes": fusion_facts["onnx_nodes"],
            "network_layers": self.network[["name", "type", "onnx_node"]].to_dict(orient="records"),
            "engine_layers": [
                {"name": r.name, "type": r.type, "kind": r.kind, "onnx_nodes": list(r.onnx_nodes),
                 "stream": int(r.stream), "output_dtypes": list(r.output_dtypes), "tactic": r.tactic}
                for r in self.layers.itertuples(index=False)],
            "fusions": fusion_facts["fusions"],
            "inserted_layers": fusion_facts["inserted_layers"],
            "unmapped_onnx_nodes": fusion_facts["unmapped_onnx_nodes"],
            "memory": self.memory,
            "streams": self.streams.to_dict(orient="records"),
        }

    def run(self, feeds: dict | None = None, *, atol: float = 1e-3, rtol: float = 1e-3) -> pd.DataFrame:
        """Run the engine on a GPU and compare its outputs with ONNX Runtime (Polygraphy's Comparator).

        Without a GPU this TensorRT can run on, raises GpuUnavailableError with the reason (never a CUDA error).
        """
        env = tensorrt_environment()
        if not env.can_run_engines:
            raise GpuUnavailableError(f"engine built ({len(self.engine_bytes):,} bytes), but it cannot run here: "
                                      f"{env.reason}")
        from .run import compare_with_onnxruntime

        return compare_with_onnxruntime(self, feeds, atol=atol, rtol=rtol)

    def _repr_html_(self) -> str:
        f = self.fusion
        m = self.memory
        act, naive = m.get("activation_bytes"), m.get("naive_activation_bytes")
        mem = (f"activation memory {act / 2**20:.2f} MiB with reuse vs {naive / 2**20:.2f} MiB naive"
               if act and naive else "")
        return (f"<div><b>{self.flavor} {self.version}</b> engine for <b>{getattr(self.model, 'name', '')}</b>: "
                f"{f.onnx_nodes} ONNX nodes → {f.network_layers} network layers → {f.engine_layers} engine layers "
                f"({'cache hit' if self.cache_hit else f'built in {self.build_seconds:.2f} s'}); {mem}"
                f"{f.patterns.head(15).to_html(index=False)}</div>")


def _target(config: BuildConfig) -> str:
    if config.compute_capabilities:
        return "cc:" + ",".join(config.compute_capabilities)
    gpus = detect_gpus()
    if gpus:
        g = gpus[0]
        return f"gpu:{g.name}:{g.compute_capability[0]}.{g.compute_capability[1]}"
    return "no-gpu"


class _ProgressMonitor:
    """Adapts TensorRT's IProgressMonitor to a callback, and cancels the build when ``cancel`` is set."""

    @staticmethod
    def create(module, on_progress: ProgressCallback | None, cancel: threading.Event | None):
        if not hasattr(module, "IProgressMonitor") or (on_progress is None and cancel is None):
            return None

        class Monitor(module.IProgressMonitor):
            """Reports the top-level phase only, so the fraction grows monotonically."""

            def __init__(self):
                module.IProgressMonitor.__init__(self)
                self.top: tuple[str, int] | None = None

            def phase_start(self, phase_name, parent_phase, num_steps):
                if parent_phase is None:
                    self.top = (phase_name, max(int(num_steps), 1))
                elif on_progress:
                    _safe(on_progress, f"building: {phase_name}", None)

            def step_complete(self, phase_name, step):
                if on_progress and self.top and phase_name == self.top[0]:
                    _safe(on_progress, f"building: {phase_name}", 0.2 + 0.7 * (step + 1) / self.top[1])
                return not (cancel is not None and cancel.is_set())

            def phase_finish(self, phase_name):
                pass

        return Monitor()


def _safe(callback, *args):
    try:
        callback(*args)
    except Exception:  # a broken progress bar must not break the build called from C++
        pass


def build_engine(model, config: BuildConfig | None = None, *, cache: EngineCache | bool | None = True,
                 on_progress: ProgressCallback | None = None, on_log: LogCallback | None = None,
                 cancel: threading.Event | None = None) -> BuildResult:
    """Build (or fetch from the cache) a TensorRT engine for ``model`` (any ``load_model`` source).

    ``on_progress(stage, fraction)`` and ``on_log(severity, message)`` let callers show progress and the log;
    setting ``cancel`` stops the build. Nothing is cached unless the build completes.
    """
    from ..model import load_model

    model = load_model(model)
    config = config or BuildConfig()
    profiles = config.profiles(model)
    module = trt()
    flavor, version = select_flavor(), module.__version__
    if config.compute_capabilities and flavor != "tensorrt_rtx":
        raise ConfigError(f"compute_capabilities targets are a TensorRT-RTX feature; {flavor} builds for the GPU "
                          "it runs on")
    store = EngineCache() if cache is True else (cache or None)
    key = EngineCache.make_key(model.fingerprint, config.key(model), flavor, version, _target(config)) \
        if store is not None else ""
    report = on_progress or (lambda stage, fraction: None)

    status = "miss"
    if store is not None:
        lookup = store.get(key)
        status = lookup.status
        if lookup.status == "hit":
            report("cache hit", 1.0)

            def load_verified(result: BuildResult) -> bytes:
                engine = store.read_engine(key, lookup.meta)
                if engine is None:  # damaged on disk since it was written: rebuild it
                    rebuilt = build_engine(model, config, cache=store, on_progress=on_progress, on_log=on_log,
                                           cancel=cancel)
                    result.engine_path, result.cache_hit, result.cache_status = rebuilt.engine_path, False, "corrupt"
                    engine = rebuilt.engine_bytes
                return engine

            return _result_from_meta(model, config, store.path(key), lookup.meta, profiles, cache_hit=True,
                                     load_engine=load_verified)

    if not logger_captures():
        raise EngineBuildError("TensorRT's logger was created before the workbench loaded, so the engine-layer "
                               "report cannot be captured; import workbench before using Polygraphy directly")
    from polygraphy.backend.trt import CreateConfig, EngineBytesFromNetwork, Profile
    from polygraphy.logger import G_LOGGER

    started = time.perf_counter()
    report("parsing", 0.05)
    with capture_log(on_log) as captured, G_LOGGER.verbosity(G_LOGGER.ERROR):
        builder, network, parser = parse_network(model)
        net_df = network_layers(network)
        profile = Profile()
        for name, (lo, opt, hi) in profiles.items():
            profile.add(name, lo, opt, hi)
        kwargs = dict(profiles=[profile], profiling_verbosity=module.ProfilingVerbosity.DETAILED)
        if config.optimization_level is not None:
            kwargs["builder_optimization_level"] = int(config.optimization_level)
        if config.max_aux_streams is not None:
            kwargs["max_aux_streams"] = int(config.max_aux_streams)
        if config.memory_pool_limits:
            kwargs["memory_pool_limits"] = {getattr(module.MemoryPoolType, _POOLS[k]): int(v)
                                            for k, v in config.memory_pool_limits.items()}
        if config.timing_cache and Path(config.timing_cache).is_file():
            kwargs["load_timing_cache"] = str(config.timing_cache)
        monitor = _ProgressMonitor.create(module, on_progress, cancel)
        if monitor is not None:
            kwargs["progress_monitor"] = monitor
        if config.compute_capabilities:
            from polygraphy.backend.tensorrt_rtx import CreateConfigRTX

            caps = [tuple(int(x) for x in cc.split(".")) for cc in config.compute_capabilities]
            create_config = CreateConfigRTX(compute_capabilities=caps, **kwargs)
        else:
            create_config = CreateConfig(**kwargs)
        report("building", 0.2)
        try:
            engine = EngineBytesFromNetwork((builder, network, parser), config=create_config,
                                            save_timing_cache=config.timing_cache)()
        except Exception as exc:
            if cancel is not None and cancel.is_set():
                raise EngineBuildError(f"{model.label}: build cancelled") from None
            from .diagnose import build_failure

            errors = [m for s, m in captured.messages if s in ("ERROR", "INTERNAL_ERROR")]
            raise build_failure(model, "; ".join(errors[-3:]) or str(exc), profiles, list(config.shapes)) from None
    build_seconds = time.perf_counter() - started
    report("inspecting", 0.95)

    messages = [m for _, m in captured.messages]
    report_text = next((m for m in reversed(messages) if m.startswith("Layers:")), "")
    raw_layers = parse_layer_report(report_text)
    totals, per_layer = memory_from_log(messages)
    naive_shapes = {name: hi for name, (lo, opt, hi) in profiles.items()}
    totals["naive_activation_bytes"] = naive_activation_bytes(model, naive_shapes)
    totals["naive_at_shapes"] = {k: list(v) for k, v in naive_shapes.items()}
    kept_log = "\n".join(f"[{s[0]}] {m}" for s, m in captured.messages
                         if s != "VERBOSE" or m.startswith(_KEPT_VERBOSE))
    meta = {
        "flavor": flavor, "version": version, "model": model.name, "model_fingerprint": model.fingerprint,
        "config": config.to_dict(), "build_seconds": build_seconds, "raw_layers": raw_layers,
        "network_layers": net_df.to_dict(orient="records"), "memory": totals,
        "memory_per_layer": per_layer.to_dict(orient="records"), "log": kept_log,
    }
    folder = store.put(key, engine, meta) if store is not None else None
    report("done", 1.0)
    # TensorRT's IHostMemory is kept as it is and copied to bytes only if asked for (a 100 MB copy otherwise).
    result = _result_from_meta(model, config, folder, meta, profiles, cache_hit=False,
                               load_engine=lambda _: bytes(engine))
    result.cache_status = status
    return result


def _result_from_meta(model, config, folder: Path | None, meta: dict, profiles, *, cache_hit: bool,
                      engine: bytes | None = None, load_engine=None) -> BuildResult:
    return BuildResult(
        model=model, config=config, flavor=meta["flavor"], version=meta["version"],
        engine_path=folder / ENGINE_FILE if folder is not None else None,
        layers=layers_frame(meta["raw_layers"], source="builder-log"),
        network=pd.DataFrame(meta["network_layers"]),
        memory=meta["memory"], memory_per_layer=pd.DataFrame(meta["memory_per_layer"]),
        log=meta["log"], cache_hit=cache_hit, cache_status="hit" if cache_hit else "miss",
        build_seconds=float(meta["build_seconds"]), profiles=profiles, _engine=engine, _load_engine=load_engine)


def check_engine_file(path) -> bytes:
    """Read a file given as a serialized engine, refusing things that are plainly not one."""
    path = Path(path)
    if not path.is_file():
        raise EngineFileError(f"{path}: no such engine file")
    data = path.read_bytes()
    # Serialized plans start with a 4-byte tag ending in "trt" ("vtrt" seen from TensorRT-RTX 1.7; TensorRT
    # plans carry such a tag too); without a GPU that is all that can be checked, since deserializing needs one.
    if len(data) < 64 or data[1:4] != b"trt":
        raise EngineFileError(f"{path}: not a serialized TensorRT engine (no TensorRT plan header)")
    if not tensorrt_environment().can_run_engines:
        return data
    module = trt()
    from polygraphy.backend.trt.util import get_trt_logger

    runtime = module.Runtime(get_trt_logger())
    if runtime.deserialize_cuda_engine(data) is None:
        raise EngineFileError(f"{path}: TensorRT could not deserialize it (not an engine, or built by another "
                              f"TensorRT version or for another GPU)")
    return data
