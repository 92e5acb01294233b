"""The CI gate: build a model's engine, measure it, and hold it to a policy and a baseline (``workbench check``).

A policy is a small TOML file of thresholds; a baseline is what an earlier run of the gate measured (a compact JSON
file committed beside the model, or a build run in the results store recorded with a tag). ``run_check`` returns a
``CheckReport``: one ``CheckResult`` per check (pass / fail / skip with the reason), as lines, JSON or JUnit XML.

Latency is only compared between runs on the same machine class (CPU model and core count, GPU): a CI runner and
a laptop measure different things. The allowed regression is widened by the measured noise of both runs (the
relative standard error of each median), so a noisy runner does not raise false alarms.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

if TYPE_CHECKING:
    from ..engines import BuildResult
    from ..files import PathArg
    from ..model import Model
    from ..model.sources import ModelSource
    from ..progress import ProgressCallback
    from .harness import Measurement
    from .store import ResultsStore
    import pandas as pd

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, as a package
    import tomli as tomllib  # type: ignore[no-redef]

from ..errors import ConfigError, EngineMismatchError, WorkbenchError
from ..precision.guards import QDQ_OPS
from ..precision.calibrators import DEFAULT_CALIBRATOR
from ..precision.plan import FLOAT_CONVERSIONS, QUANTIZED

BASELINE_FORMAT = "tensorrt-workbench-baseline/1"
LINT_LEVELS = ("no errors", "no warnings", "off")
COMPUTE_OPS = ("conv", "gemm")  # layers that run INT8 kernels when quantized (workload.TENSOR_CORE_OPS)
NOISE_SIGMAS = 2.0  # how many standard errors of the medians the latency threshold allows
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)  # standard error of a median ≈ 1.2533·σ/√n (normal samples)
_RAW_TENSOR_KEYS = ("Name", "Dimensions", "Datatype", "Format", "Format/Datatype")
_RAW_LAYER_KEYS = ("Name", "LayerType", "Metadata", "TacticName", "StreamId")


# --- the policy ---------------------------------------------------------------------------------------------------
@dataclass
class CheckPolicy:
    """What the gate builds and which thresholds it holds the engine to (``None``: not checked).

    Paths (``calibration_data``, ``reference_model``) are relative to the policy file.
    """

    precision: str | None = None  # quantize/cast first: int8, fp8, fp16, bf16; None: build the model as is
    calibrator: str = DEFAULT_CALIBRATOR
    calibration_samples: int = 32  # random inputs (seeded) when no calibration_data is given
    calibration_data: str | None = None  # .npy/.npz file or folder
    reference_model: str | None = None  # FP32 model to measure agreement against (model carries Q/DQ already)
    shapes: str | None = None  # name:1x3x224x224,... for the build, agreement and latency
    agreement_samples: int = 64
    benchmark_seconds: float = 1.0
    max_float_layers_in_int8: int | None = None
    min_top1_agreement: float | None = None
    max_latency_regression: str | None = None  # "10%" or "0.1"
    max_new_reformats: int | None = None
    max_activation_memory_mib: float | None = None
    lint: str = "no errors"
    strict: bool = False  # a check that cannot run here (other machine class) fails, not skips
    source: str = "default policy"

    def __post_init__(self) -> None:
        types = {
            "precision": (str, type(None)),
            "calibrator": str,
            "calibration_samples": int,
            "calibration_data": (str, type(None)),
            "reference_model": (str, type(None)),
            "shapes": (str, type(None)),
            "agreement_samples": int,
            "benchmark_seconds": (int, float),
            "max_float_layers_in_int8": (int, type(None)),
            "min_top1_agreement": (int, float, type(None)),
            "max_latency_regression": (str, int, float, type(None)),
            "max_new_reformats": (int, type(None)),
            "max_activation_memory_mib": (int, float, type(None)),
            "lint": str,
            "strict": bool,
        }
        for name, expected in types.items():
            value = getattr(self, name)
            ok = isinstance(value, expected) and not (isinstance(value, bool) and name != "strict")  # type: ignore[arg-type]
            if not ok:
                names = " or ".join(
                    t.__name__
                    for t in (expected if isinstance(expected, tuple) else (expected,))
                    if t is not type(None)
                )
                raise ConfigError(
                    f"policy {self.source}: '{name}' must be {names}, got {value!r} ({type(value).__name__})"
                )
        if self.precision is not None and self.precision.lower() not in QUANTIZED + FLOAT_CONVERSIONS:
            raise ConfigError(
                f"policy {self.source}: precision '{self.precision}' is not one of "
                f"{', '.join(QUANTIZED + FLOAT_CONVERSIONS)}"
            )
        if self.lint not in LINT_LEVELS:
            raise ConfigError(
                f"policy {self.source}: lint = {self.lint!r} is not one of {', '.join(map(repr, LINT_LEVELS))}"
            )
        if self.min_top1_agreement is not None and not 0 <= self.min_top1_agreement <= 1:
            raise ConfigError(
                f"policy {self.source}: min_top1_agreement must be between 0 and 1 (e.g. 0.99), got "
                f"{self.min_top1_agreement}"
            )
        for name in (
            "calibration_samples",
            "agreement_samples",
            "max_float_layers_in_int8",
            "max_new_reformats",
            "max_activation_memory_mib",
            "benchmark_seconds",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"policy {self.source}: '{name}' must not be negative, got {value}")
        _ = self.latency_regression  # parsed now: a bad value fails before any building

    @property
    def latency_regression(self) -> float | None:
        """``max_latency_regression`` as a fraction (``"10%"`` -> 0.1)."""
        value = self.max_latency_regression
        if value is None:
            return None
        text = str(value).strip()
        try:
            fraction = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise ConfigError(
                f"policy {self.source}: max_latency_regression = {value!r} is not a percentage such "
                'as "10%" (or a fraction such as 0.1)'
            ) from None
        if not math.isfinite(fraction) or fraction < 0:
            raise ConfigError(
                f"policy {self.source}: max_latency_regression must be a non-negative percentage, got {value!r}"
            )
        return fraction

    @property
    def needs_baseline(self) -> list[str]:
        return [k for k in ("max_latency_regression", "max_new_reformats") if getattr(self, k) is not None]

    @classmethod
    def from_toml(cls, path: PathArg) -> CheckPolicy:
        """Read a policy file; an unknown key or a value of the wrong type is a ConfigError naming it."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"policy file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"policy file {path} cannot be read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"policy file {path} is not valid TOML: {exc}") from None
        return cls.from_dict(data, source=str(path), base=path.parent)

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "policy", base: Path | None = None) -> CheckPolicy:
        known = {f.name for f in fields(cls)} - {"source"}
        unknown = sorted(set(data) - known)
        if unknown:
            import difflib

            hints = [
                f" (did you mean '{m[0]}'?)" if (m := difflib.get_close_matches(k, known, 1)) else "" for k in unknown
            ]
            raise ConfigError(
                f"policy {source}: unknown key "
                + ", ".join(f"'{k}'{h}" for k, h in zip(unknown, hints))
                + f"; known keys: {', '.join(sorted(known))}"
            )
        values = dict(data)
        if base is not None:
            for key in ("calibration_data", "reference_model"):
                if isinstance(values.get(key), str) and not Path(values[key]).is_absolute():
                    values[key] = str(Path(base) / values[key])
        return cls(**values, source=source)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "source"}


