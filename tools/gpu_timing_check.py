"""GPU check of the benchmark harness's CUDA plumbing, for a machine with an NVIDIA GPU (run by hand there).

TensorRT engines cannot run on every GPU (TensorRT-RTX refuses compute capability 9.0), so this checks the parts
that do not need TensorRT: CUDA events timing a copy (blocking and spin-wait), CUDA-graph capture and launch
through the same helpers the TensorRT runner uses, and the PyTorch baseline on CUDA through measure().
Prints one line per check and exits non-zero when one fails.
"""

import sys
import time

import numpy as np


def main() -> int:
    from polygraphy import cuda

    from workbench.bench.runners import _CudaEvents, capture_cuda_graph, launch_cuda_graph
    from workbench.engines.flavor import detect_gpus

    failures = []

    def check(name, ok, detail):
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            failures.append(name)

    gpus = detect_gpus()
    check("detect_gpus", bool(gpus), gpus)
    host = np.random.default_rng(0).standard_normal(64 * 2**20).astype(np.float32)  # 256 MiB
    stream = cuda.Stream()
    device = cuda.DeviceArray(shape=host.shape, dtype=host.dtype)
    for spin in (False, True):
        events = _CudaEvents(blocking=not spin)
        start, end = events.create(), events.create()
        device.copy_from(host, stream=stream)  # warm-up
        stream.synchronize()
        t0 = time.perf_counter()
        events.record(start, stream.ptr)
        device.copy_from(host, stream=stream)
        events.record(end, stream.ptr)
        events.wait(end, spin=spin)
        host_ms = (time.perf_counter() - t0) * 1e3
        event_ms = events.elapsed_ms(start, end)
        gbps = host.nbytes / event_ms / 1e6
        check(f"events ({'spin' if spin else 'blocking'})", 0 < event_ms <= host_ms * 1.05 + 0.05,
              f"H2D 256 MiB: events {event_ms:.3f} ms, host {host_ms:.3f} ms, {gbps:.1f} GB/s")
        events.destroy(start), events.destroy(end)

    # CUDA graph: capture a device-to-device copy with the runner's helpers, launch it, check the data moved.
    events = _CudaEvents(blocking=True)
    source = cuda.DeviceArray(shape=(1024,), dtype=np.float32)
    target = cuda.DeviceArray(shape=(1024,), dtype=np.float32)
    values = np.arange(1024, dtype=np.float32)
    source.copy_from(values, stream=stream)
    stream.synchronize()
    lib = events.lib
    import ctypes

    def enqueue():
        events.check(lib.cudaMemcpyAsync(ctypes.c_void_p(target.ptr), ctypes.c_void_p(source.ptr),
                                         ctypes.c_size_t(values.nbytes), 3, ctypes.c_void_p(stream.ptr)))
    graph_exec = capture_cuda_graph(events, stream.ptr, enqueue)
    launch_cuda_graph(events, graph_exec, stream.ptr)
    stream.synchronize()
    back = np.empty_like(values)
    target.copy_to(back, stream=stream)
    stream.synchronize()
    check("cuda graph capture + launch", np.array_equal(back, values), "device-to-device copy replayed")

    # The framework baseline on the GPU through the harness.
    import torch

    from workbench.bench import BenchmarkConfig, TorchRunner, measure
    from workbench.model import from_torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(64, 64, 3),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10))
    model = from_torch(net, torch.randn(1, 3, 64, 64), name="gpu_cnn")
    config = BenchmarkConfig(warmup_s=0.2, duration_s=1.0)
    for batch, concurrency in ((1, 1), (32, 1), (32, 2)):
        m = measure(TorchRunner(model, device="cuda"), batch=batch, concurrency=concurrency, config=config)
        check(f"pytorch cuda batch {batch} x{concurrency}", m.iterations > 10 and m.throughput > 0, repr(m))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
