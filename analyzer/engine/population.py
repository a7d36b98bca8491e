"""Search populations at scale (issue #17): each candidate's profile -> projection -> CO2e is one pure task
over plain records (`evaluate_chunk`), run by a local process pool (`LocalExecutor`, the default) or on a Ray
cluster (`RayExecutor`), the same function either way. Results are keyed in the store by the candidate's
identity and every setting a projection depends on: a killed run resumes where it stopped (what finished is
in the store, one transaction per chunk), a repeated run reads the store, and a candidate is in the store
once however often it ran (the key is the table's primary key).

The driver holds a bounded number of chunks in flight and keeps one small record per candidate, so memory
grows only with those records (about 0.5 KB each), not with models or projections.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..errors import AnalyzerError, UsageError, naming
from ..load.sources import CandidateTask
from ..target.resolve import Placement

KIND = "candidate"
CHUNK = 32  # candidates per task: large enough that dispatch costs little, small enough to balance 2 workers
RECORD_KEYS = ("macs", "flops", "params", "bytes_moved", "latency_s", "energy_j_per_item", "energy_range_j", "co2e_g_per_item",
               "kernels")


# ---- the pure task ---------------------------------------------------------------------------------------

_SCRATCH: list[Path] = []


def _scratch() -> Path:
    """A folder of this process for generated candidates' bytes (profiles read files)."""
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="nas-analyzer-pop-")))
    return _SCRATCH[0]


def evaluate_one(task: CandidateTask, placement: Placement, params: Any) -> dict[str, Any]:
    """Profile and project one candidate: a record of plain values, or {'name', 'error', 'exit_code'}."""
    from ..load.sources import candidate_file
    from ..count.profile import profile_onnx
    from ..project.projection import project

    written = None
    try:
        path = candidate_file(task, _scratch())
        written = path if task.path is None else None
        # a synthetic candidate was built here by our own code: not an untrusted file (see load_onnx)
        prof = profile_onnx(path, batch=placement.batch, per_op=True, trusted=task.space is not None)
        p = project(prof, placement.hardware, params, placement.runtime, placement.dtype, pue=placement.pue,
                    grid_gco2e_per_kwh=placement.grid_gco2e_per_kwh, utilization=placement.utilization)
        return {"name": task.name, "identity": task.identity, "sha256": prof.sha256, "macs": prof.macs, "flops": prof.flops,
                "params": prof.params, "bytes_moved": prof.bytes_moved, "latency_s": p.latency_s,
                "energy_j_per_item": p.energy_j_per_item, "co2e_g_per_item": p.co2e_g_per_item, "kernels": p.kernels,
                "energy_range_j": [p.range.get("low"), p.range.get("high")]}
    except AnalyzerError as e:
        e = naming(e, task.name)
        return {"name": task.name, "identity": task.identity, "error": str(e), "exit_code": e.exit_code}
    finally:
        if written is not None:
            written.unlink(missing_ok=True)


def evaluate_chunk(tasks: list[CandidateTask], placement: Placement, params: Any, limits: Any = None) -> list[dict[str, Any]]:
    """The unit of work both executors run; tagged with where it ran. `limits` (guard.Limits): the driver's
    --timeout and --memory-limit, which a worker process does not inherit."""
    from contextlib import nullcontext

    from ..load import guard

    host = os.uname().nodename
    with guard.limits(limits.timeout_s, limits.memory_mb) if limits is not None else nullcontext():
        return [evaluate_one(t, placement, params) | {"host": host} for t in tasks]


# ---- executors -------------------------------------------------------------------------------------------

_WORKER_CONTEXT: list[Any] = []


def _init_worker(placement: Placement, params: Any, limits: Any = None) -> None:
    _WORKER_CONTEXT[:] = [placement, params, limits]


def _run_in_worker(tasks: list[CandidateTask]) -> list[dict[str, Any]]:
    return evaluate_chunk(tasks, *_WORKER_CONTEXT)


