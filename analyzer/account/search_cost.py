"""The one-off cost of a search, sited where it ran: from a published preset, a stated kgCO2e or facility
kWh, or N chips of a hardware profile for H hours; with its range, the search hardware's embodied share,
and the units to express a budget in (kgCO2e per kWh, facility kW per chip-hour of the search's chip).

Range: what a past search's account does not pin down. The average power of its chips: a measured average (the
Evolved Transformer's 208 W) is taken as is; a published fleet average under ML load is not this search's, so
the cost is log-uniform within x/÷ 1.15 of it; with only a TDP, between half and all of it (an upper bound).
Where the record reads several ways (MnasNet's "64 TPUv2 devices": 64 chips, or 64 four-chip boards), each
reading is drawn with equal weight; estimated site inputs (PUE, grid) are drawn from their stated ranges (triangular, the stated value most likely). The
cost is the product of these independent factors (dist.product); its range is the product's 90% band. Stated
costs are taken as stated.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .boundary import power_at
from .carbon import choose_power
from .step import account, facility_kw, kg_per_facility_kwh, kg_per_kwh, over_time, stated_facility
from ..dist import Dist, fixed, mixture, product
from ..errors import UsageError, param
from ..checks import check_number
from ..target import Site, SiteRequest, resolve_search_site
from ..profiles import HardwareProfile, ProfileSet, defaults
from ..units import SECONDS_PER_HOUR



def _spreads() -> tuple[float, float]:
    """(x/÷ spread of a published fleet average power, low share of a TDP): profiles/defaults.toml [search]."""
    d = defaults()["search"]
    return float(d["published_average_spread"].value), float(d["tdp_low_share"].value)


@dataclass(frozen=True)
class SearchCost:
    cost_kg: float  # point estimate (the geometric middle of the range)
    low_kg: float
    high_kg: float
    energy_kwh: float | None  # facility kWh, when known
    embodied_kg: float  # the search hardware's embodied share (its lifetime used by the search)
    description: str
    chip: str  # the search's chip, for a budget in chip-hours ("" when unknown)
    kg_per_kwh: float | None
    kw_per_chip_hour: float | None  # facility kW drawn per chip-hour
    site: Site | None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    log_sigma: float | None = None  # a planned search's band is lognormal (else the range is log-uniform)
    distribution: Dist | None = field(default=None, compare=False)  # a preset's cost as drawn (readings, power, site)
    readings: list[dict[str, Any]] = field(default_factory=list)  # the published record's readings, with quotes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["site"] = self.site.to_dict() if self.site else None
        d["distribution"] = self.distribution.text() if self.distribution else None
        return d

    def dist(self) -> Dist:
        """The cost as the amortisation's Monte Carlo draws it."""
        if self.distribution is not None:
            return self.distribution
        if self.low_kg == self.high_kg:
            return fixed(self.cost_kg)
        if self.log_sigma:
            return Dist("lognormal", self.low_kg, self.high_kg, self.cost_kg)
        return Dist("log-uniform", self.low_kg, self.high_kg)


@dataclass(frozen=True)
class ChipHours:
    """A search run on `count` chips of the hardware profile `hardware` for `hours` hours (None: not given)."""

    hardware: str | None = None
    count: float | None = None
    hours: float | None = None


def search_cost(ps: ProfileSet, *, preset: str | None = None, cost_kg: float | None = None, cost_kwh: float | None = None,
                chips: ChipHours = ChipHours(), plan: Any = None, site: SiteRequest = SiteRequest()) -> SearchCost:
    """A search's cost from exactly one of: a published preset, a stated kgCO2e or facility kWh, a plan file
    (plan-search --out), or `chips` (N chips of a hardware profile for H hours); sited at `site` (as given; else
    the preset's own site; else the stated defaults: target/resolve.py resolve_search_site)."""
    given = sum(x is not None for x in (preset, cost_kg, cost_kwh, chips.hardware, plan))
    if given != 1:
        raise UsageError(f"give exactly one NAS cost: {param('nas_preset')}, {param('nas_cost_kg')}, {param('nas_cost_kwh')}, {param('search_plan')}, or "
                         f"{param('nas_hardware')} with {param('nas_count')} and {param('nas_hours')}")
    if plan is not None:
        return _planned(plan)
    if cost_kg is not None:
        kg = check_number("nas_cost_kg", cost_kg, 0.0, 1e12)
        return SearchCost(kg, kg, kg, None, 0.0, f"{kg:g} kgCO2e (stated)", "", None, None, None,
                          [{"name": "nas_cost_kg", "value": kg, "unit": "kgCO2e", "source": "stated by the user", "kind": "stated"}],
                          ["search cost stated in kgCO2e: its hardware's embodied share is not known and not counted"])
    p_obj = ps.get("nas", preset) if preset is not None else None
    at = resolve_search_site(ps, p_obj, site)
    return cost_at_site(ps, at, preset=p_obj, cost_kwh=cost_kwh, chips=chips)


