"""The use case `calibrate(request) -> CalibrationResult`: measured forwards (optionally measured here first) or
training steps -> a calibrated hardware profile, written atomically (decide/calibration.py says what it records).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import UsageError, param
from ..files import refuse_inputs
from ..profiles import HardwareProfile, ProfileSet, Sourced, projection_defaults
from .calibration import Target, aliases_for, calibrate_forwards, check_target, measured_on, profile_name, write_atomic


@dataclass(frozen=True)
class MeasureHere:
    """Measure these ONNX models on this machine first (up to 5), as `measure` would; the records are kept beside
    the profile as PROFILE.measurements.jsonl."""

    models: tuple[str, ...] = ()
    provider: str = "cpu"
    meter: str = "auto"
    batch: int = 1
    max_time_s: float = 30.0
    processes: int = 3


@dataclass(frozen=True)
class CalibrateRequest:
    """`calibrate`: the hardware profile measured, where the calibrated one goes and its name, the measurements
    (a store, a CSV, a Zeus JSON; rows that do not say take `runtime` and `dtype`), and `phase` 'train' to fit
    training steps instead of forwards."""

    hardware: str
    out: str
    measurements: str | None = None
    csv: str | None = None
    zeus: str | None = None
    runtime: str = "ort"
    dtype: str = "fp32"
    models_dir: str | None = None
    name: str | None = None
    device: str | None = None
    shadow: bool = False
    device_kind: str | None = None
    phase: str | None = None
    measure: MeasureHere = MeasureHere()


@dataclass(frozen=True)
class CalibrationResult:
    """The calibration's summary record (the profile written, the device, the fit and its errors); `kind`:
    'forwards' or 'train'; `said`: a training fit's one-line provenance, as the profile records it."""

    summary: dict[str, Any]
    kind: str = "forwards"
    said: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.summary


def _path(p: str | None) -> Path | None:
    return None if p is None else Path(p)


def calibrate(ps: ProfileSet, req: CalibrateRequest, shipped: ProfileSet, say: Callable[[str], None] = lambda _: None) -> CalibrationResult:
    """Fit, check and write (module docstring); `shipped`: the shipped profiles a name may not shadow; `say`: a line
    of progress or a note, as it happens."""
    out = Path(req.out)
    m = req.measure
    # before anything is measured or written: the profile must not replace a file it is fitted on
    refuse_inputs(out, [_path(req.measurements), _path(req.csv), _path(req.zeus), *map(Path, m.models)], UsageError,
                  f"{param('out')} {out}")
    hw = ps.get("hardware", req.hardware)
    target = Target(out, profile_name(out, req.name), req.shadow)
    check_target(target, shipped)
    if req.phase is not None:
        return _training(hw, req, target)
    from ..project.observations import data_year, observations, read_observations

    measurements = _path(req.measurements)
    if m.models:
        measurements = _measure_here(m, out, measurements, say)
    notes: list[str] = []
    rows = read_observations(measurements, _path(req.csv), req.runtime, req.dtype, _path(req.models_dir), req.device_kind,
                             _path(req.zeus), notes)
    for n in notes:
        say(f"note: {n}")
    obs = observations(rows)
    summary = calibrate_forwards(hw, obs, target, req.device, data_year([r[-1] for r in rows]), projection_defaults())
    return CalibrationResult(summary, "forwards", "", notes)


def _measure_here(m: MeasureHere, out: Path, given: Path | None, say: Callable[[str], None]) -> Path:
    """Measure the models now and keep the records beside the profile."""
    from ..measure import store as mstore
    from ..measure.calibration_runs import measure_for_calibration

    if given is not None:
        raise UsageError(f"{param('measure')} writes its own measurements file; drop {param('measurements')} or {param('measure')}")
    path = out.with_suffix(".measurements.jsonl")
    mstore.check_appendable(path)  # before measuring: a results store there is never appended to
    records = measure_for_calibration([Path(x) for x in m.models], m.batch, m.provider, m.meter, max_time_s=m.max_time_s,
                                      processes=m.processes)
    mstore.append(path, records)
    for r in records:
        spread = "" if r.latency_log_sigma_between is None else f" (spread between {r.processes} processes {r.latency_log_sigma_between:.1%})"
        say(f"measured {Path(r.model).name} batch {r.batch}: {r.latency_s_median * 1e3:.4g} ms{spread}, energy "
            f"{'n/a' if r.energy_j_per_item is None else f'{r.energy_j_per_item:.4g} J/item'} ({r.energy_source})")
    say(f"kept {len(records)} measurement(s) in {path}")
    return path


def _training(hw: HardwareProfile, req: CalibrateRequest, target: Target) -> CalibrationResult:
    """Fit the training parameters to measured steps, and the powers to their energy; write the hardware profile with
    a [training] table (and the fitted powers in [projection])."""
    from datetime import date

    from ..profiles.writer import hardware_toml
    from ..project import resolve_params
    from ..project.calibrate_train import check_steps, fit_training_power
    from ..project.observations import data_year, read_training_rows, training_samples
    from ..project.training import TrainingParams, fit_training, training_runtime

    if req.phase != "train":
        raise UsageError(f"{param('phase')} {req.phase}: calibrate fits forwards (no {param('phase')}) or training steps "
                         f"({param('phase')} train)")
    measurements, csv_path = _path(req.measurements), _path(req.csv)
    rows = read_training_rows(measurements, csv_path)
    samples = training_samples(rows, _path(req.models_dir))
    runtime = training_runtime(hw)
    defaults = projection_defaults()
    check_steps(samples, hw, runtime, defaults, TrainingParams())
    fit = fit_training(samples, lambda prec: resolve_params(hw, prec, runtime, defaults), hw.category == "gpu")
    v = fit["values"]
    power = fit_training_power(samples, hw, runtime, defaults, TrainingParams(**v))
    on = measured_on(_train_devices(measurements), req.device)
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
    return CalibrationResult(summary, "train", said)


def _train_devices(measurements: Path | None) -> list[str]:
    """The devices a store's training steps ran on (a CSV names none)."""
    if measurements is None:
        return []
    from ..measure.store import read
    from ..project.observations import measured_device

    return [measured_device(m) for m in read(Path(measurements)) if m.opt_level.startswith("train:")]
