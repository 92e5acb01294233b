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
    plan = (PACKAGE / "precision" / "plan.py").read_text().splitlines()
    registry = next(n for n, line in enumerate(plan, 1) if line.startswith("QUANTIZED"))
    assert spelled == [f"precision/plan.py:{registry}"], spelled


def _unhinted(tree: ast.Module, path: str) -> list[str]:
    """Public functions and methods (of public classes) with a parameter or the return left without a hint."""
    found = []

    def visit(node: ast.AST, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef) and not child.name.startswith("_"):
                visit(child, True)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                dunder = child.name.startswith("__") and child.name.endswith("__")
                if child.name.startswith("_") and not (in_class and dunder):
                    continue  # private; functions nested in functions are never visited
                args = child.args
                named = args.posonlyargs + args.args + args.kwonlyargs
                if in_class and named and named[0].arg in ("self", "cls") and not any(
                        isinstance(d, ast.Name) and d.id == "staticmethod" for d in child.decorator_list):
                    named = named[1:]
                missing = [a.arg for a in named if a.annotation is None]
                missing += [f"*{a.arg}" for a in (args.vararg, args.kwarg) if a is not None and a.annotation is None]
                if child.returns is None and child.name != "__init__":  # __init__ returns None by definition
                    missing.append("return")
                if missing:
                    found.append(f"{path}:{child.lineno} {child.name}: {', '.join(missing)}")

    visit(tree, False)
    return found


def test_every_public_function_and_method_has_type_hints():
    # model/loading.py is the i19a split of Model, which brings its own hints (it is covered all the same)
    unhinted = []
    for path in _sources():
        unhinted += _unhinted(ast.parse(path.read_text()), str(path.relative_to(PACKAGE)))
    assert unhinted == [], f"{len(unhinted)} public functions lack hints:\n" + "\n".join(unhinted)


def test_the_hint_check_finds_what_it_should():
    source = '''
def public(a, b: int, *args, **kwargs): ...
def hinted(a: int, *args: str, **kwargs: float) -> None: ...
def _private(a): ...
class Thing:
    def __init__(self, x: int): ...
    def method(self, y) -> int: ...
    @staticmethod
    def static(self) -> None: ...
    def __len__(self): ...
    def _helper(self, z): ...
class _Hidden:
    def method(self, y): ...
'''
    assert _unhinted(ast.parse(source), "x.py") == [
        "x.py:2 public: a, *args, **kwargs, return".replace("**kwargs", "*kwargs"),
        "x.py:7 method: y", "x.py:9 static: self", "x.py:10 __len__: return"]
