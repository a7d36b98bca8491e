"""CLI commands for profiles, run footprints and the 4Ms. Parsing and rendering only."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from .cli import app, err
from .errors import AnalyzerError, UsageError
from .profiles import ProfileSet, load_profiles

DEFAULT_DATACENTER = "industry-average-2021"
DEFAULT_REGION = "world-iea-2019"

profiles_app = typer.Typer(help="List and show hardware, datacenter and region profiles.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")


class Kind(str, Enum):
    hardware = "hardware"
    datacenter = "datacenter"
    region = "region"
    nas = "nas"


class OutFormat(str, Enum):
    table = "table"
    json = "json"


ProfilesOpt = Annotated[Optional[list[Path]], typer.Option("--profiles", help="Extra profile folder (hardware/, datacenter/, region/ inside); overrides shipped profiles by name. Repeatable.")]
FormatOpt = Annotated[OutFormat, typer.Option("--format", help="Output format.")]


def _run(fn) -> None:
    """Run a command body: AnalyzerError -> one line on stderr and its exit code."""
    try:
        fn()
    except AnalyzerError as e:
        err.print(f"error: {e}", markup=False)
        raise typer.Exit(e.exit_code) from None


def _emit(record, fmt: "OutFormat", render) -> None:
    """A record as JSON on stdout, or rendered as tables."""
    if fmt is OutFormat.json:
        sys.stdout.write(json.dumps(record.to_dict(), indent=2) + "\n")
    else:
        render(record, _console())


def _load(dirs: list[Path] | None) -> ProfileSet:
    return load_profiles(tuple(Path(d) for d in dirs or ()))


def _console() -> Console:
    c = Console(highlight=False)
    if not c.is_terminal:
        c.width = max(c.width, 160)
    return c


@profiles_app.command("list")
def profiles_list(kind: Annotated[Optional[Kind], typer.Argument(help="hardware, datacenter, region or nas (search presets); all if omitted.")] = None,
                  profiles: ProfilesOpt = None, fmt: FormatOpt = OutFormat.table) -> None:
    """List the available profiles with a one-line summary."""
    def body() -> None:
        ps = _load(profiles)
        if fmt is OutFormat.json:
            kinds = [kind.value] if kind else ["hardware", "datacenter", "region", "nas"]
            print(json.dumps({k: sorted(getattr(ps, k)) for k in kinds}, indent=2))
        else:
            from .report.carbon_text import render_profile_list

            render_profile_list(ps, kind.value if kind else None, _console())
    _run(body)


@profiles_app.command("show")
def profiles_show(name: Annotated[str, typer.Argument(help="Profile name (any kind); a region may be NAME@YEAR.")],
                  profiles: ProfilesOpt = None, fmt: FormatOpt = OutFormat.table) -> None:
    """Show every value of one profile with its source, year and kind."""
    def body() -> None:
        ps = _load(profiles)
        base = name.partition("@")[0]
        found = []
        for k in ("hardware", "datacenter", "region", "nas"):
            try:
                found.append(ps.get(k, base))
            except AnalyzerError:
                pass
        if not found:
            ps.get("hardware" if "-" not in base else "region", base)  # raises with closest matches
            raise UsageError(f"unknown profile '{name}'")
        p = found[0]
        if fmt is OutFormat.json:
            from dataclasses import asdict

            print(json.dumps(asdict(p), indent=2, default=str))
        else:
            from .report.carbon_text import render_profile_show

            render_profile_show(p, _console())
    _run(body)


def _place(ps: ProfileSet, pue, datacenter, grid, region, notes: list[str], side: str = ""):
    """Resolve PUE/datacenter and intensity/region, applying the stated defaults (and saying so)."""
    flag = f"--{side}-" if side else "--"
    if pue is not None and datacenter is not None:
        raise UsageError(f"give one of {flag}pue and {flag}datacenter, not both")
    if grid is not None and region is not None:
        raise UsageError(f"give one of {flag}grid-gco2e-per-kwh and {flag}region, not both")
    dc = ps.get("datacenter", datacenter) if datacenter else None
    if pue is None and dc is None:
        dc = ps.get("datacenter", DEFAULT_DATACENTER)
        notes.append(f"{side + ': ' if side else ''}no {flag}pue/{flag}datacenter given: assumed {DEFAULT_DATACENTER} (PUE {dc.pue.value:g})")
    reg = ps.region_at(region) if region else None
    if grid is None and reg is None:
        reg = ps.region_at(DEFAULT_REGION)
        notes.append(f"{side + ': ' if side else ''}no {flag}grid-gco2e-per-kwh/{flag}region given: assumed {DEFAULT_REGION} "
                     f"({reg[1].grid_gco2e_per_kwh:g} gCO2e/kWh)")
    elif reg is not None and "@" not in region and len(reg[0].years) > 1:
        notes.append(f"{side + ': ' if side else ''}region {reg[0].name}: latest year {reg[1].year} used (NAME@YEAR picks another)")
    return pue, dc, grid, reg


@app.command()
def footprint(
    hardware: Annotated[str, typer.Option("--hardware", help="Hardware profile name (see `profiles list hardware`).")],
    count: Annotated[float, typer.Option("--count", help="Number of chips.")] = 1,
    hours: Annotated[Optional[float], typer.Option("--hours", help="Run length in hours.")] = None,
    days: Annotated[Optional[float], typer.Option("--days", help="Run length in days.")] = None,
    avg_power_w: Annotated[Optional[float], typer.Option("--avg-power-w", help="Measured average power per chip (W).")] = None,
    utilization: Annotated[Optional[float], typer.Option("--utilization", help="Estimate power as TDP x this fraction (0-1].")] = None,
    pue: Annotated[Optional[float], typer.Option("--pue", help="Datacenter PUE (>= 1).")] = None,
    datacenter: Annotated[Optional[str], typer.Option("--datacenter", help=f"Datacenter profile (default {DEFAULT_DATACENTER}, said in the output).")] = None,
    grid: Annotated[Optional[float], typer.Option("--grid-gco2e-per-kwh", help="Grid carbon intensity (gCO2e/kWh).")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help=f"Region profile NAME[@YEAR] (default {DEFAULT_REGION}, said in the output).")] = None,
    net: Annotated[bool, typer.Option("--net", help="Use the region's CFE-net intensity: gross x (1 - CFE share).")] = False,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Energy and CO2e of a run (Patterson et al. 2021: kWh = hours x chips x W x PUE / 1000; CO2e = kWh x
    intensity), plus the embodied carbon of the share of the hardware's lifetime used, reported apart."""
    def body() -> None:
        from .carbon import footprint as compute

        if (hours is None) == (days is None):
            raise UsageError("give exactly one of --hours and --days")
        ps = _load(profiles)
        notes: list[str] = []
        p, dc, g, reg = _place(ps, pue, datacenter, grid, region, notes)
        result = compute(ps.get("hardware", hardware), count, hours if hours is not None else days * 24,  # type: ignore[operator]
                         avg_power_w=avg_power_w, utilization=utilization, pue=p, datacenter=dc, grid_gco2e_per_kwh=g,
                         region=reg, net=net)
        result.notes[:0] = notes
        from .report.carbon_text import render_footprint

        _emit(result, fmt, render_footprint)
    _run(body)


