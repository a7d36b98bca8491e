"""CLI commands `amortize`, `strategies`, `rank` and `analyze`: parsing and rendering only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .cli import app, err
from .cli_carbon import FormatOpt, OutFormat, ProfilesOpt, _console, _load, _place, resolve_target
from .errors import AnalyzerError, UsageError
from .cli_store import NoStoreOpt, StoreOpt, open_store
from .manifest import expand_model_args

DEFAULT_TARGET = "a100-40gb"
DEFAULT_REGION_ANALYZE = "world-ember-2022"
ILLUSTRATIVE_REGION = "us-central1"


def _fail(e: AnalyzerError) -> None:
    err.print(f"error: {e}", markup=False)
    raise typer.Exit(e.exit_code)


def render_ranking(rows, console: Console, title: str = "Candidates") -> None:
    t = Table(title=title, title_justify="left")
    for col in ("rank", "model", "role", "top-1 %", "gCO2e/item", "J/item", "latency ms", "Pareto", "dominated by / excluded"):
        t.add_column(col, justify="right" if col in ("rank", "top-1 %", "gCO2e/item", "J/item", "latency ms") else "left", overflow="fold")
    for r in rows:
        c = r.candidate
        t.add_row("-" if r.rank is None else str(r.rank), escape(c.name), escape(c.role), "n/a" if c.accuracy is None else f"{c.accuracy:g}",
                  f"{c.co2e_g_per_item:.3g}", f"{c.energy_j_per_item:.3g}", f"{c.latency_s * 1e3:.3g}", "yes" if r.pareto else "",
                  escape(r.excluded or ", ".join(r.dominated_by)))
    console.print(t)


def render_amortization(a, console: Console, title: str = "NAS amortisation", quiet: bool = False) -> None:
    t = Table(title=title, title_justify="left")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_column("P5 / P50 / P95", justify="right")

    def fmt(x):
        return "never" if x is None else f"{x:,.4g}"

    unc = a.uncertainty or {}
    for label, key, v in (("saving per item (gCO2e)", "savings_g_per_item", a.savings_g_per_item), ("spent (kgCO2e)", None, a.spent_kg),
                          ("break-even items", None, a.break_even_items), ("break-even days", "break_even_days", a.break_even_days),
                          ("net saving over horizon (kgCO2e)", "net_savings_kg", a.net_savings_kg),
                          ("net saving with embodied (kgCO2e)", None, a.net_savings_with_embodied_kg),
                          ("saved / spent", "savings_ratio", a.savings_ratio), ("largest NAS budget (kgCO2e)", "max_nas_budget_kg", a.max_nas_budget_kg),
                          ("largest NAS budget (kWh)", None, a.max_nas_budget_kwh), ("largest NAS budget (chip-hours)", None, a.max_nas_budget_chip_hours)):
        u = unc.get(key) if key else None
        t.add_row(label, fmt(v), "" if not u else " / ".join(fmt(u[k]) for k in ("p5", "p50", "p95")))
    for k, v in a.intensity_g_per_item.items():
        t.add_row(f"NAS model gCO2e/item, {k}", f"{v:.4g}", "")
    console.print(t)
    console.print(f"[bold]verdict[/]: {escape(a.verdict)}")
    for n in [] if quiet else a.notes:
        console.print(f"[yellow]note[/] {escape(n)}")


def _scenario(nas_kg, base_g, nas_g, ipd, deployments, horizon_days, horizon_years, growth, per_dep, retrains, base_emb, nas_emb,
              budget_kg_per_kwh, budget_kw, budget_hw):
    from .amortize import AmortizeInputs
    from .dist import fixed, parse_dist

    if horizon_years is not None and horizon_days is not None:
        raise UsageError("give one of --horizon-days and --horizon-years")
    hz = parse_dist(horizon_years, "--horizon-years", allow_zero=False) if horizon_years is not None else \
        parse_dist(horizon_days or "365", "--horizon-days", allow_zero=False)
    if horizon_years is not None:
        from .dist import Dist

        hz = Dist(hz.kind, hz.low * 365.25, hz.high * 365.25, None if hz.mode is None else hz.mode * 365.25)
    return AmortizeInputs(
        nas_cost_kg=fixed(nas_kg), baseline_g_per_item=base_g, nas_g_per_item=nas_g,
        items_per_day=parse_dist(ipd, "--inferences-per-day", allow_zero=False),
        deployments=parse_dist(deployments, "--deployments", allow_zero=False), horizon_days=hz,
        growth_per_year=parse_dist(growth, "--growth"), per_deployment_cost_kg=parse_dist(per_dep, "--per-deployment-cost-kg"),
        retrains_per_deployment=parse_dist(retrains, "--retrains"), baseline_embodied_g_per_item=base_emb,
        nas_embodied_g_per_item=nas_emb, budget_kg_per_kwh=budget_kg_per_kwh, budget_kw_per_chip_hour=budget_kw,
        budget_hardware=budget_hw)


def _budget_units(ps, pue, dc, grid, reg, budget_hardware):
    """kgCO2e per facility kWh where the search runs, and facility kW per chip-hour of the budget hardware."""
    from .carbon import choose_power

    g = grid if grid is not None else reg[1].grid_gco2e_per_kwh
    p = pue if pue is not None else dc.pue.value
    if g <= 0:
        return None, None, ""
    hw = ps.get("hardware", budget_hardware)
    w, _, _ = choose_power(hw, None, None)
    return g / 1000, w * p / 1000, hw.name


@app.command()
def amortize(
    nas_preset: Annotated[Optional[str], typer.Option("--nas-preset", help="A published search (see `profiles list nas`).")] = None,
    nas_cost_kg: Annotated[Optional[float], typer.Option("--nas-cost-kg", help="Search cost, kgCO2e.")] = None,
    nas_cost_kwh: Annotated[Optional[float], typer.Option("--nas-cost-kwh", help="Search energy, facility kWh (x the NAS region's intensity).")] = None,
    nas_hardware: Annotated[Optional[str], typer.Option("--nas-hardware", help="Search hardware profile (with --nas-count, --nas-hours).")] = None,
    nas_count: Annotated[Optional[float], typer.Option("--nas-count")] = None,
    nas_hours: Annotated[Optional[float], typer.Option("--nas-hours")] = None,
    nas_pue: Annotated[Optional[float], typer.Option("--nas-pue")] = None,
    nas_datacenter: Annotated[Optional[str], typer.Option("--nas-datacenter")] = None,
    nas_grid: Annotated[Optional[float], typer.Option("--nas-grid-gco2e-per-kwh")] = None,
    nas_region: Annotated[Optional[str], typer.Option("--nas-region", help="NAME[@YEAR] where the search runs.")] = None,
    baseline_co2e_g: Annotated[Optional[str], typer.Option("--baseline-co2e-g", help="Baseline gCO2e per item (number or range).")] = None,
    nas_co2e_g: Annotated[Optional[str], typer.Option("--nas-co2e-g", help="NAS-found model gCO2e per item (number or range).")] = None,
    baseline_model: Annotated[Optional[Path], typer.Option("--baseline-model", help="Baseline ONNX model, projected on --hardware.")] = None,
    nas_model: Annotated[Optional[Path], typer.Option("--nas-model", help="NAS-found ONNX model, projected on --hardware.")] = None,
    hardware: Annotated[str, typer.Option("--hardware", help="Deployment target for --*-model projections.")] = DEFAULT_TARGET,
    dtype: Annotated[Optional[str], typer.Option("--dtype")] = None,
    batch: Annotated[int, typer.Option("--batch", min=1)] = 8,
    runtime: Annotated[Optional[str], typer.Option("--runtime")] = None,
    pue: Annotated[Optional[float], typer.Option("--pue", help="Deployment PUE.")] = None,
    datacenter: Annotated[Optional[str], typer.Option("--datacenter", help="Deployment datacenter.")] = None,
    grid: Annotated[Optional[float], typer.Option("--grid-gco2e-per-kwh", help="Deployment grid intensity.")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="Deployment region NAME[@YEAR].")] = None,
    inferences_per_day: Annotated[str, typer.Option("--inferences-per-day", help="Per deployment: N, LOW..HIGH, LOW..HIGH:log, LOW..MODE..HIGH.")] = "1e6",
    deployments: Annotated[str, typer.Option("--deployments", help="Deployments reusing the model (number or range).")] = "1",
    horizon_days: Annotated[Optional[str], typer.Option("--horizon-days")] = None,
    horizon_years: Annotated[Optional[str], typer.Option("--horizon-years")] = None,
    growth: Annotated[str, typer.Option("--growth", help="Traffic growth per year, fraction (0.5 = +50%/year).")] = "0",
    per_deployment_cost_kg: Annotated[str, typer.Option("--per-deployment-cost-kg", help="Fine-tuning/retraining cost per deployment, kgCO2e.")] = "0",
    retrains: Annotated[str, typer.Option("--retrains", help="Further retraining runs per deployment (each costs --per-deployment-cost-kg).")] = "0",
    budget_hardware: Annotated[str, typer.Option("--budget-hardware", help="Express the largest NAS budget in chip-hours of this hardware.")] = "v100",
    samples: Annotated[int, typer.Option("--samples", min=100, help="Monte Carlo samples when a range is given.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Is a search worth its emissions? Break-even, net savings, saved/spent ratio and the largest search
    budget a reuse scenario justifies; Monte Carlo P5/P50/P95 and P(net saving > 0) when inputs are ranges."""
    from .amortize import amortize as run
    from .dist import fixed, parse_dist
    from .pipeline import nas_cost_kg as cost_of, project_models

    try:
        ps = _load(profiles)
        notes: list[str] = []
        npue, ndc, ngrid, nreg = _place(ps, nas_pue, nas_datacenter, nas_grid, nas_region, notes, "nas")
        kg, nas_inputs, nas_desc = cost_of(ps, preset=nas_preset, cost_kg=nas_cost_kg, cost_kwh=nas_cost_kwh, hardware=nas_hardware,
                                          count=nas_count, hours=nas_hours, pue=npue, datacenter=ndc, grid=ngrid, region=nreg)
        per_item = {}
        emb = {"baseline": fixed(0), "nas": fixed(0)}
        for side, stated, model in (("baseline", baseline_co2e_g, baseline_model), ("nas", nas_co2e_g, nas_model)):
            if (stated is None) == (model is None):
                raise UsageError(f"give exactly one of --{side}-co2e-g and --{side}-model")
            if stated is not None:
                per_item[side] = parse_dist(stated, f"--{side}-co2e-g")
            else:
                target = resolve_target(ps, hardware, dtype, runtime, batch, pue, datacenter, grid, region, False, 1.0, notes)
                projs, errors = project_models([model], target)
                if errors:
                    raise AnalyzerError(errors[0])
                proj = projs[0]
                per_item[side] = fixed(proj.co2e_g_per_item)
                emb[side] = fixed(proj.embodied_co2e_g_per_item or 0.0)
        kwh_per, kw, bhw = _budget_units(ps, npue, ndc, ngrid, nreg, budget_hardware)
        a = run(_scenario(kg, per_item["baseline"], per_item["nas"], inferences_per_day, deployments, horizon_days, horizon_years,
                          growth, per_deployment_cost_kg, retrains, emb["baseline"], emb["nas"], kwh_per, kw, bhw),
                samples=samples, seed=seed)
    except (AnalyzerError, ValueError) as e:
        _fail(e if isinstance(e, AnalyzerError) else UsageError(str(e)))
    a.notes[:0] = notes + [f"NAS cost: {nas_desc} = {kg:,.4g} kgCO2e"]
    if fmt is OutFormat.json:
        sys.stdout.write(json.dumps(a.to_dict() | {"nas_inputs": nas_inputs}, indent=2, default=str) + "\n")
    else:
        render_amortization(a, _console())


