"""An estimate of an engine built for a range of shapes (--min/--opt/--max-shapes): its layers carry -1 for what
varies, so no layer has a size; the error says so and what to give instead."""

import pytest


@pytest.fixture(autouse=True)
def _engine_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "estimate_ranges_cache"))


def test_an_estimate_over_a_shape_range_says_to_build_one_shape(run_cli):
    code, out, err = run_cli("estimate", "resnet_tiny", "--min-shapes", "input:1x3x32x32", "--opt-shapes",
                             "input:2x3x32x32", "--max-shapes", "input:4x3x32x32")
    assert code != 0 and "Traceback" not in err
    assert "range of shapes, e.g. input 1x3x32x32..4x3x32x32" in err
    assert "--shapes input:2x3x32x32 instead of --min/--opt/--max-shapes" in err
    code, out, err = run_cli("estimate", "resnet_tiny", "--shapes", "input:2x3x32x32")  # what it says works
    assert code == 0, err
    assert " ms on " in out
