"""Populations at scale (issues #17, #38), measured in one run and printed as ratios:

    python benchmarks/population.py [--candidates 10000] [--hardware h100] [--no-ray]

1. NB201: `nas-analyzer population nb201:N` cold (a fresh process, an empty store), against the 1,000 candidates/s
   target (issue #38) and against the reference in the same run: the same candidates evaluated whole (the memo of
   engine/memo.py off: every network counted, planned and timed node by node), in this process, on N/20 of them;
2. cold: `population space:N` from a fresh process and an empty store (profile, project, rank and the Pareto front)
   on the serving default's target, against 30 s (issue #38) and against the reference (the memo off: each
   candidate built as an ONNX file, checked, inferred and parsed back) on N/50 of them;
3. repeated: the same command again, answered from the store (target 1.5 s, issue #38), writing every record (--out);
4. memory: the peak RSS of the driver and its workers for N/10 and for N candidates (flat: the driver keeps
   one small record per candidate);
5. the in-loop objective: analyzer.cost(arch string, target) calls per second after the first, on distinct NB201
   cells and on cells seen before (target 2,000/s);
6. Ray (with the ray extra): the same N on a local Ray cluster, checked identical to the process pool, and
   the throughput of 2 Ray workers against 1 on N/10 candidates.

Run it alone on the machine (flock /tmp/heavy.lock): timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cli(args: list[str]) -> tuple[float, dict, int]:
    """Run the CLI in a fresh process: (wall seconds, its JSON output, the largest peak RSS in MB of any process
    it or an earlier run started: driver or worker)."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "analyzer", *args, "--format", "json", "--quiet"], capture_output=True,
                       text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stderr}")
    return wall, json.loads(r.stdout), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024


def plain(records: list[dict]) -> list[dict]:
    return sorted(({k: v for k, v in r.items() if k != "host"} for r in records), key=lambda r: r["name"])


def reference_rate(spec: str, hardware: str) -> float:
    """Candidates per second of one process evaluating `spec` with the segment memo off (the whole graph or file)."""
    from analyzer.engine import memo
    from analyzer.engine.chain import evaluate_one
    from analyzer.load.sources import read
    from analyzer.profiles import load_profiles
    from analyzer.target import resolve_target, TargetRequest

    tg = resolve_target(load_profiles(), TargetRequest(hardware))
    tasks = list(read(spec))
    memo.ENABLED[0] = False
    try:
        evaluate_one(tasks[0], tg)
        t = time.perf_counter()
        for task in tasks[1:]:
            evaluate_one(task, tg)
        return (len(tasks) - 1) / (time.perf_counter() - t)
    finally:
        memo.ENABLED[0] = True


