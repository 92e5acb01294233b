"""The set-up promises of the README: one dependency list, two entry points, a fast import."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def _normalize(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted |= set(extra)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {r for r in pip_section if not r.startswith("-e")}
    assert {_normalize(r) for r in listed} == {_normalize(r) for r in wanted}
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.replace("python", "") == project["requires-python"]


def test_readme_has_exactly_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\s*(make \w+)", setup, flags=re.M)
    assert commands == ["make lab", "make test"]


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_import_is_lazy():
    code = "import sys, workbench; print(any(m in sys.modules for m in ('onnx', 'pandas', 'tensorrt_rtx')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_lessons_say_what_they_need_and_are_committed_clean():
    import nbformat

    readme = (ROOT / "README.md").read_text()
    lessons = sorted((ROOT / "notebooks").glob("0*.ipynb"))
    assert [p.stem for p in lessons] == ["00_quickstart", "01_graph_fusion", "02_precision_calibration",
                                         "03_build_and_benchmark", "04_kernel_autotuning", "05_memory_and_streams",
                                         "06_performance_report", "07_tensorrt_api"]
    for path in lessons:
        nb = nbformat.read(path, as_version=4)
        assert "*Needs:*" in nb.cells[0].source, path.name
        # Only cells whose key outputs nbval checks keep their saved output; no widget state is committed.
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"
                   and "NBVAL_CHECK_OUTPUT" not in c.source), f"{path.name} has outputs"
        assert "widgets" not in nb.metadata, f"{path.name} carries saved widget state"
        assert path.stat().st_size < 1_000_000, f"{path.name} is {path.stat().st_size:,} bytes"
        assert f"`{path.stem}`" in readme, f"{path.name} is not in the README's lesson table"
