"""`workbench` console entry point."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import TYPE_CHECKING, Callable, Sequence

from ..errors import WorkbenchError
from ..redact import redact

if TYPE_CHECKING:
    import pandas as pd

COMMANDS: dict[str, tuple[Callable, str]] = {}


def command(name: str, help: str) -> Callable[[Callable], Callable]:
    """Register ``fn(args) -> (text, json_obj[, exit status])`` as a subcommand; ``configure`` adds options."""

    def register(fn):
        COMMANDS[name] = (fn, help)
        return fn

    return register


def _emit(args, text: str, obj) -> None:
    print(redact(json.dumps(obj, indent=2, default=str) if args.json else text))


# --- inspect / samples -----------------------------------------------------------------------------------------
def _configure_inspect(p):
    p.add_argument("model", help="path to an .onnx file, or a bundled sample name")
    p.add_argument(
        "--shapes",
        help="input shapes for the work estimate, e.g. input:1x3x224x224, or a preset of an "
        "LLM decoder with a KV cache: prefill or decode",
    )
    p.add_argument("--fold-constants", action="store_true", help="fold constant subgraphs into initializers first")


@command("inspect", "describe a model: inputs, outputs, ops, parameters, estimated MACs/FLOPs")
def cmd_inspect(args: argparse.Namespace) -> tuple[str, dict]:
    from ..model import load_model
    from ..model.kv_cache import describe_kv_cache

    model = load_model(args.model, fold_constants=args.fold_constants)
    shapes = args.shapes  # NAME:dims text or a preset's name, checked by model.shapes
    info = model.stats.to_dict(shapes)
    text = plain_table(model.stats.summary(shapes)) + "\n\n" + model.stats.op_table().to_string(index=False)

    kv = _kv_cache(model, shapes)
    if len(kv):
        info["kv_cache"] = kv.to_dict(orient="records")
        text += "\n\n" + describe_kv_cache(kv) + "\n" + kv.to_string(index=False)
    sources = model.shapes.sources(shapes)
    if len(sources):
        text += "\n\ndynamic dimensions (give --shapes to change them):\n" + plain_table(sources)
    return text, info


def plain_table(df: "pd.DataFrame") -> str:
    """A table whose last column is left as it is, not padded: one long value (an LLM's shapes, a detail) no longer
    pads every line to hundreds of columns."""
    columns = [str(c) for c in df.columns]
    rows = [[str(v) for v in row] for row in df.itertuples(index=False)]
    widths = [max([len(columns[i])] + [len(r[i]) for r in rows]) for i in range(len(columns) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(line[:-1], widths)), line[-1]]).rstrip()
        for line in [columns, *rows]
    ]
    return "\n".join(lines)


def _kv_cache(model, shapes):
    """The KV-cache table at the maximum of the build profile these shapes give (what ``build`` would use)."""
    from ..engines.config import BuildConfig
    from ..model.kv_cache import kv_cache_inputs, kv_cache_table

    if not kv_cache_inputs(model.inputs):
        return kv_cache_table([], {})
    profiles = BuildConfig(shapes=model.shapes.resolve(shapes)).profiles(model)
    return kv_cache_table(model.inputs, {name: hi for name, (_, _, hi) in profiles.items()})


def _configure_samples(p):
    pass


@command("samples", "list the bundled sample models")
def cmd_samples(args: argparse.Namespace) -> tuple[str, list[dict]]:
    from ..model import list_samples

    df = list_samples()
    return df.to_string(index=False), df.to_dict(orient="records")


CONFIGURE = {"inspect": _configure_inspect, "samples": _configure_samples}


def build_parser() -> argparse.ArgumentParser:
    from . import (  # noqa: F401  (importing a command module registers its commands)
        analysis_commands,
        app_command,
        bench_commands,
        engine_commands,
        fold_branch_command,
        graph_commands,
        precision_commands,
        reduce_command,
    )
    from . import check_commands  # noqa: F401  (register)
    from . import llm_quant_commands  # noqa: F401  (register)

    parser = argparse.ArgumentParser(prog="workbench", description="TensorRT Workbench command line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_fn, help) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        CONFIGURE.get(name, lambda _: None)(p)
        p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
        p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    return parser


def _warning_format(command: str) -> Callable[..., str]:
    """Warnings as one line of the workbench's (``workbench inspect: warning: ...``), not Python's file:line and the
    source line that raised it (``warnings.formatwarning``, so whoever records warnings still gets them)."""

    def format_warning(message, category, filename, lineno, line=None) -> str:
        return redact(f"workbench {command}: warning: {' '.join(str(message).split())}") + "\n"

    return format_warning


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    fn, _ = COMMANDS[args.command]
    previous = warnings.formatwarning  # restored after: main() also runs inside tests and notebooks
    if not args.debug:
        warnings.formatwarning = _warning_format(args.command)
    try:
        return _run(args, fn)
    finally:
        warnings.formatwarning = previous


def _run(args, fn) -> int:
    try:
        text, obj, *status = fn(args)  # a third value: the exit status (a gate that failed prints, then exits 1)
    except WorkbenchError as exc:
        if args.debug:
            raise
        print(redact(f"workbench {args.command}: error: {exc}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"workbench {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a user error: still one line unless --debug
        if args.debug:
            raise
        print(
            redact(f"workbench {args.command}: internal error: {type(exc).__name__}: {exc} (rerun with --debug)"),
            file=sys.stderr,
        )
        return 2
    try:
        _emit(args, text, obj)
        sys.stdout.flush()
    except BrokenPipeError:  # `workbench runs | head`: the reader left; not an error (Python's documented recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return status[0] if status else 0


if __name__ == "__main__":
    # Run as `python -m workbench.cli.main`, this file is `__main__`, not the `workbench.cli.main` module that the
    # command modules register into: delegate to that one so every subcommand is there.
    from workbench.cli.main import main as registered_main

    sys.exit(registered_main())
