"""Commands `analyze` (the main job) and `report`: parsing and rendering only; the job is
`analyzer.decide.analysis.analyze`."""

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..errors import UsageError
from .base import (BatchNormOpt, EmbodiedBoundaryOpt, PowerBoundaryOpt, UtilizationOpt, MemoryLimitOpt, TimeoutOpt, DatacenterOpt, FormatOpt, GridOpt, NetOpt, NoStoreOpt, OutFormat, ProfilesOpt, PueOpt, QuietOpt, RegionOpt, StoreOpt,
                  VerboseOpt, WideOpt, app, command, console, flag_of, load, print_json, report_errors)
from .decide import (DeploymentsOpt, ItemsPerDayOpt, NasDcOpt, NasGridOpt, NasPueOpt, NasRegionOpt, PerDeploymentOpt, RetrainsOpt,
                     SamplesOpt)
from .store import finish_store, open_store


@app.command()
@command
def analyze(
    folder: Annotated[Path, typer.Argument(help="Folder of candidates (a manifest.toml gives roles and top-1 accuracy).")] = Path("models"),
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="Baseline candidate (default: the manifest's baseline).")] = None,
    nas_model: Annotated[Optional[str], typer.Option("--nas-model", help="Judge this NAS-found candidate (default: the one at comparable accuracy).")] = None,
    accuracy_tolerance: Annotated[float, typer.Option("--accuracy-tolerance", help="Top-1 points below the baseline that still count as the same job.")] = 0.5,
    hardware: Annotated[Optional[str], typer.Option("--hardware", help="Where it is served (default: the serving default, h100, the calibrated H100 SXM; profiles/defaults.toml).")] = None,
    dtype: Annotated[Optional[str], typer.Option("--dtype", help="Serving dtype (default: the serving default, fp16).")] = None,
    batch: Annotated[Optional[int], typer.Option("--batch", help="Serving batch size (default: the serving default, 64).")] = None,
    runtime: Annotated[Optional[str], typer.Option("--runtime", help="eager, graph (CUDA graphs) or ort (default: the serving default, graph).")] = None,
    pue: PueOpt = None, datacenter: DatacenterOpt = None, grid: GridOpt = None, region: RegionOpt = None, net: NetOpt = False,
    batch_norm: BatchNormOpt = "auto", utilization: UtilizationOpt = None, power_boundary: PowerBoundaryOpt = None,
    embodied_boundary: EmbodiedBoundaryOpt = None,
    inferences_per_day: ItemsPerDayOpt = None, deployments: DeploymentsOpt = None,
    horizon_years: Annotated[Optional[str], typer.Option("--horizon-years", help="Years in service (number or range; default 1..3, profiles/defaults.toml [reuse]).")] = None,
    growth: Annotated[str, typer.Option("--growth", help="Traffic growth per year, fraction.")] = "0",
    per_deployment_cost_kg: PerDeploymentOpt = "0", retrains: RetrainsOpt = "0",
    nas_preset: Annotated[Optional[str], typer.Option("--nas-preset", help="Published search cost (default: mnasnet, the search behind MnasNet/EfficientNet).")] = None,
    nas_cost_kg: Annotated[Optional[float], typer.Option("--nas-cost-kg", help="Search cost, kgCO2e, instead of a preset.")] = None,
    nas_pue: NasPueOpt = None, nas_datacenter: NasDcOpt = None, nas_grid: NasGridOpt = None, nas_region: NasRegionOpt = None,
    budget_hardware: Annotated[Optional[str], typer.Option("--budget-hardware", help="Largest budget in chip-hours of this chip (default: the search's).")] = None,
    objective: Annotated[str, typer.Option("--objective", help="Ranking objective: co2e, energy, latency, weighted.")] = "co2e",
    max_latency_ms: Annotated[Optional[float], typer.Option("--max-latency-ms", help="Exclude candidates slower than this per batch.")] = None,
    min_accuracy: Annotated[Optional[float], typer.Option("--min-accuracy", help="Exclude candidates below this top-1 %.")] = None,
    samples: SamplesOpt = 20_000,
    search_plan: Annotated[Optional[Path], typer.Option("--search-plan", help="The search's cost from `plan-search --out plan.json`, with its band.")] = None,
    search_run: Annotated[Optional[str], typer.Option("--search-run", help="The search's cost as `track` measured it: a run's id, name or log file (its CO2e and band).")] = None,
    sensitivity: Annotated[bool, typer.Option("--sensitivity/--no-sensitivity", help="Say what would flip the verdict (re-projects the pair across batches, runtimes, dtypes and hardware).")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Monte Carlo seed.")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write analysis.json, ranking.csv and report.html here.")] = None,
    store: StoreOpt = None, no_store: NoStoreOpt = False, quiet: QuietOpt = False, profiles: ProfilesOpt = None,
    timeout: TimeoutOpt = 60.0, memory_limit: MemoryLimitOpt = 2048.0, wide: WideOpt = False,
    fmt: FormatOpt = OutFormat.table, verbose: VerboseOpt = False,
) -> None:
    """The main job: profile and project every candidate where it would be served, rank them, pair the baseline
    with the NAS-found model at comparable accuracy, cost the search where it ran, amortise it over the stated
    reuse with every uncertainty in one Monte Carlo, and say whether it pays back, with P(net saving), and what
    would flip the verdict. The verdict comes first, in plain words, with the reuse it rests on, the break-even
    volume, the saving, the search and the caveats that change it; then the notes that matter (-v: all of them),
    then the evidence: the candidates, the pair and where it is served, the amortisation, what would flip it."""
    from ..decide.amortize import reuse_defaults
    from ..decide.analysis import AnalysisRequest, analyze as run
    from ..report.progress import progress_bar

    inferences_per_day, deployments, _, horizon_years, _ = reuse_defaults(inferences_per_day, deployments, None, horizon_years)
    req = AnalysisRequest(
        folder=str(folder), baseline=baseline, nas_model=nas_model, accuracy_tolerance=accuracy_tolerance, hardware=hardware,
        dtype=dtype, runtime=runtime, batch=batch, pue=pue, datacenter=datacenter, grid=grid, region=region, net=net,
        batch_norm=batch_norm, utilization=utilization, power_boundary=power_boundary, embodied_boundary=embodied_boundary,
        items_per_day=inferences_per_day, deployments=deployments, horizon_years=horizon_years, growth=growth,
        per_deployment_cost_kg=per_deployment_cost_kg, retrains=retrains,
        nas_preset=nas_preset, nas_cost_kg=nas_cost_kg, nas_pue=nas_pue, nas_datacenter=nas_datacenter, nas_grid=nas_grid,
        nas_region=nas_region, budget_hardware=budget_hardware, objective=objective, max_latency_ms=max_latency_ms,
        min_accuracy=min_accuracy, samples=samples, seed=seed, sensitivity=sensitivity,
        search_plan=str(search_plan) if search_plan else None, search_run=search_run)
    if out is not None:  # before any work: an output over an input (the search plan, the store) is refused
        from ..files import refuse_inputs

        for name in ("analysis.json", "ranking.csv", "report.html"):
            refuse_inputs(out / name, [search_plan, store], UsageError, f"--out {out / name}")
    ps = load(profiles)
    db, pver = open_store(store, no_store)
    from ..load.manifest import expand_model_args

    total = len(expand_model_args([folder])) if folder.exists() else 0
    with progress_bar("profiling and projecting", total, quiet) as advance:
        a = run(req, ps, db, pver, advance)
    record = a.to_dict()
    report_errors(a.errors)
    stated = {k: v for k, v in record["request"].items() if v is not None and k in (
        "baseline", "nas_model", "nas_preset", "nas_cost_kg", "search_plan", "items_per_day", "deployments", "horizon_years")}
    finish_store(db, "analyze", {"folder": str(folder), **{k: record["target"][k] for k in (
        "hardware", "dtype", "runtime", "batch", "pue", "grid_gco2e_per_kwh")}, "site": record["target"]["site"]["label"], **stated},
                 {"pair": [a.pair["nas"], a.pair["baseline"]], "verdict": a.verdict["words"], "p_net_saving": a.verdict["p_net_saving"]})
    if out is not None:
        from ..report.outputs import write_outputs

        write_outputs(out, record, flag_of)
    if fmt is OutFormat.json:
        print_json(record)
    else:
        from ..report.decide_text import render_amortization, render_answer, render_ranking, render_sensitivities
        from ..report.verdict_text import evidence_rule, render_notes, render_verdict_block

        c = console(wide)
        t = record["target"]
        render_verdict_block(record, c)
        if not quiet:
            render_notes(record["notes"], c, verbose)
        evidence_rule(c)
        render_ranking(record["ranking"], c, f"Candidates on {t['hardware']} ({t['dtype']}, {t['runtime']}, batch {t['batch']})",
                       token=t["phase"]["kind"] == "serving", projections=record["projections"], wide=wide)
        render_answer(record, c, flag_of=flag_of)
        render_amortization(record["amortization"], c, quiet=True, verdict=False)
        if record["sensitivities"]:
            render_sensitivities(record["sensitivities"], c, flag_of, None if wide else 3)
        if out is not None:
            c.print(escape(f"wrote {out / 'analysis.json'}, {out / 'ranking.csv'} and {out / 'report.html'}"))
    raise typer.Exit(1 if a.errors else 0)


