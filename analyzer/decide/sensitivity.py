"""What would flip the verdict: for each assumption, the value at which the point estimate of the net saving
changes sign (there P(net saving) is about 50%), or 'never within the range tried', and the net saving at
the worse and the better end of a plausible range (the tornado chart). Continuous assumptions are solved by bisection (in log
space) on the amortisation's own closed form; discrete ones (batch, runtime, dtype, hardware) re-project
the pair."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

from .amortize import items_served
from ..units import DAYS_PER_YEAR, G_PER_KG
from ..words import plain


@dataclass(frozen=True)
class Sensitivity:
    name: str
    param: str  # the parameter (analyze's option) that sets the assumption
    base: str
    flip: str | None  # the value where the net saving changes sign; None: never within `tried`
    tried: str
    low: str  # the worse end of the plausible range: the one with the lower net saving
    high: str  # the better end: the higher net saving (so every row reads the same way, whatever the value's order)
    net_low_kg: float
    net_high_kg: float
    flip_statistic: str = "point"  # point: where the net saving at the others' medians changes sign; median: the
    # median of the amortisation's break-even draws (the daily volume: the figure the verdict prints)

    @property
    def swing_kg(self) -> float:
        return abs(self.net_high_kg - self.net_low_kg)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"swing_kg": self.swing_kg}


@dataclass(frozen=True)
class Scenario:
    """Point values of the amortisation, in the units the options use."""

    saving_g_per_item: float  # baseline - NAS model, operational
    search_kg: float
    items_per_day: float
    deployments: float
    horizon_days: float
    growth_per_year: float = 0.0
    deployment_costs_kg: float = 0.0

    def net_kg(self, **over: float) -> float:
        v = {**asdict(self), **over}
        n = float(items_served(v["items_per_day"], v["deployments"], v["horizon_days"], v["growth_per_year"]))
        return n * v["saving_g_per_item"] / G_PER_KG - v["search_kg"] - v["deployment_costs_kg"]


def _fmt(x: float) -> str:
    """In plain words (analyzer/words.plain): 1,455 kgCO2e, 32 million items/day, 0.5 years."""
    return plain(x)


def median_flip(s: Sensitivity, break_even: dict[str, float | None]) -> Sensitivity:
    """The daily volume's row with the verdict's break-even volume (the median of the draws) as its flip, so one
    quantity prints one value; unchanged when the draws never break even."""
    p50 = break_even.get("p50")
    if p50 is None:
        return s
    return replace(s, flip=_fmt(p50) + " items/day", flip_statistic="median")


def _root(f: Callable[[float], float], lo: float, hi: float) -> float | None:
    """x in [lo, hi] with f(x) = 0 by bisection in log space; None if f keeps its sign there."""
    a, b = math.log(lo), math.log(hi)
    fa, fb = f(lo), f(hi)
    if fa == 0:
        return lo
    if (fa > 0) == (fb > 0):
        return None
    for _ in range(80):
        m = (a + b) / 2
        fm = f(math.exp(m))
        if (fm > 0) == (fa > 0):
            a, fa = m, fm
        else:
            b = m
    return math.exp((a + b) / 2)


def continuous(name: str, param: str, base: float, tried: tuple[float, float], ends: tuple[float, float],
               net_at: Callable[[float], float], unit: str = "") -> Sensitivity:
    flip = _root(net_at, *tried)
    worse, better = sorted(ends, key=net_at)
    return Sensitivity(name, param, _fmt(base) + unit, None if flip is None else _fmt(flip) + unit,
                       f"{_fmt(tried[0])} to {_fmt(tried[1])}{unit}", _fmt(worse) + unit, _fmt(better) + unit,
                       net_at(worse), net_at(better))


def discrete(name: str, param: str, base: str, values: list[str], net_at: Callable[[str], float | None]) -> Sensitivity | None:
    """Values in order of distance from the base; the flip is the first whose sign differs from the base's."""
    nets = {v: net_at(v) for v in values}
    nets = {v: n for v, n in nets.items() if n is not None}
    if base not in nets or len(nets) < 2:
        return None
    order = sorted(nets, key=lambda v: abs(values.index(v) - values.index(base)))
    flip = next((v for v in order if (nets[v] > 0) != (nets[base] > 0)), None)
    lo = min(nets, key=lambda v: nets[v])  # the worse end
    hi = max(nets, key=lambda v: nets[v])  # the better end
    return Sensitivity(name, param, base, flip, ", ".join(nets), lo, hi, nets[lo], nets[hi])


def scenario_sensitivities(sc: Scenario, ranges: dict[str, tuple[float, float]], serve_pue: float, serve_grid: float,
                           search_pue: float, search_grid: float) -> list[Sensitivity]:
    """The reuse, search-cost and site assumptions, each moved alone with the others at their point values."""
    ipd_lo, ipd_hi = ranges["items_per_day"]
    dep_lo, dep_hi = ranges["deployments"]
    yr_lo, yr_hi = ranges["horizon_years"]
    s_lo, s_hi = ranges["search_kg"]
    out = [
        continuous("daily volume per deployment", "inferences_per_day", sc.items_per_day, (ipd_lo / 1e3, ipd_hi * 1e3),
                   (ipd_lo, ipd_hi), lambda x: sc.net_kg(items_per_day=x), " items/day"),
        continuous("deployments", "deployments", sc.deployments, (1.0, 1e5), (dep_lo, dep_hi), lambda x: sc.net_kg(deployments=x)),
        continuous("horizon", "horizon_years", sc.horizon_days / DAYS_PER_YEAR, (0.01, 30.0), (yr_lo, yr_hi),
                   lambda x: sc.net_kg(horizon_days=x * DAYS_PER_YEAR), " years"),
        continuous("search cost", "nas_cost_kg", sc.search_kg, (max(sc.search_kg, 1e-6) / 1e4, max(sc.search_kg, 1e-6) * 1e4),
                   (s_lo, s_hi), lambda x: sc.net_kg(search_kg=x), " kgCO2e"),
        continuous("PUE where served", "pue", serve_pue, (1.0, 3.0), (1.1, 2.0),
                   lambda x: sc.net_kg(saving_g_per_item=sc.saving_g_per_item * x / serve_pue)),
        continuous("grid where served", "grid", serve_grid, (1.0, 2000.0), (20.0, 800.0),
                   lambda x: sc.net_kg(saving_g_per_item=sc.saving_g_per_item * x / serve_grid) if serve_grid > 0 else -sc.search_kg,
                   " gCO2e/kWh"),
        continuous("PUE where the search ran", "nas_pue", search_pue, (1.0, 3.0), (1.1, 2.0),
                   lambda x: sc.net_kg(search_kg=sc.search_kg * x / search_pue)),
        continuous("grid where the search ran", "nas_grid", search_grid, (1.0, 2000.0), (20.0, 800.0),
                   lambda x: sc.net_kg(search_kg=sc.search_kg * x / search_grid) if search_grid > 0 else sc.net_kg(), " gCO2e/kWh"),
    ]
    return out
