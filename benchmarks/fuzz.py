"""Fuzz campaigns against every door (issues #16, #27), longer than the suite's:

    python benchmarks/fuzz.py --seconds 600 [--workers 2] [--seed 1] [--byte-level 100000] [--structure 10000]
        [--doors 20000] [--new-doors 20000] [--door-seconds S] [--timeout 10] [--memory-limit 1024] [--findings DIR]

Each worker, with its own seed (seed, seed + 1, ...), first runs tests/fuzz_doors.py's campaign over the other
doors (results stores, manifests, saved analyses, search plans, profile TOML: --doors inputs per door in all,
byte-level and structure-aware, shuffled) for half of --door-seconds, then tests/fuzz_doors_new.py's over the doors added
since (decoder configs, meter recordings, CodeCarbon and Zeus imports, measurement stores, lengths files, option values:
--new-doors inputs per door) until its share is done or --door-seconds have passed (default: half of --seconds), then tests/fuzzing.py's campaign over model files (byte-level mutations of the seed models, then
structure-aware ones) until its share is done or --seconds have passed. Prints counts per door and for models
(inputs, refused with our one-line errors, stopped by a limit), the slowest input against the stated limit
(fuzzing.SLOW_S, 3 s: of wall time for a model, whose inference runs in a worker process; of CPU time for the other
doors, which run in this process, with fuzz_doors.HANG_S of wall time for what blocks), and every finding (an
exception outside our hierarchy, a message that is not one line, a negative or non-finite figure accepted, a
refused store written to, an input slower than its limit), whose input is written to --findings for the test
corpora (tests/corpus/, tests/corpus/doors/).
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

SUFFIX = {"store": ".sqlite", "manifest": ".toml", "analysis": ".json", "plan": ".json", "profile": ".toml", "config": ".json",
          "recording": ".csv", "codecarbon": ".csv", "zeus": ".json", "measurements": ".jsonl", "lengths": ".jsonl", "option": ".json"}


ALL_DOORS = ("store", "manifest", "analysis", "plan", "profile", "config", "recording", "codecarbon", "zeus", "measurements",
             "lengths", "option")


def _worker(args: tuple) -> dict:
    seed, n_bytes, n_structure, per_door, per_new_door, door_seconds, seconds, timeout, memory = args
    import fuzz_doors
    import fuzz_doors_new
    import fuzzing
    from analyzer import profile_onnx
    from analyzer.load import guard

    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        old_until = t0 + door_seconds / 2 if any(per_new_door.values()) else t0 + door_seconds
        d = fuzz_doors.campaign(per_door, seed, Path(tmp), deadline=old_until)
        d = fuzz_doors_new.campaign(per_new_door, seed, Path(tmp) / "new", deadline=t0 + door_seconds, c=d)
    with tempfile.TemporaryDirectory() as tmp, guard.limits(timeout_s=timeout, memory_mb=memory):
        c = fuzzing.campaign(n_bytes, n_structure, seed, Path(tmp), profile_onnx, deadline=t0 + seconds)
    return {"inputs": c.inputs, "byte_level": c.byte_level, "structure": c.structure, "profiled": c.profiled,
            "refused": c.refused, "limited": c.limited, "slowest_s": c.slowest_s,
            "doors": {door: (d.inputs.get(door, 0), d.accepted.get(door, 0), d.refused.get(door, 0)) for door in ALL_DOORS},
            "door_slowest_s": d.slowest_s, "door_slowest_wall_s": d.slowest_wall_s,
            "findings": [(f.kind, f.detail, f.data) for f in c.findings + d.findings]}


def bucket(detail: str) -> str:
    """A finding's failure bucket: the last line of its traceback with numbers and byte values left out."""
    import re

    last = detail.strip().splitlines()[-1] if detail.strip() else ""
    return re.sub(r"[-+]?\d[\d.e+-]*", "N", re.sub(r"0x[0-9a-f]+", "0xN", last))[:110]