def objective_rates(hardware: str, n: int = 2000) -> tuple[float, float, bool]:
    """analyzer.cost calls per second after the first: on n distinct NB201 cells, then on the same cells again; and
    whether its numbers are population's."""
    import analyzer
    from analyzer.load import nb201_arch
    from analyzer.profiles import load_profiles
    from analyzer.target import resolve_target, TargetRequest

    tg = resolve_target(load_profiles(), TargetRequest(hardware))
    archs = [a.to_string() for a in nb201_arch.sample(n + 1, 99)]
    analyzer.cost(archs[0], tg)
    t = time.perf_counter()
    firsts = [analyzer.cost(a, tg) for a in archs[1:]]
    distinct = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for a in archs[1:]:
        analyzer.cost(a, tg)
    again = n / (time.perf_counter() - t)
    pop = {e.name: e for e in analyzer.evaluate(analyzer.candidates(f"nb201:{n + 1}:99"), tg)}
    same = all((e.latency_s, e.co2e_g_per_item, e.macs) == (pop[e.name].latency_s, pop[e.name].co2e_g_per_item, pop[e.name].macs)
               for e in firsts)
    return distinct, again, same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=10_000)
    ap.add_argument("--hardware", default="h100")
    ap.add_argument("--no-ray", action="store_true")
    a = ap.parse_args()
    n = a.candidates
    print(f"{os.cpu_count()} cores; {n:,} candidates on {a.hardware}; load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "results.sqlite")
        common = ["--hardware", a.hardware, "--store", store]
        nb_wall, nb_out, _ = cli(["population", f"nb201:{n}", *common])
        assert nb_out["evaluated"] == n, nb_out
        nb_ref = reference_rate(f"nb201:{max(n // 20, 2)}:1", a.hardware)
        print(f"nb201     {nb_wall:7.1f} s  ({n / nb_wall:,.0f} candidates/s cold on {nb_out['workers']} workers = "
              f"{n / nb_wall / 1000:.2f} x the 1,000/s target; {n / nb_wall / nb_ref:.1f}x the whole-graph reference's "
              f"{nb_ref:,.0f}/s in one process)")
        sp_ref = reference_rate(f"space:{max(n // 50, 2)}:1", a.hardware)
        small_wall, small, small_rss = cli(["population", f"space:{n // 10}:1", *common])
        cold, out, rss = cli(["population", f"space:{n}", *common])
        assert out["evaluated"] == n, out
        warm, again, _ = cli(["population", f"space:{n}", *common, "--out", str(Path(tmp) / "all.jsonl")])
        assert again["from_store"] == n and again["evaluated"] == 0, again
        print(f"load average {os.getloadavg()[0]:.2f} before the cold run")
        print(f"cold      {cold:7.1f} s  ({cold / 30:.2f} x the 30 s target; {n / cold:,.0f} candidates/s on "
              f"{out['workers']} workers = {n / cold / sp_ref:.1f}x the file-path reference's {sp_ref:,.0f}/s in one process; "
              f"front {len(out['front'])}, top {out['top'][0]['name']})")
        print(f"repeated  {warm:7.1f} s  ({warm / 1.5:.2f} x the 1.5 s target; {cold / warm:.0f}x faster than cold)")
        print(f"peak RSS  {small_rss} MB at {n // 10:,} candidates, {rss} MB at {n:,} ({rss / small_rss:.2f}x for 10x the "
              "candidates; the largest process, driver or worker)")
        distinct, again, same = objective_rates(a.hardware)
        print(f"cost()    {distinct:7,.0f} calls/s on distinct NB201 cells ({distinct / 2000:.2f} x the 2,000/s target), "
              f"{again:,.0f} calls/s on cells seen before; the same numbers as population: {same}")
        if a.no_ray:
            return
        try:
            import ray  # noqa: F401
        except ImportError:
            print("ray: not installed (pip install -e '.[ray]'); skipped")
            return
        records = [json.loads(line) for line in open(Path(tmp) / "all.jsonl")]
        ray_wall, on_ray, _ = cli(["population", f"space:{n}", "--hardware", a.hardware, "--no-store", "--ray",
                                   "--out", str(Path(tmp) / "ray.jsonl")])
        ray_records = [json.loads(line) for line in open(Path(tmp) / "ray.jsonl")]
        same = plain(ray_records) == plain(records)
        print(f"ray       {ray_wall:7.1f} s  ({ray_wall / cold:.2f} x the process pool; results identical: {same})")
        one, _, _ = cli(["population", f"space:{n // 10}:2", "--hardware", a.hardware, "--no-store", "--ray", "--workers", "1"])
        two, _, _ = cli(["population", f"space:{n // 10}:2", "--hardware", a.hardware, "--no-store", "--ray", "--workers", "2"])
        print(f"ray 2 workers vs 1 on {n // 10:,}: {one:.1f} s vs {two:.1f} s = {one / two:.2f}x throughput "
              "(each includes starting a local cluster)")
        if not same:
            sys.exit("Ray and the process pool disagree")


if __name__ == "__main__":
    main()
