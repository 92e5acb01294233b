"""The build pipeline as small loaders (each usable alone), builds side by side, and cache/callback errors that are
reported, never hidden."""

import threading
import warnings
from pathlib import Path

import pytest

from workbench.engines import (BuildConfig, BuilderConfig, CachedEngine, EngineBytes, EngineCache, LayerReport,
                               NetworkFromOnnx, build_engine, is_engine_file, layers_frame)
from workbench.engines.config import check_in_profile
from workbench.errors import ConfigError, EngineCacheError
from workbench.model import load_model

from models import conv_bn_relu

pytest.importorskip("tensorrt_rtx", reason="TensorRT-RTX is installed by `make test`")


def test_each_loader_works_alone():
    model = load_model(conv_bn_relu(), name="cbr")
    profiles = BuildConfig().profiles(model)
    builder, network, parser = NetworkFromOnnx(model)()
    assert network.num_layers == 3
    create_config = BuilderConfig(BuildConfig(optimization_level=1), profiles)()
    assert callable(create_config)  # Polygraphy's config loader: (builder, network) -> IBuilderConfig
    built = EngineBytes(NetworkFromOnnx(model), BuilderConfig(BuildConfig(), profiles), label=model.label)()
    assert bytes(built.engine)[1:4] == b"trt" and built.seconds > 0
    assert list(built.network["onnx_node"]) == ["conv1", "bn1", "relu1"]
    assert any(m.startswith("Layers:") for _, m in built.messages)
    report = LayerReport(built, model, profiles)()
    layers = layers_frame(report["raw_layers"], source="builder-log")
    assert {n for nodes in layers["onnx_nodes"] for n in nodes} == {"conv1", "bn1", "relu1"}
    assert report["memory"]["naive_activation_bytes"] > 0 and "Layers:" in report["log"]


