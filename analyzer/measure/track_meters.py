"""The meters a tracked run reads: the same selection and attribution as `measure` (select.py, attribution.py),
for a process tree rather than one process.

- GPUs: the run's CUDA devices (CUDA_VISIBLE_DEVICES, else the SLURM allocation, else every GPU NVML sees) each
  through select.nvml_meter: NVML's counter, narrowed to a MIG instance's slices or to the process's share of a
  shared GPU. A machine without NVML has no GPU meter, and the selection says why.
- CPU: select.auto_order('cpu') (RAPL, hwmon amd_energy, powermetrics, Jetson rails), then the estimate. The
  estimate here reads the CPU time and resident memory of the whole process tree under `root` (the tracker and the
  command it runs), not of one process:

    tree CPU s = sum over live processes in the tree of (utime + stime + cutime + cstime)   (proc(5), /proc/PID/stat)

  cutime/cstime hold a process's reaped children, so a child that exited moves from its own line to its parent's,
  counted once. The sum is kept monotone (a process re-parented out of the tree takes its seconds with it: those
  seconds are missed, never subtracted).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import MeterUnavailable, UsageError, param
from .meters import EnergyMeter
from .select import auto_order, meter_from_spec, nvml_meter


def parse_stat(text: str) -> tuple[int, float, int]:
    """(ppid, utime + stime + cutime + cstime in clock ticks, rss in pages) from a /proc/PID/stat line; fields 4,
    14-17 and 24 counted after the command name's last ')'."""
    _, sep, rest = text.rpartition(")")
    f = rest.split()
    if not sep or len(f) < 22:
        raise ValueError("short stat line")
    return int(f[1]), float(int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])), int(f[21])


class ProcessTree:
    """CPU seconds and resident bytes of `root` and its descendants, in one walk per snapshot: the tree from each
    thread's /proc/PID/task/TID/children (Linux 3.5+), else from every process's parent in /proc."""

    def __init__(self, root: int | None = None, proc: str | Path = "/proc") -> None:
        self.root, self.proc = root or os.getpid(), str(proc)
        self.ticks_per_s = os.sysconf("SC_CLK_TCK")
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.max_cpu_s, self.rss = 0.0, 0
        self.pids: set[int] = set()
        self.walked_at = -1.0
        if not os.path.exists(f"{self.proc}/{self.root}/stat"):
            raise MeterUnavailable(f"estimate: no {self.proc}/{self.root}/stat (not Linux): a process tree cannot be read")
        self.by_children = os.path.exists(f"{self.proc}/{self.root}/task/{self.root}/children")

    def _stat(self, pid: int) -> tuple[int, float, int] | None:
        try:
            with open(f"{self.proc}/{pid}/stat") as f:
                return parse_stat(f.read())
        except (OSError, ValueError):
            return None  # exited meanwhile

    def _tree(self) -> dict[int, tuple[int, float, int]]:
        if self.by_children:
            out, todo = {}, [self.root]
            while todo:
                pid = todo.pop()
                st = self._stat(pid)
                if st is None:
                    continue
                out[pid] = st
                try:
                    for task in os.scandir(f"{self.proc}/{pid}/task"):
                        with open(f"{task.path}/children") as f:
                            todo += [int(c) for c in f.read().split()]
                except OSError:
                    continue
            return out
        stats = {int(d.name): st for d in os.scandir(self.proc) if d.name.isdigit() and (st := self._stat(int(d.name)))}
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        out, todo = {}, [self.root]
        while todo:
            pid = todo.pop()
            if pid in stats:
                out[pid] = stats[pid]
                todo += children.get(pid, [])
        return out

    def members(self, max_age_s: float = 0.2) -> set[int]:
        """The tree's PIDs, walked again when the last walk is older than `max_age_s`."""
        if time.monotonic() - self.walked_at > max_age_s:
            self.cpu_s()
        return self.pids

    def cpu_s(self) -> float:
        tree = self._tree()
        self.pids, self.walked_at = set(tree), time.monotonic()
        self.rss = sum(st[2] for st in tree.values()) * self.page
        self.max_cpu_s = max(self.max_cpu_s, sum(st[1] for st in tree.values()) / self.ticks_per_s)
        return self.max_cpu_s

    def rss_bytes(self) -> int:
        return self.rss  # read in the same walk as cpu_s (the estimate reads CPU first)


