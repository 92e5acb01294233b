"""Lint an engine and the Q/DQ model behind it: what keeps layers out of INT8, what forces reformats, what misses
Tensor Core alignment (the checks TREx's linters made, plus NVIDIA's Q/DQ placement recommendations).

Each finding: severity (error / warning / info), rule, layer (engine layer or ONNX node), onnx_nodes, message, fix.
"error": TensorRT rejects it or the quantization does not do what it says; "warning": costs speed or precision;
"info": worth knowing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from onnx import numpy_helper

from ..precision.guards import QDQ_OPS  # the one spelling of the Q/DQ op pair

if TYPE_CHECKING:
    from ..files import PathArg
    from ..model.sources import ModelSource
    from .build import BuildResult

FINDING_COLUMNS = ["severity", "rule", "layer", "onnx_nodes", "message", "fix"]
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
REFORMAT_WARN_SHARE = 0.05  # a reformat costing more than this share of the engine time is a warning
ALIGNMENT = {"float16": 8, "bfloat16": 8, "int8": 16, "float8": 16}  # channels multiple for Tensor Core kernels


def _finding(severity, rule, layer, onnx_nodes, message, fix) -> dict:
    return {
        "severity": severity,
        "rule": rule,
        "layer": layer,
        "onnx_nodes": list(onnx_nodes),
        "message": message,
        "fix": fix,
    }


def _frame(findings: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(findings, columns=FINDING_COLUMNS)
    if len(df):
        df = df.sort_values("severity", key=lambda s: s.map(SEVERITY_ORDER), kind="stable", ignore_index=True)
    return df


# --- the Q/DQ model ---------------------------------------------------------------------------------------------
def lint_qdq_model(model: ModelSource) -> pd.DataFrame:
    """Q/DQ placement findings on an ONNX model (a workbench Model, path or ModelProto)."""
    from ..model import load_model

    model = load_model(model)
    graph = model.proto.graph
    nodes = list(graph.node)
    if not any(n.op_type in QDQ_OPS for n in nodes):
        return _frame([])
    initializers = {t.name: t for t in graph.initializer}
    producer = {o: n for n in nodes for o in n.output}
    consumers = defaultdict(list)
    for n in nodes:
        for i in n.input:
            consumers[i].append(n)
    label = lambda n: n.name or n.output[0]  # noqa: E731
    findings = []

    def from_dq(tensor: str):
        p = producer.get(tensor)
        return p if p is not None and p.op_type == "DequantizeLinear" else None

    def scale_of(dq) -> float | None:
        t = initializers.get(dq.input[1]) if len(dq.input) > 1 else None
        if t is None or int(np.prod(t.dims)) != 1:
            return None
        return float(np.asarray(numpy_helper.to_array(t)).ravel()[0])

    for n in nodes:
        if n.op_type == "QuantizeLinear":
            users = consumers.get(n.output[0], [])
            if not users or any(u.op_type != "DequantizeLinear" for u in users):
                findings.append(
                    _finding(
                        "error",
                        "qdq-unpaired",
                        label(n),
                        [label(n)],
                        f"QuantizeLinear '{label(n)}' feeds {', '.join(u.op_type for u in users) or 'nothing'}, not a "
                        "DequantizeLinear: TensorRT's explicit quantization needs every Q followed by a DQ",
                        "follow the QuantizeLinear with a DequantizeLinear of the same scale, or remove it",
                    )
                )
        if n.op_type in QDQ_OPS and len(n.input) > 2 and n.input[2] in initializers:
            zero = numpy_helper.to_array(initializers[n.input[2]])
            if np.any(np.asarray(zero, dtype=np.float64) != 0):
                findings.append(
                    _finding(
                        "error",
                        "qdq-asymmetric",
                        label(n),
                        [label(n)],
                        f"{n.op_type} '{label(n)}' has a non-zero zero point: TensorRT supports symmetric quantization "
                        "only",
                        "use zero points of 0 (symmetric ranges), as workbench.precision.quantize does",
                    )
                )
        if (
            n.op_type == "DequantizeLinear" and n.input[0] in initializers and initializers[n.input[0]].data_type == 6
        ):  # INT32: a quantized bias
            findings.append(
                _finding(
                    "error",
                    "qdq-int32-bias",
                    label(n),
                    [label(n)],
                    f"DequantizeLinear '{label(n)}' dequantizes an INT32 tensor (a quantized bias): TensorRT rejects it",
                    "keep biases in float; TensorRT quantizes them itself",
                )
            )
        if n.op_type in WEIGHTED_OPS:
            data = [t for t in n.input[:2] if t]
            quantized = [from_dq(t) is not None for t in data]
            if any(quantized) and not all(quantized):
                floats = [t for t, q in zip(data, quantized) if not q]
                findings.append(
                    _finding(
                        "warning",
                        "qdq-partial-input",
                        label(n),
                        [label(n)],
                        f"{n.op_type} '{label(n)}' has Q/DQ on some inputs but not on {', '.join(floats)}: TensorRT "
                        "cannot fuse the Q/DQ pairs into an INT8 kernel and runs it in floating point",
                        f"quantize every input of {n.op_type} (activations per tensor, weights per channel)",
                    )
                )
        if n.op_type == "Add":
            acts = [t for t in n.input if t not in initializers and t in producer]
            if len(acts) != 2:
                continue
            branch = []
            for t in acts:  # look through a DQ to see which branch is the convolution
                p = producer[t]
                if p.op_type == "DequantizeLinear" and p.input[0] in producer:
                    q = producer[p.input[0]]
                    p = producer.get(q.input[0], q) if q.op_type == "QuantizeLinear" else q
                branch.append(p.op_type in ("Conv", "ConvTranspose", "BatchNormalization"))
            if not any(branch):
                continue
            quantized = [from_dq(t) is not None for t in acts]
            model_quantized = any(from_dq(t) for w in nodes if w.op_type in WEIGHTED_OPS for t in w.input[:1])
            if not model_quantized:
                continue
            conv_side = [t for t, b in zip(acts, branch) if b]
            if not any(quantized):
                residual = acts[branch.index(False)] if not all(branch) else acts[1]
                findings.append(
                    _finding(
                        "warning",
                        "qdq-residual-add",
                        label(n),
                        [label(n)],
                        f"skip-connection Add '{label(n)}' has no Q/DQ on its residual input '{residual}': TensorRT "
                        "cannot fuse the Add into the convolution's INT8 epilogue, so the Add stays in higher "
                        "precision as its own layer with reformats around it",
                        f"insert Q/DQ on the residual input '{residual}' (NVIDIA's placement recommendation; "
                        "workbench.precision.quantize(target='tensorrt') does this)",
                    )
                )
            elif all(quantized) and not all(branch) and len(conv_side) == 1:
                findings.append(
                    _finding(
                        "warning",
                        "qdq-conv-output-before-add",
                        label(n),
                        [label(n)],
                        f"the convolution output '{conv_side[0]}' is quantized before Add '{label(n)}': a Q/DQ between "
                        "a Conv and the Add it feeds stops TensorRT fusing Conv+Add (the Conv writes INT8, the Add "
                        "reads it back and requantizes)",
                        f"remove the Q/DQ on '{conv_side[0]}' and quantize only the residual input",
                    )
                )
        if n.op_type == "Concat":
            inputs = [t for t in n.input if t not in initializers]
            dqs = [from_dq(t) for t in inputs]
            if any(dqs) and not all(dqs):
                findings.append(
                    _finding(
                        "warning",
                        "qdq-concat-mixed",
                        label(n),
                        [label(n)],
                        f"Concat '{label(n)}' joins quantized and float inputs: TensorRT keeps it in higher precision "
                        "and inserts reformats",
                        "quantize every input of the Concat with one shared scale",
                    )
                )
            elif dqs and all(dqs):
                scales = {scale_of(d) for d in dqs}
                if len(scales) > 1 and None not in scales:
                    findings.append(
                        _finding(
                            "warning",
                            "qdq-concat-scales",
                            label(n),
                            [label(n)],
                            f"Concat '{label(n)}' inputs have {len(scales)} different scales: TensorRT must requantize "
                            "each input (reformat layers) instead of concatenating INT8 in place",
                            "give all Concat inputs one shared scale (e.g. the largest amax of them)",
                        )
                    )
    return _frame(findings)


# --- the engine ------------------------------------------------------------------------------------------------
def lint_engine(
    source: BuildResult | PathArg | dict | list[dict],
    model: ModelSource | None = None,
    *,
    gpu: str = "a100",
    profile: PathArg | pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Findings on an engine (BuildResult, or layer-information JSON with an optional ``profile``) and, when known,
    on the Q/DQ model behind it (``model``, or the BuildResult's own model).

    Reformat costs come from the profile when there is one, else from the GPU estimate on ``gpu``.
    """
    from .estimate import estimate_engine, layer_workload

    if model is None and hasattr(source, "model") and hasattr(source, "log"):
        model = source.model
    if model is not None:
        from ..model import load_model

        model = load_model(model)  # a path (the CLI's --model) or a ModelProto as well as a Model
    work = layer_workload(source, model=model)
    findings = []
    if profile is not None:
        from .layers import join_profile, read_profile

        time_ms = join_profile(work, read_profile(profile))["time_ms"].to_numpy(dtype=float)
        time_label = "measured"
    else:
        time_ms = estimate_engine(work, gpu).layers["estimated_ms"].to_numpy()
        time_label = f"estimated on {gpu}"
    total = float(np.nansum(time_ms)) or 1.0
    op_types = {}
    if model is not None:
        from ..model import load_model
        from .layers import onnx_node_index

        model = load_model(model)
        op_types = {name: node.op_type for name, node in onnx_node_index(model).items()}
    int8_plan = (work["precision"] == "int8").any()
    model_has_qdq = any(op in QDQ_OPS for op in op_types.values())
    consumers: dict = {}
    for i, inputs in enumerate(work["inputs"]):
        for tensor in inputs:
            consumers.setdefault(tensor, []).append(i)
    for position, (row, t) in enumerate(zip(work.itertuples(index=False), time_ms)):
        nodes = list(row.onnx_nodes)
        if (
            row.op in ("conv", "gemm")
            and row.precision == "int8"
            and any(d in ("float32", "float16") for d in row.output_dtypes)
        ):
            after = [
                i
                for tensor in row.outputs
                for i in consumers.get(tensor, [])
                if work["op"].iat[i] not in ("conv", "gemm")
            ]
            cost = float(np.nansum([time_ms[i] for i in after])) if after else 0.0
            findings.append(
                _finding(
                    "info",
                    "int8-epilogue-separate",
                    row.name,
                    nodes,
                    f"the INT8 {row.op} writes {'/'.join(sorted(set(row.output_dtypes)))}; its epilogue (bias, "
                    f"normalization, activation, requantization) runs as a separate layer "
                    f"{', '.join(work['name'].iat[i] for i in after[:2]) or '(next layer)'} ({cost * 1e3:.1f} us, "
                    f"{time_label}), which reads the wide output back",
                    "TensorRT-RTX's ahead-of-time (CPU) build lays INT8 convolutions out like this; a GPU build usually "
                    "fuses the epilogue: check its layer information (trtexec --exportLayerInfo) before changing the "
                    "model. Folding BatchNormalization does not remove it",
                )
            )
        # A Q/DQ layer only where the layer's ONNX origins are all Q/DQ nodes (and, with the model known, where it
        # has Q/DQ at all): a reformat that carries float nodes' names is a reformat, not an unfused Q/DQ.
        is_qdq = (
            bool(nodes)
            and (model_has_qdq or model is None)
            and all(op_types.get(x, x.split("_")[0]) in QDQ_OPS for x in nodes)
        )
        if row.op == "reformat" or is_qdq:
            share = (t / total) if t == t else 0.0
            severity = "warning" if share > REFORMAT_WARN_SHARE else "info"
            what = (
                f"standalone {'/'.join(sorted({op_types.get(x, x.split('_')[0]) for x in nodes}))} layer "
                f"(a Q/DQ TensorRT could not fuse into a neighbour)"
                if is_qdq
                else "reformat layer"
            )
            findings.append(
                _finding(
                    severity,
                    "qdq-unfused" if is_qdq else "reformat",
                    row.name,
                    nodes,
                    f"{what}: {t * 1e3:.1f} us ({share:.0%} of the engine, {time_label})" if t == t else what,
                    "quantize the network input once (expected for the first layer)"
                    if is_qdq and position == 0
                    else (
                        "move the Q/DQ next to a Conv/Gemm it can fuse with, or remove it"
                        if is_qdq
                        else "keep neighbouring layers in one precision and format (same precision on both sides, channel "
                        "counts aligned to the vector width)"
                    ),
                )
            )
            continue
        if row.op not in ("conv", "gemm"):
            continue
        if int8_plan and row.precision in ("float32", "float16", "bfloat16"):
            findings.append(
                _finding(
                    "warning",
                    "precision-left-float",
                    row.name,
                    nodes,
                    f"{row.op} layer runs in {row.precision} in an INT8 engine ({t * 1e3:.1f} us, {time_label})",
                    "put Q/DQ on its inputs (activations and weights) if its accuracy allows, or keep it in float "
                    "deliberately (a sensitive layer)",
                )
            )
        need = ALIGNMENT.get(row.precision)
        if need is None:
            continue
        if row.op == "conv" and row.weight_shape and len(row.weight_shape) >= 2:
            channels = {"input channels": int(row.weight_shape[1]), "output channels": int(row.weight_shape[0])}
            if row.weight_shape[1] == 1:  # depthwise: no GEMM K to align
                channels.pop("input channels")
        else:
            channels = {
                "K (reduction)": int(row.gemm_k) if row.gemm_k == row.gemm_k else 0,
                "N (output features)": int(row.gemm_n) if row.gemm_n == row.gemm_n else 0,
            }
        for what, value in channels.items():
            if value and value % need:
                small_input = what == "input channels" and value <= 4  # an image input: TensorRT pads it itself
                findings.append(
                    _finding(
                        "info" if small_input else "warning",
                        "tensor-core-alignment",
                        row.name,
                        nodes,
                        f"{what} = {value} is not a multiple of {need} for {row.precision} Tensor Core kernels: "
                        f"TensorRT pads to {-(-value // need) * need} (wasted work) or picks a slower kernel",
                        f"pad {what} to a multiple of {need}"
                        + (" (32 is best for INT8)" if row.precision == "int8" else ""),
                    )
                )
    engine_findings = _frame(findings)
    if model is not None:
        return _frame(lint_qdq_model(model).to_dict(orient="records") + engine_findings.to_dict(orient="records"))
    return engine_findings


def lint_summary(findings: pd.DataFrame) -> dict:
    counts = findings["severity"].value_counts().to_dict() if len(findings) else {}
    return {s: int(counts.get(s, 0)) for s in SEVERITY_ORDER}
