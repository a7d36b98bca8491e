"""Tracking a search as it runs (issue #37): `with analyzer.track("my-search") as run:` samples the meters of the
process tree (measure/track_meters.py) at 10 Hz into the run's log (measure/track.py), `run.trial(name, **params)`
opens a span per trial (measure/spans.py), and at the end the run is accounted at its site
(account/tracked_run.py) and recorded in the results store as a `search-run`.

Safe by construction: the store gets a `running` row when the run starts, and the log has every reading as it was
taken, so a run killed with SIGKILL is read back (load_run) from its log as `incomplete`, with what was flushed.
A store that cannot be opened or written is reported in the run's notes and the run goes on with its log alone.
"""

from __future__ import annotations

import functools
import os
import re
import resource
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..account.tracked_run import TrackedRun, summarise
from ..errors import AnalyzerError, StoreError, UsageError, param
from ..measure.meters import EnergyMeter
from ..measure.spans import STACK as _STACK, identity_of, new_span_id, open_record
from ..measure.track import ENV_LOG, RunLog, Sampler, describe, read_log
from ..paths import cache_dir
from ..target import Site, SiteRequest

KIND = "search-run"  # the results store's kind for a tracked run


@dataclass(frozen=True)
class TrackHooks:
    """How a tracked run is observed and recorded: `meters` (by name) replaces the meter selection (tests pass
    replay meters); `interval_s` between readings (s); `emissions_csv` also writes CodeCarbon's file; `command` (the
    CLI's argv) goes into the log; `clock` (s); `thread` samples in a background thread; `profiles` (a ProfileSet,
    None for load_profiles()); `exit_status` (the CLI's) gives the status the run ends with."""

    meters: dict[str, EnergyMeter] | None = None
    interval_s: float = 0.1
    emissions_csv: Path | None = None
    command: list[str] | None = None
    clock: Callable[[], float] = field(default=time.time)
    thread: bool = True
    profiles: Any = None
    exit_status: Callable[[], Any] | None = None


def runs_dir() -> Path:
    return cache_dir() / "runs"


class Run:
    """A run being tracked: open spans with trial(), read the energy so far with energy_j; `result` after the end."""

    def __init__(self, run_id: str, name: str, log: RunLog, sampler: Sampler, clock: Callable[[], float]) -> None:
        self.id, self.name, self.log, self.sampler, self.clock = run_id, name, log, sampler, clock
        self.result: TrackedRun | None = None

    @property
    def log_path(self) -> Path:
        return self.log.path

    @property
    def energy_j(self) -> float:
        """Device joules so far (the meters' totals at their last reading)."""
        return self.sampler.energy_j

    @contextmanager
    def trial(self, name: str, *, arch: str | None = None, file: str | Path | None = None,
              devices: tuple[str, ...] | None = None, kind: str = "trial", **params: Any) -> Iterator[str]:
        """A span for one candidate: its identity (arch string, or the file's sha256) and parameters recorded; nested
        spans are children of the one open in this thread or task."""
        sid = self.open_span(name, arch=arch, file=file, devices=devices, kind=kind, **params)
        token = _STACK.set(_STACK.get() + (sid,))
        status = "error"
        try:
            yield sid
            status = "ok"
        finally:
            _STACK.reset(token)
            self.close_span(sid, status)

    span = trial

    def open_span(self, name: str, *, arch: str | None = None, file: str | Path | None = None,
                  devices: tuple[str, ...] | None = None, kind: str = "trial", parent: str | None = None, **params: Any) -> str:
        """A span opened here and closed with close_span (for callbacks that see a trial's start and end apart)."""
        if self.result is not None:
            raise UsageError(f"{param('name')} {name!r}: run {self.id} has ended; open spans inside its `with` block")
        if devices is not None:
            unknown = [d for d in devices if d not in {c.name for c in self.sampler.channels}]
            if unknown:
                raise UsageError(f"{param('devices')} {unknown[0]!r}: not a meter of this run "
                                 f"({', '.join(c.name for c in self.sampler.channels)})")
        sid = new_span_id()
        stack = _STACK.get()
        self.log.write(open_record(sid, name, self.clock(), parent or (stack[-1] if stack else None), params,
                                   identity_of(arch, file), devices, kind))
        return sid

    def close_span(self, span_id: str, status: str = "ok", t: float | None = None) -> None:
        self.log.write({"k": "s-", "id": span_id, "t": self.clock() if t is None else t, "status": status})

    def record_span(self, name: str, start_t: float, end_t: float, *, status: str = "ok", arch: str | None = None,
                    kind: str = "trial", **params: Any) -> str:
        """A span that already ended (a library's callback reports a trial after it finished), on this run's clock."""
        if not (end_t >= start_t):
            raise UsageError(f"{param('end_t')} {end_t!r}: a span cannot end before it starts ({start_t!r})")
        sid = new_span_id()
        self.log.write(open_record(sid, name, start_t, None, params, identity_of(arch), None, kind))
        self.close_span(sid, status, end_t)
        return sid