@app.command()
def strategies(
    one_off_kg: Annotated[float, typer.Option("--one-off-kg", help="One-off search-and-train cost (e.g. Once-for-All), kgCO2e.")],
    per_scenario_kg: Annotated[float, typer.Option("--per-scenario-kg", help="Its cost per deployment scenario afterwards, kgCO2e.")],
    search_per_scenario_kg: Annotated[float, typer.Option("--search-per-scenario-kg", help="A fresh search per scenario, kgCO2e.")],
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Once-for-All analysis: one search-and-train plus a per-scenario cost vs a search per scenario;
    the break-even number of scenarios N = one-off / (per-search - per-scenario)."""
    from .amortize import strategies_break_even

    for name, v in (("--one-off-kg", one_off_kg), ("--per-scenario-kg", per_scenario_kg), ("--search-per-scenario-kg", search_per_scenario_kg)):
        if not v >= 0:
            _fail(UsageError(f"{name} {v}: must be >= 0"))
    n = strategies_break_even(one_off_kg, per_scenario_kg, search_per_scenario_kg)
    out = {"break_even_scenarios": n, "verdict": "the per-scenario search is never dearer" if n is None else
           f"the one-off strategy pays back from {n:.3g} deployment scenarios"}
    print(json.dumps(out, indent=2) if fmt is OutFormat.json else out["verdict"])


def _rank_rows(ps, paths, accuracy_csv, target, objective, max_latency_ms, min_accuracy, weights, store=None, pver="", quiet=False):
    from .pipeline import accuracy_from_csv, accuracy_from_manifests, candidates, project_models
    from .rank import rank
    from .report.progress import progress_bar

    with progress_bar("profiling and projecting", len(paths), quiet) as advance:
        projections, errors = project_models(paths, target, store, pver, advance)
    acc, roles = accuracy_from_manifests(paths)
    if accuracy_csv is not None:
        acc.update(accuracy_from_csv(accuracy_csv, {Path(p.model).stem for p in projections}))
    w = None
    if weights:
        w = {}
        for item in weights.split(","):
            k, _, v = item.partition("=")
            if k.strip() not in ("co2e", "latency", "accuracy"):
                raise UsageError(f"--weights '{weights}': keys are co2e, latency, accuracy")
            try:
                w[k.strip()] = float(v)
            except ValueError:
                raise UsageError(f"--weights '{weights}': '{item}' is not KEY=NUMBER") from None
    rows = rank(candidates(projections, acc, roles), objective, max_latency_s=None if max_latency_ms is None else max_latency_ms / 1e3,
                min_accuracy=min_accuracy, weights=w)
    return rows, projections, errors


@app.command("rank")
def rank_cmd(
    models: Annotated[list[Path], typer.Argument(help="ONNX files or folders (a manifest gives accuracy and roles).")],
    hardware: Annotated[str, typer.Option("--hardware", help="Deployment target.")],
    dtype: Annotated[Optional[str], typer.Option("--dtype")] = None,
    batch: Annotated[int, typer.Option("--batch", min=1)] = 1,
    runtime: Annotated[Optional[str], typer.Option("--runtime")] = None,
    pue: Annotated[Optional[float], typer.Option("--pue")] = None,
    datacenter: Annotated[Optional[str], typer.Option("--datacenter")] = None,
    grid: Annotated[Optional[float], typer.Option("--grid-gco2e-per-kwh")] = None,
    region: Annotated[Optional[str], typer.Option("--region")] = None,
    accuracy: Annotated[Optional[Path], typer.Option("--accuracy", help="CSV model,accuracy (top-1 %); else the manifest's.")] = None,
    objective: Annotated[str, typer.Option("--objective", help="co2e, energy, latency or weighted.")] = "co2e",
    weights: Annotated[Optional[str], typer.Option("--weights", help="For weighted: co2e=1,latency=1,accuracy=1 (min-max normalised).")] = None,
    max_latency_ms: Annotated[Optional[float], typer.Option("--max-latency-ms")] = None,
    min_accuracy: Annotated[Optional[float], typer.Option("--min-accuracy")] = None,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Pareto front over accuracy (higher), CO2e per item and latency (lower), and a ranking by the objective
    under the constraints; dominated candidates are listed with who dominates them."""

    try:
        ps = _load(profiles)
        notes: list[str] = []
        target = resolve_target(ps, hardware, dtype, runtime, batch, pue, datacenter, grid, region, False, 1.0, notes)
        rows, _, errors = _rank_rows(ps, expand_model_args(models), accuracy, target, objective, max_latency_ms, min_accuracy, weights)
    except AnalyzerError as e:
        _fail(e)
    for e in errors:
        err.print(f"error: {e}", markup=False)
    if fmt is OutFormat.json:
        sys.stdout.write(json.dumps({"ranking": [r.to_dict() for r in rows], "notes": notes}, indent=2) + "\n")
    else:
        render_ranking(rows, _console())
        for n in notes:
            _console().print(f"[yellow]note[/] {escape(n)}")
    raise typer.Exit(1 if errors else 0)


@app.command()
def analyze(
    folder: Annotated[Path, typer.Argument(help="Folder of candidates (a manifest.toml gives roles and accuracy).")] = Path("models"),
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="Baseline candidate (default: the manifest's baseline).")] = None,
    nas_preset: Annotated[Optional[str], typer.Option("--nas-preset", help="Published search cost (default: mnasnet, the search behind MnasNet/EfficientNet).")] = None,
    nas_cost_kg: Annotated[Optional[float], typer.Option("--nas-cost-kg", help="Search cost, kgCO2e, instead of a preset.")] = None,
    hardware: Annotated[str, typer.Option("--hardware", help=f"Deployment target (default {DEFAULT_TARGET}).")] = DEFAULT_TARGET,
    dtype: Annotated[Optional[str], typer.Option("--dtype")] = None,
    batch: Annotated[int, typer.Option("--batch", min=1)] = 8,
    runtime: Annotated[Optional[str], typer.Option("--runtime")] = None,
    datacenter: Annotated[Optional[str], typer.Option("--datacenter")] = None,
    region: Annotated[str, typer.Option("--region", help=f"Deployment region (default {DEFAULT_REGION_ANALYZE}).")] = DEFAULT_REGION_ANALYZE,
    objective: Annotated[str, typer.Option("--objective")] = "co2e",
    max_latency_ms: Annotated[Optional[float], typer.Option("--max-latency-ms")] = None,
    min_accuracy: Annotated[Optional[float], typer.Option("--min-accuracy")] = None,
    inferences_per_day: Annotated[str, typer.Option("--inferences-per-day", help="Per deployment (default 1e6..1e8:log).")] = "1e6..1e8:log",
    deployments: Annotated[str, typer.Option("--deployments")] = "10",
    horizon_days: Annotated[str, typer.Option("--horizon-days")] = "365",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write analysis.json, ranking.csv and report.html here.")] = None,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no notes: the tables and verdict only.")] = False,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """The main job: profile every candidate, project it on the target, rank, and amortise the search that
    found the best NAS-found candidate against the baseline. Defaults are stated in the output."""
    from .amortize import amortize as run
    from .dist import fixed
    from .pipeline import nas_cost_kg as cost_of

    try:
        ps = _load(profiles)
        notes: list[str] = [f"target: {hardware} in {region}" + (" (defaults)" if hardware == DEFAULT_TARGET and region == DEFAULT_REGION_ANALYZE else "")]
        target = resolve_target(ps, hardware, dtype, runtime, batch, None, datacenter, None, region, False, 1.0, notes)
        paths = expand_model_args([folder])
        db, pver = open_store(store, no_store)
        rows, projections, errors = _rank_rows(ps, paths, None, target, objective, max_latency_ms, min_accuracy, None, db, pver, quiet)
        if not rows:
            raise AnalyzerError(f"{folder}: no candidate could be projected")
        by_name = {r.candidate.name: r for r in rows}
        base_name = baseline or next((r.candidate.name for r in rows if r.candidate.role == "baseline"), None)
        if base_name is None:
            raise UsageError("no baseline: give --baseline NAME (no candidate has role 'baseline' in the manifest)")
        if base_name not in by_name:
            raise UsageError(f"--baseline '{base_name}' is not among the candidates: {', '.join(sorted(by_name))}")
        ranked = [r for r in rows if r.rank is not None]
        nas_found = [r for r in ranked if r.candidate.role == "NAS-found"]
        chosen = ranked[0] if ranked else None
        amort = None
        if nas_found:
            pick = nas_found[0]
            if chosen is not None and chosen.candidate.name != pick.candidate.name:
                notes.append(f"the top-ranked candidate {chosen.candidate.name} is not NAS-found; the search is amortised for "
                             f"the best NAS-found one, {pick.candidate.name}")
            if nas_preset is None and nas_cost_kg is None:
                nas_preset = "mnasnet"
                notes.append("no --nas-preset/--nas-cost-kg: the MnasNet search (64 TPU v2 x 4.5 days) is assumed")
            nnotes: list[str] = []
            npue, ndc, ngrid, nreg = _place(ps, None, None, None, None, nnotes, "nas")
            kg, _, desc = cost_of(ps, preset=nas_preset, cost_kg=nas_cost_kg, cost_kwh=None, hardware=None, count=None, hours=None,
                                  pue=npue, datacenter=ndc, grid=ngrid, region=nreg)
            notes += nnotes + [f"NAS cost: {desc} = {kg:,.4g} kgCO2e"]
            base_c = by_name[base_name].candidate
            proj = {Path(p.model).stem: p for p in projections}
            kwh_per, kw, bhw = _budget_units(ps, npue, ndc, ngrid, nreg, "v100")
            amort = run(_scenario(kg, fixed(base_c.co2e_g_per_item), fixed(pick.candidate.co2e_g_per_item), inferences_per_day,
                                  deployments, horizon_days, None, "0", "0", "0",
                                  fixed(proj[base_name].embodied_co2e_g_per_item or 0), fixed(proj[pick.candidate.name].embodied_co2e_g_per_item or 0),
                                  kwh_per, kw, bhw), seed=seed)
            amort.notes.insert(0, f"{pick.candidate.name} (NAS-found) vs {base_name} (baseline) on {hardware}")
        else:
            notes.append("no NAS-found candidate passes the constraints: nothing to amortise")
    except (AnalyzerError, ValueError) as e:
        _fail(e if isinstance(e, AnalyzerError) else UsageError(str(e)))
    for e in errors:
        err.print(f"error: {e}", markup=False)
    result = {"target": {"hardware": target.hardware.name, "dtype": target.dtype, "runtime": target.runtime, "batch": target.batch,
                         "pue": target.pue, "grid_gco2e_per_kwh": target.grid_gco2e_per_kwh},
              "baseline": base_name, "chosen": chosen.candidate.name if chosen else None,
              "ranking": [r.to_dict() for r in rows], "projections": [p.to_dict() for p in projections],
              "amortization": amort.to_dict() if amort else None, "notes": notes, "profiles_version": pver,
              "fourms": _illustrative_fourms(ps, target, projections, base_name, chosen.candidate.name if chosen else None)}
    if db is not None:
        try:
            db.log_run("analyze", {"folder": str(folder), **result["target"]},
                       {"chosen": result["chosen"], "baseline": base_name,
                        "verdict": amort.verdict if amort else None, "models": len(rows)})
        except AnalyzerError as e:
            err.print(f"warning: {e}", markup=False)
    if out is not None:
        _write_outputs(out, result, rows)
    if fmt is OutFormat.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        c = _console()
        render_ranking(rows, c, f"Candidates on {target.hardware.name} ({target.dtype}, {target.runtime}, batch {target.batch})")
        if amort:
            render_amortization(amort, c, quiet=quiet)
        for n in [] if quiet else notes:
            c.print(f"[yellow]note[/] {escape(n)}")
        if out is not None:
            c.print(f"wrote {escape(str(out / 'analysis.json'))}, {escape(str(out / 'ranking.csv'))} and {escape(str(out / 'report.html'))}")
    raise typer.Exit(1 if errors else 0)


