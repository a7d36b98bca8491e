"""How fast serving projections are, against references measured in the same run (issue #29's targets):

1. A config-only 70B model (models/decoders/llama-3.1-70b.json) projected served, in a fresh process from the CLI
   (`project --phase serving`): on four H100s (tensor parallel) and on one B200, at 8 and 256 requests. Reference:
   `nas-analyzer --help` in a fresh process (start-up alone), and the target of 1 s. Also the largest process's peak
   RSS (the target: within the memory of this machine).
2. A population of 1,000 decoder shapes (`population decoders:1000 --phase serving`) on this machine's cores.
   Reference: the target of 30 s, and the per-candidate time in one process (engine.evaluate in a loop).

    python benchmarks/llm_speed.py [--population 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLI = [sys.executable, "-m", "analyzer"]


def timed(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    dt = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()[:400]}")
    return dt, r.stdout


def children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--population", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    help_s, _ = timed(CLI + ["--help"])
    print(f"reference: `nas-analyzer --help` in a fresh process: {help_s:.2f} s")
    cfg = str(ROOT / "models" / "decoders" / "llama-3.1-70b.json")
    for hw, extra in (("h100", ["--tensor-parallel", "4"]), ("b200", [])):
        for conc in (8, 256):
            dt, out = timed(CLI + ["project", cfg, "--hardware", hw, "--phase", "serving", "--max-concurrency", str(conc),
                                   "--format", "json", *extra])
            e = json.loads(out)[0]
            print(f"70B config on {hw}{' x4' if extra else ''} at {conc} requests: {dt:.2f} s in a fresh process "
                  f"({dt / 1.0:.2f}x the 1 s target; {dt - help_s:.2f} s beyond start-up); "
                  f"{e['energy_j_per_item']:.3f} J/token, {e['detail']['output_tokens_per_s']:,.0f} tokens/s")
    print(f"peak RSS of those processes: {children_peak_mb():.0f} MB")

    from analyzer.engine import evaluate
    from analyzer.load.sources import read
    from analyzer.profiles import load_profiles
    from analyzer.target import resolve_target, TargetRequest

    ps = load_profiles(())
    t = resolve_target(ps, TargetRequest("h100", phase="serving", serving={"max_concurrency": 64}))
    tasks = list(read("decoders:100"))
    evaluate(tasks[:1], t)
    t0 = time.perf_counter()
    evaluate(tasks, t)
    one = (time.perf_counter() - t0) / len(tasks)
    print(f"reference: one decoder of the synthetic space evaluated in this process: {1e3 * one:.1f} ms")
    n = args.population
    dt, out = timed(CLI + ["population", f"decoders:{n}", "--hardware", "h100", "--phase", "serving", "--max-concurrency", "64",
                           "--workers", str(args.workers), "--no-store", "--quiet", "--format", "json"])
    d = json.loads(out)
    print(f"population of {n:,} decoder shapes on {args.workers} workers: {dt:.1f} s wall in a fresh process "
          f"({dt / 30:.2f}x the 30 s target; the run's own {d['seconds']:.1f} s; {d['failed']} do not fit); "
          f"{n * one / args.workers:.1f} s if the workers ran at the in-process rate")
    print(f"peak RSS of any process so far: {children_peak_mb():.0f} MB (children), "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (this one)")


if __name__ == "__main__":
    main()
