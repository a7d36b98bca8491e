"""Sampling the meters while a run goes on, and the run's log (issue #37).

The log is an append-only JSON-lines file, one record a line, each written with one os.write() under an exclusive
lock (O_APPEND): the tracker, the code it runs and child processes (spans.py) interleave whole lines, and a process
killed with SIGKILL loses nothing it wrote (the kernel has it); the file is fsync'd every `fsync_every` readings and
at the end, against a lost machine. A reader skips a partial last line. Records (key "k"):

  start   the run: id, name, start time, meters (source, provenance, method, band, attribution), site, command
  r       a reading: time t (s since the epoch) and each meter's joules since the start (cumulative: the last
          reading flushed is the run's energy so far), with the parts (cpu, dram) where the meter splits them
  err     a meter failed mid-run: it is reported and dropped; the others go on
  s+ s-   a span opened / closed (spans.py)
  end     the run ended: exit status, the tracker's own CPU seconds, its late ticks

The sampler reads every meter each `interval_s` (10 Hz by default) in a daemon thread on a fixed schedule (a tick
that overruns its slot is counted late and the schedule skips ahead, never bunches up); `tick()` is the same step by
hand, for tests on a fake clock.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import MeterUnavailable, StoreError
from .meters import EnergyMeter

ENV_LOG = "NAS_ANALYZER_TRACK_LOG"  # the log a child process appends its spans to (set by `track --`)
ENV_PARENT = "NAS_ANALYZER_TRACK_PARENT"  # the span open in the parent when it started the child
MAX_POWER_W = 100_000.0  # a reading above this per meter (a rack's draw) is garbage, not a measurement


class RunLog:
    """Append-only JSON lines: one locked os.write() per record, fsync every `fsync_every` readings."""

    def __init__(self, path: Path, fsync_every: int = 10) -> None:
        self.path, self.fsync_every, self.unsynced = Path(path), fsync_every, 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(f"cannot write the run log {self.path} ({e.strerror})") from None
        self.lock = threading.Lock()

    def write(self, record: dict[str, Any], sync: bool = False) -> None:
        append_line(self.fd, record, self.lock)
        self.unsynced += 1
        if sync or self.unsynced >= self.fsync_every:
            os.fsync(self.fd)
            self.unsynced = 0

    def close(self) -> None:
        if self.fd >= 0:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1


def append_line(fd: int, record: dict[str, Any], lock: threading.Lock | None = None) -> None:
    data = (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode()
    if lock is not None:
        lock.acquire()
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.write(fd, data)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        if lock is not None:
            lock.release()


def read_log(path: Path) -> list[dict[str, Any]]:
    """The log's records in order; a partial or unreadable line (a writer killed mid-line) is skipped."""
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError as e:
        raise StoreError(f"cannot read the run log {path} ({e.strerror})") from None
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("k"), str):
            out.append(rec)
    return out


def describe(meter: EnergyMeter) -> dict[str, Any]:
    return {"source": meter.source, "provenance": meter.provenance, "method": meter.method,
            "band": list(meter.band) if meter.band else None, "attribution": meter.attribution,
            "selection": meter.selection}


@dataclass
class Channel:
    name: str
    meter: EnergyMeter
    last: Any
    last_t: float
    energy_j: float = 0.0
    parts_j: dict[str, float] = field(default_factory=dict)
    error: str = ""


def _first(name: str, meter: EnergyMeter) -> Any:
    """A meter's first snapshot: one that cannot be read ends the run before it starts, with the reason."""
    try:
        return meter.snapshot()
    except MeterUnavailable:
        raise
    except Exception as e:  # noqa: BLE001 - a meter's own failure (OSError, a library's error) as one line
        raise MeterUnavailable(f"meter {name} ({meter.source}): cannot take a first reading ({type(e).__name__}: {e})") from None


class Sampler:
    """Each tick: every live meter's joules since its last snapshot added to its running total, one reading line."""

    def __init__(self, meters: dict[str, EnergyMeter], log: RunLog, *, interval_s: float = 0.1,
                 clock: Callable[[], float] = time.time, thread: bool = True) -> None:
        if not meters:
            raise MeterUnavailable("no meter to track with")
        self.log, self.interval_s, self.clock = log, interval_s, clock
        t = clock()
        self.channels = [Channel(name, m, _first(name, m), t) for name, m in meters.items()]
        self.t0 = t
        self.ticks = self.late = 0
        self.thread_cpu_s = 0.0
        self.log_error = ""
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.log.write({"k": "r", "t": t, "j": {c.name: 0.0 for c in self.channels}}, sync=True)
        if thread:
            self.thread = threading.Thread(target=self._loop, name="nas-analyzer-track", daemon=True)
            self.thread.start()

    def tick(self) -> None:
        t = self.clock()
        reading: dict[str, float] = {}
        parts: dict[str, dict[str, float]] = {}
        for c in self.channels:
            if c.error:
                continue
            try:
                snap = c.meter.snapshot()
                joules = c.meter.joules_between(c.last, snap)
                by_part = c.meter.joules_by_part(c.last, snap)
                dt = t - c.last_t
                if not math.isfinite(joules) or joules < 0 or (dt > 0 and joules / dt > MAX_POWER_W):
                    raise MeterUnavailable(f"implausible reading: {joules!r} J over {dt:.3g} s")
            except Exception as e:  # noqa: BLE001 - any meter failure mid-run is reported, and the run goes on
                c.error = f"{type(e).__name__}: {e}" if not isinstance(e, MeterUnavailable) else str(e)
                self.log.write({"k": "err", "t": t, "meter": c.name, "error": c.error}, sync=True)
                continue
            c.last, c.last_t = snap, t
            c.energy_j += joules
            for k, v in by_part.items():
                c.parts_j[k] = c.parts_j.get(k, 0.0) + v
            reading[c.name] = c.energy_j
            if c.parts_j:
                parts[c.name] = dict(c.parts_j)
        rec: dict[str, Any] = {"k": "r", "t": t, "j": reading}
        if parts:
            rec["p"] = parts
        self.log.write(rec)
        self.ticks += 1

    def _loop(self) -> None:
        start = time.monotonic()
        k = 1
        while not self.stop_event.wait(max(start + k * self.interval_s - time.monotonic(), 0.0)):
            try:
                self.tick()
            except OSError as e:  # the log cannot be written (a full disk): what was written stands
                self.log_error = f"the run log could not be written ({e.strerror}); readings stopped"
                break
            k += 1
            behind = int((time.monotonic() - start) / self.interval_s) + 1
            if behind > k:  # the tick overran its slot: count the slots missed, and do not bunch up
                self.late += behind - k
                k = behind
        self.thread_cpu_s = time.thread_time()

    def stop(self) -> None:
        """Stop the thread, then take the last reading (the run's end)."""
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join()
        self.tick()
        for c in self.channels:
            c.meter.close()

    @property
    def energy_j(self) -> float:
        return sum(c.energy_j for c in self.channels)
