"""Engine subcommands: env, layers, build (thin shells over workbench.engines)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING


from ..errors import ConfigError
from ..model.tensors import dims_text
from .main import CONFIGURE, command
from .shapes_option import SHAPES_HELP, check_branch_inputs, engine_shapes, model_at_shapes, split_branch_values

if TYPE_CHECKING:
    from ..engines import BuildConfig
    from ..engines.build import BuildResult
    from ..model import Model


def add_build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shapes", help=SHAPES_HELP + "; min = opt = max")
    p.add_argument("--min-shapes", help="profile minimum shapes (with --opt-shapes and --max-shapes)")
    p.add_argument("--opt-shapes", help="profile optimum shapes")
    p.add_argument("--max-shapes", help="profile maximum shapes")
    p.add_argument("--opt-level", type=int, help="builder optimization level 0..5")
    p.add_argument("--workspace", type=int, help="workspace memory pool limit in MiB")
    p.add_argument("--max-aux-streams", type=int, help="auxiliary streams TensorRT may use (0: one stream)")
    p.add_argument("--timing-cache", help="timing cache file, read and updated across builds")
    p.add_argument("--no-cache", action="store_true", help="do not use the engine cache")


def build_config_from_args(args: argparse.Namespace) -> BuildConfig:
    from ..engines import BuildConfig
    from ..model import parse_shapes

    from ..model.shapes import PRESETS

    # A preset's name (--shapes prefill) travels with the model (model_at_shapes), not as shapes of inputs.
    text = split_branch_values(args.shapes)[0]  # a branch switch's value folds the model (model_at_shapes)
    shapes: dict = {} if (text or "").strip() in PRESETS else dict(parse_shapes(text))
    ranges = [_range_option(args, k) for k in RANGE_KINDS]
    if any(ranges):
        if not all(ranges) or not (set(ranges[0]) == set(ranges[1]) == set(ranges[2])):
            raise ConfigError("--min-shapes, --opt-shapes and --max-shapes must be given together, for the same inputs")
        for name in ranges[0]:
            shapes[name] = (ranges[0][name], ranges[1][name], ranges[2][name])
    pools = {"workspace": args.workspace * 2**20} if args.workspace else {}
    return BuildConfig(
        shapes=shapes,
        optimization_level=args.opt_level,
        memory_pool_limits=pools,
        max_aux_streams=args.max_aux_streams,
        timing_cache=args.timing_cache,
    )


RANGE_KINDS = ("min", "opt", "max")


def _range_option(args: argparse.Namespace, kind: str) -> dict:
    """``--min-shapes`` (or opt, max) parsed; a branch switch's value there is a ConfigError saying where it goes."""
    from ..model import parse_shapes

    text = getattr(args, f"{kind}_shapes", None)
    if text and "=" in text:
        item = next(part.strip() for part in text.split(",") if "=" in part)
        raise ConfigError(
            f"--{kind}-shapes item {item!r}: a branch switch's value (use_cache_branch=true|false) goes in --shapes, "
            f"once for the whole profile; --{kind}-shapes takes shapes, NAME:1x128"
        )
    return dict(parse_shapes(text))


def proven_model(args: argparse.Namespace, model_arg: "str | Model | None" = None) -> Model:
    """The model to build, at --shapes, proven by one ONNX Runtime run before the build (see model.proving). With
    a profile given by --min/--opt/--max-shapes (TensorRT's to check: no run), --shapes still counts: its preset,
    its shapes and a branch switch's value (use_cache_branch=false folds the If), and the profile may then name
    only inputs of the branch it chose (else a ConfigError naming the option and the value)."""
    source = model_arg if model_arg is not None else args.model
    if not any(getattr(args, f"{k}_shapes", None) for k in RANGE_KINDS):
        return model_at_shapes(source, args.shapes, prove=True)
    model = model_at_shapes(source, args.shapes)
    values = split_branch_values(args.shapes)[1]
    if values:
        check_branch_inputs(model, values, {f"--{k}-shapes": _range_option(args, k) for k in RANGE_KINDS})
    return model


