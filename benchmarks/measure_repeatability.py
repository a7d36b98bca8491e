"""Issue #4 acceptance on this machine: `measure` of each shipped model at batch 1 (ONNX Runtime, CPU)
twice; prints the median, its 95% CI, the wall time per measurement and whether the two runs' CIs overlap.

    python models/build.py && python benchmarks/measure_repeatability.py [--max-time 30] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-time", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()
    from analyzer.load.manifest import read_manifest
    from analyzer.measure.onnx_measure import OrtSettings, measure_onnx

    print(f"{'model':<20} {'run':>3} {'median ms':>10} {'95% CI ms':>19} {'+-':>6} {'iters':>6} {'wall s':>7}  overlap")
    for entry in read_manifest(ROOT / "models" / "manifest.toml"):
        runs = []
        for i in range(2):
            t0 = time.perf_counter()
            m = measure_onnx(entry.file, args.batch, settings=OrtSettings(threads=args.threads, max_time_s=args.max_time))
            runs.append((m, time.perf_counter() - t0))
        (a, _), (b, _) = runs
        overlap = a.latency_s_ci95[0] <= b.latency_s_ci95[1] and b.latency_s_ci95[0] <= a.latency_s_ci95[1]
        for i, (m, wall) in enumerate(runs):
            lo, hi = m.latency_s_ci95
            print(f"{entry.name:<20} {i + 1:>3} {m.latency_s_median * 1e3:10.3f} {lo * 1e3:9.3f}-{hi * 1e3:9.3f} {m.ci_rel:6.1%} "
                  f"{m.iterations:6d} {wall:7.1f}  {'yes' if overlap else 'NO'}{'' if m.converged else '  (CI target not met)'}")


if __name__ == "__main__":
    main()
