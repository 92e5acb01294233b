"""docs/ci: the GitHub Actions and GitLab CI recipes' commands, run as written against a sample model, and the
README's must-fail example (a bad Q/DQ placement) exits 1 naming the node; `workbench report` writes a small
notebook whose check cells fail when a check fails."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from workbench.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "docs" / "ci"
REPORT_LIMIT = 400_000  # bytes: figures as JSON, no plotly.js, no widget state


def _commands(lines) -> list[str]:
    """The recipe lines that run the workbench or pytest (installing is the runner's business)."""
    out = []
    for line in lines:
        for part in str(line).splitlines():
            part = part.strip()
            if part.startswith(("workbench ", "pytest ")):
                out.append(part)
    return out


def _github():
    job = yaml.safe_load((CI / "github-actions.yml").read_text())["jobs"]["engine-gate"]
    return job["env"], _commands(step["run"] for step in job["steps"] if "run" in step)


def _gitlab():
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["engine-gate"]
    return job["variables"], _commands(job["script"])


def _run(command: str, cwd: Path, capsys) -> tuple[int, str]:
    argv = shlex.split(os.path.expandvars(command))
    if argv[0] == "workbench":
        status = main(argv[1:])
        captured = capsys.readouterr()
        return status, captured.out + captured.err
    with capsys.disabled():
        done = subprocess.run([sys.executable, "-m", *argv, "-p", "no:cacheprovider"], cwd=cwd, capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600,
                              check=False)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A user's repository: the model, the policy of docs/ci, the recipe's environment variables."""
    from workbench.model.samples import sample_path

    env, _ = _github()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "models").mkdir()
    shutil.copy(sample_path("digits_cnn"), tmp_path / env["MODEL"])
    (tmp_path / "ci").mkdir()
    shutil.copy(CI / "policy.toml", tmp_path / env["POLICY"])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_github_and_gitlab_recipes_run_the_same_commands():
    (gh_env, gh), (gl_env, gl) = _github(), _gitlab()
    assert gh == gl and gh_env == gl_env
    assert [c.split()[:2] for c in gh] == [["workbench", "check"], ["workbench", "report"], ["pytest", "--nbval-lax"]]
    assert "--junit" in gh[0] and "--baseline" in gh[0]


def test_recipe_commands_pass_on_the_sample_model(repo, capsys):
    readme = (CI / "README.md").read_text()
    record = next(c for c in _commands(readme.splitlines()) if "--save-baseline" in c)
    status, out = _run(record, repo, capsys)
    assert status == 0, out
    assert "SKIP max_new_reformats: no baseline yet" in out and (repo / "ci" / "baseline.json").exists()
    # Latency on this shared, loaded machine is not a verdict a test may depend on: the baseline is marked as
    # measured on another runner class, so the recipe's latency check is skipped with its reason.
    baseline = json.loads((repo / "ci" / "baseline.json").read_text())
    baseline["latency"]["machine_class"] = "GitHub ubuntu-latest runner x4"
    (repo / "ci" / "baseline.json").write_text(json.dumps(baseline))
    _, commands = _github()
    outputs = []
    for command in commands:
        status, out = _run(command, repo, capsys)
        assert status == 0, f"{command}\n{out}"
        outputs.append(out)
    assert "PASS max_new_reformats" in outputs[0] and "SKIP max_latency_regression: not comparable here" in outputs[0]
    assert (repo / "engine-checks.xml").exists() and "passed" in outputs[2]
    notebook = nbformat.read(repo / "engine-report.ipynb", as_version=4)
    assert "MODEL = " in notebook.cells[0].source and "POLICY = " in notebook.cells[0].source
    assert sum(c.source.startswith("# check: ") for c in notebook.cells) == 7


def test_must_fail_recipe_names_the_bad_qdq_node(repo, capsys):
    readme = (CI / "README.md").read_text()
    block = re.search(r"<!-- ci-recipe: must-fail -->\s*```bash\n(.*?)```", readme, re.DOTALL).group(1)
    commands = _commands(line.split("#")[0] for line in block.splitlines())
    assert len(commands) == 2
    status, out = _run(commands[0], repo, capsys)
    assert status == 0, out
    status, out = _run(commands[1], repo, capsys)
    assert status == 1, out
    assert "FAIL build" in out and "FAIL lint" in out
    # The node the parser stopped at is one lint names as a quantized (INT32) bias: the engine diff's reason
    rejected = re.search(r"failed at ONNX node '([^']+)'", out).group(1)
    assert f"qdq-int32-bias at {rejected}:" in out
    junit = (repo / "engine-checks.xml").read_text()
    assert 'name="build"' in junit and "<failure" in junit


def test_report_notebook_executes_small_and_marks_the_failed_check(repo, tmp_path):
    from workbench.bench.report import write_report

    policy = tmp_path / "strict.toml"
    policy.write_text("max_activation_memory_mib = 0.001\nbenchmark_seconds = 0.2\n")
    path, failed = write_report(repo / "models" / "classifier.onnx", tmp_path / "report.ipynb", policy=policy)
    assert failed == ["max_activation_memory_mib"]
    assert path.stat().st_size < REPORT_LIMIT
    notebook = nbformat.read(path, as_version=4)
    assert "widgets" not in notebook.metadata and notebook.cells[0].metadata["tags"] == ["parameters"]
    outputs = [o for c in notebook.cells for o in c.get("outputs", [])]
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)  # the charts are there
    assert not any("plotly" in o.get("data", {}).get("text/html", "") for o in outputs)  # no plotly.js copy
    errors = [c for c in notebook.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(errors) == 1 and "max_activation_memory_mib" in errors[0].source
