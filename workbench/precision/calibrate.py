"""Calibration: run the FP32 model on calibration data, histogram each activation, and pick each tensor's amax.

Entropy2 (like TensorRT's IInt8EntropyCalibrator2, MinMax and Percentile) calibrates the network *before* layer
fusion: every activation tensor of the ONNX graph gets a range. Entropy (IInt8EntropyCalibrator, v1) calibrates
*after* fusion: tensors that exist only inside a fused engine layer (e.g. a Conv's output before the BatchNorm and
ReLU fused into it) are not calibrated, so they get no range and are left unquantized (NVIDIA/TensorRT#747). The
fused groups come from an engine build (``BuildResult.layers.onnx_nodes``); without them Entropy falls back to
the before-fusion tensors and says so in ``notes``.
"""

from __future__ import annotations

import json
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence, TYPE_CHECKING

import numpy as np
import onnx
import pandas as pd

from ..errors import CalibrationCancelled, ConfigError, ModelError, WorkbenchError
from ..model import load_model
from ..progress import ProgressCallback, ProgressReporter
from ..files import atomic_write_text
from .calibrators import (
    AMAX_FUNCTIONS,
    CALIBRATOR_OF_TRT_ALGORITHM,
    DEFAULT_CALIBRATOR,
    QMAX,
    TRT_ALGORITHMS,
    auto_amax,
    check_calibrator,
)
from .data import CalibrationData
from .histogram import TensorHistogram

if TYPE_CHECKING:
    from ..files import PathArg
    from ..model import Model
    from ..model.sources import ModelSource
    import onnxruntime as ort
    from .data import DataSource
    from concurrent.futures import Executor, Future


def quantization_scale(amax: float | np.ndarray, precision: str) -> np.ndarray:
    """``amax / QMAX`` (elementwise), never zero, NaN or below float32's smallest normal number once written as
    float32: TensorRT rejects a zero scale and ONNX Runtime divides by it. An all-zero tensor (amax 0, or no usable
    amax) gets ``1 / QMAX``: any positive scale represents zero exactly."""
    amax = np.asarray(amax, dtype=np.float64)
    usable = np.isfinite(amax) & (amax > 0)
    scale = np.where(usable, amax, 1.0) / QMAX[precision]
    return np.maximum(scale, float(np.finfo(np.float32).tiny))


def activation_tensors(model: ModelSource) -> list[str]:
    """Float32 tensors computed by the graph (graph inputs included, weights and constants excluded), in order."""
    dtypes = model.tensor_dtypes
    weights = set(model.initializer_names) | {o for n in model.nodes if n.op_type == "Constant" for o in n.output}
    names = [i.name for i in model.inputs]
    for node in model.nodes:
        names += [o for o in node.output if o]
    return [n for n in dict.fromkeys(names) if dtypes.get(n) == "float32" and n not in weights]


def _readers(model: ModelSource) -> dict[str, list]:
    """Tensor -> the nodes that read it, in graph order."""
    readers: dict[str, list] = {}
    for node in model.nodes:
        for t in node.input:
            readers.setdefault(t, []).append(node)
    return readers


def folded_by_onnxruntime_preprocessing(model: ModelSource) -> set[str]:
    """Activations that ONNX Runtime's quantizer never reads: a Conv's output whose one reader is a
    BatchNormalization that ``quant_pre_process`` folds into it (ONNX Runtime's ConvBNFusion: the Conv's weights and
    the BatchNormalization's parameters are initializers, one output, not a graph output). The folded Conv writes the
    BatchNormalization's output, whose range is calibrated. Which tensors the pre-processing removes is decided here
    from the graph, before calibrating, so those are never calibrated (ResNet-style models: a quarter of the tensors).
    """
    weights = set(model.initializer_names)
    outputs = {o.name for o in model.outputs}
    readers = _readers(model)
    folded = set()
    for node in model.nodes:
        if node.op_type != "Conv" or len(node.output) != 1 or node.output[0] in outputs:
            continue
        found = readers.get(node.output[0], [])
        if len(found) != 1 or found[0].op_type != "BatchNormalization" or found[0].input[0] != node.output[0]:
            continue
        bn = found[0]
        if len([o for o in bn.output if o]) == 1 and all(t in weights for t in [*node.input[1:], *bn.input[1:5]] if t):
            folded.add(node.output[0])
    return folded