# --- the machine class and the baseline --------------------------------------------------------------------------
def machine_class(facts: dict | None = None) -> str:
    """What latency depends on: the CPU model and core count, and the GPU (hostnames of CI runners differ)."""
    from .machine import machine_facts

    facts = facts if facts is not None else machine_facts()
    text = f"{facts.get('cpu') or 'unknown CPU'} x{facts.get('cpu_cores') or '?'}"
    return text + (f" + {facts['gpu']}" if facts.get("gpu") else "")


def compact_layers(build: BuildResult) -> list[dict]:
    """A build's engine layers as compact raw layer dicts (the keys the layer parser and the engine diff read),
    with each layer's precision and ONNX origins spelled out for people reading the JSON."""
    from ..engines.estimate import layer_workload
    from ..engines.estimate.workload import raw_layers_of

    raw, _ = raw_layers_of(build)
    work = layer_workload(build, model=build.model)
    out = []
    for layer, row in zip(raw, work.itertuples(index=False)):
        record = {k: layer[k] for k in _RAW_LAYER_KEYS if k in layer}
        for side in ("Inputs", "Outputs"):
            record[side] = [
                {k: t[k] for k in _RAW_TENSOR_KEYS if k in t} for t in layer.get(side, []) if isinstance(t, dict)
            ]
        record.update(op=row.op, precision=row.precision, onnx_nodes=list(row.onnx_nodes))
        out.append(record)
    return out