def resolve_run_site(site: Site | SiteRequest | None, profiles: Any = None,
                     hardware: str | None = None) -> tuple[Site, Any]:
    """The site (a Site, or resolved from a SiteRequest and the defaults) and the named hardware profile."""
    from ..profiles import load_profiles
    from ..target import SiteRequest, resolve_site

    ps = profiles if profiles is not None else load_profiles()
    if not isinstance(site, Site):
        site = resolve_site(ps, site if site is not None else SiteRequest(), utilization=1.0)
    hw = ps.get("hardware", hardware) if hardware else None
    return site, hw


def _run_id(name: str, t: float) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:40] or "run"
    return f"{slug}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(t))}-{os.getpid()}"


def _open_store(store: Path | bool | None) -> tuple[Any, str]:
    """(the results store or None, why not)."""
    if store is False:
        return None, ""
    from .store import Store, default_path

    try:
        return Store.open(Path(store) if isinstance(store, (str, Path)) else default_path()), ""
    except StoreError as e:
        return None, f"results store not used: {e.message}"


def _record(db: Any, run: TrackedRun, notes: list[str]) -> None:
    if db is None:
        return
    try:
        db.put(KIND, run.run_id, run.name, "", {"log": run.log}, "", run.to_dict())
    except StoreError as e:
        notes.append(f"results store not written: {e.message}")


