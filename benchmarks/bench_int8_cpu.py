"""INT8 on the CPU (issue 26 item 4): the workbench's ONNX Runtime target against ONNX Runtime's own
``quantize_static``, per model, in one run.

Goals, printed per model as ratios:
- agreement: SQNR vs FP32 on held-out data >= quantize_static's best over its sensible settings (QDQ, U8S8,
  per-channel on/off x reduce_range on/off), i.e. "dB vs best" >= 0;
- speed: >= 1.0x the best-SNR quantize_static setting's speed (equal speed), >= 1.1x where placement allows
  (graph-output writers kept float, fewer requantizations). Whether it allows is measured: ONNX Runtime's profile
  of that setting's model gives the share of kernel time in float work (nodes whose largest tensor is float:
  Q/DQ, float ops between them; not the conversion of a float graph input or output, which every placement
  has); a placement can at most make that time vanish, so no placement can be more than
  1 / (1 - share) times faster ("placement bound"), and where the bound is under 1.1x the 1.1x goal cannot be met
  by placement;
- INT8 vs FP32 speed-up (ResNet-50 goal >= 2.5x at batch 1 on an AVX512-VNNI CPU).

Speed: every session of a model (FP32, the workbench's, each quantize_static setting) is timed round-robin in this
one process, batch 1, the same intra-op threads (``--threads``), one call of each in turn; a round's ratio is the
ratio of its per-call medians, the printed ratio the median over ``--rounds`` rounds (load from others varies);
the order of the calls is shuffled every pass.
Same calibration data on both sides (MinMax: the workbench's default, and quantize_static's). Models: the trained
digits CNN (real held-out images), generated samples (random weights and inputs), the YOLO-style detector (whose
class scores must not come out zeroed: check_quantized's floor is run on it, and on its rules-off placement, which
the floor must catch).

    PYTHONPATH=. python benchmarks/bench_int8_cpu.py [--models digits_cnn,resnet50] [--threads 1] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort

from workbench.model import load_model
from workbench.precision import calibrate, check_quantized, compare, quantize, run_outputs

MODELS = ("digits_cnn", "resnet_tiny", "inception_tiny", "yolo_detector", "resnet50")
IMAGE = {"yolo_detector": 320}  # its dynamic height and width (the sample's imgsz)
SAMPLES = {"resnet50": (32, 16), "yolo_detector": (32, 16)}  # (calibration, held-out); 64/64 otherwise


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = set(next(line for line in text.splitlines() if line.startswith("flags")).split())
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8")
    return ", ".join(f for f in wanted if f in flags)


def datasets(name: str, model) -> tuple[dict, dict]:
    """(calibration feeds, held-out feeds): the digits splits for the trained CNN, seeded random data otherwise."""
    if name == "digits_cnn":
        from workbench.model.datasets import digits

        return {"image": digits("calibration")[0][:128]}, {"image": digits("test")[0][:200]}
    spec = model.inputs[0]
    shape = [d if isinstance(d, int) else IMAGE.get(name, 1) for d in spec.shape][1:]
    n_calib, n_held = SAMPLES.get(name, (64, 64))
    calib = np.random.default_rng(0).standard_normal((n_calib, *shape)).astype(np.float32)
    held = np.random.default_rng(1).standard_normal((n_held, *shape)).astype(np.float32)
    return {spec.name: calib}, {spec.name: held}


def quantize_static_settings(model, calib: dict, folder: Path) -> dict:
    """quantize_static (QDQ, U8S8, MinMax) at per-channel on/off x reduce_range on/off: {label: model}."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            name, values = next(iter(calib.items()))
            self.batches = iter([{name: values[i : i + 8]} for i in range(0, len(values), 8)])

        def get_next(self):
            return next(self.batches, None)

    source, prepared = folder / f"{model.name}.onnx", folder / f"{model.name}_prepared.onnx"
    model.save(source)
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    settings = {}
    for per_channel in (True, False):
        for reduce_range in (False, True):
            label = f"qs {'per-channel' if per_channel else 'per-tensor'}{' reduce_range' if reduce_range else ''}"
            out = folder / f"{model.name}_{label.replace(' ', '_')}.onnx"
            quantize_static(
                str(prepared),
                str(out),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
            settings[label] = load_model(out, name=f"{model.name}_{label}")
    return settings


def session(model, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model.to_bytes(), options, providers=["CPUExecutionProvider"])


def interleaved_medians(models: dict, feed: dict, threads: int, rounds: int, round_s: float) -> list[dict]:
    """Per round, {label: median ms per call}, the sessions called round-robin (one call each in turn)."""
    sessions = {label: session(m, threads) for label, m in models.items()}
    for s in sessions.values():  # warm-up
        for _ in range(3):
            s.run(None, feed)
    results = []
    order = np.random.default_rng(0)
    labels = list(sessions)
    for _ in range(rounds):
        times = {label: [] for label in sessions}
        start = time.perf_counter()
        while time.perf_counter() - start < round_s or len(times[labels[0]]) < 5:
            # a fresh order each pass: the model run before another evicts its weights from the cache (FP32's
            # 100 MB more than an int8 model's), which a fixed order would charge to the same model every time
            for label in order.permutation(labels):
                s = sessions[label]
                t0 = time.perf_counter()
                s.run(None, feed)
                times[label].append((time.perf_counter() - t0) * 1e3)
        results.append({label: float(np.median(v)) for label, v in times.items()})
    return results


def float_share(model, feed: dict, threads: int, runs: int = 20) -> float:
    """The share of ONNX Runtime's kernel time (its profile, ``runs`` calls after a warm-up) in nodes whose largest
    tensor is float (a tie counts as float: QuantizeLinear/DequantizeLinear convert a whole tensor), less the
    conversions every placement keeps: the QuantizeLinear of a float graph input, the DequantizeLinear of a float
    graph output (ONNX Runtime keeps their names)."""
    import json

    graph = model.proto.graph
    inputs, outputs = {i.name for i in graph.input}, {o.name for o in graph.output}
    interface = {
        n.name
        for n in graph.node
        if (n.op_type == "QuantizeLinear" and n.input[0] in inputs)
        or (n.op_type == "DequantizeLinear" and n.output[0] in outputs)
    }

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory() as folder:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "profile")
        s = ort.InferenceSession(model.to_bytes(), options, providers=["CPUExecutionProvider"])
        for _ in range(runs + 3):
            s.run(None, feed)
        events = json.loads(Path(s.end_profiling()).read_text())
    total = floating = 0.0
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        if e["name"].removesuffix("_kernel_time") in interface:
            continue
        tensors = [
            (int(np.prod(shape)) if shape else 1, kind == "float")
            for d in e["args"].get("input_type_shape", []) + e["args"].get("output_type_shape", [])
            for kind, shape in d.items()
        ]
        total += e["dur"]
        if tensors and max(tensors)[1]:
            floating += e["dur"]
    return floating / total if total else 0.0


