"""Commands for run footprints and the 4Ms. Parsing and rendering only."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from .base import QuietOpt, EmbodiedBoundaryOpt, FormatOpt, OutFormat, PowerBoundaryOpt, ProfilesOpt, app, command, console, load, print_json


@app.command()
@command
def footprint(
    hardware: Annotated[str, typer.Option("--hardware", help="Hardware profile name (see `profiles list hardware`).")],
    count: Annotated[float, typer.Option("--count", help="Number of chips.")] = 1,
    hours: Annotated[Optional[float], typer.Option("--hours", help="Run length in hours.")] = None,
    days: Annotated[Optional[float], typer.Option("--days", help="Run length in days.")] = None,
    avg_power_w: Annotated[Optional[float], typer.Option("--avg-power-w", help="Measured average power per chip (W).")] = None,
    utilization: Annotated[Optional[float], typer.Option("--utilization", help="Estimate power as TDP x this fraction (0-1].")] = None,
    pue: Annotated[Optional[float], typer.Option("--pue", help="Datacenter PUE (1 to 5).")] = None,
    datacenter: Annotated[Optional[str], typer.Option("--datacenter", help="Datacenter profile (default: stated in the output).")] = None,
    grid: Annotated[Optional[float], typer.Option("--grid-gco2e-per-kwh", help="Grid carbon intensity (gCO2e/kWh).")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="Region profile NAME[@YEAR] (default: stated in the output).")] = None,
    net: Annotated[bool, typer.Option("--net", help="Use the region's CFE-net intensity: gross x (1 - CFE share).")] = False,
    power_boundary: PowerBoundaryOpt = None, embodied_boundary: EmbodiedBoundaryOpt = None,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table, quiet: QuietOpt = False,
) -> None:
    """Energy and CO2e of a run (Patterson et al. 2021: kWh = hours x chips x W x PUE / 1000; CO2e = kWh x
    intensity), plus the embodied carbon of the share of the hardware's lifetime used, reported apart."""
    from ..decide.carbon_case import FootprintRequest, SiteRequest, footprint as run

    result = run(load(profiles), FootprintRequest(hardware, count, hours, days, avg_power_w, utilization,
                                                  SiteRequest(pue, datacenter, grid, region, net), power_boundary, embodied_boundary))
    from ..report.carbon_text import render_footprint

    print_json(result.to_dict()) if fmt is OutFormat.json else render_footprint(result.to_dict(), console(), quiet)


@app.command()
@command
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
    base_pue: Annotated[Optional[float], typer.Option("--base-pue", help="Baseline datacenter PUE.")] = None,
    new_pue: Annotated[Optional[float], typer.Option("--new-pue", help="Improved datacenter PUE.")] = None,
    base_datacenter: Annotated[Optional[str], typer.Option("--base-datacenter", help="Baseline datacenter profile.")] = None,
    new_datacenter: Annotated[Optional[str], typer.Option("--new-datacenter", help="Improved datacenter profile.")] = None,
    base_grid: Annotated[Optional[float], typer.Option("--base-grid-gco2e-per-kwh", help="Baseline grid intensity.")] = None,
    new_grid: Annotated[Optional[float], typer.Option("--new-grid-gco2e-per-kwh", help="Improved grid intensity.")] = None,
    base_region: Annotated[Optional[str], typer.Option("--base-region", help="Baseline region NAME[@YEAR].")] = None,
    new_region: Annotated[Optional[str], typer.Option("--new-region", help="Improved region NAME[@YEAR].")] = None,
    base_net: Annotated[bool, typer.Option("--base-net", help="CFE-net intensity for the baseline region.")] = False,
    new_net: Annotated[bool, typer.Option("--new-net", help="CFE-net intensity for the improved region.")] = False,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table, quiet: QuietOpt = False,
) -> None:
    """The 4Ms: factor a reduction into Model (compute) x Machine (perf/W) x Mechanization (PUE) = energy,
    and x Map (grid intensity) = CO2e, with absolute numbers on both sides when compute is known."""
    from ..decide.carbon_case import FourmRequest, FourmSide, SiteRequest, fourms as run

    text = lambda p: None if p is None else str(p)  # noqa: E731
    result = run(load(profiles), FourmRequest(
        FourmSide(base_hardware, text(base_model), base_flops, base_dtype, base_tflops, base_power_w,
                  SiteRequest(base_pue, base_datacenter, base_grid, base_region, base_net)),
        FourmSide(new_hardware, text(new_model), new_flops, new_dtype, new_tflops, new_power_w,
                  SiteRequest(new_pue, new_datacenter, new_grid, new_region, new_net)), model_ratio, achievable))
    from ..report.carbon_text import render_fourms

    print_json(result.to_dict()) if fmt is OutFormat.json else render_fourms(result.to_dict(), console(), quiet)

