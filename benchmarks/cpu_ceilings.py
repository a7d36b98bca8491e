"""Measure this machine's achievable fp32 GEMM throughput, memory copy bandwidth (DRAM-sized and cache-resident) and
ONNX Runtime's per-kernel cost on one thread: the numbers behind profiles/hardware/ci-cpu-2vcpu.toml and
ci-cpu-1core.toml.

    python benchmarks/cpu_ceilings.py                                       (as the machine runs numpy: 2 threads)
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/cpu_ceilings.py --ort   (one core; ORT's kernel cost)

The cache-resident copy moves a 256 KiB array (read + written: 512 KiB, inside one core's 2 MiB L2) back and forth,
best of many; ONNX Runtime's per-kernel cost is the slope of a chain of N Relu nodes on a 16-element tensor (1
intra-op thread, sequential; every optimisation on, which leaves the chain alone): (t(257 nodes) - t(1 node)) / 256,
the work of each kernel (64 bytes) negligible.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/cpu_ceilings.py --torch [--peak-gflops 168]

PyTorch's own CPU kernels on one thread (torch.set_num_threads(1), inference_mode), the numbers behind
profiles/hardware/ci-cpu-1core-torch.toml: per kernel class, on generic shapes (64 channels at 28 x 28, batch 1 and 8;
128 channels at 14 x 14, batch 4; not a NAS-Bench-201 shape), the achieved fraction of the sgemm ceiling for
convolutions and pooling (FLOPs / time / peak: a 3 x 3 average pool is 9 FLOPs per output) and the achieved bandwidth
of batch norm and elementwise kernels (bytes read + written / time); the per-operator cost of eager dispatch is the
slope of a chain of nn.ReLU modules on 16 floats in an nn.Sequential, (t(257) - t(1)) / 256, as a network's modules
are called. Each time is the median of 30 runs after 3 warm-ups.
"""

import sys
import time

import numpy as np


def best(fn, n=5):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def ort_kernel_cost_s() -> float:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    def run_time(n: int) -> float:
        nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(n)]
        g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info(f"t{n}", TensorProto.FLOAT, [1, 16])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
        s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        x = {"t0": np.ones((1, 16), np.float32)}
        for _ in range(200):
            s.run(None, x)
        return float(np.median([best(lambda: s.run(None, x), 1) for _ in range(2000)]))

    return (run_time(257) - run_time(1)) / 256


def _median_s(fn, n: int = 30) -> float:
    import torch

    with torch.inference_mode():
        for _ in range(3):
            fn()
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def torch_kernel_rates(peak_flops: float) -> None:
    """PyTorch CPU kernels on one thread, per class (module docstring)."""
    import torch

    torch.set_num_threads(1)
    nn = torch.nn
    print(f"PyTorch {torch.__version__}, 1 thread; fractions of {peak_flops / 1e9:.0f} GFLOP/s")
    for b, c, h in ((1, 64, 28), (8, 64, 28), (4, 128, 14)):
        x = torch.randn(b, c, h, h)
        n, nbytes = x.numel(), 4 * x.numel()
        conv3, conv1 = nn.Conv2d(c, c, 3, 1, 1, bias=False).eval(), nn.Conv2d(c, c, 1, bias=False).eval()
        avg, mx, bn = nn.AvgPool2d(3, 1, 1, count_include_pad=False), nn.MaxPool2d(3, 1, 1), nn.BatchNorm2d(c).eval()
        rows = {"conv 3x3": 2 * 9 * c * n / _median_s(lambda: conv3(x)) / peak_flops,
                "conv 1x1": 2 * c * n / _median_s(lambda: conv1(x)) / peak_flops,
                "avg pool 3x3 (no pad count)": 9 * n / _median_s(lambda: avg(x)) / peak_flops,
                "max pool 3x3": 9 * n / _median_s(lambda: mx(x)) / peak_flops}
        gbps = {"batch norm": 2 * nbytes / _median_s(lambda: bn(x)) / 1e9,
                "relu": 2 * nbytes / _median_s(lambda: torch.relu(x)) / 1e9,
                "add": 3 * nbytes / _median_s(lambda: x + x) / 1e9}
        print(f"  {b} x {c} x {h} x {h} ({nbytes / 1e6:.2f} MB): " + ", ".join(f"{k} {v:.4f}" for k, v in rows.items())
              + "; " + ", ".join(f"{k} {v:.1f} GB/s" for k, v in gbps.items()))
    tiny = torch.randn(1, 16)

    def chain(k: int):
        net = nn.Sequential(*[nn.ReLU() for _ in range(k)])
        return lambda: net(tiny)

    per_op = (_median_s(chain(257), 200) - _median_s(chain(1), 200)) / 256
    print(f"  eager per-operator cost (nn.Sequential of nn.ReLU modules): {per_op * 1e6:.2f} us")


def main() -> None:
    if "--torch" in sys.argv:
        peak = float(sys.argv[sys.argv.index("--peak-gflops") + 1]) * 1e9 if "--peak-gflops" in sys.argv else 168e9
        torch_kernel_rates(peak)
        return
    for n in (2048, 4096):
        a = np.random.rand(n, n).astype(np.float32)
        b = np.random.rand(n, n).astype(np.float32)
        a @ b
        print(f"sgemm {n}^3: {2 * n**3 / best(lambda: a @ b) / 1e9:.0f} GFLOP/s")
    x = np.ones(256 * 1024 * 1024 // 4, np.float32)
    y = np.empty_like(x)
    print(f"copy 256 MiB: {2 * x.nbytes / best(lambda: np.copyto(y, x)) / 1e9:.1f} GB/s (read + written)")
    xs = np.ones(256 * 1024 // 4, np.float32)
    ys = np.empty_like(xs)

    def copies():
        for _ in range(100):
            np.copyto(ys, xs)

    print(f"copy 256 KiB (cache-resident): {2 * xs.nbytes * 100 / best(copies, 50) / 1e9:.1f} GB/s (read + written)")
    if "--ort" in sys.argv:
        print(f"ONNX Runtime per-kernel cost, 1 thread: {ort_kernel_cost_s() * 1e6:.2f} us")


if __name__ == "__main__":
    main()
