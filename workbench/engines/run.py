"""Run a built engine on a GPU and compare its outputs with ONNX Runtime (Polygraphy's runners and Comparator)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typing import TYPE_CHECKING

from ..model.feeds import generate_feeds

if TYPE_CHECKING:
    from .build import BuildResult


def compare_with_onnxruntime(
    result: BuildResult, feeds: dict | None = None, *, atol: float = 1e-3, rtol: float = 1e-3
) -> pd.DataFrame:
    """Per output: max absolute/relative error of TensorRT vs ONNX Runtime, and whether it is within tolerance."""
    from polygraphy.backend.onnxrt import OnnxrtRunner, SessionFromOnnx
    from polygraphy.backend.trt import EngineFromBytes, TrtRunner
    from polygraphy.comparator import Comparator, CompareFunc

    opt_shapes = {name: opt for name, (_, opt, _) in result.profiles.items()}
    feeds = feeds or generate_feeds(result.model, opt_shapes)
    result.check_shapes({k: tuple(v.shape) for k, v in feeds.items()})
    runners = [
        TrtRunner(EngineFromBytes(result.engine_bytes)),
        OnnxrtRunner(SessionFromOnnx(result.model.to_bytes(), providers=["CPUExecutionProvider"])),
    ]
    run_results = Comparator.run(runners, data_loader=[feeds])
    (trt_name, trt_outputs), (ort_name, ort_outputs) = [(n, r[0]) for n, r in run_results]
    rows = []
    for name in ort_outputs.keys():
        a = np.asarray(trt_outputs[name], dtype=np.float64)
        b = np.asarray(ort_outputs[name], dtype=np.float64)
        diff = np.abs(a - b)
        rel = diff / np.maximum(np.abs(b), 1e-12)
        rows.append(
            (name, float(diff.max()), float(rel.max()), atol, rtol, bool(np.all(diff <= atol + rtol * np.abs(b))))
        )
    # Polygraphy's own verdict too (same tolerances), so the numbers agree with `polygraphy run --trt --onnxrt`.
    verdict = bool(Comparator.compare_accuracy(run_results, compare_func=CompareFunc.simple(atol=atol, rtol=rtol)))
    df = pd.DataFrame(rows, columns=["output", "max_abs_error", "max_rel_error", "atol", "rtol", "within_tolerance"])
    df.attrs.update(runners=[trt_name, ort_name], polygraphy_passed=verdict)
    return df
