"""Runners: small objects that turn a model or engine into ready-to-call inference workers.

A runner describes itself (backend, version, device, settings), makes inputs for a batch size, and creates ``n``
independent workers (ONNX Runtime sessions, TensorRT execution contexts on their own CUDA streams, or a PyTorch
module) whose ``infer()`` takes no arguments: the inputs are bound beforehand, so the timed loop measures inference
and nothing else. Creating workers is never timed.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, TYPE_CHECKING

import numpy as np

from ..budget import check_threads
from ..errors import BenchmarkError, ConfigError, EngineFileError, GpuUnavailableError, WorkbenchError
from ..model import batch_shapes, check_feeds, generate_feeds, load_model
from ..model.feeds import random_array

if TYPE_CHECKING:
    import onnxruntime as ort
    import torch
    from ..engines import BuildConfig, BuildResult
    from ..files import PathArg
    from ..model.sources import ModelSource
    from ..model.tensors import Shapes
    import ctypes


@dataclass
class Worker:
    """One independent inference instance. ``infer`` runs one inference on the bound inputs, synchronously."""

    infer: Callable[[], object]
    close: Callable[[], None] = lambda: None
    # For GPU runners: per-iteration device timings (ms) keyed by phase, read after the timed loop.
    device_timings: Callable[[], dict[str, np.ndarray]] | None = None


class Runner(ABC):
    """Base of the runners: a label, a description, inputs for a batch size, and workers."""

    backend = "?"

    @abstractmethod
    def describe(self) -> dict:
        """backend, backend_version, device, model and the runner's settings."""

    @abstractmethod
    def make_feeds(self, batch: int = 1, shapes: Shapes | None = None) -> dict[str, np.ndarray]:
        """Inputs at ``batch`` from the model's (or engine's) I/O spec."""

    @abstractmethod
    def workers(self, count: int, feeds: dict) -> list[Worker]:
        """``count`` independent workers with ``feeds`` bound."""

    @property
    def label(self) -> str:
        d = self.describe()
        extras = [
            f"{k}={v}"
            for k, v in d.items()
            if k
            not in (
                "backend",
                "backend_version",
                "device",
                "model",
                "model_fingerprint",
                "precision",
                "calibrator",
                "source_model",
            )
            and v not in (None, "")
        ]
        return " ".join([d["backend"], *extras])


# --- ONNX Runtime ----------------------------------------------------------------------------------------------
class OnnxRuntimeRunner(Runner):
    """ONNX Runtime sessions (CPU by default; CUDA when ``providers`` asks for it and it is present).

    ``optimization_level``: disable, basic, extended or all (ONNX Runtime's graph optimizations: the fusion lesson on
    the CPU). ``threads``: intra-op threads per session (None: ONNX Runtime's default, one per physical core).
    """

    backend = "onnxruntime"

    def __init__(
        self,
        model: ModelSource,
        *,
        optimization_level: str = "all",
        threads: int | None = None,
        providers: list[str] | None = None,
        variant: str = "",
    ):
        from ..engines.onnxruntime_graph import ort_optimization_level

        self.model = load_model(model)
        ort_optimization_level(optimization_level)  # validate early: a bad level is a ConfigError before anything runs
        if threads is not None:
            check_threads(threads)  # before ONNX Runtime spawns them
        self.optimization_level = optimization_level
        self.threads = threads
        self.providers = list(providers or ["CPUExecutionProvider"])
        self.variant = variant
        import onnxruntime as ort

        missing = [p for p in self.providers if p not in ort.get_available_providers()]
        if missing:
            raise ConfigError(
                f"ONNX Runtime provider {missing[0]} is not available here "
                f"(available: {', '.join(ort.get_available_providers())})"
            )

    def describe(self) -> dict:
        import onnxruntime as ort

        device = "cuda" if self.providers[0].startswith("CUDA") else "cpu"
        return {
            "backend": self.backend,
            "backend_version": ort.__version__,
            "device": device,
            "model": self.model.name,
            "model_fingerprint": self.model.fingerprint,
            "source_model": self.model.source_model,
            "variant": self.variant,
            "precision": self.model.precision or "fp32",
            "calibrator": self.model.calibrator,
            "optimization_level": self.optimization_level,
            "threads": self.threads,
        }

    def make_feeds(self, batch: int = 1, shapes: Shapes | None = None) -> dict[str, np.ndarray]:
        return generate_feeds(self.model, batch_shapes(self.model, batch, shapes))

    def session(self) -> ort.InferenceSession:
        import onnxruntime as ort

        from ..engines.onnxruntime_graph import ort_optimization_level

        options = ort.SessionOptions()
        options.graph_optimization_level = ort_optimization_level(self.optimization_level)
        options.log_severity_level = 4  # failures are raised, and reported once in the workbench's words
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        try:
            return ort.InferenceSession(self.model.to_bytes(), options, providers=self.providers)
        except Exception as exc:
            raise BenchmarkError(f"ONNX Runtime cannot load {self.model.label}: {exc}") from None

    def workers(self, count: int, feeds: dict) -> list[Worker]:
        feeds = check_feeds(self.model, feeds)
        out = []
        for _ in range(count):
            session = self.session()
            # session.run exactly as a bare loop would call it: no wrapper inside the timed call.
            out.append(Worker(functools.partial(session.run, None, feeds)))
        return out