class LocalExecutor:
    """A process pool on this machine (one worker: this process)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1

    def run(self, chunks: Iterable[list[CandidateTask]], placement: Placement, params: Any,
            limits: Any = None) -> Iterator[list[dict]]:
        if self.workers == 1:
            for c in chunks:
                yield evaluate_chunk(c, placement, params, limits)
            return
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker, initargs=(placement, params, limits)) as pool:
            pending: set = set()
            it = iter(chunks)
            for c in islice(it, 2 * self.workers):
                pending.add(pool.submit(_run_in_worker, c))
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.add(pool.submit(_run_in_worker, nxt))


class RayExecutor:
    """The same tasks on a Ray cluster: `address` None starts a local one (`ray.init()`), 'auto' joins the
    cluster this machine belongs to, ray://host:port a remote one. A task whose worker dies is retried
    (max_retries); nas-analyzer must be installed on every node."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, max_retries: int = 3):
        try:
            import ray
        except ImportError:
            raise UsageError("--ray needs Ray: pip install 'nas-analyzer[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
            if address is None:
                kwargs["num_cpus"] = workers or os.cpu_count() or 1
            try:
                ray.init(address=address, **kwargs)
            except Exception as e:  # noqa: BLE001 - Ray raises many types for an unreachable cluster
                raise UsageError(f"--ray {address or '(local)'}: cannot start or join the cluster ({type(e).__name__}: {e})") from None
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self.max_retries = max_retries

    def run(self, chunks: Iterable[list[CandidateTask]], placement: Placement, params: Any,
            limits: Any = None) -> Iterator[list[dict]]:
        ray = self.ray
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(evaluate_chunk)
        placement_ref, params_ref = ray.put(placement), ray.put(params)  # sent to each node once
        it = iter(chunks)
        pending = [remote.remote(c, placement_ref, params_ref, limits) for c in islice(it, 2 * self.workers)]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
            nxt = next(it, None)
            if nxt is not None:
                pending.append(remote.remote(nxt, placement_ref, params_ref, limits))


# ---- the driver ------------------------------------------------------------------------------------------

@dataclass
class PopulationRun:
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    evaluated: int = 0
    from_store: int = 0
    seconds: float = 0.0
    executor: str = "local"
    workers: int = 1


def run_population(tasks: Iterable[CandidateTask], placement: Placement, executor: LocalExecutor | RayExecutor,
                   store: Any = None, profiles_ver: str = "", advance: Callable[[int], None] | None = None,
                   chunk: int = CHUNK, keep_arch: bool = True) -> PopulationRun:
    """Evaluate every candidate, reading what the store holds and writing each finished chunk to it.
    keep_arch=False leaves synthetic candidates' choices out of the records (most of their size)."""
    from ..decide.ranking import projection_key_parts
    from ..profiles import projection_defaults
    from ..project.projection import resolve_params
    from .store import result_key

    t0 = time.perf_counter()
    params = resolve_params(placement.hardware, placement.dtype, placement.runtime, projection_defaults())
    settings = projection_key_parts(placement) if store is not None else placement.settings()
    out = PopulationRun(executor=executor.name, workers=executor.workers)
    extra: dict[str, tuple[float | None, str, dict | None]] = {}  # by name, until the candidate's record is made
    names: set[str] = set()

    def todo() -> Iterator[list[CandidateTask]]:
        it = iter(tasks)
        while True:
            block = list(islice(it, 16 * chunk))
            if not block:
                return
            for t in block:
                if t.name in names:
                    raise UsageError(f"candidate name '{t.name}' is used twice; names must be unique")
                names.add(t.name)
                extra[t.name] = (t.accuracy, t.role, t.arch if keep_arch else None)
            hits: dict[int, dict] = {}
            if store is not None:
                by_key: dict[str, list[int]] = {}
                for i, t in enumerate(block):  # identical models under two names share one row
                    by_key.setdefault(_key(t), []).append(i)
                found = store.get_many(KIND, {k: k for k in by_key})
                hits = {i: found[k] for k, idx in by_key.items() if k in found for i in idx}
            for i, payload in hits.items():
                out.records.append(_finish(payload, block[i].name, extra))
            out.from_store += len(hits)
            if advance is not None and hits:
                advance(len(hits))
            rest = [t for i, t in enumerate(block) if i not in hits]
            for i in range(0, len(rest), chunk):
                yield rest[i:i + chunk]

    def _key(t: CandidateTask) -> str:
        return result_key(KIND, t.identity, settings, profiles_ver)

    from ..load import guard

    for results in executor.run(todo(), placement, params, guard.current()):
        rows = []
        for r in results:
            if "error" in r:
                extra.pop(r["name"], None)
                out.errors.append(r)
                continue
            out.records.append(_finish(r, r["name"], extra))
            if store is not None:
                rows.append((KIND, result_key(KIND, r["identity"], settings, profiles_ver), r["name"], r["sha256"], settings,
                             profiles_ver, {k: v for k, v in r.items() if k != "host"}))
        if rows:
            store.put_many(rows)
        out.evaluated += len(results)
        if advance is not None:
            advance(len(results))
    out.seconds = time.perf_counter() - t0
    return out


def _finish(payload: dict[str, Any], name: str, extra: dict) -> dict[str, Any]:
    acc, role, arch = extra.pop(name, (None, "", None))
    rec = {"name": name, **{k: payload.get(k) for k in RECORD_KEYS}, "accuracy": acc, "role": role}
    if arch is not None:
        rec["arch"] = arch
    if "host" in payload:
        rec["host"] = payload["host"]
    return rec


# ---- the front -------------------------------------------------------------------------------------------

def pareto_front(records: list[dict[str, Any]], axes: tuple[str, ...] = ("co2e_g_per_item", "latency_s")) -> list[int]:
    """Indices of the records no other record dominates (lower is better on every axis; 'accuracy' is
    higher-better). Sorted by the first axis; O(n log n + n x front) with numpy, not O(n^2) in Python."""
    if not records:
        return []
    pts = np.array([[(-r[a] if a == "accuracy" else r[a]) for a in axes] for r in records], dtype=float)
    order = np.lexsort(pts.T[::-1])
    front: list[int] = []
    kept = np.empty((0, pts.shape[1]))
    for i in order:
        p = pts[i]
        if len(kept) and np.any(np.all(kept <= p, axis=1) & np.any(kept < p, axis=1)):
            continue
        if len(kept) and np.any(np.all(kept == p, axis=1)):  # an equal point is on the front too
            front.append(int(i))
            continue
        front.append(int(i))
        kept = np.vstack([kept, p])
    return front


def top(records: list[dict[str, Any]], objective: str, k: int) -> list[dict[str, Any]]:
    key = {"co2e": "co2e_g_per_item", "energy": "energy_j_per_item", "latency": "latency_s", "macs": "macs"}.get(objective)
    if key is None:
        raise UsageError(f"--objective '{objective}': expected co2e, energy, latency or macs")
    return sorted(records, key=lambda r: (r[key], r["name"]))[:k]
