"""Command `calibrate`: fit a hardware profile to measured forwards or training steps. Parsing and rendering only."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError, param
from .base import FormatOpt, OutFormat, ProfilesOpt, app, command, err, load, print_json


@app.command()
@command
def calibrate(
    hardware: Annotated[str, typer.Option("--hardware", help="The hardware profile the measurements ran on.")],
    out: Annotated[Path, typer.Option("--out", help="Write the calibrated profile (TOML) here.")],
    measurements: Annotated[Optional[Path], typer.Option("--measurements", help="JSON-lines store written by `measure`.")] = None,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="CSV: model, batch, latency_s (or latency_ms_median)[, energy_j_per_item, dtype, runtime, date].")] = None,
    runtime: Annotated[str, typer.Option("--runtime", help="Runtime of rows that do not say: eager, graph, ort.")] = "ort",
    dtype: Annotated[str, typer.Option("--dtype", help="dtype of rows that do not say.")] = "fp32",
    models_dir: Annotated[Optional[Path], typer.Option("--models", help="Folder holding NAME.onnx for CSV rows that name a model instead of a path.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Name of the calibrated profile (default: HARDWARE-calibrated).")] = None,
    device_kind: Annotated[Optional[str], typer.Option("--device-kind", help="Only measurements a fleet took on this kind (`measure --on`), or whose device name contains it.")] = None,
    zeus: Annotated[Optional[Path], typer.Option("--zeus", help="Zeus-style measurement JSON: records of model, batch, iterations and Zeus's time and gpu_energy.")] = None,
    measure: Annotated[Optional[list[Path]], typer.Option("--measure", help="Measure this ONNX model here first (repeatable, up to 5); the records are kept beside --out as PROFILE.measurements.jsonl.")] = None,
    provider: Annotated[str, typer.Option("--provider", help="With --measure: execution provider (cpu, cuda, rocm, ...).")] = "cpu",
    meter: Annotated[str, typer.Option("--meter", help="With --measure: energy meter, as for `measure` (an estimated energy is never fitted).")] = "auto",
    batch: Annotated[int, typer.Option("--batch", min=1, max=1 << 20, help="With --measure: the batch to measure at.")] = 1,
    max_time: Annotated[float, typer.Option("--max-time", min=0.1, max=86_400, help="With --measure: seconds per model.")] = 30.0,
    phase: Annotated[Optional[str], typer.Option("--phase", help="train: fit training steps (measure_torch phase='train', or a CSV model,precision,batch,optimizer,step_ms_median[,energy_j_per_sample,date]).")] = None,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Fit a hardware profile's projection to measured forwards: the host cost of issuing operators (eager,
    ONNX Runtime) or the gaps of CUDA-graph replay, scales on the kernel classes' efficiencies, bandwidth
    and floor, and with measured energy the static power, active power and energy per byte. Writes a
    calibrated profile that records every measurement it was fitted on, its prediction and error; its values
    carry the year of the measurements. One command from a device to its profile: --measure MODEL (up to 5) measures
them here first and keeps the records beside the profile. (Kernel classes from profiler traces:
benchmarks/gpu_calibration.py fit.)"""
    from ..files import refuse_inputs

    # before anything is measured or written: the profile must not replace a file it is fitted on
    refuse_inputs(out, [measurements, csv_path, zeus, *(measure or [])], UsageError, f"{param('out')} {out}")
    ps = load(profiles)
    hw = ps.get("hardware", hardware)
    if phase is not None:
        _training(hw, phase, measurements, csv_path, models_dir, out, fmt)
        return
    from ..measure.record import cpu_model
    from ..profiles import projection_defaults
    from ..project.calibrate import calibrate as fit
    from ..project.calibrate import calibrated_profile_toml, observations_summary
    from ..project.observations import data_year, observations, read_observations

    if measure:
        measurements = _measure_here(measure, out, batch, provider, meter, max_time, measurements)
    notes: list[str] = []
    rows = read_observations(measurements, csv_path, runtime, dtype, models_dir, device_kind, zeus, notes)
    for n in notes:
        err.print(f"note: {n}")
    obs = observations(rows)
    cal = fit(obs, hw, projection_defaults())
    text = calibrated_profile_toml(hw, cal, obs, name or f"{hw.name}-calibrated", cpu_model(),
                                   data_year=data_year([r[-1] for r in rows]))
    _write(out, text)
    summary = {"profile": str(out), "values": {k: cal.values[k] for k in cal.fitted_keys}, "median_abs_error": cal.median_abs_error,
               "p90_abs_error": cal.p90_abs_error, "energy_median_abs_error": cal.energy_median_abs_error,
               "fitted_on": observations_summary(cal, obs)}
    if fmt is OutFormat.json:
        print_json(summary)
        return
    from ..report.calibration_text import render_calibration

    render_calibration(summary)


