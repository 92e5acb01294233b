import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Real TensorRT engine JSON (trtexec --exportLayerInfo / --exportProfile): package data inside the repository.
ENGINE_JSON = ROOT / "workbench" / "engines" / "data"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Samples and engines are cached in a per-run folder, so tests never depend on a developer's cache."""
    folder = tmp_path_factory.mktemp("workbench-cache")
    os.environ["WORKBENCH_CACHE_DIR"] = str(folder)
    os.environ["WORKBENCH_RESULTS"] = str(folder / "results.sqlite")
    yield folder


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""
    from workbench.cli.main import main

    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run
