"""The CI gate (`workbench check`): policy parsing, baselines, each check's verdict and failure lines, JUnit XML."""

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from workbench.bench.check import (
    BASELINE_FORMAT,
    Baseline,
    CheckPolicy,
    compare_latency,
    latency_threshold,
    machine_class,
    record_baseline,
    resolve_baseline,
    run_check,
)
from workbench.cli.main import main
from workbench.errors import ConfigError, EngineMismatchError

CONV_KEPT_FLOAT = "/stage/stage.1/Conv"
POLICY = {"precision": "int8", "calibration_samples": 16, "agreement_samples": 32, "benchmark_seconds": 0.3,
          "max_float_layers_in_int8": 0, "min_top1_agreement": 0.5, "max_activation_memory_mib": 64}


@pytest.fixture(scope="session")
def passing(tmp_path_factory):
    """digits_cnn quantized to INT8 by the gate: every check holds; its baseline saved as JSON."""
    report = run_check("digits_cnn", CheckPolicy(**POLICY))
    path = report.current.save(tmp_path_factory.mktemp("baseline") / "baseline.json")
    return report, path


@pytest.fixture(scope="session")
def conv_kept_float(tmp_path_factory):
    """digits_cnn quantized with one Conv left in float: the regression a recipe change causes."""
    from workbench.model import load_model
    from workbench.model.feeds import batch_shapes, generate_feeds
    from workbench.precision import calibrate, quantize

    model = load_model("digits_cnn")
    table = calibrate(model, generate_feeds(model, batch_shapes(model, 16), seed=1), "minmax")
    path = tmp_path_factory.mktemp("regressed") / "digits_cnn.onnx"
    quantize(model, table, exclude_nodes=[CONV_KEPT_FLOAT]).model.save(path)
    return path


def test_policy_unknown_key_and_wrong_type_are_named(tmp_path):
    bad = tmp_path / "policy.toml"
    bad.write_text('max_float_layer_in_int8 = 0\n')
    with pytest.raises(ConfigError, match="unknown key 'max_float_layer_in_int8'.*did you mean "
                                          "'max_float_layers_in_int8'"):
        CheckPolicy.from_toml(bad)
    bad.write_text('max_new_reformats = "none"\n')
    with pytest.raises(ConfigError, match="'max_new_reformats' must be int, got 'none' \\(str\\)"):
        CheckPolicy.from_toml(bad)
    bad.write_text('max_latency_regression = "ten percent"\n')
    with pytest.raises(ConfigError, match="max_latency_regression"):
        CheckPolicy.from_toml(bad)
    bad.write_text('lint = "errors"\n')
    with pytest.raises(ConfigError, match="lint"):
        CheckPolicy.from_toml(bad)
    bad.write_text('lint = \n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        CheckPolicy.from_toml(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        CheckPolicy.from_toml(tmp_path / "missing.toml")
    assert CheckPolicy(max_latency_regression="10%").latency_regression == pytest.approx(0.1)
    assert CheckPolicy(max_latency_regression=0.25).latency_regression == pytest.approx(0.25)


def test_thresholds_that_cannot_be_checked_are_errors_before_building():
    with pytest.raises(ConfigError, match="max_latency_regression and max_new_reformats compare with a baseline"):
        run_check("digits_cnn", CheckPolicy(max_latency_regression="10%", max_new_reformats=0))
    other = Baseline("resnet_tiny", None, [], {}, source="resnet_tiny.json")
    with pytest.raises(EngineMismatchError, match="of model 'resnet_tiny', not 'digits_cnn'"):
        run_check("digits_cnn", CheckPolicy(), other)
    with pytest.raises(ConfigError, match="min_top1_agreement needs an FP32 reference"):
        run_check("digits_cnn", CheckPolicy(min_top1_agreement=0.9))
    with pytest.raises(ConfigError, match="max_float_layers_in_int8 applies to a quantized engine"):
        run_check("digits_cnn", CheckPolicy(max_float_layers_in_int8=0))


def test_passing_engine_holds_every_check_and_writes_junit(passing, tmp_path):
    report, _ = passing
    assert report.passed, report.text()
    assert [r.name for r in report.results] == ["build", "lint", "max_float_layers_in_int8",
                                                "max_activation_memory_mib", "min_top1_agreement"]
    assert report.result("max_float_layers_in_int8").value == 0
    assert 0.5 <= report.current.agreement <= 1
    suite = ET.parse(report.save_junit(tmp_path / "checks.xml")).getroot().find("testsuite")
    assert int(suite.get("tests")) == 5 and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.findall("testcase")] == [r.name for r in report.results]


def test_baseline_json_is_compact_and_round_trips(passing):
    report, path = passing
    data = json.loads(path.read_text())
    assert data["format"] == BASELINE_FORMAT and data["model"] == "digits_cnn"
    assert data["latency"]["machine_class"] == machine_class() and data["latency"]["iterations"] >= 20
    assert math.isfinite(data["latency"]["cv"]) and data["agreement"] == report.current.agreement
    assert data["totals"]["float_layers_in_int8"] == 0
    conv = [layer for layer in data["layers"] if layer["op"] == "conv"]
    assert conv and all(layer["precision"] == "int8" and layer["onnx_nodes"] for layer in conv)
    assert "Constants" not in data["layers"][0] and path.stat().st_size < 32_000
    again = Baseline.load(path)
    assert again.layers == data["layers"] and again.source == str(path)
    path.with_name("other.json").write_text('{"model": "x"}')
    with pytest.raises(ConfigError, match="not a workbench baseline"):
        Baseline.load(path.with_name("other.json"))


