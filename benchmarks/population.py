"""Populations at scale (issues #17, #38): every #38 target measured in one run and printed as a ratio to its target.

    python benchmarks/population.py [--candidates 10000] [--hardware h100] [--ray]

1. NB201: `nas-analyzer population nb201:N` cold (a fresh process, an empty store) on the serving default's target,
   against 1,000 candidates/s, and against the reference in the same run: the same candidates evaluated whole (the
   memo of engine/memo.py off: every network counted, planned and timed node by node), in this process, on N/20;
   NB101: `population nb101:N/5:1` cold the same way, against its whole-graph reference on N/100 (no target: #38
   asks NB101 to be priced like NB201, per distinct layer);
2. cold: `population space:N` from a fresh process and an empty store (profile, project, rank and the Pareto front)
   against 30 s, and against the reference (the memo off: each candidate built as an ONNX file, checked, inferred and
   parsed back) on N/50 of them;
3. repeated: the same command again, answered from the store, writing every record (--out), against 1.5 s;
4. memory: the peak RSS of the largest process of a run (driver or worker, read from /proc while it runs) for
   N/10 and N candidates, NB201 and the synthetic space: flat (the driver keeps one small record per candidate, the
   workers' memo tables are bounded);
5. the in-loop objective: analyzer.cost(arch string, target) calls per second after the first, on N/5 distinct NB201
   cells (against 2,000/s) and on the same cells again; its numbers checked equal to population's;
6. with --ray: the same space:N on a local Ray cluster, checked identical to the process pool's records.

Writes benchmarks/results/population.json (the numbers, the command, the date). Run it alone on the machine
(flock /tmp/heavy.lock): timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# runs the CLI and prints the largest peak RSS (KiB) of its processes (driver, forkserver, workers): every 50 ms it
# reads each descendant's own high-water mark (VmHWM, /proc), and at the end adds the peaks of those reaped
_WRAP = """
import os, resource, subprocess, sys, time
def tree(root):
    kids = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            ppid = int(open(f'/proc/{d}/stat').read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out
def hwm(pid):
    try:
        return int(next(l for l in open(f'/proc/{pid}/status') if l.startswith('VmHWM')).split()[1])
    except (OSError, StopIteration, ValueError):
        return 0
proc = subprocess.Popen(sys.argv[1:])
peak = 0
while proc.poll() is None:
    peak = max([peak] + [hwm(p) for p in tree(proc.pid)])
    time.sleep(0.05)
print(max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss), file=sys.stderr)
sys.exit(proc.returncode)
"""


def cli(args: list[str]) -> tuple[float, dict, float]:
    """Run the CLI in a fresh process: (wall seconds, its JSON output, the peak RSS in MB of its largest process)."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _WRAP, sys.executable, "-m", "analyzer", *args, "--format", "json", "--quiet"],
                       capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stderr}")
    return wall, json.loads(r.stdout), int(r.stderr.strip().splitlines()[-1]) / 1024


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


def objective_rates(hardware: str, n: int) -> tuple[float, float, bool]:
    """analyzer.cost calls per second after the first: on n distinct NB201 cells, then on the same cells again; and
    whether its numbers are population's (analyzer.evaluate of the same cells)."""
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
    same = all((e.latency_s, e.energy_j_per_item, e.co2e_g_per_item, e.macs, e.energy_range_j) ==
               (p.latency_s, p.energy_j_per_item, p.co2e_g_per_item, p.macs, p.energy_range_j)
               for e in firsts for p in [pop[e.name]])
    return distinct, again, same


