"""CLI commands `project` and `calibrate`: parsing and rendering only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .cli import app, err, parse_dims
from .cli_carbon import FormatOpt, OutFormat, ProfilesOpt, _console, _load, resolve_target
from .errors import AnalyzerError

def render(results, console: Console) -> None:
    t = Table(title="Projected", title_justify="left")
    for col in ("model", "hardware", "dtype", "runtime", "batch", "latency ms", "items/s", "J/item (range)", "gCO2e/item",
                "kg/M items", "embodied g/item", "bound c/m/o", "basis"):
        t.add_column(col, justify="left" if col in ("model", "hardware", "runtime", "basis") else "right", overflow="fold")
    for r in results:
        emb = "n/a" if r.embodied_co2e_g_per_item is None else f"{r.embodied_co2e_g_per_item:.3g}"
        t.add_row(escape(Path(r.model).name), escape(r.hardware), r.dtype, r.runtime, str(r.batch), f"{r.latency_s * 1e3:.4g}",
                  f"{r.throughput_per_s:.4g}", f"{r.energy_j_per_item:.3g} ({r.range['low']:.2g}-{r.range['high']:.2g})",
                  f"{r.co2e_g_per_item:.3g}", f"{r.co2e_kg_per_million:.3g}", emb,
                  "/".join(f"{100 * r.bound[k]:.0f}" for k in ("compute", "memory", "overhead")), r.basis)
    console.print(t)
    common = set.intersection(*(set(r.notes) for r in results)) if len(results) > 1 else set()
    for n in (n for n in results[0].notes if n in common):
        console.print(f"[yellow]note[/] {escape(n)}")
    for r in results:
        for n in r.notes:
            if n not in common:
                console.print(f"[yellow]note[/] {escape(Path(r.model).name)}: {escape(n)}")


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
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Project latency, energy and CO2e per inference onto target hardware with a per-operator roofline,
    per-kernel overhead and a per-op-class power model. Says whether datasheet, achievable or calibrated
    numbers were used."""
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
                               place_inputs=target.place_inputs)
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
            render(results, _console())
    raise typer.Exit(code)
