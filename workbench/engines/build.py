"""Build a TensorRT engine from a model and report what TensorRT did: layers after fusion, memory, streams.

The pipeline is made of small loaders in the manner of Polygraphy's (each a callable object, testable alone, and
composable with Polygraphy's own loaders): ``NetworkFromOnnx`` -> ``BuilderConfig`` -> ``EngineBytes`` (the build,
with its log captured) -> ``LayerReport`` (engine layers, memory, kept log) -> ``CachedEngine`` (look up or store).
``build_engine`` is the one-call API composed from them.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, TYPE_CHECKING

import pandas as pd
from polygraphy.backend.base import BaseLoader

from ..errors import ConfigError, EngineBuildError, EngineFileError, GpuUnavailableError
from ..progress import ProgressCallback, ProgressReporter
from .branch_switch import fold_for_build
from .cache import ENGINE_FILE, CacheLookup, EngineCache
from .config import BuildConfig, check_in_profile
from .flavor import detect_gpus, select_flavor, tensorrt_environment, trt
from .fp8 import check_fp8_buildable, uses_fp8
from .layers import FusionSummary, fusion_summary, layers_frame, parse_layer_report, stream_map
from .memory import describe_activation_memory, memory_from_log, naive_activation_bytes
from .network import network_layers, parse_network
from .trt_logging import LogCallback, capture_log, logger_captures

if TYPE_CHECKING:
    from ..files import PathArg
    from ..model.sources import ModelSource
    from ..model import Model

# What a file given as a serialized engine may be called (the CLI and the runners decide by it).
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
MEMORY_POOL_TYPES = {
    "workspace": "WORKSPACE",
    "tactic_shared_memory": "TACTIC_SHARED_MEMORY",
    "tactic_dram": "TACTIC_DRAM",
}
# Log lines worth keeping with a cached engine (the full VERBOSE log of a ResNet-50 is ~18,000 messages).
KEPT_VERBOSE = ("Layers:", "Layer: ", "Original: ", "After ", "[MS]")


def is_engine_file(path: object) -> bool:
    """Whether ``path`` names a serialized engine (by its suffix)."""
    return isinstance(path, (str, Path)) and str(path).lower().endswith(ENGINE_SUFFIXES)


@dataclass
class BuildResult:
    """A built engine and everything learned while building it. It never builds anything itself."""

    model: Model
    config: BuildConfig
    flavor: str
    version: str
    engine_path: Path | None  # in the engine cache; None when built with cache=None (bytes in memory)
    layers: pd.DataFrame  # engine layers after fusion (see layers.COLUMNS)
    network: pd.DataFrame  # network layers before fusion
    memory: dict  # activation/weights/scratch totals + naive_activation_bytes
    memory_per_layer: pd.DataFrame
    log: str
    cache_hit: bool
    cache_status: str  # "hit", "miss", or "corrupt" (a damaged entry was found and rebuilt)
    build_seconds: float
    profiles: dict = field(default_factory=dict)  # profile 0, input -> (min, opt, max)
    engine_size: int = 0
    named_profiles: dict = field(default_factory=dict)  # every profile by name: {"decode": {...}, "prefill": {...}}
    # A merged decoder's branch switches folded before the build (branch_switch): {"use_cache_branch": True}
    branch_fold: dict[str, bool] | None = None
    _engine: object = field(default=None, repr=False)  # bytes or TensorRT's IHostMemory
    _cache_entry: "CachedEngine | None" = field(default=None, repr=False)

    @property
    def engine_bytes(self) -> bytes:
        """The serialized engine. A cache hit reads (and verifies) the cached file on first use; a damaged file
        raises EngineCacheError (the entry is removed, ``build_engine`` again rebuilds it) — never a silent rebuild."""
        if self._engine is None:
            self._engine = self._cache_entry.read_engine()
        elif not isinstance(self._engine, bytes):
            # TensorRT's IHostMemory is kept as it is and copied to bytes only if asked for (a 100 MB copy).
            self._engine = bytes(self._engine)  # type: ignore[call-overload]  # IHostMemory has the buffer protocol
        return self._engine  # type: ignore[return-value]

    @property
    def fusion(self) -> FusionSummary:
        return fusion_summary(self.layers, self.model, network_layers=len(self.network))

    @property
    def streams(self) -> pd.DataFrame:
        return stream_map(self.layers)

    def save(self, path: PathArg) -> Path:
        from ..files import atomic_write_bytes

        return atomic_write_bytes(path, self.engine_bytes)

    def check_shapes(self, shapes: dict) -> None:
        """Raise ConfigError when ``shapes`` fall outside every optimization profile of the engine (one profile must
        hold them all); the message names the input and each profile's range for it."""
        for name in shapes:
            if name not in self.profiles:
                raise ConfigError(f"'{name}' is not an input of this engine (inputs: {', '.join(self.profiles)})")
        named = self.named_profiles or {"default": self.profiles}
        problems = []
        for profile_name, profile in named.items():
            outside = []
            for name, dims in shapes.items():
                try:
                    check_in_profile(name, dims, profile[name][0], profile[name][2])
                except ConfigError as exc:
                    outside.append(str(exc).removesuffix("; rebuild with a wider profile"))
            if not outside:
                return
            problems.append((profile_name, "; ".join(outside)))
        if len(problems) == 1:
            raise ConfigError(f"{problems[0][1]}; rebuild with a wider profile")
        raise ConfigError(
            "no optimization profile of the engine holds these shapes: "
            + " | ".join(f"{profile_name}: {text}" for profile_name, text in problems)
            + "; rebuild with a wider profile"
        )

    def to_dict(self) -> dict:
        fusion_facts = self.fusion.to_dict()
        return {
            "flavor": self.flavor,
            "version": self.version,
            "model": getattr(self.model, "name", ""),
            "engine": str(self.engine_path) if self.engine_path else None,
            "engine_bytes": self.engine_size,
            "cache_hit": self.cache_hit,
            "build_seconds": round(self.build_seconds, 3),
            "profiles": {
                k: {"min": list(v[0]), "opt": list(v[1]), "max": list(v[2])} for k, v in self.profiles.items()
            },
            "named_profiles": {
                p: {k: {"min": list(v[0]), "opt": list(v[1]), "max": list(v[2])} for k, v in profile.items()}
                for p, profile in self.named_profiles.items()
            },
            "onnx_nodes": fusion_facts["onnx_nodes"],
            "network_layers": self.network[["name", "type", "onnx_node"]].to_dict(orient="records"),
            "engine_layers": [
                {
                    "name": r.name,
                    "type": r.type,
                    "kind": r.kind,
                    "onnx_nodes": list(r.onnx_nodes),
                    "stream": int(r.stream),
                    "output_dtypes": list(r.output_dtypes),
                    "tactic": r.tactic,
                }
                for r in self.layers.itertuples(index=False)
            ],
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
            raise GpuUnavailableError(
                f"engine built ({self.engine_size:,} bytes), but it cannot run here: {env.reason}"
            )
        from .run import compare_with_onnxruntime

        return compare_with_onnxruntime(self, feeds, atol=atol, rtol=rtol)

    def _repr_html_(self) -> str:
        f = self.fusion
        memory = describe_activation_memory(self.memory)
        return (
            f"<div><b>{self.flavor} {self.version}</b> engine for <b>{getattr(self.model, 'name', '')}</b>: "
            f"{f.onnx_nodes} ONNX nodes → {f.network_layers} network layers → {f.engine_layers} engine layers "
            f"({'cache hit' if self.cache_hit else f'built in {self.build_seconds:.2f} s'})"
            + (f"<br>{html.escape(memory)}" if memory else "")
            + f"{f.patterns.head(15).to_html(index=False)}</div>"
        )


# --- the loaders ------------------------------------------------------------------------------------------------


def _resolve(value):
    """A loader's input may be a value or a loader that makes it (as in Polygraphy)."""
    return value() if callable(value) else value


class NetworkFromOnnx(BaseLoader):
    """Loader: ``(builder, network, parser)`` for a workbench Model through TensorRT's ONNX parser.

    Usable as the ``network`` of Polygraphy's ``EngineBytesFromNetwork``; a parse failure is a NetworkParseError
    naming the ONNX node and op.
    """

    def __init__(self, model: Model):
        self.model = model

    def call_impl(self) -> tuple:
        return parse_network(self.model)


class BuilderConfig(BaseLoader):
    """Loader: Polygraphy's ``CreateConfig`` (``CreateConfigRTX`` for compute-capability targets) for a
    BuildConfig and the optimization profiles it gives the model. The result is itself Polygraphy's
    ``config`` loader: ``(builder, network) -> IBuilderConfig``."""

    def __init__(
        self,
        config: BuildConfig,
        profiles: dict,
        *,
        progress_monitor: object | None = None,
        more_profiles: Sequence[dict] = (),
    ) -> None:
        self.config = config
        self.profiles = profiles
        self.more_profiles = list(more_profiles)  # profiles 1.. of the same engine (a decoder's prefill)
        self.progress_monitor = progress_monitor

    def call_impl(self) -> Callable:
        module, config = trt(), self.config  # first: selects the flavour Polygraphy's TensorRT loaders use
        from polygraphy.backend.trt import CreateConfig, Profile

        profiles = []
        for ranges in [self.profiles, *self.more_profiles]:
            profile = Profile()
            for name, (lo, opt, hi) in ranges.items():
                profile.add(name, lo, opt, hi)
            profiles.append(profile)
        kwargs = dict(profiles=profiles, profiling_verbosity=module.ProfilingVerbosity.DETAILED)
        if config.optimization_level is not None:
            kwargs["builder_optimization_level"] = int(config.optimization_level)
        if config.max_aux_streams is not None:
            kwargs["max_aux_streams"] = int(config.max_aux_streams)
        if config.memory_pool_limits:
            kwargs["memory_pool_limits"] = {
                getattr(module.MemoryPoolType, MEMORY_POOL_TYPES[k]): int(v)
                for k, v in config.memory_pool_limits.items()
            }
        if config.timing_cache and Path(config.timing_cache).is_file():
            kwargs["load_timing_cache"] = str(config.timing_cache)
        if self.progress_monitor is not None:
            kwargs["progress_monitor"] = self.progress_monitor
        if config.compute_capabilities:
            from polygraphy.backend.tensorrt_rtx import CreateConfigRTX

            caps = [tuple(int(x) for x in cc.split(".")) for cc in config.compute_capabilities]
            return CreateConfigRTX(compute_capabilities=caps, **kwargs)
        return CreateConfig(**kwargs)


@dataclass
class BuiltEngine:
    """What ``EngineBytes`` returns: the serialized engine, the build's own log, its network and duration."""

    engine: object  # TensorRT's IHostMemory (a buffer)
    messages: list[tuple[str, str]]  # (severity, text), this build's only
    network: pd.DataFrame  # network layers before fusion
    seconds: float


class EngineBytes(BaseLoader):
    """Loader: build the serialized engine from a network loader and a builder-config loader, capturing the log.

    Builds in one process run one at a time, and the log records only what this build's thread logs (TensorRT's
    logger is process-global; see trt_logging), so the log and layer report are this build's only, whatever other
    threads ask of TensorRT meanwhile; a build that waits reports "waiting for the build of X".
    ``on_progress(stage, fraction)``, ``on_log(severity, message)``; setting ``cancel`` stops the build.
    ``failure(message)``: the exception to raise when TensorRT cannot build (TensorRT's last errors in
    ``message``); by default an EngineBuildError naming ``label``.
    """

    def __init__(
        self,
        network: Callable,
        builder_config: Callable,
        *,
        label: str = "model",
        timing_cache: PathArg | None = None,
        on_progress: ProgressCallback | None = None,
        on_log: LogCallback | None = None,
        cancel: threading.Event | None = None,
        failure: Callable[[str], Exception] | None = None,
    ):
        self.network, self.builder_config = network, builder_config
        self.label, self.timing_cache = label, timing_cache
        self.failure = failure or (
            lambda message: EngineBuildError(f"{label}: TensorRT could not build the engine: {message}")
        )
        self.report = on_progress if isinstance(on_progress, ProgressReporter) else ProgressReporter(on_progress)
        self.on_log, self.cancel = on_log, cancel

    def call_impl(self) -> BuiltEngine:
        trt()  # first: selects the flavour for Polygraphy and installs the capturing logger
        from polygraphy.backend.trt import EngineBytesFromNetwork
        from polygraphy.logger import G_LOGGER

        if not logger_captures():
            raise EngineBuildError(
                "TensorRT's logger was created before the workbench loaded, so the engine-layer "
                "report cannot be captured; import workbench before using Polygraphy directly"
            )
        with (
            capture_log(
                self.label, self.on_log, on_wait=lambda text: self.report(text, None), cancel=self.cancel
            ) as captured,
            G_LOGGER.verbosity(G_LOGGER.CRITICAL + 1),
        ):
            # quiet: Polygraphy's "[!] Invalid Engine" adds nothing to the EngineBuildError raised below
            started = time.perf_counter()
            self.report("parsing", 0.05)
            builder, network, parser = _resolve(self.network)
            net_df = network_layers(network)
            create_config = _resolve(self.builder_config)
            self.report("building", 0.2)
            try:
                engine = EngineBytesFromNetwork(
                    (builder, network, parser), config=create_config, save_timing_cache=self.timing_cache
                )()
            except Exception as exc:
                if self.cancel is not None and self.cancel.is_set():
                    raise EngineBuildError(f"{self.label}: build cancelled") from None
                errors = [m for s, m in captured.messages if s in ("ERROR", "INTERNAL_ERROR")]
                raise self.failure("; ".join(errors[-3:]) or str(exc)) from None
            return BuiltEngine(engine, list(captured.messages), net_df, time.perf_counter() - started)


class LayerReport(BaseLoader):
    """Loader: what the build's log says — engine layers after fusion, memory (with the naive total at the
    profile's max shapes) and the log lines worth keeping — as the cache's metadata dict."""

    def __init__(self, built: Callable, model: Model, profiles: dict):
        self.built, self.model, self.profiles = built, model, profiles

    def call_impl(self) -> dict:
        built: BuiltEngine = _resolve(self.built)
        messages = [m for _, m in built.messages]
        report_text = next((m for m in reversed(messages) if m.startswith("Layers:")), "")
        totals, per_layer = memory_from_log(messages)
        naive_shapes = {name: hi for name, (lo, opt, hi) in self.profiles.items()}
        totals["naive_activation_bytes"] = naive_activation_bytes(self.model, naive_shapes)
        totals["naive_at_shapes"] = {k: list(v) for k, v in naive_shapes.items()}
        return {
            "build_seconds": built.seconds,
            "raw_layers": parse_layer_report(report_text),
            "network_layers": built.network.to_dict(orient="records"),
            "memory": totals,
            "memory_per_layer": per_layer.to_dict(orient="records"),
            "log": "\n".join(
                f"[{s[0]}] {m}" for s, m in built.messages if s != "VERBOSE" or m.startswith(KEPT_VERBOSE)
            ),
        }


@dataclass
class CachedBuild:
    """What ``CachedEngine`` returns: the engine (None on a hit: read from the cache on use) and its metadata."""

    engine: object | None
    meta: dict
    folder: Path | None
    status: str  # "hit", "miss" or "corrupt"


class CachedEngine(BaseLoader):
    """Loader: the cached build for ``key``, or ``build()`` run and stored under that key when there is none.

    ``build`` returns ``(engine, meta)``; nothing is stored unless it completes. ``cache=None`` builds every time.
    """

    def __init__(
        self,
        build: Callable[[], tuple[object, dict]],
        cache: EngineCache | None,
        key: str,
        *,
        on_progress: ProgressCallback | None = None,
    ):
        self.build, self.cache, self.key = build, cache, key
        self.report = on_progress if isinstance(on_progress, ProgressReporter) else ProgressReporter(on_progress)

    def lookup(self) -> CacheLookup:
        found = self.cache.get(self.key) if self.cache is not None else CacheLookup(None, None, "miss")
        self.meta = found.meta
        return found

    def read_engine(self) -> bytes:
        """The cached engine's bytes, verified (EngineCacheError when damaged; never rebuilt here)."""
        return self.cache.read_engine(self.key, self.meta or {})

    def call_impl(self) -> CachedBuild:
        found = self.lookup()
        if found.status == "hit":
            self.report("cache hit", 1.0)
            return CachedBuild(None, found.meta, found.folder, "hit")
        engine, meta = self.build()
        folder = self.cache.put(self.key, engine, meta) if self.cache is not None else None
        return CachedBuild(engine, meta, folder, found.status)


class _ProgressMonitor:
    """Adapts TensorRT's IProgressMonitor to a callback, and cancels the build when ``cancel`` is set."""

    @staticmethod
    def create(module, report: ProgressReporter, cancel: threading.Event | None):
        if not hasattr(module, "IProgressMonitor") or (report.callback is None and cancel is None):
            return None

        class Monitor(module.IProgressMonitor):
            """Reports the top-level phase only, so the fraction grows monotonically."""

            def __init__(self):
                module.IProgressMonitor.__init__(self)
                self.top: tuple[str, int] | None = None

            def phase_start(self, phase_name, parent_phase, num_steps):
                if parent_phase is None:
                    self.top = (phase_name, max(int(num_steps), 1))
                else:
                    report(f"building: {phase_name}", None)  # a failing callback is reported once, not raised

            def step_complete(self, phase_name, step):
                if self.top and phase_name == self.top[0]:
                    report(f"building: {phase_name}", 0.2 + 0.7 * (step + 1) / self.top[1])
                return not (cancel is not None and cancel.is_set())

            def phase_finish(self, phase_name):
                pass

        return Monitor()


def build_target(config: BuildConfig) -> str:
    """The hardware an engine is built for (part of its cache key)."""
    if config.compute_capabilities:
        return "cc:" + ",".join(config.compute_capabilities)
    gpus = detect_gpus()
    if gpus:
        g = gpus[0]
        return f"gpu:{g.name}:{g.compute_capability[0]}.{g.compute_capability[1]}"
    return "no-gpu"


def build_engine(
    model: ModelSource,
    config: BuildConfig | None = None,
    *,
    cache: EngineCache | bool | None = True,
    on_progress: ProgressCallback | None = None,
    on_log: LogCallback | None = None,
    cancel: threading.Event | None = None,
) -> BuildResult:
    """Build (or fetch from the cache) a TensorRT engine for ``model`` (any ``load_model`` source).

    ``on_progress(stage, fraction)`` and ``on_log(severity, message)`` let callers show progress and the log (a
    failing callback is reported once as a warning, never breaks the build); setting ``cancel`` stops the build.
    Nothing is cached unless the build completes. Composed from the loaders above.
    """
    from ..model import load_model

    model = load_model(model)
    config = config or BuildConfig()
    given = model  # the cache key is of the model as given: the fold below follows from it and the config
    # A merged decoder's If whose branches TensorRT-RTX cannot build is folded into the branch the shapes take.
    plan = fold_for_build(model, config.named_profiles(model))
    model, named_profiles = plan.model, plan.named_profiles
    profiles = next(iter(named_profiles.values()))
    module = trt()
    flavor, version = select_flavor(), module.__version__
    if uses_fp8(model.proto):  # one clear message instead of a parser or tactic error
        check_fp8_buildable(model.label)
    if config.compute_capabilities and flavor != "tensorrt_rtx":
        raise ConfigError(
            f"compute_capabilities targets are a TensorRT-RTX feature; {flavor} builds for the GPU it runs on"
        )
    store = EngineCache() if cache is True else (cache or None)
    key = (
        EngineCache.make_key(
            model.fingerprint, config.key(given) + plan.key_part(), flavor, version, build_target(config)
        )
        if store is not None
        else ""
    )
    report = ProgressReporter(on_progress)

    def failure(message: str) -> Exception:  # the EngineBuildError raise site of a failed build
        from .diagnose import build_failure  # names the ONNX nodes and the defaulted dimensions to set

        return build_failure(model, message, profiles, list(config.shapes))

    def build() -> tuple[object, dict]:
        monitor = _ProgressMonitor.create(module, report, cancel)
        built = EngineBytes(
            NetworkFromOnnx(model),
            BuilderConfig(config, profiles, progress_monitor=monitor, more_profiles=list(named_profiles.values())[1:]),
            label=model.label,
            timing_cache=config.timing_cache,
            on_progress=report,
            on_log=on_log,
            cancel=cancel,
            failure=failure,
        )()
        report("inspecting", 0.95)
        meta = {
            "flavor": flavor,
            "version": version,
            "model": model.name,
            "model_fingerprint": model.fingerprint,
            "config": config.to_dict(),
            **LayerReport(built, model, profiles)(),
        }
        return built.engine, meta

    cached = CachedEngine(build, store, key, on_progress=report)
    outcome = cached()
    if outcome.status != "hit":
        report("done", 1.0)
    meta = outcome.meta
    return BuildResult(
        model=model,
        config=config,
        flavor=meta["flavor"],
        version=meta["version"],
        engine_path=outcome.folder / ENGINE_FILE if outcome.folder is not None else None,
        layers=layers_frame(meta["raw_layers"], source="builder-log"),
        network=pd.DataFrame(meta["network_layers"]),
        memory=meta["memory"],
        memory_per_layer=pd.DataFrame(meta["memory_per_layer"]),
        log=meta["log"],
        cache_hit=outcome.status == "hit",
        cache_status=outcome.status,
        build_seconds=float(meta["build_seconds"]),
        profiles=profiles,
        named_profiles=named_profiles,
        branch_fold=plan.folded,
        engine_size=int(meta.get("engine_size") or memoryview(outcome.engine).nbytes),
        _engine=outcome.engine,
        _cache_entry=cached if outcome.status == "hit" else None,
    )


def check_engine_file(path: PathArg) -> bytes:
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
        raise EngineFileError(
            f"{path}: TensorRT could not deserialize it (not an engine, or built by another "
            f"TensorRT version or for another GPU)"
        )
    return data
