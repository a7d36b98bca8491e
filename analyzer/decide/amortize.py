"""NAS amortisation: does a one-off search (plus per-deployment costs) pay back through cheaper inference
over the reuse horizon? Closed forms for the point estimate, Monte Carlo (seeded) for ranges.

Items served by time T (days), r items/day per deployment, D deployments, growth g per year (compound):
  N(T) = r D T                                     (g = 0)
  N(T) = r D Y / ln(1+g) ((1+g)^(T/Y) - 1)         (g > 0; Y = 365.25 days a year)
Spent S = NAS cost + D x per-deployment cost x (1 + retrains per deployment)       [kg]
Saved per item s = baseline - NAS model                                             [g/item]
  break_even_items = 1000 S / s;  break_even_days = N^-1(break_even_items)
  net_savings_kg   = N(horizon) s / 1000 - S;  savings_ratio = N(horizon) s / 1000 / S
  max_nas_budget_kg = max(0, N(horizon) s / 1000 - deployment costs): the largest search cost that still
                      pays back (none when nothing is saved)
  with embodied: the serving hardware's embodied share per item enters s, and the search hardware's
                 embodied share (of its life used by the search) enters S.
Uncertainty: every input may be a range; projected per-item CO2e carries the projection's error model,
  baseline x exp(sigma_shared z_s + sigma_b z_b) and NAS model x exp(sigma_shared z_s + sigma_n z_n), so the
  error the two projections share scales the saving rather than blurring its sign. The verdict is three-valued:
  pays back when P(net saving > 0) >= 90%, does not when <= 10%, undetermined in between; its words follow the
  IPCC's calibrated likelihood scale (Mastrandrea et al. 2010, AR5 guidance note): "unlikely to pay back (26%)".
What the probability rests on: N is linear in the daily volume r, so the search pays back exactly when r exceeds
  the break-even volume r* = break_even_items x r / N(T). r* is drawn with everything else (its P5/P50/P95 is
  the break-even reuse with its own uncertainty), and P(net saving | r) = P(r* < r): the curve of P against the
  daily volume, free of the stated reuse range, next to P over that range.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..dist import Dist, fixed
from ..errors import UsageError, param
from ..units import DAYS_PER_YEAR, G_PER_KG


@dataclass(frozen=True)
class AmortizeInputs:
    nas_cost_kg: Dist
    baseline_g_per_item: Dist
    nas_g_per_item: Dist
    items_per_day: Dist  # per deployment
    deployments: Dist = fixed(1)
    horizon_days: Dist = fixed(DAYS_PER_YEAR)
    growth_per_year: Dist = fixed(0)
    per_deployment_cost_kg: Dist = fixed(0)
    retrains_per_deployment: Dist = fixed(0)
    baseline_embodied_g_per_item: Dist = fixed(0)
    nas_embodied_g_per_item: Dist = fixed(0)
    search_embodied_kg: Dist = fixed(0)  # the search hardware's embodied share
    # the projections' error model (log space): shared by both models, and each model's own
    log_sigma_shared: float = 0.0
    log_sigma_baseline: float = 0.0
    log_sigma_nas: float = 0.0
    # to express the budget in energy and hours of a stated hardware: kgCO2e per kWh and kW per chip (x PUE)
    budget_kg_per_kwh: float | None = None
    budget_kw_per_chip_hour: float | None = None
    budget_hardware: str = ""


GROWTH_EPS = 1e-9


def items_served(rate: Any, deployments: Any, days: Any, growth: Any) -> Any:
    """N(T), vectorised; growth per year, compound."""
    rate, deployments, days, growth = map(np.asarray, (rate, deployments, days, growth))
    compounding = growth > GROWTH_EPS  # below this, (1+g)^t is 1 to double precision over any horizon
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lg = np.where(compounding, np.log1p(growth), 1.0)
        grown = rate * deployments * DAYS_PER_YEAR * np.expm1(lg * days / DAYS_PER_YEAR) / lg
    return np.where(compounding, grown, rate * deployments * days)


def days_to_serve(items: Any, rate: Any, deployments: Any, growth: Any) -> Any:
    """N^-1: days until `items` have been served."""
    items, rate, deployments, growth = map(np.asarray, (items, rate, deployments, growth))
    compounding = growth > GROWTH_EPS
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lg = np.where(compounding, np.log1p(growth), 1.0)
        grown = DAYS_PER_YEAR * np.log1p(items * lg / (DAYS_PER_YEAR * rate * deployments)) / lg
        flat = items / (rate * deployments)
    return np.where(compounding, grown, flat)


def _evaluate(v: dict[str, Any]) -> dict[str, Any]:
    """All outputs for arrays (or scalars) of inputs."""
    dep_cost = v["deployments"] * v["per_deployment_cost_kg"] * (1 + v["retrains_per_deployment"])
    spent = v["nas_cost_kg"] + dep_cost
    save = v["baseline_g_per_item"] - v["nas_g_per_item"]
    save_emb = save + v["baseline_embodied_g_per_item"] - v["nas_embodied_g_per_item"]
    n = items_served(v["items_per_day"], v["deployments"], v["horizon_days"], v["growth_per_year"])
    gross = n * save / G_PER_KG
    with np.errstate(divide="ignore", invalid="ignore"):
        be_items = np.where(save > 0, spent * G_PER_KG / np.where(save > 0, save, 1), np.inf)
        be_days = np.where(save > 0, days_to_serve(be_items, v["items_per_day"], v["deployments"], v["growth_per_year"]), np.inf)
        ratio = np.where(spent > 0, gross / np.where(spent > 0, spent, 1), np.inf)
        nas_share = np.where(n > 0, spent * G_PER_KG / np.where(n > 0, n, 1), np.inf)
    return {"savings_g_per_item": save, "spent_kg": spent, "items_over_horizon": n, "gross_savings_kg": gross,
            "net_savings_kg": gross - spent,
            "net_savings_with_embodied_kg": n * save_emb / G_PER_KG - spent - v["search_embodied_kg"],
            "break_even_items": be_items, "break_even_days": be_days, "savings_ratio": ratio,
            "max_nas_budget_kg": np.maximum(gross - dep_cost, 0.0), "nas_share_g_per_item": nas_share}


@dataclass(frozen=True)
class Amortization:
    savings_g_per_item: float
    spent_kg: float
    items_over_horizon: float
    gross_savings_kg: float
    net_savings_kg: float
    net_savings_with_embodied_kg: float
    break_even_items: float | None  # None: never (the NAS model saves nothing per item)
    break_even_days: float | None
    savings_ratio: float | None
    max_nas_budget_kg: float  # >= 0; 0 when nothing is saved
    max_nas_budget_kwh: float | None
    max_nas_budget_chip_hours: float | None
    intensity_g_per_item: dict[str, float]  # NAS model: operational only (SCI for AI) and with the amortised NAS share
    verdict: str
    uncertainty: dict[str, dict[str, float | None]] | None = None  # P5/P50/P95 per output; None: never / no finite value
    p_positive: float | None = None
    outcome: str = ""  # pays back | does not pay back | undetermined | never pays back
    words: str = ""  # the likelihood in words (IPCC scale): "unlikely to pay back"
    # the daily volume per deployment at which the search pays back over the horizon: point, and P5/P50/P95
    break_even_items_per_day: dict[str, float | None] = field(default_factory=dict)
    # P(net saving) with the daily volume fixed: at the stated range's low end, point and high end, and a curve
    p_given_items_per_day: dict[str, Any] = field(default_factory=dict)
    samples: int = 0
    seed: int | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The record; beside each point field that was drawn, `<field>_median` and `<field>_band` ([P5, P95]),
        what the terminal shows, and `values` saying which is which (docs/method/amortisation.md)."""
        d = asdict(self)
        for k, u in (self.uncertainty or {}).items():
            d[f"{k}_median"], d[f"{k}_band"] = u.get("p50"), [u.get("p5"), u.get("p95")]
        d["values"] = VALUES_NOTE if self.uncertainty else POINT_NOTE
        return d


