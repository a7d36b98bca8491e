"""Spans of a tracked run (one per trial, nested or overlapping, from any process) and the energy each one used.

Writing: a span is two log lines, `s+` (id, name, start t, parent, params, the candidate's identity, the meters it
declares) and `s-` (id, end t, status). A child process started under `nas-analyzer track --` finds the log in
$NAS_ANALYZER_TRACK_LOG and appends its own lines (`child_span`).

Attribution rule (energy is known per reading interval; within one, power is taken as constant):
  - at each instant, the *active* spans are the open spans with no open child; nesting gives a parent only the time
    none of its children is open (its `self` energy) and the sum over its subtree (its `energy`);
  - for each meter, the energy of an instant is split equally among the active spans that declared that meter (or
    declared none); with none active, it is the run's idle line;
  - so, meter by meter, idle + the sum of every span's self energy = the run's total, exactly; spans overlapping
    across processes share the instants they overlap.
A span still open at the last reading (a killed run) ends there.
"""

from __future__ import annotations

import contextvars
import hashlib
import itertools
import os
import time
from bisect import bisect_right
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import UsageError, param
from .track import ENV_LOG, ENV_PARENT, append_line

_IDS = itertools.count(1)
# the spans open in this thread or task, innermost last: a span opened inside another is its child
STACK: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("nas_analyzer_spans", default=())


def identity_of(arch: str | None = None, file: str | Path | None = None) -> str:
    """A candidate's identity: its arch string, or 'sha256:' + its file's hash."""
    if arch is not None and file is not None:
        raise UsageError(f"give one of {param('arch')} and {param('file')} for a trial's candidate, not both")
    if file is not None:
        h = hashlib.sha256()
        try:
            with open(file, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError as e:
            raise UsageError(f"{param('file')} {file}: cannot read ({e.strerror})") from None
        return "sha256:" + h.hexdigest()
    return str(arch) if arch is not None else ""


def new_span_id() -> str:
    return f"{os.getpid()}-{next(_IDS)}"


def open_record(span_id: str, name: str, t: float, parent: str | None, params: dict[str, Any], identity: str,
                devices: tuple[str, ...] | None, kind: str = "trial") -> dict[str, Any]:
    if not isinstance(name, str) or not name:
        raise UsageError(f"{param('name')}: a span needs a non-empty name")
    safe = {k: v if isinstance(v, (int, float, str, bool)) or v is None else repr(v) for k, v in params.items()}
    return {"k": "s+", "id": span_id, "name": name, "t": t, "parent": parent, "params": safe, "identity": identity,
            "devices": list(devices) if devices else None, "kind": kind, "pid": os.getpid()}


def append_to(path: str | Path, record: dict[str, Any]) -> None:
    """One record appended to a run's log from anywhere (another process, a pickled callback)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        append_line(fd, record)
    finally:
        os.close(fd)


@contextmanager
def child_span(name: str, *, arch: str | None = None, file: str | Path | None = None, devices: tuple[str, ...] | None = None,
               kind: str = "trial", clock: Callable[[], float] = time.time, **params: Any) -> Iterator[str | None]:
    """A span from a process started by `nas-analyzer track --` (the log is in $NAS_ANALYZER_TRACK_LOG); outside a
    tracked run, nothing is written and the id is None."""
    path = os.environ.get(ENV_LOG)
    if not path:
        yield None
        return
    sid = new_span_id()
    stack = STACK.get()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    token = STACK.set(stack + (sid,))
    try:
        append_line(fd, open_record(sid, name, clock(), stack[-1] if stack else os.environ.get(ENV_PARENT) or None,
                                    params, identity_of(arch, file), devices, kind))
        status = "error"
        try:
            yield sid
            status = "ok"
        finally:
            append_line(fd, {"k": "s-", "id": sid, "t": clock(), "status": status})
    finally:
        STACK.reset(token)
        os.close(fd)


@dataclass
class Span:
    id: str
    name: str
    start: float
    end: float | None
    parent: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    identity: str = ""
    devices: tuple[str, ...] | None = None
    kind: str = "trial"
    status: str = "open"
    pid: int = 0
    self_j: dict[str, float] = field(default_factory=dict)
    energy_j: dict[str, float] = field(default_factory=dict)


def spans_from(records: list[dict[str, Any]]) -> list[Span]:
    spans: dict[str, Span] = {}
    for r in records:
        if r["k"] == "s+" and isinstance(r.get("id"), str) and isinstance(r.get("t"), (int, float)):
            spans[r["id"]] = Span(r["id"], str(r.get("name", "")), float(r["t"]), None, r.get("parent"),
                                  dict(r.get("params") or {}), str(r.get("identity") or ""),
                                  tuple(r["devices"]) if r.get("devices") else None, str(r.get("kind", "trial")),
                                  pid=int(r.get("pid") or 0))
        elif r["k"] == "s-" and r.get("id") in spans and isinstance(r.get("t"), (int, float)):
            s = spans[r["id"]]
            s.end, s.status = float(r["t"]), str(r.get("status", "ok"))
    return list(spans.values())


def attribute(times: list[float], cumulative: dict[str, list[float]], spans: list[Span]) -> dict[str, float]:
    """Fill each span's self_j and energy_j per meter (the rule in the module's docstring); return the idle joules per
    meter. `times` are the readings' times, `cumulative[meter]` its joules since the start at each."""
    idle = {m: 0.0 for m in cumulative}
    if len(times) < 2:
        return idle
    t_first, t_last = times[0], times[-1]
    by_id = {s.id: s for s in spans}
    events: list[tuple[float, int, str]] = []
    for s in spans:
        s.self_j, s.energy_j = {m: 0.0 for m in cumulative}, {m: 0.0 for m in cumulative}
        a, b = max(s.start, t_first), min(s.end if s.end is not None else t_last, t_last)
        if b > a:
            events += [(a, 1, s.id), (b, 0, s.id)]  # closes sort before opens at the same instant
    events.sort()
    cuts = sorted(set(times) | {e[0] for e in events})
    open_children: dict[str, int] = {}
    active: set[str] = set()
    ei = 0
    for a, b in zip(cuts, cuts[1:]):
        while ei < len(events) and events[ei][0] <= a:
            _, is_open, sid = events[ei]
            parent = by_id[sid].parent
            if is_open:
                open_children[sid] = open_children.get(sid, 0)
                if open_children[sid] == 0:
                    active.add(sid)
                if parent in open_children:
                    open_children[parent] += 1
                    active.discard(parent)
            else:
                open_children.pop(sid, None)
                active.discard(sid)
                if parent in open_children:
                    open_children[parent] -= 1
                    if open_children[parent] == 0:
                        active.add(parent)
            ei += 1
        i = bisect_right(times, a) - 1  # the reading interval [times[i], times[i+1]] holding [a, b]
        span_s = times[i + 1] - times[i]
        for m, cum in cumulative.items():
            e = (cum[i + 1] - cum[i]) * (b - a) / span_s if span_s > 0 else 0.0
            takers = [sid for sid in active if by_id[sid].devices is None or m in by_id[sid].devices]
            if not takers:
                idle[m] += e
                continue
            for sid in takers:
                by_id[sid].self_j[m] += e / len(takers)
    for s in spans:  # a span's energy is its own plus its subtree's
        seen = set()
        node: Span | None = s
        while node is not None and node.id not in seen:
            seen.add(node.id)
            for m, v in s.self_j.items():
                node.energy_j[m] += v
            node = by_id.get(node.parent) if node.parent else None
    return idle
