import json
import subprocess
import sys
from pathlib import Path

import onnx

from models import conv_bn_relu


def test_inspect_json_keys(run_cli):
    code, out, err = run_cli("inspect", "resnet_tiny", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert {"inputs", "outputs", "nodes", "ops", "params", "opset"} <= set(info)
    assert info["inputs"] == [{"name": "input", "dtype": "float32", "shape": ["batch", 3, 32, 32]}]
    assert info["ops"]["Conv"] == 6 and info["nodes"] == sum(info["ops"].values())
    assert info["opset"] == 17


def test_inspect_table_and_shapes(run_cli, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(conv_bn_relu(), str(path))
    code, out, _ = run_cli("inspect", path, "--shapes", "x:2x3x16x16")
    assert code == 0
    assert "GMACs" in out and "x:2x3x16x16" in out


def test_errors_are_one_line_and_nonzero(run_cli, tmp_path):
    bad = tmp_path / "notes.onnx"
    bad.write_text("not a model")
    code, out, err = run_cli("inspect", bad)
    assert code != 0 and out == ""
    assert err.strip().count("\n") == 0 and "notes.onnx" in err and "Traceback" not in err
    code, _, err = run_cli("inspect", "resnet_tiny", "--shapes", "input:1x3")
    assert code != 0 and "rank" in err


def test_console_script_installed():
    script = Path(sys.executable).parent / "workbench"
    assert script.is_file(), "pip install should create the `workbench` console command"
    proc = subprocess.run([str(script), "samples", "--json"], capture_output=True, text=True, check=True)
    names = {row["name"] for row in json.loads(proc.stdout)}
    assert {"resnet50", "resnet_tiny", "bert_base", "bert_tiny"} <= names


def test_module_forms_register_every_subcommand():
    """`python -m workbench` and `python -m workbench.cli.main` see the same subcommands as the script."""
    import subprocess
    import sys

    for module in ("workbench", "workbench.cli.main"):
        out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=True)
        assert "reduce" in out.stdout and "build" in out.stdout, (module, out.stdout)
