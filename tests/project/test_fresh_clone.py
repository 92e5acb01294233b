"""A fresh clone passes its tests: nothing outside the repository (no folder beside the checkout, no checkout's
``.venv``, no developer's cache) is needed, and the browser tests say how to enable them when Chromium is missing."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

# Library tests run inside the clone: the ones that read the bundled engine JSON, the architecture and set-up
# checks, and the CLI on a bundled model. A few seconds; the whole library suite would take minutes.
CLONE_TESTS = ["tests/engines/test_layer_information.py", "tests/cli/test_cli_engines.py",
               "tests/project/test_architecture.py", "tests/project/test_project_setup.py",
               "tests/cli/test_cli_inspect.py"]
OUTSIDE_REFERENCES = ("../shared", "/work/", "parent.parent.parent")
# CI may run as another user than the checkout's owner: git would refuse it as a "dubious ownership" repository.
GIT = ["git", "-c", "safe.directory=*"]


def _fresh_copy(destination: Path) -> Path:
    """The committed HEAD of this checkout, cloned; a copy of the tree when this is no git checkout."""
    clone = destination / "workbench-clone"
    inside = shutil.which("git") and subprocess.run([*GIT, "-C", str(ROOT), "rev-parse", "HEAD"],
                                                    capture_output=True, text=True)
    if inside and inside.returncode == 0:
        head = inside.stdout.strip()
        subprocess.run([*GIT, "clone", "--quiet", "--no-checkout", str(ROOT), str(clone)], check=True,
                       capture_output=True)
        subprocess.run([*GIT, "-C", str(clone), "checkout", "--quiet", "--detach", head], check=True,
                       capture_output=True)
    else:  # a source archive: its files are all there is
        shutil.copytree(ROOT, clone, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info",
                                                                   ".pytest_cache", "test-artifacts"))
    return clone


def _clean_env(clone: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WORKBENCH_", "PYTEST_"))}
    env["PYTHONPATH"] = str(clone)  # the clone's workbench before the checkout's editable install
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def test_a_fresh_clone_passes_its_library_tests(tmp_path):
    clone = _fresh_copy(tmp_path)
    env = _clean_env(clone)
    where = subprocess.run([sys.executable, "-c", "import workbench; print(workbench.__file__)"], cwd=clone,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(clone.resolve()), f"workbench imported from {where}, not the clone"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *CLONE_TESTS],
                         cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout


def test_no_file_points_outside_the_repository():
    tracked = subprocess.run([*GIT, "-C", str(ROOT), "ls-files"], capture_output=True, text=True)
    names = tracked.stdout.split() if tracked.returncode == 0 else [
        str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    offenders = []
    for name in names:
        path = ROOT / name
        if path.suffix not in (".py", ".ipynb", ".md", ".toml", ".yml", ".json", ".cfg") and path.name not in (
                "Makefile", "run"):
            continue
        if path.resolve() == Path(__file__).resolve():
            continue
        text = path.read_text(errors="replace")
        offenders += [f"{name}: {ref}" for ref in OUTSIDE_REFERENCES if ref in text]
    assert not offenders, offenders


def _browser_tests(extra_env: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_REQUIRE_BROWSER"}
    env.update(WORKBENCH_CHROMIUM=str(ROOT / "no-such-chromium"), **extra_env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/browser"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_browser_tests_without_chromium_are_skipped_with_one_line_on_how_to_enable_them():
    run = _browser_tests({})
    assert run.returncode == 0, run.stdout[-3000:]
    skipped = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, skipped
    assert "apt-get install chromium" in skipped[0]


def test_ci_makes_a_missing_browser_a_failure():
    assert "WORKBENCH_REQUIRE_BROWSER=1" in (ROOT / ".ci" / "run").read_text()
    run = _browser_tests({"WORKBENCH_REQUIRE_BROWSER": "1"})
    assert run.returncode != 0
    assert "WORKBENCH_REQUIRE_BROWSER is set" in run.stdout


@pytest.mark.parametrize("prerequisite", ["python3", "venv", "make", "pip", "git", "g++", "python3-dev", "chromium"])
def test_readme_names_every_prerequisite_of_make_test(prerequisite):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Prerequisites of `make test`", 1)[1].split("\n#", 1)[0]
    assert prerequisite in section
    if prerequisite not in ("python3", "pip", "venv"):  # Debian packages CI installs (pip comes with the venv)
        ci = (ROOT / ".ci" / "run").read_text()
        assert prerequisite in ci.split("apt-get install", 1)[1].split("\n", 1)[0]
