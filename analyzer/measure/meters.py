"""Energy meters behind one small interface, and the energy-per-item measurement.

A meter takes snapshots of cumulative counters; joules_between() turns two snapshots into joules,
handling counter wrap-around. Implementations: RAPL (Linux powercap sysfs: package and DRAM domains),
NVML (the GPU's total-energy counter, nvidia-ml-py), and Replay (recorded samples, for tests and for
re-analysing a recorded run). When no meter can be read, MeterUnavailable says why; nothing is invented.
"""

from __future__ import annotations

import csv
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import MeterUnavailable

UJ_PER_J = 1_000_000
MJ_PER_J = 1_000


class EnergyMeter(ABC):
    """A source of cumulative energy. `provenance` says whether its joules are measured (a counter or a power
    sensor) or estimated (a model: then `method` states it and `band` gives the factors [low, high] around it)."""

    source: str = ""
    min_window_s: float = 1.0  # shortest interval worth measuring, given the counter's update rate
    provenance: str = "measured"
    method: str = ""
    band: tuple[float, float] | None = None
    attribution: str = ""  # how the joules were narrowed to this run (devices used, a process's share)
    selection: str = ""  # set by meter auto: which meter it picked and why the ones before could not read

    @abstractmethod
    def snapshot(self) -> Any: ...

    @abstractmethod
    def joules_between(self, a: Any, b: Any) -> float: ...

    def joules_by_part(self, a: Any, b: Any) -> dict[str, float]:
        """The joules split by component (cpu, dram, gpu, ...), where the meter knows; {} otherwise."""
        return {}

    def close(self) -> None:
        """Stop what the meter started (a sampling thread, a tool's process)."""


# ---- RAPL -------------------------------------------------------------------------------------------------

_TOP = re.compile(r"^[a-z]+-rapl:\d+$")
_SUB = re.compile(r"^[a-z]+-rapl:\d+:\d+$")


@dataclass(frozen=True)
class RaplDomain:
    name: str
    energy_file: Path
    max_range_uj: int


class RaplMeter(EnergyMeter):
    """Package domains (top-level zones) plus DRAM subzones; core/uncore are inside the package and skipped.
    Counters are in microjoules and wrap at max_energy_range_uj."""

    min_window_s = 1.0

    def __init__(self, root: str | Path = "/sys/class/powercap") -> None:
        root = Path(root)
        if not root.is_dir():
            raise MeterUnavailable(f"no RAPL: {root} does not exist (not Linux, or no powercap driver)")
        domains: list[RaplDomain] = []
        for zone in sorted(root.iterdir()):
            top = bool(_TOP.match(zone.name))
            if not top and not _SUB.match(zone.name):
                continue
            name = _read_text(zone / "name") or zone.name
            if not top and name != "dram":
                continue
            try:
                max_range = int(_read_text(zone / "max_energy_range_uj") or 0)
            except ValueError:
                max_range = 0
            domains.append(RaplDomain(name, zone / "energy_uj", max_range))
        if not domains:
            raise MeterUnavailable(f"no RAPL: {root} has no package or DRAM zones")
        for d in domains:
            try:
                int(d.energy_file.read_text())
            except PermissionError:
                raise MeterUnavailable(f"RAPL: {d.energy_file} is not readable (permission denied; since Linux 5.10 "
                                       "energy_uj needs root, or `chmod o+r` by an administrator)") from None
            except (OSError, ValueError) as e:
                raise MeterUnavailable(f"RAPL: cannot read {d.energy_file} ({e})") from None
        self.domains = tuple(domains)
        self.source = "rapl:" + "+".join(d.name for d in domains)

    def snapshot(self) -> tuple[int, ...]:
        return tuple(int(d.energy_file.read_text()) for d in self.domains)

    def joules_between(self, a: tuple[int, ...], b: tuple[int, ...]) -> float:
        total = 0
        for d, x, y in zip(self.domains, a, b):
            delta = y - x
            if delta < 0:  # wrapped once (at most one wrap fits in the short windows we measure)
                delta += d.max_range_uj + 1 if d.max_range_uj else 0
            total += max(delta, 0)
        return total / UJ_PER_J


def _read_text(p: Path) -> str:
    try:
        return p.read_text().strip()
    except OSError:
        return ""


# ---- NVML -------------------------------------------------------------------------------------------------


class NvmlMeter(EnergyMeter):
    """nvmlDeviceGetTotalEnergyConsumption: millijoules since the driver loaded (Volta and newer), summed over the
    GPUs given (NVML's physical indices: attribution.physical_gpus maps a run's CUDA devices to them).
    `nvml` is the pynvml module (nvidia-ml-py); tests pass a replay of recorded counter values."""

    min_window_s = 2.0  # the counter advances about every 100 ms on recent drivers

    def __init__(self, device: int | str | Sequence[int | str] = 0, nvml: Any = None) -> None:
        devices = (device,) if isinstance(device, (int, str)) else tuple(device)
        if nvml is None:
            try:
                import pynvml as nvml  # nvidia-ml-py
            except ImportError:
                raise MeterUnavailable("no NVML: nvidia-ml-py is not installed (pip install nvidia-ml-py)") from None
        self.nvml = nvml
        try:
            nvml.nvmlInit()
            pairs = [_nvml_handle(nvml, d) for d in devices]
            self.handles = [h for h, _ in pairs]
            self.mig_names = [m for _, m in pairs]  # a MIG instance's name where the device was one, else None
            names = [nvml.nvmlDeviceGetName(h) for h in self.handles]
            for h in self.handles:
                nvml.nvmlDeviceGetTotalEnergyConsumption(h)
        except Exception as e:  # noqa: BLE001 - NVMLError subclasses are generated at run time
            raise MeterUnavailable(f"no NVML energy counter on GPU {', '.join(map(str, devices))}: {e}") from None
        self.devices = devices
        self.handle = self.handles[0]
        name = names[0].decode() if isinstance(names[0], bytes) else names[0]
        self.source = f"nvml:{'+'.join(f'gpu{d}' for d in devices)} ({name})"

    def snapshot(self) -> tuple[int, ...]:
        return tuple(int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self.handles)

    def joules_between(self, a: Any, b: Any) -> float:
        a, b = (a,) if isinstance(a, int) else a, (b,) if isinstance(b, int) else b
        return sum(max(y - x, 0) for x, y in zip(a, b)) / MJ_PER_J


