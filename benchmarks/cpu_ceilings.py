"""Measure this machine's achievable fp32 GEMM throughput and memory copy bandwidth, the numbers behind
profiles/hardware/ci-cpu-2vcpu.toml.   python benchmarks/cpu_ceilings.py"""

import time

import numpy as np


def best(fn, n=5):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def main() -> None:
    for n in (2048, 4096):
        a = np.random.rand(n, n).astype(np.float32)
        b = np.random.rand(n, n).astype(np.float32)
        a @ b
        print(f"sgemm {n}^3: {2 * n**3 / best(lambda: a @ b) / 1e9:.0f} GFLOP/s")
    x = np.ones(256 * 1024 * 1024 // 4, np.float32)
    y = np.empty_like(x)
    print(f"copy 256 MiB: {2 * x.nbytes / best(lambda: np.copyto(y, x)) / 1e9:.1f} GB/s (read + written)")


if __name__ == "__main__":
    main()