# --- PyTorch (the framework baseline) -----------------------------------------------------------------------------
class TorchRunner(Runner):
    """A ``torch.nn.Module`` timed as the framework runs it: eager, or ``torch.compile``-d when ``compile=True``.

    Inputs are the same random feeds as the ONNX model's (by input order), so the numbers compare like for like.
    ``threads``: PyTorch's intra-op threads while this runner infers (None: PyTorch's default, one per core). Give
    it the same count as the ONNX Runtime contender: on a busy machine PyTorch's default threads contend, and the
    comparison then measures the contention, not the framework.
    """

    backend = "pytorch"

    def __init__(
        self,
        module: torch.nn.Module,
        model: ModelSource | None = None,
        *,
        compile: bool = False,
        device: str = "cpu",
        variant: str = "",
        threads: int | None = None,
    ):
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
            raise ConfigError(f"threads must be a positive integer, got {threads!r}")
        self.threads = threads
        if model is None and getattr(module, "source_module", None) is not None:
            module, model = module.source_module, module  # a Model from from_torch()
        try:
            import torch
        except ImportError:
            raise BenchmarkError(
                "PyTorch is not installed: the framework baseline needs it (pip install torch)"
            ) from None
        if not isinstance(module, torch.nn.Module):
            raise ConfigError(f"the framework baseline needs a torch.nn.Module, got {type(module).__name__}")
        if device != "cpu" and not torch.cuda.is_available():
            raise GpuUnavailableError(f"PyTorch device '{device}' is not available here (no CUDA GPU)")
        self.module = module.eval().to(device)
        self.model = load_model(model) if model is not None else None
        if self.model is None:
            raise ConfigError(
                "TorchRunner needs the ONNX model exported from the module (for its input spec); "
                "use workbench.model.from_torch(module, example_inputs)"
            )
        self.compile = compile
        self.device = device
        self.variant = variant or ("torch.compile" if compile else "eager")

    def describe(self) -> dict:
        import torch

        return {
            "backend": self.backend,
            "backend_version": torch.__version__,
            "device": self.device,
            "model": self.model.name,
            "model_fingerprint": self.model.fingerprint,
            "source_model": self.model.source_model,
            "variant": self.variant,
            "precision": "fp32",
            "threads": self.threads,
        }

    def make_feeds(self, batch: int = 1, shapes: Shapes | None = None) -> dict[str, np.ndarray]:
        return generate_feeds(self.model, batch_shapes(self.model, batch, shapes))

    def workers(self, count: int, feeds: dict) -> list[Worker]:
        import torch

        feeds = check_feeds(self.model, feeds)
        args = tuple(torch.from_numpy(np.ascontiguousarray(feeds[s.name])).to(self.device) for s in self.model.inputs)
        forward = self.module
        if self.compile:
            try:
                forward = torch.compile(self.module)
            except Exception as exc:  # torch.compile needs a C compiler and a supported platform
                raise BenchmarkError(f"torch.compile failed: {exc}") from None
        sync = torch.cuda.synchronize if self.device.startswith("cuda") else None
        threads = self.threads
        if threads is not None:
            torch.set_num_threads(threads)

        def infer():
            if threads is not None and torch.get_num_threads() != threads:  # torch's setting is process-wide
                torch.set_num_threads(threads)
            with torch.inference_mode():
                out = forward(*args)
            if sync is not None:
                sync()
            return out

        return [Worker(infer) for _ in range(count)]


