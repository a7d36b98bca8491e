"""Energy meters behind one small interface, and the energy-per-item measurement.

A meter takes snapshots of cumulative counters; joules_between() turns two snapshots into joules,
handling counter wrap-around. Implementations: RAPL (Linux powercap sysfs: package and DRAM domains),
NVML (the GPU's total-energy counter, nvidia-ml-py), and Replay (recorded samples, for tests and for
re-analysing a recorded run). When no meter can be read, MeterUnavailable says why; nothing is invented.

The plausibility gate (`counter_delta`, `check_window`): a counter difference is never clamped to 0. A counter that
goes back is a wrap where its range is known (RAPL's max_energy_range_uj), else refused (a reset, a driver reload);
a window must last a positive, finite time; a counter that did not move over a window its meter resolves is stuck
(refused, never stored as a measured 0 J); the window's average power must be finite and at most 1.5 x the part's
power limit where the meter knows it (NVML's enforced limit), else 1.5 x POWER_CEILING_W, and the runs' power at
least the idle power measured before them / 1.5. A refused window is a
MeterUnavailable: the measurement keeps its latency and says why its energy is unavailable.
"""

from __future__ import annotations

import bisect
import math
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import MeterUnavailable, UsageError, param

UJ_PER_J = 1_000_000
MJ_PER_J = 1_000
# The largest machine one meter here reads: an NVIDIA DGX H100 draws at most 10.2 kW (DGX H100 datasheet, 2023). The
# ceiling a window's power must stay under where the meter does not know its part's limit is 1.5 x this.
POWER_CEILING_W = 10_200.0
LIMIT_MARGIN = 1.5
MAX_RECORDING_BYTES = 64 << 20  # a replay recording: 1 sample a ms for an hour is about 100 MB of CSV; a day at 10 Hz 20 MB


def counter_delta(a: float, b: float, range_: float | None, what: str) -> float:
    """b - a of a cumulative counter; a counter that went back wrapped once when its range (the largest value it
    holds) is known, else a MeterUnavailable: never a clamp to 0 stored as measured."""
    if not (math.isfinite(a) and math.isfinite(b)):
        raise MeterUnavailable(f"{what}: the energy counter read {a!r} then {b!r}, not finite numbers: refused")
    if b >= a:
        return b - a
    if range_:
        return b - a + range_ + 1
    raise MeterUnavailable(f"{what}: the energy counter went back ({a:g} -> {b:g}) and its range is unknown (a reset or "
                           "a driver reload): the window's energy is refused, not counted as 0")


def power_ceiling_w(meter: "EnergyMeter") -> tuple[float, str]:
    """(the most watts a window may average on `meter`, and where that figure comes from)."""
    if meter.limit_w:
        return meter.limit_w * LIMIT_MARGIN, f"{LIMIT_MARGIN:g} x the part's {meter.limit_w:.4g} W limit"
    return POWER_CEILING_W * LIMIT_MARGIN, f"{LIMIT_MARGIN:g} x {POWER_CEILING_W:,.0f} W (a DGX H100's maximum; the part's own limit is unknown)"


def check_window(meter: "EnergyMeter", joules: float, seconds: float, what: str = "window") -> None:
    """A MeterUnavailable unless `joules` over `seconds` is a plausible measurement on `meter` (module docstring)."""
    name = meter.source or type(meter).__name__
    if not (math.isfinite(seconds) and seconds > 0):
        raise MeterUnavailable(f"{name}: the {what} lasted {seconds!r} s; a window must last a positive time: refused")
    if not math.isfinite(joules) or joules < 0:
        raise MeterUnavailable(f"{name}: the {what} measured {joules!r} J, not a finite non-negative energy: refused")
    if joules == 0 and meter.provenance == "measured" and meter.zero_is_stuck and seconds >= max(meter.min_window_s, 0.5):
        raise MeterUnavailable(f"{name}: the energy counter did not move over {seconds:.3g} s (stuck): the {what}'s "
                               "energy is refused, not stored as a measured 0 J")
    high, why = power_ceiling_w(meter)
    watts = joules / seconds
    if watts > high:
        raise MeterUnavailable(f"{name}: the {what} averaged {watts:.4g} W, above {high:,.6g} W ({why}): refused as "
                               "implausible")


