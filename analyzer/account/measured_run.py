"""A measured run (a tracked search, a trial of it) accounted at its site, with the same steps as every run footprint
(account/carbon.py): the measured device energy at the site's power boundary (account/boundary.py: a chip-level
reading gains the hardware's host share at the server boundary, where the hardware is named), facility energy
x PUE and CO2e x the grid's intensity (carbon.energy_kwh, carbon.operational_co2e_kg), and the hardware's
embodied share over the run's hours (carbon.embodied_share_kg). A meter that estimates (the CPU estimate) gives a
band: its energy times the band's factors bounds the operational CO2e; measured joules have no band here.

    average W = device J / wall s / chips;  facility kWh = h x chips x W (at the boundary) x PUE / 1000
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import UsageError, param
from ..profiles import HardwareProfile
from ..target import Site
from ..units import SECONDS_PER_HOUR
from .boundary import embodied_at, power_at
from .carbon import embodied_share_kg, energy_kwh, operational_co2e_kg


@dataclass(frozen=True)
class RunAccount:
    device_energy_j: float
    seconds: float
    facility_energy_kwh: float
    co2e_kg: float  # operational
    co2e_low_kg: float  # the meters' bands (estimated joules); equal to co2e_kg where every joule is measured
    co2e_high_kg: float
    embodied_co2e_kg: float | None
    pue: float
    grid_gco2e_per_kwh: float
    inputs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_co2e_kg(self) -> float:
        return self.co2e_kg + (self.embodied_co2e_kg or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"total_co2e_kg": self.total_co2e_kg}


def account_run(energy_j: dict[str, float], bands: dict[str, tuple[float, float] | None], seconds: float, site: Site,
                hw: HardwareProfile | None = None, chips: float = 1.0) -> RunAccount:
    """`energy_j`: device joules by meter; `bands`: each meter's (low, high) factors, None where measured;
    `chips`: how many of `hw` the run held (embodied share and average power per chip)."""
    if seconds < 0 or any(v < 0 for v in energy_j.values()):
        raise UsageError(f"{param('energy_j')}: a run's seconds and joules must be >= 0")
    joules = sum(energy_j.values())
    hours = seconds / SECONDS_PER_HOUR
    notes: list[str] = []
    if hours > 0:
        watts = joules / seconds / chips
        at_w, moved = power_at(hw, watts, "chip", site.power_boundary)
        notes += moved
        kwh = energy_kwh(hours, chips, at_w, site.pue)
        scale = at_w / watts if watts > 0 else 1.0  # the boundary's share, applied to the band's ends alike
    else:
        kwh, scale = 0.0, 1.0
    if hw is None:
        notes.append("no hardware named: the meters' own boundary (CPU package and DRAM, or the GPU board) is taken "
                     "as the run's; no host share, no embodied carbon")
    kg = operational_co2e_kg(kwh, site.grid_gco2e_per_kwh)
    low = high = 0.0
    for m, j in energy_j.items():
        lo, hi = bands.get(m) or (1.0, 1.0)
        low += j * lo
        high += j * hi

    def to_kg(j: float) -> float:  # the same steps as the point value, for a band's end
        return operational_co2e_kg(energy_kwh(hours, chips, j / seconds / chips * scale, site.pue), site.grid_gco2e_per_kwh) if hours > 0 else 0.0

    low_kg, high_kg = (to_kg(low), to_kg(high)) if any(bands.values()) else (kg, kg)
    if any(bands.values()):
        notes.append("CO2e band from the estimated meters' bands (" + ", ".join(
            f"{m} x{b[0]:g}..x{b[1]:g}" for m, b in bands.items() if b) + ")")
    embodied = None
    inputs: list[dict[str, Any]] = [
        {"name": "device_energy_j", "value": joules, "unit": "J", "kind": "measured" if not any(bands.values()) else "estimated",
         "source": "the tracked run's meters: " + ", ".join(f"{m} {v:.6g} J" for m, v in energy_j.items())},
        *site.inputs[:2]]
    if hw is not None and site.embodied != "excluded":
        per_chip, how, more = embodied_at(hw, site.embodied_boundary)
        notes += more
        if per_chip is not None and hw.lifetime_years is not None:
            embodied = embodied_share_kg(per_chip, hw.lifetime_years.value, hours, chips)
            inputs.append(hw.lifetime_years.as_input("lifetime_years", "years") | {"embodied_at_boundary_kg": per_chip, "how": how})
        else:
            notes.append(f"no embodied carbon figure for {hw.name}: not counted")
    return RunAccount(joules, seconds, kwh, kg, low_kg, high_kg, embodied, site.pue, site.grid_gco2e_per_kwh, inputs, notes)
