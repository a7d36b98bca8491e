"""Command `plan-search`: a search's cost before it runs (issue #18). Parsing and rendering only."""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..errors import UsageError
from .base import (QuietOpt, BatchNormOpt, MemoryFormatOpt, DatacenterOpt, FormatOpt, GridOpt, OutFormat, ProfilesOpt, PueOpt,
                   RegionOpt, NoStoreOpt, StoreOpt, WideOpt, app, command, console, load, print_json, report_failed)

TrainDtypeOpt = Annotated[Optional[str], typer.Option("--dtype", help="fp32, or bf16 / fp16 autocast, as the candidates train (default: the chip's first of bf16, fp16, tf32, fp32; a preset: its own).")]
TrainOptimizerOpt = Annotated[str, typer.Option("--optimizer", help="sgd, sgd-momentum, adam or adamw (PyTorch's foreach implementation).")]


@app.command("plan-search")
@command
def plan_search(
    source: Annotated[Optional[str], typer.Argument(help="The search's candidates, as `population` takes them (space:N, space:full, cells:NxF:OPS:COUNT, darts-supernet, FILE.py:NAME, which runs FILE.py, a folder, a manifest); not needed with --candidate-chip-hours or --preset.")] = None,
    hardware: Annotated[Optional[str], typer.Option("--hardware", help="The chip the search trains on (default h100; with --preset, the search's own chip).")] = None,
    population: Annotated[Optional[int], typer.Option("--population", min=1, max=10_000_000, help="Candidates the search trains (default: all of SOURCE).")] = None,
    sample: Annotated[int, typer.Option("--sample", min=1, max=1000, help="Candidates of SOURCE whose training is projected; their mean stands for all.")] = 16,
    dataset_samples: Annotated[Optional[float], typer.Option("--dataset-samples", help="Samples in one epoch of the dataset (ImageNet-1k: 1,281,167).")] = None,
    epochs: Annotated[Optional[float], typer.Option("--epochs", help="Epochs one candidate trains (with --dataset-samples).")] = None,
    samples_per_candidate: Annotated[Optional[float], typer.Option("--samples-per-candidate", help="Training samples one candidate sees (instead of --epochs).")] = None,
    candidate_chip_hours: Annotated[Optional[float], typer.Option("--candidate-chip-hours", help="State the training of one candidate in chip-hours instead of projecting it.")] = None,
    schedule: Annotated[str, typer.Option("--schedule", help="full, early-stop:F (mean fraction trained) or halving:ETA (successive halving).")] = "full",
    final_epochs: Annotated[Optional[float], typer.Option("--final-epochs", help="Epochs of the chosen model's final training (with --dataset-samples).")] = None,
    final_chip_hours: Annotated[Optional[float], typer.Option("--final-chip-hours", help="The final training in chip-hours (with --candidate-chip-hours).")] = None,
    final_model: Annotated[Optional[Path], typer.Option("--final-model", help="The model trained at the end (default: the mean candidate).")] = None,
    preset: Annotated[Optional[str], typer.Option("--preset", help="Plan a published search's own procedure (a NAS preset with a [procedure]: candidates, or supernet phases) and print it beside the published cost; with --hardware, on another chip.")] = None,
    dtype: TrainDtypeOpt = None, batch: Annotated[int, typer.Option("--batch", help="Training batch size (1 to 1,048,576).")] = 64, optimizer: TrainOptimizerOpt = "sgd-momentum", batch_norm: BatchNormOpt = "auto",
    memory_format: MemoryFormatOpt = "nchw",
    pue: PueOpt = None, datacenter: DatacenterOpt = None, grid: GridOpt = None, region: RegionOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the plan (JSON) here, for amortize/analyze --search-plan.")] = None,
    search_run: Annotated[Optional[str], typer.Option("--compare", help="Beside a tracked run (`track`: its id, name or log): plan vs measured per phase, with the ratio.")] = None,
    profiles: ProfilesOpt = None, wide: WideOpt = False, store: StoreOpt = None, no_store: NoStoreOpt = False,
    fmt: FormatOpt = OutFormat.table, quiet: QuietOpt = False,
) -> None:
    """What a planned search will cost before it runs: candidates trained under a schedule, then the final
    training, on a chip at a site: energy, CO2e (with its 90% band) and chip-hours per phase. Training per
    candidate is projected per sample on a sample of the candidates, or stated in chip-hours; --preset plans a
    published search's own procedure (candidates, or a supernet's phases) beside its published cost."""
    from ..decide.plan_case import PlanRequest, Training, plan_search as run
    from ..target import TargetRequest

    req = PlanRequest(source, preset, population, sample,
                      Training(dataset_samples, epochs, samples_per_candidate, candidate_chip_hours, final_epochs, final_chip_hours,
                               final_model and str(final_model)),
                      schedule, TargetRequest(hardware, dtype=dtype, batch=batch, optimizer=optimizer, pue=pue, datacenter=datacenter,
                                              grid=grid, region=region, batch_norm=batch_norm,
                                              memory_format=memory_format),
                      search_run, False if no_store else store)
    result = run(load(profiles), req)
    worst = report_failed(result.failed)  # a sampled candidate that failed, one line each; the plan is from the others
    d = result.to_dict()
    if out is not None:
        from ..files import write_atomic

        try:
            text = json.dumps(d, indent=2, allow_nan=False)
        except ValueError as e:
            raise UsageError(f"--out {out}: cannot write ({e})") from None
        write_atomic(out, text, UsageError, f"--out {out}", inputs=[result.settings["source"]])
    from .runlog import record_run

    record_run("plan-search", result.settings,
               {k: d["total"][k] for k in ("chip_hours", "energy_kwh", "co2e_kg")} | {"population": d["population"]}, store, no_store)
    if fmt is OutFormat.json:
        print_json(d)
    else:
        _render(d, out, wide, quiet)
    raise typer.Exit(worst)  # a sampled candidate that failed was named on stderr; the plan is from the others


