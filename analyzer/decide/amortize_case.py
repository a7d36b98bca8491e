"""The use case `amortize(request) -> AmortizeResult`, and the one step both it and `analyze` end in.

`amortize_pair` turns a search's cost, a pair's per-item CO2e (stated or projected, with the projections' error
model) and a reuse scenario into the Monte Carlo amortisation (decide/amortize.py), the largest search budget
expressed in chip-hours of a stated chip. `amortize` (the command) and `analyze` (the main job) both call it, so
retraining and per-deployment costs, the budget's chip and the embodied shares are handled once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..account.search_cost import ChipHours, SearchCost, budget_kw_per_chip, search_cost
from ..dist import Dist, fixed, parse_dist
from ..errors import AnalyzerError, UsageError, param
from ..profiles import ProfileSet
from ..target import Site, SiteRequest, TargetRequest, resolve_site, resolve_target
from .amortize import AmortizeInputs, Amortization, amortize, parse_reuse, reuse_defaults


@dataclass(frozen=True)
class PairCosts:
    """The pair's per-item CO2e (g) and embodied share (g), with the projections' log-error: shared by both models
    (it scales the saving) and each model's own. A stated side carries no error."""

    baseline_g_per_item: Dist
    nas_g_per_item: Dist
    baseline_embodied_g_per_item: Dist = fixed(0)
    nas_embodied_g_per_item: Dist = fixed(0)
    log_sigma_shared: float = 0.0
    log_sigma_baseline: float = 0.0
    log_sigma_nas: float = 0.0


@dataclass(frozen=True)
class Amortized:
    """What `amortize_pair` gives: the inputs drawn from (sensitivities re-use them), the amortisation, the chip its
    largest budget is expressed in ('' when none) and the notes of choosing it."""

    inputs: AmortizeInputs
    amortization: Amortization
    budget_hardware: str
    notes: list[str]


def amortize_pair(ps: ProfileSet, sc: SearchCost, pair: PairCosts, reuse: dict[str, Dist], budget_hardware: str | None,
                  site: Site, samples: int, seed: int) -> Amortized:
    """Amortise the search `sc` over `reuse` (parse_reuse's keys) for `pair`; the largest budget in chip-hours of
    `budget_hardware` (default: the search's chip, at `site` when the search names no power)."""
    bhw = ps.get("hardware", budget_hardware) if budget_hardware else None
    chip, kw, notes = budget_kw_per_chip(sc, bhw, site)
    chip = chip if (bhw is not None or chip in ps.hardware) else ""
    inputs = AmortizeInputs(nas_cost_kg=sc.dist(), baseline_g_per_item=pair.baseline_g_per_item, nas_g_per_item=pair.nas_g_per_item,
                            baseline_embodied_g_per_item=pair.baseline_embodied_g_per_item,
                            nas_embodied_g_per_item=pair.nas_embodied_g_per_item, search_embodied_kg=fixed(sc.embodied_kg),
                            log_sigma_shared=pair.log_sigma_shared, log_sigma_baseline=pair.log_sigma_baseline,
                            log_sigma_nas=pair.log_sigma_nas, budget_kg_per_kwh=sc.kg_per_kwh,
                            budget_kw_per_chip_hour=kw if chip else None, budget_hardware=chip, **reuse)
    return Amortized(inputs, amortize(inputs, samples=samples, seed=seed), chip, list(notes))


@dataclass(frozen=True)
class SearchRequest:
    """A search's cost as stated: a preset, kgCO2e, facility kWh, chips x hours on a hardware, or a plan file; and
    where it ran (None: the preset's own site, else the stated defaults)."""

    preset: str | None = None
    cost_kg: float | None = None
    cost_kwh: float | None = None
    hardware: str | None = None
    count: float | None = None
    hours: float | None = None
    pue: float | None = None
    datacenter: str | None = None
    grid: float | None = None
    region: str | None = None
    plan: str | None = None