# --- TensorRT engines (GPU) ----------------------------------------------------------------------------------------
@dataclass
class TensorRTOptions:
    """trtexec's run options. TensorRT 11's trtexec turns CUDA graphs and spin-wait on by default."""

    cuda_graph: bool = False
    spin_wait: bool = False
    include_transfers: bool = True  # False: inputs stay on the device (trtexec --noDataTransfers)


class TensorRTRunner(Runner):
    """A TensorRT engine run with ``execute_async_v3`` on its own CUDA stream per worker (execution context).

    Each iteration records CUDA events around host-to-device copies, compute and device-to-host copies, so the
    latency splits into trtexec's H2D / GPU compute / D2H. Needs a GPU this TensorRT flavour supports.
    """

    backend = "tensorrt"

    def __init__(
        self, engine: BuildResult | PathArg | bytes, *, options: TensorRTOptions | None = None, variant: str = ""
    ):
        from ..engines import BuildResult, check_engine_file, tensorrt_environment
        from ..engines.flavor import trt

        self.options = options or TensorRTOptions()
        self.variant = variant
        self.build = engine if isinstance(engine, BuildResult) else None
        if self.build is not None:
            data = None
        elif isinstance(engine, (bytes, bytearray)):
            data = bytes(engine)
        else:
            data = check_engine_file(engine)  # type: ignore[arg-type]
        env = tensorrt_environment()
        self.environment = env
        if not env.can_run_engines:
            raise GpuUnavailableError(f"TensorRT engines cannot be timed here: {env.reason}")
        self._trt = trt()
        self._data = data if data is not None else self.build.engine_bytes
        runtime = self._trt.Runtime(self._logger())
        self.engine = runtime.deserialize_cuda_engine(self._data)
        if self.engine is None:
            raise EngineFileError(
                f"the engine cannot be loaded by {env.flavor} {env.version} on {env.gpu.name}: "
                "it was built by another TensorRT version or for another GPU; rebuild it here"
            )
        self._runtime = runtime
        self.inputs = [n for n in self._names() if self.engine.get_tensor_mode(n) == self._trt.TensorIOMode.INPUT]
        self.outputs = [n for n in self._names() if n not in self.inputs]

    def _logger(self):
        import polygraphy.backend.trt.util as polygraphy_trt_util

        from ..engines.trt_logging import install_logger

        install_logger(self._trt)
        return polygraphy_trt_util.TRT_LOGGER

    def _names(self):
        return [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]

    def describe(self) -> dict:
        env = self.environment
        return {
            "backend": self.backend,
            "backend_version": f"{env.flavor} {env.version}",
            "device": env.gpu.name,
            "model": getattr(getattr(self.build, "model", None), "name", ""),
            "model_fingerprint": getattr(getattr(self.build, "model", None), "fingerprint", None),
            "source_model": getattr(getattr(self.build, "model", None), "source_model", None),
            "variant": self.variant,
            "precision": getattr(getattr(self.build, "model", None), "precision", None),
            "calibrator": getattr(getattr(self.build, "model", None), "calibrator", None),
            "cuda_graph": self.options.cuda_graph,
            "spin_wait": self.options.spin_wait,
        }

    def profile_range(self, name: str) -> list[tuple[int, ...]]:
        return [tuple(d) for d in self.engine.get_tensor_profile_shape(name, 0)]

    def make_feeds(self, batch: int = 1, shapes: Shapes | None = None) -> dict[str, np.ndarray]:
        profiles = {name: self.profile_range(name) for name in self.inputs}
        dtypes = {name: self._trt.nptype(self.engine.get_tensor_dtype(name)) for name in self.inputs}
        return profile_feeds(profiles, dtypes, batch)

    def workers(self, count: int, feeds: dict) -> list[Worker]:
        for name in self.inputs:
            if name not in feeds:
                raise ConfigError(f"no data for engine input '{name}'")
            lo, _, hi = self.profile_range(name)
            from ..engines.config import check_in_profile

            check_in_profile(name, feeds[name].shape, lo, hi)
        return [_TensorRTWorker(self, feeds).worker() for _ in range(count)]