def _compute(model: Path | None, flops: float | None) -> float | None:
    if model is not None and flops is not None:
        raise UsageError("give a model or FLOPs for a side, not both")
    if model is not None:
        from .profile import profile_onnx

        return float(profile_onnx(model, scan_sparsity=False).flops)
    return flops


@app.command()
def fourm(
    base_hardware: Annotated[str, typer.Option("--base-hardware", help="Baseline hardware profile.")],
    new_hardware: Annotated[str, typer.Option("--new-hardware", help="Improved hardware profile.")],
    model_ratio: Annotated[Optional[float], typer.Option("--model-ratio", help="Stated compute ratio base/new (Model factor).")] = None,
    base_flops: Annotated[Optional[float], typer.Option("--base-flops", help="Baseline compute (FLOPs).")] = None,
    new_flops: Annotated[Optional[float], typer.Option("--new-flops", help="Improved compute (FLOPs).")] = None,
    base_model: Annotated[Optional[Path], typer.Option("--base-model", help="Baseline ONNX model: its profiled FLOPs.")] = None,
    new_model: Annotated[Optional[Path], typer.Option("--new-model", help="Improved ONNX model: its profiled FLOPs.")] = None,
    base_dtype: Annotated[Optional[str], typer.Option("--base-dtype", help="dtype for the baseline's peak throughput.")] = None,
    new_dtype: Annotated[Optional[str], typer.Option("--new-dtype", help="dtype for the improved side's peak throughput.")] = None,
    base_tflops: Annotated[Optional[float], typer.Option("--base-tflops", help="Stated baseline throughput per chip (TFLOP/s).")] = None,
    new_tflops: Annotated[Optional[float], typer.Option("--new-tflops", help="Stated improved throughput per chip (TFLOP/s).")] = None,
    achievable: Annotated[bool, typer.Option("--achievable", help="Use measured achievable ceilings, not datasheet peaks.")] = False,
    base_power_w: Annotated[Optional[float], typer.Option("--base-power-w", help="Stated baseline average power per chip (W).")] = None,
    new_power_w: Annotated[Optional[float], typer.Option("--new-power-w", help="Stated improved average power per chip (W).")] = None,
    base_pue: Annotated[Optional[float], typer.Option("--base-pue")] = None,
    new_pue: Annotated[Optional[float], typer.Option("--new-pue")] = None,
    base_datacenter: Annotated[Optional[str], typer.Option("--base-datacenter")] = None,
    new_datacenter: Annotated[Optional[str], typer.Option("--new-datacenter")] = None,
    base_grid: Annotated[Optional[float], typer.Option("--base-grid-gco2e-per-kwh")] = None,
    new_grid: Annotated[Optional[float], typer.Option("--new-grid-gco2e-per-kwh")] = None,
    base_region: Annotated[Optional[str], typer.Option("--base-region", help="NAME[@YEAR]")] = None,
    new_region: Annotated[Optional[str], typer.Option("--new-region", help="NAME[@YEAR]")] = None,
    base_net: Annotated[bool, typer.Option("--base-net", help="CFE-net intensity for the baseline region.")] = False,
    new_net: Annotated[bool, typer.Option("--new-net", help="CFE-net intensity for the improved region.")] = False,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """The 4Ms: factor a reduction into Model (compute) x Machine (perf/W) x Mechanization (PUE) = energy,
    and x Map (grid intensity) = CO2e, with absolute numbers on both sides when compute is known."""
    def body() -> None:
        from .fourms import Scenario, four_ms

        ps = _load(profiles)
        notes: list[str] = []
        sides = []
        for side, hw, model, flops, dtype, tflops, power, pue, dc, grid, region, net in (
                ("base", base_hardware, base_model, base_flops, base_dtype, base_tflops, base_power_w, base_pue, base_datacenter, base_grid, base_region, base_net),
                ("new", new_hardware, new_model, new_flops, new_dtype, new_tflops, new_power_w, new_pue, new_datacenter, new_grid, new_region, new_net)):
            p, d, g, r = _place(ps, pue, dc, grid, region, notes, side)
            sides.append(Scenario(ps.get("hardware", hw), _compute(model, flops), dtype, tflops, achievable, power, None, p, d, g, r, net, side))
        result = four_ms(sides[0], sides[1], model_ratio)
        result.notes[:0] = notes
        from .report.carbon_text import render_fourms

        _emit(result, fmt, render_fourms)
    _run(body)


def resolve_target(ps, hardware, dtype, runtime, batch, pue, datacenter, grid, region, net, utilization, notes):
    """The deployment target of project/rank/analyze: hardware, dtype (default the first of bf16, fp16,
    fp32 it has, said in notes), runtime, batch, PUE and grid intensity with their provenance."""
    from .carbon import region_intensity
    from .pipeline import Target

    hw = ps.get("hardware", hardware)
    chosen = dtype or next((d for d in ("bf16", "fp16", "fp32") if d in hw.peak_tflops), None)
    if chosen is None:
        raise UsageError(f"hardware '{hw.name}' has none of bf16, fp16, fp32; give --dtype")
    if dtype is None:
        notes.append(f"no --dtype given: projected in {chosen}")
    p, dc, g, reg = _place(ps, pue, datacenter, grid, region, notes)
    place = []
    if p is None:
        p = dc.pue.value
        place.append(dc.pue.as_input("pue", "") | {"source": f"{dc.name}: {dc.pue.source}"})
    else:
        place.append({"name": "pue", "value": p, "unit": "", "source": "stated by the user", "kind": "stated"})
    if g is None:
        g, g_in = region_intensity(reg[0], reg[1], net)
        place.append(g_in)
    else:
        place.append({"name": "grid_gco2e_per_kwh", "value": g, "unit": "gCO2e/kWh", "source": "stated by the user", "kind": "stated"})
    return Target(hw, chosen, runtime or "ort", batch, p, g, place, utilization)
