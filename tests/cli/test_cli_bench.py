"""`workbench bench` and `workbench runs`."""

import json

from models import conv_bn_relu


def test_bench_json_rows_and_runs(run_cli, tmp_path):
    import onnx

    model = tmp_path / "tiny.onnx"
    onnx.save(conv_bn_relu(), model)
    db = tmp_path / "results.sqlite"
    code, out, err = run_cli("bench", model, "--batch", "1,2", "--concurrency", "1,2", "--duration", "0.05",
                             "--warmup", "0.01", "--results", db, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["batch"], r["concurrency"]) for r in rows] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    for r in rows:
        assert r["backend"] == "onnxruntime"
        assert set(r["latency_ms"]) == {"min", "mean", "median", "p90", "p95", "p99", "max"}
        assert r["throughput"] > 0 and r["iterations"] >= 10 and r["cv"] >= 0
    code, out, err = run_cli("runs", "--results", db, "--json", "--csv", tmp_path / "runs.csv")
    assert code == 0, err
    runs = json.loads(out)
    assert len(runs) == 4 and runs[0]["machine"]["cpu_cores"] >= 1
    assert (tmp_path / "runs.csv").exists()
    code, out, _ = run_cli("runs", "--results", db)
    assert code == 0 and "onnxruntime" in out


def test_bench_errors_are_one_line(run_cli, tmp_path):
    import onnx

    model = tmp_path / "tiny.onnx"
    onnx.save(conv_bn_relu(), model)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run_cli("bench", model, "--results", blocker / "db.sqlite")
    assert code == 1 and "cannot be created" in err and out == ""
    code, _, err = run_cli("bench", model, "--batch", "one", "--results", tmp_path / "db.sqlite")
    assert code == 1 and "--batch 'one'" in err
    code, _, err = run_cli("bench", model, "--ort-level", "fast", "--results", tmp_path / "db.sqlite")
    assert code == 1 and "optimization level 'fast'" in err
    code, _, err = run_cli("bench", tmp_path / "missing.onnx", "--results", tmp_path / "db.sqlite")
    assert code == 1 and "missing.onnx" in err
    code, _, err = run_cli("bench", model, "--backend", "tensorrt", "--results", tmp_path / "db.sqlite")
    assert code == 1 and "cannot be timed here" in err  # no GPU here; a GPU machine measures instead


def test_bench_engine_files(run_cli, tmp_path):
    fake = tmp_path / "model.engine"
    fake.write_bytes(b"this is not an engine" * 10)
    code, _, err = run_cli("bench", fake, "--results", tmp_path / "db.sqlite")
    assert code == 1 and "not a serialized TensorRT engine" in err
    code, _, err = run_cli("bench", fake, "--backend", "onnxruntime", "--results", tmp_path / "db.sqlite")
    assert code == 1 and "ONNX Runtime needs the .onnx model" in err
    code, out, err = run_cli("build", "resnet_tiny", "-o", tmp_path / "real.engine")
    assert code == 0, err
    code, _, err = run_cli("bench", tmp_path / "real.engine", "--results", tmp_path / "db.sqlite")
    assert code == 1 and "cannot be timed here" in err  # a real engine: refused only for want of a GPU