@dataclass
class Baseline:
    """What one run of the gate measured: engine layers, totals, agreement, latency and the machine class."""

    model: str
    fingerprint: str | None
    layers: list[dict]
    totals: dict
    agreement: float | None = None
    latency: dict | None = None  # median_ms, cv, iterations, machine_class, backend
    tensorrt: str = ""
    source: str = ""  # where it was read from (not saved)

    def to_dict(self) -> dict:
        out = {"format": BASELINE_FORMAT, **asdict(self)}
        out.pop("source")
        return out

    def save(self, path: PathArg) -> Path:
        from ..files import atomic_write_text

        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1, default=str) + "\n")

    @classmethod
    def from_dict(cls, data: dict, *, source: str) -> Baseline:
        if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
            raise ConfigError(
                f'baseline {source} is not a workbench baseline (expected "format": '
                f'"{BASELINE_FORMAT}"; write one with `workbench check MODEL --save-baseline FILE`)'
            )
        try:
            return cls(
                model=data["model"],
                fingerprint=data.get("fingerprint"),
                layers=list(data["layers"]),
                totals=dict(data["totals"]),
                agreement=data.get("agreement"),
                latency=data.get("latency"),
                tensorrt=data.get("tensorrt", ""),
                source=source,
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"baseline {source} lacks {exc} (rewrite it with --save-baseline)") from None

    @classmethod
    def load(cls, path: PathArg) -> Baseline:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"baseline file {path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"baseline file {path} cannot be read as JSON: {exc}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_store(cls, store: ResultsStore, model: str, tag: str) -> Baseline:
        """The newest build run of ``model`` recorded with ``tag`` by ``record_baseline``."""
        builds = store.runs("build", model=model)
        for extra in reversed(list(builds["extra"])) if len(builds) else []:
            tags = json.loads(extra) if extra else {}
            if tags.get("check_tag") == tag and tags.get("check_baseline"):
                return cls.from_dict(tags["check_baseline"], source=f"{store.location} ({model}@{tag})")
        tags_seen = (
            sorted({json.loads(e).get("check_tag") for e in builds["extra"] if e} - {None}) if len(builds) else []
        )
        raise ConfigError(
            f"results store {store.location} has no baseline of '{model}' tagged '{tag}'"
            + (
                f" (tags there: {', '.join(tags_seen)})"
                if tags_seen
                else " (record one with `workbench check MODEL --save-baseline store:TAG`)"
            )
        )


def record_baseline(
    store: ResultsStore, build: BuildResult, baseline: Baseline, tag: str, measurement: Measurement | None = None
) -> int:
    """Keep ``baseline`` in the results store as a build run tagged ``tag`` (and its latency as a benchmark run)."""
    run_id = store.record_build(build, tags={"check_tag": tag, "check_baseline": baseline.to_dict()})
    if measurement is not None:
        store.record_measurement(
            measurement, model=build.model, tags={"check_tag": tag, "agreement": baseline.agreement}
        )
    return run_id


