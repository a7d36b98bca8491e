"""Which GPUs a run used and how much of a shared GPU's energy is its own.

- Devices: NVML counts GPUs physically and ignores CUDA_VISIBLE_DEVICES, so a run's CUDA device d is
  CUDA_VISIBLE_DEVICES[d] (an index or a GPU-/MIG- UUID). Under SLURM without CUDA_VISIBLE_DEVICES, the job's
  allocation (SLURM_STEP_GPUS, else SLURM_JOB_GPUS: physical indices) takes its place. Only those are metered.
- A GPU other processes compute on: the run's share of the window's energy is its share of NVML's per-process
  SM utilisation samples (nvmlDeviceGetProcessUtilization), sum(own smUtil) / sum(all smUtil).
- A MIG instance: NVML has no energy counter per instance; the parent GPU's energy is attributed by the
  instance's compute slices, N of the GPU's slices for a profile 'Ng.XXgb' (7 on A100/H100/H200, 4 on A30).
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, Mapping, Sequence

from ..errors import MeterUnavailable
from .meters import EnergyMeter, NvmlMeter


def physical_gpus(logical: Sequence[int], env: Mapping[str, str] | None = None) -> tuple[list[int | str], str]:
    """The NVML devices (index, or UUID string) of the run's CUDA devices, and how they were found."""
    env = os.environ if env is None else env
    for var in ("CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        raw = (env.get(var) or "").strip()
        if not raw or raw.upper() in ("NODEVFILES", "NONE"):
            continue
        entries: list[int | str] = [int(x) if x.strip().isdigit() else x.strip() for x in raw.split(",") if x.strip()]
        missing = [d for d in logical if d >= len(entries)]
        if missing:
            raise MeterUnavailable(f"GPU {missing[0]} is not among {var}={raw} ({len(entries)} visible)")
        picked = [entries[d] for d in logical]
        return picked, f"{var}={raw}: the run's device {', '.join(map(str, logical))} is NVML GPU {', '.join(map(str, picked))}"
    return list(logical), "no CUDA_VISIBLE_DEVICES or SLURM allocation: device indices are NVML's"


def process_share(samples: Iterable[tuple[int, float]], pids: set[int]) -> float | None:
    """Own SM utilisation over everyone's, from (pid, smUtil %) samples; None when nobody used the SMs."""
    total = own = 0.0
    for pid, util in samples:
        total += util
        own += util if pid in pids else 0.0
    return own / total if total > 0 else None


_MIG_PROFILE = re.compile(r"\bMIG\s+(\d+)g\.\d+gb\b", re.I)


def mig_share(name: str) -> tuple[float, str] | None:
    """(compute slices / GPU slices, how) from a MIG device's name ('NVIDIA A100-SXM4-40GB MIG 3g.20gb'), as NVML's
    nvmlDeviceGetName and `nvidia-smi -L` print it; None for a whole GPU."""
    m = _MIG_PROFILE.search(name)
    if not m:
        return None
    total = 4 if re.search(r"\bA30\b", name) else 7
    n = int(m.group(1))
    if not 1 <= n <= total:
        raise MeterUnavailable(f"MIG profile {m.group(0)!r}: {n} compute slices of a {total}-slice GPU")
    return n / total, f"MIG {m.group(1)}g instance: {n}/{total} of the GPU's compute slices"


class SharedGpuMeter(EnergyMeter):
    """A GPU meter narrowed to this process: each window's joules times the process's share of SM utilisation
    in that window (a window nobody computed in is attributed nothing). `nvml` and `pids` are injectable."""

    def __init__(self, inner: NvmlMeter, pids: set[int] | None = None, clock_us: Any = None) -> None:
        import time

        self.inner, self.nvml = inner, inner.nvml
        self.pids = pids or {os.getpid()}
        self.clock_us = clock_us or (lambda: int(time.time() * 1e6))
        self.source = inner.source + " (process share)"
        self.min_window_s, self.limit_w = inner.min_window_s, inner.limit_w
        self.zero_is_stuck = False  # a window this process did not compute in is attributed 0 J: the GPU's own
        # counter is what can stick, checked in joules_between
        self.attribution = "process share of NVML per-process SM utilisation (no window measured yet)"

    def snapshot(self):
        return self.inner.snapshot(), self.clock_us()

    def _samples(self, since_us: int) -> list[tuple[int, float]]:
        out = []
        for h in self.inner.handles:
            try:
                out += [(int(s.pid), float(s.smUtil)) for s in self.nvml.nvmlDeviceGetProcessUtilization(h, since_us)]
            except Exception as e:  # noqa: BLE001 - NVML_ERROR_NOT_FOUND: no sample in the window
                if "not found" not in str(e).lower():
                    raise MeterUnavailable(f"NVML per-process utilisation: {e}") from None
        return out

    def joules_between(self, a, b) -> float:
        gpu_j = self.inner.joules_between(a[0], b[0])
        seconds = (b[1] - a[1]) / 1e6
        if gpu_j == 0 and seconds >= max(self.min_window_s, 0.5):
            raise MeterUnavailable(f"{self.inner.source}: the GPU's energy counter did not move over {seconds:.3g} s "
                                   "(stuck): the window's energy is refused, not stored as a measured 0 J")
        share = process_share(self._samples(a[1]), self.pids) or 0.0
        self.attribution = (f"process share {share:.1%} of the GPU energy: own / all SM utilisation in NVML's "
                            "per-process samples over the window")
        return share * gpu_j


class MigMeter(EnergyMeter):
    """The parent GPU's counter times a MIG instance's share of compute slices."""

    def __init__(self, inner: NvmlMeter, share: float, how: str) -> None:
        self.inner, self.share = inner, share
        self.source = inner.source + " (MIG share)"
        self.min_window_s, self.limit_w = inner.min_window_s, inner.limit_w
        self.attribution = how + "; the parent GPU's energy counter times that share"

    def snapshot(self):
        return self.inner.snapshot()

    def joules_between(self, a, b) -> float:
        return self.share * self.inner.joules_between(a, b)


def other_compute_pids(meter: NvmlMeter, own: set[int]) -> set[int]:
    """Processes other than ours with a compute context on the metered GPUs (nvmlDeviceGetComputeRunningProcesses)."""
    pids: set[int] = set()
    for h in meter.handles:
        try:
            pids |= {int(p.pid) for p in meter.nvml.nvmlDeviceGetComputeRunningProcesses(h)}
        except Exception:  # noqa: BLE001 - not supported (e.g. no permission): no evidence of sharing
            continue
    return pids - own