def worst_sqnr(reference, candidate, held: dict) -> float:
    """Through ONNX Runtime's int8 kernels: what this CPU deployment computes (saturation included, where the CPU
    has no VNNI), not the Q/DQ model as written."""
    return float(compare(reference, candidate, held, int8_kernels=True)["sqnr_db"].min())


def class_scores(reference: dict, candidate, held: dict) -> tuple[float, float]:
    """(SQNR dB, share zeroed) of a YOLOv8-style output's class scores (rows 4 on of [N, 4 + classes, anchors])."""
    expected = next(iter(reference.values()))[:, 4:]
    got = next(iter(run_outputs(candidate, held, int8_kernels=True).values()))[:, 4:]
    sqnr = 10 * np.log10(np.sum(expected.astype(np.float64) ** 2) / max(np.sum((expected - got) ** 2.0), 1e-30))
    return float(sqnr), float(np.mean(got[expected != 0] == 0))


def node_counts(model) -> str:
    ops = [n.op_type for n in model.nodes]
    return f"{ops.count('QuantizeLinear')} Q, {ops.count('DequantizeLinear')} DQ"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-seconds", type=float, default=2.0)
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.ERROR)
    print(
        f"CPU flags: {cpu_flags()}; onnxruntime {ort.__version__}; {args.threads} intra-op thread(s), batch 1, "
        f"{args.rounds} interleaved rounds"
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-int8-cpu-"))
    summary = []
    for name in args.models.split(","):
        model = load_model(name)
        calib, held = datasets(name, model)
        result = quantize(model, calibrate(model, calib, "minmax", batch_size=8), target="onnxruntime")
        ours = result.model
        settings = quantize_static_settings(model, calib, folder)
        sqnr = {"workbench": worst_sqnr(model, ours, held)}
        sqnr.update({label: worst_sqnr(model, m, held) for label, m in settings.items()})
        best_label = max(settings, key=lambda label: sqnr[label])
        if name == "yolo_detector":
            reference = run_outputs(model, held)
            for label, m in {"workbench": ours, **settings}.items():
                db, zeroed = class_scores(reference, m, held)
                print(f"  {label:<32} class scores: SQNR {db:6.2f} dB, zeroed {zeroed:.0%}")
        feed = {k: v[:1] for k, v in held.items()}
        rounds = interleaved_medians(
            {"fp32": model, "workbench": ours, **settings}, feed, args.threads, args.rounds, args.round_seconds
        )
        ms = {label: float(np.median([r[label] for r in rounds])) for label in rounds[0]}

        def ratio(label: str, rounds: list = rounds) -> float:  # how many times faster the workbench's is
            return float(np.median([r[label] / r["workbench"] for r in rounds]))

        print(f"\n{name}: {node_counts(ours)} in the workbench's ({result.notes[-1] if result.notes else ''})")
        print(f"  {'model':<32} {'SQNR dB':>8} {'ms':>8} {'workbench speed-up':>19}")
        for label in ms:
            db = f"{sqnr[label]:8.2f}" if label in sqnr else f"{'':8}"
            print(f"  {label:<32} {db} {ms[label]:8.3f} {ratio(label):18.2f}x")
        fastest = min(settings, key=lambda label: ms[label])
        share = float_share(settings[best_label], feed, args.threads)
        row = {
            "float_share": share,
            "bound": 1 / (1 - share),
            "model": name,
            "db_vs_best": sqnr["workbench"] - sqnr[best_label],
            "best": best_label,
            "speed_vs_best": ratio(best_label),
            "speed_vs_fastest": ratio(fastest),
            "vs_fp32": ratio("fp32"),
        }
        summary.append(row)
        if name == "yolo_detector":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                floor = check_quantized(model, ours, held, on_failure="warn")
                table = calibrate(model, calib, "minmax", batch_size=8)
                destroyed = quantize(model, table, target="onnxruntime", rules=False).model
                caught = check_quantized(model, destroyed, held, on_failure="warn")
            for label, frame in (("workbench", floor), ("rules off", caught)):
                for r in frame.itertuples():
                    print(
                        f"  floor, {label}: output '{r.output}' SQNR {r.sqnr_db:.1f} dB, zeroed {r.zeroed:.0%}, "
                        f"{'passed' if r.passed else 'FAILED (caught)'}"
                    )
    print(
        "\nGoals per model (SNR: workbench - quantize_static's best setting, goal >= 0 dB; speed: workbench vs "
        "that setting, goal >= 1.0x, 1.1x where placement allows: where its placement bound, 1 / (1 - its float "
        "share of kernel time), is at least 1.1x)"
    )
    print(
        f"  {'model':<16} {'dB vs best':>10} {'best setting':<28} {'speed vs best':>13} {'vs fastest qs':>13} "
        f"{'vs FP32':>8} {'float share':>11} {'placement bound':>15}"
    )
    for r in summary:
        print(
            f"  {r['model']:<16} {r['db_vs_best']:+10.2f} {r['best']:<28} {r['speed_vs_best']:12.2f}x "
            f"{r['speed_vs_fastest']:12.2f}x {r['vs_fp32']:7.2f}x {r['float_share']:10.1%} {r['bound']:14.3f}x"
            + ("" if r["bound"] < 1.1 else "  (1.1x possible by placement)")
        )


if __name__ == "__main__":
    main()
