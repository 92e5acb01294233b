"""Layers, inside out: model -> graph -> precision -> engines -> bench -> charts -> widgets -> cli.
A lower layer never imports a higher one."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "workbench"
ORDER = ["model", "graph", "precision", "engines", "bench", "charts", "widgets", "cli"]


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level >= 2 and node.module:        # from ..engines import x
                yield node.module.split(".")[0]
            elif node.level == 0 and node.module and node.module.startswith("workbench."):
                yield node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("workbench."):
                    yield alias.name.split(".")[1]


def test_lower_layers_do_not_import_higher_ones():
    violations = []
    for layer in ORDER:
        folder = PACKAGE / layer
        if not folder.is_dir():
            continue
        rank = ORDER.index(layer)
        for path in folder.rglob("*.py"):
            for target in _imports(path):
                if target in ORDER and ORDER.index(target) > rank:
                    violations.append(f"{path.relative_to(PACKAGE)} imports workbench.{target}")
    assert not violations, violations
