"""CLI command `calibrate`: parsing and rendering only."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import app, err
from .cli_carbon import FormatOpt, OutFormat, ProfilesOpt, _load
from .errors import AnalyzerError, UsageError


_RUNTIME_NAMES = {"cuda-graph": "graph", "cudagraph": "graph", "graph": "graph", "eager": "eager", "ort": "ort"}


def _model_path(raw: str, base: Path, models_dir: Path | None) -> Path:
    """A CSV's model column: a path (relative to the CSV), or a name found in --models DIR as NAME.onnx."""
    p = Path(raw)
    if models_dir is not None and not p.suffix:
        for cand in (models_dir / f"{raw}.onnx", models_dir / "onnx" / f"{raw}.onnx"):
            if cand.exists():
                return cand
        raise UsageError(f"--models {models_dir}: no {raw}.onnx in it (or in its onnx/ folder)")
    return p if p.is_absolute() else base / p


def read_observations(measurements: Path | None, csv_path: Path | None, runtime: str, dtype: str, models_dir: Path | None):
    """(name, path, sha256 or None, batch, latency_s, energy_j_per_item or None, dtype, runtime) rows."""
    rows = []
    if measurements is not None:
        from .measure.store import read

        if not measurements.exists():
            raise UsageError(f"--measurements {measurements}: no such file")
        for m in read(measurements):
            rt = "graph" if m.opt_level == "cuda-graph" else ("eager" if m.backend == "torch" else "ort")
            rows.append((Path(m.model).stem, Path(m.model), m.sha256, m.batch, m.latency_s_median, m.energy_j_per_item, dtype, rt))
    if csv_path is not None:
        try:
            with open(csv_path, newline="") as f:
                for i, r in enumerate(csv.DictReader(f), start=2):
                    try:
                        lat = float(r["latency_s"]) if r.get("latency_s") else float(r["latency_ms_median"]) / 1e3
                        batch = int(r["batch"])
                        e_raw = r.get("energy_j_per_item") or r.get("energy_j_per_sample")
                        energy = float(e_raw) if e_raw else None
                        rt = _RUNTIME_NAMES[(r.get("runtime") or runtime).strip().lower()]
                        dt = (r.get("dtype") or dtype).strip().lower()
                    except (KeyError, TypeError, ValueError):
                        raise UsageError(f"{csv_path}: row {i}: need model, batch, latency_s (or latency_ms_median)"
                                         "[, energy_j_per_item, dtype, runtime]") from None
                    if not (lat > 0 and batch >= 1) or (energy is not None and not energy > 0):
                        raise UsageError(f"{csv_path}: row {i}: latency and energy must be > 0 and batch >= 1")
                    path = _model_path(r["model"], csv_path.parent, models_dir)
                    rows.append((Path(r["model"]).stem, path, None, batch, lat, energy, dt, rt))
        except FileNotFoundError:
            raise UsageError(f"--csv {csv_path}: no such file") from None
    if not rows:
        raise UsageError("no measurements: give --measurements STORE.jsonl (from `measure`) or --csv FILE.csv")
    return rows


@app.command()
def calibrate(
    hardware: Annotated[str, typer.Option("--hardware", help="The hardware profile the measurements ran on.")],
    out: Annotated[Path, typer.Option("--out", help="Write the calibrated profile (TOML) here.")],
    measurements: Annotated[Optional[Path], typer.Option("--measurements", help="JSON-lines store written by `measure`.")] = None,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="CSV: model (path), batch, latency_s[, energy_j_per_item].")] = None,
    runtime: Annotated[str, typer.Option("--runtime", help="Runtime of rows that do not say: eager, graph, ort.")] = "ort",
    dtype: Annotated[str, typer.Option("--dtype", help="dtype of rows that do not say.")] = "fp32",
    models_dir: Annotated[Optional[Path], typer.Option("--models", help="Folder holding NAME.onnx for CSV rows that name a model instead of a path.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Name of the calibrated profile (default: HARDWARE-calibrated).")] = None,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Fit a hardware profile's projection to measured forwards: the host cost of issuing operators (eager,
    ONNX Runtime) or the gaps of CUDA-graph replay, scales on the kernel classes' efficiencies, bandwidth
    and floor, and with measured energy the static power, active power and energy per byte. Writes a
    calibrated profile that records every measurement it was fitted on, its prediction and error.
    (Kernel classes from profiler traces: benchmarks/gpu_calibration.py fit.)"""
    from .calibrate import Observation, calibrate as fit, calibrated_profile_toml, observations_summary
    from .measure.record import cpu_model
    from .profile import profile_onnx
    from .profiles import projection_defaults

    try:
        ps = _load(profiles)
        hw = ps.get("hardware", hardware)
        obs = []
        profiles_by: dict[tuple[Path, int], object] = {}
        for label, path, sha, batch, lat, energy, dt, rt in read_observations(measurements, csv_path, runtime, dtype, models_dir):
            if (path, batch) not in profiles_by:
                profiles_by[(path, batch)] = profile_onnx(path, batch=batch, per_op=True, scan_sparsity=False)
            prof = profiles_by[(path, batch)]
            if sha and prof.sha256 != sha:
                raise UsageError(f"{path}: the file changed since it was measured (sha256 differs); measure it again")
            obs.append(Observation(label, prof.sha256, batch, lat, prof, energy, dt, rt))
        cal = fit(obs, hw, projection_defaults())
        text = calibrated_profile_toml(hw, cal, obs, name or f"{hw.name}-calibrated", cpu_model())
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
        except OSError as e:
            raise UsageError(f"--out {out}: cannot write ({e.strerror})") from None
    except AnalyzerError as e:
        err.print(f"error: {e}", markup=False)
        raise typer.Exit(e.exit_code) from None
    summary = {"profile": str(out), "values": {k: cal.values[k] for k in cal.fitted_keys}, "median_abs_error": cal.median_abs_error,
               "p90_abs_error": cal.p90_abs_error, "energy_median_abs_error": cal.energy_median_abs_error,
               "fitted_on": observations_summary(cal, obs)}
    if fmt is OutFormat.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        for row in summary["fitted_on"]:
            e = "" if row["energy_error"] is None else f"  energy error {row['energy_error']:+.1%}"
            print(f"{row['model']:<24} {row['dtype']:<5} {row['runtime']:<5} batch {row['batch']:>3}  measured "
                  f"{row['measured_s'] * 1e3:9.3f} ms  fitted {row['predicted_s'] * 1e3:9.3f} ms  error {row['error']:+.1%}{e}")
        em = cal.energy_median_abs_error
        print(f"latency median |error| {cal.median_abs_error:.1%}, p90 {cal.p90_abs_error:.1%}"
              + (f"; energy median |error| {em:.1%}" if em is not None else "") + f"; wrote {out}")
