"""Fuzz campaigns against the profiler (issue #16), longer than the suite's:

    python benchmarks/fuzz.py --seconds 600 [--workers 2] [--seed 1] [--byte-level 100000] [--structure 10000]
        [--timeout 10] [--memory-limit 1024] [--findings DIR]

Each worker runs tests/fuzzing.py's campaign with its own seed (seed, seed + 1, ...): byte-level mutations of
the seed models first, then structure-aware ones, until its share is done or the time is up. Prints counts
(inputs, profiled, refused with our one-line errors, stopped by a limit) and every finding (an exception
outside our hierarchy, a negative or non-finite count returned as success), whose input is written to
--findings for the test corpus (tests/corpus/).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def _worker(args: tuple) -> dict:
    seed, n_bytes, n_structure, seconds, timeout, memory = args
    import fuzzing
    from analyzer import profile_onnx
    from analyzer.load import guard

    with tempfile.TemporaryDirectory() as tmp, guard.limits(timeout_s=timeout, memory_mb=memory):
        c = fuzzing.campaign(n_bytes, n_structure, seed, Path(tmp), profile_onnx, deadline=time.monotonic() + seconds)
    return {"inputs": c.inputs, "byte_level": c.byte_level, "structure": c.structure, "profiled": c.profiled,
            "refused": c.refused, "limited": c.limited,
            "findings": [(f.kind, f.detail, f.data) for f in c.findings]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--byte-level", type=int, default=100_000)
    ap.add_argument("--structure", type=int, default=10_000)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--memory-limit", type=float, default=1024.0)
    ap.add_argument("--findings", type=Path, default=None)
    a = ap.parse_args()
    w = max(1, a.workers)
    jobs = [(a.seed + i, -(-a.byte_level // w), -(-a.structure // w), a.seconds, a.timeout, a.memory_limit) for i in range(w)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(w) as pool:
        results = pool.map(_worker, jobs)
    total = collections.Counter()
    findings = []
    for r in results:
        for k in ("inputs", "byte_level", "structure", "profiled", "refused", "limited"):
            total[k] += r[k]
        findings += r["findings"]
    print(f"{time.perf_counter() - t0:.0f} s, {w} workers, seeds {a.seed}..{a.seed + w - 1}")
    print(f"inputs {total['inputs']:,} (byte-level {total['byte_level']:,}, structure-aware {total['structure']:,}); "
          f"two profiles each: {total['profiled']:,} profiled, {total['refused']:,} refused with one line, "
          f"{total['limited']:,} stopped by a limit")
    print(f"findings: {len(findings)}")
    kinds = collections.Counter((k, d.strip().splitlines()[-1][:120]) for k, d, _ in findings)
    for (kind, last), n in kinds.most_common():
        print(f"  {n:5d} {kind}: {last}")
    if a.findings and findings:
        a.findings.mkdir(parents=True, exist_ok=True)
        for kind, detail, data in findings:
            name = hashlib.sha256(data).hexdigest()[:16]
            (a.findings / f"{name}.onnx").write_bytes(data)
            (a.findings / f"{name}.txt").write_text(f"{kind}\n{detail}\n")


if __name__ == "__main__":
    main()
