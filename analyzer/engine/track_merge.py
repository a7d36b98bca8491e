"""One tracked run from the per-node logs of a SLURM job (engine/track_cluster.py's docstring says how a job's nodes log).
Apart from track_cluster.py, which wraps track(), so that track.py's `load_run` can read a job's logs without importing
back into the module that imports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..account.tracked_run import TrackedRun, summarise
from ..errors import UsageError, param
from ..measure.track import read_log


def merge_logs(paths: list[Path], job_id: str | None = None) -> TrackedRun:
    """One run from the per-node logs of a SLURM job (those whose start record has `job_id`, or all when None and
    they agree): each node's meters as `<host>:<meter>`, readings merged by time, spans kept."""
    starts, bodies = [], []
    for p in paths:
        recs = read_log(p)
        start = next((r for r in recs if r["k"] == "start"), None)
        if start is None:
            continue
        if job_id is not None and str(start.get("slurm_job_id")) != str(job_id):
            continue
        starts.append(start)
        bodies.append(recs)
    jobs = {str(s.get("slurm_job_id")) for s in starts}
    if not starts:
        raise UsageError(f"{param('search_run')}: no run log" + (f" of SLURM job {job_id}" if job_id else "") + " among "
                         f"{len(paths)} file(s)")
    if len(jobs) > 1:
        raise UsageError(f"{param('search_run')}: the logs are of several SLURM jobs ({', '.join(sorted(jobs))}): name one")
    merged: list[dict[str, Any]] = []
    meters: dict[str, Any] = {}
    ended = True
    for start, recs in zip(starts, bodies):
        host = str(start.get("host") or "node")
        meters.update({f"{host}:{k}": v for k, v in (start.get("meters") or {}).items()})
        ended &= any(r["k"] == "end" for r in recs)
        for r in recs:
            if r["k"] == "r":
                merged.append(r | {"j": {f"{host}:{k}": v for k, v in r["j"].items()},
                                   "p": {f"{host}:{k}": v for k, v in (r.get("p") or {}).items()}})
            elif r["k"] in ("s+", "s-", "err"):
                merged.append(r | ({"meter": f"{host}:{r['meter']}"} if r["k"] == "err" else {}))
    merged.sort(key=lambda r: r["t"])
    first = min(starts, key=lambda s: s["t"])
    head = first | {"meters": meters, "chips": sum(float(s.get("chips") or 1) for s in starts),
                    "notes": [f"SLURM job {next(iter(jobs))}: {len(starts)} node log(s) merged by job id "
                              f"({', '.join(str(s.get('host')) for s in starts)})"]}
    tail = [{"k": "end", "t": merged[-1]["t"] if merged else first["t"], "exit_status": "merged"}] if ended else []
    return summarise([head, *merged, *tail], ", ".join(str(p) for p in paths))
