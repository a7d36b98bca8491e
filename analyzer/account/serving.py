"""Accounting per item served: the device energy a projection gives, at a site, with the device's idle time
(utilisation) and, at the server boundary, its host's share, becomes facility energy (x PUE), operational CO2e
(x the grid's intensity) and the hardware's embodied share (its embodied carbon at the site's boundary spread
linearly over its busy life). The one place serving energy becomes CO2e (Patterson et al. 2021, eq. 1; Gupta et al.
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
    idle_j_per_item: float = 0.0  # the device idling between items (utilisation below 1), charged per item
    host_j_per_item: float = 0.0  # the host's share (server power boundary), busy and idle


def account_item(energy_j_per_item: float, seconds_per_item: float, hw: HardwareProfile, site: Site) -> ItemAccount:
    """  idle J = device idle W x seconds per item x (1 - u) / u        (u: the hardware's busy share)
      host J = host W per accelerator x seconds per item / u        (server power boundary; account/boundary.py)
      facility J = (device J + idle J + host J) x PUE;  gCO2e = facility J / 3.6e6 J/kWh x gCO2e/kWh
      embodied g = embodied kgCO2e (at the site's embodied boundary) x 1000 x seconds per item
                   / (lifetime years x 8766 h x 3600 s x u)
    `seconds_per_item`: the share of the hardware's time one item takes (a batch's latency / its items)."""
    from .boundary import embodied_at

    u = site.utilization
    idle = hw.idle_w.value * seconds_per_item * (1.0 - u) / u if hw.idle_w is not None else 0.0
    notes: list[str] = [] if hw.idle_w is not None or u >= 1.0 else [f"no idle power for {hw.name}: idle time not charged"]
    host = 0.0
    inputs: list[dict[str, Any]] = []
    if site.power_boundary == "server":
        if hw.host_power_w is not None:
            host = hw.host_power_w.value * seconds_per_item / u
            inputs.append(hw.host_power_w.as_input("host_power_w", "W per accelerator"))
        else:
            notes.append(f"{hw.name} has no host power share in its profile: counted at the chip, not the server boundary")
    facility = (energy_j_per_item + idle + host) * site.pue
    co2e_g = facility / J_PER_KWH * site.grid_gco2e_per_kwh
    embodied = None
    if site.embodied == "excluded":
        notes.append("embodied carbon excluded by the site's policy")
    else:
        kg, method, more = embodied_at(hw, site.embodied_boundary)
        notes += more
        if kg is not None and hw.lifetime_years is not None:
            life_s = hw.lifetime_years.value * HOURS_PER_YEAR * SECONDS_PER_HOUR * u
            embodied = kg * G_PER_KG * seconds_per_item / life_s
            inputs += [hw.embodied_co2e_kg.as_input("embodied_co2e_kg", "kgCO2e per chip")  # type: ignore[union-attr]
                       | {"method": hw.embodied_method, "at_boundary_kg": kg, "boundary": site.embodied_boundary, "how": method},
                       hw.lifetime_years.as_input("lifetime_years", "years")]
        else:
            notes.append(f"no embodied carbon figure for {hw.name}: embodied_co2e_kg is null")
    return ItemAccount(facility, co2e_g, co2e_g * 1e6 / G_PER_KG, embodied, tuple(inputs), tuple(notes), idle, host)
