"""The one accounting step (issue #36): where a device's joules become facility energy, operational CO2e and the
hardware's embodied share at a site. Every account (serving and training per item, run footprints, search costs and
plans, the 4Ms, measured runs) builds a `DeviceCost` and calls `account`; no other module multiplies by a PUE or a
grid intensity (tests/whole/test_layers.py checks it by parsing every module).

  device J   = dynamic J + idle J + host J                  (at the cost's power boundary, account/boundary.py)
  facility J = device J x PUE                               (a cost stated at the facility: x 1)
  CO2e g     = facility J / 3.6e6 J/kWh x grid gCO2e/kWh    (Patterson et al. 2021, eq. 1)
  embodied kg = embodied kgCO2e per chip (at the site's embodied boundary) x held chip-s / (lifetime y x 8766 h x 3600 s)
                                                            (Gupta et al. 2022: a linear share of the hardware's life)

`held_s` is the hardware time the work holds: its busy time over the site's utilisation for work priced per item
(the idle time between items is charged to them), a run's wall time x its chips for a run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..profiles import HardwareProfile
from ..target import Site
from ..units import G_PER_KG, HOURS_PER_YEAR, J_PER_KWH, SECONDS_PER_HOUR

BOUNDARIES = ("chip", "board", "server", "facility")  # facility: a stated facility energy, PUE already in it


@dataclass(frozen=True)
class DeviceCost:
    """What some work costs the device, before the facility: energy by part (J), the boundary the parts stand at,
    and the hardware time (chip-seconds) it is busy and held."""

    dynamic_j: float  # the device doing the work (projected, measured, or average power x time)
    busy_s: float  # chip-seconds busy on the work
    held_s: float  # chip-seconds the hardware is held for it (its embodied share)
    idle_j: float = 0.0  # the device idling while held, not busy (utilisation below 1)
    host_j: float = 0.0  # the host's share per accelerator (server boundary); < 0 removes a server figure's share at the chip
    boundary: str = "chip"
    inputs: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # built here and by accounts from a resolved Site (its boundary checked by target/resolve.py): an invariant
        assert self.boundary in BOUNDARIES, self.boundary

    @property
    def energy_j(self) -> float:
        """Device energy at the boundary: dynamic + idle + host (J)."""
        return self.dynamic_j + self.idle_j + self.host_j

    def scaled(self, k: float) -> "DeviceCost":
        """The cost of k times the work (every part and time x k)."""
        return replace(self, dynamic_j=self.dynamic_j * k, busy_s=self.busy_s * k, held_s=self.held_s * k,
                       idle_j=self.idle_j * k, host_j=self.host_j * k)


@dataclass(frozen=True)
class Accounted:
    """The step's result: a device cost at a site."""

    cost: DeviceCost
    facility_energy_j: float
    co2e_g: float  # operational
    embodied_co2e_g: float | None  # None: no figure, or excluded by the site's policy
    pue: float
    grid_gco2e_per_kwh: float
    inputs: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def facility_energy_kwh(self) -> float:
        return self.facility_energy_j / J_PER_KWH

    @property
    def co2e_kg(self) -> float:
        return self.co2e_g / G_PER_KG

    @property
    def embodied_co2e_kg(self) -> float | None:
        return None if self.embodied_co2e_g is None else self.embodied_co2e_g / G_PER_KG


def _host(hw: HardwareProfile, site: Site) -> tuple[float, list[dict[str, Any]], list[str]]:
    """(host W per accelerator charged at the site's power boundary, its input, notes): none at the chip boundary."""
    if site.power_boundary != "server":
        return 0.0, [], []
    if hw.host_power_w is None:
        return 0.0, [], [f"{hw.name} has no host power share in its profile: counted at the chip, not the server boundary"]
    return hw.host_power_w.value, [hw.host_power_w.as_input("host_power_w", "W per accelerator")], []


def per_item(hw: HardwareProfile, site: Site, energy_j: float, busy_s: float) -> DeviceCost:
    """Work priced per item (serving, a training sample): the device's `energy_j` while busy `busy_s` (chip level),
    held busy_s / u (u: the site's busy share), idling the rest at the hardware's idle power, and at the server
    boundary the host's share while held.
      idle J = idle W x busy s x (1 - u) / u;   host J = host W per accelerator x busy s / u"""
    u = site.utilization
    idle = hw.idle_w.value * busy_s * (1.0 - u) / u if hw.idle_w is not None else 0.0
    notes: list[str] = [] if hw.idle_w is not None or u >= 1.0 else [f"no idle power for {hw.name}: idle time not charged"]
    host_w, inputs, more = _host(hw, site)
    return DeviceCost(energy_j, busy_s, busy_s / u, idle, host_w * busy_s / u, site.power_boundary, tuple(inputs),
                      tuple(notes + more))