def derived_by_onnxruntime_quantizer(model: ModelSource) -> dict[str, str]:
    """{tensor: the Relu output whose range it takes}: float activations whose only reader is a Relu (not graph
    inputs or outputs), for the ONNX Runtime target. Its QDQ quantizer removes a Relu after a quantized op and gives
    that op's output the Relu output's range (``try_replacing_upstream_output``); where it keeps the Relu, the input
    quantized to [0, the Relu's max] reads the same after the Relu. So ``quantize`` derives these ranges instead of
    calibrating them (Conv-BatchNorm-Relu models: with the folded Conv outputs, half the tensors), and the
    calibration session keeps ONNX Runtime's Conv+Relu fusion."""
    boundary = {i.name for i in model.inputs} | {o.name for o in model.outputs}
    readers = _readers(model)
    relu_input = {
        t: found[0].output[0]
        for t, found in readers.items()
        if len(found) == 1 and found[0].op_type == "Relu" and t not in boundary and found[0].output
    }
    return {t: out for t, out in relu_input.items() if out not in relu_input}  # a Relu of a Relu: the last range


def tensors_after_fusion(model: ModelSource, fusion_groups: Iterable[Sequence[str]]) -> set[str]:
    """Tensors that still exist after fusion: graph inputs/outputs and tensors that leave their fused group."""
    group_of = {}
    for i, group in enumerate(fusion_groups):
        for node_name in group:
            group_of[node_name] = i
    producer, consumers = {}, {}
    for node in model.nodes:
        for o in node.output:
            producer[o] = node.name
        for t in node.input:
            consumers.setdefault(t, []).append(node.name)
    survivors = {i.name for i in model.inputs} | {o.name for o in model.outputs}
    for tensor, node_name in producer.items():
        group = group_of.get(node_name, ("solo", node_name))
        if any(group_of.get(c, ("solo", c)) != group for c in consumers.get(tensor, [])):
            survivors.add(tensor)
    return survivors


