"""Search populations at scale (issue #17): every candidate of a stream (a synthetic space, a generator, a folder)
evaluated through the engine on one target (engine/run.py: results read from the store first, the rest on a
process pool or a Ray cluster), keeping one small record per candidate, so memory grows only with those records
(about 0.5 KB each), not with models or projections; then the Pareto front and the best by an objective.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from array import array
from collections.abc import Sequence
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..errors import UsageError, param
from ..load.sources import CandidateTask
from ..records import Evaluation
from ..target import Target
from .run import CHUNK, iter_evaluate

RECORD_KEYS = ("batch", "macs", "flops", "params", "bytes_moved", "latency_s", "energy_j_per_item", "co2e_g_per_item", "kernels")


# ---- the driver ------------------------------------------------------------------------------------------

class Records(Sequence):
    """One row per candidate (`_record`'s dicts), kept as columns: numbers in typed arrays (8 bytes each, exact:
    a float64 or int64 holds the value it was given; a column falls back to a list the first time a value of another
    type or range comes), so a population's driver grows by about 150 bytes a candidate, not the 1.2 KB of a dict.
    Reading a row gives the same dict `_record` made, keys in the same order."""

    def __init__(self) -> None:
        self.cols: dict[str, Any] = {}
        self.keys: list[tuple[str, ...]] = []  # the distinct key orders (with or without arch and host)
        self.shape: list[int] = []  # each row's index into keys (rows of one population share one or two)
        self._n = 0

    def append(self, rec: dict[str, Any]) -> None:
        keys = tuple(rec)
        try:
            self.shape.append(self.keys.index(keys))
        except ValueError:
            self.shape.append(len(self.keys))
            self.keys.append(keys)
        for k, v in rec.items():
            col = self.cols.get(k)
            if col is None:
                col = self.cols[k] = [None] * self._n if self._n else \
                    array("d") if type(v) is float else array("q") if type(v) is int else []
            if type(col) is not list:
                if type(v) is (float if col.typecode == "d" else int):
                    try:
                        col.append(v)
                        continue
                    except OverflowError:  # an integer beyond int64
                        pass
                col = self.cols[k] = list(col)
            col.append(v)
        if len(keys) < len(self.cols):
            for k, col in self.cols.items():
                if len(col) == self._n:  # a key this row lacks: a placeholder keeps the columns aligned (never read)
                    if type(col) is not list:
                        col = self.cols[k] = list(col)
                    col.append(None)
        self._n += 1

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> dict[str, Any]:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]  # type: ignore[return-value]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        return {k: self.cols[k][i] for k in self.keys[self.shape[i]]}

    def column(self, key: str) -> Any:
        return self.cols.get(key, [None] * self._n)


@dataclass
class PopulationRun:
    records: Records = field(default_factory=Records)
    errors: list[dict[str, Any]] = field(default_factory=list)
    evaluated: int = 0
    from_store: int = 0
    seconds: float = 0.0
    executor: str = "local"
    workers: int = 1


def run_population(tasks: Iterable[CandidateTask], target: Target, executor: Any, store: Any = None,
                   profiles_ver: str = "", advance: Callable[[int], None] | None = None, chunk: int = CHUNK,
                   keep_arch: bool = True) -> PopulationRun:
    """Evaluate every candidate through the engine (engine/run.py: the store first, then the executor), keeping
    one small record per candidate. keep_arch=False leaves synthetic candidates' choices out of the records
    (most of their size)."""
    t0 = time.perf_counter()
    out = PopulationRun(executor=executor.name, workers=executor.workers)
    names: set[str] = set()

    def unique(it: Iterable[CandidateTask]) -> Iterator[CandidateTask]:
        for t in it:
            if t.name in names:
                raise UsageError(f"candidate name '{t.name}' is used twice; names must be unique")
            names.add(t.name)
            yield t

    for r in iter_evaluate(unique(tasks), target, executor=executor, store=store, profiles_ver=profiles_ver, chunk=chunk,
                           detail=False):  # _record reads no detail
        e = r.evaluation
        if not e.ok:
            out.errors.append({"name": e.name, "error": e.error_text(), "exit_code": e.exit_code, "evaluation": e})
        else:
            out.records.append(_record(e, r.task, keep_arch, r.host))
        if r.from_store:
            out.from_store += 1
        else:
            out.evaluated += 1
        if advance is not None:
            advance(1)
    out.seconds = time.perf_counter() - t0
    return out


def _record(e: Evaluation, task: CandidateTask, keep_arch: bool, host: str) -> dict[str, Any]:
    rec = {"name": e.name, **{k: getattr(e, k) for k in RECORD_KEYS}, "energy_range_j": [e.energy_range_j.get("low"),
           e.energy_range_j.get("high")], "accuracy": task.accuracy, "role": task.role}
    if keep_arch and task.arch is not None:
        rec["arch"] = task.arch
    if host:
        rec["host"] = host
    return rec


# ---- the front -------------------------------------------------------------------------------------------

def pareto_front(records: list[dict[str, Any]], axes: tuple[str, ...] = ("co2e_g_per_item", "latency_s")) -> list[int]:
    """Indices of the records no other record dominates (lower is better on every axis; 'accuracy' is
    higher-better). Sorted by the first axis; O(n log n + n x front) with numpy, not O(n^2) in Python."""
    if not records:
        return []
    if isinstance(records, Records):  # its columns: no row made into a dict
        pts = np.array([[(-v if a == "accuracy" else v) for v in records.column(a)] for a in axes], dtype=float).T
    else:
        pts = np.array([[(-r[a] if a == "accuracy" else r[a]) for a in axes] for r in records], dtype=float)
    order = np.lexsort(pts.T[::-1])
    if len(axes) == 2:
        return _front_2d(pts, order)
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


def _front_2d(pts: np.ndarray, order: np.ndarray) -> list[int]:
    """pareto_front on two axes in one sweep (O(n log n)): in lexicographic order every kept point comes at or
    before p on the first axis, and the last one kept has the least second coordinate of them, so p is dominated
    exactly when that one is below it on the second axis, or equal there and below on the first; a point equal to it
    is on the front too (as pareto_front keeps it)."""
    front: list[int] = []
    last: tuple[float, float] | None = None
    for i, (x, y) in zip(order.tolist(), pts[order].tolist()):
        if last is not None and (last[1] < y or (last[1] == y and last[0] < x)):
            continue
        front.append(i)
        last = (x, y)
    return front


def top(records: list[dict[str, Any]], objective: str, k: int) -> list[dict[str, Any]]:
    key = {"co2e": "co2e_g_per_item", "energy": "energy_j_per_item", "latency": "latency_s", "macs": "macs"}.get(objective)
    if key is None:
        raise UsageError(f"{param('objective')} '{objective}': expected co2e, energy, latency or macs")
    if isinstance(records, Records):  # sorted by index over its columns: only the k rows kept are made into dicts
        values, names = records.column(key), records.column("name")
        return [records[i] for i in sorted(range(len(records)), key=lambda i: (values[i], names[i]))[:k]]
    return sorted(records, key=lambda r: (r[key], r["name"]))[:k]
