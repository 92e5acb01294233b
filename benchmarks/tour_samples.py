"""End-to-end tour of the generated samples (issue 19): every CLI command on every sample with no flags, as a new
user would type it; prints what each command gave (its first line of output, or its error) and how long it took.

Samples: the bundled ones small enough for a tour, and the generated traits of today's models (tests/models.py: a
KV-cache decoder with external data, an unsorted FP16 model with an If, an optimum-style ``pixel_values`` model).
Each command runs as its own process (``python -m workbench``), so the times include Python's start and the
imports, in a fresh cache folder (builds are not cached from an earlier run). ``app`` serves a page until stopped and
``diff`` needs two engines: the tour says so instead of running them.

    python benchmarks/tour_samples.py [--only SAMPLE] [--timeout SECONDS]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # models.py: generated samples with today's traits

MODEL_COMMANDS = ["inspect", "graph", "layers", "build", "estimate", "lint", "bench", "calibrate", "quantize",
                  "reduce", "check", "report"]
PLAIN_COMMANDS = ["samples", "env", "runs"]
NOT_RUN = {"app": "serves a page until stopped", "diff": "compares two engines: needs two files"}
BUNDLED = ["resnet_tiny", "bert_tiny", "digits_cnn", "inception_tiny", "yolo_detector", "ocr_recognizer", "if_model",
           "function_model", "merged_decoder", "merged_decoder_optimum"]


def generated(folder: Path) -> dict[str, str]:
    import onnx
    from models import kv_cache_decoder, pixel_values_vision, unsorted_fp16

    paths = {}
    decoder = folder / "decoder_model_merged.onnx"
    onnx.save(kv_cache_decoder(), str(decoder), save_as_external_data=True, all_tensors_to_one_file=True,
              location="decoder_model_merged.onnx_data", size_threshold=128)
    paths["kv_cache_decoder"] = str(decoder)
    for name, proto in (("unsorted_fp16", unsorted_fp16()), ("pixel_values", pixel_values_vision())):
        paths[name] = str(folder / f"{name}.onnx")
        onnx.save(proto, paths[name])
    return paths


def said(out: str, err: str, code: int) -> str:
    lines = [line.strip() for line in (out if code == 0 else err or out).splitlines() if line.strip()]
    text = " ".join((lines[0] if code == 0 else lines[-1]).split()) if lines else "(nothing printed)"
    return text if len(text) <= 150 else text[:147] + "..."


def run(argv: list[str], workdir: Path, env: dict, timeout: float) -> tuple[str, float, str]:
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "workbench", *argv], cwd=workdir, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start, f"still running after {timeout:.0f} s"
    return str(done.returncode), time.perf_counter() - start, said(done.stdout, done.stderr, done.returncode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="tour one sample")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per command (default 600)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        env = {**os.environ, "WORKBENCH_CACHE_DIR": str(work / "cache"),
               "WORKBENCH_RESULTS": str(work / "results.sqlite"), "PYTHONPATH": str(ROOT)}
        samples = {name: name for name in BUNDLED} | generated(work)
        if args.only:
            samples = {args.only: samples[args.only]}
        print(f"{'sample':18} {'command':10} {'exit':>7} {'seconds':>8}  what it said")
        for command in PLAIN_COMMANDS:
            code, seconds, text = run([command], work, env, args.timeout)
            print(f"{'-':18} {command:10} {code:>7} {seconds:8.1f}  {text}")
        for command, why in NOT_RUN.items():
            print(f"{'-':18} {command:10} {'not run':>7} {'':>8}  {why}")
        failures, total = 0, time.perf_counter()
        for sample, source in samples.items():
            for command in MODEL_COMMANDS:
                code, seconds, text = run([command, source], work, env, args.timeout)
                failures += code != "0"
                print(f"{sample:18} {command:10} {code:>7} {seconds:8.1f}  {text}", flush=True)
        print(f"\n{len(samples)} samples x {len(MODEL_COMMANDS)} commands in {time.perf_counter() - total:.0f} s; "
              f"{failures} did not exit 0 (an error message is the result a user sees: read it above)")


if __name__ == "__main__":
    main()