def _nvml_handle(nvml: Any, device: int | str) -> tuple[Any, str | None]:
    """A device's handle by index or UUID; for a MIG instance (MIG-... UUID) its parent GPU's, with the instance's name."""
    if isinstance(device, int):
        return nvml.nvmlDeviceGetHandleByIndex(device), None
    h = nvml.nvmlDeviceGetHandleByUUID(device)
    if not device.startswith("MIG-"):
        return h, None
    name = nvml.nvmlDeviceGetName(h)
    return nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(h), name.decode() if isinstance(name, bytes) else name


# ---- Replay -----------------------------------------------------------------------------------------------


class ReplayMeter(EnergyMeter):
    """Cumulative energy recorded as (t_s, energy_j) rows, read at the injected clock's time with linear
    interpolation. Deterministic: with a fake clock, tests get exact joules."""

    min_window_s = 0.0

    def __init__(self, samples: list[tuple[float, float]], clock: Callable[[], float] = time.perf_counter,
                 source: str = "replay") -> None:
        if len(samples) < 2:
            raise MeterUnavailable("replay: needs at least two samples")
        self.samples = sorted(samples)
        self.clock = clock
        self.source = source

    @classmethod
    def from_csv(cls, path: str | Path, clock: Callable[[], float] = time.perf_counter) -> "ReplayMeter":
        try:
            with open(path, newline="") as f:
                rows = [(float(r["t_s"]), float(r["energy_j"])) for r in csv.DictReader(f)]
        except (OSError, KeyError, ValueError) as e:
            raise MeterUnavailable(f"replay: cannot read {path} as t_s,energy_j rows ({e})") from None
        return cls(rows, clock, f"replay:{Path(path).name}")

    def _energy_at(self, t: float) -> float:
        s = self.samples
        t0 = s[0][0]
        t = t0 + (t - t0) % (s[-1][0] - t0) if t > s[-1][0] else max(t, t0)  # loop a short recording
        for (ta, ea), (tb, eb) in zip(s, s[1:]):
            if ta <= t <= tb:
                return ea + (eb - ea) * ((t - ta) / (tb - ta) if tb > ta else 0)
        return s[-1][1]

    def snapshot(self) -> float:
        return self._energy_at(self.clock())

    def joules_between(self, a: float, b: float) -> float:
        return max(b - a, 0.0)


# ---- measuring energy per item ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnergyResult:
    energy_j_per_item: float
    dynamic_energy_j_per_item: float
    idle_power_w: float
    avg_power_w: float
    window_s: float
    iterations: int
    source: str
    provenance: str = "measured"
    method: str = ""
    band_j_per_item: tuple[float, float] | None = None  # the estimate's band around energy_j_per_item
    parts_j_per_item: dict[str, float] = field(default_factory=dict)
    attribution: str = ""


def measure_energy(run: Callable[[], object], meter: EnergyMeter, items_per_run: int, latency_s: float, *,
                   idle_s: float | None = None, clock: Callable[[], float] = time.perf_counter,
                   sleep: Callable[[float], None] = time.sleep) -> EnergyResult:
    """Idle power first (the meter over idle_s of sleep), then gross energy over enough runs to fill the
    meter's window: gross J/item = E / (runs x items); dynamic J/item = (E - idle W x t) / (runs x items)."""
    window = max(meter.min_window_s, 0.5)
    idle_s = window if idle_s is None else idle_s
    a, t0 = meter.snapshot(), clock()
    sleep(idle_s)
    b, t1 = meter.snapshot(), clock()
    idle_w = meter.joules_between(a, b) / (t1 - t0) if t1 > t0 else 0.0
    runs = max(3, int(window / max(latency_s, 1e-9)) + 1)
    a, t0 = meter.snapshot(), clock()
    for _ in range(runs):
        run()
    b, t1 = meter.snapshot(), clock()
    joules, seconds = meter.joules_between(a, b), t1 - t0
    items = runs * items_per_run
    per = joules / items
    band = (per * meter.band[0], per * meter.band[1]) if meter.band else None
    parts = {k: v / items for k, v in meter.joules_by_part(a, b).items()}
    return EnergyResult(per, (joules - idle_w * seconds) / items, idle_w, joules / seconds if seconds else 0.0,
                        seconds, runs, meter.source, meter.provenance, meter.method, band, parts, meter.attribution)


def energy_fields(e: EnergyResult | None) -> dict[str, Any]:
    """The Measurement fields that say how an EnergyResult's joules were obtained."""
    if e is None:
        return {}
    return {"energy_provenance": e.provenance, "energy_method": e.method,
            "energy_j_per_item_band": list(e.band_j_per_item) if e.band_j_per_item else None,
            "energy_parts_j_per_item": dict(e.parts_j_per_item), "energy_attribution": e.attribution}


def meter_from_spec(spec: str, provider: str, device: int | None = None) -> "EnergyMeter | MeterUnavailable | None":
    """A meter, or the MeterUnavailable that says why there is none (see select.py)."""
    from .select import meter_from_spec as pick

    return pick(spec, provider, device)