def _measure_here(models: list[Path], out: Path, batch: int, provider: str, meter: str, max_time: float,
                  given: Path | None) -> Path:
    """calibrate --measure: measure the models now and keep the records beside the profile."""
    from ..measure import store as mstore
    from ..measure.onnx_measure import measure_for_calibration

    if given is not None:
        raise UsageError(f"{param('measure')} writes its own measurements file; drop {param('measurements')} or {param('measure')}")
    path = out.with_suffix(".measurements.jsonl")
    mstore.check_appendable(path)  # before measuring: a results store there is never appended to
    records = measure_for_calibration(list(models), batch, provider, meter, max_time_s=max_time)
    mstore.append(path, records)
    for m in records:
        err.print(f"measured {Path(m.model).name} batch {m.batch}: {m.latency_s_median * 1e3:.4g} ms, energy "
                  f"{'n/a' if m.energy_j_per_item is None else f'{m.energy_j_per_item:.4g} J/item'} ({m.energy_source})")
    err.print(f"kept {len(records)} measurement(s) in {path}")
    return path


def _write(out: Path, text: str) -> None:
    from ..files import write_atomic

    write_atomic(out, text, UsageError, f"{param('out')} {out}")  # a failed write leaves the old profile whole


def _training(hw, phase: str, measurements: Path | None, csv_path: Path | None, models_dir: Path | None, out: Path,
              fmt: OutFormat) -> None:
    """calibrate --phase train: fit the training parameters to measured steps; write the hardware profile with
    a [training] table (same name: a --profiles folder holding it overrides the shipped one)."""
    from datetime import date

    from ..profiles import Sourced, projection_defaults
    from ..profiles.writer import hardware_toml
    from ..project import resolve_params
    from ..project.observations import data_year, read_training_rows, training_samples
    from ..project.training import fit_training, training_runtime

    if phase != "train":
        raise UsageError(f"{param('phase')} {phase}: calibrate fits forwards (no {param('phase')}) or training steps "
                         f"({param('phase')} train)")
    rows = read_training_rows(measurements, csv_path)
    samples = training_samples(rows, models_dir)
    runtime = training_runtime(hw)
    fit = fit_training(samples, lambda prec: resolve_params(hw, prec, runtime, projection_defaults()), hw.category == "gpu")
    v = fit["values"]
    said = (f"calibrated on {fit['n']} training steps ({measurements or csv_path}): step time median |error| "
            f"{fit['median_abs_error_before']:.1%} -> {fit['median_abs_error']:.1%}")
    year = data_year([r[-1] for r in rows]) or date.today().year
    training = {k: Sourced(float(f"{v[k]:.6g}"), said, year, "calibrated") for k in v}
    _write(out, hardware_toml(hw, training=training))
    summary = {"profile": str(out), **fit}
    if fmt is OutFormat.json:
        print_json(summary)
        return
    from ..report.calibration_text import render_training_calibration

    render_training_calibration(summary, said)
