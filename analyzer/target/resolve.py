"""Where and how a model runs, resolved once: hardware, dtype, runtime, batch, the datacenter's PUE and the
grid's carbon intensity (and a search's site), validated in one place and returned as frozen records that
carry every value's provenance. Every command resolves through here; the defaults are stated here only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..account.carbon import place as _pue_and_grid
from ..errors import UsageError
from ..profiles import DEFAULT_DTYPE_ORDER, HardwareProfile, ProfileSet, default_dtype
from ..units import MAX_BATCH  # re-exported: the CLI checks --batch against it

# One set of defaults, said in the output whenever used.
DEFAULT_DATACENTER = "industry-average-2021"  # Uptime Institute 2021 average PUE 1.57
DEFAULT_REGION = "world-ember-2022"  # world average 436 gCO2e/kWh (Ember 2022), the most recent world figure shipped
DEFAULT_RUNTIME = "ort"


def check_number(name: str, value: float | int | None, low: float, high: float, *, low_open: bool = False) -> float:
    """A numeric option: finite and within [low, high] (or (low, high]); the one validation every command uses."""
    if value is None or isinstance(value, bool):
        raise UsageError(f"{name}: a number is required")
    v = float(value)
    if not math.isfinite(v) or v > high or v < low or (low_open and v == low):
        if isinstance(value, int) and float(low).is_integer() and float(high).is_integer():
            raise UsageError(f"{name} {value}: must be an integer from {int(low) + low_open:,} to {int(high):,}")
        rng = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise UsageError(f"{name} {value}: must be a finite number in {rng}")
    return v


@dataclass(frozen=True)
class Site:
    """A datacenter and grid: PUE and gCO2e/kWh with their provenance."""

    pue: float
    grid_gco2e_per_kwh: float
    inputs: tuple[dict[str, Any], ...]
    notes: tuple[str, ...] = ()
    # what it was resolved from, for the accounting functions that take profiles (footprint, the 4Ms)
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def accounting_args(self) -> dict[str, Any]:
        """pue/datacenter and grid/region as carbon.footprint and fourms.Scenario take them."""
        return dict(self.source)

    def to_dict(self) -> dict[str, Any]:
        return {"pue": self.pue, "grid_gco2e_per_kwh": self.grid_gco2e_per_kwh, "inputs": list(self.inputs), "notes": list(self.notes)}


@dataclass(frozen=True)
class Placement:
    """How and where a model is served."""

    hardware: HardwareProfile
    dtype: str
    runtime: str
    batch: int
    site: Site
    utilization: float = 1.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def pue(self) -> float:
        return self.site.pue

    @property
    def grid_gco2e_per_kwh(self) -> float:
        return self.site.grid_gco2e_per_kwh

    def settings(self) -> dict[str, Any]:
        """What a projection depends on besides the model and the profile files (for cache keys and reports)."""
        return {"hardware": self.hardware.name, "dtype": self.dtype, "runtime": self.runtime, "batch": self.batch,
                "pue": self.pue, "grid_gco2e_per_kwh": self.grid_gco2e_per_kwh, "utilization": self.utilization}

    def to_dict(self) -> dict[str, Any]:
        return {**self.settings(), "hardware_title": self.hardware.title, "site": self.site.to_dict(), "notes": list(self.notes)}


def resolve_site(ps: ProfileSet, *, pue: float | None = None, datacenter: str | None = None, grid: float | None = None,
                 region: str | None = None, net: bool = False, flag: str = "--", who: str = "",
                 default_datacenter: str = DEFAULT_DATACENTER, default_region: str = DEFAULT_REGION) -> Site:
    """PUE from --pue or a datacenter profile, intensity from --grid-gco2e-per-kwh or a region (NAME[@YEAR]),
    defaults when neither is given (and a note saying so). `flag` prefixes option names in errors."""
    if pue is not None and datacenter is not None:
        raise UsageError(f"give one of {flag}pue and {flag}datacenter, not both")
    if grid is not None and region is not None:
        raise UsageError(f"give one of {flag}grid-gco2e-per-kwh and {flag}region, not both")
    lead = f"{who}: " if who else ""
    notes: list[str] = []
    dc = ps.get("datacenter", datacenter) if datacenter else None
    if pue is None and dc is None:
        dc = ps.get("datacenter", default_datacenter)
        notes.append(f"{lead}no {flag}pue/{flag}datacenter given: assumed {dc.name} (PUE {dc.pue.value:g})")
    reg = ps.region_at(region) if region else None
    if grid is None and reg is None:
        reg = ps.region_at(default_region)
        notes.append(f"{lead}no {flag}grid-gco2e-per-kwh/{flag}region given: assumed {reg[0].name} ({reg[1].grid_gco2e_per_kwh:g} gCO2e/kWh)")
    elif reg is not None and region and "@" not in region and len(reg[0].years) > 1:
        notes.append(f"{lead}region {reg[0].name}: latest year {reg[1].year} used (NAME@YEAR picks another)")
    p, g, inputs = _pue_and_grid(pue, dc, grid, reg, net, flag=flag)
    return Site(p, g, tuple(inputs), tuple(notes), {"pue": pue, "datacenter": dc, "grid_gco2e_per_kwh": grid, "region": reg, "net": net})


def resolve_placement(ps: ProfileSet, hardware: str, *, dtype: str | None = None, runtime: str | None = None, batch: int = 1,
                      pue: float | None = None, datacenter: str | None = None, grid: float | None = None,
                      region: str | None = None, net: bool = False, utilization: float = 1.0,
                      default_runtime: str = DEFAULT_RUNTIME) -> Placement:
    """The deployment target: hardware (name or alias), dtype (default: the first of bf16, fp16, tf32, fp32 it has),
    runtime, batch, and the site, every default said in the notes."""
    from ..project.kernels import RUNTIMES

    hw: HardwareProfile = ps.get("hardware", hardware)
    notes: list[str] = []
    chosen = dtype or default_dtype(hw.peak_tflops)
    if chosen is None:
        raise UsageError(f"hardware '{hw.name}' has none of {', '.join(DEFAULT_DTYPE_ORDER)}; give --dtype")
    if chosen not in hw.peak_tflops:
        raise UsageError(f"hardware '{hw.name}' has no {chosen} throughput; it has: {', '.join(hw.peak_tflops)}")
    if dtype is None:
        notes.append(f"no --dtype given: projected in {chosen}")
    rt = runtime or default_runtime
    if rt not in RUNTIMES:
        raise UsageError(f"--runtime '{rt}': expected one of {', '.join(RUNTIMES)}")
    if runtime is None:
        notes.append(f"no --runtime given: projected for {rt}")
    b = int(check_number("--batch", batch, 1, MAX_BATCH))
    u = check_number("--utilization", utilization, 0.0, 1.0, low_open=True)
    site = resolve_site(ps, pue=pue, datacenter=datacenter, grid=grid, region=region, net=net)
    return Placement(hw, chosen, rt, b, site, u, tuple(notes) + site.notes)
