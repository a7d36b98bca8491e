"""The main job as a library call: `analyze(request) -> Analysis`.

Profile and project every candidate where it would be served, rank them, pair the baseline with the
NAS-found model that does the same job (comparable accuracy), cost the search where it ran, amortise it over
the stated reuse with every uncertainty in one Monte Carlo (the projections' correlated error, the reuse
ranges, the search-cost range), give a three-valued verdict with P(net saving), and say what would flip it.
The result is a frozen, versioned record; terminal tables and the HTML report render from it alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from ..account.search_cost import search_cost
from ..checks import check_instance
from ..dist import Dist, fixed, parse_dist
from ..errors import AnalyzerError, UsageError, param
from ..load.manifest import entries_for, expand_model_args
from ..profiles import ProfileSet, defaults
from ..project import saving_band
from ..records import Evaluation
from ..target import SiteRequest, Target, TargetRequest, resolve_site, resolve_target, serving_target
from ..units import DAYS_PER_YEAR
from .amortize_case import PairCosts, amortize_pair
from .pairing import choose_pair, recipes
from .sensitivity import Sensitivity
from .sweeps import Amortised, Reevaluation, pair_sensitivities
from .verdict import build_verdict, caveats

PER_THOUSAND = 1000.0  # a decoder's item in the amortisation: 1,000 output tokens
SCHEMA_VERSION = 2  # 2: projections are the engine's evaluations; sensitivities name parameters
MAX_ANALYSIS_BYTES = 64 * 1024 * 1024  # a saved analysis holds each candidate's projection: ~30 kB a candidate
DEFAULT_FOLDER = "models"


@dataclass(frozen=True)
class AnalysisRequest:
    """Everything `analyze` needs; defaults are a serving scenario a team would recognise, all printed."""

    folder: str = "models"
    baseline: str | None = None
    nas_model: str | None = None
    accuracy_tolerance: float = 0.5  # top-1 points
    hardware: str | None = None  # None: the serving default (profiles/defaults.toml [serving]), said in the notes
    dtype: str | None = None
    runtime: str | None = None
    batch: int | None = None
    pue: float | None = None
    datacenter: str | None = None
    grid: float | None = None
    region: str | None = None
    net: bool = False
    batch_norm: str = "auto"  # batch norms an inference export folded: unfolded where PyTorch runs them
    utilization: float | None = None  # the serving hardware's busy share (default: profiles/defaults.toml [serving])
    power_boundary: str | None = None  # chip | server, serving and search alike (default: [boundary])
    embodied_boundary: str | None = None  # chip | card | server, serving and search alike
    items_per_day: str = "1e6..1e8:log"
    deployments: str = "10"
    horizon_years: str = "1..3"
    growth: str = "0"
    per_deployment_cost_kg: str = "0"  # fine-tuning or retraining per deployment, kgCO2e (number or range)
    retrains: str = "0"  # further retraining runs per deployment, each costing per_deployment_cost_kg
    nas_preset: str | None = None
    nas_cost_kg: float | None = None
    nas_pue: float | None = None
    nas_datacenter: str | None = None
    nas_grid: float | None = None
    nas_region: str | None = None
    budget_hardware: str | None = None  # default: the search's chip
    objective: str = "co2e"
    max_latency_ms: float | None = None
    min_accuracy: float | None = None
    samples: int = 20_000
    seed: int = 0
    sensitivity: bool = True
    search_plan: str | None = None  # a plan-search --out file: the search's cost and its band
    search_run: str | None = None  # a tracked run (id, name or log): the search's measured cost and its band

    def __post_init__(self) -> None:
        from .record_schema import check_request

        check_request(self)  # every field by its name, as the CLI's flags name them


@dataclass(frozen=True)
class Analysis:
    schema_version: int
    request: dict[str, Any]
    target: dict[str, Any]  # where it is served: hardware, dtype, runtime, batch, PUE, grid, with their sources
    scenario: dict[str, str]  # reuse as stated (number or range text)
    ranking: list[dict[str, Any]]
    projections: list[dict[str, Any]]  # each candidate's Evaluation on the target
    pair: dict[str, Any]
    search: dict[str, Any]
    saving: dict[str, Any]  # per-item saving of the pair with its band
    amortization: dict[str, Any]
    verdict: dict[str, Any]  # outcome, p_net_saving, text
    sensitivities: list[dict[str, Any]]
    fourms: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Analysis":
        if not isinstance(d, dict):
            raise UsageError(f"not an analysis: a JSON {type(d).__name__}, not an object")
        from .record_schema import check_analysis

        if d.get("schema_version") != SCHEMA_VERSION:
            raise UsageError(f"analysis schema {d.get('schema_version')!r} is not {SCHEMA_VERSION}: re-run `analyze` with this version")
        check_analysis(d)  # every field the report renders, typed and in range: the first wrong one is named
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def _json_safe(x: Any) -> Any:
    """No NaN or Infinity in a JSON record: a quantity without a finite value is null (and said in words)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


