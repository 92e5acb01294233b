"""A merged decoder whose If branches give differently shaped outputs (optimum's real exports) builds with no flags:
the If is folded, before the build, into the branch the shapes take, said once; use_cache_branch is no engine input."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from workbench.engines import build_engine
from workbench.engines.branch_switch import plan_branch_fold
from workbench.errors import ConfigError
from workbench.model import load_model
from workbench.model.samples import merged_decoder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def optimum():
    return load_model(merged_decoder("merged_decoder_optimum", branch_shapes_differ=True))


def _build(model):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build_engine(model, cache=None)
    notes = [str(w.message) for w in caught if "folded into" in str(w.message)]
    return result, notes


def test_no_flags_builds_the_decode_branch_and_says_so_once(optimum):
    result, notes = _build(optimum)
    assert len(notes) == 1
    assert "If 'optimum::if' on the input 'use_cache_branch' folded into its then branch" in notes[0]
    assert "use_cache_branch=true" in notes[0] and "--shapes prefill" in notes[0]
    assert list(result.named_profiles) == ["decode"]
    assert "use_cache_branch" not in result.profiles
    assert result.profiles["past_key_values.0.decoder.key"][1] == (1, 2, 128, 8)
    assert not any(n.op_type == "If" for n in result.model.proto.graph.node)
    assert len(result.layers) > 0 and result.engine_size > 0
    with pytest.raises(ConfigError, match="'use_cache_branch' is not an input of this engine"):
        result.check_shapes({"use_cache_branch": (1,)})


def test_prefill_preset_builds_the_first_step_branch(optimum):
    result, notes = _build(optimum.at_shapes("prefill"))
    assert len(notes) == 1 and "else branch" in notes[0] and "is empty" in notes[0]
    assert set(result.profiles) == {"input_ids", "encoder_hidden_states"}  # the first step reads no past
    assert result.profiles["input_ids"][1] == (1, 128)


@pytest.mark.parametrize("past, branch", [(0, False), (5, True)])
def test_explicit_shapes_pick_the_branch_by_the_past_length(optimum, past, branch):
    model = optimum.at_shapes(f"input_ids:1x3,past_key_values.0.decoder.key:1x2x{past}x8")
    from workbench.engines import BuildConfig

    plan = plan_branch_fold(model, BuildConfig().named_profiles(model))
    assert plan.folded == {"use_cache_branch": branch}
    assert "use_cache_branch" not in next(iter(plan.named_profiles.values()))


def test_branches_of_one_shape_keep_the_if_and_both_profiles():
    model = load_model(merged_decoder("merged_decoder"))
    result, notes = _build(model)
    assert notes == []
    assert list(result.named_profiles) == ["decode", "prefill"]
    assert "use_cache_branch" in result.profiles


def test_a_model_without_a_branch_switch_is_left_alone():
    model = load_model("resnet_tiny")
    from workbench.engines import BuildConfig

    plan = plan_branch_fold(model, BuildConfig().named_profiles(model))
    assert plan.model is model and plan.note is None and plan.key_part() == ""


@pytest.fixture(scope="module")
def engine_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("optimum_cache")


@pytest.mark.parametrize("command", ["inspect", "layers", "build", "estimate", "lint", "check", "bench"])
def test_every_command_runs_on_the_optimum_sample_with_no_flags(run_cli, command, tmp_path, monkeypatch, engine_cache):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(engine_cache))
    quick = (
        ("--duration", "0.02", "--warmup", "0.01", "--iterations", "2", "--results", tmp_path / "r.sqlite")
        if command == "bench"
        else ()
    )
    code, out, err = run_cli(command, "merged_decoder_optimum", *quick)
    assert code == 0, err
    assert "Traceback" not in err and "cudaError" not in err + out
    if command in ("build", "layers"):
        shapes = next(line for line in out.splitlines() if line.startswith("shapes: "))
        assert "past_key_values.0.decoder.key:1x2x128x8" in shapes and "use_cache_branch" not in shapes


def test_shapes_may_set_the_branch_and_a_bad_value_is_refused(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    code, out, err = run_cli("build", "merged_decoder_optimum", "--shapes", "prefill,use_cache_branch=false")
    assert code == 0, err
    shapes = next(line for line in out.splitlines() if line.startswith("shapes: "))
    assert shapes.startswith("shapes: input_ids:1x128, encoder_hidden_states:1x128x16")
    code, out, err = run_cli("build", "merged_decoder_optimum", "--shapes", "use_cache_branch=maybe")
    assert code == 1 and "'use_cache_branch=maybe'" in err and "true or false" in err
    code, out, err = run_cli("build", "resnet_tiny", "--shapes", "use_cache_branch=true")
    assert code == 1 and "no top-level If on a boolean input" in err


def test_the_cli_prints_the_fold_once(tmp_path):
    """A process of its own: Python's warning filter, not pytest's capture, decides what is printed."""
    env = {**os.environ, "WORKBENCH_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "estimate", "merged_decoder_optimum"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("folded into its then branch") == 1
