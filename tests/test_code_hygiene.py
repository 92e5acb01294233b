"""One place for each shared fact, and no private helper used across modules (issue 13, item 20)."""

import ast
import re
from pathlib import Path

import workbench

PACKAGE = Path(workbench.__file__).parent


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


def test_no_private_helper_is_imported_from_another_module():
    imported = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                imported += [f"{path.relative_to(PACKAGE)}: {node.module}.{a.name}" for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__")]
    assert imported == []


def test_removed_dead_code_stays_removed():
    from workbench.bench.runners import _TensorRTWorker
    from workbench.engines import EngineCache
    from workbench.engines import trt_logging
    from workbench.model import flops, samples
    from workbench.widgets import ComparePanel

    assert not hasattr(samples, "build_sample") and not hasattr(flops, "HEAVY_OPS")
    assert not hasattr(_TensorRTWorker, "reset") and not hasattr(EngineCache, "clear")
    assert not hasattr(trt_logging.LogCapture, "text") and not hasattr(trt_logging.LogCapture, "find")
    assert not hasattr(ComparePanel, "set_model")


def test_one_qmax_table_and_one_engine_suffix_list():
    literal_qmax = re.compile(r"\b(127|448)(\.0)?\b")
    for path in (PACKAGE / "precision").glob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if literal_qmax.search(code) and "QMAX = " not in code:
                raise AssertionError(f"{path.name}:{number} spells a quantized range instead of using QMAX: {line}")
    suffixes = [str(p.relative_to(PACKAGE)) for p in _sources() if '".plan"' in p.read_text()]
    assert suffixes == ["engines/build.py"]
    profile_checks = [str(p.relative_to(PACKAGE)) for p in _sources()
                      if "is outside the engine's profile" in p.read_text()]
    assert profile_checks == ["engines/config.py"]


def test_every_exception_of_the_hierarchy_is_exported():
    from workbench import errors

    defined = sorted(name for name, value in vars(errors).items()
                     if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == errors.__name__)
    assert sorted(errors.__all__) == defined
    assert all(getattr(workbench, name) is getattr(errors, name) for name in defined)


def test_the_quantized_precisions_are_named_in_the_precision_registry_only():
    literal = re.compile(r"""\(\s*["']int8["'],\s*["']fp8["']\s*\)|\[\s*["']int8["'],\s*["']fp8["']\s*\]""")
    spelled = [f"{p.relative_to(PACKAGE)}:{n}" for p in _sources()
               for n, line in enumerate(p.read_text().splitlines(), 1) if literal.search(line.split("#")[0])]
    assert spelled == ["precision/plan.py:19"], spelled