def test_regression_fails_naming_the_layer_and_onnx_node(passing, conv_kept_float):
    _, path = passing
    baseline = Baseline.load(path)
    baseline.latency = {**baseline.latency, "machine_class": "Other CPU x64"}  # another runner class
    policy = CheckPolicy(**{**POLICY, "max_new_reformats": 0, "max_latency_regression": "10%",
                            "reference_model": "digits_cnn"})  # the model carries its own Q/DQ
    report = run_check(conv_kept_float, policy, baseline)
    assert not report.passed
    floats = report.result("max_float_layers_in_int8")
    assert floats.status == "fail" and floats.summary.startswith("0 → 1 ")
    assert len(floats.details) == 1 and CONV_KEPT_FLOAT in floats.details[0]
    latency = report.result("max_latency_regression")
    assert latency.status == "skip" and "Other CPU x64" in latency.summary and machine_class() in latency.summary
    text = report.text()
    assert "FAIL max_float_layers_in_int8" in text and "SKIP max_latency_regression" in text
    suite = ET.fromstring(report.junit_xml()).find("testsuite")
    assert suite.get("skipped") == "1" and int(suite.get("failures")) >= 1
    assert report.result("min_top1_agreement").value <= 1
    strict = compare_latency(replace(policy, strict=True), report.current.latency, baseline)
    assert strict.status == "fail"


def test_latency_threshold_widens_with_measured_noise():
    quiet = {"median_ms": 1.0, "cv": 0.0, "iterations": 100}
    assert latency_threshold(0.1, quiet, quiet) == pytest.approx(1.1)
    noisy = {"median_ms": 1.0, "cv": 0.5, "iterations": 25}
    widened = latency_threshold(0.1, noisy, noisy)
    assert widened == pytest.approx(1.1 + 2 * math.hypot(*[math.sqrt(math.pi / 2) * 0.5 / 5] * 2))
    policy = CheckPolicy(max_latency_regression="10%")
    here = machine_class()
    before = Baseline("m", None, [], {}, latency={**noisy, "machine_class": here}, source="b.json")
    slower = {**noisy, "median_ms": 1.2, "machine_class": here}
    assert compare_latency(policy, slower, before).status == "pass"   # +20 % is within the noise of these runs
    much_slower = {**noisy, "median_ms": 1.5, "machine_class": here}
    result = compare_latency(policy, much_slower, before)
    assert result.status == "fail" and "1.000 → 1.500 ms" in result.summary
    assert compare_latency(policy, {**quiet, "median_ms": 1.2, "machine_class": here},
                           replace(before, latency={**quiet, "machine_class": here})).status == "fail"


def test_baseline_in_the_results_store_by_model_and_tag(passing, tmp_path):
    from workbench.bench.store import ResultsStore

    report, _ = passing
    store = ResultsStore(tmp_path / "runs.sqlite")
    record_baseline(store, report.build, report.current, "main", report.measurement)
    loaded = resolve_baseline("store:digits_cnn@main", "digits_cnn", store_url=tmp_path / "runs.sqlite")
    assert loaded.layers == report.current.layers and loaded.latency == report.current.latency
    assert resolve_baseline("store:main", "digits_cnn", store_url=tmp_path / "runs.sqlite").model == "digits_cnn"
    with pytest.raises(ConfigError, match="no baseline of 'digits_cnn' tagged 'release'.*tags there: main"):
        resolve_baseline("store:release", "digits_cnn", store_url=tmp_path / "runs.sqlite")


def test_cli_check_exit_status_json_and_junit(conv_kept_float, passing, tmp_path, capsys):
    _, baseline = passing
    policy = tmp_path / "policy.toml"
    policy.write_text("max_float_layers_in_int8 = 0\nmax_new_reformats = 0\nbenchmark_seconds = 0.2\n")
    junit = tmp_path / "checks.xml"
    status = main(["check", str(conv_kept_float), "--policy", str(policy), "--baseline", str(baseline),
                   "--junit", str(junit), "--json", "--save-baseline", str(tmp_path / "new.json")])
    out = json.loads(capsys.readouterr().out)
    assert status == 1 and out["passed"] is False and "saved_baseline" not in out
    assert not (tmp_path / "new.json").exists()  # a failing run never becomes the baseline
    failed = [c for c in out["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["max_float_layers_in_int8"]
    assert ET.parse(junit).getroot().find("testsuite").get("failures") == "1"
    policy.write_text("max_float_layer = 0\n")
    assert main(["check", str(conv_kept_float), "--policy", str(policy)]) == 1
    assert "unknown key 'max_float_layer'" in capsys.readouterr().err