@dataclass
class CalibrationTable:
    """Per-tensor ranges chosen by a calibrator: ``frame`` has tensor, amax, scale, min, max, absmax, count."""

    frame: pd.DataFrame
    calibrator: str
    precision: str = "int8"
    percentile: float | None = None
    model_fingerprint: str | None = None
    notes: list[str] = field(default_factory=list)
    histograms: dict = field(default_factory=dict, repr=False)  # tensor -> TensorHistogram (for charts)

    @property
    def amax(self) -> dict[str, float]:
        return dict(zip(self.frame["tensor"], self.frame["amax"]))

    @property
    def scales(self) -> dict[str, float]:
        return dict(zip(self.frame["tensor"], self.frame["scale"]))

    def __len__(self) -> int:
        return len(self.frame)

    # --- files ----------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "calibrator": self.calibrator,
            "precision": self.precision,
            "percentile": self.percentile,
            "model_fingerprint": self.model_fingerprint,
            "notes": self.notes,
            "tensors": {
                r.tensor: {"amax": r.amax, "scale": r.scale, "min": r.min, "max": r.max}
                for r in self.frame.itertuples()
            },
        }

    def save_json(self, path: PathArg) -> Path:
        """Written atomically: an interrupted save leaves the previous file (or none), never half a table."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load_json(cls, path: PathArg) -> "CalibrationTable":
        try:
            d = json.loads(Path(path).read_text())
            rows = [{"tensor": k, **v} for k, v in d["tensors"].items()]
            frame = pd.DataFrame(rows, columns=["tensor", "amax", "scale", "min", "max"])
            return cls(
                frame,
                d["calibrator"],
                d.get("precision", "int8"),
                d.get("percentile"),
                d.get("model_fingerprint"),
                d.get("notes", []),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is not a workbench calibration JSON file: {exc}") from None

    def save_tensorrt_cache(self, path: PathArg, tensorrt_version: str | None = None) -> Path:
        """TensorRT's calibration-cache text: ``TRT-<version>-<Algorithm>``, then ``tensor: <scale as big-endian
        float32 hex>`` per tensor, for TensorRT 10's (deprecated) calibrators to read back.

        ``tensorrt_version``: the TensorRT that will read the cache; by default the installed ``tensorrt``
        (TensorRT-RTX has no calibrators). Written atomically."""
        if self.precision != "int8":
            raise ConfigError("TensorRT calibration caches hold INT8 scales only")
        if self.calibrator not in TRT_ALGORITHMS:
            raise ConfigError(
                f"'{self.calibrator}' is not a TensorRT calibrator, so its scales cannot be written as a "
                f"TensorRT calibration cache (TensorRT's: {', '.join(TRT_ALGORITHMS)}); write Q/DQ "
                "into the model with quantize() instead"
            )
        version = tensorrt_version_for_cache(tensorrt_version)
        lines = [f"TRT-{_version_code(version)}-{TRT_ALGORITHMS[self.calibrator]}"]
        lines += [f"{r.tensor}: {struct.pack('>f', r.scale).hex()}" for r in self.frame.itertuples()]
        return atomic_write_text(path, "\n".join(lines) + "\n")

    @classmethod
    def load_tensorrt_cache(cls, path: PathArg) -> "CalibrationTable":
        try:
            text = Path(path).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} cannot be read as a TensorRT calibration cache: {exc}") from None
        if not text or not text[0].startswith("TRT-") or text[0].count("-") < 2:
            raise ConfigError(
                f"{path} is not a TensorRT calibration cache (first line should be TRT-<version>-<Algorithm>)"
            )
        algorithm = text[0].split("-", 2)[2]
        if algorithm not in CALIBRATOR_OF_TRT_ALGORITHM:
            raise ConfigError(
                f"{path}: calibration algorithm '{algorithm}' is unknown (TensorRT's: "
                f"{', '.join(CALIBRATOR_OF_TRT_ALGORITHM)})"
            )
        calibrator = CALIBRATOR_OF_TRT_ALGORITHM[algorithm]
        rows = []
        for number, line in enumerate(text[1:], start=2):
            if not line.strip():
                continue
            name, sep, value = line.rpartition(":")
            try:
                scale = struct.unpack(">f", bytes.fromhex(value.strip()))[0]
            except ValueError:
                raise ConfigError(f"{path}, line {number}: '{line}' is not 'tensor: <8 hex digits>'") from None
            rows.append({"tensor": name.strip(), "amax": scale * QMAX["int8"], "scale": scale})
        return cls(
            pd.DataFrame(rows, columns=["tensor", "amax", "scale"]),
            calibrator,
            "int8",
            notes=[f"read from TensorRT cache {Path(path).name} ({text[0]})"],
        )

    def _repr_html_(self) -> str:
        notes = "".join(f"<div><i>{n}</i></div>" for n in self.notes)
        return (
            f"<div><b>{self.calibrator}</b> calibration ({self.precision}), {len(self)} tensors{notes}"
            f"{self.frame.head(20).to_html(index=False, float_format=lambda v: f'{v:.5g}')}</div>"
        )


def installed_tensorrt_version() -> str | None:
    """The installed TensorRT's version (the ``tensorrt`` package; TensorRT-RTX reads no calibration caches), or
    None when there is none."""
    from importlib import metadata, util

    for distribution in ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu11"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    try:  # installed without pip metadata (e.g. a system package)
        if util.find_spec("tensorrt") is not None:
            import tensorrt

            return str(tensorrt.__version__)
    except Exception:  # a broken install: no version to read
        return None
    return None


def tensorrt_version_for_cache(version: str | None = None) -> str:
    """``version`` when given (checked), else the installed TensorRT's; a ConfigError when neither exists."""
    version = version if version is not None else installed_tensorrt_version()
    if version is None:
        raise ConfigError(
            "no TensorRT is installed to take the calibration cache's version from: give the version "
            "of the TensorRT that will read it (tensorrt_version='10.3.0', CLI --trt-version 10.3.0)"
        )
    _version_code(version)
    return str(version)


def _version_code(version: str) -> int:
    try:
        parts = [int(p) for p in str(version).split(".")[:3]] + [0, 0]
    except ValueError:
        raise ConfigError(f"TensorRT version '{version}' is not a version such as 10.3.0") from None
    major, minor, patch = parts[:3]
    return major * 10000 + minor * 100 + patch if major >= 10 else major * 1000 + minor * 100 + patch


def augmented_session(model: Model, tensors: list[str]) -> ort.InferenceSession:
    """An ONNX Runtime session that outputs ``tensors``, with ONNX Runtime's full graph optimizations: they never
    remove or change a graph output (a fusion whose inner tensor is an output is not applied), and the optimized
    run is what keeps calibration within 1.5x of plain forward passes (benchmarks/bench_calibration_cost.py;
    YOLO, 8 images: 3.8 s optimized vs 6.3 s unoptimized)."""
    return calibration_session(model, tensors)[0]