def test_cached_engine_builds_once_then_hits(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return b"xtrt" + bytes(100), {"flavor": "f", "version": "v"}

    cache = EngineCache(tmp_path)
    first = CachedEngine(build, cache, "k1")()
    assert first.status == "miss" and first.folder == cache.path("k1") and len(calls) == 1
    second_loader = CachedEngine(build, cache, "k1")
    second = second_loader()
    assert second.status == "hit" and second.engine is None and len(calls) == 1
    assert second_loader.read_engine() == b"xtrt" + bytes(100)
    assert CachedEngine(build, None, "")().folder is None and len(calls) == 2


def _onnx_nodes(result) -> set:
    return {n for nodes in result.layers["onnx_nodes"] for n in nodes}


def test_two_builds_at_once_keep_their_own_log_and_report(tmp_path):
    cache = EngineCache(tmp_path)
    first_model, second_model = load_model("resnet_tiny"), load_model(conv_bn_relu(), name="cbr")
    results, logs, stages, errors = {}, {"first": [], "second": []}, {"first": [], "second": []}, []
    second_started = threading.Event()

    def build(name, model):
        def on_progress(stage, fraction):
            stages[name].append(stage)
            if name == "second":
                second_started.set()
            elif stage == "building" and not second_started.is_set():
                threading.Thread(target=build, args=("second", second_model)).start()
                second_started.wait(10)  # the second build is under way while this one builds

        try:
            results[name] = build_engine(model, cache=cache, on_progress=on_progress,
                                         on_log=lambda sev, msg: logs[name].append(msg))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    first = threading.Thread(target=build, args=("first", first_model))
    first.start()
    first.join(120)
    for _ in range(1200):
        if "second" in results or errors:
            break
        threading.Event().wait(0.1)
    assert not errors and set(results) == {"first", "second"}
    assert f"waiting for the build of {first_model.label}" in stages["second"]
    first_names, second_names = {n.name for n in first_model.nodes}, {n.name for n in second_model.nodes}
    assert _onnx_nodes(results["first"]) <= first_names and _onnx_nodes(results["second"]) <= second_names
    assert _onnx_nodes(results["second"]) == second_names
    # each log holds its own build's messages only
    assert not any(name in message for message in logs["second"] for name in first_names)
    assert not any("[ONNX Layer: conv1]" in message for message in logs["first"])
    assert "stem/conv" not in results["second"].log and "conv1]" not in results["first"].log
    # and the cache holds each report under its own key
    for name, model in (("first", first_model), ("second", second_model)):
        again = build_engine(model, cache=cache)
        assert again.cache_hit and again.layers.equals(results[name].layers)


@pytest.mark.parametrize("callback, error, first_call", [
    ("on_log", ValueError("log view gone"), None),
    ("on_progress", RuntimeError("progress bar closed"), "parsing"),
])
def test_a_failing_callback_is_reported_once(tmp_path, callback, error, first_call):
    calls = []

    def broken(first, second):
        calls.append(first)
        raise error

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build_engine(conv_bn_relu(), cache=EngineCache(tmp_path), **{callback: broken})
    what = "log" if callback == "on_log" else "progress"
    reports = [w for w in caught if f"{what} callback raised {type(error).__name__}: {error}" in str(w.message)]
    assert len(reports) == 1 and len(calls) == 1 and len(result.layers) > 0
    assert first_call is None or calls == [first_call]


def test_unreadable_cache_entry_is_reported_not_deleted(tmp_path, monkeypatch):
    cache = EngineCache(tmp_path)
    built = build_engine(conv_bn_relu(), cache=cache)
    folder = built.engine_path.parent
    real_read = Path.read_bytes

    def denied(path):
        if path.parent == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(EngineCacheError, match=f"cannot read the engine cache file {folder}.*Permission denied"):
        build_engine(conv_bn_relu(), cache=cache)
    monkeypatch.undo()
    assert folder.is_dir() and build_engine(conv_bn_relu(), cache=cache).cache_hit


def test_one_profile_check_and_engine_suffixes():
    check_in_profile("x", (4, 3), (1, 3), (8, 3))
    with pytest.raises(ConfigError, match=r"shape \[9, 3\] is outside the engine's profile for input 'x' "
                                          r"\(min \[1, 3\], max \[8, 3\]\)"):
        check_in_profile("x", (9, 3), (1, 3), (8, 3))
    with pytest.raises(ConfigError, match="batch size 9 is outside"):
        check_in_profile("x", (9, 3), (1, 3), (8, 3), what="batch size 9")
    assert is_engine_file("a/model.ENGINE") and is_engine_file(Path("m.plan")) and not is_engine_file("m.onnx")


def test_saving_an_engine_is_atomic(tmp_path, monkeypatch):
    import os

    result = build_engine(conv_bn_relu(), cache=None)
    target = tmp_path / "model.engine"
    target.write_bytes(b"the previous engine")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        result.save(target)
    monkeypatch.undo()
    assert target.read_bytes() == b"the previous engine" and sorted(tmp_path.iterdir()) == [target]
    result.save(target)
    assert target.read_bytes() == result.engine_bytes


def test_a_capture_around_a_build_on_the_same_thread_does_not_wait_for_itself(tmp_path):
    from workbench.engines.trt_logging import capture_log

    with capture_log("outer") as outer:
        result = build_engine(conv_bn_relu(), cache=None)
    assert len(result.layers) > 0 and any(m.startswith("Layers:") for _, m in outer.messages)


def test_a_failed_build_raises_what_failure_makes_of_tensorrt_errors():
    from workbench.errors import EngineBuildError

    model = load_model(conv_bn_relu(), name="cbr")
    seen = []

    def failure(message):
        seen.append(message)
        return EngineBuildError(f"explained: {message}")

    def refusing_config(builder, network):  # a builder-config loader that fails, as TensorRT may
        raise RuntimeError("no tactic fits")

    with pytest.raises(EngineBuildError, match="explained: no tactic fits"):
        EngineBytes(NetworkFromOnnx(model), lambda: refusing_config, label=model.label, failure=failure)()
    assert seen == ["no tactic fits"]


def test_a_build_log_holds_none_of_another_threads_tensorrt_calls(tmp_path):
    from workbench.engines import inspect_network
    from workbench.engines.flavor import trt
    from workbench.engines.trt_logging import capture_log

    trt()  # first: Polygraphy's TensorRT modules import the chosen flavour
    import polygraphy.backend.trt.util as polygraphy_trt_util

    proto = conv_bn_relu()
    for node in proto.graph.node:
        node.name = f"other_{node.name}"
    other = load_model(proto, name="other")
    other_engine = build_engine(other, cache=None).engine_bytes
    trt_module = trt()
    building, built = threading.Event(), threading.Event()
    during_build = []  # the other thread's logs of calls that ran wholly while the build ran

    def load_and_parse_other_models():  # as a benchmark loading an engine, a panel inspecting another model
        building.wait(60)
        while not built.is_set():
            with capture_log("load", exclusive=False) as loaded:  # no build slot: it does not wait for the build
                trt_module.Runtime(polygraphy_trt_util.TRT_LOGGER).deserialize_cuda_engine(other_engine)
                inspect_network(other)
            if not built.is_set():
                during_build.append(loaded.messages)

    parser = threading.Thread(target=load_and_parse_other_models)
    parser.start()
    log = []
    try:
        result = build_engine("yolo_detector", cache=EngineCache(tmp_path),
                              on_progress=lambda stage, fraction: stage == "parsing" and building.set(),
                              on_log=lambda severity, message: log.append(message))
    finally:
        built.set()
        parser.join(60)
    assert during_build and all(any("other_conv1" in m for _, m in messages)
                                and any(m.startswith("Loaded engine size") for _, m in messages)
                                for messages in during_build)
    assert not any("other_" in message or message.startswith("Loaded engine size") for message in log)
    assert "other_" not in result.log
    assert not any("model.0/conv" in m for messages in during_build for _, m in messages)
    assert {n for nodes in result.layers["onnx_nodes"] for n in nodes} <= {n.name for n in load_model(
        "yolo_detector").nodes} and len(result.layers) > 0 and result.memory["activation_bytes"] > 0


def test_a_message_from_a_thread_tensorrt_started_goes_to_the_running_build():
    import _thread

    from workbench.engines.flavor import trt
    from workbench.engines.trt_logging import capture_log

    severity = trt().Logger.INFO  # first: chooses the flavour and installs the workbench's logger
    import polygraphy.backend.trt.util as polygraphy_trt_util

    logger = polygraphy_trt_util.TRT_LOGGER
    logged = threading.Event()

    def log_from_a_thread_python_did_not_start():  # as a worker thread of TensorRT's own would
        logger.log(severity, "from a TensorRT worker")
        logged.set()

    with capture_log("build") as build_log, capture_log("same thread", exclusive=False) as beside:
        other_thread_log = []

        def short_call_in_another_python_thread():
            with capture_log("parse", exclusive=False) as captured:
                logger.log(severity, "from the other Python thread")
            other_thread_log.extend(captured.messages)

        worker = threading.Thread(target=short_call_in_another_python_thread)
        worker.start()
        worker.join(10)
        _thread.start_new_thread(log_from_a_thread_python_did_not_start, ())
        assert logged.wait(10)
    assert build_log.messages == beside.messages == [("INFO", "from a TensorRT worker")]
    assert other_thread_log == [("INFO", "from the other Python thread")]