def resolve_baseline(ref: str | None, model_name: str, *, store_url: str | None = None) -> Baseline | None:
    """``--baseline``: a JSON file, or ``store:TAG`` / ``store:MODEL@TAG`` in the results store."""
    if ref is None:
        return None
    if ref.startswith("store:"):
        from .store import ResultsStore

        name, _, tag = ref[len("store:") :].rpartition("@")
        if not tag:
            raise ConfigError(f"baseline {ref!r}: give a tag, e.g. store:main or store:{model_name}@main")
        return Baseline.from_store(ResultsStore(store_url), name or model_name, tag)
    return Baseline.load(ref)


# --- results --------------------------------------------------------------------------------------------------
@dataclass
class CheckResult:
    name: str
    status: str  # pass, fail, skip
    summary: str  # one line: what was compared, before -> after
    details: list[str] = field(default_factory=list)  # one line per layer / ONNX node at fault
    value: object = None
    threshold: object = None

    def lines(self) -> list[str]:
        head = f"{self.status.upper():4s} {self.name}: {self.summary}"
        return [head] + [f"     {d}" for d in self.details]


@dataclass
class CheckReport:
    model: str
    policy: CheckPolicy
    results: list[CheckResult]
    baseline: Baseline | None
    current: Baseline
    build: BuildResult | None = None
    lint: object = None
    diff: object = None
    measurement: Measurement | None = None

    @property
    def passed(self) -> bool:
        return all(r.status != "fail" for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    def result(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no check named '{name}' ran (checks: {', '.join(r.name for r in self.results)})")

    def text(self) -> str:
        lines = [line for r in self.results for line in r.lines()]
        verdict = (
            f"{self.model}: all {len(self.results)} checks hold"
            if self.passed
            else f"{self.model}: {len(self.failures)} of {len(self.results)} checks failed"
        )
        skipped = sum(r.status == "skip" for r in self.results)
        return "\n".join(lines + [verdict + (f" ({skipped} skipped)" if skipped else "")])

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "passed": self.passed,
            "policy": self.policy.to_dict(),
            "baseline": self.baseline.source if self.baseline else None,
            "checks": [asdict(r) for r in self.results],
            "measured": {k: v for k, v in self.current.to_dict().items() if k != "layers"},
        }

    def junit_xml(self) -> str:
        """One JUnit test case per check (failures and skips with their message), for CI test reports."""
        cases = []
        for r in self.results:
            body = "\n".join([r.summary, *r.details])
            inner = ""
            if r.status == "fail":
                inner = f"<failure message={quoteattr(r.summary)}>{_xml_text(body)}</failure>"
            elif r.status == "skip":
                inner = f"<skipped message={quoteattr(r.summary)}/>"
            else:
                inner = f"<system-out>{_xml_text(body)}</system-out>"
            cases.append(
                f"  <testcase classname={quoteattr('workbench.check.' + self.model)} "
                f'name={quoteattr(r.name)} time="0">{inner}</testcase>'
            )
        failures = len(self.failures)
        skipped = sum(r.status == "skip" for r in self.results)
        suite = quoteattr("workbench check " + self.model)
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n'
            f'<testsuite name={suite} tests="{len(self.results)}" failures="{failures}" errors="0" '
            f'skipped="{skipped}">\n' + "\n".join(cases) + "\n</testsuite>\n</testsuites>\n"
        )

    def save_junit(self, path: PathArg) -> Path:
        from ..files import atomic_write_text

        return atomic_write_text(path, self.junit_xml())


def _xml_text(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text)


# --- measuring ---------------------------------------------------------------------------------------------------
def _has_qdq(model) -> bool:
    return any(n.op_type in QDQ_OPS for n in model.nodes)