def calibration_session(model: Model, tensors: list[str]) -> tuple[ort.InferenceSession, list[str]]:
    """(session, output names to request for ``tensors``): tensors inside If/Loop bodies are read through the
    outputs that ``control_flow.lift_body_tensors`` adds (ONNX Runtime outputs main-graph tensors only)."""
    import onnxruntime as ort

    from .control_flow import lift_body_tensors

    graph = model.proto.graph
    main = {i.name for i in graph.input} | {o for n in graph.node for o in n.output}
    existing = {o.name for o in graph.output}
    in_bodies = [t for t in tensors if t not in main]
    if in_bodies:  # the bodies change: a copy of the model, edited and serialized
        proto = onnx.ModelProto()
        proto.CopyFrom(model.proto)
        lifted = {body: outer for outer, body in lift_body_tensors(proto, in_bodies).items()}
        weight_names: list[str] = []
        weight_values: list = []
        for name in tensors:
            if name not in existing and name not in lifted:
                proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
        serialized = proto.SerializeToString()
    else:
        # Protobuf merges concatenated messages (repeated fields appended): the model without its large weights
        # (_weights_apart), followed by a graph holding only the extra outputs, parses as the model with those
        # outputs. Neither the weights nor the model are copied or serialized again (ResNet-50: a 0.2 s copy and
        # a 1.4 s serialization saved per calibration when the outputs were added to a copy).
        lifted = {}
        extra = onnx.ModelProto()
        for name in tensors:
            if name not in existing:
                extra.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
        graph_bytes, weight_names, weight_values = _weights_apart(model)
        serialized = graph_bytes + extra.SerializeToString()
    options = ort.SessionOptions()
    if weight_names:
        options.add_external_initializers(weight_names, weight_values)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 4  # failures are raised, and reported once in the workbench's words
    # ONNX Runtime's threads wait for work without spinning: while a batch runs, the statistics of the previous
    # one (_collect) use the cores a forward pass leaves idle, instead of spinning threads holding them.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # ONNX Runtime's memory arena stays on: without it every batch's activations are fresh pages. Entropy2 on
    # ResNet-50, 64 samples: 4.47 -> 3.90 s at 112x112 (peak +545 -> +558 MB), 17.1 -> 12.7 s at 224x224 (peak
    # +286 -> +378 MB). The arena lives as long as this session, one calibration.
    try:
        session = ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"ONNX Runtime cannot run {model.label} for calibration: {exc}") from None
    session._workbench_weights = weight_values  # type: ignore[attr-defined]  # ONNX Runtime reads them in place
    return session, [lifted.get(t, t) for t in tensors]


# Weights handed to ONNX Runtime as arrays instead of inside the serialized model: a float tensor of at least this
# many bytes, stored in the model itself. Integer tensors stay in the model, as do small ones: shape inference reads
# shapes, split sizes and axes from the model's own bytes.
EXTERNAL_WEIGHT_BYTES = 1024
_EXTERNAL_WEIGHT_TYPES = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.FLOAT16: np.float16,
    onnx.TensorProto.DOUBLE: np.float64,
}


def _weights_apart(model: Model) -> tuple[bytes, list[str], list]:
    """(the model serialized with its large float initializers marked external, their names, their values as
    OrtValues over the model's own bytes). ONNX Runtime takes such initializers from the session options
    (``add_external_initializers``) and skips parsing them: building ResNet-50's calibration session took 0.38 s,
    0.17 s this way (median of 7, this machine); the outputs are the same."""
    import onnxruntime as ort

    proto = model.proto
    light = onnx.ModelProto()
    for descriptor, value in proto.ListFields():
        if descriptor.name != "graph":
            _copy_field(light, descriptor.name, value)
    for descriptor, value in proto.graph.ListFields():
        if descriptor.name != "initializer":
            _copy_field(light.graph, descriptor.name, value)
    names, values = [], []
    for init in proto.graph.initializer:
        dtype = _EXTERNAL_WEIGHT_TYPES.get(init.data_type)
        raw = init.raw_data if init.HasField("raw_data") else b""
        if dtype is None or len(raw) < EXTERNAL_WEIGHT_BYTES or init.data_location == onnx.TensorProto.EXTERNAL:
            light.graph.initializer.append(init)
            continue
        array = np.frombuffer(raw, np.dtype(dtype).newbyteorder("<")).astype(dtype, copy=False).reshape(init.dims)
        stub = light.graph.initializer.add(name=init.name, dims=init.dims, data_type=init.data_type)
        stub.data_location = onnx.TensorProto.EXTERNAL
        for key, text in (("location", "workbench-in-memory"), ("offset", "0"), ("length", str(len(raw)))):
            stub.external_data.add(key=key, value=text)
        names.append(init.name)
        values.append(ort.OrtValue.ortvalue_from_numpy(array))
    return light.SerializeToString(), names, values


