"""Every lesson is read for claims known to be wrong; computed claims are checked by nbval (# NBVAL_CHECK_OUTPUT)."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
README = Path(__file__).resolve().parents[2] / "README.md"

# (pattern, why it is wrong). A pattern matches within one paragraph or code cell line group.
STALE_CLAIMS = [
    (r"2\.5\s*%[^\n]*trtexec's threshold|trtexec's threshold[^\n]*2\.5\s*%|above 2\.5 %[^\n]*unstable",
     "trtexec's stability threshold is about GPU compute time and depends on the version (1 % / 2.5 %); the "
     "workbench's own threshold is for wall-clock latency"),
    (r"Entropy2[^.\n]*(TensorRT's|the) default", "Entropy2 is NVIDIA's recommended calibrator for CNNs, not a default"),
    (r"built-in kernel", "cuDNN-style / XMMA tactic names are named kernels, not 'built-in kernels'"),
    (r"clamp\(round\(x / s\), -127", "INT8 quantization clips to [-128, 127] (scale = amax / 127)"),
    (r"INT8 keeps one number per tensor", "weights are per-channel; activations per-tensor"),
    (r"16 times less", "memory ratios are computed and printed, not written in prose"),
    (r"second\s+block's Concat is absorbed", "which Concat is absorbed is computed, not written in prose"),
    (r"holds? the most activation memory", "per-layer memory is persistent/scratch memory, not activations"),
    (r"\"percentile\": \"LegacyCalibration\"|Percentile[^.\n]*LegacyCalibration",
     "Percentile and MSE are not TensorRT calibrators"),
    # issue 22: the review of the lessons against primary sources (numbers are the review's items)
    (r"fuses Conv \+ BatchNorm \+ ReLU", "#1: digits_cnn has no BatchNormalization (the export folded it)"),
    (r"TensorRT folds it into the convolution's\s+weights",
     "#2: the TensorRT-RTX engine shown does not fold BN (Mul+Add inside a Myelin kernel); classic TensorRT does"),
    (r"Ultralytics layout\) has all of them", "#3: the detector has no control-flow or function node"),
    (r"ResNet-50's 175 nodes", "#4: one count for the graph (175 operators, 177 graph nodes with input and output)"),
    (r"IQuantizeLayer`: \"Quantization rounds ties to even",
     "#5: that sentence is IScaleLayer's; IQuantizeLayer says 'rounding-to-nearest ties-to-even'"),
    (r"Entropy2\*\* runs the same search", "#6: NVIDIA documents when Entropy2 calibrates, not that its search is v1's"),
    (r"cannot fuse the\s+Add", "#7: the Add is still fused; the float residual keeps the trailing Q from fusing"),
    (r"usually \*slower\*", "#8: the measured FP16/FP32 ratio is noise around 1 on this CPU, not 'usually slower'"),
    (r"TorchRunner\((exported|gpu_net)\)(?!\s*#)",
     "#9: the framework baseline runs with the same thread count as its contender (threads=...)"),
    (r"Its total also has a fixed\s+minimum", "#10: the ~8 MiB floor is TensorRT-RTX's, not all TensorRT's"),
    (r"defers tactic choice to the first run|tactic search happens\s+on the user's GPU|own empty timing cache|"
     r"fresh timing cache each",
     "#11: TensorRT-RTX does no timing-based tactic search; its timing cache is a no-op"),
    (r"That is not the\s+activations a layer writes", "#12: a Myelin ForeignNode's activations are its scratch"),
    (r"which dwarfs a few hundred", "#13: auxiliary streams add to the arena, not only the floor"),
    (r"convolution kernels are Turing/Volta/sm7x Tensor Core kernels;",
     "#14: two of the named INT8 kernels are DP4A / SIMT, not Tensor Core kernels"),
    (r"Batch 64 on the CPU", "#15: the exercise runs batch 8"),
    (r"the framework's \*\*eager\*\* execution on the same GPU",
     "#16: the 8x baseline was TensorFlow's graph execution (TF-TRT, 2018)"),
    (r"TensorRT 10\+\s+offers the flag", "#18: the flag exists since 9.x and is ignored (always on) in TensorRT 11"),
    (r"measures the way `trtexec` does:|the way trtexec measures \(time-based|device-to-host copies, like trtexec\.",
     "#19: say which trtexec: TensorRT 11's leaves data transfers out and uses CUDA graphs by default"),
    (r'print\("1: batch 32 accepted by the wider profile"\)', "#20: the check prints a fixed string"),
    (r"The builder's error messages appear below the cell", "#21: builder errors are not printed, one line is"),
    (r"(?i)one logger per process", "#22: a logger per builder/runtime is allowed; the global logger is the first"),
    (r"took 35 s in an nbval run|took 1\.3 min in an nbval run", "#23: stated times are measured upper bounds"),
    (r"onnxruntime 284\.53×|171\.80×|speedup_bars\(chosen\.runs, baseline=framework",
     "#9: no mean-based speed-up over a contended PyTorch baseline"),
    # issue 22, round two: PTQ vs QAT, explicit vs implicit quantization, off-opt shapes, CUDA graphs and contexts
    (r"(?i)implicit[^.\n]*(runs|forces|puts) every layer[^.\n]*INT8",
     "implicit INT8 is a permission: TensorRT uses it only where an INT8 kernel is faster"),
    (r"(?i)calibrators?[^.\n]*(deprecated|removed) in TensorRT 10\.0|TensorRT 11 still[^.\n]*calibrat",
     "the calibrators were deprecated in TensorRT 10.1 and are gone in TensorRT 11"),
    (r"(?i)QAT[^.\n]*(always|guarantees?)[^.\n]*(better|higher|beats)",
     "QAT recovers what PTQ's ranges cost; with good calibrated ranges both keep the float accuracy (lesson 02)"),
    (r"(?i)QAT (models? )?(is|are) (built|quantized|run) (with|by|through) implicit|QAT[^.\n]*needs? (a )?calibrator",
     "a QAT model is explicitly quantized: its fake quantizers export as Q/DQ, built like PTQ's"),
    (r"(?i)(re-?tunes|picks new kernels|selects (its )?kernels) (for|at) every (input )?shape",
     "TensorRT selects kernels for the profile's opt shape; other shapes reuse them"),
    (r"(?i)CUDA graphs?[^.\n]*(faster kernels|speeds? up the kernels|(lowers?|reduces?|shortens?) (the )?GPU compute)",
     "a CUDA graph removes host launch overhead (enqueue time); the kernels and GPU compute time are the same"),
    (r"(?i)(recorded|recordings?)[^.\n]*(show|measure)[^.\n]*(CUDA graphs?|opt shape|execution contexts)[^.\n]*"
     r"(gain|speed-?up|faster)",
     "no recording compares CUDA graph on/off, several contexts, or shapes away from opt"),
]

# Old wording, quoted by the review: each must be caught by a pattern above (so the checks can fail).
OLD_WORDING = [
    "TensorRT fuses Conv + BatchNorm + ReLU (and the residual Add) into single engine layers.",
    "TensorRT folds it into the convolution's weights and bias, and applies the ReLU",
    "A YOLO-style detector (Ultralytics layout) has all of them:",
    "(ResNet-50's 175 nodes → one node per residual block at depth 2)",
    '`IQuantizeLayer`: "Quantization rounds ties to even, and clamps to [-128, 127]")',
    "**Entropy2** runs the same search on every tensor *before* layer fusion",
    "without Q/DQ on the residual input TensorRT cannot fuse the\nAdd into the INT8 convolution's epilogue",
    "The FP16 model runs on ONNX Runtime's CPU too — usually *slower*, because",
    'sweep({"pytorch eager": TorchRunner(exported), "onnxruntime": exported}, batch=[1, 8],',
    "Its total also has a fixed\nminimum (scratch space for its kernels)",
    "TensorRT-RTX builds ahead of time without a GPU and defers tactic choice to the first run on the user's GPU",
    "the level changes little, because the tactic search happens\non the user's GPU at first run",
    "Every level starts from its **own empty timing cache**",
    "That is not the\nactivations a layer writes — those live in the shared arena above",
    "(a TensorRT-RTX build given less than about 8 MiB of workspace fails) — which dwarfs a few hundred kilobytes",
    "*Expected:* its named convolution kernels are Turing/Volta/sm7x Tensor Core kernels; depthwise",
    "1. **Batch 64 on the CPU.** Repeat (a) at batch 8.",
    "* **what is compared** — the framework's **eager** execution on the same GPU, not a CPU.",
    "TensorRT-RTX networks are always strongly typed; TensorRT 10+\n  offers the flag (trtexec `--stronglyTyped`).",
    "This lesson measures the way `trtexec` does:",
    "ONNX Runtime on the CPU, measured the way trtexec measures (time-based warm-up not counted, percentiles).",
    "latency into host-to-device copies, GPU compute and device-to-host copies, like trtexec.",
    'print("1: batch 32 accepted by the wider profile")',
    "The builder's error messages appear below the cell while the search runs.",
    "logger = get_trt_logger()      # TensorRT keeps ONE logger per process; reuse the one the workbench installed",
    "*Time:* running every cell took 35 s in an nbval run on a 2-core CPU",
    "figure = charts.speedup_bars(chosen.runs, baseline=framework.iloc[0])",
    # wrong wordings of the round-two sections (each must be caught, so the checks above can fail)
    "In implicit quantization the INT8 flag forces every layer into INT8.",
    "The calibrators were removed in TensorRT 10.0.",
    "QAT always gives a higher accuracy than PTQ.",
    "QAT models are built with implicit quantization.",
    "TensorRT-RTX picks new kernels for every input shape, so opt does not matter.",
    "A CUDA graph speeds up the kernels of the engine.",
    "The recorded engines show the CUDA graph speed-up over plain launches.",
]

# Noise an attendee must not see in a saved output (the executed-lesson check is nbval's; this reads what is saved).
NOISE = ("cudaError 35", "'colored' module is not installed", "[!] Invalid Engine")


def _cells(path: Path):
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        yield index, "".join(cell["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_has_no_known_stale_claim(path):
    found = [f"cell {i}: {why} — {re.search(pattern, text).group(0)!r}"
             for i, text in _cells(path) for pattern, why in STALE_CLAIMS if re.search(pattern, text)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_states_its_time_exercises_and_checked_claims(path):
    cells = list(_cells(path))
    header = cells[0][1]
    assert re.search(r"\*Time:\*[^\n]*measured", header), "the first cell states a measured running time"
    assert "TIMING_" not in "".join(text for _, text in cells)
    assert any("Try it" in text for _, text in cells), "a 'Try it' section with exercises"
    assert any(text.lstrip().startswith("# Solutions") for _, text in cells), "a solution cell that nbval runs"
    checked = [text for _, text in cells if "# NBVAL_CHECK_OUTPUT" in text]
    assert checked, "at least one computed claim is checked by nbval"
    saved = json.loads(path.read_text())["cells"]
    for cell in saved:
        if cell["cell_type"] == "code" and "# NBVAL_CHECK_OUTPUT" in "".join(cell["source"]):
            assert cell["outputs"] and cell["execution_count"], "a checked cell keeps the output nbval compares"


def test_readme_has_no_known_stale_claim_and_lists_every_lesson():
    text = README.read_text()
    for pattern, why in STALE_CLAIMS:
        assert not re.search(pattern, text), why
    for path in NOTEBOOKS:
        assert f"`{path.stem}`" in text, f"README's lesson table lists {path.stem}"


def test_every_quote_of_the_review_is_caught_by_a_pattern():
    missed = [text for text in OLD_WORDING if not any(re.search(p, text.replace("\\n", "\n")) for p, _ in STALE_CLAIMS)]
    assert not missed, missed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_outputs_carry_no_noise(path):
    for cell in json.loads(path.read_text())["cells"]:
        text = json.dumps(cell.get("outputs", []))
        assert not any(noise in text for noise in NOISE), cell.get("id")


def _lesson(stem: str) -> str:
    return "\n".join(text for _, text in _cells(next(p for p in NOTEBOOKS if p.stem == stem)))


def test_the_corrected_facts_are_stated_with_their_source():
    performance = _lesson("06_performance_report")
    assert "TensorRT Integration Speeds Up TensorFlow Inference" in performance and "low latency runs" in performance
    assert "TF32" in performance and "resnet50-int8-rtx3090" in performance     # the 5.6x ratio is computed
    assert "GPU left out" in performance and "No recording comes from a T4" in performance
    autotuning = _lesson("04_kernel_autotuning")
    assert "Timing cache operations are no-ops in TensorRT-RTX" in autotuning and "autotune(" in autotuning
    assert "Level" in autotuning or "| 0 |" in autotuning
    api = _lesson("07_tensorrt_api")
    assert "TensorRT 11" in api and "TensorRT 9.x" in api and "wide_plan" in api
    precision = _lesson("02_precision_calibration")
    assert "trailing Q-layer cannot be fused" in precision
    memory = _lesson("05_memory_and_streams")
    assert "max_aux_streams" in memory and "activation memory blocks will not be able to be reused" in memory
    benchmark = _lesson("03_build_and_benchmark")
    assert "threads=1" in benchmark and "speedups(" in benchmark and "TensorRT 11" in benchmark


def test_the_round_two_sections_state_their_facts():
    precision = _lesson("02_precision_calibration")
    assert "fake_quant_finetune(" in precision and "opportunistically" in precision    # QAT live; implicit = permission
    assert "deprecated in TensorRT 10.1" in precision and "TensorRT-RTX never had them" in precision
    assert "build_engine(qat.model)" in precision and "read INT8" in precision          # the QAT engine's INT8 layers
    benchmark = _lesson("03_build_and_benchmark")
    assert "ONNX Runtime on this CPU has no opt shape" in benchmark                     # the stand-in is labelled
    assert "no recorded figure away from opt exists here" in benchmark
    assert "setDynamicShapesKernelSpecializationStrategy" in benchmark
    assert "TensorRTOptions(cuda_graph=True)" in benchmark and "concurrency=[1, 2]" in benchmark
    assert "RECORDINGS" in benchmark and "enqueue_share" in benchmark                  # recorded figures, computed
    for gpu_cell in ("skipped, TensorRT engines cannot be timed here:", "skipped, CUDA graphs and execution contexts "
                     "need a GPU:"):
        assert gpu_cell in benchmark, "a GPU cell says in one line why it is skipped"


def test_the_stale_claim_patterns_catch_the_old_wording():
    old = ["above 2.5 % the run is flagged *unstable* (trtexec's threshold)",
           "Calibrate on real digits (Entropy2, TensorRT's default)",
           'family = ... .where(named, "built-in kernel (tactic id)")',
           "q = clamp(round(x / s), -127, 127)"]
    for text in old:
        assert any(re.search(pattern, text) for pattern, _ in STALE_CLAIMS), text