def _illustrative_fourms(ps, target, projections, base_name, chosen_name) -> dict | None:
    """The 4Ms between the baseline as deployed and an illustrative better choice: the chosen model on an
    H100 (measured ceilings) in a hyperscale datacenter in us-central1 (Iowa), CFE-net, latest year: the
    setting Patterson et al. 2021 report Google's training in. Shows what each M would be worth; labelled."""
    from .fourms import Scenario, four_ms

    proj = {Path(p.model).stem: p for p in projections}
    if base_name not in proj or chosen_name not in proj:
        return None
    try:
        best = ps.get("region", ILLUSTRATIVE_REGION)
    except AnalyzerError:
        return None
    h100 = ps.get("hardware", "h100-sxm")
    try:
        base = Scenario(target.hardware, float(proj[base_name].flops), target.dtype, pue=target.pue, grid_gco2e_per_kwh=target.grid_gco2e_per_kwh)
        new = Scenario(h100, float(proj[chosen_name].flops), "bf16", achievable=True, datacenter=ps.get("datacenter", "google-fleet"),
                       region=(best, best.at(None)), net=True)
        r = four_ms(base, new)
    except AnalyzerError:
        return None
    d = r.to_dict()
    d["description"] = (f"illustrative: {base_name} on {target.hardware.name} as deployed vs {chosen_name} on an H100 (measured ceilings) "
                        f"in a hyperscale datacenter (google-fleet) in {best.name}@{best.at(None).year}, CFE-net")
    return d


