"""CPU time of every lesson, cell by cell (issue 22: the full lesson run stays under 10 minutes on 2 cores).

    python benchmarks/bench_lessons.py                 # every notebooks/NN_*.ipynb
    python benchmarks/bench_lessons.py 02 05           # some of them

Each lesson runs top to bottom in a fresh kernel (nbclient, as nbval does), in a scratch copy of notebooks/ so its
files (results store, caches) do not land in the checkout. Per cell, the kernel's CPU time (user + system, its
child processes included) is read with psutil: CPU time depends much less on other jobs than wall time does, and on
a quiet machine the lessons' mostly single-threaded cells take about their CPU time in wall time. Both are printed,
with the slowest cells of each lesson and the total against the 10-minute goal.
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 600


def _cpu(process: psutil.Process) -> float:
    t = process.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def run_lesson(path: Path, folder: Path) -> tuple[float, float, list[tuple[float, int, str]]]:
    """(kernel CPU seconds, wall seconds, [(cpu seconds, code cell number, first line)]) of one lesson."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    cells: list[tuple[float, int, str]] = []
    start = time.perf_counter()
    with client.setup_kernel():
        kernel = psutil.Process(client.km.provisioner.process.pid)
        code_number = 0
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            before = _cpu(kernel)
            client.execute_cell(cell, index)
            cells.append((_cpu(kernel) - before, code_number, cell.source.strip().splitlines()[0][:70]))
            code_number += 1
        total_cpu = _cpu(kernel)
    return total_cpu, time.perf_counter() - start, cells


def main(selected: list[str]) -> None:
    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    lessons = [p for p in lessons if not selected or any(p.name.startswith(s) for s in selected)]
    total_cpu = total_wall = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "notebooks"
        shutil.copytree(ROOT / "notebooks", folder)
        for path in lessons:
            cpu, wall, cells = run_lesson(path, folder)
            total_cpu += cpu
            total_wall += wall
            slowest = ", ".join(f"cell {n} {c:.1f} s ({line})" for c, n, line in sorted(cells, reverse=True)[:3])
            print(f"{path.stem:28s} CPU {cpu:6.1f} s  wall {wall:6.1f} s   slowest: {slowest}", flush=True)
    print(f"total: kernel CPU {total_cpu:.0f} s ({total_cpu / 60:.1f} min), wall {total_wall:.0f} s "
          f"(load average {psutil.getloadavg()[0]:.1f}); goal: under {GOAL_S // 60} min on 2 cores: "
          f"{'met' if total_cpu < GOAL_S else 'NOT met'} by CPU time")


if __name__ == "__main__":
    main(sys.argv[1:])