def _random_inputs(model, shapes: dict, samples: int, seed: int) -> dict:
    from ..model.feeds import batch_shapes, generate_feeds

    return generate_feeds(model, batch_shapes(model, samples, shapes or None), seed=seed)


def prepare_model(model: Model, policy: CheckPolicy, shapes: dict) -> tuple[Model, Model]:
    """The model the gate builds (quantized or cast as the policy asks) and the FP32 reference for agreement."""
    precision = (policy.precision or "").lower()
    reference = None
    if policy.reference_model:
        from ..model import load_model

        reference = load_model(policy.reference_model)
    if not precision or (precision in QUANTIZED and _has_qdq(model)):
        return model, reference  # built as given (a model that carries its own Q/DQ is not quantized twice)
    from ..precision import PrecisionPlan, apply_precision, calibrate, quantize

    if precision in FLOAT_CONVERSIONS:
        return apply_precision(model, PrecisionPlan(precision)), reference or model
    data = policy.calibration_data or _random_inputs(model, shapes, policy.calibration_samples, seed=1)
    table = calibrate(model, data, policy.calibrator, precision=precision)
    return quantize(model, table).model, reference or model


def float_layers_in_quantized_engine(work: pd.DataFrame) -> list[dict]:
    """Convolution and GEMM layers of a quantized engine that still compute in floating point."""
    if not (work["precision"].isin(QUANTIZED)).any():
        return [
            {"name": r.name, "precision": r.precision, "onnx_nodes": list(r.onnx_nodes)}
            for r in work.itertuples()
            if r.op in COMPUTE_OPS
        ]  # nothing quantized at all: every one is float
    return [
        {"name": r.name, "precision": r.precision, "onnx_nodes": list(r.onnx_nodes)}
        for r in work.itertuples()
        if r.op in COMPUTE_OPS and r.precision not in QUANTIZED
    ]


def _origin(nodes, limit: int = 4) -> str:
    nodes = [n for n in nodes if "QuantizeLinear" not in n and "DequantizeLinear" not in n] or list(nodes)
    text = ", ".join(nodes[:limit]) + (f" (+{len(nodes) - limit})" if len(nodes) > limit else "")
    return f"ONNX {text}" if text else "no ONNX origin"


def _mib(n) -> str:
    return f"{n / 2**20:.1f} MiB"