def profiles_line(result: "BuildResult") -> str:
    """``optimization profiles: decode (profile 0), prefill (profile 1)`` for an engine with several ("" for one)."""
    named = getattr(result, "named_profiles", {}) or {}
    if len(named) < 2:
        return ""
    parts = []
    for index, (name, profile) in enumerate(named.items()):
        ranges = ", ".join(f"{n} {dims_text(lo)}..{dims_text(hi)}" for n, (lo, _, hi) in profile.items() if lo != hi)
        parts.append(f"{name} (profile {index}{': ' + ranges if ranges else ''})")
    return "\noptimization profiles of the one engine: " + "; ".join(parts)


def progress_to_stderr(stage: str, fraction: float | None) -> None:
    """The CLI's one progress printer: one line on a terminal's stderr, rewritten in place (nothing when stderr is a
    file or a pipe, so logs and --json output stay clean); :func:`end_progress` ends the line."""
    if sys.stderr.isatty():
        done = f"{fraction:4.0%}" if fraction is not None else "    "
        print(f"\r{done} {stage[:100]:<100}", end="", file=sys.stderr, flush=True)


def end_progress() -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)


def _layers_text(info: dict) -> str:
    network = info.get("network_layers")
    lines = [
        f"{info['flavor']} {info['version']}: {info['onnx_nodes']} ONNX nodes -> "
        f"{len(network) if network is not None else '?'} network layers -> {len(info['engine_layers'])} "
        "engine layers"
    ]
    for f in info["fusions"]:
        lines.append(f"  {f['count']:4d} x {f['pattern']}")
    inserted = ", ".join(f"{count} {kind}" for kind, count in info.get("inserted_layers", {}).items())
    if inserted:
        lines.append(f"  layers TensorRT inserted (no ONNX origin): {inserted}")
    unmapped = info.get("unmapped_onnx_nodes") or []
    if unmapped:
        from ..engines.layers import UNMAPPED_KINDS

        counts: dict[str, int] = {}
        for node in unmapped:
            counts[node["kind"]] = counts.get(node["kind"], 0) + 1
        lines.append(
            f"  ONNX nodes no engine layer names ({len(unmapped)}): "
            + ", ".join(f"{c} {UNMAPPED_KINDS[k]}" for k, c in sorted(counts.items(), key=lambda kc: -kc[1]))
        )
    from ..engines.memory import describe_activation_memory

    mem = info.get("memory") or {}
    activation = describe_activation_memory(mem)
    if activation:
        lines.append(activation)
    if mem.get("weights_bytes") is not None:
        lines.append(f"weights: {mem['weights_bytes']:,} bytes")
    return "\n".join(lines)


def _configure_env(p):
    pass


@command("env", "show which TensorRT flavour and version is used, and whether a GPU here can run engines")
def cmd_env(args: argparse.Namespace) -> tuple[str, dict]:
    from ..engines import tensorrt_environment

    env = tensorrt_environment()
    return str(env), env.to_dict()


def _configure_layers(p):
    p.add_argument("model", nargs="?", help="ONNX model or sample to build and inspect")
    p.add_argument(
        "--engine-json",
        help="layer information exported on a GPU machine (IEngineInspector JSON or trtexec --exportLayerInfo)",
    )
    p.add_argument("--profile", help="trtexec --exportProfile JSON, joined as per-layer time_ms")
    p.add_argument("--onnx", help="with --engine-json: the ONNX model, to name the fused op types")
    add_build_options(p)


