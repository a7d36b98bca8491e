"""CLI commands `project` and `calibrate`: parsing and rendering only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from .cli import app, err, parse_dims
from .cli_carbon import FormatOpt, OutFormat, ProfilesOpt, _console, _load, resolve_target
from .errors import AnalyzerError

@app.command()
def project(
    models: Annotated[list[Path], typer.Argument(help="ONNX files, or folders (a manifest.toml's models, else *.onnx).")],
    hardware: Annotated[str, typer.Option("--hardware", help="Target hardware profile (see `profiles list hardware`).")],
    dtype: Annotated[Optional[str], typer.Option("--dtype", help="fp32, tf32, fp16, bf16, int8 (default: the first of bf16, fp16, fp32 the hardware has).")] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Batch size.")] = 1,
    runtime: Annotated[Optional[str], typer.Option("--runtime", help="eager (a kernel per op), graph (CUDA graphs), ort (ONNX Runtime: fuses epilogues; the default).")] = None,
    dim: Annotated[Optional[list[str]], typer.Option("--dim", help="Bind a symbolic input dim: NAME=VALUE (repeatable).")] = None,
    pue: Annotated[Optional[float], typer.Option("--pue")] = None,
    datacenter: Annotated[Optional[str], typer.Option("--datacenter")] = None,
    grid: Annotated[Optional[float], typer.Option("--grid-gco2e-per-kwh")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="NAME[@YEAR]")] = None,
    net: Annotated[bool, typer.Option("--net", help="CFE-net intensity of the region.")] = False,
    utilization: Annotated[float, typer.Option("--utilization", help="Busy share of the hardware's life, for the embodied share (0-1].")] = 1.0,
    per_kernel: Annotated[bool, typer.Option("--per-kernel", help="List every kernel the runtime launches: class, unit, time, bound, energy.")] = False,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Project latency, energy and CO2e per inference onto target hardware: the graph becomes the kernels the
    runtime launches (host-side shape work and views launch nothing; fusions per runtime), each kernel is
    timed by its class's saturating roofline, the host issues operators on a timeline, and energy is static
    and active power over time plus energy per FLOP and per byte. Says whether datasheet, achievable or
    calibrated numbers were used, and gives the 90% band of the profile's error model."""
    from .manifest import expand_model_args
    from .profile import profile_onnx
    from .profiles import projection_defaults
    from .project import project as run_projection
    from .project import resolve_params

    try:
        ps = _load(profiles)
        notes: list[str] = []
        if runtime is None:
            notes.append("no --runtime given: projected for ONNX Runtime (ort)")
        target = resolve_target(ps, hardware, dtype, runtime, batch, pue, datacenter, grid, region, net, utilization, notes)
        params = resolve_params(target.hardware, target.dtype, target.runtime, projection_defaults())
        paths = expand_model_args(models)
        dims = parse_dims(dim or [])
    except AnalyzerError as e:
        err.print(f"error: {e}", markup=False)
        raise typer.Exit(e.exit_code) from None
    results, code = [], 0
    for path in paths:
        try:
            prof = profile_onnx(path, dims, batch, per_op=True)
            r = run_projection(prof, target.hardware, params, target.runtime, target.dtype, pue=target.pue,
                               grid_gco2e_per_kwh=target.grid_gco2e_per_kwh, utilization=utilization,
                               place_inputs=target.place_inputs, per_kernel=per_kernel)
            r.notes[:0] = notes
            results.append(r)
        except AnalyzerError as e:
            msg = str(e)
            err.print(f"error: {msg if msg.startswith(str(path)) else f'{path}: {msg}'}", markup=False)
            code = max(code, e.exit_code)
    if results:
        if fmt is OutFormat.json:
            sys.stdout.write(json.dumps([r.to_dict() for r in results], indent=2) + "\n")
        else:
            from .report.projection_text import render_per_kernel, render_projections

            console = _console()
            render_projections(results, console)
            if per_kernel:
                for r in results:
                    render_per_kernel(r, console)
    raise typer.Exit(code)