VALUES_NOTE = ("each bare quantity (spent_kg, net_savings_kg, ...) is the point value, every input at its centre (a search "
               "read several ways at the readings' mixture centre); <quantity>_median and <quantity>_band ([P5, P95]) are "
               "the Monte Carlo draws' median and 90% band, the values the terminal and the verdict give")
POINT_NOTE = "every quantity is a point value (no input was a range, nothing was drawn)"


_KEYS = ("nas_cost_kg", "baseline_g_per_item", "nas_g_per_item", "items_per_day", "deployments", "horizon_days",
         "growth_per_year", "per_deployment_cost_kg", "retrains_per_deployment", "baseline_embodied_g_per_item",
         "nas_embodied_g_per_item", "search_embodied_kg")
UNDETERMINED = (0.1, 0.9)  # P(net saving) between these: the sign of the net saving is not established


def _finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


MAX_SAMPLES = 1_000_000  # memory grows with the samples (about 1 kB each): a million is plenty for P5/P95


def amortize(a: AmortizeInputs, samples: int = 10_000, seed: int = 0) -> Amortization:
    if not 100 <= samples <= MAX_SAMPLES:
        raise UsageError(f"{param('samples')} {samples}: must be between 100 and {MAX_SAMPLES:,}")
    if not 0 <= seed < 2**32:
        raise UsageError(f"{param('seed')} {seed}: must be an integer from 0 to 2^32 - 1")
    dists: dict[str, Dist] = {k: getattr(a, k) for k in _KEYS}
    if dists["items_per_day"].high <= 0 or dists["deployments"].high <= 0 or dists["horizon_days"].high <= 0:
        raise UsageError("items per day, deployments and horizon must be > 0")
    point = _evaluate({k: d.point for k, d in dists.items()})
    p = {k: float(v) for k, v in point.items()}
    save = p["savings_g_per_item"]
    notes = []
    if save <= 0:
        notes.append("at the point projection the NAS model saves nothing on this target, so there the search "
                     "never pays back; the probability of a net saving counts the draws of the projections' error "
                     "in which it does save")
    kwh = hours = None
    if a.budget_kg_per_kwh:
        kwh = max(p["max_nas_budget_kg"], 0.0) / a.budget_kg_per_kwh
        if a.budget_kw_per_chip_hour:
            hours = kwh / a.budget_kw_per_chip_hour
    unc = p_pos = None
    n = 0
    sigmas = (a.log_sigma_shared, a.log_sigma_baseline, a.log_sigma_nas)
    if any(d.is_range for d in dists.values()) or any(sigmas):
        rng = np.random.default_rng(seed)
        n = samples
        draws = {k: d.sample(rng, n) for k, d in dists.items()}
        if any(sigmas):
            z_shared = rng.standard_normal(n)
            draws["baseline_g_per_item"] = draws["baseline_g_per_item"] * np.exp(sigmas[0] * z_shared + sigmas[1] * rng.standard_normal(n))
            draws["nas_g_per_item"] = draws["nas_g_per_item"] * np.exp(sigmas[0] * z_shared + sigmas[2] * rng.standard_normal(n))
        out = _evaluate(draws)
        unc = {}
        for k in ("net_savings_kg", "break_even_days", "break_even_items", "savings_ratio", "max_nas_budget_kg",
                  "savings_g_per_item", "spent_kg", "net_savings_with_embodied_kg"):
            with np.errstate(invalid="ignore"):  # inf (never pays back) propagates; reported as None
                pct = np.percentile(out[k], [5, 50, 95])
            unc[k] = {"p5": _finite(pct[0]), "p50": _finite(pct[1]), "p95": _finite(pct[2])}
        p_pos = float(np.mean(out["net_savings_kg"] > 0))
        be_rate, conditional = _break_even_rate(out, draws, dists["items_per_day"])
    else:
        be_rate = {"p5": None, "p50": None, "p95": None}
        conditional = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        point_rate = float(p["break_even_items"] * dists["items_per_day"].point / p["items_over_horizon"]) \
            if p["items_over_horizon"] > 0 else math.inf
    be_rate["point"] = _finite(point_rate)
    outcome, verdict = _verdict(p, p_pos, None if unc is None else unc["net_savings_kg"]["p50"])
    words = likelihood_words(p_pos) if p_pos is not None else outcome
    return Amortization(
        savings_g_per_item=save, spent_kg=p["spent_kg"], items_over_horizon=p["items_over_horizon"],
        gross_savings_kg=p["gross_savings_kg"], net_savings_kg=p["net_savings_kg"],
        net_savings_with_embodied_kg=p["net_savings_with_embodied_kg"],
        break_even_items=_finite(p["break_even_items"]), break_even_days=_finite(p["break_even_days"]),
        savings_ratio=_finite(p["savings_ratio"]), max_nas_budget_kg=p["max_nas_budget_kg"], max_nas_budget_kwh=kwh,
        max_nas_budget_chip_hours=hours, outcome=outcome, words=words, break_even_items_per_day=be_rate,
        p_given_items_per_day=conditional,
        intensity_g_per_item={"operational (SCI for AI: training excluded)": a.nas_g_per_item.point,
                              "with amortised NAS share": a.nas_g_per_item.point + p["nas_share_g_per_item"]},
        verdict=verdict, uncertainty=unc, p_positive=p_pos, samples=n, seed=seed if n else None,
        inputs={k: d.text() for k, d in dists.items()}, notes=notes)