def write_results(numbers: dict) -> Path:
    """benchmarks/results/population.json: the numbers, the command and the date (docs/gen_benchmarks.py shows them)."""
    from _results import write_timed

    return write_timed("population", numbers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=10_000)
    ap.add_argument("--hardware", default="h100")
    ap.add_argument("--ray", action="store_true", help="also run the space on a local Ray cluster and compare")
    a = ap.parse_args()
    n, small = a.candidates, max(a.candidates // 10, 1)
    res: dict = {"candidates": n, "hardware": a.hardware, "load_average_at_start": round(os.getloadavg()[0], 2)}
    print(f"{os.cpu_count()} cores; {n:,} candidates on {a.hardware}; load average {res['load_average_at_start']:.2f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        def store(name: str) -> list[str]:
            return ["--hardware", a.hardware, "--store", str(Path(tmp) / f"{name}.sqlite")]

        nb_wall, nb_out, nb_rss = cli(["population", f"nb201:{n}", *store("nb")])
        assert nb_out["evaluated"] == n, nb_out
        _, _, nb_small_rss = cli(["population", f"nb201:{small}:1", *store("nb_small")])
        nb_ref = reference_rate(f"nb201:{max(n // 20, 2)}:1", a.hardware)
        res.update(nb201_cold_s=round(nb_wall, 3), nb201_per_s=round(n / nb_wall, 1), nb201_vs_target=round(n / nb_wall / 1000, 3),
                   nb201_reference_per_s=round(nb_ref, 1), nb201_workers=nb_out["workers"])
        print(f"nb201     {nb_wall:7.1f} s  ({n / nb_wall:,.0f} candidates/s cold on {nb_out['workers']} workers = "
              f"{n / nb_wall / 1000:.2f} x the 1,000/s target; {n / nb_wall / nb_ref:.1f}x the whole-graph reference's "
              f"{nb_ref:,.0f}/s in one process)")

        nb101_n = max(n // 5, 2)
        b1_wall, b1_out, _ = cli(["population", f"nb101:{nb101_n}:1", *store("nb101")])
        assert b1_out["evaluated"] == nb101_n, b1_out
        b1_ref = reference_rate(f"nb101:{max(n // 100, 2)}:1", a.hardware)
        res.update(nb101_candidates=nb101_n, nb101_cold_s=round(b1_wall, 3), nb101_per_s=round(nb101_n / b1_wall, 1),
                   nb101_reference_per_s=round(b1_ref, 1))
        print(f"nb101     {b1_wall:7.1f} s  ({nb101_n / b1_wall:,.0f} candidates/s cold on {b1_out['workers']} workers for "
              f"{nb101_n:,} cells; {nb101_n / b1_wall / b1_ref:.1f}x the whole-graph reference's {b1_ref:,.0f}/s in one process)")

        sp_ref = reference_rate(f"space:{max(n // 50, 2)}:1", a.hardware)
        _, _, sp_small_rss = cli(["population", f"space:{small}:1", *store("sp_small")])
        cold, out, sp_rss = cli(["population", f"space:{n}", *store("sp")])
        assert out["evaluated"] == n, out
        warm, again, _ = cli(["population", f"space:{n}", *store("sp"), "--out", str(Path(tmp) / "all.jsonl")])
        assert again["from_store"] == n and again["evaluated"] == 0, again
        res.update(space_cold_s=round(cold, 3), space_cold_vs_target=round(cold / 30, 3), space_per_s=round(n / cold, 1),
                   space_reference_per_s=round(sp_ref, 1), repeated_s=round(warm, 3), repeated_vs_target=round(warm / 1.5, 3))
        print(f"cold      {cold:7.1f} s  ({cold / 30:.2f} x the 30 s target; {n / cold:,.0f} candidates/s on "
              f"{out['workers']} workers = {n / cold / sp_ref:.1f}x the file-path reference's {sp_ref:,.0f}/s in one process; "
              f"front {len(out['front'])}, top {out['top'][0]['name']})")
        print(f"repeated  {warm:7.1f} s  ({warm / 1.5:.2f} x the 1.5 s target; {cold / warm:.0f}x faster than cold)")

        res.update(nb201_peak_rss_small_mb=round(nb_small_rss), nb201_peak_rss_mb=round(nb_rss), nb201_rss_ratio=round(nb_rss / nb_small_rss, 3),
                   space_peak_rss_small_mb=round(sp_small_rss), space_peak_rss_mb=round(sp_rss), space_rss_ratio=round(sp_rss / sp_small_rss, 3))
        print(f"peak RSS  nb201 {nb_small_rss:.0f} MB at {small:,}, {nb_rss:.0f} MB at {n:,} ({nb_rss / nb_small_rss:.2f}x); space "
              f"{sp_small_rss:.0f} MB, {sp_rss:.0f} MB ({sp_rss / sp_small_rss:.2f}x) for 10x the candidates (the largest process)")

        distinct, again_rate, same = objective_rates(a.hardware, max(n // 5, 2))
        res.update(cost_per_s=round(distinct, 1), cost_vs_target=round(distinct / 2000, 3), cost_again_per_s=round(again_rate, 1),
                   cost_same_as_population=same)
        print(f"cost()    {distinct:7,.0f} calls/s on {max(n // 5, 2):,} distinct NB201 cells ({distinct / 2000:.2f} x the 2,000/s "
              f"target), {again_rate:,.0f} calls/s on cells seen before; the same numbers as population: {same}")

        if a.ray:
            try:
                import ray  # noqa: F401
            except ImportError:
                sys.exit("ray: not installed (pip install -e '.[ray]')")
            records = [json.loads(line) for line in open(Path(tmp) / "all.jsonl")]
            ray_wall, _, _ = cli(["population", f"space:{n}", "--hardware", a.hardware, "--no-store", "--ray",
                                  "--out", str(Path(tmp) / "ray.jsonl")])
            ray_records = [json.loads(line) for line in open(Path(tmp) / "ray.jsonl")]
            identical = plain(ray_records) == plain(records)
            res.update(ray_s=round(ray_wall, 3), ray_identical_to_pool=identical)
            print(f"ray       {ray_wall:7.1f} s  ({ray_wall / cold:.2f} x the process pool, with starting the cluster; "
                  f"records identical: {identical})")
    res["load_average_at_end"] = round(os.getloadavg()[0], 2)
    print(f"results: {write_results(res).relative_to(ROOT)}; load average {res['load_average_at_end']:.2f} at the end")
    if a.ray and not res["ray_identical_to_pool"]:
        sys.exit("Ray and the process pool disagree")


if __name__ == "__main__":
    main()
