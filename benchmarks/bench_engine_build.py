"""Speed figures for engine builds (issue: engines), measured in one run:
- building through the workbench vs calling the TensorRT API directly on the same model (goal: ratio <= 1.2);
- a cached rebuild (goal <= 0.1 s);
- parsing the layer information of an engine of 200+ layers (goal <= 0.1 s).
"""

import statistics
import time

from workbench.engines import (BuildConfig, BuilderConfig, EngineBytes, EngineCache, NetworkFromOnnx,
                               build_engine)
from workbench.engines.flavor import trt
from workbench.engines.layers import layers_frame, parse_layer_report
from workbench.model import load_model
from workbench.model.samples import resnet


def direct_build_seconds(model, shape) -> float:
    """The plain TensorRT API, same model, profile and profiling verbosity, no workbench in between."""
    module = trt()
    from polygraphy.backend.trt.util import get_trt_logger

    t = time.perf_counter()
    builder = module.Builder(get_trt_logger())
    flags = 1 << int(module.NetworkDefinitionCreationFlag.STRONGLY_TYPED) \
        if hasattr(module.NetworkDefinitionCreationFlag, "STRONGLY_TYPED") else 0
    network = builder.create_network(flags)
    parser = module.OnnxParser(network, get_trt_logger())
    assert parser.parse(model.to_bytes())
    config = builder.create_builder_config()
    config.profiling_verbosity = module.ProfilingVerbosity.DETAILED
    profile = builder.create_optimization_profile()
    profile.set_shape("input", shape, shape, shape)
    config.add_optimization_profile(profile)
    assert builder.build_serialized_network(network, config) is not None
    return time.perf_counter() - t


def main():
    model = load_model("resnet50")
    shape = (8, 3, 224, 224)
    config = BuildConfig(shapes={"input": shape})
    build_engine(model, config, cache=None)  # warm up libraries once for both paths
    workbench_runs, direct_runs = [], []
    for _ in range(5):  # interleaved, so drift on a busy machine hits both sides alike
        t = time.perf_counter()
        build_engine(model, config, cache=None)
        workbench_runs.append(time.perf_counter() - t)
        direct_runs.append(direct_build_seconds(model, shape))
    wb, direct = statistics.median(workbench_runs), statistics.median(direct_runs)
    print(f"resnet50 build (no engine cache): workbench {wb:.2f} s, TensorRT API {direct:.2f} s, "
          f"ratio {wb / direct:.2f} (goal <= 1.2)")

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        cache = EngineCache(folder)
        build_engine(model, config, cache=cache)
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            assert build_engine(model, config, cache=cache).cache_hit
            runs.append(time.perf_counter() - t)
        print(f"cached rebuild: {statistics.median(runs):.3f} s (goal <= 0.1 s)")

    deep = load_model(resnet("resnet200", (3, 24, 36, 3), (64, 128, 256, 512), True, 64, 64, 1000))
    deep_config = BuildConfig(shapes={"input": (1, 3, 64, 64)})
    built = EngineBytes(NetworkFromOnnx(deep), BuilderConfig(deep_config, deep_config.profiles(deep)),
                        label=deep.label)()  # the build step alone: its log, no cache, no report parsing
    report = next(m for _, m in reversed(built.messages) if m.startswith("Layers:"))
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        df = layers_frame(parse_layer_report(report), source="builder-log")
        runs.append(time.perf_counter() - t)
    print(f"parse layer information of a {len(df)}-layer engine: {statistics.median(runs):.3f} s (goal <= 0.1 s)")


if __name__ == "__main__":
    main()
