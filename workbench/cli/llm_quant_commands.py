"""`workbench quantize-llm`: INT4 weight-only (AWQ, round to nearest) and SmoothQuant INT8 for LLM decoders
(thin shell over workbench.precision.weight_only and workbench.precision.smoothquant)."""

from __future__ import annotations

import argparse

from ..precision.plan import REMAINDER_PRECISIONS
from .main import CONFIGURE, command

METHODS = ("awq", "rtn", "smoothquant")


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an .onnx model or a bundled sample name (e.g. llama_tiny)")
    p.add_argument(
        "--method",
        default="awq",
        choices=METHODS,
        help="awq / rtn: int4 weights with per-group scales; smoothquant: INT8 after smoothing",
    )
    p.add_argument("--calib-data", help="folder or file of .npz feeds (keys: input names); not needed for rtn")
    p.add_argument("--samples", type=int, help="use at most this many calibration samples")
    p.add_argument("--block-size", type=int, default=32, help="int4: rows of K per scale (default 32)")
    p.add_argument("--alpha", type=float, default=0.5, help="smoothquant: migration strength (default 0.5)")
    p.add_argument(
        "--float-precision",
        default="fp32",
        choices=REMAINDER_PRECISIONS,
        help="what the activations / unquantized layers compute in (fp16 for int4: W4A16)",
    )
    p.add_argument("-o", "--output", required=True, help="where to write the quantized .onnx model")


@command("quantize-llm", "LLM quantization: INT4 weight-only (AWQ per-group scales) or SmoothQuant INT8, as Q/DQ")
def cmd_quantize_llm(args: argparse.Namespace) -> tuple[str, dict]:
    from ..errors import ConfigError
    from ..files import check_output_path
    from ..model import load_model
    from ..precision.guards import check_precision_request, check_written_model

    check_output_path(args.output, "the quantized model", inputs=[p for p in (args.model, args.calib_data) if p])
    model = load_model(args.model)
    check_precision_request(model, "int8")  # a model with Q/DQ already (or ONNX Runtime's integer ops) is refused
    if args.method != "rtn" and not args.calib_data:
        raise ConfigError(f"--method {args.method} needs --calib-data: a folder or file of .npz feeds")
    if args.method == "smoothquant":
        from ..precision.smoothquant import smoothquant

        result = smoothquant(
            model, args.calib_data, alpha=args.alpha, samples=args.samples, float_precision=args.float_precision
        )
    else:
        from ..precision.weight_only import quantize_weights_int4

        result = quantize_weights_int4(
            model,
            args.calib_data,
            method=args.method,
            block_size=args.block_size,
            samples=args.samples,
            float_precision=args.float_precision,
        )
    check_written_model(result.model, result.precision)
    path = result.model.save(args.output)
    counts = result.counts
    info = {
        "model": model.name,
        "method": args.method,
        "precision": result.precision,
        "float_precision": args.float_precision,
        "output": str(path),
        **counts,
        "notes": result.notes,
        "nodes": result.report.to_dict(orient="records"),
    }
    text = (
        result.report.to_string(index=False) + f"\n\nwrote {path}: {counts['quantized_nodes']} nodes "
        f"{result.precision} ({args.method}), {counts['skipped_nodes']} kept in float"
        + "".join(f"\nnote: {n}" for n in result.notes)
    )
    return text, info


CONFIGURE["quantize-llm"] = _configure
