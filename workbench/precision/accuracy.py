"""How much a lower precision costs: output error vs the FP32 reference, task accuracy, per-layer sensitivity, and
a mixed-precision plan that keeps the most sensitive layers in FP32 until a target is met.

Models run with ONNX Runtime on the CPU (QDQ models with its int8 kernels; float8 and bfloat16 models with ONNX's
reference evaluator), so every number here is measured.
"""

from __future__ import annotations

import threading
from typing import Mapping, TYPE_CHECKING

import numpy as np
import onnx
import pandas as pd

from ..errors import ConfigError
from ..model import check_feeds, load_model
from ..progress import ProgressCallback, ProgressReporter
from .guards import QDQ_OPS

if TYPE_CHECKING:
    from ..model.sources import ModelSource
    from .calibrate import CalibrationTable
    from .data import DataSource
    from .plan import PrecisionPlan


def _needs_reference(model) -> bool:
    """float8 and bfloat16 models: ONNX Runtime's CPU has no (correct) kernels for them."""
    types = {
        onnx.TensorProto.FLOAT8E4M3FN,
        onnx.TensorProto.FLOAT8E4M3FNUZ,
        onnx.TensorProto.FLOAT8E5M2,
        onnx.TensorProto.FLOAT8E5M2FNUZ,
        onnx.TensorProto.BFLOAT16,
    }
    return any(t.data_type in types for t in model.proto.graph.initializer)


def _has_qdq(model) -> bool:
    from ..model.subgraphs import walk_nodes

    return any(ref.node.op_type in QDQ_OPS for ref in walk_nodes(model.proto))  # If/Loop/Scan bodies too


class _ReferenceSession:
    """ONNX's reference evaluator behind ONNX Runtime's ``run`` signature.

    Used for float8 models — ONNX Runtime 1.32's CPU float8 Q/DQ gives wrong numbers (measured on digits_cnn: SQNR
    -6.9 dB and 22 % accuracy, where the reference evaluator gives the expected small error) — and for bfloat16
    models, which it cannot run at all ("no implementation for Conv(22)"). Slow, but correct.
    """

    def __init__(self, model):
        from onnx.reference import ReferenceEvaluator

        self.evaluator = ReferenceEvaluator(model.proto)

    def run(self, names, feeds):
        return self.evaluator.run(names, feeds)


def _session(model, int8_kernels: bool = False):
    import onnxruntime as ort

    if _needs_reference(model):
        return _ReferenceSession(model)

    options = ort.SessionOptions()
    options.log_severity_level = 4  # failures are raised, and reported once in the workbench's words
    if not int8_kernels and _has_qdq(model):
        # A Q/DQ model is evaluated as written (each DequantizeLinear, then the float op; every other optimization
        # stays on): the quantization error itself, the same on every CPU. The int8 kernels that ONNX Runtime's
        # QDQSelectorActionTransformer fuses Q/DQ groups into would measure the CPU instead: on x86 without VNNI
        # (AVX2: AMD Zen 2/3, Intel before Ice Lake) they add u8 x s8 products in saturating 16-bit pairs
        # (vpmaddubsw), which TensorRT's int32 accumulation never does. Measured on an AVX2 Zen 3, the nested-If
        # Scan of tests/precision/test_scan_quantize.py: SQNR 15-20 dB with the int8 kernels, 29-39 dB as written.
        disabled = ["QDQSelectorActionTransformer"]
    else:
        disabled = []
    try:
        return ort.InferenceSession(
            model.to_bytes(), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
        )
    except Exception as exc:
        raise ConfigError(f"ONNX Runtime cannot run {model.label} on the CPU: {exc}") from None


def _batches(model, data, batch_size: int):
    """Feed dicts from a single array (single-input models), a dict of arrays, or an iterable of feed dicts."""
    if isinstance(data, np.ndarray) or (
        isinstance(data, Mapping) and all(isinstance(v, np.ndarray) for v in data.values())
    ):
        feeds = {model.inputs[0].name: data} if isinstance(data, np.ndarray) else dict(data)
        n = len(next(iter(feeds.values())))
        for start in range(0, n, batch_size):
            yield check_feeds(
                model, {k: v[start : start + batch_size] for k, v in feeds.items()}, what="evaluation data"
            )
    else:
        for feeds in data:
            yield check_feeds(model, feeds, what="evaluation data")


