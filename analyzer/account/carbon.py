"""Run footprint accounting: energy and CO2e of N chips for H hours (Patterson et al. 2021), plus the
embodied carbon of the share of the hardware's lifetime used. Pure functions over profile objects."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import UsageError
from ..profiles import DatacenterProfile, HardwareProfile, RegionProfile, RegionYear
from ..units import G_PER_KG, HOURS_PER_YEAR, W_PER_KW


@dataclass(frozen=True)
class Footprint:
    energy_kwh: float
    co2e_kg: float  # operational
    embodied_co2e_kg: float | None
    hours: float
    count: float
    avg_power_w: float
    pue: float
    grid_gco2e_per_kwh: float
    inputs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_co2e_kg(self) -> float:
        return self.co2e_kg + (self.embodied_co2e_kg or 0.0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["total_co2e_kg"] = self.total_co2e_kg
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Footprint":
        d = {k: v for k, v in d.items() if k != "total_co2e_kg"}
        return cls(**d)


def energy_kwh(hours: float, count: float, avg_power_w: float, pue: float) -> float:
    """Patterson et al. 2021: kWh = hours x processors x average W per processor x PUE / 1000."""
    return hours * count * avg_power_w * pue / W_PER_KW


def operational_co2e_kg(kwh: float, grid_gco2e_per_kwh: float) -> float:
    """CO2e = kWh x intensity (gCO2e/kWh) / 1000."""
    return kwh * grid_gco2e_per_kwh / G_PER_KG


def embodied_share_kg(embodied_co2e_kg: float, lifetime_years: float, hours: float, count: float) -> float:
    """Linear amortisation: count x embodied x hours / (lifetime_years x 8766 h)."""
    return count * embodied_co2e_kg * hours / (lifetime_years * HOURS_PER_YEAR)


def _positive(name: str, v: float, upper: float = math.inf, allow_zero: bool = False) -> float:
    if v is None or math.isnan(v) or math.isinf(v) or v < 0 or (v == 0 and not allow_zero) or v > upper:
        raise UsageError(f"{name} = {v}: must be a finite number {'>= 0' if allow_zero else '> 0'}"
                         + (f" and <= {upper:g}" if upper < math.inf else ""))
    return float(v)


def choose_power(hw: HardwareProfile, avg_power_w: float | None, utilization: float | None) -> tuple[float, dict, str | None]:
    """Average power per chip and where it came from: stated; TDP x utilisation; the profile's published
    average under ML load; or (said so) TDP at full utilisation as an upper bound."""
    if avg_power_w is not None:
        w = _positive("--avg-power-w", avg_power_w, 1e5)
        return w, {"name": "avg_power_w", "value": w, "unit": "W", "source": "stated by the user", "kind": "stated"}, None
    if utilization is not None:
        u = _positive("--utilization", utilization, 1.0)
        if hw.tdp_w is None:
            raise UsageError(f"hardware '{hw.name}' has no TDP in its profile; give --avg-power-w")
        w = hw.tdp_w.value * u
        return w, {"name": "avg_power_w", "value": w, "unit": "W", "kind": "estimated",
                   "source": f"TDP x utilisation = {hw.tdp_w.value:g} W x {u:g} (TDP: {hw.tdp_w.source})"}, None
    if hw.avg_power_w is not None:
        return hw.avg_power_w.value, hw.avg_power_w.as_input("avg_power_w", "W"), (
            f"average power: the profile's published average under ML load ({hw.avg_power_w.value:g} W)")
    if hw.tdp_w is not None:
        return hw.tdp_w.value, {"name": "avg_power_w", "value": hw.tdp_w.value, "unit": "W", "kind": "estimated",
                                "source": f"TDP at 100% utilisation (upper bound; no measured average in the profile): {hw.tdp_w.source}"}, (
            f"average power: no measured average for {hw.name}; assumed TDP ({hw.tdp_w.value:g} W), an upper bound")
    raise UsageError(f"hardware '{hw.name}' has no published power; give --avg-power-w")


def region_intensity(region: RegionProfile, row: RegionYear, net: bool) -> tuple[float, dict]:
    """Gross (location-based) intensity, or with net=True the CFE-net intensity gross x (1 - CFE)."""
    label = f"{region.name}@{row.year}"
    if not net:
        return row.grid_gco2e_per_kwh, {"name": "grid_gco2e_per_kwh", "value": row.grid_gco2e_per_kwh, "unit": "gCO2e/kWh",
                                        "source": f"{label} gross: {row.source}", "kind": row.kind}
    if row.cfe_fraction is None:
        raise UsageError(f"region {label} has no carbon-free-energy share; --net needs one (Google Cloud regions have it)")
    g = row.grid_gco2e_per_kwh * (1 - row.cfe_fraction)
    return g, {"name": "grid_gco2e_per_kwh", "value": g, "unit": "gCO2e/kWh", "kind": row.kind,
               "source": f"{label} CFE-net: {row.grid_gco2e_per_kwh:g} x (1 - {row.cfe_fraction:g}); {row.source}"}


def place(pue: float | None, datacenter: DatacenterProfile | None, grid_gco2e_per_kwh: float | None,
          region: tuple[RegionProfile, RegionYear] | None, net: bool = False, flag: str = "--") -> tuple[float, float, list[dict]]:
    """(PUE, gCO2e/kWh, their inputs with sources) from exactly one of pue/datacenter and of grid/region.
    `flag` prefixes the option names in errors ('--', '--base-', ...)."""
    if (pue is None) == (datacenter is None):
        raise UsageError(f"give exactly one of {flag}pue and {flag}datacenter")
    if pue is not None:
        p = _positive(f"{flag}pue", pue, 5.0)
        if p < 1.0:
            raise UsageError(f"{flag}pue = {pue}: a PUE is at least 1.0 (total facility power / IT power)")
        inputs = [{"name": "pue", "value": p, "unit": "", "source": "stated by the user", "kind": "stated"}]
    else:
        p = datacenter.pue.value  # type: ignore[union-attr]
        inputs = [datacenter.pue.as_input("pue", "") | {"source": f"{datacenter.name}: {datacenter.pue.source}"}]  # type: ignore[union-attr]
    if (grid_gco2e_per_kwh is None) == (region is None):
        raise UsageError(f"give exactly one of {flag}grid-gco2e-per-kwh and {flag}region")
    if grid_gco2e_per_kwh is not None:
        if net:
            raise UsageError(f"--net needs {flag}region (a stated intensity is used as given)")
        g = _positive(f"{flag}grid-gco2e-per-kwh", grid_gco2e_per_kwh, 2000.0, allow_zero=True)
        inputs.append({"name": "grid_gco2e_per_kwh", "value": g, "unit": "gCO2e/kWh", "source": "stated by the user", "kind": "stated"})
    else:
        g, g_input = region_intensity(region[0], region[1], net)  # type: ignore[index]
        inputs.append(g_input)
    return p, g, inputs


def footprint(hw: HardwareProfile, count: float, hours: float, *, avg_power_w: float | None = None,
              utilization: float | None = None, pue: float | None = None, datacenter: DatacenterProfile | None = None,
              grid_gco2e_per_kwh: float | None = None, region: tuple[RegionProfile, RegionYear] | None = None,
              net: bool = False) -> Footprint:
    """Energy and CO2e of `count` chips of `hw` for `hours`, and the embodied share, with every input's source.
    Exactly one of pue/datacenter and of grid_gco2e_per_kwh/region must be given (the CLI supplies stated
    defaults and says so)."""
    count = _positive("--count", count, 1e9)
    hours = _positive("hours", hours, 1e7)
    watts, power_input, power_note = choose_power(hw, avg_power_w, utilization)
    inputs: list[dict[str, Any]] = [
        {"name": "hardware", "value": hw.name, "unit": "", "source": hw.file, "kind": "profile"},
        {"name": "count", "value": count, "unit": "chips", "source": "stated by the user", "kind": "stated"},
        {"name": "hours", "value": hours, "unit": "h", "source": "stated by the user", "kind": "stated"},
        power_input]
    notes = [power_note] if power_note else []
    p, g, place_inputs = place(pue, datacenter, grid_gco2e_per_kwh, region, net)
    inputs += place_inputs
    kwh = energy_kwh(hours, count, watts, p)
    embodied = None
    if hw.embodied_co2e_kg is not None and hw.lifetime_years is not None:
        embodied = embodied_share_kg(hw.embodied_co2e_kg.value, hw.lifetime_years.value, hours, count)
        inputs += [hw.embodied_co2e_kg.as_input("embodied_co2e_kg", "kgCO2e per chip") | {"method": hw.embodied_method},
                   hw.lifetime_years.as_input("lifetime_years", "years")]
    else:
        notes.append(f"no embodied carbon figure for {hw.name}: embodied_co2e_kg is null")
    return Footprint(kwh, operational_co2e_kg(kwh, g), embodied, hours, count, watts, p, g, inputs, notes)
