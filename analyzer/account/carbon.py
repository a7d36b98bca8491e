"""Run footprint accounting: energy and CO2e of N chips for H hours (Patterson et al. 2021: kWh = hours x chips x
average W x PUE / 1000; CO2e = kWh x gCO2e/kWh / 1000), plus the embodied carbon of the share of the hardware's
lifetime used, through the one accounting step (account/step.py). Pure functions over profile objects."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Any

from ..checks import check_number
from ..errors import UsageError, echo, param
from ..profiles import HardwareProfile
from ..target import Site
from ..units import SECONDS_PER_HOUR
from .step import account, over_time


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


def _positive(name: str, v: float, upper: float = math.inf, allow_zero: bool = False) -> float:
    if v is None or isinstance(v, bool) or not isinstance(v, numbers.Real):  # not a number: said as check_number says it
        check_number(name, v, 0.0, upper)
    v = float(v) if abs(v) < 1e308 else math.inf if v > 0 else -math.inf
    if math.isnan(v) or math.isinf(v) or v < 0 or (v == 0 and not allow_zero) or v > upper:
        raise UsageError(f"{param(name)} {format(v, 'g')}: must be a finite number {'>= 0' if allow_zero else '> 0'}"
                         + (f" and <= {upper:g}" if upper < math.inf else ""))
    return v


def hardware_of(name: str, value: HardwareProfile | str) -> HardwareProfile:
    """A hardware profile, or one named (a name or alias among the shipped profiles, as `profiles list hardware` shows
    them): the API takes either."""
    if isinstance(value, HardwareProfile):
        return value
    if isinstance(value, str):
        from ..profiles import load_profiles

        return load_profiles().get("hardware", value)
    raise UsageError(f"{param(name)} {echo(value)}: must be a hardware profile or its name (text), not {type(value).__name__}")


def site_of(name: str, value: Site) -> Site:
    """A Site; a name is refused, as a site is a datacenter (PUE) on a grid (a region) and a name gives only one."""
    if isinstance(value, Site):
        return value
    hint = (f" (a name is not a site: give resolve_site(load_profiles(), SiteRequest(datacenter='{echo(value)}', region=...)) or "
            "resolve_site(load_profiles(), SiteRequest(pue=..., grid=...)))") if isinstance(value, str) else ""
    raise UsageError(f"{param(name)} {echo(value)}: must be a Site, as analyzer.resolve_site returns{hint}")


def choose_power(hw: HardwareProfile, avg_power_w: float | None,
                 utilization: float | None) -> tuple[float, dict, str | None, str | None]:
    """Average power per chip, where it came from and the boundary it stands at: stated (boundary None: the
    caller's, as given); TDP x utilisation (the chip's); the profile's published average under ML load (its
    `avg_power_boundary`); or (said so) TDP at full utilisation as an upper bound (the chip's)."""
    if avg_power_w is not None:
        w = _positive("avg_power_w", avg_power_w, 1e5)
        return w, {"name": "avg_power_w", "value": w, "unit": "W", "source": "stated by the user", "kind": "stated"}, None, None
    if utilization is not None:
        u = _positive("utilization", utilization, 1.0)
        if hw.tdp_w is None:
            raise UsageError(f"hardware '{hw.name}' has no TDP in its profile; give {param('avg_power_w')}")
        w = hw.tdp_w.value * u
        return w, {"name": "avg_power_w", "value": w, "unit": "W", "kind": "estimated",
                   "source": f"TDP x utilisation = {hw.tdp_w.value:g} W x {u:g} (TDP: {hw.tdp_w.source})"}, None, "chip"
    if hw.avg_power_w is not None:
        return hw.avg_power_w.value, hw.avg_power_w.as_input("avg_power_w", "W"), (
            f"average power: the profile's published average under ML load ({hw.avg_power_w.value:g} W)"), hw.avg_power_boundary
    if hw.tdp_w is not None:
        return hw.tdp_w.value, {"name": "avg_power_w", "value": hw.tdp_w.value, "unit": "W", "kind": "estimated",
                                "source": f"TDP at 100% utilisation (upper bound; no measured average in the profile): {hw.tdp_w.source}"}, (
            f"average power: no measured average for {hw.name}; assumed TDP ({hw.tdp_w.value:g} W), an upper bound"), "chip"
    raise UsageError(f"hardware '{hw.name}' has no published power; give {param('avg_power_w')}")


def footprint(hw: HardwareProfile | str, count: float, hours: float, site: Site, *, avg_power_w: float | None = None,
              utilization: float | None = None) -> Footprint:
    """Energy and CO2e of `count` chips of `hw` (a profile, or its name) for `hours` at `site` (its PUE and grid
    intensity, resolved by analyzer.target.resolve_site), and the embodied share, with every input's source. `utilization` here estimates the
    chips' power as TDP x utilisation."""
    hw = hardware_of("hw", hw)
    count = _positive("count", count, 1e9)
    hours = _positive("hours", hours, 1e7)
    site = site_of("site", site)
    from .boundary import power_at

    given_w, power_input, power_note, measured_at = choose_power(hw, avg_power_w, utilization)
    # the profile's figures move to the site's power boundary, as in every projection and search account; a stated
    # average is used as given (the papers' accounts state theirs at their own boundary: Strubell's includes the host)
    if measured_at is None:
        watts, boundary_notes = given_w, [f"average power: {given_w:g} W as stated, taken as the whole per-chip draw "
                                          f"(the site's {site.power_boundary} boundary is not added to it)"]
    else:
        watts, boundary_notes = power_at(hw, given_w, measured_at, site.power_boundary)
    inputs: list[dict[str, Any]] = [
        {"name": "hardware", "value": hw.name, "unit": "", "source": hw.file, "kind": "profile"},
        {"name": "count", "value": count, "unit": "chips", "source": "stated by the user", "kind": "stated"},
        {"name": "hours", "value": hours, "unit": "h", "source": "stated by the user", "kind": "stated"},
        power_input]
    notes = ([power_note] if power_note else []) + boundary_notes
    inputs += list(site.inputs[:2])
    a = account(over_time(given_w, watts, hours * SECONDS_PER_HOUR * count, site.power_boundary), site, hw)
    inputs += a.inputs
    notes += a.notes
    return Footprint(a.facility_energy_kwh, a.co2e_kg, a.embodied_co2e_kg, hours, count, watts, site.pue,
                     site.grid_gco2e_per_kwh, inputs, notes)
