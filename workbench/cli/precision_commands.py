"""Precision subcommands: calibrate, quantize (thin shells over workbench.precision)."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from ..precision.calibrators import CALIBRATORS, DEFAULT_CALIBRATOR
from ..precision.plan import FLOAT_CONVERSIONS, QUANTIZED, REMAINDER_PRECISIONS
from .engine_commands import end_progress, progress_to_stderr
from .main import CONFIGURE, command
from .shapes_option import add_shapes_option, model_at_shapes, shapes_line


def _add_calibration_options(p, *, default_calibrator: str = DEFAULT_CALIBRATOR):
    p.add_argument("model", help="an .onnx model or a bundled sample name")
    p.add_argument("--calibrator", default=default_calibrator, help=f"{', '.join(CALIBRATORS)} (default %(default)s)")
    p.add_argument(
        "--calib-data",
        help="folder or file of .npy/.npz calibration samples (or digits:calibration for the bundled digits split)",
    )
    p.add_argument("--samples", type=int, help="use at most this many calibration samples")
    p.add_argument("--batch-size", type=int, help="calibration batch size for arrays (default 32)")
    p.add_argument("--percentile", type=float, default=99.99, help="for --calibrator percentile (default 99.99)")
    add_shapes_option(p)


def _calibration_data(args):
    if not args.calib_data:
        raise ConfigError("--calib-data is required: a folder or file of .npy/.npz samples")
    if args.calib_data.startswith("digits:"):
        from ..model.datasets import digits

        return digits(args.calib_data.split(":", 1)[1])[0]
    return args.calib_data


def _calibrate(args, model, precision: str, **only):
    from ..precision import calibrate
    from ..precision.calibrators import check_calibrator

    calibrator = check_calibrator(args.calibrator)
    fusion_groups = None
    if calibrator == "entropy":  # calibrated after fusion: the engine's fused groups say which tensors remain
        from ..engines import build_engine

        fusion_groups = list(build_engine(model).layers.onnx_nodes)

    table = calibrate(
        model,
        _calibration_data(args),
        calibrator,
        precision=precision,
        percentile=args.percentile,
        samples=args.samples,
        batch_size=args.batch_size,
        fusion_groups=fusion_groups,
        on_progress=progress_to_stderr,
        **only,
    )
    end_progress()
    return table


def _tensor_rows(table) -> list[dict]:
    return [
        {"tensor": r.tensor, "amax": r.amax, "scale": r.scale, "min": r.min, "max": r.max}
        for r in table.frame.itertuples()
    ]


def _configure_calibrate(p):
    _add_calibration_options(p)
    p.add_argument("--precision", default="int8", choices=QUANTIZED, help="quantized type (default int8)")
    p.add_argument("-o", "--output", help="write the table as JSON")
    p.add_argument("--trt-cache", help="also write TensorRT's calibration-cache text (for TensorRT 10 calibrators)")
    p.add_argument(
        "--trt-version",
        help="version of the TensorRT that will read the cache, for its header (default: the installed TensorRT's)",
    )


@command("calibrate", "calibrate a model's activations: per-tensor amax and scale (JSON, TensorRT cache)")
def cmd_calibrate(args: argparse.Namespace) -> tuple[str, dict]:
    from ..precision.calibrate import tensorrt_version_for_cache

    # Given shapes are proven by one run before minutes of calibration (without them the data's shapes rule).
    model = model_at_shapes(args.model, args.shapes, prove=bool(args.shapes))
    # The cache header's version is settled before calibrating: a missing one fails now, not after the work.
    trt_version = tensorrt_version_for_cache(args.trt_version) if args.trt_cache else None
    table = _calibrate(args, model, args.precision)
    written = {}
    if args.output:
        written["table"] = str(table.save_json(args.output))
    if args.trt_cache:
        written["tensorrt_cache"] = str(table.save_tensorrt_cache(args.trt_cache, trt_version))
    info = {
        "model": model.name,
        "calibrator": table.calibrator,
        "precision": table.precision,
        "percentile": table.percentile,
        "notes": table.notes,
        "tensors": _tensor_rows(table),
        **written,
        "input_shapes": model.shapes.describe(),
    }
    text = table.frame[["tensor", "amax", "scale", "min", "max"]].to_string(index=False)
    return (
        text
        + "".join(f"\n{k}: {v}" for k, v in written.items())
        + "".join(f"\nnote: {n}" for n in table.notes)
        + "\n"
        + shapes_line(model)
    ), info


def _configure_quantize(p):
    _add_calibration_options(p)
    p.add_argument("--precision", default="int8", choices=(*FLOAT_CONVERSIONS, *QUANTIZED), help="target precision")
    p.add_argument(
        "--target",
        default="tensorrt",
        choices=["tensorrt", "onnxruntime"],
        help="Q/DQ placement: TensorRT's recommendations, or what ONNX Runtime's CPU runs as int8",
    )
    p.add_argument(
        "--float-precision",
        default="fp32",
        choices=REMAINDER_PRECISIONS,
        help="int8/fp8, tensorrt target: what the layers left unquantized compute in (default fp32; "
        "fp16 is ModelOpt's default)",
    )
    p.add_argument("--exclude", default="", help="node names kept in FP32, comma-separated")
    p.add_argument("--exclude-op-types", default="", help="op types kept in FP32, comma-separated")
    p.add_argument("-o", "--output", required=True, help="where to write the quantized .onnx model")


@command("quantize", "write a strongly typed model: FP16 casts, or INT8/FP8 Q/DQ with calibrated scales")
def cmd_quantize(args: argparse.Namespace) -> tuple[str, dict]:
    from ..files import check_output_path
    from ..precision import PrecisionPlan, apply_precision, quantize
    from ..precision.guards import check_precision_request, check_written_model
    from ..precision.preflight import check_quantizable

    check_output_path(args.output, "the quantized model", inputs=[p for p in (args.model, args.calib_data) if p])
    model = model_at_shapes(args.model, args.shapes)
    exclude = tuple(n.strip() for n in args.exclude.split(",") if n.strip())
    exclude_ops = tuple(n.strip() for n in args.exclude_op_types.split(",") if n.strip())
    plan = PrecisionPlan(
        args.precision,
        keep_nodes=exclude,
        keep_op_types=exclude_ops,
        calibrator=args.calibrator,
        percentile=args.percentile,
        target=args.target,
        float_precision=args.float_precision,
    )
    plan.check_against(model)
    check_precision_request(model, args.precision)  # in seconds, before any calibration
    if args.precision in QUANTIZED:  # anything to quantize at all? Decided from the graph, before calibrating
        check_quantizable(
            model, args.precision, target=args.target, exclude_nodes=exclude, exclude_op_types=exclude_ops
        )
    if args.precision == "fp8" and args.target == "tensorrt":  # can the TensorRT in use build what we would write?
        from ..engines.fp8 import check_fp8_buildable

        check_fp8_buildable(model.label)
    if args.shapes and args.precision not in ("fp16", "bf16"):
        from ..model.proving import prove_shapes

        prove_shapes(model)  # given shapes proven by one run before minutes of calibration
    if args.precision in ("fp16", "bf16"):
        data = _calibration_data(args) if args.calib_data else None  # with data: fragile nodes stay FP32
        out = apply_precision(model, plan, data)
        check_written_model(out, args.precision)
        path = out.save(args.output)
        info = {
            "model": model.name,
            "precision": args.precision,
            "output": str(path),
            "casts": out.stats.op_histogram.get("Cast", 0),
            "input_shapes": model.shapes.describe(),
        }
        return f"wrote {path} ({args.precision}, {info['casts']} casts)\n{shapes_line(model)}", info
    # Only the tensors the target's quantizer reads are calibrated (the same scales, a fraction of the work); the
    # table goes to quantize, not to a chart: MinMax reads ranges alone
    only = {"only_quantized": True, "target": args.target, "exclude_nodes": exclude, "exclude_op_types": exclude_ops}
    table = _calibrate(args, model, args.precision, **only)
    result = quantize(
        model,
        table,
        target=args.target,
        exclude_nodes=exclude,
        exclude_op_types=exclude_ops,
        float_precision=plan.float_precision,
    )
    check_written_model(result.model, args.precision)
    path = result.model.save(args.output)
    counts = result.counts
    info = {
        "model": model.name,
        "precision": args.precision,
        "calibrator": table.calibrator,
        "target": args.target,
        "float_precision": plan.float_precision,
        "output": str(path),
        **counts,
        "notes": result.notes,
        "tensors": _tensor_rows(table),
        "nodes": result.report.to_dict(orient="records"),
        "input_shapes": model.shapes.describe(),
    }
    text = (
        result.report.to_string(index=False) + f"\n\nwrote {path}: {counts['quantized_nodes']} nodes quantized "
        f"({', '.join(f'{k} {v}' for k, v in counts['by_op'].items())}), {counts['skipped_nodes']} kept in "
        f"float ({plan.float_precision}); {counts['quantize_linear']} QuantizeLinear, {counts['dequantize_linear']} "
        f"DequantizeLinear\n{shapes_line(model)}"
    )
    return text, info


CONFIGURE.update({"calibrate": _configure_calibrate, "quantize": _configure_quantize})
