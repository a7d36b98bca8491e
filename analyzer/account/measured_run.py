"""A measured run (a tracked search, a trial of it) accounted at its site, with the same steps as every run footprint
(account/carbon.py): the measured device energy at the site's power boundary (account/boundary.py: a chip-level
reading gains the hardware's host share at the server boundary, where the hardware is named), facility energy
x PUE and CO2e x the grid's intensity, and the hardware's embodied share over the run's hours: the one
accounting step (account/step.py). A meter that estimates (the CPU estimate) gives a
band: its energy times the band's factors bounds the operational CO2e; measured joules have no band here.

    average W = device J / wall s / chips;  facility kWh = h x chips x W (at the boundary) x PUE / 1000
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import UsageError, param
from ..profiles import HardwareProfile
from ..target import Site
from .boundary import power_at
from .step import DeviceCost, account, over_time


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
    notes: list[str] = []
    held_s = seconds * chips

    def cost(j: float, say: bool = False) -> DeviceCost:  # j device joules at the site's power boundary (a band's end alike)
        if seconds <= 0:
            return DeviceCost(0.0, 0.0, 0.0, boundary=site.power_boundary)
        watts = j / seconds / chips
        at_w, moved = power_at(hw, watts, "chip", site.power_boundary)
        if say:
            notes.extend(moved)
        return over_time(watts, at_w, held_s, site.power_boundary)

    run = account(cost(joules, say=True), site, hw)
    if hw is None:
        notes.append("no hardware named: the meters' own boundary (CPU package and DRAM, or the GPU board) is taken "
                     "as the run's; no host share, no embodied carbon")
    low = high = 0.0
    for m, j in energy_j.items():
        lo, hi = bands.get(m) or (1.0, 1.0)
        low += j * lo
        high += j * hi
    low_kg, high_kg = (account(cost(low), site).co2e_kg, account(cost(high), site).co2e_kg) if any(bands.values()) \
        else (run.co2e_kg, run.co2e_kg)
    if any(bands.values()):
        notes.append("CO2e band from the estimated meters' bands (" + ", ".join(
            f"{m} x{b[0]:g}..x{b[1]:g}" for m, b in bands.items() if b) + ")")
    inputs: list[dict[str, Any]] = [
        {"name": "device_energy_j", "value": joules, "unit": "J", "kind": "measured" if not any(bands.values()) else "estimated",
         "source": "the tracked run's meters: " + ", ".join(f"{m} {v:.6g} J" for m, v in energy_j.items())},
        *site.inputs[:2], *run.inputs]
    notes += run.notes
    return RunAccount(joules, seconds, run.facility_energy_kwh, run.co2e_kg, low_kg, high_kg, run.embodied_co2e_kg,
                      site.pue, site.grid_gco2e_per_kwh, inputs, notes)
