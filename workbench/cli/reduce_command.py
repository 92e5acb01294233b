"""`workbench reduce`: shrink a model TensorRT rejects to the smallest failing subgraph."""

from __future__ import annotations

import argparse
import contextlib
import sys

from .engine_commands import progress_to_stderr
from .main import CONFIGURE, command


def _configure_reduce(p):
    p.add_argument("model", help="an .onnx model or a bundled sample name that TensorRT fails to build")
    p.add_argument(
        "--shapes", help="input shapes to build at, e.g. images:1x3x640x640 (default: the model's estimated shapes)"
    )
    p.add_argument(
        "--match",
        help="regular expression the failure must match to count (default: TensorRT's "
        "error code of the whole model's failure)",
    )
    p.add_argument("--time-limit", type=float, default=180.0, help="seconds to search at most (default 180)")
    p.add_argument("-o", "--output", help="also save the reduced model to this .onnx file")


@command(
    "reduce", "shrink a model TensorRT rejects to the smallest subgraph that still fails (bisection on the CPU builder)"
)
def cmd_reduce(args: argparse.Namespace) -> tuple[str, dict]:
    from ..engines import reduce
    from ..model import parse_shapes

    # Every failing build makes TensorRT print its errors through Polygraphy's logger, on stdout: keep stdout
    # for the result (--json must stay parseable).
    with contextlib.redirect_stdout(sys.stderr):
        result = reduce(
            args.model,
            parse_shapes(args.shapes) if args.shapes else None,
            match=args.match,
            time_limit=args.time_limit,
            on_progress=progress_to_stderr,
        )
    info = result.to_dict()
    if args.output:
        info["output"] = str(result.model.save(args.output))
    state = "" if result.complete else " (stopped early: the smallest found so far)"
    text = (
        f"{len(result.nodes)} of {result.original_nodes} ONNX nodes still fail{state} "
        f"({result.builds} builds, {result.seconds:.1f} s):\n  "
        + "\n  ".join(result.nodes[:40])
        + (f"\n  … {len(result.nodes) - 40} more" if len(result.nodes) > 40 else "")
        + f"\nTensorRT: {result.error}"
        + (f"\nsaved {info['output']}" if args.output else "")
    )
    return text, info


CONFIGURE.update({"reduce": _configure_reduce})
