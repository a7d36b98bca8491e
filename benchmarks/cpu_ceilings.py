"""Measure this machine's achievable fp32 GEMM throughput, memory copy bandwidth (DRAM-sized and cache-resident) and
ONNX Runtime's per-kernel cost on one thread: the numbers behind profiles/hardware/ci-cpu-2vcpu.toml and
ci-cpu-1core.toml.

    python benchmarks/cpu_ceilings.py                                       (as the machine runs numpy: 2 threads)
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/cpu_ceilings.py --ort   (one core; ORT's kernel cost)

The cache-resident copy moves a 256 KiB array (read + written: 512 KiB, inside one core's 2 MiB L2) back and forth,
best of many; ONNX Runtime's per-kernel cost is the slope of a chain of N Relu nodes on a 16-element tensor (1
intra-op thread, sequential; every optimisation on, which leaves the chain alone): (t(257 nodes) - t(1 node)) / 256,
the work of each kernel (64 bytes) negligible.
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


def main() -> None:
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
