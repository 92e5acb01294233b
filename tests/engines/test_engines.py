"""Real TensorRT(-RTX) builds on the CPU: engine layers after fusion, memory, streams, cache, bad input."""

import threading
from pathlib import Path

import pandas as pd
import pytest

from workbench import charts
from workbench.engines import (BuildConfig, EngineCache, available_flavors, build_engine, check_engine_file,
                               describe_activation_memory, inspect_network, select_flavor, tensorrt_environment)
from workbench.errors import (ConfigError, EngineBuildError, EngineCacheError, EngineFileError, GpuUnavailableError,
                             NetworkParseError)
from workbench.model import load_model

from models import conv_bn_relu, custom_op, qdq_conv

pytest.importorskip("tensorrt_rtx", reason="TensorRT-RTX is installed by `make test`")


def test_environment_reports_flavor_version_and_gpu():
    env = tensorrt_environment()
    assert env.flavor in ("tensorrt", "tensorrt_rtx") and env.version
    if env.gpu is None:
        assert not env.can_run_engines and "no GPU" in env.reason
    assert env.flavor in str(env)


def test_network_view_before_fusion():
    df = inspect_network(conv_bn_relu())
    assert list(df["onnx_node"]) == ["conv1", "bn1", "relu1"]
    assert list(df["type"]) == ["CONVOLUTION", "SCALE", "ACTIVATION"]
    assert df.loc[0, "output_shapes"] == [[-1, 8, 16, 16]]
    assert df.loc[0, "output_dtypes"] == ["float"]


def test_conv_bn_relu_fuse_into_one_engine_layer(tmp_path):
    result = build_engine("resnet_tiny", cache=EngineCache(tmp_path))
    fused = result.layers[result.layers["onnx_nodes"].apply(lambda n: {"stem/conv", "stem/bn", "stem/relu"} <= set(n))]
    assert len(fused) == 1, "stem Conv + BatchNormalization + Relu should be one engine layer"
    summary = result.fusion
    assert summary.onnx_nodes == 22 and summary.engine_layers == len(result.layers) < summary.onnx_nodes
    patterns = dict(zip(summary.patterns["pattern"], summary.patterns["count"]))
    assert patterns.get("Conv + BatchNormalization + Relu", 0) >= 2
    assert summary.network_layers == len(result.network) > 0
    # every engine layer either has ONNX origins or is reported as inserted by TensorRT
    for row in summary.groups.itertuples():
        assert row.onnx_nodes or row.kind in ("reformat", "shape", "sync", "noop", "inserted")


def test_memory_reuse_vs_naive(tmp_path):
    result = build_engine("resnet_tiny", BuildConfig(shapes={"input": (64, 3, 32, 32)}), cache=EngineCache(tmp_path))
    mem = result.memory
    assert mem["activation_bytes"] > 0 and mem["weights_bytes"] > 0
    assert mem["activation_bytes"] < mem["naive_activation_bytes"]
    assert mem["naive_at_shapes"] == {"input": [64, 3, 32, 32]}
    # naive = every intermediate tensor: the stem conv output alone is 64*16*32*32 floats
    assert mem["naive_activation_bytes"] > 64 * 16 * 32 * 32 * 4
    described = describe_activation_memory(mem)
    assert f"{mem['naive_activation_bytes'] / mem['activation_bytes']:.1f}× less" in described
    assert "activation memory at input 64x3x32x32:" in described and "no saving" not in described
    assert charts.memory_bars(pd.DataFrame([mem])).data[1].text[0].endswith("× less")


RTX_ONLY = pytest.mark.skipif(available_flavors() and select_flavor() != "tensorrt_rtx",
                              reason="the ~8 MiB scratch minimum is TensorRT-RTX's; the datacenter TensorRT reserves "
                                     "memory differently")


@RTX_ONLY
def test_a_tiny_engine_reserving_more_than_naive_is_not_called_a_saving(tmp_path):
    result = build_engine("resnet_tiny", cache=EngineCache(tmp_path))  # batch 1, 32x32: under 1 MiB of tensors
    mem = result.memory
    assert mem["activation_bytes"] >= mem["naive_activation_bytes"]
    for text in (describe_activation_memory(mem), result._repr_html_(),
                 charts.memory_bars(pd.DataFrame([mem])).data[1].text[0]):
        assert "no saving" in text and "× less" not in text and "with reuse" not in text
    assert "fixed minimum" in describe_activation_memory(mem) and "lesson 05" in describe_activation_memory(mem)
    assert f"{mem['activation_bytes'] / 2**20:.2f} MiB" in describe_activation_memory(mem)


