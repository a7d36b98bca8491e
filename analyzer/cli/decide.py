"""Commands `amortize`, `strategies` and `rank`: parsing and rendering only."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from .base import (BatchNormOpt, EmbodiedBoundaryOpt, HardwareOpt, HardwaresOpt, RegionsOpt, PowerBoundaryOpt, UtilizationOpt, MemoryLimitOpt, TimeoutOpt, BatchOpt, DatacenterOpt, DtypeOpt, FormatOpt, GridOpt, OutFormat, ProfilesOpt, PueOpt, QuietOpt, RegionOpt, RuntimeOpt, app,
                  WideOpt, command, console, load, print_json, report_failed)

ItemsPerDayOpt = Annotated[Optional[str], typer.Option("--inferences-per-day", help="Items per day per deployment: N, LOW..HIGH, LOW..HIGH:log, LOW..MODE..HIGH (default 1e6..1e8:log, profiles/defaults.toml [reuse]).")]
DeploymentsOpt = Annotated[Optional[str], typer.Option("--deployments", help="Deployments reusing the model, number or range (default 10).")]
SamplesOpt = Annotated[int, typer.Option("--samples", help="Monte Carlo samples (100 to 1,000,000).")]
NasPueOpt = Annotated[Optional[float], typer.Option("--nas-pue", help="PUE where the search runs (default: the preset's own site, else stated).")]
NasDcOpt = Annotated[Optional[str], typer.Option("--nas-datacenter", help="Datacenter profile where the search runs.")]
NasGridOpt = Annotated[Optional[float], typer.Option("--nas-grid-gco2e-per-kwh", help="Grid intensity where the search runs.")]
PerDeploymentOpt = Annotated[str, typer.Option("--per-deployment-cost-kg", help="Fine-tuning/retraining cost per deployment, kgCO2e.")]
RetrainsOpt = Annotated[str, typer.Option("--retrains", help="Further retraining runs per deployment (each costs --per-deployment-cost-kg).")]
NasRegionOpt = Annotated[Optional[str], typer.Option("--nas-region", help="Region NAME[@YEAR] where the search runs.")]


@app.command()
@command
def amortize(
    nas_preset: Annotated[Optional[str], typer.Option("--nas-preset", help="A published search (see `profiles list nas`).")] = None,
    nas_cost_kg: Annotated[Optional[float], typer.Option("--nas-cost-kg", help="Search cost, kgCO2e.")] = None,
    search_plan: Annotated[Optional[Path], typer.Option("--search-plan", help="The search's cost from `plan-search --out plan.json`, with its band.")] = None,
    nas_cost_kwh: Annotated[Optional[float], typer.Option("--nas-cost-kwh", help="Search energy, facility kWh (x the search site's intensity).")] = None,
    nas_hardware: Annotated[Optional[str], typer.Option("--nas-hardware", help="Search hardware profile (with --nas-count, --nas-hours).")] = None,
    nas_count: Annotated[Optional[float], typer.Option("--nas-count", help="Chips the search used.")] = None,
    nas_hours: Annotated[Optional[float], typer.Option("--nas-hours", help="Hours the search ran.")] = None,
    nas_pue: NasPueOpt = None, nas_datacenter: NasDcOpt = None, nas_grid: NasGridOpt = None, nas_region: NasRegionOpt = None,
    baseline_co2e_g: Annotated[Optional[str], typer.Option("--baseline-co2e-g", help="Baseline gCO2e per item (number or range).")] = None,
    nas_co2e_g: Annotated[Optional[str], typer.Option("--nas-co2e-g", help="NAS-found model gCO2e per item (number or range).")] = None,
    baseline_model: Annotated[Optional[Path], typer.Option("--baseline-model", help="Baseline ONNX model, projected on --hardware.")] = None,
    nas_model: Annotated[Optional[Path], typer.Option("--nas-model", help="NAS-found ONNX model, projected on --hardware.")] = None,
    hardware: HardwareOpt = None, dtype: DtypeOpt = None, batch: BatchOpt = None, runtime: RuntimeOpt = None,
    pue: PueOpt = None, datacenter: DatacenterOpt = None, grid: GridOpt = None, region: RegionOpt = None,
    inferences_per_day: ItemsPerDayOpt = None, deployments: DeploymentsOpt = None,
    horizon_days: Annotated[Optional[str], typer.Option("--horizon-days", help="Reuse horizon in days (number or range).")] = None,
    horizon_years: Annotated[Optional[str], typer.Option("--horizon-years", help="Reuse horizon in years, number or range (default 1..3, profiles/defaults.toml [reuse]).")] = None,
    growth: Annotated[str, typer.Option("--growth", help="Traffic growth per year, fraction (0.5 = +50%/year).")] = "0",
    per_deployment_cost_kg: PerDeploymentOpt = "0", retrains: RetrainsOpt = "0",
    budget_hardware: Annotated[Optional[str], typer.Option("--budget-hardware", help="Express the largest NAS budget in chip-hours of this hardware (default: the search's).")] = None,
    samples: SamplesOpt = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Monte Carlo seed.")] = 0,
    profiles: ProfilesOpt = None, wide: WideOpt = False,
    fmt: FormatOpt = OutFormat.table, quiet: QuietOpt = False,
) -> None:
    """Is a search worth its emissions? Break-even, net savings, saved/spent ratio and the largest search
    budget a reuse scenario justifies; Monte Carlo P5/P50/P95 and P(net saving > 0) when inputs are ranges
    or projected (projections carry their error model, shared between the two models)."""
    from ..decide.amortize_case import AmortizeRequest, SearchRequest, amortize_search
    from ..target import TargetRequest

    req = AmortizeRequest(
        SearchRequest(nas_preset, nas_cost_kg, nas_cost_kwh, nas_hardware, nas_count, nas_hours, nas_pue, nas_datacenter, nas_grid,
                      nas_region, search_plan and str(search_plan)),
        baseline_co2e_g, nas_co2e_g, baseline_model and str(baseline_model), nas_model and str(nas_model),
        TargetRequest(hardware, dtype=dtype, runtime=runtime, batch=batch, pue=pue, datacenter=datacenter, grid=grid, region=region),
        inferences_per_day, deployments, horizon_days, horizon_years, growth, per_deployment_cost_kg, retrains, budget_hardware,
        samples, seed)
    d = amortize_search(load(profiles), req).to_dict()
    if fmt is OutFormat.json:
        print_json(d)
    else:
        from ..report.decide_text import render_amortization

        render_amortization(d, console(wide), quiet=quiet)


@app.command()
@command
def strategies(
    one_off_kg: Annotated[float, typer.Option("--one-off-kg", help="One-off search-and-train cost (e.g. Once-for-All), kgCO2e.")],
    per_scenario_kg: Annotated[float, typer.Option("--per-scenario-kg", help="Its cost per deployment scenario afterwards, kgCO2e.")],
    search_per_scenario_kg: Annotated[float, typer.Option("--search-per-scenario-kg", help="A fresh search per scenario, kgCO2e.")],
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Once-for-All analysis: one search-and-train plus a per-scenario cost vs a search per scenario;
    the break-even number of scenarios N = one-off / (per-search - per-scenario)."""
    from ..decide.amortize import strategies_break_even
    from ..checks import check_number

    for name, v in (("one_off_kg", one_off_kg), ("per_scenario_kg", per_scenario_kg), ("search_per_scenario_kg", search_per_scenario_kg)):
        check_number(name, v, 0.0, 1e15)
    n = strategies_break_even(one_off_kg, per_scenario_kg, search_per_scenario_kg)
    out = {"break_even_scenarios": n, "verdict": "the per-scenario search is never dearer" if n is None else
           f"the one-off strategy pays back from {n:.3g} deployment scenarios"}
    print_json(out) if fmt is OutFormat.json else print(out["verdict"])