def over_time(watts: float, moved_w: float, held_s: float, boundary: str) -> DeviceCost:
    """A run at an average power: `watts` per chip as given, `moved_w` the same at `boundary` (account/boundary.py
    power_at: the host's share added or removed), over `held_s` chip-seconds, busy throughout (a run's average
    power includes its idle moments)."""
    return DeviceCost(watts * held_s, held_s, held_s, 0.0, (moved_w - watts) * held_s, boundary)


def stated_facility(energy_kwh: float) -> DeviceCost:
    """A facility energy as stated (its PUE already in it): no hardware time."""
    return DeviceCost(energy_kwh * J_PER_KWH, 0.0, 0.0, boundary="facility")


def embodied(hw: HardwareProfile | None, site: Site, held_s: float) -> tuple[float | None, list[dict[str, Any]], list[str]]:
    """(embodied gCO2e of `held_s` chip-seconds of `hw` at the site's embodied boundary, inputs, notes)."""
    from .boundary import embodied_at

    if hw is None:
        return None, [], []
    if site.embodied == "excluded":
        return None, [], ["embodied carbon excluded by the site's policy"]
    kg, method, notes = embodied_at(hw, site.embodied_boundary)
    if kg is None or hw.lifetime_years is None:
        return None, [], notes + [f"no embodied carbon figure for {hw.name}: embodied_co2e_kg is null"]
    life_s = hw.lifetime_years.value * HOURS_PER_YEAR * SECONDS_PER_HOUR
    inputs = [hw.embodied_co2e_kg.as_input("embodied_co2e_kg", "kgCO2e per chip")  # type: ignore[union-attr]
              | {"method": hw.embodied_method, "at_boundary_kg": kg, "boundary": site.embodied_boundary, "how": method},
              hw.lifetime_years.as_input("lifetime_years", "years")]
    return kg * G_PER_KG * held_s / life_s, inputs, notes


def account(cost: DeviceCost, site: Site, hw: HardwareProfile | None = None) -> Accounted:
    """`cost` at `site`: facility J = device J x PUE (x 1 for a cost stated at the facility), operational gCO2e =
    facility J / 3.6e6 x gCO2e/kWh, and, where `hw` is given, its embodied share over the cost's held time."""
    pue = 1.0 if cost.boundary == "facility" else site.pue
    facility = cost.energy_j * pue
    emb, inputs, notes = embodied(hw, site, cost.held_s)
    return Accounted(cost, facility, facility / J_PER_KWH * site.grid_gco2e_per_kwh, emb, site.pue, site.grid_gco2e_per_kwh,
                     cost.inputs + tuple(inputs), cost.notes + tuple(notes))


def shares_inputs(hw: HardwareProfile, site: Site) -> list[dict[str, Any]]:
    """The provenance of the shares `account` charges work on `hw` at `site` (the host's power, the embodied
    figure and lifetime), whatever the work: what a target's evaluations cite."""
    return _host(hw, site)[1] + embodied(hw, site, 0.0)[1]


def kg_per_facility_kwh(site: Site) -> float:
    """kgCO2e per facility kWh at the site: grid gCO2e/kWh / 1000 (a search budget's unit)."""
    return kg_per_kwh(site.grid_gco2e_per_kwh)


def kg_per_kwh(grid_gco2e_per_kwh: float) -> float:
    """kgCO2e per facility kWh at an intensity (a saved plan's, whose site is not resolved here): gCO2e/kWh / 1000."""
    return grid_gco2e_per_kwh / G_PER_KG


def facility_kw(watts: float, site: Site) -> float:
    """Facility kW drawn per chip at `watts`: W x PUE / 1000."""
    hour = DeviceCost(watts * SECONDS_PER_HOUR, SECONDS_PER_HOUR, SECONDS_PER_HOUR, boundary=site.power_boundary)
    return account(hour, site).facility_energy_kwh