def main() -> None:
    import fuzzing

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600, help="the whole campaign, doors and models")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--byte-level", type=int, default=100_000, help="byte-level mutations of model files")
    ap.add_argument("--structure", type=int, default=10_000, help="structure-aware mutations of model files")
    ap.add_argument("--doors", type=int, default=20_000, help="inputs per other door (store, manifest, analysis, plan, profile)")
    ap.add_argument("--new-doors", type=int, default=20_000, help="inputs per newer door (config, recording, codecarbon, zeus, "
                    "measurements, lengths, option)")
    ap.add_argument("--door-seconds", type=float, default=None, help="time for the other doors (default: half of --seconds)")
    ap.add_argument("--timeout", type=float, default=10.0, help="the profiler's time limit per model (s)")
    ap.add_argument("--memory-limit", type=float, default=1024.0, help="the profiler's memory limit per model (MB)")
    ap.add_argument("--findings", type=Path, default=None, help="write each finding's input here")
    a = ap.parse_args()
    import fuzz_doors
    import fuzz_doors_new

    w = max(1, a.workers)
    door_seconds = a.seconds / 2 if a.door_seconds is None else min(a.door_seconds, a.seconds)
    per_door = dict.fromkeys(fuzz_doors.DOORS, -(-a.doors // w))
    per_new = dict.fromkeys(fuzz_doors_new.DOORS, -(-a.new_doors // w))
    jobs = [(a.seed + i, -(-a.byte_level // w), -(-a.structure // w), per_door, per_new, door_seconds, a.seconds, a.timeout,
             a.memory_limit) for i in range(w)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(w) as pool:
        results = pool.map(_worker, jobs)
    total = collections.Counter()
    doors = {door: collections.Counter() for door in ALL_DOORS}
    findings = []
    for r in results:
        for k in ("inputs", "byte_level", "structure", "profiled", "refused", "limited"):
            total[k] += r[k]
        for door, (n, accepted, refused) in r["doors"].items():
            doors[door].update(inputs=n, accepted=accepted, refused=refused)
        findings += r["findings"]
    door_inputs = sum(c["inputs"] for c in doors.values())
    print(f"{time.perf_counter() - t0:.0f} s, {w} workers, seeds {a.seed}..{a.seed + w - 1}")
    print(f"inputs {total['inputs'] + door_inputs:,}: models {total['inputs']:,}, other doors {door_inputs:,}")
    print(f"models: byte-level {total['byte_level']:,}, structure-aware {total['structure']:,}; two profiles each: "
          f"{total['profiled']:,} profiled, {total['refused']:,} refused with one line, {total['limited']:,} stopped by a limit")
    for door, c in doors.items():
        print(f"{door}: {c['inputs']:,} inputs, {c['accepted']:,} accepted and used, {c['refused']:,} refused with one line")
    print(f"slowest input: model {max(r['slowest_s'] for r in results):.2f} s wall (limit {fuzzing.SLOW_S:g} s); other doors "
          f"{max(r['door_slowest_s'] for r in results):.2f} s CPU (limit {fuzzing.SLOW_S:g} s), "
          f"{max(r['door_slowest_wall_s'] for r in results):.2f} s wall (limit {fuzz_doors.HANG_S:g} s)")
    print(f"findings: {len(findings)}")
    kinds = collections.Counter((k, bucket(d)) for k, d, _ in findings)
    for (kind, last), n in kinds.most_common():
        print(f"  {n:5d} {kind}: {last}")
    if a.findings and findings:
        a.findings.mkdir(parents=True, exist_ok=True)
        for kind, detail, data in findings:
            name = hashlib.sha256(data).hexdigest()[:16]
            (a.findings / f"{name}{SUFFIX.get(kind.split()[0], '.onnx')}").write_bytes(data)
            (a.findings / f"{name}.txt").write_text(f"{kind}\n{detail}\n")


if __name__ == "__main__":
    main()
