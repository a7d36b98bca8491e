"""A benchmark's last result as a JSON file: benchmarks/results/<name>.json, written by the script with --json
(the claims in benchmarks/README.md cite it; docs/gen_benchmarks.py shows its scalars on the benchmarks page). Holds the
command, the data it read, when, and the headline numbers, nested tables flattened to dotted keys."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def flat(d: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}: every number a top-level field."""
    out: dict = {}
    for k, v in d.items():
        out |= flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v}
    return out


def write(name: str, data: list[str], results: dict) -> Path:
    """Write benchmarks/results/<name>.json (atomically: a temporary file, then a rename) and say so on stderr."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {"script": f"benchmarks/{name}.py", "command": " ".join(["python", f"benchmarks/{name}.py", *sys.argv[1:]]),
              "data": data, "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%MZ"), **flat(results)}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n")
    tmp.replace(path)
    print(f"wrote {path.relative_to(RESULTS.parent.parent)}", file=sys.stderr)
    return path


def write_timed(name: str, numbers: dict) -> Path:
    """benchmarks/results/<name>.json for a timing benchmark (population.py, static_profile.py): its numbers with the
    command, the date to the second, the cores and the load average at the end (timings on a shared machine need
    them), written atomically."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {"command": " ".join(["python", *sys.argv]), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "cores": os.cpu_count(), "load_average_at_end": round(os.getloadavg()[0], 2), **numbers}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