def _render(d: dict, out: Path | None, wide: bool, quiet: bool = False) -> None:
    from ..report.text import notes, site_from_inputs, table
    from ..words import plain, plain_range

    c = console(wide)
    proc = d.get("procedure") or {}
    what = f"{d['population']:,} supernet training(s) of {proc['stand_in']}" if proc.get("kind") == "supernet" else \
        f"{d['population']:,} candidates"
    c.print(escape(f"Planned search: {what}, schedule {d['schedule']}, on {d['hardware']} ({d['basis']}); where: "
                   + site_from_inputs(d.get("inputs") or [], d["pue"], d["grid_gco2e_per_kwh"])))
    t = table()
    for col in ("phase", "samples" if d["basis"] == "projected" else "chip-hours (stated)", "chip-hours", "kWh",
                "kgCO2e (point)", "90% band"):
        t.add_column(col, justify="left" if col == "phase" else "right")
    for name in ("search", "final", "total"):
        p = d[name]
        if p is None:
            continue
        t.add_row(name, plain(p["samples"]), plain(p["chip_hours"]), plain(p["energy_kwh"]), plain(p["co2e_kg"]),
                  plain_range(p["low_kg"], p["high_kg"]))
    c.print(t)
    if len(d["rounds"]) > 1:
        c.print("rounds: " + ", ".join(f"{r['candidates']:,} x {r['samples_each']:,.4g}" for r in d["rounds"]))
    for ph in proc.get("phases", []):
        c.print(escape(f"phase: {ph['epochs']:g} epochs x {ph['passes']:.4g} passes = {ph['samples']:,.4g} samples: {ph['what']}"))
    if not quiet:
        notes(d["notes"], c)
    pub = d.get("published")
    if pub:
        c.print(escape(f"published: {pub['title']}: {pub['chip_hours']:,.4g} chip-hours, {pub['co2e_kg']:,.4g} kgCO2e; "
                       f"this plan of its procedure: {d['total']['chip_hours']:,.4g} chip-hours "
                       f"({pub['ratio_chip_hours']:.3g}x), {d['total']['co2e_kg']:,.4g} kgCO2e "
                       f"({pub['ratio_co2e']:.3g}x); {pub['stand_in']}"))
        c.print(escape(f"procedure: {pub['procedure_source']}"))
    if d.get("compare"):
        from ..report.track_text import render_compare

        render_compare(d["compare"], c)
    if out is not None:
        c.print(escape(f"wrote {out}: give it to amortize or analyze as --search-plan"))