def reuse_defaults(items_per_day: str | None, deployments: str | None, horizon_days: str | None = None,
                   horizon_years: str | None = None) -> tuple[str, str, str | None, str | None, list[str]]:
    """The reuse scenario's texts with profiles/defaults.toml [reuse] where one is not given, and a note for each
    default taken: analyze and amortize fall back on the same scenario."""
    from ..profiles import defaults

    d, notes = defaults()["reuse"], []

    def taken(key: str, what: str, unit: str = "") -> str:
        notes.append(f"no {what} given: {d[key].value}{unit} ({d[key].why})")
        return str(d[key].value)

    if items_per_day is None:
        items_per_day = taken("items_per_day", "daily volume", " items per day per deployment")
    if deployments is None:
        deployments = taken("deployments", "number of deployments")
    if horizon_days is None and horizon_years is None:
        horizon_years = taken("horizon_years", "horizon", " years")
    return items_per_day, deployments, horizon_days, horizon_years, notes


def parse_reuse(items_per_day: str, deployments: str = "1", horizon_days: str | None = None, horizon_years: str | None = None,
                growth: str = "0", per_deployment_cost_kg: str = "0", retrains: str = "0") -> dict[str, Dist]:
    """The reuse scenario from its option texts (numbers or ranges), the horizon in days."""
    from ..dist import parse_dist

    if horizon_years is not None and horizon_days is not None:
        raise UsageError(f"give one of {param('horizon_days')} and {param('horizon_years')}")
    if horizon_years is not None:
        y = parse_dist(horizon_years, "horizon_years", allow_zero=False)
        days = Dist(y.kind, y.low * DAYS_PER_YEAR, y.high * DAYS_PER_YEAR, None if y.mode is None else y.mode * DAYS_PER_YEAR)
    else:
        days = parse_dist(horizon_days or str(DAYS_PER_YEAR), "horizon_days", allow_zero=False)
    return {"items_per_day": parse_dist(items_per_day, "inferences_per_day", allow_zero=False),
            "deployments": parse_dist(deployments, "deployments", allow_zero=False), "horizon_days": days,
            "growth_per_year": parse_dist(growth, "growth"), "per_deployment_cost_kg": parse_dist(per_deployment_cost_kg, "per_deployment_cost_kg"),
            "retrains_per_deployment": parse_dist(retrains, "retrains")}