@command("layers", "engine layers after fusion with their ONNX origins, fusions, memory and streams")
def cmd_layers(args: argparse.Namespace) -> tuple[str, dict]:
    if args.engine_json:
        from ..engines import fusion_summary, read_layer_information, stream_map
        from ..engines.layers import UNKNOWN, engine_json_origin
        from ..model import load_model

        df = read_layer_information(args.engine_json, args.profile)
        origin = engine_json_origin(args.engine_json)  # what the file states, never a guess
        model = load_model(args.onnx) if args.onnx else None
        fusion = fusion_summary(df, model).to_dict()
        records = []
        for r in df.to_dict(orient="records"):
            row = {
                "name": r["name"],
                "type": r["type"],
                "kind": r["kind"],
                "onnx_nodes": r["onnx_nodes"],
                "stream": r["stream"],
                "output_dtypes": r["output_dtypes"],
                "tactic": r["tactic"],
            }
            if "time_ms" in r:
                row["time_ms"] = None if r["time_ms"] != r["time_ms"] else r["time_ms"]
            records.append(row)
        info = {
            **origin,
            "source": args.engine_json,
            "onnx_nodes": fusion["onnx_nodes"] if model is not None else None,
            "network_layers": None,
            "engine_layers": records,
            "fusions": fusion["fusions"],
            "inserted_layers": fusion["inserted_layers"],
            "memory": None,
            "unmapped_onnx_nodes": fusion["unmapped_onnx_nodes"],
            "streams": stream_map(df).to_dict(orient="records"),
        }
        missing = " and ".join(k.replace("flavor", "flavour") for k, v in origin.items() if v == UNKNOWN)
        stated = {
            "flavor": origin["flavor"] if origin["flavor"] != UNKNOWN else "TensorRT",
            "version": " ".join(
                filter(
                    None,
                    [
                        origin["version"] if origin["version"] != UNKNOWN else "",
                        f"({missing} not stated in the file)" if missing else "",
                    ],
                )
            ),
        }
        text = _layers_text({**info, **stated, "onnx_nodes": info["onnx_nodes"] or "?"})
        if model is not None:
            text += _llm_views(df, model, info)
        return text, info
    if not args.model:
        raise ConfigError("give a MODEL to build, or --engine-json FILE to read layers exported elsewhere")
    from ..engines import build_engine

    model = proven_model(args)
    result = build_engine(model, build_config_from_args(args), cache=not args.no_cache, on_progress=progress_to_stderr)
    info = result.to_dict()
    views = _llm_views(result.layers, model, info)
    shapes = engine_shapes(model, result.profiles)
    return (
        _layers_text(info) + views + "\nshapes: " + shapes + profiles_line(result),
        {**info, "input_shapes": shapes},
    )


def _llm_views(layers, model, info: dict) -> str:
    """Per-block table and fused attention (LLMs, transformers), added to ``info``; "" when neither applies."""
    from ..engines.llm_views import describe_fused_attention, fused_attention, fusion_by_block

    blocks, attention = fusion_by_block(layers, model), fused_attention(layers, model)
    info["decoder_blocks"] = blocks.to_dict(orient="records")
    info["fused_attention"] = attention.to_dict(orient="records")
    text = ""
    if len(blocks):
        text += "\n\nengine layers per decoder block:\n" + blocks.to_string(
            index=False, formatters={"work_share": "{:.1%}".format}
        )
    if len(attention):
        top = attention.groupby("region", sort=False).head(8)
        text += (
            "\n\n"
            + "\n".join(describe_fused_attention(attention))
            + " (heaviest shown):\n"
            + top.to_string(
                index=False, formatters={"share_of_region": "{:.1%}".format, "share_of_model": "{:.1%}".format}
            )
        )
    return text


def _configure_build(p):
    p.add_argument("model", help="ONNX model or sample")
    p.add_argument("-o", "--output", help="write the serialized engine here")
    add_build_options(p)


@command("build", "build a TensorRT engine (cached), print what TensorRT did")
def cmd_build(args: argparse.Namespace) -> tuple[str, dict]:
    from ..engines import build_engine

    model = proven_model(args)
    result = build_engine(model, build_config_from_args(args), cache=not args.no_cache, on_progress=progress_to_stderr)
    if args.output:
        result.save(args.output)
    info = result.to_dict()
    if args.output:
        info["output"] = args.output
    info["input_shapes"] = engine_shapes(model, result.profiles)  # the engine's inputs (a fold removes some)
    text = (
        _layers_text(info)
        + "\n"
        + f"shapes: {info['input_shapes']}"
        + profiles_line(result)
        + (
            f"\nengine: {args.output or info['engine']} "
            f"({'cache hit' if result.cache_hit else f'built in {result.build_seconds:.2f} s'})"
        )
    )
    return text, info


CONFIGURE.update({"env": _configure_env, "layers": _configure_layers, "build": _configure_build})
