"""CPU and DRAM energy where no counter can be read: an estimate from the process's measured CPU time and
resident memory, behind the meter protocol, and always labelled "estimated" with its method and band.

    CPU J  = vCPUs x min_w x wall_s + cpu_s x (max_w - min_w)      (Cloud Carbon Footprint, per vCPU:
             average W = min_w + utilisation x (max_w - min_w), utilisation = cpu_s / (wall_s x vCPUs))
    DRAM J = w_per_gb x resident_gb x wall_s                        (CCF's 0.392 W/GB)

min_w, max_w: the CPU's row of profiles/energy-estimates.toml (per-vCPU SPECpower watts by
microarchitecture), or with a TDP for the part max_w = TDP / threads and min_w = 10% of it (CodeCarbon's floor).
The band [low, high] multiplies the estimate (see the profile for where it comes from).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import MeterUnavailable
from ..profiles.estimates import EstimateCoefficients
from ..units import BYTES_PER_GIB
from .meters import EnergyMeter

TDP_FLOOR = 0.1  # CodeCarbon's minimum power, a share of TDP (codecarbon/external/hardware.py)


def parse_proc_stat_cpu_s(text: str, ticks_per_s: float) -> float:
    """User + system CPU seconds of a process from its /proc/PID/stat line (proc(5): fields 14 utime and 15 stime,
    in clock ticks). The command name (field 2) is in parentheses and may hold spaces or ')', so fields are
    counted after its last ')'."""
    head, sep, rest = text.rpartition(")")
    fields = rest.split()
    if not sep or len(fields) < 13:
        raise MeterUnavailable(f"estimate: /proc stat line has {len(fields)} fields after the command name, need >= 13")
    try:
        return (int(fields[11]) + int(fields[12])) / ticks_per_s  # fields 14 and 15 of the whole line
    except ValueError:
        raise MeterUnavailable(f"estimate: utime/stime are not integers in the /proc stat line ({fields[11]!r}, "
                               f"{fields[12]!r})") from None


def parse_status_rss_bytes(text: str) -> int:
    """Resident set size from /proc/PID/status's 'VmRSS:   N kB' line (proc(5): kB are KiB)."""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB" and parts[1].isdigit():
                return int(parts[1]) * 1024
            break
    raise MeterUnavailable("estimate: no 'VmRSS: N kB' line in /proc status")


def _proc_cpu_s() -> float:
    try:
        return parse_proc_stat_cpu_s(Path("/proc/self/stat").read_text(), os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
        t = os.times()  # not Linux: the same user + system seconds from the C library
        return t.user + t.system


def _proc_rss_bytes() -> int:
    try:
        return parse_status_rss_bytes(Path("/proc/self/status").read_text())
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux kB; macOS bytes (an upper bound)


def visible_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class CpuPower:
    """Watts per vCPU at 0 and 100% utilisation, and where they come from."""

    min_w: float
    max_w: float
    basis: str


def cpu_power(coeffs: EstimateCoefficients, model: str) -> CpuPower:
    part = coeffs.part(model)
    if part is not None:
        per = part.tdp_w / part.threads
        return CpuPower(TDP_FLOOR * per, per, f"{part.name}: TDP {part.tdp_w:g} W / {part.threads} threads "
                                              f"(CodeCarbon's CPU table), floor {TDP_FLOOR:.0%}")
    row = coeffs.vcpu_power(model)
    return CpuPower(row.min_w, row.max_w, f"{row.name}: CCF per-vCPU SPECpower watts")


class EstimateMeter(EnergyMeter):
    """Snapshots are (wall s, process CPU s, resident bytes); the readers and clock are injected for tests."""

    provenance = "estimated"
    min_window_s = 1.0  # /proc CPU time counts 10 ms ticks

    def __init__(self, coeffs: EstimateCoefficients, model: str, vcpus: int | None = None, *,
                 cpu_s: Callable[[], float] = _proc_cpu_s, rss_bytes: Callable[[], int] = _proc_rss_bytes,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.power = cpu_power(coeffs, model)
        self.vcpus = vcpus or visible_cpus()
        self.w_per_gb = coeffs.dram_w_per_gb
        self.band = coeffs.band
        self.cpu_s, self.rss_bytes, self.clock = cpu_s, rss_bytes, clock
        self.snapshot()  # fail here, with the reason, rather than mid-measurement
        p = self.power
        self.source = f"estimate:cpu+dram ({self.vcpus} vCPU, {model or 'unnamed CPU'})"
        self.method = (f"estimated, not measured: CPU J = {self.vcpus} vCPU x {p.min_w:.3g} W x wall s + process CPU s x "
                       f"({p.max_w:.3g} - {p.min_w:.3g}) W [{p.basis}; Cloud Carbon Footprint's per-vCPU model]; "
                       f"DRAM J = {self.w_per_gb:g} W/GB x resident GB x wall s [CCF]; band x{self.band[0]:g} to "
                       f"x{self.band[1]:g} [{coeffs.band_summary}]")

    def snapshot(self) -> tuple[float, float, int]:
        return self.clock(), self.cpu_s(), self.rss_bytes()

    def joules_by_part(self, a, b) -> dict[str, float]:
        wall, cpu = max(b[0] - a[0], 0.0), max(b[1] - a[1], 0.0)
        p = self.power
        gb = (a[2] + b[2]) / 2 / BYTES_PER_GIB
        return {"cpu": self.vcpus * p.min_w * wall + cpu * (p.max_w - p.min_w), "dram": self.w_per_gb * gb * wall}

    def joules_between(self, a, b) -> float:
        return sum(self.joules_by_part(a, b).values())