@dataclass(frozen=True)
class AmortizeRequest:
    """`amortize`: the search, each side's per-item CO2e stated (gCO2e, number or range) or projected from a model
    file at `target`, the reuse scenario (texts: numbers or ranges; None: profiles/defaults.toml [reuse]), the chip
    the largest budget is expressed in, and the Monte Carlo's size and seed."""

    search: SearchRequest = SearchRequest()
    baseline_co2e_g: str | None = None
    nas_co2e_g: str | None = None
    baseline_model: str | None = None
    nas_model: str | None = None
    target: TargetRequest = TargetRequest()
    items_per_day: str | None = None
    deployments: str | None = None
    horizon_days: str | None = None
    horizon_years: str | None = None
    growth: str = "0"
    per_deployment_cost_kg: str = "0"
    retrains: str = "0"
    budget_hardware: str | None = None
    samples: int = 20_000
    seed: int = 0


@dataclass(frozen=True)
class AmortizeResult:
    """The amortisation as a record (Amortization.to_dict, with the search's inputs and the budget's chip)."""

    record: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self.record


def failed_error(evaluation: Any) -> AnalyzerError:
    """A failed evaluation's error, to raise again (its parameters still marked, its exit code kept)."""
    e = AnalyzerError(evaluation.error)
    e.exit_code = evaluation.exit_code
    return e


def cost_search(ps: ProfileSet, s: SearchRequest, **boundaries: str | None) -> SearchCost:
    """The search's cost from its request (account/search_cost.py), at the given accounting boundaries."""
    return search_cost(ps, preset=s.preset, cost_kg=s.cost_kg, cost_kwh=s.cost_kwh, chips=ChipHours(s.hardware, s.count, s.hours),
                       plan=s.plan, site=SiteRequest(s.pue, s.datacenter, s.grid, s.region, **boundaries))


def _side(ps: ProfileSet, req: AmortizeRequest, side: str, target_notes: tuple[list, list]) -> tuple[Dist, Dist, float, float]:
    """(g/item, embodied g/item, shared log-sigma, own log-sigma) of one side, stated or projected."""
    from ..engine import evaluate
    from ..load.manifest import expand_model_args

    stated, model = getattr(req, f"{side}_co2e_g"), getattr(req, f"{side}_model")
    if (stated is None) == (model is None):
        raise UsageError(f"give exactly one of {param(side + '_co2e_g')} and {param(side + '_model')}")
    if stated is not None:
        return parse_dist(stated, f"{side}_co2e_g"), fixed(0), 0.0, 0.0
    targets, notes = target_notes
    if not targets:
        targets.append(resolve_target(ps, req.target))
        notes += [n for n in targets[0].notes if n not in notes]
    e = evaluate(expand_model_args([Path(model)]), targets[0])[0]
    if not e.ok:
        raise failed_error(e)
    return fixed(e.co2e_g_per_item), fixed(e.embodied_co2e_g_per_item or 0.0), e.energy_log_sigma_shared, e.energy_log_sigma_model


def amortize_search(ps: ProfileSet, req: AmortizeRequest) -> AmortizeResult:
    """Is the search worth its emissions over the reuse? See decide/amortize.py for the formulas."""
    sc = cost_search(ps, req.search)
    notes = list(sc.notes)
    targets: list = []
    base = _side(ps, req, "baseline", (targets, notes))
    nas = _side(ps, req, "nas", (targets, notes))
    shared = nas[2] if req.baseline_model is not None and req.nas_model is not None else 0.0  # a stated side shares none
    pair = PairCosts(base[0], nas[0], base[1], nas[1], shared, base[3], nas[3])
    site = targets[0].site if targets else resolve_site(ps, prefix="nas_", who="search")
    ipd, dep, hdays, hyears, taken = reuse_defaults(req.items_per_day, req.deployments, req.horizon_days, req.horizon_years)
    reuse = parse_reuse(ipd, dep, hdays, hyears, req.growth, req.per_deployment_cost_kg, req.retrains)
    done = amortize_pair(ps, sc, pair, reuse, req.budget_hardware, site, req.samples, req.seed)
    a = done.amortization
    a.notes[:0] = notes + done.notes + taken + [f"NAS cost: {sc.description} = {sc.cost_kg:,.4g} kgCO2e"
                                                + (" (point: inputs at their centres; the spent row gives the draws' median)"
                                                   if a.uncertainty else "")]
    d = a.to_dict() | {"nas_inputs": sc.inputs}
    d["inputs"]["budget_hardware"] = done.budget_hardware
    if targets:  # the serving site as resolved, echoed under the table
        d["target"] = targets[0].to_dict()
    return AmortizeResult(d)