# --- the gate ---------------------------------------------------------------------------------------------------
def run_check(
    model: ModelSource,
    policy: CheckPolicy | None = None,
    baseline: Baseline | None = None,
    *,
    recording: bool = False,
    on_progress: ProgressCallback | None = None,
) -> CheckReport:
    """Build ``model``'s engine as ``policy`` says, measure it, and compare it with the policy and ``baseline``.

    A threshold that needs a baseline without one, or a baseline of another model, raises ConfigError /
    EngineMismatchError before anything is built; ``recording=True`` (the run that writes the first baseline)
    skips those checks instead, saying so. A build that TensorRT rejects is a failed check, not an error.
    """
    from ..engines import BuildConfig, build_engine
    from ..engines.estimate import layer_workload
    from ..engines.lint import lint_engine, lint_qdq_model
    from ..model import load_model, parse_shapes

    policy = policy or CheckPolicy()
    model = load_model(model)
    missing = policy.needs_baseline
    if missing and baseline is None and not recording:
        raise ConfigError(
            f"policy {policy.source}: {' and '.join(missing)} compare with a baseline, but none was "
            "given: pass --baseline FILE.json or store:TAG (write one with --save-baseline)"
        )
    if baseline is not None and baseline.model != model.name:
        raise EngineMismatchError(
            f"baseline {baseline.source} is of model '{baseline.model}', not '{model.name}': "
            "give the baseline saved for this model"
        )
    transformed = bool(policy.precision) and not (policy.precision.lower() in QUANTIZED and _has_qdq(model))
    if policy.min_top1_agreement is not None and not (transformed or policy.reference_model):
        raise ConfigError(
            f"policy {policy.source}: min_top1_agreement needs an FP32 reference, but {model.label} is "
            "built as given (no precision in the policy, or it already carries Q/DQ): set "
            'reference_model = "model_fp32.onnx" in the policy'
        )
    if policy.max_float_layers_in_int8 is not None and not _is_quantized(policy, model):
        raise ConfigError(
            f"policy {policy.source}: max_float_layers_in_int8 applies to a quantized engine, but "
            f'{model.label} has no Q/DQ and the policy sets no precision = "int8"'
        )
    shapes = dict(parse_shapes(policy.shapes))

    def report(stage):
        if on_progress:
            on_progress(stage, None)

    report("preparing the model")
    built_model, reference = prepare_model(model, policy, shapes)
    results: list[CheckResult] = []
    qdq_findings = lint_qdq_model(built_model)
    report("building the engine")
    try:
        build = build_engine(built_model, BuildConfig(shapes=shapes))
    except WorkbenchError as exc:
        results.append(CheckResult("build", "fail", str(exc).splitlines()[0]))  # the lint check lists the causes
        current = Baseline(model.name, model.fingerprint, [], {}, source="this run")
        if policy.lint != "off":
            results.append(_lint_result(qdq_findings, policy.lint))
        return CheckReport(model.name, policy, results, baseline, current)
    results.append(CheckResult("build", "pass", f"{build.flavor} {build.version}: {len(build.layers)} engine layers"))
    work = layer_workload(build, model=build.model)
    findings = lint_engine(build)
    float_layers = float_layers_in_quantized_engine(work)
    totals = {
        "engine_layers": len(work),
        "reformat_layers": int((work["op"] == "reformat").sum()),
        "float_layers_in_int8": len(float_layers) if _is_quantized(policy, built_model) else None,
        "activation_bytes": build.memory.get("activation_bytes"),
        "weights_bytes": build.memory.get("weights_bytes"),
        "lint": {k: int((findings["severity"] == k).sum()) for k in ("error", "warning", "info")},
    }
    current = Baseline(
        model.name,
        model.fingerprint,
        compact_layers(build),
        totals,
        tensorrt=f"{build.flavor} {build.version}",
        source="this run",
    )
    diff = None
    if baseline is not None:
        from ..engines.diff import diff_engines

        diff = diff_engines(baseline.layers, build, model=build.model, labels=("baseline", "now"))
    if policy.lint != "off":
        results.append(_lint_result(findings, policy.lint))
    if policy.max_float_layers_in_int8 is not None:
        results.append(_float_layers_result(policy, built_model, float_layers, baseline))
    if baseline is None:  # only when recording the first baseline (else an error above)
        results += [CheckResult(name, "skip", "no baseline yet: this run records the first one") for name in missing]
    elif policy.max_new_reformats is not None:
        results.append(_reformats_result(policy.max_new_reformats, baseline, totals, diff))
    if policy.max_activation_memory_mib is not None:
        results.append(_memory_result(policy.max_activation_memory_mib, totals, baseline))
    if reference is not None and (policy.min_top1_agreement is not None or policy.precision):
        report("measuring agreement with FP32")
        current.agreement = _agreement(reference, built_model, shapes, policy.agreement_samples)
        if policy.min_top1_agreement is not None:
            results.append(_agreement_result(policy.min_top1_agreement, current.agreement, baseline))
    report("measuring CPU latency")
    measurement = _measure(built_model, shapes, policy.benchmark_seconds)
    stats = measurement.stats
    current.latency = {
        "median_ms": stats["median"],
        "cv": stats["cv"],
        "iterations": measurement.iterations,
        "backend": measurement.description.get("backend"),
        "machine_class": machine_class(),
    }
    if policy.latency_regression is not None and baseline is not None:
        results.append(compare_latency(policy, current.latency, baseline))
    return CheckReport(model.name, policy, results, baseline, current, build, findings, diff, measurement)


