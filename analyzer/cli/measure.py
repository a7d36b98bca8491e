"""Command `measure`: parsing and rendering only."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import AnalyzerError, UsageError, param
from ..errors import naming
from .base import MemoryLimitOpt, TimeoutOpt, WideOpt, FormatOpt, OutFormat, app, command, console, err, message, parse_dims, print_json


def parse_batches(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--batch '{text}': expected positive integers separated by commas, e.g. 1,8,32") from None
    if not values or any(not 1 <= v <= 1 << 20 for v in values):
        raise UsageError(f"--batch '{text}': every batch must be from 1 to 1,048,576")
    return values


@app.command()
@command
def measure(
    models: Annotated[list[Path], typer.Argument(help="ONNX files, or folders (a manifest.toml's models, else *.onnx).")],
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes, comma-separated: 1,8,32.")] = "1",
    dim: Annotated[Optional[list[str]], typer.Option("--dim", help="Bind a symbolic input dim: NAME=VALUE (repeatable).")] = None,
    provider: Annotated[str, typer.Option("--provider", help="Execution provider: cpu, cuda, tensorrt, ... or a full ORT name.")] = "cpu",
    threads: Annotated[Optional[int], typer.Option("--threads", help="Intra-op threads, 1 to 1024 (default: ORT's choice).")] = None,
    opt_level: Annotated[str, typer.Option("--opt-level", help="Graph optimisation: disable, basic, extended, all.")] = "all",
    max_time: Annotated[float, typer.Option("--max-time", help="Time budget per model and batch, seconds (0.1 to 86,400).")] = 30.0,
    target_ci: Annotated[float, typer.Option("--target-ci", help="Stop when the median's 95% CI is within +- this fraction (1e-4 to 1).")] = 0.02,
    inputs: Annotated[Optional[Path], typer.Option("--inputs", help="Inputs from an .npz file (arrays named as the model's inputs).")] = None,
    meter: Annotated[str, typer.Option("--meter", help="Energy meter: auto (the first that reads for the provider, the CPU estimate last), rapl, nvml, rocm-smi, powermetrics, jetson, tegrastats, hwmon[:CHIP], estimate, none, replay:FILE.csv.")] = "auto",
    device: Annotated[int, typer.Option("--device", help="The run's GPU (CUDA/ROCm index; mapped through CUDA_VISIBLE_DEVICES or the SLURM allocation for NVML).")] = 0,
    store: Annotated[Optional[Path], typer.Option("--store", help="Append measurements to this JSON-lines file (default: the user cache).")] = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not save measurements.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no notes.")] = False,
    on: Annotated[Optional[list[str]], typer.Option("--on", help="Measure on a Ray fleet's nodes of this kind (a Ray resource, e.g. accelerator_type:H100; repeatable).")] = None,
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="The Ray cluster for --on ('auto', ray://HOST:PORT; default: a local one).")] = None,
    processes: Annotated[int, typer.Option("--processes", help="Measure each model and batch in this many fresh processes (1 to 64; --max-time is split among them) and report the spread between them, as pyperf does.")] = 1,
    timeout: TimeoutOpt = 60.0, memory_limit: MemoryLimitOpt = 2048.0, wide: WideOpt = False,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Measure latency with ONNX Runtime (warm-up, then adaptive repetition until the median's 95% CI is
    within --target-ci or --max-time ends) and, where a counter can be read, energy per item. With --on,
    on every kind of device of a Ray fleet, each record tagged with the node it ran on."""
    from ..load.manifest import expand_model_args
    from ..measure import store as mstore
    from ..measure.onnx_measure import OrtSettings, measure_onnx
    from ..measure.meters import EnergyMeter
    from ..measure.select import meter_from_spec
    from ..measure.ort_runner import OPT_LEVELS, resolve_provider
    from ..checks import check_int, check_number

    batches = parse_batches(batch)
    dims = parse_dims(dim or [])
    if opt_level not in OPT_LEVELS:
        raise UsageError(f"--opt-level '{opt_level}': expected one of {', '.join(OPT_LEVELS)}")
    check_number("max_time", max_time, 0.1, 86_400)
    check_number("target_ci", target_ci, 1e-4, 1.0)
    if threads is not None:
        check_int("threads", threads, 1, 1024)
    check_int("device", device, 0, 1024)
    check_int("processes", processes, 1, 64)
    if processes > 1 and on:
        raise UsageError(f"{param('processes')} measures here; a fleet ({param('on')}) measures on its nodes: give one")
    from ..measure.processes import measure_in_processes
    full_provider = resolve_provider(provider)
    paths = expand_model_args(models)
    if not no_store:  # before measuring: a results store (SQLite) or a special file is refused, nothing written
        mstore.check_appendable(store or mstore.default_path())
    from ..report.progress import progress_bar

    results, code = [], 0
    if on:
        from ..engine.fleet import measure_fleet
        from ..measure.record import Measurement

        settings = {"provider": provider, "device": device, "meter": meter, "dims": dims, "threads": threads,
                    "opt_level": opt_level, "max_time_s": max_time, "target_ci": target_ci}
        records, errors = measure_fleet(paths, batches, list(on), settings, ray_address)
        results = [Measurement.from_dict(r) for r in records]
        for e in errors:
            err.print(f"error: {message(e)}")
        code = 1 if errors else 0
    the_meter = meter_from_spec(meter, full_provider, device) if not on and processes == 1 else None
    with progress_bar("measuring", 0 if on else len(paths) * len(batches), quiet) as advance:
        for path in [] if on else paths:
            for b in batches:
                advance(f"{path.name} batch {b}")
                try:
                    if processes > 1:
                        results.append(measure_in_processes(path, b, processes, {
                            "dims": dims, "provider": full_provider, "threads": threads, "opt_level": opt_level,
                            "max_time_s": max_time / processes, "target_ci": target_ci, "meter": meter, "device": device,
                            "inputs_npz": str(inputs) if inputs else None}, timeout_s=max_time / processes * 3 + 120))
                        continue
                    results.append(measure_onnx(path, b, dims=dims, inputs_npz=inputs, meter=the_meter, settings=OrtSettings(
                        provider=full_provider, threads=threads, opt_level=opt_level, max_time_s=max_time, target_ci=target_ci)))
                except AnalyzerError as e:
                    err.print(f"error: {message(naming(e, str(path)))} (batch {b})")
                    code = max(code, e.exit_code)
    if isinstance(the_meter, EnergyMeter):
        the_meter.close()  # a sampling thread or a tool's process (tegrastats, powermetrics)
    if results and not no_store:
        try:
            mstore.append(store or mstore.default_path(), results)
        except AnalyzerError as e:
            err.print(f"warning: {message(e)}")
    from .runlog import record_run

    record_run("measure", {"models": [str(m) for m in models], "batches": batches, "provider": full_provider,
                           "measurements": str(store or mstore.default_path())},
               {"measured": len(results), "latency_s": {f"{r.model}@{r.batch}": r.latency_s_median for r in results[:20]}},
               None, no_store)
    if results:
        if fmt is OutFormat.json:
            print_json([r.to_dict() for r in results])
        else:
            from ..report.measure_text import render_measurements

            render_measurements(results, console(wide), quiet)
    raise typer.Exit(code)
