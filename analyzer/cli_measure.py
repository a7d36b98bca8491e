"""CLI command `measure`: parsing and rendering only."""

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
from .cli_carbon import FormatOpt, OutFormat, _console
from .errors import AnalyzerError, UsageError


def parse_batches(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--batch '{text}': expected positive integers separated by commas, e.g. 1,8,32") from None
    if not values or any(v < 1 for v in values):
        raise UsageError(f"--batch '{text}': every batch must be >= 1")
    return values


def choose_meter(spec: str, provider: str, device: int):
    """A meter, or the MeterUnavailable that says why there is none (reported as energy_source)."""
    from .measure.meters import MeterUnavailable, NvmlMeter, RaplMeter, ReplayMeter, auto_meter

    try:
        if spec == "none":
            return None
        if spec == "auto":
            return auto_meter(provider, device)
        if spec == "rapl":
            return RaplMeter()
        if spec == "nvml":
            return NvmlMeter(device)
        if spec.startswith("replay:"):
            return ReplayMeter.from_csv(spec.removeprefix("replay:"))
    except MeterUnavailable as e:
        return e
    raise UsageError(f"--meter '{spec}': expected auto, rapl, nvml, none or replay:FILE.csv")


def render(results, console: Console, quiet: bool = False) -> None:
    t = Table(title="Measured", title_justify="left")
    for col in ("model", "batch", "median ms", "95% CI", "p10-p90 ms", "iters", "items/s", "J/item", "dyn J/item", "energy source"):
        t.add_column(col, justify="left" if col in ("model", "energy source") else "right", overflow="fold")
    for m in results:
        j = "n/a" if m.energy_j_per_item is None else f"{m.energy_j_per_item:.4g}"
        dj = "n/a" if m.dynamic_energy_j_per_item is None else f"{m.dynamic_energy_j_per_item:.4g}"
        ci = f"+-{m.ci_rel:.1%}" + ("" if m.converged else " (!)")
        t.add_row(escape(Path(m.model).name), str(m.batch), f"{m.latency_s_median * 1e3:.4g}", ci,
                  f"{m.latency_s_p10 * 1e3:.4g}-{m.latency_s_p90 * 1e3:.4g}", str(m.iterations), f"{m.throughput_per_s:.4g}",
                  j, dj, escape(m.energy_source))
    console.print(t)
    if results:
        m = results[0]
        console.print(f"{escape(m.runtime_version)}, provider {escape(m.provider)}, threads {m.threads or 'default'}, "
                      f"opt level {m.opt_level}, CPU {escape(m.cpu_model)}")
    for m in [] if quiet else results:
        for n in m.notes:
            console.print(f"[yellow]note[/] {escape(Path(m.model).name)} batch {m.batch}: {escape(n)}")


@app.command()
def measure(
    models: Annotated[list[Path], typer.Argument(help="ONNX files, or folders (a manifest.toml's models, else *.onnx).")],
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes, comma-separated: 1,8,32.")] = "1",
    dim: Annotated[Optional[list[str]], typer.Option("--dim", help="Bind a symbolic input dim: NAME=VALUE (repeatable).")] = None,
    provider: Annotated[str, typer.Option("--provider", help="Execution provider: cpu, cuda, tensorrt, ... or a full ORT name.")] = "cpu",
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="Intra-op threads (default: ORT's choice).")] = None,
    opt_level: Annotated[str, typer.Option("--opt-level", help="Graph optimisation: disable, basic, extended, all.")] = "all",
    max_time: Annotated[float, typer.Option("--max-time", min=0.1, help="Time budget per model and batch, seconds.")] = 30.0,
    target_ci: Annotated[float, typer.Option("--target-ci", min=1e-4, max=1.0, help="Stop when the median's 95% CI is within +- this fraction.")] = 0.02,
    inputs: Annotated[Optional[Path], typer.Option("--inputs", help="Inputs from an .npz file (arrays named as the model's inputs).")] = None,
    meter: Annotated[str, typer.Option("--meter", help="Energy meter: auto (NVML on CUDA, else RAPL), rapl, nvml, none, replay:FILE.csv.")] = "auto",
    device: Annotated[int, typer.Option("--device", min=0, help="GPU index for NVML.")] = 0,
    store: Annotated[Optional[Path], typer.Option("--store", help="Append measurements to this JSON-lines file (default: the user cache).")] = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not save measurements.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no notes.")] = False,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Measure latency with ONNX Runtime (warm-up, then adaptive repetition until the median's 95% CI is
    within --target-ci or --max-time ends) and, where a counter can be read, energy per item."""
    from .manifest import expand_model_args
    from .measure import store as mstore
    from .measure.onnx_measure import measure_onnx
    from .measure.ort_runner import OPT_LEVELS, resolve_provider

    try:
        batches = parse_batches(batch)
        dims = parse_dims(dim or [])
        if opt_level not in OPT_LEVELS:
            raise UsageError(f"--opt-level '{opt_level}': expected one of {', '.join(OPT_LEVELS)}")
        full_provider = resolve_provider(provider)
        paths = expand_model_args(models)
        the_meter = choose_meter(meter, full_provider, device)
    except AnalyzerError as e:
        err.print(f"error: {e}", markup=False)
        raise typer.Exit(e.exit_code) from None
    from .report.progress import progress_bar

    results, code = [], 0
    with progress_bar("measuring", len(paths) * len(batches), quiet) as advance:
        for path in paths:
            for b in batches:
                advance(f"{path.name} batch {b}")
                try:
                    results.append(measure_onnx(path, b, dims=dims, provider=full_provider, threads=threads, opt_level=opt_level,
                                                max_time_s=max_time, target_ci=target_ci, inputs_npz=inputs, meter=the_meter))
                except AnalyzerError as e:
                    msg = str(e)
                    err.print(f"error: {msg if msg.startswith(str(path)) else f'{path}: {msg}'} (batch {b})", markup=False)
                    code = max(code, e.exit_code)
    if results and not no_store:
        try:
            mstore.append(store or mstore.default_path(), results)
        except AnalyzerError as e:
            err.print(f"warning: {e}", markup=False)
    if results:
        if fmt is OutFormat.json:
            sys.stdout.write(json.dumps([r.to_dict() for r in results], indent=2) + "\n")
        else:
            render(results, _console(), quiet)
    raise typer.Exit(code)