def _is_quantized(policy: CheckPolicy, model) -> bool:
    return (policy.precision or "").lower() in QUANTIZED or _has_qdq(model)


def _lint_details(findings, worst: str) -> list[str]:
    from ..engines.lint import SEVERITY_ORDER

    bad = findings[findings["severity"].map(SEVERITY_ORDER) <= SEVERITY_ORDER[worst]] if len(findings) else findings
    return [
        f"{r.severity} {r.rule} at {r.layer}"
        + (f" ({_origin(r.onnx_nodes)})" if list(r.onnx_nodes) != [r.layer] else "")
        + f": {r.message}"
        for r in bad.itertuples()
    ]


def _lint_result(findings, level: str) -> CheckResult:
    worst = "error" if level == "no errors" else "warning"
    details = _lint_details(findings, worst)
    counts = (
        {k: int((findings["severity"] == k).sum()) for k in ("error", "warning")}
        if len(findings)
        else {"error": 0, "warning": 0}
    )
    summary = f"{counts['error']} errors, {counts['warning']} warnings (policy: {level})"
    return CheckResult("lint", "fail" if details else "pass", summary, details, value=counts, threshold=level)


def _float_layers_result(policy, model, float_layers, baseline) -> CheckResult:
    limit = policy.max_float_layers_in_int8
    before = baseline.totals.get("float_layers_in_int8") if baseline else None
    change = f"{before} → {len(float_layers)}" if before is not None else str(len(float_layers))
    details = [f"{f['name']} runs {f['precision'] or 'float'} ({_origin(f['onnx_nodes'])})" for f in float_layers]
    return CheckResult(
        "max_float_layers_in_int8",
        "fail" if len(float_layers) > limit else "pass",
        f"{change} convolution/GEMM layers in floating point (limit {limit})",
        details if len(float_layers) > limit else [],
        value=len(float_layers),
        threshold=limit,
    )


def _reformats_result(limit, baseline, totals, diff) -> CheckResult:
    before, after = baseline.totals.get("reformat_layers", 0), totals["reformat_layers"]
    details = []
    if diff is not None:
        for r in diff.regions.itertuples():
            if r.reformats_delta > 0:
                details.append(
                    f"region {r.region} ({_origin(r.onnx_nodes)}): {r.a_reformats} → {r.b_reformats} "
                    f"reformats; change: {r.change}"
                )
    new = after - before
    return CheckResult(
        "max_new_reformats",
        "fail" if new > limit else "pass",
        f"reformat layers {before} → {after} ({new:+d}, limit +{limit})",
        details if new > limit else [],
        value=new,
        threshold=limit,
    )


def _memory_result(limit_mib, totals, baseline) -> CheckResult:
    after = totals.get("activation_bytes")
    if after is None:
        return CheckResult(
            "max_activation_memory_mib",
            "fail",
            "the build reported no activation memory total (TensorRT's verbose log lacks it): cannot check the limit",
            threshold=limit_mib,
        )
    before = baseline.totals.get("activation_bytes") if baseline else None
    change = f"{_mib(before)} → {_mib(after)}" if before is not None else _mib(after)
    return CheckResult(
        "max_activation_memory_mib",
        "fail" if after > limit_mib * 2**20 else "pass",
        f"activation memory {change} (limit {limit_mib} MiB)",
        value=after / 2**20,
        threshold=limit_mib,
    )


def _agreement(reference, candidate, shapes, samples) -> float:
    from ..precision import compare

    data = _random_inputs(reference, shapes, max(samples, 1), seed=2)
    row = compare(reference, candidate, data).iloc[0]
    if "top1_agreement" not in row or row["top1_agreement"] != row["top1_agreement"]:
        raise ConfigError(
            f"min_top1_agreement: the first output '{row['output']}' of {reference.label} has one "
            "value per sample, so there is no top-1 class to agree on"
        )
    return float(row["top1_agreement"])


