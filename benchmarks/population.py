"""Populations at scale (issue #17), measured in one run and printed as ratios:

    python benchmarks/population.py [--candidates 10000] [--hardware h100] [--no-ray]

1. cold: `nas-analyzer population space:N --hardware H` from a fresh process and an empty store (profile,
   project, rank and the Pareto front) on the serving default's target, wall time against 30 s (issue #28);
2. repeated: the same command again, answered from the store (target 2 s, issue #28), writing every record (--out);
3. memory: the peak RSS of the driver and its workers for N/10 and for N candidates (flat: the driver keeps
   one small record per candidate);
4. Ray (with the ray extra): the same N on a local Ray cluster, checked identical to the process pool, and
   the throughput of 2 Ray workers against 1 on N/10 candidates.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=10_000)
    ap.add_argument("--hardware", default="h100")
    ap.add_argument("--no-ray", action="store_true")
    a = ap.parse_args()
    n = a.candidates
    print(f"{os.cpu_count()} cores; {n:,} candidates of the synthetic space on {a.hardware}")
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "results.sqlite")
        common = ["--hardware", a.hardware, "--store", store]
        small_wall, small, small_rss = cli(["population", f"space:{n // 10}:1", *common])
        cold, out, rss = cli(["population", f"space:{n}", *common])
        assert out["evaluated"] == n, out
        warm, again, _ = cli(["population", f"space:{n}", *common, "--out", str(Path(tmp) / "all.jsonl")])
        assert again["from_store"] == n and again["evaluated"] == 0, again
        print(f"load average {os.getloadavg()[0]:.2f} before the cold run")
        print(f"cold      {cold:7.1f} s  ({cold / 30:.2f} x the 30 s target; {n / cold:,.0f} candidates/s on "
              f"{out['workers']} workers; front {len(out['front'])}, top {out['top'][0]['name']})")
        print(f"repeated  {warm:7.1f} s  ({warm / 2:.2f} x the 2 s target; {cold / warm:.0f}x faster than cold)")
        print(f"peak RSS  {small_rss} MB at {n // 10:,} candidates, {rss} MB at {n:,} ({rss / small_rss:.2f}x for 10x the "
              "candidates; the largest process, driver or worker)")
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
