"""Accounting per item served: the device energy a projection gives, at a site, becomes facility energy (x PUE),
operational CO2e (x the grid's intensity) and the hardware's embodied share (its embodied carbon spread linearly
over its busy life). The one place serving energy becomes CO2e (Patterson et al. 2021, eq. 1; Gupta et al.
2022 for the embodied share)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..profiles import HardwareProfile
from ..target import Site
from ..units import G_PER_KG, HOURS_PER_YEAR, J_PER_KWH, SECONDS_PER_HOUR


@dataclass(frozen=True)
class ItemAccount:
    facility_energy_j_per_item: float
    co2e_g_per_item: float
    co2e_kg_per_million: float
    embodied_co2e_g_per_item: float | None
    inputs: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def account_item(energy_j_per_item: float, seconds_per_item: float, hw: HardwareProfile, site: Site) -> ItemAccount:
    """  facility J = device J x PUE;  gCO2e = facility J / 3.6e6 J/kWh x gCO2e/kWh
      embodied g = embodied kgCO2e x 1000 x seconds per item / (lifetime years x 8766 h x 3600 s x utilisation)
    `seconds_per_item`: the share of the hardware's time one item takes (a batch's latency / its items)."""
    facility = energy_j_per_item * site.pue
    co2e_g = facility / J_PER_KWH * site.grid_gco2e_per_kwh
    embodied = None
    inputs: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    if site.embodied == "excluded":
        notes = ("embodied carbon excluded by the site's policy",)
    elif hw.embodied_co2e_kg is not None and hw.lifetime_years is not None:
        life_s = hw.lifetime_years.value * HOURS_PER_YEAR * SECONDS_PER_HOUR * site.utilization
        embodied = hw.embodied_co2e_kg.value * G_PER_KG * seconds_per_item / life_s
        inputs = (hw.embodied_co2e_kg.as_input("embodied_co2e_kg", "kgCO2e per chip") | {"method": hw.embodied_method},
                  hw.lifetime_years.as_input("lifetime_years", "years"))
    else:
        notes = (f"no embodied carbon figure for {hw.name}: embodied_co2e_kg is null",)
    return ItemAccount(facility, co2e_g, co2e_g * 1e6 / G_PER_KG, embodied, inputs, notes)