def _years(text: str) -> tuple[Dist, Dist]:
    d = parse_dist(text, "horizon_years", allow_zero=False)
    days = Dist(d.kind, d.low * DAYS_PER_YEAR, d.high * DAYS_PER_YEAR, None if d.mode is None else d.mode * DAYS_PER_YEAR)
    return d, days


def analyze(req: AnalysisRequest, ps: ProfileSet, store=None, profiles_ver: str = "",
            progress: Callable[[str], None] | None = None) -> Analysis:
    from .ranking import Ranking, rank_models

    from ..load.hf_config import is_config

    check_instance("req", req, AnalysisRequest, "an AnalysisRequest")
    check_instance("ps", ps, ProfileSet, "a ProfileSet, as load_profiles() returns")
    notes: list[str] = []
    folder = Path(req.folder)
    if req.folder == DEFAULT_FOLDER and not folder.exists():  # outside a checkout: the samples shipped with the package
        from ..paths import shipped_samples

        folder = shipped_samples()
        notes.append(f"no ./{DEFAULT_FOLDER} folder here: analysed the sample candidates shipped with nas-analyzer ({folder})")
    if not folder.exists():
        raise UsageError(f"{folder}: no such file")
    paths = expand_model_args([folder])
    if not paths:
        raise UsageError(f"{folder}: no ONNX candidates in it")
    decoders = all(is_config(p) for p in paths)  # decoders' configs: served, and amortised per 1,000 output tokens
    target, more = serving_target(ps, TargetRequest(
        hardware=req.hardware, dtype=req.dtype, runtime=req.runtime, batch=req.batch, datacenter=req.datacenter, pue=req.pue,
        grid=req.grid, region=req.region, net=req.net, batch_norm=req.batch_norm, utilization=req.utilization,
        power_boundary=req.power_boundary, embodied_boundary=req.embodied_boundary), decoders)
    notes += more + list(target.notes)
    per = PER_THOUSAND if decoders else 1.0
    if decoders:
        notes.append(f"the candidates are decoders, served (continuous batching at a maximum concurrency of "
                     f"{target.phase.serving.max_num_seqs}): an item is 1,000 output tokens, so the items per day are thousands "
                     "of output tokens and every per-item figure of the amortisation is per 1,000 tokens")
    ipd = parse_dist(req.items_per_day, "items_per_day", allow_zero=False)
    deployments = parse_dist(req.deployments, "deployments", allow_zero=False)
    years, days = _years(req.horizon_years)
    growth = parse_dist(req.growth, "growth")
    cache: dict = {}
    rows, evaluations, failed = rank_models(paths, target, Ranking(None, req.objective, req.max_latency_ms, req.min_accuracy, None),
                                            store, profiles_ver, progress, cache)
    if not evaluations:
        raise AnalyzerError(f"{folder}: no candidate could be projected: " + "; ".join(e.error or "" for e in failed))
    entries = entries_for(paths)
    recipe_of = {k: e.accuracy_recipe for k, e in entries.items()}
    try:
        pair = choose_pair(rows, req.baseline, req.nas_model, req.accuracy_tolerance, recipe_of)
    except AnalyzerError as e:
        if not failed:
            raise
        # the candidate the pair needed may be one that failed: name every failed file, not only the consequence
        raise AnalyzerError(f"{e.message}; {len(failed)} candidate(s) could not be evaluated: "
                            + "; ".join(f.error or "" for f in failed)) from None
    recipe = recipes(rows, pair, req.baseline, req.nas_model, req.accuracy_tolerance, recipe_of,
                     {k: e.accuracy_alternatives for k, e in entries.items()})
    if recipe["note"]:
        notes.append(recipe["note"])
    if not pair.matched and pair.accuracy_gap_points is not None:
        notes.append(f"accuracy gap: {pair.nas} is {pair.accuracy_gap_points:.2f} top-1 points below {pair.baseline} "
                     f"(tolerance {pair.tolerance_points:g}): it does not do the same job")
    by_name = {e.name: e for e in evaluations}
    base, nas = by_name[pair.baseline], by_name[pair.nas]
    stated = bool(req.nas_preset or req.nas_cost_kg is not None or req.search_plan or req.search_run)
    preset, stand_in = req.nas_preset, ""
    if not stated:
        preset, stand_in, why = assumed_search(paths, pair.nas)
        notes.append(f"no search cost given (a preset, a cost in kgCO2e or a plan): the {preset} search is assumed ({why})"
                     + (f"; it stands in for {pair.nas}'s own: {stand_in}" if stand_in else ""))
    if req.search_run:
        sc = _measured_search(req, store)
    else:
        sc = search_cost(ps, preset=preset if req.nas_cost_kg is None and not req.search_plan else None, cost_kg=req.nas_cost_kg,
                         plan=req.search_plan or None,
                         site=SiteRequest(req.nas_pue, req.nas_datacenter, req.nas_grid, req.nas_region,
                                          power_boundary=target.site.power_boundary,
                                          embodied_boundary=target.site.embodied_boundary))
    notes += sc.notes  # its cost is the verdict's (the median of the draws, each reading with its own kgCO2e)
    pair_costs = PairCosts(fixed(base.co2e_g_per_item * per), fixed(nas.co2e_g_per_item * per),
                           fixed((base.embodied_co2e_g_per_item or 0.0) * per), fixed((nas.embodied_co2e_g_per_item or 0.0) * per),
                           base.energy_log_sigma_shared, base.energy_log_sigma_model, nas.energy_log_sigma_model)
    reuse = {"items_per_day": ipd, "deployments": deployments, "horizon_days": days, "growth_per_year": growth,
             "per_deployment_cost_kg": parse_dist(req.per_deployment_cost_kg, "per_deployment_cost_kg"),
             "retrains_per_deployment": parse_dist(req.retrains, "retrains")}
    done = amortize_pair(ps, sc, pair_costs, reuse, req.budget_hardware, target.site, req.samples, req.seed)
    notes += done.notes
    inputs, amort, budget_chip = done.inputs, done.amortization, done.budget_hardware
    band = saving_band(base, nas)
    g_per_j = base.co2e_g_per_item / base.energy_j_per_item if base.energy_j_per_item else 0.0
    # the point is the difference of the pair's CO2e, as the amortisation takes it (host, idle and embodied shares go
    # with latency, not with the chip's energy); the band is the energy band's spread about it at the baseline's g/J
    saving_g = base.co2e_g_per_item - nas.co2e_g_per_item
    saving = {**band, "saving_g_per_item": saving_g, "low_g": saving_g + (band["low"] - band["saving_j_per_item"]) * g_per_j,
              "high_g": saving_g + (band["high"] - band["saving_j_per_item"]) * g_per_j}
    saving = {k: v * per if isinstance(v, float) and k != "shared" else v for k, v in saving.items()}
    scenario = {"items_per_day_per_deployment": ipd.text(), "deployments": deployments.text(), "horizon_years": years.text(),
                "growth_per_year": growth.text(), **({"item": "1,000 output tokens"} if decoders else {})}
    search_said = search_phrase(sc, preset if not stated else "", pair.nas if stand_in else "")
    domain = ""
    if decoders and preset:
        method = ps.get("nas", preset).title
        domain = method if "transformer" in method.lower() else f"{method}, a search for image-classification networks"
    found = caveats(pair, recipe, preset if not stated else "", pair.nas if stand_in else "", decoders, domain)
    verdict = build_verdict(amort, scenario, sc, found, "1k tokens" if decoders else "item", search_said, not stated)
    sens: list[Sensitivity] = []
    if req.sensitivity:
        amortised = Amortised(sc, inputs, years, per, centre=(verdict["saving_g_per_item"]["p50"], verdict["search_kg"]["p50"]),
                              search_band=(verdict["search_kg"]["p5"], verdict["search_kg"]["p95"]),
                              break_even=amort.break_even_items_per_day)
        sens = pair_sensitivities(req, ps, target, pair, base, nas, amortised, Reevaluation(paths, cache, store, profiles_ver))
        sens.sort(key=lambda s: -s.swing_kg)
        if not stated:  # an assumed search cost is always among the assumptions shown as moving the verdict most
            i = next((k for k, x in enumerate(sens) if x.param == "nas_cost_kg"), None)
            if i is not None and i >= TOP_ASSUMPTIONS:
                sens.insert(TOP_ASSUMPTIONS - 1, sens.pop(i))
    amort_d = amort.to_dict()
    amort_d["inputs"]["budget_hardware"] = budget_chip
    return Analysis(SCHEMA_VERSION, _json_safe(asdict(req)), target.to_dict(), scenario, [r.to_dict() for r in rows],
                    [e.to_dict() for e in evaluations], pair.to_dict() | {"recipes": recipe}, sc.to_dict() | {"budget_hardware": budget_chip},
                    saving, amort_d, verdict, [s.to_dict() for s in sens],
                    _illustrative_fourms(ps, target, base, nas, {p.stem: p for p in paths}, cache, store, profiles_ver), notes + amort.notes, [e.error_text() for e in failed])


