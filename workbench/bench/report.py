"""A report notebook on a user's model (``workbench report``): parameters first, then the gate's findings, and one
cell per policy check that raises when the check fails, so ``pytest --nbval-lax report.ipynb`` is the CI step.

The notebook is written with nbformat and executed with nbclient (what nbval and nbconvert use). Charts go out as
plotly's JSON mimetype only (no plotly.js copy, no widget state), so the saved file stays small.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from ..errors import ConfigError, WorkbenchError

if TYPE_CHECKING:
    from ..files import PathArg
    from ..model.sources import ModelSource

GRAPH_NODE_LIMIT = 400  # above this many ONNX nodes the report shows fusion tables, not graph drawings

_SETUP = """\
import pandas as pd
import plotly.io as pio
from workbench.bench.check import CheckPolicy, baseline_frame, resolve_baseline, run_check
from workbench.model import load_model

pio.renderers.default = "plotly_mimetype"  # the figure's JSON only: small notebooks, no plotly.js copy
pd.set_option("display.max_colwidth", 80)
model = load_model(MODEL)
policy = CheckPolicy.from_toml(POLICY) if POLICY else CheckPolicy()
report = run_check(model, policy, resolve_baseline(BASELINE, model.name))
print(report.text())"""

_GRAPHS = """\
from workbench.charts.graph import graph_figure
from workbench.graph import from_engine, from_onnx, layered_layout

build = report.build
print(f"{build.fusion.onnx_nodes} ONNX nodes -> {build.fusion.engine_layers} engine layers")
if build.fusion.onnx_nodes <= GRAPH_NODE_LIMIT:
    graph_figure(layered_layout(from_onnx(build.model)), title="ONNX graph (before fusion)").show()
    graph_figure(layered_layout(from_engine(build.layers, model=build.model)),
                 title="Engine layers (after fusion)").show()
build.fusion.patterns"""

_PRECISION = """\
from workbench.engines.estimate import layer_workload

work = layer_workload(report.build, model=report.build.model)
display(work.groupby(["op", "precision"]).size().rename("layers").reset_index())
work[["name", "op", "precision", "onnx_nodes"]]"""

_LINT = """\
report.lint[["severity", "rule", "layer", "message", "fix"]] if report.lint is not None else "no engine to lint\""""

_BASELINE = """\
if report.baseline is None:
    print("no baseline given: run `workbench check MODEL --save-baseline baseline.json` once, then pass it")
else:
    display(report.diff.totals)
baseline_frame(report)"""

_LATENCY = """\
from workbench.charts.performance import latency_distribution

if report.measurement is not None:
    row = report.measurement.row()
    row["label"] = "now"
    frame = pd.DataFrame([row])
    latency_distribution(frame).show()
    print(f"median {report.current.latency['median_ms']:.3f} ms, CV {report.current.latency['cv']:.1%}, "
          f"measured on {report.current.latency['machine_class']}")
    if report.baseline is not None and report.baseline.latency:
        print(f"baseline median {report.baseline.latency['median_ms']:.3f} ms on "
              f"{report.baseline.latency['machine_class']}")"""


def _check_cell(name: str) -> str:
    return (
        f"# check: {name}\nresult = report.result({name!r})\nprint('\\n'.join(result.lines()))\n"
        f"assert result.status != 'fail', '\\n'.join(result.lines())"
    )


def _policy_checks(policy) -> list[str]:
    names = ["build"] + (["lint"] if policy.lint != "off" else [])
    for key in (
        "max_float_layers_in_int8",
        "max_new_reformats",
        "max_activation_memory_mib",
        "min_top1_agreement",
        "max_latency_regression",
    ):
        if getattr(policy, key) is not None:
            names.append(key)
    return names


def report_notebook(model: str, *, policy: str | None = None, baseline: str | None = None) -> nbformat.NotebookNode:
    """The report as an (unexecuted) nbformat notebook; the first cell holds the parameters."""
    from .check import CheckPolicy

    checks = _policy_checks(CheckPolicy.from_toml(policy) if policy else CheckPolicy())  # a bad policy fails now
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    params = code(
        f"MODEL = {str(model)!r}\nPOLICY = {str(policy) if policy else None!r}\n"
        f"BASELINE = {str(baseline) if baseline else None!r}\nGRAPH_NODE_LIMIT = {GRAPH_NODE_LIMIT}"
    )
    params.metadata["tags"] = ["parameters"]  # papermill's convention: the cell a runner may replace
    cells = [
        params,
        md(
            f"# Engine report: `{Path(str(model)).name}`\nBuilt with the CPU builder, linted and measured "
            "by `workbench check`; each check at the end is a cell that fails when its threshold breaks."
        ),
        code(_SETUP),
        md("## Graph before and after fusion"),
        code(_GRAPHS),
        md("## Precision of each engine layer"),
        code(_PRECISION),
        md("## Lint"),
        code(_LINT),
        md("## Diff against the baseline"),
        code(_BASELINE),
        md("## CPU latency (ONNX Runtime)"),
        code(_LATENCY),
        md("## Checks (nbval fails the step when one of these raises)"),
    ]
    cells += [code(_check_cell(name)) for name in checks]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def write_report(
    model: ModelSource,
    output: PathArg,
    *,
    policy: PathArg | None = None,
    baseline: str | None = None,
    execute: bool = True,
    timeout: int = 600,
) -> tuple[Path, list[str]]:
    """Write the report notebook to ``output`` (executed unless ``execute=False``); returns the path and the names
    of the checks whose cells failed. Paths are made absolute, so the notebook runs from any folder."""
    from ..files import atomic_write_text

    output = Path(output)
    if output.suffix != ".ipynb":
        raise ConfigError(f"report output {output} must be an .ipynb file")

    def absolute(p):
        return str(Path(p).resolve()) if p and Path(p).exists() else p

    nb = report_notebook(absolute(str(model)), policy=absolute(policy), baseline=absolute(baseline))
    failed, broken = [], None
    if execute:
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError

        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(output.resolve().parent)}},
        )
        try:
            client.execute()
        except CellExecutionError as exc:  # not with allow_errors, but a kernel that dies says so here
            raise WorkbenchError(f"report notebook {output} could not run: {exc}") from None
        for cell in nb.cells:
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors and cell.source.startswith("# check: "):
                failed.append(cell.source.splitlines()[0][len("# check: ") :])
            elif errors and broken is None:
                broken = f"{errors[0].get('ename')}: {errors[0].get('evalue')}"
    nb.metadata.pop("widgets", None)  # no widget state: the saved file stays small
    atomic_write_text(output, nbformat.writes(nb))
    if broken:  # written first: the notebook shows the traceback where it happened
        raise WorkbenchError(f"report notebook {output} was written, but a cell failed: {broken}")
    return output, failed