def tree_estimate(root: int | None = None) -> EnergyMeter:
    from ..profiles.estimates import estimate_coefficients
    from .estimate import EstimateMeter
    from .record import cpu_model

    tree = ProcessTree(root)
    meter = EstimateMeter(estimate_coefficients(), cpu_model(), cpu_s=tree.cpu_s, rss_bytes=tree.rss_bytes)
    meter.attribution = f"the process tree under PID {tree.root} (its CPU time and resident memory)"
    return meter


class TreePids:
    """The process tree's PIDs as SharedGpuMeter's `pids` (it asks `pid in pids`): a shared GPU's energy is narrowed
    to the share of SM utilisation of the whole tree (the command `track --` runs), not of the tracker alone."""

    def __init__(self, tree: ProcessTree) -> None:
        self.tree = tree

    def __contains__(self, pid: object) -> bool:
        return pid in self.tree.members()


def _gpu_indices(env, nvml=None) -> list[int]:
    for var in ("CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        raw = (env.get(var) or "").strip()
        if raw and raw.upper() not in ("NODEVFILES", "NONE"):
            return list(range(len([x for x in raw.split(",") if x.strip()])))
    try:
        if nvml is None:
            import pynvml as nvml
        nvml.nvmlInit()
        return list(range(nvml.nvmlDeviceGetCount()))
    except Exception:  # noqa: BLE001 - no NVML library or driver: no GPU to meter
        return []


def track_meters(spec: str = "auto", root: int | None = None, env=None, nvml=None) -> tuple[dict[str, EnergyMeter], list[str]]:
    """The meters of a tracked run by name ('cpu', 'gpu0', ...), and the selection notes (what was tried and why
    it could not read). `spec`: auto, estimate, or one of select.SPECS for the CPU side (GPUs are metered in auto).
    `nvml`: the pynvml module (tests pass a fake). A GPU other processes computed on when the tracker started is
    narrowed to the tree's share (attribution.SharedGpuMeter with the tree's PIDs)."""
    from .attribution import SharedGpuMeter

    env = os.environ if env is None else env
    if spec == "none":
        raise UsageError(f"{param('meter')} none: a tracked run needs a meter (auto, estimate, or a counter)")
    meters: dict[str, EnergyMeter] = {}
    notes: list[str] = []
    if spec == "auto":
        tree = None
        for i in _gpu_indices(env, nvml):
            try:
                m = meters[f"gpu{i}"] = nvml_meter(i, env, nvml=nvml)
                if isinstance(m, SharedGpuMeter):
                    tree = tree or ProcessTree(root)
                    m.pids = TreePids(tree)  # type: ignore[assignment]
                    m.attribution += f" (own: the process tree under PID {tree.root})"
            except MeterUnavailable as e:
                notes.append(f"gpu{i}: {e}")
        order = [s for s in auto_order("cpu") if s != "estimate"]
    else:
        order = [] if spec == "estimate" else [spec]
    tried = []
    for s in order:
        m = meter_from_spec(s, "cpu")
        if isinstance(m, EnergyMeter):
            m.selection = f"picked {s}" + (f" (before it: {'; '.join(tried)})" if tried else "")
            meters["cpu"] = m
            break
        tried.append(f"{s}: {m}")
    if "cpu" not in meters and spec in ("auto", "estimate"):
        m = tree_estimate(root)
        m.selection = "picked the estimate" + (f" (no counter could be read: {'; '.join(tried)})" if tried else "")
        meters["cpu"] = m
    elif "cpu" not in meters:
        raise MeterUnavailable(f"{param('meter')} {spec}: {'; '.join(t.split(': ', 1)[1] for t in tried)}")
    return meters, notes + tried