@app.command()
@command
def report(
    results: Annotated[list[Path], typer.Argument(help="analysis.json files written by `analyze --out` (or its --format json output).")],
    html_out: Annotated[Path, typer.Option("--html", help="Write the self-contained HTML report here.")],
) -> None:
    """Render saved analyses as one self-contained HTML report (inline CSS and plots, no network), exactly as
    `analyze --out` rendered them."""
    from ..decide.analysis import MAX_ANALYSIS_BYTES, Analysis
    from ..errors import naming
    from ..files import read_json, refuse_inputs, write_atomic
    from ..report.html import render_html
    from ..report.safe import terminal

    refuse_inputs(html_out, results, UsageError, f"--html {html_out}")  # `report a.json --html a.json` keeps a.json
    pages = []
    for path in results:
        try:
            record = Analysis.from_dict(read_json(path, UsageError, MAX_ANALYSIS_BYTES)).to_dict()
        except UsageError as e:
            raise naming(e, str(path)) from None
        pages.append(render_html(record, flag_of=flag_of) if len(results) == 1 else
                     render_html(record, f"nas-analyzer report: {path.name}", flag_of=flag_of))
    body = pages[0] if len(pages) == 1 else pages[0].replace("</body></html>", "") + "".join(
        p.split("<body>", 1)[1].replace("</body></html>", "") for p in pages[1:]) + "</body></html>"
    write_atomic(html_out, body, UsageError, f"--html {html_out}")
    print(terminal(f"wrote {html_out}"))
