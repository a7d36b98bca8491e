"""Command `calibrate`: fit a hardware profile to measured forwards or training steps. Parsing and rendering only."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from .base import FormatOpt, OutFormat, ProfilesOpt, app, command, err, load, print_json


@app.command()
@command
def calibrate(
    hardware: Annotated[str, typer.Option("--hardware", help="The hardware profile the measurements ran on.")],
    out: Annotated[Path, typer.Option("--out", help="Write the calibrated profile (TOML) here.")],
    measurements: Annotated[Optional[Path], typer.Option("--measurements", help="JSON-lines store written by `measure`.")] = None,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="CSV: model, batch, latency_s (or latency_ms_median)[, energy_j_per_item, dtype, runtime, device, latency_log_sigma, date].")] = None,
    runtime: Annotated[str, typer.Option("--runtime", help="Runtime of rows that do not say: eager, graph, ort.")] = "ort",
    dtype: Annotated[str, typer.Option("--dtype", help="dtype of rows that do not say.")] = "fp32",
    models_dir: Annotated[Optional[Path], typer.Option("--models", help="Folder holding NAME.onnx for CSV rows that name a model instead of a path.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Name of the calibrated profile (default: the --out file's stem).")] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="The device the measurements ran on, recorded in the profile (default: the one the measurements name).")] = None,
    shadow: Annotated[bool, typer.Option("--shadow", help="Allow a name (or --out file) a shipped profile has: a --profiles folder holding it replaces the shipped one.")] = False,
    device_kind: Annotated[Optional[str], typer.Option("--device-kind", help="Only measurements a fleet took on this kind (`measure --on`), or whose device name contains it.")] = None,
    zeus: Annotated[Optional[Path], typer.Option("--zeus", help="Zeus-style measurement JSON: records of model, batch, iterations and Zeus's time and gpu_energy.")] = None,
    measure: Annotated[Optional[list[Path]], typer.Option("--measure", help="Measure this ONNX model here first (repeatable, up to 5); the records are kept beside --out as PROFILE.measurements.jsonl.")] = None,
    provider: Annotated[str, typer.Option("--provider", help="With --measure: execution provider (cpu, cuda, rocm, ...).")] = "cpu",
    meter: Annotated[str, typer.Option("--meter", help="With --measure: energy meter, as for `measure` (an estimated energy is never fitted).")] = "auto",
    batch: Annotated[int, typer.Option("--batch", min=1, max=1 << 20, help="With --measure: the batch to measure at.")] = 1,
    max_time: Annotated[float, typer.Option("--max-time", min=0.1, max=86_400, help="With --measure: seconds per model.")] = 30.0,
    processes: Annotated[int, typer.Option("--processes", min=1, max=64, help="With --measure: fresh processes per model (--max-time split among them); their spread weighs each forward in the fit.")] = 3,
    phase: Annotated[Optional[str], typer.Option("--phase", help="train: fit training steps (measure_torch phase='train', or a CSV model,precision,batch,optimizer,step_ms_median[,energy_j_per_sample,date]).")] = None,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Fit a hardware profile's projection to measured forwards, within physics (SciPy least_squares: bounded
    parameters, a robust loss, a prior at the profile's values, only what the measurements identify, standard errors):
    host costs of the runtimes measured, each measured kernel class's efficiency, bandwidth and floor, and with
    measured energy the static power, active power and energy per byte. Prints each forward's in-sample,
    leave-one-out and uncalibrated error; refuses (one line, nothing written) hostile inputs and a fit whose
    leave-one-out error is worse than no fit. Writes (atomically) a profile named after --name or the --out file,
    recording the device measured and every measurement it was fitted on. --measure MODEL (up to 5) measures them
    here first. Rules: docs/calibration.md."""
    from ..decide.calibrate_case import CalibrateRequest, MeasureHere, calibrate as run

    text = lambda p: None if p is None else str(p)  # noqa: E731
    req = CalibrateRequest(hardware, str(out), text(measurements), text(csv_path), text(zeus), runtime, dtype, text(models_dir), name,
                           device, shadow, device_kind, phase,
                           MeasureHere(tuple(str(m) for m in measure or ()), provider, meter, batch, max_time, processes))
    result = run(load(profiles), req, load(None), err.print)
    if fmt is OutFormat.json:
        print_json(result.to_dict())
        return
    from ..report.calibration_text import render_calibration, render_training_calibration

    if result.kind == "train":
        render_training_calibration(result.summary, result.said)
    else:
        render_calibration(result.summary)
