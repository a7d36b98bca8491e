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
    from ..decide.calibration import Target, calibrate_forwards, check_target, profile_name
    from ..files import refuse_inputs

    # before anything is measured or written: the profile must not replace a file it is fitted on
    refuse_inputs(out, [measurements, csv_path, zeus, *(measure or [])], UsageError, f"{param('out')} {out}")
    ps = load(profiles)
    hw = ps.get("hardware", hardware)
    target = Target(out, profile_name(out, name), shadow)
    check_target(target, load(None))
    if phase is not None:
        _training(hw, phase, measurements, csv_path, models_dir, target, device, fmt)
        return
    from ..profiles import projection_defaults
    from ..project.observations import data_year, observations, read_observations

    if measure:
        measurements = _measure_here(measure, out, batch, provider, meter, max_time, measurements, processes)
    notes: list[str] = []
    rows = read_observations(measurements, csv_path, runtime, dtype, models_dir, device_kind, zeus, notes)
    for n in notes:
        err.print(f"note: {n}")
    obs = observations(rows)
    summary = calibrate_forwards(hw, obs, target, device, data_year([r[-1] for r in rows]), projection_defaults())
    if fmt is OutFormat.json:
        print_json(summary)
        return
    from ..report.calibration_text import render_calibration

    render_calibration(summary)


def _measure_here(models: list[Path], out: Path, batch: int, provider: str, meter: str, max_time: float,
                  given: Path | None, processes: int) -> Path:
    """calibrate --measure: measure the models now and keep the records beside the profile."""
    from ..measure import store as mstore
    from ..measure.onnx_measure import measure_for_calibration

    if given is not None:
        raise UsageError(f"{param('measure')} writes its own measurements file; drop {param('measurements')} or {param('measure')}")
    path = out.with_suffix(".measurements.jsonl")
    mstore.check_appendable(path)  # before measuring: a results store there is never appended to
    records = measure_for_calibration(list(models), batch, provider, meter, max_time_s=max_time, processes=processes)
    mstore.append(path, records)
    for m in records:
        spread = "" if m.latency_log_sigma_between is None else f" (spread between {m.processes} processes {m.latency_log_sigma_between:.1%})"
        err.print(f"measured {Path(m.model).name} batch {m.batch}: {m.latency_s_median * 1e3:.4g} ms{spread}, energy "
                  f"{'n/a' if m.energy_j_per_item is None else f'{m.energy_j_per_item:.4g} J/item'} ({m.energy_source})")
    err.print(f"kept {len(records)} measurement(s) in {path}")
    return path


def _training(hw, phase: str, measurements: Path | None, csv_path: Path | None, models_dir: Path | None, target,
              device: str | None, fmt: OutFormat) -> None:
    """calibrate --phase train: fit the training parameters to measured steps, and the powers to their energy; write
    the hardware profile with a [training] table (and the fitted powers in [projection])."""
    from datetime import date

    from ..decide.calibration import aliases_for, measured_on, write_atomic
    from ..profiles import Sourced, projection_defaults
    from ..profiles.writer import hardware_toml
    from ..project import resolve_params
    from ..project.calibrate_train import check_steps, fit_training_power
    from ..project.observations import data_year, read_training_rows, training_samples
    from ..project.training import TrainingParams, fit_training, training_runtime

    if phase != "train":
        raise UsageError(f"{param('phase')} {phase}: calibrate fits forwards (no {param('phase')}) or training steps "
                         f"({param('phase')} train)")
    rows = read_training_rows(measurements, csv_path)
    samples = training_samples(rows, models_dir)
    runtime = training_runtime(hw)
    defaults = projection_defaults()
    check_steps(samples, hw, runtime, defaults, TrainingParams())
    fit = fit_training(samples, lambda prec: resolve_params(hw, prec, runtime, defaults), hw.category == "gpu")
    v = fit["values"]
    power = fit_training_power(samples, hw, runtime, defaults, TrainingParams(**v))
    on = measured_on(_train_devices(measurements), device)
    said = (f"calibrated on {fit['n']} training steps ({measurements or csv_path}) on {on}: step time median |error| "
            f"{fit['median_abs_error_before']:.1%} -> {fit['median_abs_error']:.1%}")
    year = data_year([r[-1] for r in rows]) or date.today().year
    training = {k: Sourced(float(f"{v[k]:.6g}"), said, year, "calibrated") for k in v}
    projection = dict(hw.projection)
    if power is not None:
        psaid = (f"{said}; power fitted on their energy: median |error| {power['energy_blind_median_abs_error']:.1%} "
                 f"uncalibrated, {power['energy_median_abs_error']:.1%} in sample, {power['energy_loo_median_abs_error']:.1%} left out")
        projection.update({k: Sourced(float(f"{x:.6g}"), psaid, year, "calibrated") for k, x in power["values"].items()})
    write_atomic(target.out, hardware_toml(hw, name=target.name, aliases=aliases_for(hw, target.name), training=training,
                                           projection=projection))
    summary = {"profile": str(target.out), "name": target.name, "measured_on": on, **fit, "power": power,
               "power_note": None if power is not None else
               f"power not fitted: fewer than 3 steps carry a measured energy (or {hw.name} states no power limit)"}
    if power is not None:
        summary["energy_median_abs_error"] = power["energy_median_abs_error"]
    if fmt is OutFormat.json:
        print_json(summary)
        return
    from ..report.calibration_text import render_training_calibration

    render_training_calibration(summary, said)


def _train_devices(measurements: Path | None) -> list[str]:
    """The devices a store's training steps ran on (a CSV names none)."""
    if measurements is None:
        return []
    from ..measure.store import read
    from ..project.observations import measured_device

    return [measured_device(m) for m in read(Path(measurements)) if m.opt_level.startswith("train:")]
