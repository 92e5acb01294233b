"""Engine analysis subcommands: estimate (GPU time without a GPU), lint, diff (thin shells over workbench.engines)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from .engine_commands import add_build_options, build_config_from_args, progress_to_stderr
from .main import CONFIGURE, command


def _is_layer_json(value: str | None) -> bool:
    return bool(value) and str(value).lower().endswith(".json")


def _build(model_arg: str, args, precision: str = "fp32"):
    """A CPU build of the model (or sample) in ``precision`` with the shared build options, at --shapes proven by one
    ONNX Runtime run (a model that cannot run there fails now, in words): the engine the analysis looks at."""
    from ..engines import build_engine
    from ..engines.estimate.variants import opt_shapes, parse_variants, precision_variant

    from .engine_commands import proven_model

    config = build_config_from_args(args)
    model = proven_model(args, model_arg)
    variant = precision_variant(model, parse_variants(precision)[0], opt_shapes(config))
    return build_engine(variant, config, cache=not args.no_cache)


# --- estimate --------------------------------------------------------------------------------------------------
def _configure_estimate(p):
    p.add_argument("model", nargs="?", help="ONNX model or sample name, built here with the CPU builder")
    p.add_argument(
        "--gpu",
        default="a100",
        help="GPU to estimate for (a100, h100, t4, rtx4090, l4, ...; an unknown name lists the known ones)",
    )
    p.add_argument(
        "--precision-variants",
        help="comma-separated precisions to build and compare, e.g. "
        "fp32,fp16,int8 (INT8 calibrates on random inputs: timing only)",
    )
    add_build_options(p)  # --shapes, profiles, --opt-level, --workspace, --no-cache, ...: as `build`
    p.add_argument("--engine-json", help="layer information exported on a GPU machine, estimated instead of a build")
    p.add_argument("--profile", help="with --engine-json: trtexec --exportProfile JSON, compared with the estimate")
    p.add_argument(
        "--accuracy",
        action="store_true",
        help="print how well the estimate predicts each recorded TensorRT engine it was not fitted on, and stop",
    )
    p.add_argument(
        "--onnx",
        help="with --engine-json: the ONNX model the engine was built from, so Myelin "
        "(ForeignNode) regions are costed from the ONNX nodes they absorbed",
    )
    p.add_argument(
        "--decode-params",
        type=float,
        help="LLM decode: the decoder's parameter count (e.g. 8e9); prints tokens/s on --gpu and the bound, and stops",
    )
    p.add_argument(
        "--decode",
        default="layers=32,kv_heads=8,head_dim=128,hidden=4096,context=2048,batch=1,dtype=bfloat16",
        help="with --decode-params: the decoder's shape, key=value pairs (default: Llama-3-8B, 2,048 "
        "tokens of context, batch 1, BF16 weights and cache)",
    )
    p.add_argument(
        "--latency-ms",
        type=float,
        help="with --profile: the engine's end-to-end GPU time on that machine "
        "(trtexec's 'GPU Compute Time'), so the per-layer comparison "
        "allows for the profiler's own overhead; read from a TREx "
        "*.profile.metadata.json beside the profile when there is one",
    )


def _estimate_text(est, title: str) -> str:
    table = est.layers[["name", "op", "precision", "bound", "estimated_ms"]].copy()
    table["name"] = table["name"].str.slice(0, 60)
    table["basis"] = est.layers["basis"]
    missing = (
        f"\n{len(est.layers_without_shapes)} layers without shapes, not estimated: "
        f"{', '.join(est.layers_without_shapes[:8])}"
        if est.layers_without_shapes
        else ""
    )
    band = est.band
    if band:
        missing += (
            f"\nnot estimated: {band['not_estimated_layers']} layers; time in layers the fit never saw: "
            f"{band['unseen_fraction'] * 100:.0f} % of the estimate; error band from: "
            f"{', '.join(band['resembling'])}"
        )
    notes = est.layers.loc[est.layers["note"] != "", ["name", "note"]]
    if len(notes):
        missing += "\n" + "\n".join(f"  {n[:50]}: {t}" for n, t in notes.head(12).itertuples(index=False))
    total = f"at least {est.total_ms:.4f} ms (lower bound)" if est.lower_bound else f"{est.total_ms:.4f} ms"
    return f"{title}: {total} on {est.gpu.label}\n{est.label}{missing}\n" + table.to_string(index=False)


def _decode_text(args):
    from ..engines.estimate.decode import decode_estimate, kv_cache_bytes

    try:
        shape = {k.strip(): v.strip() for k, v in (kv.split("=", 1) for kv in args.decode.split(",") if kv)}
        dims = {k: int(shape[k]) for k in ("layers", "kv_heads", "head_dim", "hidden", "context", "batch")}
    except (ValueError, KeyError) as exc:
        raise ConfigError(
            f"--decode '{args.decode}': expected layers=,kv_heads=,head_dim=,hidden=,context=,batch=,"
            f"dtype= (problem: {exc})"
        ) from exc
    dtype = shape.get("dtype", "bfloat16")
    kv = kv_cache_bytes(
        dims["layers"],
        dims["kv_heads"],
        dims["head_dim"],
        dims["context"],
        dims["batch"],
        dtype if dtype in ("float16", "bfloat16", "float8", "int8") else "float16",
    )
    est = decode_estimate(
        args.decode_params,
        args.gpu,
        weight_dtype=dtype,
        kv_bytes=kv,
        batch=dims["batch"],
        context=dims["context"],
        layers=dims["layers"],
        hidden=dims["hidden"],
    )
    text = (
        f"decode on {est.gpu}: {est.tokens_per_s:.0f} tokens/s ({est.step_ms:.3f} ms per step, batch "
        f"{dims['batch']}, context {dims['context']}), bound: {est.bound}; weights {est.weight_bytes / 1e9:.2f} GB"
        f" + KV cache {est.kv_bytes / 1e9:.2f} GB per step (estimate; efficiencies from PyTorch kernels on "
        f"H200, see benchmarks/bench_estimate.py)"
    )
    return text, est.to_dict()


@command(
    "estimate",
    "estimate an engine's time per layer on a GPU you do not have (roofline fitted on real "
    "TensorRT profiles; its measured error is printed with every figure)",
)
def cmd_estimate(args: argparse.Namespace) -> tuple[str, dict]:
    from ..engines.estimate import accuracy_summary, accuracy_table, estimate_engine, gpu_spec

    if args.accuracy:
        table, summary = accuracy_table(), accuracy_summary()
        return (
            f"{summary['method']}\n{table.to_string(index=False)}",
            {"summary": summary, "recordings": table.to_dict(orient="records")},
        )
    gpu_spec(args.gpu)  # an unknown GPU fails before any build
    if args.decode_params:
        return _decode_text(args)
    if args.onnx and not args.engine_json:
        raise ConfigError("--onnx goes with --engine-json (the model that engine was built from)")
    if args.engine_json:
        if args.precision_variants:
            raise ConfigError("--precision-variants needs a model to build, not --engine-json")
        model = None
        if args.onnx:
            from ..model import load_model

            model = load_model(args.onnx)
        est = estimate_engine(args.engine_json, args.gpu, model=model)
        info = est.to_dict()
        text = _estimate_text(est, Path(args.engine_json).name)
        if args.profile:
            comparison = est.compare(args.profile, latency_ms=args.latency_ms)
            info["comparison"] = {
                "metrics": comparison.attrs["metrics"],
                "layers": comparison.replace({float("nan"): None}).to_dict(orient="records"),
            }
            m = comparison.attrs["metrics"]
            allowance = (
                f"; each layer allows {m['profiler_overhead_ms'] * 1e3:.1f} us of profiler overhead"
                if m["compared_with"] == "end-to-end GPU time"
                else ""
            )
            text += (
                f"\n\nestimate vs measured profile: per-layer median abs error {m['median_abs_pct_error']:.0f} %,"
                f" total {m['total_pct_error']:+.0f} % ({m['estimated_total_ms']:.4f} vs "
                f"{m['measured_total_ms']:.4f} ms, the {m['compared_with']}{allowance}), "
                f"Spearman {m['spearman']:.2f}\n"
                + comparison[["name", "estimated_ms", "measured_ms", "error_pct"]]
                .assign(name=comparison["name"].str.slice(0, 60))
                .to_string(index=False)
            )
        return text, info
    if not args.model:
        raise ConfigError("give a model (or sample name) to build, or --engine-json FILE")
    if args.profile or args.latency_ms:
        raise ConfigError("--profile and --latency-ms go with --engine-json (a profile of that engine)")
    from ..engines.estimate.variants import estimate_model
    from ..model import load_model

    from .engine_commands import proven_model

    given = load_model(args.model)  # loaded once: the If it may fold is named from it in the work line
    model = proven_model(args, given)  # at --shapes as `build` takes them: preset, shapes, a branch switch's value
    variants = args.precision_variants or "fp32"
    table, estimates = estimate_model(
        model,
        args.gpu,
        variants,
        config=build_config_from_args(args),
        cache=not args.no_cache,
        on_progress=progress_to_stderr,
    )
    first = next(iter(estimates.values()))
    info = first.to_dict()
    info["precision"] = table["precision"].iloc[0]
    if len(estimates) > 1:
        info["variants"] = [
            {**row, "layers": estimates[row["precision"]].to_dict()["layers"]}
            for row in table.to_dict(orient="records")
        ]
    text = "\n\n".join(_estimate_text(e, f"{args.model} {p}") for p, e in estimates.items())
    if len(estimates) > 1:
        text += "\n\n" + table.to_string(index=False) + f"\n({first.label})"
    return text + _onnx_work_line(given, model, first.source, args.shapes, info), info


def _onnx_work_line(given, model, built, shapes: str | None, info: dict) -> str:
    """The ONNX work of the model the engine ``built`` is built from, at the engine's opt shapes (profile 0), said
    as a lower bound where some nodes have no shape. A merged decoder's If folded before the build (by ``--shapes
    use_cache_branch=...`` or by the build, engines.branch_switch) is counted as the branch built, and named; an If
    the engine keeps is counted as ``model.work`` says (which branch, and why)."""
    from ..model.branch_fold import branch_switches
    from ..model.work import lower_bound_note
    from .shapes_option import branch_setting, engine_shapes, split_branch_values

    opt = {name: tuple(r[1]) for name, r in built.profiles.items()}
    work = built.model.stats.estimate_flops(opt)
    note = lower_bound_note(work)
    chosen = split_branch_values(shapes)[1]
    by = "--shapes" if chosen else "the build's shapes"
    values = chosen or built.branch_fold or {}
    folded = [s for s in branch_switches(given.proto) if s.condition in values]
    if folded:
        ifs = ", ".join(
            f"If '{s.node}' folded into its {'then' if values[s.condition] else 'else'} branch" for s in folded
        )
        what = f"ONNX model as built ({ifs}: {branch_setting(values)}, from {by})"
    else:
        what = "ONNX model" + (f" ({'; '.join(work.attrs['branches'])})" if work.attrs.get("branches") else "")
    info.update(
        onnx_macs=int(work["macs"].sum()),
        work_note=note,
        onnx_work_shapes={name: list(dims) for name, dims in opt.items()},
        onnx_work_branches=dict(values) if folded else None,
    )
    return (
        f"\n\n{what}: {'at least ' if note else ''}{work['macs'].sum() / 1e9:.4g} GMACs at "
        f"{engine_shapes(model, built.profiles)}" + (f"; {note}" if note else "")
    )


# --- lint ------------------------------------------------------------------------------------------------------
def _configure_lint(p):
    p.add_argument(
        "target",
        help="an ONNX model or sample (built here, then linted with its Q/DQ placement) or a "
        "layer-information JSON exported on a GPU machine",
    )
    p.add_argument("--model", help="with a layer-information JSON: the ONNX model behind it (adds Q/DQ checks)")
    p.add_argument("--profile", help="with a layer-information JSON: its profile (measured reformat costs)")
    p.add_argument("--precision", default="fp32", help="build the model in this precision first (fp32, fp16, int8)")
    add_build_options(p)
    p.add_argument("--gpu", default="a100", help="GPU whose estimate prices reformats when there is no profile")


@command(
    "lint",
    "find what keeps an engine slow: Q/DQ placement, layers left in float, reformats, channel "
    "alignment; each finding with its layer, ONNX nodes and a fix",
)
def cmd_lint(args: argparse.Namespace) -> tuple[str, list[dict]]:
    from ..engines import lint_engine
    from ..engines.lint import lint_summary

    if _is_layer_json(args.target):
        findings = lint_engine(args.target, model=args.model, gpu=args.gpu, profile=args.profile)
    else:
        if args.profile or args.model:
            raise ConfigError("--profile and --model go with a layer-information JSON, not with a model to build")
        findings = lint_engine(_build(args.target, args, args.precision), gpu=args.gpu)
    records = findings.to_dict(orient="records")
    counts = lint_summary(findings)
    text = f"{counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes"
    for f in records:
        text += f"\n[{f['severity']}] {f['rule']} @ {f['layer'][:70]}\n    {f['message']}\n    fix: {f['fix']}"
    return text, records


# --- diff ------------------------------------------------------------------------------------------------------
def _configure_diff(p):
    p.add_argument("a", help="engine A: ONNX model / sample (built here) or layer-information JSON")
    p.add_argument("b", help="engine B: ONNX model / sample (built here) or layer-information JSON")
    p.add_argument("--profile-a", help="profile JSON of A (with a layer-information JSON)")
    p.add_argument("--profile-b", help="profile JSON of B (with a layer-information JSON)")
    p.add_argument("--precision-a", default="fp32", help="precision to build A in (fp32, fp16, int8; default fp32)")
    p.add_argument("--precision-b", default="fp32", help="precision to build B in (default fp32)")
    add_build_options(p)
    p.add_argument("--gpu", help="estimate times on this GPU where a side has no profile")


@command(
    "diff",
    "compare two engines of one model region by region: layers, precision, fused ops, tactics, reformats and time",
)
def cmd_diff(args: argparse.Namespace) -> tuple[str, dict]:
    from ..engines import diff_engines

    sides, labels = [], []
    for key in "ab":
        target, profile, precision = (
            getattr(args, key),
            getattr(args, f"profile_{key}"),
            getattr(args, f"precision_{key}"),
        )
        if _is_layer_json(target):
            sides.append((target, profile))
            labels.append(Path(target).name)
        else:
            if profile:
                raise ConfigError(f"--profile-{key} goes with a layer-information JSON, not with a model to build")
            sides.append((_build(target, args, precision), None))
            labels.append(f"{target} {precision}")
    if labels[0] == labels[1]:
        labels = [f"A: {labels[0]}", f"B: {labels[1]}"]
    diff = diff_engines(
        sides[0][0], sides[1][0], a_profile=sides[0][1], b_profile=sides[1][1], gpu=args.gpu, labels=tuple(labels)
    )
    shown = diff.regions[
        ["region", "change", "a_layers", "b_layers", "a_precisions", "b_precisions", "reformats_delta", "a_ms", "b_ms"]
    ].copy()
    for col in ("a_layers", "b_layers"):
        shown[col] = shown[col].map(lambda names: f"{len(names)}: " + ", ".join(n[:28] for n in names[:2]))
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        text = (
            f"A = {labels[0]} ({diff.a.time_source} times), B = {labels[1]} ({diff.b.time_source} times)\n"
            + diff.totals.to_string(index=False)
            + "\n\n"
            + shown.to_string(index=False)
        )
    return text, diff.to_dict()


CONFIGURE.update({"estimate": _configure_estimate, "lint": _configure_lint, "diff": _configure_diff})
