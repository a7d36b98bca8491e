"""Accounting per item served: the device energy a projection gives, at a site, with the device's idle time
(utilisation) and, at the server boundary, its host's share, becomes facility energy (x PUE), operational CO2e
(x the grid's intensity) and the hardware's embodied share (its embodied carbon at the site's boundary spread
linearly over its busy life). The one place serving energy becomes CO2e (Patterson et al. 2021, eq. 1; Gupta et al.
2022 for the embodied share), through the one accounting step (account/step.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..profiles import HardwareProfile
from ..target import Site
from ..units import G_PER_KG
from .step import Accounted, account, per_item


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
    """One item at the site, through the accounting step (account/step.py: per_item, then account):
      idle J = device idle W x seconds per item x (1 - u) / u        (u: the hardware's busy share)
      host J = host W per accelerator x seconds per item / u        (server power boundary; account/boundary.py)
      facility J = (device J + idle J + host J) x PUE;  gCO2e = facility J / 3.6e6 J/kWh x gCO2e/kWh
      embodied g = embodied kgCO2e (at the site's embodied boundary) x 1000 x seconds per item / u
                   / (lifetime years x 8766 h x 3600 s)
    `seconds_per_item`: the share of the hardware's time one item takes (a batch's latency / its items)."""
    return item_account(account(per_item(hw, site, energy_j_per_item, seconds_per_item), site, hw))


def item_account(a: Accounted) -> ItemAccount:
    """The per-item view of an accounted item."""
    return ItemAccount(a.facility_energy_j, a.co2e_g, a.co2e_g * 1e6 / G_PER_KG, a.embodied_co2e_g, a.inputs, a.notes,
                       a.cost.idle_j, a.cost.host_j)
