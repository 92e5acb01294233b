"""Speed figures for model loading (issue: foundation). Goals: import < 1 s; load + summarize ResNet-50 < 1 s."""

import statistics
import subprocess
import sys
import time


def import_seconds() -> float:
    code = "import time; t = time.perf_counter(); import workbench; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(5)]
    return statistics.median(runs)


def load_and_summarize_seconds(name: str) -> float:
    from workbench.model import load_model
    from workbench.model.samples import sample_path

    sample_path(name)  # generated once into the cache; loading is what is measured
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        load_model(name).summary()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


if __name__ == "__main__":
    print(f"import workbench:                       {import_seconds():.3f} s   (goal < 1 s)")
    print(f"load + summarize resnet50 (25.6 M params): {load_and_summarize_seconds('resnet50'):.3f} s   (goal < 1 s)")
    print(f"load + summarize bert_base (109 M params): {load_and_summarize_seconds('bert_base'):.3f} s")