class EnergyMeter(ABC):
    """A source of cumulative energy. `provenance` says whether its joules are measured (a counter or a power
    sensor) or estimated (a model: then `method` states it and `band` gives the factors [low, high] around it)."""

    source: str = ""
    min_window_s: float = 1.0  # shortest interval worth measuring, given the counter's update rate
    provenance: str = "measured"
    method: str = ""
    band: tuple[float, float] | None = None
    limit_w: float | None = None  # the metered part's power limit, where the meter knows it (check_window)
    zero_is_stuck: bool = True  # whether 0 J over a long window means the counter stuck (not for a process's share)
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
        try:
            return tuple(int(d.energy_file.read_text()) for d in self.domains)
        except (OSError, ValueError) as e:  # mid-run: the measurement keeps its latency and says why
            raise MeterUnavailable(f"{self.source}: a counter could not be read ({str(e)[:100]})") from None

    def joules_between(self, a: tuple[int, ...], b: tuple[int, ...]) -> float:
        # a counter behind its last value wrapped once (at most one wrap fits in the short windows we measure)
        return sum(counter_delta(x, y, d.max_range_uj, f"RAPL {d.name}") for d, x, y in zip(self.domains, a, b)) / UJ_PER_J


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
        self.limit_w = _nvml_limit_w(nvml, self.handles)
        self.handle = self.handles[0]
        name = names[0].decode() if isinstance(names[0], bytes) else names[0]
        self.source = f"nvml:{'+'.join(f'gpu{d}' for d in devices)} ({name})"

    def snapshot(self) -> tuple[int, ...]:
        try:
            return tuple(int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self.handles)
        except Exception as e:  # noqa: BLE001 - NVMLError subclasses are generated at run time
            raise MeterUnavailable(f"{self.source}: the energy counter could not be read ({str(e)[:100]})") from None

    def joules_between(self, a: Any, b: Any) -> float:
        a, b = (a,) if isinstance(a, int) else a, (b,) if isinstance(b, int) else b
        # a 64-bit count of mJ since the driver loaded never wraps: a counter that went back was reset
        return sum(counter_delta(x, y, None, self.source) for x, y in zip(a, b)) / MJ_PER_J