# the IPCC's calibrated likelihood language (Mastrandrea et al. 2010, Guidance Note for Lead Authors of the IPCC
# AR5 on Consistent Treatment of Uncertainties, Table 1): P at or above each bound, the words for it
LIKELIHOOD = ((0.99, "virtually certain to pay back"), (0.90, "very likely to pay back"), (0.66, "likely to pay back"),
              (0.33, "about as likely as not to pay back"), (0.10, "unlikely to pay back"), (0.01, "very unlikely to pay back"),
              (0.0, "exceptionally unlikely to pay back"))


def likelihood_words(p: float) -> str:
    """P(net saving) in words that match it (LIKELIHOOD)."""
    return next(w for bound, w in LIKELIHOOD if p >= bound)


def _break_even_rate(out: dict[str, Any], draws: dict[str, Any], rate: Dist) -> tuple[dict[str, float | None], dict[str, Any]]:
    """(P5/P50/P95 of the break-even daily volume r*, P(net saving) at fixed volumes): see the module docstring."""
    n = out["items_over_horizon"]
    with np.errstate(divide="ignore", invalid="ignore"):
        r_star = np.where((n > 0) & np.isfinite(out["break_even_items"]),
                          out["break_even_items"] * draws["items_per_day"] / np.where(n > 0, n, 1), np.inf)
        pct = np.percentile(r_star, [5, 50, 95])
    be = {"p5": _finite(pct[0]), "p50": _finite(pct[1]), "p95": _finite(pct[2])}
    at = {"low": rate.low, "point": rate.point, "high": rate.high}
    lo = max(min(rate.low, be["p5"] or rate.low) / 10, 1e-12)
    hi = max(rate.high, be["p95"] or rate.high) * 10
    grid = np.geomspace(lo, hi, 13)
    conditional = {**{f"p_at_{k}": float(np.mean(r_star < v)) for k, v in at.items()},
                   **{f"items_per_day_{k}": float(v) for k, v in at.items()},
                   "curve": [[float(r), float(np.mean(r_star < r))] for r in grid]}
    return be, conditional