@RTX_ONLY
def test_the_fixed_minimum_the_memory_message_states():
    # engines.memory says a TensorRT-RTX build given less than about 8 MiB of workspace fails: keep that true
    model = load_model(conv_bn_relu())
    with pytest.raises(EngineBuildError, match="workspace limit"):
        build_engine(model, BuildConfig(memory_pool_limits={"workspace": 7 * 2**20}), cache=None)
    built = build_engine(model, BuildConfig(memory_pool_limits={"workspace": 8 * 2**20}), cache=None)
    assert 7 * 2**20 < built.memory["activation_bytes"] <= 8 * 2**20
    assert built.memory["activation_bytes"] > 100 * built.memory["naive_activation_bytes"]


def test_streams_for_parallel_branches(tmp_path):
    result = build_engine("inception_tiny", BuildConfig(shapes={"input": (4, 3, 32, 32)}, max_aux_streams=3),
                          cache=EngineCache(tmp_path))
    streams = result.streams
    assert len(streams) >= 2, "parallel branches should be spread over several streams"
    sync = result.layers[result.layers["kind"] == "sync"]
    assert set(sync["type"]) == {"signal", "wait"} and sync["event_id"].notna().all()
    signalled = {e for events in streams["signals_events"] for e in events}
    waited = {e for events in streams["waits_on_events"] for e in events}
    assert waited <= signalled
    single = build_engine("inception_tiny", BuildConfig(shapes={"input": (4, 3, 32, 32)}, max_aux_streams=0),
                          cache=EngineCache(tmp_path))
    assert set(single.layers["stream"]) == {0}


def test_qdq_model_builds_int8_layers(tmp_path):
    result = build_engine(qdq_conv(), cache=EngineCache(tmp_path))
    dtypes = {d for ds in result.layers["input_dtypes"] for d in ds} | {
        d for ds in result.layers["output_dtypes"] for d in ds}
    assert "int8" in dtypes
    conv = result.layers[result.layers["onnx_nodes"].apply(lambda n: "qconv" in n)
                         & result.layers["kind"].eq("compute")]
    assert len(conv) >= 1
    assert "int8" in conv.iloc[0]["input_dtypes"], "the convolution itself should read int8 activations"


def test_dynamic_profile_and_cache_hit(tmp_path):
    cache = EngineCache(tmp_path)
    config = BuildConfig(shapes={"input": ((1, 3, 32, 32), (4, 3, 32, 32), (8, 3, 32, 32))}, optimization_level=2)
    first = build_engine("resnet_tiny", config, cache=cache)
    assert not first.cache_hit and first.build_seconds > 0
    second = build_engine("resnet_tiny", config, cache=cache)
    assert second.cache_hit
    assert second.layers.equals(first.layers) and second.memory == first.memory
    assert second.engine_bytes == first.engine_bytes
    other = build_engine("resnet_tiny", BuildConfig(shapes={"input": (2, 3, 32, 32)}), cache=cache)
    assert not other.cache_hit
    assert len(cache.entries()) == 2
    first.check_shapes({"input": (8, 3, 32, 32)})
    with pytest.raises(ConfigError, match="outside the engine's profile"):
        first.check_shapes({"input": (16, 3, 32, 32)})


def test_timing_cache_file_is_written_and_reused(tmp_path):
    timing = tmp_path / "timing.cache"
    build_engine(conv_bn_relu(), BuildConfig(timing_cache=str(timing)), cache=None)
    assert timing.is_file() and timing.stat().st_size > 0
    build_engine(conv_bn_relu(), BuildConfig(timing_cache=str(timing), optimization_level=1), cache=None)
    assert timing.is_file()


def test_progress_and_log_reach_callbacks(tmp_path):
    stages, logs = [], []
    build_engine(conv_bn_relu(), cache=EngineCache(tmp_path), on_progress=lambda s, f: stages.append((s, f)),
                 on_log=lambda sev, msg: logs.append(msg))
    names = [s for s, _ in stages]
    assert names[0] == "parsing" and names[-1] == "done"
    fractions = [f for _, f in stages if f is not None]
    assert fractions == sorted(fractions)
    assert any(m.startswith("Layers:") for m in logs)