def cost_at_site(ps: ProfileSet, site: Site, *, preset: Any = None, cost_kwh: float | None = None,
                 chips: ChipHours = ChipHours()) -> SearchCost:
    """A search's cost at a site already resolved (resolve_search_site): a published preset (its profile record), a
    stated facility kWh, or N chips of a hardware profile for H hours (`chips`)."""
    p_obj = preset
    hardware, count, hours = chips.hardware, chips.count, chips.hours
    spread_avg, tdp_low = _spreads()
    if cost_kwh is not None:
        kwh = check_number("nas_cost_kwh", cost_kwh, 0.0, 1e12)
        kg = account(stated_facility(kwh), site).co2e_kg
        return SearchCost(kg, kg, kg, kwh, 0.0, f"{kwh:g} kWh at {site.grid_gco2e_per_kwh:.4g} gCO2e/kWh", "",
                          kg_per_facility_kwh(site), None, site,
                          [{"name": "nas_cost_kwh", "value": kwh, "unit": "kWh (facility)", "source": "stated by the user", "kind": "stated"},
                           site.inputs[1]], list(site.notes))
    notes = list(site.notes)
    if p_obj is not None:
        hw = ps.get("hardware", p_obj.hardware) if p_obj.hardware else None
        chip_hours = p_obj.chip_hours.value
        label = p_obj.hardware or p_obj.hardware_label
        inputs = [{"name": "nas_preset", "value": p_obj.name, "unit": "", "source": f"{p_obj.title}; {p_obj.file}", "kind": "published"},
                  p_obj.chip_hours.as_input("chip_hours", "h")]
        hours_text = " or ".join(f"{r['chip_hours']:g}" for r in p_obj.readings) if p_obj.readings else f"{chip_hours:g}"
        desc = f"{p_obj.title}: {hours_text} chip-hours on {label}"
        if p_obj.avg_power_w is not None:
            watts, spread, power_in = p_obj.avg_power_w.value, (1.0, 1.0), p_obj.avg_power_w.as_input("avg_power_w", "W")
            measured_at = p_obj.avg_power_boundary
            if "TDP" in p_obj.avg_power_w.source:
                spread = (tdp_low, 1.0)
        else:
            watts, power_in, note, measured_at = choose_power(hw, None, None)  # type: ignore[arg-type]
            spread = (1 / spread_avg, spread_avg) if hw.avg_power_w is not None else (tdp_low, 1.0)  # type: ignore[union-attr]
            if note:
                notes.append(f"search {note}")
        count_, hours_ = 1.0, chip_hours
    else:
        hw = ps.get("hardware", hardware)  # type: ignore[arg-type]
        if count is None or hours is None:
            raise UsageError(f"{param('nas_hardware')} needs {param('nas_count')} and {param('nas_hours')}")
        count_ = check_number("nas_count", count, 0.0, 1e9, low_open=True)
        hours_ = check_number("nas_hours", hours, 0.0, 1e7, low_open=True)
        watts, power_in, note, measured_at = choose_power(hw, None, None)
        spread = (1 / spread_avg, spread_avg) if hw.avg_power_w is not None else (tdp_low, 1.0)
        if note:
            notes.append(f"search {note}")
        label, desc = hw.name, f"{count_:g} x {hw.name} for {hours_:g} h"
        inputs = [{"name": "hardware", "value": hw.name, "unit": "", "source": hw.file, "kind": "profile"},
                  {"name": "chip_hours", "value": count_ * hours_, "unit": "h", "source": "stated by the user", "kind": "stated"}]
    given_w = watts
    watts, moved = power_at(hw, watts, measured_at, site.power_boundary)
    notes += [f"search power: {n}" for n in moved]
    run = over_time(given_w, watts, count_ * hours_ * SECONDS_PER_HOUR, site.power_boundary)
    a = account(run, site)
    kwh, kg = a.facility_energy_kwh, a.co2e_kg
    run_hours = hours_
    factors, readings = _uncertain_factors(p_obj, hours_, spread, site, notes)
    total = product([fixed(kg), *factors])
    low, high, point = total.low, total.high, total.point
    if readings:
        hours_ = math.exp(sum(math.log(r["chip_hours"]) for r in readings) / len(readings))
    # the embodied share over the chip-hours as drawn (the readings' geometric mean)
    embodied = account(run.scaled(hours_ / run_hours) if run_hours else run, site, hw).embodied_co2e_kg if hw is not None else None
    if embodied is None and site.embodied != "excluded":
        notes.append(f"no embodied carbon figure for the search hardware ({label}): not counted")
    embodied = embodied or 0.0
    if spread != (1.0, 1.0):
        notes.append(f"search cost range {low:,.4g}..{high:,.4g} kgCO2e (90%): the search's average power is not measured "
                     + (f"(a fleet average under ML load, x/÷ {spread_avg:g})" if spread[1] > 1
                        else f"(between {tdp_low:.0%} of its TDP and its TDP)")
                     + ("; the record reads several ways (drawn equally)" if readings else ""))
    return SearchCost(point, low, high, kwh * point / kg if kg else kwh, embodied, desc, label,
                      kg_per_facility_kwh(site), facility_kw(watts, site), site, inputs + [power_in, *site.inputs], notes,
                      distribution=total if total.is_range else None, readings=readings)


