"""Explicit quantization: QuantizeLinear/DequantizeLinear written into the model, for two targets.

*TensorRT placement* (NVIDIA's Q/DQ placement recommendations, written here because ONNX Runtime's quantizer cannot
quantize only the residual input of an Add and its defaults produce graphs TensorRT rejects): Q/DQ on every input
of Conv/ConvTranspose/Gemm/MatMul and on the residual input of skip-connection Adds; weights per-channel symmetric
(stored quantized, followed by a DequantizeLinear), activations per-tensor symmetric, explicit zero points of 0
(a QuantizeLinear without one outputs uint8), biases left in float (TensorRT rejects an int32-bias DQ).

*ONNX Runtime CPU placement*: ONNX Runtime's own ``quantize_static`` (it knows which QDQ patterns its CPU kernels
fuse into QLinearConv/QLinearMatMul: inputs *and* outputs quantized), fed with this workbench's ranges through its
calibration cache, so no ONNX Runtime calibration runs.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, TYPE_CHECKING

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper, numpy_helper

from ..errors import ConfigError
from ..model import load_model
from ..model.loading import CALIBRATOR_KEY, PRECISION_KEY, SOURCE_KEY
from .calibrate import derived_by_onnxruntime_quantizer, quantization_scale
from .calibrators import QMAX
from .constant_weights import constant_weights, lift_constant_weights
from .control_flow import NESTED_NOTE, body_activations, quantize_bodies
from .graph_edit import set_metadata, toposorted, with_opset
from .preflight import WEIGHTED_OPS

if TYPE_CHECKING:
    from ..model.sources import ModelSource
    from .calibrate import CalibrationTable
    from ..model import Model

TARGETS = ("tensorrt", "onnxruntime")
_QTYPE = {"int8": TensorProto.INT8, "fp8": TensorProto.FLOAT8E4M3FN}


@dataclass
class QuantizationResult:
    """The quantized model and what was done: one row per weighted op / Add (quantized or why not)."""

    model: Model
    report: pd.DataFrame
    target: str
    precision: str
    calibrator: str
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict:
        done = self.report[self.report["quantized"]]
        hist = self.model.stats.op_histogram
        return {
            "quantized_nodes": int(len(done)),
            "by_op": done["op"].value_counts().to_dict(),
            "skipped_nodes": int((~self.report["quantized"]).sum()),
            "quantize_linear": int(hist.get("QuantizeLinear", 0)),
            "dequantize_linear": int(hist.get("DequantizeLinear", 0)),
        }

    def _repr_html_(self) -> str:
        c = self.counts
        return (
            f"<div><b>{self.precision}</b> for <b>{self.target}</b> ({self.calibrator}): {c['quantized_nodes']} "
            f"nodes quantized, {c['skipped_nodes']} kept in float; {c['quantize_linear']} QuantizeLinear, "
            f"{c['dequantize_linear']} DequantizeLinear{self.report.head(30).to_html(index=False)}</div>"
        )


def weight_axis(node: onnx.NodeProto, input_index: int) -> int:
    """Per-channel axis of a weight: the axis of the output features it produces, never the reduced one.

    Conv 0 (output channels), ConvTranspose 1. Gemm computes A'·B' with A' = Aᵀ if transA, B' = Bᵀ if transB: as
    input B its output features are N (axis 0 when transB, else 1), as input A its rows M (axis 1 when transA,
    else 0). MatMul: B [..., K, N] -> N, the last axis; A [..., M, K] -> M, the second to last.
    """
    if node.op_type == "Conv":
        return 0
    if node.op_type == "ConvTranspose":
        return 1
    if node.op_type == "Gemm":
        trans = {a.name: a.i for a in node.attribute}
        if input_index == 1:
            return 0 if trans.get("transB", 0) else 1
        return 1 if trans.get("transA", 0) else 0
    return -1 if input_index == 1 else -2  # MatMul


def _quantize_weight(values: np.ndarray, axis: int, precision: str) -> tuple[np.ndarray, np.ndarray]:
    axis = axis % values.ndim
    reduce = tuple(i for i in range(values.ndim) if i != axis)
    amax = np.abs(values).max(axis=reduce) if reduce else np.abs(values)
    scale = quantization_scale(amax, precision).astype(np.float32)
    shape = [1] * values.ndim
    shape[axis] = -1
    scaled = values / scale.reshape(shape)
    if precision == "int8":
        q = np.clip(np.rint(scaled), -QMAX["int8"], QMAX["int8"]).astype(np.int8)
        return q, scale
    return np.clip(scaled, -QMAX["fp8"], QMAX["fp8"]).astype(
        np.float32
    ), scale  # fp8 values are rounded by onnx's helper


def _fp8_tensor(values: np.ndarray, name: str) -> onnx.TensorProto:
    import ml_dtypes  # onnx's own dependency for its float8 types (round to nearest even, saturating)

    return numpy_helper.from_array(np.asarray(values, np.float32).astype(ml_dtypes.float8_e4m3fn), name)


MIN_GEMM_FEATURES = 16  # ModelOpt skips GEMMs with K or N below this; the lint warns on them (INT8 alignment)
# Activation ops between a Conv and a skip-connection Add that TensorRT fuses into the Conv's epilogue.
CONV_EPILOGUE_OPS = ("Relu", "Clip", "LeakyRelu", "HardSwish", "HardSigmoid", "Sigmoid", "Tanh")


@dataclass(frozen=True)
class PlacementDecision:
    """One weighted op or skip-connection Add: quantized or why not, and which of its inputs get Q/DQ."""

    index: int  # position in graph.node
    quantized: bool
    note: str = ""
    activations: tuple[int, ...] = ()
    weights: tuple[int, ...] = ()


def _gemm_features(node, initializers) -> tuple[int, int] | None:
    """(K, N) of a Gemm/MatMul whose B is a weight, else None (attention MatMuls: both inputs are activations)."""
    if len(node.input) < 2 or node.input[1] not in initializers:
        return None
    dims = list(initializers[node.input[1]].dims)
    if len(dims) < 2:
        return None
    if node.op_type == "Gemm" and {a.name: a.i for a in node.attribute}.get("transB", 0):
        return int(dims[-1]), int(dims[-2])
    return int(dims[-2]), int(dims[-1])


def tensorrt_placement(
    graph: onnx.GraphProto,
    amax: dict | None = None,
    *,
    exclude_nodes: Iterable[str] = (),
    exclude_op_types: Iterable[str] = (),
    rules: bool = True,
) -> list[PlacementDecision]:
    """Where TensorRT placement puts Q/DQ in ``graph``: one decision per weighted op and skip-connection Add.

    NVIDIA's recommendations (all inputs of Conv/ConvTranspose/Gemm/MatMul; the residual input of an Add after a
    convolution block), and with ``rules``:
    - a Gemm/MatMul whose weight has K or N under 16 stays float: a 10-class head in INT8 cost 6-12 dB on the
      classifiers measured, TensorRT's INT8 kernels want multiples of 16 (the lint warns), and ModelOpt skips them;
    - a node that writes a graph output stays float: the output is what the user reads, and its error is not
      averaged away by later layers (on classifiers +1.3-2.8 dB at no speed cost);
    - the Add after an activation of a Conv (Relu, SiLU = x * Sigmoid(x), ...) is a skip connection too (YOLO's
      C2f bottlenecks), not only an Add right after Conv/BatchNormalization.
    ``amax`` (tensor -> range): a node whose activation has no range stays float; None (deciding what to
    calibrate) assumes every activation will have one.
    """
    # Weights held in Constant nodes (Paddle2ONNX) are weights too, never activations that need a range.
    initializers = {t.name: t for t in graph.initializer} | constant_weights(graph)
    producers = {o: n for n in graph.node for o in n.output if n.output[0] not in initializers}
    graph_outputs = {o.name for o in graph.output}
    exclude_nodes, exclude_op_types = set(exclude_nodes), set(exclude_op_types)

    def conv_block(tensor: str, depth: int = 0) -> bool:
        node = producers.get(tensor)
        if node is None or depth > 3:
            return False
        if node.op_type in ("Conv", "BatchNormalization", "ConvTranspose"):
            return True
        if not rules:
            return False
        if node.op_type in CONV_EPILOGUE_OPS:
            return conv_block(node.input[0], depth + 1)
        if node.op_type == "Mul" and len(node.input) == 2:  # SiLU: x * Sigmoid(x)
            a, b = node.input
            for x, gate in ((a, b), (b, a)):
                g = producers.get(gate)
                if g is not None and g.op_type == "Sigmoid" and g.input[0] == x:
                    return conv_block(x, depth + 1)
        return False

    decisions = []
    for index, node in enumerate(graph.node):
        if node.op_type not in WEIGHTED_OPS and node.op_type != "Add":
            continue
        if node.name in exclude_nodes or node.op_type in exclude_op_types:
            if node.op_type in WEIGHTED_OPS:
                decisions.append(PlacementDecision(index, False, "excluded"))
            continue
        writes_output = next((o for o in node.output if o in graph_outputs), None)
        if node.op_type == "Add":
            activations = [i for i, t in enumerate(node.input) if t not in initializers and t in producers]
            if len(activations) != 2:
                continue
            from_conv = [conv_block(node.input[i]) for i in activations]
            if not any(from_conv):
                continue  # not a skip connection after a convolution
            # The input straight from a Conv fuses with the Add (Conv + Add with INT8 output); the other is the skip.
            direct = [
                producers[node.input[i]].op_type in ("Conv", "BatchNormalization", "ConvTranspose") for i in activations
            ]
            residual = (
                activations[from_conv.index(False)]
                if not all(from_conv)
                else activations[direct.index(False)]
                if any(direct) and not all(direct)
                else activations[1]
            )
            tensor = node.input[residual]
            if rules and writes_output:
                decisions.append(PlacementDecision(index, False, f"writes graph output '{writes_output}'"))
            elif amax is not None and tensor not in amax:
                decisions.append(PlacementDecision(index, False, f"no range for residual input '{tensor}'"))
            else:
                decisions.append(PlacementDecision(index, True, f"residual input '{tensor}'", (residual,)))
            continue
        data_inputs = [i for i in range(min(len(node.input), 2)) if node.input[i]]
        activations = tuple(i for i in data_inputs if node.input[i] not in initializers)
        weights = tuple(i for i in data_inputs if node.input[i] in initializers)
        features = _gemm_features(node, initializers) if node.op_type in ("Gemm", "MatMul") else None
        no_range = [node.input[i] for i in activations if amax is not None and node.input[i] not in amax]
        if rules and features and min(features) < MIN_GEMM_FEATURES:
            decisions.append(
                PlacementDecision(
                    index, False, f"K={features[0]}, N={features[1]}: under {MIN_GEMM_FEATURES}, kept in float"
                )
            )
        elif rules and writes_output:
            decisions.append(PlacementDecision(index, False, f"writes graph output '{writes_output}'"))
        elif no_range:
            decisions.append(PlacementDecision(index, False, f"no range for input '{no_range[0]}'"))
        else:
            decisions.append(PlacementDecision(index, True, "", tuple(activations), tuple(weights)))
    return decisions


def quantized_activations(
    model: ModelSource, *, exclude_nodes: Iterable[str] = (), exclude_op_types: Iterable[str] = (), rules: bool = True
) -> list[str]:
    """The activation tensors TensorRT placement quantizes in ``model``: the only ones that need a range."""
    graph = load_model(model).proto.graph
    names = []
    for decision in tensorrt_placement(
        graph, None, exclude_nodes=exclude_nodes, exclude_op_types=exclude_op_types, rules=rules
    ):
        node = graph.node[decision.index]
        names += [node.input[i] for i in decision.activations]
    return list(dict.fromkeys(names))


def quantize(
    model: ModelSource,
    table: CalibrationTable,
    *,
    target: str = "tensorrt",
    exclude_nodes: Iterable[str] = (),
    exclude_op_types: Iterable[str] = (),
    rules: bool = True,
    reduce_range: bool | None = None,
    float_precision: str = "fp32",
    enter_bodies: bool = True,
) -> QuantizationResult:
    """Insert Q/DQ into ``model`` with the ranges of ``table`` (a CalibrationTable) for ``target``.

    ``enter_bodies`` (tensorrt target): Q/DQ into top-level If/Loop/Scan bodies too (control_flow.py); off when
    ``model`` is itself a body cut out, whose nested bodies have no ranges and stay float.

    ``float_precision`` (tensorrt target): fp16 or bf16 runs what stays unquantized in that type
    (``float_remainder``).

    ``rules`` (default on): the placement rules for heads and outputs (see ``tensorrt_placement``); off, every
    weighted op and skip-connection Add that has ranges is quantized. ``reduce_range`` (ONNX Runtime target): 7-bit
    weights; None decides by this CPU (``cpu_has_vnni``)."""
    from .float_remainder import check_float_precision, with_float_remainder

    model = load_model(model)
    if target not in TARGETS:
        raise ConfigError(f"quantization target '{target}' is unknown (targets: {', '.join(TARGETS)})")
    float_precision = check_float_precision(float_precision, target)
    names = {n.name for n in model.nodes}
    missing = [n for n in exclude_nodes if n not in names]
    if missing:
        raise ConfigError(f"exclude_nodes: node '{missing[0]}' is not in {model.label}")
    weighted = [n for n in model.nodes if n.op_type in WEIGHTED_OPS]
    if not weighted and not body_activations(model.proto):
        raise ConfigError(f"{model.label} has nothing to quantize: no Conv, ConvTranspose, Gemm or MatMul")
    if table.precision not in _QTYPE:
        raise ConfigError(f"precision '{table.precision}' cannot be quantized with Q/DQ (int8 or fp8)")
    if target == "onnxruntime":
        result = _quantize_for_onnxruntime(model, table, exclude_nodes, exclude_op_types, rules, reduce_range)
    else:
        result = _quantize_for_tensorrt(
            model, table, set(exclude_nodes), set(exclude_op_types), rules, enter_bodies=enter_bodies
        )
    if weighted and all(_is_depthwise(n, model) for n in weighted):  # none at top level: bodies only
        result.notes.append(
            "every weighted op is a depthwise convolution: INT8 buys memory traffic only (a quarter of FP32's "
            "bytes per activation, half of FP16's), not Tensor Core math — a depthwise convolution has no GEMM "
            "reduction to speed up and is memory-bound, so expect a speed-up near the bandwidth ratio at best, and "
            "measure FP16 first: it often matches INT8 there without any calibration"
        )
    return with_float_remainder(result, float_precision)


def _is_depthwise(node, model) -> bool:
    """A Conv with one input channel per group (groups > 1): no reduction over channels."""
    if node.op_type != "Conv":
        return False
    group = next((a.i for a in node.attribute if a.name == "group"), 1)
    weight = next((t for t in model.proto.graph.initializer if len(node.input) > 1 and t.name == node.input[1]), None)
    return group > 1 and weight is not None and len(weight.dims) > 1 and weight.dims[1] == 1


def _quantize_for_tensorrt(
    model, table, exclude_nodes: set, exclude_op_types: set, rules: bool, *, enter_bodies: bool = True
) -> QuantizationResult:
    precision = table.precision
    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    proto = with_opset(proto, 19 if precision == "fp8" else 13, f"{precision} Q/DQ")
    graph = proto.graph
    lifted = lift_constant_weights(graph)  # Constant-node weights become initializers: quantized per channel
    # Q/DQ inside If/Loop/Scan bodies (control_flow.py); off for a body itself (its nested bodies stay float)
    body_rows = quantize_bodies(proto, table, rules=rules) if enter_bodies else []
    amax = table.amax
    initializers = {t.name: t for t in graph.initializer}
    new_nodes: list[onnx.NodeProto] = []
    new_inits: list[onnx.TensorProto] = []
    dq_of: dict[str, str] = {}  # activation tensor -> its DequantizeLinear output
    zero_name = f"workbench_{precision}_zero_point"
    zero = (
        numpy_helper.from_array(np.array(0, np.int8), zero_name)
        if precision == "int8"
        else _fp8_tensor(np.array(0.0, np.float32), zero_name)
    )
    new_inits.append(zero)
    rows = []

    def quantize_activation(tensor: str) -> str:
        if tensor not in dq_of:
            scale_name = f"{tensor}_scale"
            new_inits.append(
                numpy_helper.from_array(quantization_scale(amax[tensor], precision).astype(np.float32), scale_name)
            )
            q_out, dq_out = f"{tensor}_quantized", f"{tensor}_dequantized"
            new_nodes.append(
                helper.make_node(
                    "QuantizeLinear", [tensor, scale_name, zero_name], [q_out], name=f"{tensor}_QuantizeLinear"
                )
            )
            new_nodes.append(
                helper.make_node(
                    "DequantizeLinear", [q_out, scale_name, zero_name], [dq_out], name=f"{tensor}_DequantizeLinear"
                )
            )
            dq_of[tensor] = dq_out
        return dq_of[tensor]

    dq_weight_of: dict[tuple[str, int], str] = {}  # (weight, axis) -> its DequantizeLinear output

    def quantize_weight(node, index: int) -> None:
        name = node.input[index]
        values = numpy_helper.to_array(initializers[name]).astype(np.float32)
        axis = weight_axis(node, index) % max(values.ndim, 1)
        if (name, axis) in dq_weight_of:  # a weight shared by several nodes is quantized once
            node.input[index] = dq_weight_of[(name, axis)]
            return
        # The same weight read along another axis (e.g. by a Gemm with transB and one without) needs its own copy.
        name_out = name if not any(w == name for w, _ in dq_weight_of) else f"{name}_axis{axis}"
        q, scale = _quantize_weight(values, axis, precision)
        q_name, s_name, z_name = (
            f"{name_out}_{precision}",
            f"{name_out}_weight_scale",
            f"{name_out}_weight_zero_point",
        )
        new_inits.append(numpy_helper.from_array(q, q_name) if precision == "int8" else _fp8_tensor(q, q_name))
        new_inits.append(numpy_helper.from_array(scale, s_name))
        new_inits.append(
            numpy_helper.from_array(np.zeros(len(scale), np.int8), z_name)
            if precision == "int8"
            else _fp8_tensor(np.zeros(len(scale), np.float32), z_name)
        )
        out = f"{name_out}_dequantized_weight"
        new_nodes.append(
            helper.make_node(
                "DequantizeLinear", [q_name, s_name, z_name], [out], name=f"{name_out}_DequantizeLinear", axis=axis
            )
        )
        dq_weight_of[(name, axis)] = out
        node.input[index] = out

    for decision in tensorrt_placement(
        graph, amax, exclude_nodes=exclude_nodes, exclude_op_types=exclude_op_types, rules=rules
    ):
        node = graph.node[decision.index]
        if decision.quantized:
            for i in decision.activations:
                node.input[i] = quantize_activation(node.input[i])
            for i in decision.weights:
                quantize_weight(node, i)
        rows.append((node.name, node.op_type, decision.quantized, decision.note))
    rows += body_rows
    if not any(r[2] for r in rows):
        raise ConfigError(
            f"nothing in {model.label} could be quantized: {rows[0][3] if rows else 'every weighted op was excluded'}"
        )
    # Weights now live in their quantized copies; drop float originals no node reads any more.
    used = {t for n in list(graph.node) + new_nodes for t in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    graph.node.extend(new_nodes)
    proto = toposorted(proto)
    set_metadata(proto, {PRECISION_KEY: precision, CALIBRATOR_KEY: table.calibrator, SOURCE_KEY: model.source_model})
    quantized = load_model(proto, name=f"{model.name}_{precision}_{table.calibrator}")
    report = pd.DataFrame(rows, columns=["node", "op", "quantized", "note"])
    notes = list(table.notes) + (
        [f"{len(lifted)} weights held in Constant nodes were quantized as weights (per channel)"] if lifted else []
    )
    nested = [r[0] for r in body_rows if r[3] == NESTED_NOTE]
    if nested:
        notes.append(f"{len(nested)} weighted ops {NESTED_NOTE} — e.g. {nested[0]}")
    return QuantizationResult(quantized, report, "tensorrt", precision, table.calibrator, notes)


CONCAT_RANGE_RATIO = 8.0  # a Concat whose inputs' ranges differ more than this stays float (one scale cannot serve)


def cpu_has_vnni(cpuinfo: str | None = None) -> bool:
    """Whether this CPU multiplies u8 x s8 with 32-bit accumulation (AVX512-VNNI, AVX-VNNI, AMX-INT8) — or is not
    x86 at all (Arm's int8 dot products do not saturate): then full 8-bit weights are safe on it."""
    import platform

    if cpuinfo is None:
        if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
            return True
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False  # unknown x86 CPU: assume the saturating kernels
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8", "avx_vnni_int8"})


def onnxruntime_float_nodes(graph: onnx.GraphProto, amax: dict) -> dict[str, str]:
    """Nodes of the ONNX Runtime placement kept in float, with why: those writing graph outputs (a detector's output
    Concat joins pixel boxes with class probabilities: one uint8 scale of ~2 px per step turns every score to 0),
    Concats joining ranges that differ more than CONCAT_RANGE_RATIO, Gemm/MatMul heads with K or N under 16. A wide
    head writing an output stays wholly float too: ResNet-50's 2048x1000 Gemm so ran as fast as quantize_static's
    QGemm (1.00x, benchmarks/bench_int8_cpu.py, AVX512-VNNI) and agreed 0.86 dB better than with int8 inputs."""
    initializers = {t.name: t for t in graph.initializer}
    outputs = {o.name for o in graph.output}
    kept = {}
    for node in graph.node:
        written = next((o for o in node.output if o in outputs), None)
        features = _gemm_features(node, initializers) if node.op_type in ("Gemm", "MatMul") else None
        if written:
            kept[node.name] = f"writes graph output '{written}'"
        elif features and min(features) < MIN_GEMM_FEATURES:
            kept[node.name] = f"K={features[0]}, N={features[1]}: under {MIN_GEMM_FEATURES}, kept in float"
        elif node.op_type == "Concat":
            ranges = [amax[t] for t in node.input if t in amax and amax[t] > 0]
            if len(ranges) >= 2 and max(ranges) > CONCAT_RANGE_RATIO * min(ranges):
                kept[node.name] = (
                    f"Concat of ranges {min(ranges):.3g} to {max(ranges):.3g}: one scale cannot serve both"
                )
    return kept


def _quantize_for_onnxruntime(
    model, table, exclude_nodes, exclude_op_types, rules: bool = True, reduce_range: bool | None = None
) -> QuantizationResult:
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:  # ONNX Runtime 1.27 opened quantize_static to ranges computed elsewhere (a saved calibration cache)
        from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data
    except ImportError:
        raise ConfigError(
            f"the ONNX Runtime CPU target needs onnxruntime >= 1.27 (its quantizer takes this "
            f"workbench's ranges from 1.27 on); onnxruntime {onnxruntime.__version__} is installed"
        ) from None

    if table.precision != "int8":
        raise ConfigError("the ONNX Runtime CPU target runs int8 only (its CPU has no fp8 kernels)")
    notes = list(table.notes)
    if reduce_range is None:
        reduce_range = not cpu_has_vnni()
        notes.append(
            "7-bit weights: this CPU's int8 kernels can saturate at 8 bits"
            if reduce_range
            else "8-bit weights: this CPU has VNNI/AMX (32-bit accumulation); on an x86 CPU without VNNI use "
            "reduce_range=True"
        )
    # uint8 activations (asymmetric) with int8 weights: the pairing ONNX Runtime's x86 kernels fuse into
    # QLinearConv/QLinearMatMul (VNNI's u8 x s8 dot product). Measured on ResNet-50 (AVX512-VNNI, 2 cores): U8S8
    # fuses all 53 Conv and runs 2.8x FP32; S8S8 leaves 20 Conv in float and is slower than FP32. The calibrated
    # threshold clips the observed signed range, so a ReLU output keeps all 256 levels on [0, amax].
    # Weights get 7 bits ([-64, 64], reduce_range): x86 CPUs without VNNI (AVX2, AVX-512 before VNNI) run U8S8 with
    # VPMADDUBSW, which adds two u8 x s8 products into an int16 and saturates at 32767; 2 x 255 x 127 overflows it,
    # 2 x 255 x 64 cannot. With full 8-bit weights the trained digits CNN fell from 37.5 to 14.6 dB SQNR on an AVX2
    # host (the same Q/DQ model, run unfused, kept 37.5), ONNX Runtime 1.20 and 1.32 alike; 7-bit weights keep 33.4 dB
    # on every CPU, and VNNI CPUs run the same kernels just as fast. On a VNNI/AMX CPU (32-bit accumulation) 7 bits
    # cost 1.9-4.7 dB for nothing: reduce_range=None uses 8-bit weights there. Such a model is then for VNNI/AMX
    # CPUs (noted in the result); reduce_range=True makes one that runs anywhere.
    frame = table.frame
    lows = frame["min"] if "min" in frame else -frame["amax"]
    highs = frame["max"] if "max" in frame else frame["amax"]
    ranges = {}
    for tensor, amax, low, high in zip(frame["tensor"], frame["amax"], lows, highs):
        low = min(max(float(low), -amax), 0.0) if np.isfinite(low) else -amax
        high = max(min(float(high), amax), 0.0) if np.isfinite(high) else amax
        ranges[tensor] = TensorData(lowest=np.array(low, np.float32), highest=np.array(high, np.float32))
    # A Relu input left out of a table calibrated for this target takes the Relu output's range
    for tensor, relu_output in derived_by_onnxruntime_quantizer(model).items():
        if tensor not in ranges and relu_output in ranges:
            ranges[tensor] = TensorData(lowest=np.array(0.0, np.float32), highest=ranges[relu_output].highest)
    with tempfile.TemporaryDirectory(prefix="workbench-quantize-") as folder:
        cache, out = Path(folder) / "ranges.json", Path(folder) / "model_int8.onnx"
        prepared = Path(folder) / "prepared.onnx"
        save_tensors_data(TensorsData(CalibrationMethod.MinMax, ranges), cache)
        logger = logging.getLogger()
        level = logger.level
        logger.setLevel(logging.ERROR)  # ONNX Runtime's quantizer logs advice through the root logger
        try:
            # ONNX Runtime's recommended pre-processing: fold BatchNorm into Conv (the fused Conv writes the
            # BatchNorm's output tensor, whose range is in the table), infer shapes.
            source = Path(folder) / "source.onnx"
            source_proto = onnx.ModelProto()
            source_proto.CopyFrom(model.proto)
            lift_constant_weights(source_proto.graph)  # ONNX Runtime's quantizer reads weights from initializers
            source_proto = with_opset(source_proto, 13, "per-channel Q/DQ")  # DequantizeLinear's axis: opset 13
            source.write_bytes(source_proto.SerializeToString())  # never the ModelProto: the pre-processor moves
            # its weights out
            quant_pre_process(str(source), prepared, skip_symbolic_shape=True)
            graph = onnx.load(prepared).graph
            op_types = sorted({n.op_type for n in graph.node} - set(exclude_op_types) - {"Constant"})
            # A node whose activations have no range (e.g. Entropy v1 skips tensors inside fused layers) stays
            # float; ONNX Runtime's quantizer would otherwise stop on the missing range.
            weights = {t.name for t in graph.initializer}
            no_range = {
                n.name: t
                for n in graph.node
                for t in [*n.input, *n.output]
                if t and t not in weights and t not in ranges and n.op_type in op_types and n.op_type != "Shape"
            }
            kept_float = onnxruntime_float_nodes(graph, table.amax) if rules else {}
            quantize_static(
                str(prepared),
                out,
                None,
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                reduce_range=reduce_range,
                op_types_to_quantize=op_types,
                nodes_to_exclude=[*exclude_nodes, *no_range, *kept_float],
                calibration_cache_path=cache,
                extra_options={"WeightSymmetric": True},
            )
        except Exception as exc:
            raise ConfigError(f"ONNX Runtime could not quantize {model.label}: {exc}") from None
        finally:
            logger.setLevel(level)
        proto = onnx.load(out)
    set_metadata(proto, {PRECISION_KEY: "int8", CALIBRATOR_KEY: table.calibrator, SOURCE_KEY: model.source_model})
    quantized = load_model(proto, name=f"{model.name}_int8_{table.calibrator}_cpu")
    dq_inputs = {n.output[0] for n in quantized.nodes if n.op_type == "DequantizeLinear"}
    rows = []
    for node in quantized.nodes:
        if node.op_type in WEIGHTED_OPS or node.op_type == "Add" or node.name in kept_float:
            # Excluded nodes may still read a DequantizeLinear output (their producer's Q/DQ): not quantized.
            done = any(t in dq_inputs for t in node.input) and node.name not in {*exclude_nodes, *kept_float}
            if node.op_type in WEIGHTED_OPS or done or node.name in kept_float:
                why = (
                    "excluded"
                    if node.name in exclude_nodes
                    else f"no range for '{no_range[node.name]}'"
                    if node.name in no_range
                    else kept_float[node.name]
                    if node.name in kept_float
                    else "kept in float by ONNX Runtime"
                )
                rows.append((node.name, node.op_type, done, "" if done else why))
    report = pd.DataFrame(rows, columns=["node", "op", "quantized", "note"])
    return QuantizationResult(quantized, report, "onnxruntime", "int8", table.calibrator, notes)