def run_outputs(
    model: ModelSource, data: DataSource, batch_size: int = 64, *, int8_kernels: bool = False
) -> dict[str, np.ndarray]:
    """Every output of ``model`` over ``data``, concatenated along the batch axis. A Q/DQ model runs as written
    (the quantization error, the same on every CPU); ``int8_kernels``: through ONNX Runtime's fused int8 kernels,
    as a CPU deployment runs it (on x86 without VNNI they saturate 16-bit pairs)."""
    model = load_model(model)
    session = _session(model, int8_kernels)
    names = [o.name for o in model.outputs]
    chunks: dict[str, list] = {n: [] for n in names}
    for feeds in _batches(model, data, batch_size):
        for name, value in zip(names, session.run(names, feeds)):
            chunks[name].append(np.asarray(value, dtype=np.float32))
    if not any(chunks.values()):
        raise ConfigError("evaluation data is empty")
    return {n: np.concatenate(v) for n, v in chunks.items()}


def error_metrics(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """max abs error, max error relative to the reference's range, cosine similarity, SQNR (dB), top-1 agreement."""
    ref = reference.astype(np.float64).reshape(len(reference), -1)
    got = candidate.astype(np.float64).reshape(len(candidate), -1)
    diff = got - ref
    noise = float((diff**2).sum())
    signal = float((ref**2).sum())
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1)
    cosine = float(np.mean(np.where(norms > 0, (ref * got).sum(axis=1) / np.maximum(norms, 1e-30), 1.0)))
    out = {
        "max_abs_error": float(np.abs(diff).max()),
        "max_rel_error": float(np.abs(diff).max() / max(np.abs(ref).max(), 1e-30)),
        "cosine": cosine,
        "sqnr_db": float(10 * np.log10(signal / noise)) if noise > 0 else float("inf"),
    }
    if ref.shape[1] > 1:
        out["top1_agreement"] = float(np.mean(ref.argmax(1) == got.argmax(1)))
    return out


def compare(
    reference: ModelSource,
    candidate: ModelSource,
    data: DataSource,
    *,
    labels: np.ndarray | None = None,
    batch_size: int = 64,
    reference_outputs: dict | None = None,
    int8_kernels: bool = False,
) -> pd.DataFrame:
    """One row per output: the error metrics of ``candidate`` against ``reference``, and accuracy with labels.
    ``int8_kernels``: see run_outputs."""
    reference, candidate = load_model(reference), load_model(candidate)
    ref = reference_outputs or run_outputs(reference, data, batch_size, int8_kernels=int8_kernels)
    got = ref if candidate is reference else run_outputs(candidate, data, batch_size, int8_kernels=int8_kernels)
    rows = []
    for name in ref:
        if name not in got:
            raise ConfigError(f"output '{name}' of {reference.label} is not an output of {candidate.label}")
        row = {"output": name, **error_metrics(ref[name], got[name])}
        if labels is not None:
            labels = np.asarray(labels)
            if len(labels) != len(got[name]):
                raise ConfigError(f"{len(labels)} labels for {len(got[name])} evaluated samples")
            row["accuracy"] = float(np.mean(got[name].reshape(len(labels), -1).argmax(1) == labels))
            row["reference_accuracy"] = float(np.mean(ref[name].reshape(len(labels), -1).argmax(1) == labels))
        rows.append(row)
    return pd.DataFrame(rows)


def accuracy_table(
    reference: ModelSource,
    candidates: Mapping[str, ModelSource],
    data: DataSource,
    *,
    labels: np.ndarray | None = None,
    batch_size: int = 64,
) -> pd.DataFrame:
    """One row per candidate (first output): precision, calibrator, error metrics and accuracy; FP32 first."""
    reference = load_model(reference)
    ref = run_outputs(reference, data, batch_size)
    first = reference.outputs[0].name
    rows = []
    for name, candidate in {"fp32": reference, **candidates}.items():
        candidate = load_model(candidate)
        metrics = (
            compare(reference, candidate, data, labels=labels, batch_size=batch_size, reference_outputs=ref)
            .set_index("output")
            .loc[first]
            .to_dict()
        )
        rows.append(
            {
                "variant": name,
                "precision": candidate.precision or "fp32",
                "calibrator": candidate.calibrator or "",
                **metrics,
            }
        )
    return pd.DataFrame(rows)