TOP_ASSUMPTIONS = 3  # the assumptions the answer shows as moving the net saving most


def _measured_search(req: AnalysisRequest, store: Any) -> Any:
    """The search's cost as a tracked run measured it (engine/track.py); no other search cost alongside."""
    if req.nas_preset or req.nas_cost_kg is not None or req.search_plan:
        raise UsageError(f"give one search cost: {param('search_run')} or a preset, a cost in kgCO2e or a plan, not both")
    from ..account.tracked_run import measured_search_cost
    from ..engine.track import load_run

    return measured_search_cost(load_run(req.search_run, store=store.path if store is not None else False))


def assumed_search(paths: list[Path], nas_name: str) -> tuple[str, str, str]:
    """(preset, stand-in note, why) of the search a verdict assumes when none is stated: the one the NAS model's
    manifest entry names (`search_preset`; `search_stand_in` when that search did not find it), else the default."""
    entry = entries_for(paths).get(nas_name)
    if entry is not None and entry.search_preset:
        return entry.search_preset, entry.search_stand_in, f"the manifest names it for {nas_name}"
    d = defaults()["search"]["preset"]
    return str(d.value), "", d.why


def search_phrase(sc, assumed_preset: str, stands_in_for: str) -> str:
    """The search side of the verdict in a few words: what it is and whether it was assumed (and for whose search it
    stands in). Its cost is the verdict's search_kg (the median of the draws), printed beside it, not here."""
    what = sc.description.split(": ")[0] if sc.readings else sc.description
    if not assumed_preset:
        return f"search as given: {what}"
    extra = f" as a stand-in for {stands_in_for}'s own (never published)" if stands_in_for else ""
    return f"search ASSUMED (none given): the {assumed_preset} search{extra}"