def _copy_field(target, name: str, value) -> None:
    if hasattr(value, "extend"):  # a repeated field
        getattr(target, name).extend(value)
    elif hasattr(value, "CopyFrom"):  # a message
        getattr(target, name).CopyFrom(value)
    else:
        setattr(target, name, value)


def calibration_threads() -> int:
    """Threads for the per-tensor statistics: the cores ONNX Runtime's plain forward pass uses too (its default
    intra-op threads). The binning (histogram.py's compiled kernel, or numpy) and the threshold search release the
    GIL, and every tensor's histogram is its own, so the tensors are spread over the cores without changing any
    count."""
    import os

    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


# Bytes of calibrated activations per batch, when the batch size is ours to choose. 64 MiB (twice this machine's
# L3): batches that stay near the cache calibrate faster than the largest that fits in memory (64 samples, against
# 256 MiB: YOLO batch 3 instead of 15, 5-8 % faster; ResNet-50@112 batch 6 instead of 25, 13-15 %; the CPU target's
# inception_tiny batch 14 instead of 32, about 30 %). Two batches are alive at a time (one run, one being binned).
ACTIVATION_BUDGET = 64 * 2**20


def auto_batch_size(model: Model, tensors: Sequence[str], budget: int = ACTIVATION_BUDGET, largest: int = 32) -> int:
    """The largest batch (≤ ``largest``) whose calibrated activations fit ``budget`` bytes.

    Every calibrated tensor is an output of the calibration run, so none of their memory is reused within a batch:
    ResNet-50 at 224x224 holds ~300 MB per image. Measured there (32 images): batch 16 peaks at +4.8 GB and takes
    11 s, batch 1 at +0.4 GB and 3.8 s.
    """
    from ..model import batch_shapes

    try:
        shapes = model.shapes.concrete(batch_shapes(model, 1))
    except WorkbenchError:
        return largest
    per_sample = sum(4 * int(np.prod(shapes[t])) for t in tensors if t in shapes)
    return int(min(largest, max(1, budget // max(per_sample, 1))))


INPUT_SPREAD_WARNING = 100.0  # per-sample RMS of an input differing more than this: mixed units or scalings


def warn_if_statistics_differ(rms_by_input: dict[str, list[float]], label: str) -> str | None:
    """A warning (returned, and issued) when one input's per-sample RMS differs more than INPUT_SPREAD_WARNING times
    between calibration samples: usually a mix of preprocessings (0-255 pixels beside normalized ones), and the
    ranges then serve neither kind."""
    import warnings

    for name, values in rms_by_input.items():
        rms = np.asarray([v for v in values if v > 0])
        if len(rms) < 2 or rms.max() <= INPUT_SPREAD_WARNING * rms.min():
            continue
        message = (
            f"calibration data for {label}: input '{name}' has per-sample RMS from {rms.min():.3g} (sample "
            f"{int(np.argmin(values))}) to {rms.max():.3g} (sample {int(np.argmax(values))}), "
            f"{rms.max() / rms.min():.0f}x apart: check that every sample has the same preprocessing "
            "(e.g. 0-255 pixels mixed with normalized ones); the ranges serve neither kind well"
        )
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        return message
    return None


def collect_histograms(
    model: Model,
    data: CalibrationData | Iterable[Mapping[str, np.ndarray]],
    tensors: list[str],
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    ranges_only: bool = False,
) -> dict[str, TensorHistogram]:
    """One pass over ``data``: a streaming histogram per tensor (memory bounded by the histograms);
    ``ranges_only``: min/max/count alone (MinMax needs no histogram)."""
    from concurrent.futures import ThreadPoolExecutor

    session, output_names = calibration_session(model, tensors)
    with ThreadPoolExecutor(calibration_threads()) as pool:
        return _collect(session, output_names, model, data, tensors, pool, on_progress, cancel, ranges_only)


def _collect(
    session: ort.InferenceSession,
    output_names: list[str],
    model: Model,
    data: CalibrationData | Iterable[Mapping[str, np.ndarray]],
    tensors: list[str],
    pool: Executor,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
    ranges_only: bool,
) -> dict[str, TensorHistogram]:
    graph_inputs = {i.name for i in model.inputs}
    hists = {t: TensorHistogram(t, bins=0) if ranges_only else TensorHistogram(t) for t in tensors}
    rms_by_input: dict[str, list[float]] = {}
    report = ProgressReporter(on_progress)
    total = data.count() if isinstance(data, CalibrationData) else None
    seen = 0
    # Pipelined: the statistics of one batch are computed on the pool while ONNX Runtime runs the next (whose
    # threads then wait without spinning, calibration_session), so the cores that a forward pass leaves idle bin
    # histograms. Every tensor's histogram is updated by one job at a time, batch after batch, so no count changes.
    # Entropy2, 64 samples: YOLO 2.19 -> 1.72x and ResNet-50@112 1.93 -> 1.75x plain passes (interleaved, 4 rounds).
    updating: list[Future] = []
    for batch_index, feeds in enumerate(data):
        if cancel is not None and cancel.is_set():
            raise CalibrationCancelled(f"calibration stopped after {seen} samples")
        try:
            outputs = session.run(output_names, feeds)
        except Exception as exc:
            raise ConfigError(f"calibration batch {batch_index} fails in ONNX Runtime: {exc}") from None
        _wait_in_order(updating)
        where = f" (batch {batch_index})"
        updating = [
            pool.submit(hists[n].update, v, " (a graph input)" if n in graph_inputs else where)
            for n, v in zip(tensors, outputs)
        ]
        del outputs
        for name, value in feeds.items():
            if name in graph_inputs and np.issubdtype(np.asarray(value).dtype, np.floating) and np.ndim(value):
                flat = np.asarray(value, np.float64).reshape(len(value), -1)
                rms_by_input.setdefault(name, []).extend(np.sqrt((flat**2).mean(axis=1)) if flat.size else [])
        seen += len(next(iter(feeds.values())))
        report(f"calibration: {seen} samples", seen / total if total else None)
    _wait_in_order(updating)
    warn_if_statistics_differ(rms_by_input, model.label)
    return hists


def _wait_in_order(updating: list[Future]) -> None:
    """Wait for one batch's updates; the first failing tensor in the tensors' order is raised, as the one-thread
    loop did."""
    for future in updating:
        future.result()


def calibrate(
    model: ModelSource,
    data: DataSource,
    calibrator: str = DEFAULT_CALIBRATOR,
    *,
    precision: str = "int8",
    percentile: float = 99.99,
    samples: int | None = None,
    batch_size: int | None = None,
    tensors: Sequence[str] | None = None,
    fusion_groups: Iterable[Sequence[str]] | None = None,
    preprocess: Callable[[Path], object] | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    only_quantized: bool = False,
    target: str = "tensorrt",
    exclude_nodes: Sequence[str] = (),
    exclude_op_types: Sequence[str] = (),
    histograms: bool | None = None,
) -> CalibrationTable:
    """Per-tensor amax and scale for ``model`` from ``data`` (see CalibrationData for the sources it takes).

    ``only_quantized``: calibrate only the activations that ``quantize`` for ``target`` will read (given the same
    ``exclude_nodes``/``exclude_op_types``), not every tensor of the graph. ``tensorrt``: those TensorRT's Q/DQ
    placement quantizes (on YOLO-style models a fifth of the tensors, so a fifth of the histograms and threshold
    searches). ``onnxruntime``: all but the Conv outputs that ONNX Runtime's pre-processing folds away
    (``folded_by_onnxruntime_preprocessing``) and the Relu inputs whose ranges ``quantize`` derives
    (``derived_by_onnxruntime_quantizer``). The table then serves that target only.
    Calibrator ``auto`` records, per tensor, which threshold it kept (column ``chosen``).
    ``histograms``: keep each tensor's histogram in the table (for charts); by default kept unless
    ``only_quantized``. MinMax without them reads only each tensor's range (the same amax, a fraction of the work)."""
    model = load_model(model)
    calibrator = check_calibrator(calibrator)
    if precision not in QMAX:
        raise ConfigError(f"calibration precision '{precision}' must be one of {', '.join(QMAX)}")
    if calibrator == "percentile" and not 0 < float(percentile) <= 100:
        raise ConfigError(f"percentile {percentile} must be in (0, 100], e.g. 99.99")
    from .control_flow import body_activations

    all_tensors = list(dict.fromkeys(activation_tensors(model) + body_activations(model.proto)))  # bodies' too
    if target not in ("tensorrt", "onnxruntime"):
        raise ConfigError(f"calibration target '{target}' must be tensorrt or onnxruntime")
    if tensors is None and only_quantized:
        from .preflight import check_quantizable  # qdq (which it uses) imports this module

        # Decided from the graph in seconds, before any pass over the data: nothing to quantize fails here.
        placed = set(
            check_quantizable(
                model, precision, target=target, exclude_nodes=exclude_nodes, exclude_op_types=exclude_op_types
            )
        )
        if target == "onnxruntime":  # ONNX Runtime's quantizer places its own Q/DQ: all it may read
            skipped = folded_by_onnxruntime_preprocessing(model) | set(derived_by_onnxruntime_quantizer(model))
            chosen = [t for t in all_tensors if t not in skipped]
        else:
            chosen = [t for t in all_tensors if t in placed]
    elif tensors is None:
        chosen = all_tensors
    else:
        unknown = [t for t in tensors if t not in set(all_tensors)]
        if unknown:
            raise ConfigError(f"tensor '{unknown[0]}' is not a float activation of {model.label}")
        chosen = list(tensors)
    notes = []
    if only_quantized:
        notes.append(
            f"calibrated the {len(chosen)} of {len(all_tensors)} activations that get Q/DQ"
            if target == "tensorrt"
            else f"calibrated the {len(chosen)} of {len(all_tensors)} activations ONNX Runtime's quantizer reads "
            "(not Conv outputs folded into their BatchNormalization, nor Relu inputs, whose range is the Relu's)"
        )
    if calibrator == "entropy":
        if fusion_groups is None:
            notes.append(
                "entropy (v1) calibrates after fusion, but no engine fusion groups were given: calibrated "
                "before fusion, like entropy2"
            )
        else:
            after = tensors_after_fusion(model, fusion_groups)
            dropped = [t for t in chosen if t not in after]
            chosen = [t for t in chosen if t in after]
            notes.append(
                f"calibrated after fusion: {len(dropped)} tensors exist only inside fused engine layers "
                "and get no range"
            )
    if not chosen:
        raise ConfigError(f"{model.label} has no float activation tensors to calibrate")
    if not isinstance(data, CalibrationData):
        data = CalibrationData(
            data, model, batch_size=batch_size or auto_batch_size(model, chosen), samples=samples, preprocess=preprocess
        )
    # MinMax for Q/DQ (only_quantized: the quantize path, whose table nobody charts) needs ranges, not histograms:
    # binning every element was a third of YOLO's calibration time.
    keep_histograms = not only_quantized if histograms is None else histograms
    hists = collect_histograms(
        model,
        data,
        chosen,
        on_progress=on_progress,
        cancel=cancel,
        ranges_only=calibrator == "minmax" and not keep_histograms,
    )

    def threshold(name: str) -> tuple[float, str]:
        if calibrator == "auto":  # the one calibrator that also says which threshold it kept, per tensor
            return auto_amax(hists[name])
        return AMAX_FUNCTIONS[calibrator](hists[name], float(percentile)), calibrator

    if calibrator == "minmax":
        thresholds = [threshold(name) for name in chosen]
    else:  # the searches are independent per tensor: spread over the cores (numpy releases the GIL)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(calibration_threads()) as pool:
            thresholds = list(pool.map(threshold, chosen))
    rows = []
    for name, (amax, kept) in zip(chosen, thresholds):
        h = hists[name]
        scale = float(quantization_scale(amax, precision))
        rows.append(
            {
                "tensor": name,
                "amax": amax,
                "scale": scale,
                "min": h.min,
                "max": h.max,
                "absmax": h.absmax,
                "count": h.count,
                "chosen": kept,
            }
        )
    frame = pd.DataFrame(rows)
    if calibrator == "auto":
        counts = frame["chosen"].value_counts().to_dict()
        notes.append("auto: " + ", ".join(f"{n} tensors kept {c}'s threshold" for c, n in counts.items()))
    return CalibrationTable(
        frame,
        calibrator,
        precision,
        float(percentile) if calibrator == "percentile" else None,
        model.fingerprint,
        notes,
        hists,
    )