def _uncertain_factors(preset, chip_hours: float, spread: tuple[float, float], site: Site,
                       notes: list[str]) -> tuple[list[Dist], list[dict[str, Any]]]:
    """The cost's independent uncertain factors, each relative to the point the cost was computed at: the record's
    readings of its chip-hours, the average power's spread, and the site's stated ranges (a preset's estimated
    site; a site the user gave has none)."""
    factors: list[Dist] = []
    readings: list[dict[str, Any]] = []
    if preset is not None and preset.readings:
        readings = [dict(r) for r in preset.readings]
        factors.append(mixture([fixed(r["chip_hours"] / chip_hours) for r in readings]))
        notes.append("search chip-hours read several ways, each drawn with equal weight: "
                     + "; ".join(f"{r['chip_hours']:,.0f} ({r['reading']})" for r in readings))
    if spread != (1.0, 1.0):
        factors.append(Dist("log-uniform", spread[0], spread[1]))
    if site.pue_range:  # the preset's own estimated site (target/resolve.py sets the ranges only then)
        pue_lo, pue_hi, src = site.pue_range
        factors.append(Dist("triangular", pue_lo / site.pue, pue_hi / site.pue, 1.0))  # the stated value most likely
        notes.append(f"search site PUE {pue_lo:g}..{pue_hi:g} ({src})")
    if site.grid_range:
        grid_lo, grid_hi, src = site.grid_range
        factors.append(Dist("triangular", grid_lo / site.grid_gco2e_per_kwh, grid_hi / site.grid_gco2e_per_kwh, 1.0))
        notes.append(f"search site grid {grid_lo:g}..{grid_hi:g} gCO2e/kWh ({src})")
    return factors, readings


def _planned(path: Any) -> SearchCost:
    """A search planned with `plan-search --out`: its total CO2e with its lognormal band, at its own site."""
    from ..load.search_plan_file import read_plan

    d = read_plan(path)
    t = d["total"]
    kg, kwh, hours = float(t["co2e_kg"]), float(t["energy_kwh"]), float(t["chip_hours"])
    desc = (f"planned search ({d.get('population') or 0:,} candidates, {d.get('schedule') or '?'}, on {d.get('hardware') or '?'}; "
            f"{d.get('basis') or ''}; {hours:,.4g} chip-hours)")  # the cost and its band: said by whoever quotes it
    inputs = [{"name": "search_plan", "value": str(path), "unit": "", "source": "plan-search --out", "kind": "projected"
               if d.get("basis") == "projected" else "stated"}]
    return SearchCost(kg, float(t["low_kg"]), float(t["high_kg"]), kwh, float(d.get("embodied_kg") or 0.0), desc,
                      str(d.get("hardware") or ""), kg_per_kwh(float(d.get("grid_gco2e_per_kwh") or 0)), kwh / hours if hours else None,
                      None, inputs, list(d.get("notes") or [])[:3], log_sigma=float(t.get("log_sigma") or 0.0) or None)


def budget_kw_per_chip(sc: SearchCost, hw: HardwareProfile | None, fallback: Site) -> tuple[str, float | None, list[str]]:
    """(chip, facility kW per chip, notes) to express a search budget in chip-hours: of `hw` when given (its
    average power under ML load, at the search's PUE), else of the search's own chip. A search without a site
    (a cost stated in kgCO2e) is charged at `fallback`'s PUE, and a note says so."""
    if hw is None:
        return sc.chip, sc.kw_per_chip_hour, []
    notes = []
    at = sc.site if sc.site is not None else fallback
    if sc.site is None:
        notes.append(f"the search's site is not known: its budget in {hw.name} chip-hours assumes PUE {at.pue:g} ({fallback.label})")
    return hw.name, facility_kw(choose_power(hw, None, None)[0], at), notes