def _illustrative_fourms(ps: ProfileSet, target: Target, base: Evaluation, nas: Evaluation, files: dict[str, Path],
                         cache: dict, store=None, profiles_ver: str = "") -> dict | None:
    """The 4Ms between the baseline as deployed and an illustrative better choice, from the same projections as the
    rest of the analysis: the NAS model on the serving default's hardware (the calibrated H100; the deployed one
    when it is that) at the same dtype, runtime and batch, in a hyperscale datacenter (google-fleet) in
    us-central1 (Iowa), CFE-net, latest year: the setting Patterson et al. 2021 report Google's training in.
    The factors as `fourm` defines them (account/fourms.py `factors`): Model = baseline / NAS FLOPs per item; Machine =
    the FLOPs per device joule the NAS model achieves on that hardware / the baseline's as deployed (a network that
    keeps the chip less busy, depthwise convolutions, lowers it); Mechanization = PUE ratio; Map = grid ratio. Model x
    Machine is the energy-per-item ratio. Labelled illustrative."""
    from ..engine import evaluate

    try:
        at = defaults()["comparison"]  # profiles/defaults.toml [comparison]
        better = resolve_site(ps, SiteRequest(datacenter=str(at["datacenter"].value), region=str(at["region"].value), net=True))
        hw = str(defaults()["serving"]["hardware"].value)
        same = ps.get("hardware", hw).name == target.hardware.name
        on_better = nas
        if not same:
            t2 = resolve_target(ps, TargetRequest(hw, dtype=target.dtype if target.dtype in ps.get("hardware", hw).peak_tflops else None,
                                runtime=target.runtime, batch=target.batch, site=better, batch_norm=target.batch_norm))
            on_better = evaluate([files[nas.name]], t2, cache=cache, store=store, profiles_ver=profiles_ver)[0]
            if not on_better.ok:
                return None
    except (AnalyzerError, KeyError):
        return None
    from ..account.fourms import factors

    flops_per_item = lambda e: e.flops / e.batch  # noqa: E731
    if not all(flops_per_item(e) > 0 and e.energy_j_per_item > 0 for e in (base, nas, on_better)):
        return None  # no compute to factor (a model without FLOPs): the 4Ms are not defined
    # the one definition (account/fourms.py): Model the compute ratio, Machine the FLOPs per device joule achieved
    f = factors(flops_per_item(base) / flops_per_item(nas), flops_per_item(base) / base.energy_j_per_item,
                flops_per_item(on_better) / on_better.energy_j_per_item, target.site, better)
    f = {k: f[k] for k in ("model", "machine", "mechanization", "map")} | {
        "basis": "projections", "base_hardware": target.hardware.name, "new_hardware": on_better.hardware,
        "energy": f["energy"], "co2e": f["co2e"]}
    f["description"] = (f"illustrative, from the projections: {base.name} on {target.hardware.name} as deployed (PUE "
                        f"{target.pue:g}, {target.grid_gco2e_per_kwh:g} gCO2e/kWh) vs {nas.name} on {on_better.hardware} at "
                        f"{target.dtype}, {target.runtime}, batch {target.batch} in a hyperscale datacenter ({at['datacenter'].value}, PUE "
                        f"{better.pue:g}) in {better.label.split(', ')[1]} ({better.grid_gco2e_per_kwh:.4g} gCO2e/kWh)")
    return f
