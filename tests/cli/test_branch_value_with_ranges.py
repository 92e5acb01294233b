"""--shapes use_cache_branch=true|false is honoured with --min/--opt/--max-shapes (it was dropped), and a combination
that contradicts it is a ConfigError naming the option and the value."""

import json

import pytest

SAMPLE = "merged_decoder_optimum"
KEY = "past_key_values.0.decoder.key"
IDS = ("--min-shapes", "input_ids:1x1", "--opt-shapes", "input_ids:1x4", "--max-shapes", "input_ids:1x8")


@pytest.fixture(autouse=True)
def _engine_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "branch_ranges_cache"))


def _build(run_cli, *flags):
    code, out, err = run_cli("build", SAMPLE, *flags, "--json")
    assert code == 0, err
    return json.loads(out)


def test_false_with_ranges_builds_the_first_step_branch(run_cli):
    info = _build(run_cli, "--shapes", "use_cache_branch=false", *IDS)
    assert set(info["profiles"]) == {"input_ids", "encoder_hidden_states"}  # else: no past read
    assert info["profiles"]["input_ids"] == {"min": [1, 1], "opt": [1, 4], "max": [1, 8]}
    assert info["input_shapes"].startswith("input_ids:1x4 (opt of the profile 1x1..1x8), encoder_hidden_states:")


def test_true_with_ranges_keeps_the_cache_even_at_an_empty_opt(run_cli):
    ranges = ("--min-shapes", f"{KEY}:1x2x0x8", "--opt-shapes", f"{KEY}:1x2x0x8", "--max-shapes", f"{KEY}:1x2x16x8")
    info = _build(run_cli, "--shapes", "use_cache_branch=true", *ranges)  # an empty cache alone would take else
    assert info["profiles"][KEY] == {"min": [1, 2, 0, 8], "opt": [1, 2, 0, 8], "max": [1, 2, 16, 8]}
    assert "use_cache_branch" not in info["profiles"]


@pytest.mark.parametrize(
    "flags, words",
    [
        (
            (
                "--shapes",
                "use_cache_branch=false",
                "--min-shapes",
                f"{KEY}:1x2x1x8",
                "--opt-shapes",
                f"{KEY}:1x2x4x8",
                "--max-shapes",
                f"{KEY}:1x2x8x8",
            ),
            ["--min-shapes", f"'{KEY}'", "else branch", "use_cache_branch=false"],
        ),
        (
            (
                "--shapes",
                "use_cache_branch=true",
                "--min-shapes",
                "use_cache_branch:1",
                "--opt-shapes",
                "use_cache_branch:1",
                "--max-shapes",
                "use_cache_branch:1",
            ),
            ["--min-shapes", "'use_cache_branch'", "use_cache_branch=true"],
        ),
        (("--shapes", "use_cache_branch=maybe", *IDS), ["'use_cache_branch=maybe'", "true or false"]),
        (("--shapes", "use_cache_branch=true,use_cache_branch=false", *IDS), ["both true and false"]),
        (
            ("--min-shapes", "use_cache_branch=true", "--opt-shapes", "input_ids:1x4", "--max-shapes", "input_ids:1x8"),
            ["--min-shapes", "'use_cache_branch=true'", "goes in --shapes"],
        ),
        (("--shapes", f"use_cache_branch=false,{KEY}:1x2x5x8"), ["--shapes gives a shape", f"'{KEY}'", "else branch"]),
        (("--shapes", "nosuch=true", *IDS), ["'nosuch'", "no top-level If"]),
    ],
)
def test_a_contradicting_combination_is_refused_naming_the_option(run_cli, flags, words):
    code, out, err = run_cli("build", SAMPLE, *flags)
    assert code == 1 and "Traceback" not in err
    for word in words:
        assert word in err