def _nvml_limit_w(nvml: Any, handles: list[Any]) -> float | None:
    """The GPUs' enforced power limits summed (nvmlDeviceGetEnforcedPowerLimit, mW), or None where NVML cannot say."""
    try:
        mw = [float(nvml.nvmlDeviceGetEnforcedPowerLimit(h)) for h in handles]
    except Exception:  # noqa: BLE001 - not supported on this GPU, or a replay that does not record it
        return None
    return sum(mw) / MJ_PER_J if mw and all(math.isfinite(v) and v > 0 for v in mw) else None


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
    interpolation. Deterministic: with a fake clock, tests get exact joules. Past its end the recording loops, its
    counter continued across loops (loop k adds k x the recording's energy), so a steady 50 W recording reads 50 W
    at any time. Times must be finite and strictly increasing, energies finite and never going back."""

    min_window_s = 0.0

    def __init__(self, samples: list[tuple[float, float]], clock: Callable[[], float] = time.perf_counter,
                 source: str = "replay", rows: list[str] | None = None) -> None:
        if len(samples) < 2:
            raise MeterUnavailable(f"{source}: a recording needs at least two samples (t_s, energy_j)")
        where = rows or [f"sample {i}" for i in range(len(samples))]
        for i, (t, e) in enumerate(samples):
            if not (isinstance(t, (int, float)) and isinstance(e, (int, float)) and math.isfinite(t) and math.isfinite(e)):
                raise MeterUnavailable(f"{source}: {where[i]}: t_s {t!r}, energy_j {e!r}: times and energies must be finite numbers")
            if i and t <= samples[i - 1][0]:
                raise MeterUnavailable(f"{source}: {where[i]}: t_s {t!r} does not follow {samples[i - 1][0]!r}: times must "
                                       "increase from sample to sample (no two equal)")
            if i and e < samples[i - 1][1]:
                raise MeterUnavailable(f"{source}: {where[i]}: energy_j {e!r} is below {samples[i - 1][1]!r}: a cumulative "
                                       "counter never goes back")
        self.t = [float(t) for t, _ in samples]
        self.e = [float(e) for _, e in samples]
        if not (math.isfinite(self.t[-1] - self.t[0]) and math.isfinite(self.e[-1] - self.e[0])):
            raise MeterUnavailable(f"{source}: the recording spans more time or energy than a float holds")
        self.samples = list(zip(self.t, self.e))
        self.clock = clock
        self.source = source

    @classmethod
    def from_csv(cls, path: str | Path, clock: Callable[[], float] = time.perf_counter) -> "ReplayMeter":
        """A recording from a CSV with columns t_s, energy_j, read through the one reading layer: a FIFO, a device,
        a bad byte, a cell over the csv module's limit or a value that is not a finite number is one line (a
        UsageError: the file was named on the command line)."""
        from ..files import read_csv

        what = f"{param('meter')} replay:{path}"
        header, rows = read_csv(Path(path), UsageError, MAX_RECORDING_BYTES, what)
        if not {"t_s", "energy_j"} <= set(header):
            raise UsageError(f"{what}: needs columns t_s and energy_j (cumulative joules)")
        samples, where = [], []
        for line, r in rows:
            try:
                samples.append((float(r["t_s"]), float(r["energy_j"])))
            except (TypeError, ValueError):
                raise UsageError(f"{what}: line {line}: t_s {str(r['t_s'])[:30]!r}, energy_j {str(r['energy_j'])[:30]!r}: "
                                 "not numbers") from None
            where.append(f"line {line}")
        source = f"replay:{Path(path).name}"
        try:
            return cls(samples, clock, source, where)
        except MeterUnavailable as e:
            raise UsageError(f"{what}: {e.message.removeprefix(source + ': ')}") from None

    def _energy_at(self, t: float) -> float:
        ts, es = self.t, self.e
        if not math.isfinite(t):
            raise MeterUnavailable(f"{self.source}: the clock read {t!r}")
        if t <= ts[0]:
            return es[0]
        loops, x = divmod(t - ts[0], ts[-1] - ts[0])
        x += ts[0]
        i = min(bisect.bisect_right(ts, x), len(ts) - 1)  # ts[i - 1] <= x < ts[i]
        within = es[i - 1] + (es[i] - es[i - 1]) * (x - ts[i - 1]) / (ts[i] - ts[i - 1])
        return within + loops * (es[-1] - es[0])

    def snapshot(self) -> float:
        return self._energy_at(self.clock())

    def joules_between(self, a: float, b: float) -> float:
        return counter_delta(a, b, None, self.source)


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
    meter's window: gross J/item = E / (runs x items); dynamic J/item = (E - idle W x t) / (runs x items).
    Both windows pass check_window, and the runs' power must be at least the idle power / 1.5 (the part's idle..limit
    x 1.5): an implausible window raises MeterUnavailable (the caller keeps the latency)."""
    window = max(meter.min_window_s, 0.5)
    idle_s = window if idle_s is None else idle_s
    a, t0 = meter.snapshot(), clock()
    sleep(idle_s)
    b, t1 = meter.snapshot(), clock()
    idle_j = meter.joules_between(a, b)
    check_window(meter, idle_j, t1 - t0, "idle window")
    idle_w = idle_j / (t1 - t0)
    runs = max(3, int(window / max(latency_s, 1e-9)) + 1)
    a, t0 = meter.snapshot(), clock()
    for _ in range(runs):
        run()
    b, t1 = meter.snapshot(), clock()
    joules, seconds = meter.joules_between(a, b), t1 - t0
    check_window(meter, joules, seconds)
    if meter.provenance == "measured" and meter.zero_is_stuck and joules / seconds < idle_w / LIMIT_MARGIN:
        raise MeterUnavailable(f"{meter.source}: the runs averaged {joules / seconds:.4g} W, below the idle power measured "
                               f"just before ({idle_w:.4g} W) / {LIMIT_MARGIN:g}: refused as implausible (a counter that "
                               "slowed, or another load that stopped)")
    items = runs * items_per_run
    per = joules / items
    band = (per * meter.band[0], per * meter.band[1]) if meter.band else None
    parts = {k: v / items for k, v in meter.joules_by_part(a, b).items()}
    return EnergyResult(per, (joules - idle_w * seconds) / items, idle_w, joules / seconds,
                        seconds, runs, meter.source, meter.provenance, meter.method, band, parts, meter.attribution)


def energy_fields(e: EnergyResult | None) -> dict[str, Any]:
    """The Measurement fields that say how an EnergyResult's joules were obtained."""
    if e is None:
        return {}
    return {"energy_provenance": e.provenance, "energy_method": e.method,
            "energy_j_per_item_band": list(e.band_j_per_item) if e.band_j_per_item else None,
            "energy_parts_j_per_item": dict(e.parts_j_per_item), "energy_attribution": e.attribution}
