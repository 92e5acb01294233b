"""CI subcommands: check (the gate: exit 1 when the engine regresses) and report (a notebook nbval verifies)."""

from __future__ import annotations

import argparse
import sys

from .main import CONFIGURE, command


def _progress(stage, fraction):
    if sys.stderr.isatty():
        print(f"\r{stage[:60]:60s}", end="", file=sys.stderr, flush=True)


def _load_policy(path):
    from ..bench.check import CheckPolicy

    return CheckPolicy.from_toml(path) if path else CheckPolicy()


def _configure_check(p):
    p.add_argument("model", help="ONNX model or sample to build and check")
    p.add_argument("--policy", help="TOML file of thresholds (docs/ci/policy.toml shows every key)")
    p.add_argument("--baseline", help="a baseline JSON file, or store:TAG / store:MODEL@TAG in the results store")
    p.add_argument(
        "--store", help="results store for store: baselines (default $WORKBENCH_RESULTS or ./workbench-results.sqlite)"
    )
    p.add_argument("--junit", help="also write JUnit XML here, one test case per check")
    p.add_argument("--save-baseline", help="write what this run measured as a baseline: a JSON file, or store:TAG")


@command("check", "build, lint and measure a model's engine; exit 1 when it breaks the policy or the baseline")
def cmd_check(args: argparse.Namespace) -> tuple[str, dict, int]:
    from ..bench.check import record_baseline, resolve_baseline, run_check
    from ..model import load_model

    policy = _load_policy(args.policy)
    model = load_model(args.model)
    baseline = resolve_baseline(args.baseline, model.name, store_url=args.store)
    report = run_check(model, policy, baseline, recording=bool(args.save_baseline), on_progress=_progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    text, info = report.text(), report.to_dict()
    if args.junit:
        info["junit"] = str(report.save_junit(args.junit))
    if args.save_baseline:
        if not report.passed or report.build is None:
            text += "\nbaseline not saved: the checks failed (a baseline records a run that holds)"
        elif args.save_baseline.startswith("store:"):
            from ..bench.store import ResultsStore

            tag = args.save_baseline[len("store:") :]
            store = ResultsStore(args.store)
            record_baseline(store, report.build, report.current, tag, report.measurement)
            info["saved_baseline"] = f"{store.location} ({model.name}@{tag})"
            text += f"\nbaseline recorded in {info['saved_baseline']}"
        else:
            info["saved_baseline"] = str(report.current.save(args.save_baseline))
            text += f"\nbaseline written to {info['saved_baseline']}"
    return text, info, 0 if report.passed else 1


def _configure_report(p):
    p.add_argument("model", help="ONNX model or sample the report is about")
    p.add_argument("-o", "--output", required=True, help="the notebook to write, e.g. report.ipynb")
    p.add_argument("--policy", help="TOML policy file (its thresholds become the notebook's check cells)")
    p.add_argument("--baseline", help="a baseline JSON file, or store:TAG / store:MODEL@TAG")
    p.add_argument("--no-execute", action="store_true", help="write the notebook without running it")


@command("report", "write (and run) a report notebook on a model: fusion, precision, lint, baseline, latency")
def cmd_report(args: argparse.Namespace) -> tuple[str, dict, int]:
    from ..bench.report import write_report

    path, checks = write_report(
        args.model, args.output, policy=args.policy, baseline=args.baseline, execute=not args.no_execute
    )
    size = path.stat().st_size
    info = {"output": str(path), "bytes": size, "executed": not args.no_execute, "failed_checks": checks}
    text = f"wrote {path} ({size / 1024:.0f} KiB{', executed' if not args.no_execute else ''})"
    if checks:
        text += "\nchecks that failed: " + ", ".join(checks)
    return text, info, 1 if checks else 0


CONFIGURE.update({"check": _configure_check, "report": _configure_report})