def _write_outputs(out: Path, result: dict, rows) -> None:
    import csv
    import io

    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "analysis.json").write_text(json.dumps(result, indent=2) + "\n")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["rank", "model", "role", "top1_accuracy_pct", "co2e_g_per_item", "energy_j_per_item", "latency_s", "pareto", "dominated_by", "excluded"])
        for r in rows:
            c = r.candidate
            w.writerow([r.rank or "", c.name, c.role, c.accuracy if c.accuracy is not None else "", c.co2e_g_per_item, c.energy_j_per_item,
                        c.latency_s, r.pareto, ";".join(r.dominated_by), r.excluded])
        (out / "ranking.csv").write_text(buf.getvalue())
        from .report.html import render_html

        (out / "report.html").write_text(render_html(result))
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror})") from None


@app.command()
def report(
    results: Annotated[list[Path], typer.Argument(help="analysis.json files written by `analyze --out` (or its --format json output).")],
    html_out: Annotated[Path, typer.Option("--html", help="Write the self-contained HTML report here.")],
) -> None:
    """Render saved analysis results as one self-contained HTML report (inline CSS and plots, no network)."""
    from .report.html import render_html

    pages = []
    for path in results:
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or "ranking" not in data or "target" not in data:
                raise UsageError(f"{path}: not an analysis result (no ranking/target); write one with `analyze --out DIR`")
            pages.append(render_html(data, f"nas-analyzer report: {path.name}"))
        except FileNotFoundError:
            _fail(UsageError(f"{path}: no such file"))
        except (ValueError, KeyError, TypeError) as e:
            _fail(UsageError(f"{path}: cannot read as an analysis result ({type(e).__name__}: {e})"))
        except AnalyzerError as e:
            _fail(e)
    body = pages[0] if len(pages) == 1 else pages[0].replace("</body></html>", "") + "".join(
        p.split("<body>", 1)[1].replace("</body></html>", "") for p in pages[1:]) + "</body></html>"
    try:
        html_out.parent.mkdir(parents=True, exist_ok=True)
        html_out.write_text(body)
    except OSError as e:
        _fail(UsageError(f"--html {html_out}: cannot write ({e.strerror})"))
    print(f"wrote {html_out}")