@app.command("rank")
@command
def rank_cmd(
    models: Annotated[list[Path], typer.Argument(help="ONNX files or folders (a manifest gives accuracy and roles).")],
    hardware: HardwaresOpt = None,
    dtype: DtypeOpt = None, batch: BatchOpt = None, runtime: RuntimeOpt = None, batch_norm: BatchNormOpt = "auto",
    pue: PueOpt = None, datacenter: DatacenterOpt = None, grid: GridOpt = None, region: RegionsOpt = None,
    utilization: UtilizationOpt = None, power_boundary: PowerBoundaryOpt = None, embodied_boundary: EmbodiedBoundaryOpt = None,
    accuracy: Annotated[Optional[Path], typer.Option("--accuracy", help="CSV model,accuracy (top-1 %); else the manifest's.")] = None,
    objective: Annotated[str, typer.Option("--objective", help="co2e, energy, latency or weighted.")] = "co2e",
    weights: Annotated[Optional[str], typer.Option("--weights", help="For weighted: co2e=1,latency=1,accuracy=1 (min-max normalised).")] = None,
    max_latency_ms: Annotated[Optional[float], typer.Option("--max-latency-ms", help="Exclude candidates slower than this.")] = None,
    min_accuracy: Annotated[Optional[float], typer.Option("--min-accuracy", help="Exclude candidates below this top-1 %.")] = None,
    profiles: ProfilesOpt = None,
    timeout: TimeoutOpt = 60.0, memory_limit: MemoryLimitOpt = 2048.0, wide: WideOpt = False,
    fmt: FormatOpt = OutFormat.table, quiet: QuietOpt = False,
) -> None:
    """Pareto front over accuracy (higher), CO2e per item and latency (lower), and a ranking by the objective
    under the constraints; dominated candidates are listed with who dominates them."""
    from ..decide.ranking import Ranking, rank_across, rank_models
    from ..load.manifest import expand_model_args
    from ..target import resolve_target, TargetRequest
    from .flags import split_list
    from .project import target_label

    ps = load(profiles)
    targets = [resolve_target(ps, TargetRequest(hw, dtype=dtype, runtime=runtime, batch=batch, pue=pue, datacenter=datacenter, grid=grid,
                              region=reg, batch_norm=batch_norm, utilization=utilization, power_boundary=power_boundary,
                              embodied_boundary=embodied_boundary))
               for hw in split_list(hardware) for reg in split_list(region)]
    sites = len(split_list(region)) > 1
    paths = expand_model_args(models)
    if len(targets) == 1:
        target = targets[0]
        rows, evaluations, failed = rank_models(paths, target, Ranking(accuracy, objective, max_latency_ms, min_accuracy, weights))
        label = {}
    else:  # a row per (candidate, target), ranked together: which model where
        rows, evaluations, failed, label = rank_across(paths, targets, [target_label(t, sites) for t in targets], accuracy,
                                                       objective, max_latency_ms, min_accuracy, weights)
        target = targets[0]
    code = report_failed(failed)
    if fmt is OutFormat.json:
        print_json({"ranking": [r.to_dict() | ({"model": label[r.candidate.name][0], "target": label[r.candidate.name][1]}
                                               if label else {}) for r in rows],
                    "target": target.to_dict(), "targets": [t.to_dict() for t in targets], "notes": list(target.notes),
                    "evaluations": [e.to_dict() for e in evaluations]})
    else:
        from ..report.decide_text import render_ranking
        from ..report.text import notes, site_line

        c = console(wide)
        t = target.to_dict()
        shown = [r.to_dict() for r in rows]
        if label:
            shown = [{**r, "name": label[r["name"]][0], "target": label[r["name"]][1]} for r in shown]
        projections = [{**e.to_dict(), "name": label[e.name][0] if label else e.name,
                        "target": label[e.name][1] if label else ""} for e in evaluations]
        title = (f"Candidates on {t['hardware']} ({t['dtype']}, {t['runtime']}, batch {t['batch']})" if not label else
                 f"Candidates on {len(targets)} targets (batch {t['batch']}), ranked together")
        render_ranking(shown, c, title, token=t["phase"]["kind"] == "serving", projections=projections, wide=wide,
                       target_col=bool(label))
        for line in dict.fromkeys(site_line(x.to_dict()) for x in targets):
            c.print(f"where: {line}", markup=False)
        if not quiet:
            notes(list(dict.fromkeys(n for x in targets for n in x.notes)), c)
    raise typer.Exit(code)