def _verdict(p: dict[str, float], p_pos: float | None, p50: float | None = None) -> tuple[str, str]:
    """(outcome, sentence). With uncertainty: three-valued on P(net saving); without: the point estimate."""
    save, net = p["savings_g_per_item"], p["net_savings_kg"]
    if p_pos is None:
        if save <= 0:
            return "never pays back", "never pays back (no per-item saving)"
        if net > 0:
            return "pays back", (f"pays back after {p['break_even_days']:.3g} days ({p['break_even_items']:.3g} items); net saving "
                                 f"{net:.4g} kgCO2e over the horizon, {p['savings_ratio']:.3g}x what was spent")
        return "does not pay back", "does not pay back within the horizon"
    lo, hi = UNDETERMINED
    if p_pos >= hi:
        outcome = "pays back"
    elif p_pos <= lo:
        outcome = "does not pay back"
    else:
        outcome = "undetermined"
    median = net if p50 is None else p50
    detail = (f"median net saving {median:.4g} kgCO2e over the horizon" if save > 0 else "no per-item saving at the point estimate")
    return outcome, f"{likelihood_words(p_pos)} ({p_pos:.0%} probability of a net saving; {detail})"


def strategies_break_even(one_off_kg: float, per_scenario_after_kg: float, per_scenario_search_kg: float) -> float | None:
    """Once-for-All analysis: a one-off search-and-train plus a per-scenario cost, vs a search per scenario.
    Break-even N solves one_off + N x after = N x search: N = one_off / (search - after); None if never."""
    gain = per_scenario_search_kg - per_scenario_after_kg
    return one_off_kg / gain if gain > 0 else None