@contextmanager
def track(name: str, *, site: Site | SiteRequest | None = None, hardware: str | None = None, meter: str = "auto",
          store: Path | bool | None = None, log: Path | None = None, hooks: TrackHooks = TrackHooks()) -> Iterator[Run]:
    """Track the code in the block at `site` (a Site, or a SiteRequest resolved with the defaults); `store`: the
    results store's path, None for the default, False for none; `hooks`: how the run is observed and recorded
    (TrackHooks); the run ends with hooks.exit_status(), else 'ok' or the exception's type."""
    from ..checks import check_instance, check_number

    check_instance("hooks", hooks, TrackHooks, "a TrackHooks")
    check_instance("site", site, (Site, SiteRequest, type(None)), "a Site, a SiteRequest or None")
    meters, interval_s, emissions_csv, command = hooks.meters, hooks.interval_s, hooks.emissions_csv, hooks.command
    clock, thread, profiles, exit_status = hooks.clock, hooks.thread, hooks.profiles, hooks.exit_status
    check_number("interval_s", interval_s, 0.01, 60.0)
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"{param('name')}: a tracked run needs a name")
    the_site, hw = resolve_run_site(site, profiles, hardware)
    notes: list[str] = []
    if meters is None:
        from ..measure.track_meters import track_meters

        meters, notes = track_meters(meter)
    t0 = clock()
    run_id = _run_id(name, t0)
    path = Path(log) if log is not None else runs_dir() / f"{run_id}.jsonl"
    if path.exists() and path.stat().st_size > 0:
        raise UsageError(f"{param('log')} {path}: already holds a run; give a new file")
    run_log = RunLog(path)
    # the chips the run held: its GPU meters (a cluster node's meter says how many GPUs it reads), else one host
    chips = max(sum(getattr(m, "gpus", int(k.split(":")[-1].startswith("gpu"))) for k, m in meters.items()), 1)
    run_log.write({"k": "start", "run_id": run_id, "name": name, "t": t0, "host": socket.gethostname(), "pid": os.getpid(),
                   "meters": {k: describe(m) for k, m in meters.items()}, "site": the_site.to_dict(),
                   "hardware": hw.name if hw else "", "chips": chips, "command": command,
                   "interval_s": interval_s, "notes": notes,
                   "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "slurm_node": os.environ.get("SLURMD_NODENAME")}, sync=True)
    try:
        sampler = Sampler(meters, run_log, interval_s=interval_s, clock=clock, thread=thread)
    except BaseException:  # a meter that cannot take its first reading: no run, and no log of one
        run_log.close()
        path.unlink(missing_ok=True)
        raise
    db, why = _open_store(store)
    db_notes: list[str] = [why] if why else []
    if db is not None:
        try:
            db.put(KIND, run_id, name, "", {"log": str(path)}, "", {"run_id": run_id, "name": name, "status": "running",
                                                                   "log": str(path), "start_t": t0})
        except StoreError as e:
            db_notes.append(f"results store not written: {e.message}")
    run = Run(run_id, name, run_log, sampler, clock)
    before = os.environ.get(ENV_LOG)
    os.environ[ENV_LOG] = str(path)
    status: Any = "ok"
    try:
        yield run
    except BaseException as e:
        status = f"{type(e).__name__}" + (f" {e.code}" if isinstance(e, SystemExit) else "")
        raise
    finally:
        if before is None:
            os.environ.pop(ENV_LOG, None)
        else:
            os.environ[ENV_LOG] = before
        sampler.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        run_log.write({"k": "end", "t": clock(), "exit_status": exit_status() if exit_status else status,
                       "tracker_cpu_s": sampler.thread_cpu_s, "ticks": sampler.ticks, "late_ticks": sampler.late,
                       "tracker_rss_bytes": rss, "log_error": sampler.log_error, "rss_note": "peak RSS of the tracking process (with the code it ran "
                       "in-process; the tracker alone under `track --`)"}, sync=True)
        run_log.close()
        result = summarise(read_log(path), str(path), hw, the_site)
        result.notes.extend(db_notes)
        _record(db, result, result.notes)
        if db is not None:
            db.close()
        if emissions_csv is not None:
            write_emissions_csv(emissions_csv, [result])
        run.result = result


def tracked(name: str | None = None, **options: Any) -> Callable:
    """A decorator: each call of the function is a tracked run (named after the function unless `name` is given)."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with track(name or fn.__name__, **options):
                return fn(*args, **kwargs)
        return inner
    return wrap


def _alive(pid: Any, host: Any) -> bool:
    if host != socket.gethostname() or not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_run(ref: str | Path, store: Path | bool | None = None, profiles: Any = None) -> TrackedRun:
    """A run by its log file, its id or its name (the newest of that name) in the results store. A run whose log has
    no end and whose process is gone is incomplete: summarised from its log, and marked so in the store."""
    path = Path(ref)
    db = None
    if path.is_dir():  # the per-node logs of a SLURM job
        from .track_merge import merge_logs

        return merge_logs(sorted(path.glob("*.jsonl")))
    if not (path.suffix == ".jsonl" and path.is_file()):
        db, why = _open_store(store)
        if db is None:
            raise UsageError(f"{param('search_run')} {ref}: not a run log, and {why or 'no results store'}")
        try:
            rows = [r["payload"] for r in db.results(KIND) if r["payload"].get("run_id") == str(ref)
                    or r["payload"].get("name") == str(ref)]
        except StoreError as e:
            raise UsageError(f"{param('search_run')} {ref}: {e.message}") from None
        if not rows:
            raise UsageError(f"{param('search_run')} {ref}: no tracked run of that id or name in {db.path}")
        path = Path(rows[-1]["log"])
    records = read_log(path)
    start = next((r for r in records if r["k"] == "start"), {})
    hw = None
    if start.get("hardware"):
        from ..profiles import load_profiles

        hw = (profiles or load_profiles()).get("hardware", start["hardware"])
    ended = any(r["k"] == "end" for r in records)
    result = summarise(records, str(path), hw, running=not ended and _alive(start.get("pid"), start.get("host")))
    if result.status == "incomplete":  # found in the store: marked there (a log read by its path leaves stores alone)
        _record(db, result, result.notes)
    if db is not None:
        db.close()
    return result


def codecarbon_rows(run: TrackedRun) -> list[dict[str, object]]:
    """One CodeCarbon row for a run: durations in s, powers in W (device, by component), energies in kWh and
    emissions in kg CO2e. As CodeCarbon applies its PUE to each component's energy (emissions_tracker.py,
    _measure_power_and_energy), cpu/gpu/ram_energy are the device's by component times the facility factor (PUE, and
    the host share where a hardware is named), and they sum to energy_consumed, the run's facility kWh."""
    import platform

    from ..measure.interchange import CODECARBON_COLUMNS
    from ..units import J_PER_KWH

    by = {"cpu": 0.0, "gpu": 0.0, "ram": 0.0}
    for m, j in run.energy_j.items():
        parts = run.parts_j.get(m) or {}
        if m.startswith("gpu"):
            by["gpu"] += j
        elif parts:
            by["ram"] += parts.get("dram", 0.0) * j / max(sum(parts.values()), 1e-300)
            by["cpu"] += j - parts.get("dram", 0.0) * j / max(sum(parts.values()), 1e-300)
        else:
            by["cpu"] += j
    s = run.seconds or 1e-300
    kg = run.account.co2e_kg
    f = run.account.facility_energy_kwh * J_PER_KWH / run.total_energy_j if run.total_energy_j > 0 else run.account.pue
    estimated = any(d.get("provenance") == "estimated" for d in run.meters.values())
    row = dict.fromkeys(CODECARBON_COLUMNS, "")
    row.update({
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(run.end_t)), "project_name": run.name,
        "run_id": run.run_id, "experiment_id": run.status, "duration": run.seconds, "emissions": kg,
        "emissions_rate": kg / s, "cpu_power": by["cpu"] / s, "gpu_power": by["gpu"] / s, "ram_power": by["ram"] / s,
        "cpu_energy": by["cpu"] * f / J_PER_KWH, "gpu_energy": by["gpu"] * f / J_PER_KWH, "ram_energy": by["ram"] * f / J_PER_KWH,
        "energy_consumed": run.account.facility_energy_kwh, "os": platform.platform(),
        "python_version": platform.python_version(), "gpu_count": sum(m.startswith("gpu") for m in run.energy_j),
        "tracking_mode": "process" if estimated else "machine", "pue": run.account.pue})
    return [row]


def write_emissions_csv(path: Path, runs: list[TrackedRun]) -> None:
    """CodeCarbon's emissions.csv (measure/interchange.py's columns), one row per run, written atomically."""
    import tempfile

    from ..measure.interchange import write_codecarbon

    text = write_codecarbon([row for r in runs for row in codecarbon_rows(r)])
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".emissions-", dir=path.parent or ".")
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise AnalyzerError(f"{param('emissions_csv')} {path}: cannot write ({e.strerror})") from None