def layer_sensitivity(
    model: ModelSource,
    table: CalibrationTable,
    data: DataSource,
    *,
    labels: np.ndarray | None = None,
    target: str = "tensorrt",
    batch_size: int = 64,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> pd.DataFrame:
    """Quantize one layer at a time and measure the output's SQNR (and accuracy with labels) against FP32.

    Sorted from the most harmful layer (lowest SQNR) to the least. Stopped through ``cancel``, it returns the
    layers measured so far (perhaps none) with ``attrs['partial']`` True; ``attrs['planned']`` is the layer count.
    """
    from .qdq import quantize

    model = load_model(model)
    full = quantize(model, table, target=target)
    candidates = list(full.report.loc[full.report["quantized"], "node"])
    ref = run_outputs(model, data, batch_size)
    first = model.outputs[0].name
    rows = []
    report = ProgressReporter(on_progress)
    stopped = False
    for i, node in enumerate(candidates):
        if cancel is not None and cancel.is_set():
            stopped = True
            break
        others = [n for n in candidates if n != node]
        single = quantize(model, table, target=target, exclude_nodes=others).model
        got = run_outputs(single, data, batch_size)
        metrics = error_metrics(ref[first], got[first])
        op = next(n.op_type for n in model.nodes if n.name == node)
        row = {"node": node, "op": op, "sqnr_db": metrics["sqnr_db"], "cosine": metrics["cosine"]}
        if labels is not None:
            row["accuracy"] = float(np.mean(got[first].reshape(len(labels), -1).argmax(1) == labels))
        rows.append(row)
        report(f"sensitivity: {node}", (i + 1) / len(candidates))
    columns = ["node", "op", "sqnr_db", "cosine"] + (["accuracy"] if labels is not None else [])
    frame = pd.DataFrame(rows, columns=columns).sort_values("sqnr_db", kind="stable").reset_index(drop=True)
    frame.attrs.update(partial=stopped, planned=len(candidates))
    return frame


def mixed_precision(
    model: ModelSource,
    table: CalibrationTable,
    data: DataSource,
    *,
    labels: np.ndarray | None = None,
    target_accuracy: float | None = None,
    target_sqnr_db: float | None = None,
    target: str = "tensorrt",
    batch_size: int = 64,
    sensitivity: pd.DataFrame | None = None,
) -> tuple[PrecisionPlan, pd.DataFrame]:
    """Keep the most sensitive layers in FP32, one at a time, until the target accuracy (or SQNR) is met.

    Returns ``(plan, steps)``: a PrecisionPlan with ``keep_nodes`` and a DataFrame of each step's metrics, whose
    ``target_met`` column says which steps meet the target. When none does (not even with every layer in FP32),
    ``steps.attrs['target_met']`` is False and ``steps.attrs['note']`` says so; the plan then keeps every layer
    that was tried in FP32.
    """
    from .plan import PrecisionPlan
    from .qdq import quantize

    if (target_accuracy is None) == (target_sqnr_db is None):
        raise ConfigError("give exactly one of target_accuracy (needs labels) or target_sqnr_db")
    if target_accuracy is not None and labels is None:
        raise ConfigError("target_accuracy needs labels")
    model = load_model(model)
    sensitivity = (
        sensitivity
        if sensitivity is not None
        else layer_sensitivity(model, table, data, labels=labels, target=target, batch_size=batch_size)
    )
    ref = run_outputs(model, data, batch_size)
    first = model.outputs[0].name
    kept: list[str] = []
    steps = []
    for step in range(len(sensitivity) + 1):
        quantized = (
            quantize(model, table, target=target, exclude_nodes=kept).model if step < len(sensitivity) else model
        )
        got = run_outputs(quantized, data, batch_size)
        metrics = error_metrics(ref[first], got[first])
        accuracy = (
            float(np.mean(got[first].reshape(len(labels), -1).argmax(1) == labels)) if labels is not None else None
        )
        met = (accuracy >= target_accuracy) if target_accuracy is not None else metrics["sqnr_db"] >= target_sqnr_db
        steps.append(
            {"kept_in_fp32": list(kept), "sqnr_db": metrics["sqnr_db"], "accuracy": accuracy, "target_met": bool(met)}
        )
        if met or step == len(sensitivity):
            break
        kept.append(sensitivity["node"].iloc[step])
    plan = PrecisionPlan(
        table.precision,
        keep_nodes=tuple(kept),
        calibrator=table.calibrator,
        target=target,
        percentile=table.percentile or 99.99,
    )
    frame = pd.DataFrame(steps)
    frame.attrs["target_met"] = bool(met)
    if not met:
        wanted = f"accuracy {target_accuracy:g}" if target_accuracy is not None else f"SQNR {target_sqnr_db:g} dB"
        reached = f"accuracy {accuracy:.4g}" if target_accuracy is not None else f"SQNR {metrics['sqnr_db']:.4g} dB"
        frame.attrs["note"] = (
            f"target {wanted} not met: with {len(kept)} of {len(sensitivity)} layers kept in "
            f"FP32 the best is {reached}"
            + (" (the sensitivity ranking was partial)" if sensitivity.attrs.get("partial") else "")
        )
    return plan, frame


def layerwise_errors(
    reference: ModelSource, candidate: ModelSource, data: DataSource, *, min_sqnr_db: float = 20.0, batch_size: int = 64
) -> pd.DataFrame:
    """Every intermediate tensor of ``candidate`` (e.g. INT8) against ``reference`` (FP32), in the reference's node
    order, and the first one that diverges: Polygraphy's accuracy-debugging workflow (``polygraphy run --onnxrt
    --onnx-outputs mark all``, saved and compared outputs), on the CPU with ONNX Runtime.

    Tensors are matched by name (the Q/DQ models the workbench writes keep the float tensors' names). One row per
    tensor: the node that writes it, its op, the error metrics of ``error_metrics``, and ``diverges`` (SQNR below
    ``min_sqnr_db``). ``attrs["first_divergent"]``: the first such tensor's node, or None. Graph optimizations are
    off on both sides so every tensor survives; weights and constants are not compared.
    """
    from .calibrate import augmented_session

    reference, candidate = load_model(reference), load_model(candidate)
    produced = {out: node for node in candidate.proto.graph.node for out in node.output}
    order = [
        (out, node)
        for node in reference.proto.graph.node
        for out in node.output
        if out in produced and node.op_type not in ("Constant", "Shape")
    ]
    if not order:
        raise ConfigError(
            f"{candidate.label} shares no tensor name with {reference.label}: nothing to compare layer by layer"
        )
    names = [name for name, _ in order]
    results = []
    for model in (reference, candidate):
        session = augmented_session(model, names)
        chunks: dict[str, list] = {n: [] for n in names}
        for feeds in _batches(model, data, batch_size):
            for name, value in zip(names, session.run(names, feeds)):
                chunks[name].append(np.asarray(value, dtype=np.float32))
        results.append({n: np.concatenate(v) if v and v[0].ndim else np.asarray(v[0]) for n, v in chunks.items()})
    rows = []
    for name, node in order:
        ref, got = results[0][name], results[1][name]
        if ref.shape != got.shape or ref.ndim == 0 or not np.issubdtype(ref.dtype, np.floating):
            continue
        metrics = error_metrics(ref, got)
        metrics.pop("top1_agreement", None)
        rows.append(
            {
                "tensor": name,
                "node": node.name,
                "op": node.op_type,
                **metrics,
                "diverges": metrics["sqnr_db"] < min_sqnr_db,
            }
        )
    table = pd.DataFrame(rows)
    first = table.loc[table.diverges, "node"]
    table.attrs["first_divergent"] = str(first.iloc[0]) if len(first) else None
    table.attrs["min_sqnr_db"] = min_sqnr_db
    return table


MIN_SQNR_DB = 20.0  # below this an output no longer tracks FP32 (digits_cnn: 37 dB int8, 98 % accuracy kept)
ZEROED_SHARE = 0.5  # more than half of an output's non-zero FP32 values coming out exactly 0: destroyed


def _upstream_quantized(model, tensor: str) -> list[str]:
    """The quantized activations nearest above ``tensor`` (inputs of the QuantizeLinear nodes first met)."""
    producers = {o: n for n in model.nodes for o in n.output}
    found, seen, todo = [], set(), [tensor]
    while todo:
        node = producers.get(todo.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type == "DequantizeLinear":
            q = producers.get(node.input[0])
            if q is not None and q.op_type == "QuantizeLinear":
                found.append(q.input[0])
            continue
        todo += [t for t in node.input if t]
    return list(dict.fromkeys(found))


def check_quantized(
    reference: ModelSource,
    quantized: ModelSource,
    data: DataSource,
    *,
    min_sqnr_db: float = MIN_SQNR_DB,
    on_failure: str = "raise",
    batch_size: int = 64,
) -> pd.DataFrame:
    """The floor after quantizing: every output of ``quantized`` against FP32 ``reference`` on held-back ``data``
    (samples not used for calibration). One row per output: SQNR, top-1 agreement, and ``zeroed`` (the share of
    values FP32 gives as non-zero that come out exactly 0: a quantization step wider than twice those values).

    An output below ``min_sqnr_db``, or with more than half its values zeroed, fails: ``on_failure="raise"`` raises
    QuantizationAccuracyError, ``"warn"`` warns; both name the outputs and the quantized tensors feeding them
    (their scale, against the typical magnitude of the output) and say what to do."""
    import warnings

    from ..errors import QuantizationAccuracyError

    if on_failure not in ("raise", "warn"):
        raise ConfigError(f"on_failure '{on_failure}' must be 'raise' or 'warn'")
    reference, quantized = load_model(reference), load_model(quantized)
    ref = run_outputs(reference, data, batch_size)
    got = run_outputs(quantized, data, batch_size)
    scales = {}
    inits = {t.name: t for t in quantized.proto.graph.initializer}
    for node in quantized.nodes:
        if node.op_type == "QuantizeLinear" and node.input[1] in inits:
            scales[node.input[0]] = float(np.max(onnx.numpy_helper.to_array(inits[node.input[1]])))
    rows, problems = [], []
    for name, expected in ref.items():
        if name not in got:
            raise ConfigError(f"output '{name}' of {reference.label} is not an output of {quantized.label}")
        metrics = error_metrics(expected, got[name])
        nonzero = expected != 0
        zeroed = float(np.mean(got[name][nonzero] == 0)) if nonzero.any() else 0.0
        failed = metrics["sqnr_db"] < min_sqnr_db or zeroed > ZEROED_SHARE
        upstream = _upstream_quantized(quantized, name)
        rows.append(
            {
                "output": name,
                "sqnr_db": metrics["sqnr_db"],
                "top1_agreement": metrics.get("top1_agreement"),
                "zeroed": zeroed,
                "passed": not failed,
                "quantized_inputs": upstream,
            }
        )
        if failed:
            typical = float(np.median(np.abs(expected[nonzero]))) if nonzero.any() else 0.0
            writer = {o: n.name for n in quantized.nodes for o in n.output}
            feeding = (
                ", ".join(
                    f"'{t}' written by '{writer.get(t, 'the graph input')}' (step {scales[t]:.3g})"
                    for t in upstream[:3]
                    if t in scales
                )
                or "none"
            )
            why = (
                f"{zeroed:.0%} of its non-zero values come out 0 (typical |x| {typical:.3g}: under half a "
                "quantization step)"
                if zeroed > ZEROED_SHARE
                else f"SQNR {metrics['sqnr_db']:.1f} dB < {min_sqnr_db:g} dB"
            )
            problems.append(f"output '{name}': {why}; nearest quantized tensors: {feeding}")
    frame = pd.DataFrame(rows)
    if problems:
        message = (
            f"{quantized.label} is below the accuracy floor on {len(next(iter(got.values())))} held-back "
            f"samples: " + "; ".join(problems) + ". Keep the nodes writing those tensors in float "
            "(quantize(..., exclude_nodes=[...]); the default placement rules keep graph-output writers "
            "float), try calibrator 'auto' or 'minmax', or see layer_sensitivity()"
        )
        if on_failure == "raise":
            raise QuantizationAccuracyError(message, frame)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return frame
