"""Every lesson is read for claims known to be wrong; computed claims are checked by nbval (# NBVAL_CHECK_OUTPUT)."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
README = Path(__file__).resolve().parent.parent / "README.md"

# (pattern, why it is wrong). A pattern matches within one paragraph or code cell line group.
STALE_CLAIMS = [
    (r"2\.5\s*%[^\n]*trtexec's threshold|trtexec's threshold[^\n]*2\.5\s*%|above 2\.5 %[^\n]*unstable",
     "trtexec's stability threshold is about GPU compute time and depends on the version (1 % / 2.5 %); the "
     "workbench's own threshold is for wall-clock latency"),
    (r"Entropy2[^.\n]*(TensorRT's|the) default", "Entropy2 is NVIDIA's recommended calibrator for CNNs, not a default"),
    (r"built-in kernel", "cuDNN-style / XMMA tactic names are named kernels, not 'built-in kernels'"),
    (r"clamp\(round\(x / s\), -127", "INT8 quantization clips to [-128, 127] (scale = amax / 127)"),
    (r"INT8 keeps one number per tensor", "weights are per-channel; activations per-tensor"),
    (r"16 times less", "memory ratios are computed and printed, not written in prose"),
    (r"second\s+block's Concat is absorbed", "which Concat is absorbed is computed, not written in prose"),
    (r"holds? the most activation memory", "per-layer memory is persistent/scratch memory, not activations"),
    (r"\"percentile\": \"LegacyCalibration\"|Percentile[^.\n]*LegacyCalibration",
     "Percentile and MSE are not TensorRT calibrators"),
]


def _cells(path: Path):
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        yield index, "".join(cell["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_has_no_known_stale_claim(path):
    found = [f"cell {i}: {why} — {re.search(pattern, text).group(0)!r}"
             for i, text in _cells(path) for pattern, why in STALE_CLAIMS if re.search(pattern, text)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_states_its_time_exercises_and_checked_claims(path):
    cells = list(_cells(path))
    header = cells[0][1]
    assert re.search(r"\*Time:\*[^\n]*measured", header), "the first cell states a measured running time"
    assert "TIMING_" not in "".join(text for _, text in cells)
    assert any("Try it" in text for _, text in cells), "a 'Try it' section with exercises"
    assert any(text.lstrip().startswith("# Solutions") for _, text in cells), "a solution cell that nbval runs"
    checked = [text for _, text in cells if "# NBVAL_CHECK_OUTPUT" in text]
    assert checked, "at least one computed claim is checked by nbval"
    saved = json.loads(path.read_text())["cells"]
    for cell in saved:
        if cell["cell_type"] == "code" and "# NBVAL_CHECK_OUTPUT" in "".join(cell["source"]):
            assert cell["outputs"] and cell["execution_count"], "a checked cell keeps the output nbval compares"


def test_readme_has_no_known_stale_claim_and_lists_every_lesson():
    text = README.read_text()
    for pattern, why in STALE_CLAIMS:
        assert not re.search(pattern, text), why
    for path in NOTEBOOKS:
        assert f"`{path.stem}`" in text, f"README's lesson table lists {path.stem}"


def test_the_stale_claim_patterns_catch_the_old_wording():
    old = ["above 2.5 % the run is flagged *unstable* (trtexec's threshold)",
           "Calibrate on real digits (Entropy2, TensorRT's default)",
           'family = ... .where(named, "built-in kernel (tactic id)")',
           "q = clamp(round(x / s), -127, 127)"]
    for text in old:
        assert any(re.search(pattern, text) for pattern, _ in STALE_CLAIMS), text
