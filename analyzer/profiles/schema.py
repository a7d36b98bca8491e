"""Profile records: frozen hardware, datacenter, region and search-preset profiles whose every number is a
`Sourced` value (value, source, year, kind). What the rest of the package receives; never paths."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UnknownProfileError

# transferred: learned on a measured part of the same architecture family (or another family), carried over to
# a part that was never measured by the rules of profiles/transfer.py
KINDS = ("datasheet", "published", "measured", "calibrated", "estimated", "transferred")


@dataclass(frozen=True, slots=True)
class Sourced:
    """A number with its provenance."""

    value: float
    source: str
    year: int
    kind: str  # one of KINDS
    note: str = ""

    def as_input(self, name: str, unit: str) -> dict[str, Any]:
        return {"name": name, "value": self.value, "unit": unit, "source": self.source, "year": self.year, "kind": self.kind}


DEFAULT_DTYPE_ORDER = ("bf16", "fp16", "tf32", "fp32")  # without --dtype: the first of these the hardware has


def default_dtype(peaks: dict) -> str | None:
    """The dtype a projection or 4Ms comparison uses when none is given: the first of DEFAULT_DTYPE_ORDER present."""
    return next((d for d in DEFAULT_DTYPE_ORDER if d in peaks), None)


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    title: str
    category: str  # gpu | tpu | cpu | other
    file: str
    embodied_method: str
    peak_tflops: dict[str, Sourced]
    peak_tflops_sparse: dict[str, Sourced] = field(default_factory=dict)
    achievable_tflops: dict[str, Sourced] = field(default_factory=dict)
    memory_gb: Sourced | None = None
    memory_bandwidth_gbps: Sourced | None = None
    achievable_memory_bandwidth_gbps: Sourced | None = None
    l2_cache_mb: Sourced | None = None  # the last on-chip cache: a working set beyond it streams from memory
    # what a kernel whose bytes fit l2_cache_mb streams at (a CPU core's L2: a cache-resident copy), where measured
    cache_bandwidth_gbps: Sourced | None = None
    interconnect_gbps: Sourced | None = None  # GPU-to-GPU bandwidth of one GPU, each direction (NVLink, else PCIe)
    # streaming multiprocessors and the threads each holds at once: how many blocks a kernel needs to fill the chip
    sm_count: Sourced | None = None
    max_threads_per_sm: Sourced | None = None
    tdp_w: Sourced | None = None
    idle_w: Sourced | None = None
    avg_power_w: Sourced | None = None
    busy_power_w: Sourced | None = None
    memory_bound_power_w: Sourced | None = None
    embodied_co2e_kg: Sourced | None = None
    lifetime_years: Sourced | None = None
    note: str = ""
    aliases: tuple[str, ...] = ()
    projection: dict[str, Sourced] = field(default_factory=dict)  # measured or calibrated projection parameters
    calibration: dict[str, Any] = field(default_factory=dict)  # the data a calibrated profile was fitted on
    training: dict[str, Sourced] = field(default_factory=dict)  # training-step parameters fitted by calibrate --phase train
    # the host's power per accelerator under load (CPUs, memory, network, fans): the server boundary less the chip
    host_power_w: Sourced | None = None
    accelerators_per_server: Sourced | None = None  # how many share one server's embodied carbon
    avg_power_boundary: str = "chip"  # what avg_power_w measured: the chip, or the server's share per chip
    family: str = ""  # architecture family (taxonomy.GPU_FAMILIES): what a measured part teaches about the others
    # the host the host and launch costs (host_*_s, gaps, launch, the autograd engine's) were measured or stated for:
    # its CPU and framework ("Intel Xeon (16 vCPUs), torch 2.11 eager"). Those costs are the host's, not the GPU's
    host: str = ""
    transferable: bool = True  # false: keep the datasheet and category defaults (a datasheet reference profile)
    # set by the loader when the projection's parameters were transferred from a measured part (profiles/transfer.py):
    # from, family, steps (1 same family, 2 another), sigma_step and the donor's error model
    transfer: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatacenterProfile:
    name: str
    title: str
    file: str
    pue: Sourced
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RegionYear:
    year: int
    grid_gco2e_per_kwh: float
    cfe_fraction: float | None
    source: str
    kind: str


@dataclass(frozen=True)
class RegionProfile:
    name: str
    title: str
    category: str
    file: str
    years: dict[int, RegionYear]
    aliases: tuple[str, ...] = ()
    note: str = ""

    def at(self, year: int | None) -> RegionYear:
        if year is None:
            return self.years[max(self.years)]
        if year not in self.years:
            raise UnknownProfileError(f"region '{self.name}' has no data for {year}; years: {', '.join(map(str, sorted(self.years)))}")
        return self.years[year]


@dataclass(frozen=True)
class NasPreset:
    """A published NAS search: chip-hours on a hardware profile (or a stated power where none exists)."""

    name: str
    title: str
    file: str
    chip_hours: Sourced
    hardware: str = ""
    avg_power_w: Sourced | None = None
    hardware_label: str = ""
    note: str = ""
    aliases: tuple[str, ...] = ()
    # where the search ran, when its own accounting (or the chip) says so: PUE and grid intensity
    site_pue: Sourced | None = None
    site_grid_gco2e_per_kwh: Sourced | None = None
    # the search's procedure as its paper gives it, for plan-search --preset: candidates trained, samples each
    procedure: dict | None = None
    # where the published record reads several ways (a 'device' of one chip or of four): each reading's chip-hours
    # with its quote; the Monte Carlo draws them, equally likely
    readings: tuple[dict, ...] = ()
    # estimated site inputs: (low, high, source) ranges around site_pue and site_grid_gco2e_per_kwh
    site_pue_range: tuple[float, float, str] | None = None
    site_grid_range: tuple[float, float, str] | None = None
    avg_power_boundary: str = "chip"  # what avg_power_w measured: the chip, or the server's share per chip