def _agreement_result(limit, agreement, baseline) -> CheckResult:
    before = baseline.agreement if baseline else None
    change = f"{before:.2%} → {agreement:.2%}" if before is not None else f"{agreement:.2%}"
    return CheckResult(
        "min_top1_agreement",
        "fail" if agreement < limit else "pass",
        f"top-1 agreement with FP32 {change} (minimum {limit:.2%}, random inputs)",
        value=agreement,
        threshold=limit,
    )


def _measure(model, shapes, seconds):
    from .harness import BenchmarkConfig, measure

    feeds = _random_inputs(model, shapes, 1, seed=3) if shapes else None
    return measure(
        model, feeds=feeds, config=BenchmarkConfig(warmup_s=min(0.2, seconds), duration_s=seconds, min_iterations=20)
    )


def latency_threshold(regression: float, before: dict, after: dict) -> float:
    """The largest after/before ratio of medians that still holds: the policy's regression, widened by
    ``NOISE_SIGMAS`` standard errors of the ratio (from both runs' CV and iteration counts)."""

    def relative_se(run):
        cv, n = run.get("cv"), run.get("iterations") or 0
        return MEDIAN_SE_FACTOR * cv / math.sqrt(n) if cv is not None and math.isfinite(cv) and n > 0 else 0.0

    return 1 + regression + NOISE_SIGMAS * math.hypot(relative_se(before), relative_se(after))


def compare_latency(policy: CheckPolicy, latency: dict, baseline: Baseline | None) -> CheckResult:
    regression = policy.latency_regression
    before = baseline.latency if baseline else None
    status_unverifiable = "fail" if policy.strict else "skip"
    if not before:
        return CheckResult(
            "max_latency_regression",
            status_unverifiable,
            f"baseline {baseline.source} has no latency measurement",
            threshold=regression,
        )
    here = latency["machine_class"]
    if before.get("machine_class") != here:
        return CheckResult(
            "max_latency_regression",
            status_unverifiable,
            f"not comparable here: the baseline was measured on '{before.get('machine_class')}', "
            f"this machine is '{here}' (record a baseline on this runner class"
            + ("; strict = true makes this a failure)" if not policy.strict else ")"),
            threshold=regression,
        )
    ratio = latency["median_ms"] / before["median_ms"]
    allowed = latency_threshold(regression, before, latency)
    summary = (
        f"median latency {before['median_ms']:.3f} → {latency['median_ms']:.3f} ms ({ratio - 1:+.1%}; "
        f"allowed +{allowed - 1:.1%} = {regression:.0%} + noise of CV {before['cv']:.1%} / "
        f"{latency['cv']:.1%})"
    )
    return CheckResult(
        "max_latency_regression", "fail" if ratio > allowed else "pass", summary, value=ratio - 1, threshold=allowed - 1
    )


def baseline_frame(report: CheckReport) -> pd.DataFrame:
    """The engine diff against the baseline as a table (regions that changed), empty without a baseline."""
    import pandas as pd

    if report.diff is None:
        return pd.DataFrame(
            columns=["region", "change", "onnx_nodes", "a_precisions", "b_precisions", "a_reformats", "b_reformats"]
        )
    regions = report.diff.regions
    return regions[regions["change"] != "same"][
        [
            "region",
            "change",
            "onnx_nodes",
            "a_precisions",
            "b_precisions",
            "a_fused_ops",
            "b_fused_ops",
            "a_reformats",
            "b_reformats",
        ]
    ]


__all__ = [
    "BASELINE_FORMAT",
    "Baseline",
    "CheckPolicy",
    "CheckReport",
    "CheckResult",
    "baseline_frame",
    "compare_latency",
    "latency_threshold",
    "machine_class",
    "record_baseline",
    "resolve_baseline",
    "run_check",
]