def test_corrupted_cache_entry_is_rebuilt(tmp_path):
    cache = EngineCache(tmp_path)
    first = build_engine(conv_bn_relu(), cache=cache)
    first.engine_path.write_bytes(b"garbage")
    again = build_engine(conv_bn_relu(), cache=cache)
    assert not again.cache_hit and again.cache_status == "corrupt"
    assert build_engine(conv_bn_relu(), cache=cache).cache_hit
    (again.engine_path.parent / "build.json").write_text("{not json")
    assert build_engine(conv_bn_relu(), cache=cache).cache_status == "corrupt"
    # same size, different bytes: found when the engine is read, which is an explicit error (never a rebuild behind
    # the caller's back); the entry is removed, so the next build_engine replaces it
    good = build_engine(conv_bn_relu(), cache=cache)
    assert good.cache_hit
    data = bytearray(good.engine_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    good.engine_path.write_bytes(bytes(data))
    damaged = build_engine(conv_bn_relu(), cache=cache)
    assert damaged.cache_hit and damaged.to_dict()["engine_bytes"] == len(data)  # no read needed for the size
    with pytest.raises(EngineCacheError, match="damaged after it was written.*build again"):
        damaged.engine_bytes
    assert damaged.cache_hit and damaged.cache_status == "hit"
    rebuilt = build_engine(conv_bn_relu(), cache=cache)
    assert not rebuilt.cache_hit and rebuilt.engine_bytes[1:4] == b"trt"
    assert build_engine(conv_bn_relu(), cache=cache).cache_hit


@pytest.mark.parametrize("stage", ["building", "inspecting"])
def test_interrupted_build_leaves_no_partial_entry(tmp_path, stage):
    cache = EngineCache(tmp_path)

    def interrupt(name, fraction):
        if name == stage:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_engine(conv_bn_relu(), cache=cache, on_progress=interrupt)
    assert list(Path(tmp_path).iterdir()) == [] or cache.entries() == []
    assert not any(p.name.startswith(".tmp-") for p in Path(tmp_path).iterdir())
    assert not build_engine(conv_bn_relu(), cache=cache).cache_hit


def test_cancel_stops_the_build(tmp_path):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(EngineBuildError, match="cancelled"):
        build_engine("resnet_tiny", cache=EngineCache(tmp_path), cancel=cancel)
    assert EngineCache(tmp_path).entries() == []


def test_unparseable_op_names_node_and_op():
    with pytest.raises(NetworkParseError, match=r"ONNX node 'mystery_node' \(MysteryOp\)"):
        build_engine(custom_op(), cache=None)


def test_bad_shapes_and_profiles():
    with pytest.raises(ConfigError, match="min <= opt <= max"):
        build_engine("resnet_tiny", BuildConfig(shapes={"input": ((8, 3, 32, 32), (4, 3, 32, 32), (1, 3, 32, 32))}))
    with pytest.raises(ConfigError, match="not an input"):
        build_engine("resnet_tiny", BuildConfig(shapes={"image": (1, 3, 32, 32)}))
    with pytest.raises(ConfigError, match="fixed at 32"):
        build_engine("resnet_tiny", BuildConfig(shapes={"input": (1, 3, 64, 64)}))
    with pytest.raises(ConfigError, match="optimization_level"):
        BuildConfig(optimization_level=9)
    with pytest.raises(ConfigError, match="memory pool"):
        BuildConfig(memory_pool_limits={"vram": 1})


def test_file_that_is_not_an_engine(tmp_path):
    bad = tmp_path / "model.engine"
    bad.write_bytes(load_model("resnet_tiny").to_bytes())
    with pytest.raises(EngineFileError, match="not a serialized TensorRT engine"):
        check_engine_file(bad)
    with pytest.raises(EngineFileError, match="no such engine file"):
        check_engine_file(tmp_path / "missing.engine")


def test_real_engine_file_passes_the_check(tmp_path):
    result = build_engine(conv_bn_relu(), cache=EngineCache(tmp_path))
    saved = result.save(tmp_path / "out" / "m.engine")
    assert check_engine_file(saved) == result.engine_bytes


def test_running_without_a_gpu_is_one_clear_message(tmp_path):
    result = build_engine(conv_bn_relu(), cache=EngineCache(tmp_path))
    if tensorrt_environment().can_run_engines:
        pytest.skip("a GPU this TensorRT runs on is present: test_run_on_gpu covers it")
    with pytest.raises(GpuUnavailableError, match="engine built .*cannot run here: no GPU"):
        result.run()


def test_run_on_gpu_matches_onnxruntime(tmp_path):
    if not tensorrt_environment().can_run_engines:
        pytest.skip(f"needs a GPU this TensorRT can run on: {tensorrt_environment().reason}")
    result = build_engine(conv_bn_relu(), cache=EngineCache(tmp_path))
    df = result.run(atol=1e-2, rtol=1e-2)
    assert df["within_tolerance"].all()