def profile_feeds(profiles: dict, dtypes: dict, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs at the profile's optimum shapes with the batch dimension set to ``batch``.

    ``profiles``: input name -> (min, opt, max) shapes. A batch outside [min, max] is a ConfigError naming the
    input and the profile, raised before anything runs.
    """
    from ..engines.config import check_in_profile

    rng = np.random.default_rng(seed)
    feeds = {}
    for name, (lo, opt, hi) in profiles.items():
        dims = list(opt)
        if dims:
            dims[0] = batch
        check_in_profile(name, dims, lo, hi, what=f"batch size {batch}")
        feeds[name] = random_array(rng, dtypes[name], dims)
    return feeds


class _CudaEvents:
    """CUDA events through the CUDA runtime that Polygraphy already loads (no extra CUDA Python package)."""

    BLOCKING_SYNC = 1  # cudaEventBlockingSync: the host sleeps instead of spinning while it waits

    def __init__(self, blocking: bool):
        import ctypes

        from polygraphy import cuda

        self.ctypes = ctypes
        self.lib = cuda.wrapper().handle
        self.check = cuda.wrapper().check
        self.flags = self.BLOCKING_SYNC if blocking else 0

    def create(self):
        ev = self.ctypes.c_void_p()
        self.check(self.lib.cudaEventCreateWithFlags(self.ctypes.byref(ev), self.flags))
        return ev

    def record(self, ev, stream_ptr):
        self.check(self.lib.cudaEventRecord(ev, self.ctypes.c_void_p(stream_ptr)))

    def elapsed_ms(self, start, end) -> float:
        ms = self.ctypes.c_float()
        self.check(self.lib.cudaEventElapsedTime(self.ctypes.byref(ms), start, end))
        return ms.value

    def wait(self, ev, spin: bool):
        if spin:
            while self.lib.cudaEventQuery(ev) != 0:  # cudaErrorNotReady until done
                pass
        else:
            self.check(self.lib.cudaEventSynchronize(ev))

    def destroy(self, ev):
        self.lib.cudaEventDestroy(ev)


def capture_cuda_graph(events: _CudaEvents, stream_ptr: int, enqueue: Callable[[], object]) -> ctypes.c_void_p:
    """Record what ``enqueue`` puts on the stream into an instantiated CUDA graph (cudaGraphExec_t)."""
    ctypes, lib = events.ctypes, events.lib
    stream = ctypes.c_void_p(stream_ptr)
    graph, graph_exec = ctypes.c_void_p(), ctypes.c_void_p()
    events.check(lib.cudaStreamBeginCapture(stream, 0))  # cudaStreamCaptureModeGlobal
    enqueue()
    events.check(lib.cudaStreamEndCapture(stream, ctypes.byref(graph)))
    events.check(lib.cudaGraphInstantiate(ctypes.byref(graph_exec), graph, ctypes.c_ulonglong(0)))
    return graph_exec


def launch_cuda_graph(events: _CudaEvents, graph_exec: ctypes.c_void_p, stream_ptr: int) -> None:
    events.check(events.lib.cudaGraphLaunch(graph_exec, events.ctypes.c_void_p(stream_ptr)))


class _TensorRTWorker:
    def __init__(self, runner: TensorRTRunner, feeds: dict):
        from polygraphy import cuda

        self.runner = runner
        self.options = runner.options
        self.context = runner.engine.create_execution_context()
        if self.context is None:
            raise BenchmarkError("TensorRT could not create an execution context (out of GPU memory?)")
        self.stream = cuda.Stream()
        self.events = _CudaEvents(blocking=not self.options.spin_wait)
        self.marks = [self.events.create() for _ in range(4)]
        self.host_in = {n: np.ascontiguousarray(feeds[n]) for n in runner.inputs}
        self.device = {}
        for name, array in self.host_in.items():
            self.context.set_input_shape(name, array.shape)
            self.device[name] = cuda.DeviceArray(shape=array.shape, dtype=array.dtype)
            self.device[name].copy_from(array, stream=self.stream)
        self.host_out = {}
        for name in runner.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = runner._trt.nptype(runner.engine.get_tensor_dtype(name))
            self.host_out[name] = np.empty(shape, dtype=dtype)
            self.device[name] = cuda.DeviceArray(shape=shape, dtype=dtype)
        for name, array in self.device.items():
            self.context.set_tensor_address(name, array.ptr)
        self.stream.synchronize()
        self.graph_exec = self._capture_graph() if self.options.cuda_graph else None
        self.h2d, self.compute, self.d2h = [], [], []

    def _capture_graph(self):
        self.context.execute_async_v3(self.stream.ptr)  # one run before capture, as trtexec does
        self.stream.synchronize()
        return capture_cuda_graph(self.events, self.stream.ptr, lambda: self.context.execute_async_v3(self.stream.ptr))

    def infer(self):
        ev, stream = self.events, self.stream.ptr
        start, after_h2d, after_compute, end = self.marks
        ev.record(start, stream)
        if self.options.include_transfers:
            for name, array in self.host_in.items():
                self.device[name].copy_from(array, stream=self.stream)
        ev.record(after_h2d, stream)
        if self.graph_exec is not None:
            launch_cuda_graph(ev, self.graph_exec, stream)
        elif not self.context.execute_async_v3(stream):
            raise BenchmarkError("TensorRT execute_async_v3 failed (see the TensorRT log)")
        ev.record(after_compute, stream)
        if self.options.include_transfers:
            for name, array in self.host_out.items():
                self.device[name].copy_to(array, stream=self.stream)
        ev.record(end, stream)
        ev.wait(end, spin=self.options.spin_wait)
        self.h2d.append(ev.elapsed_ms(start, after_h2d))
        self.compute.append(ev.elapsed_ms(after_h2d, after_compute))
        self.d2h.append(ev.elapsed_ms(after_compute, end))

    def timings(self) -> dict[str, np.ndarray]:
        return {"h2d_ms": np.array(self.h2d), "compute_ms": np.array(self.compute), "d2h_ms": np.array(self.d2h)}

    def close(self):
        for mark in self.marks:
            self.events.destroy(mark)
        for array in self.device.values():
            array.free()
        self.stream.free()

    def worker(self) -> Worker:
        return Worker(self.infer, self.close, self.timings)


def backend_for(target: object, backend: str | None = None) -> str:
    """The backend that times ``target``: ``backend`` if given, else tensorrt for a BuildResult or an engine file,
    pytorch for a torch module, onnxruntime otherwise (without building or loading anything)."""
    from ..engines import BuildResult, is_engine_file

    if isinstance(target, Runner):
        return target.backend
    if backend is not None:
        return backend
    if isinstance(target, BuildResult) or is_engine_file(target):
        return "tensorrt"
    if type(target).__module__.startswith("torch"):
        return "pytorch"
    return "onnxruntime"


def runner_for(
    target: Any, *, backend: str | None = None, build_config: BuildConfig | None = None, **options: Any
) -> Runner:
    """A runner for a model (ONNX Runtime), a BuildResult or engine file (TensorRT), or a torch module (PyTorch).

    ``build_config``: how to build the engine when a model is timed with TensorRT (a sweep's Ray task builds it
    where it runs)."""
    from ..engines import BuildResult, is_engine_file

    if isinstance(target, Runner):
        return target
    backend = backend_for(target, backend)
    if backend == "onnxruntime":
        if isinstance(target, BuildResult):
            target = target.model
        return OnnxRuntimeRunner(target, **options)
    if backend == "tensorrt":
        if not isinstance(target, (BuildResult, bytes, bytearray)) and not is_engine_file(target):
            from ..engines import build_engine, tensorrt_environment

            env = tensorrt_environment()
            if not env.can_run_engines:  # say so before spending a build on it
                raise GpuUnavailableError(f"TensorRT engines cannot be timed here: {env.reason}")
            target = build_engine(target, build_config)
        return TensorRTRunner(target, **options)
    if backend == "pytorch":
        return TorchRunner(target, **options)
    raise ConfigError(f"backend '{backend}' is unknown (backends: onnxruntime, tensorrt, pytorch)")


__all__ = [
    "Worker",
    "Runner",
    "OnnxRuntimeRunner",
    "TorchRunner",
    "TensorRTRunner",
    "TensorRTOptions",
    "backend_for",
    "runner_for",
    "WorkbenchError",
]
