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


def read_observations(measurements: Path | None, csv_path: Path | None, runtime: str):
    """(name, path, sha256 or None, batch, latency_s, energy_j_per_item or None) rows."""
    rows = []
    if measurements is not None:
        from .measure.store import read

        if not measurements.exists():
            raise UsageError(f"--measurements {measurements}: no such file")
        for m in read(measurements):
            rows.append((Path(m.model).stem, Path(m.model), m.sha256, m.batch, m.latency_s_median, m.energy_j_per_item))
    if csv_path is not None:
        try:
            with open(csv_path, newline="") as f:
                for i, r in enumerate(csv.DictReader(f), start=2):
                    try:
                        lat = float(r["latency_s"])
                        batch = int(r["batch"])
                        energy = float(r["energy_j_per_item"]) if r.get("energy_j_per_item") else None
                    except (KeyError, TypeError, ValueError):
                        raise UsageError(f"{csv_path}: row {i}: need model, batch, latency_s[, energy_j_per_item]") from None
                    if not (lat > 0 and batch >= 1):
                        raise UsageError(f"{csv_path}: row {i}: latency_s must be > 0 and batch >= 1")
                    path = (csv_path.parent / r["model"]) if not Path(r["model"]).is_absolute() else Path(r["model"])
                    rows.append((Path(r["model"]).stem, path, None, batch, lat, energy))
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
    runtime: Annotated[str, typer.Option("--runtime", help="Runtime the measurements used: eager, graph, ort.")] = "ort",
    dtype: Annotated[str, typer.Option("--dtype", help="dtype the measurements ran in.")] = "fp32",
    name: Annotated[Optional[str], typer.Option("--name", help="Name of the calibrated profile (default: HARDWARE-RUNTIME-calibrated).")] = None,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Fit a hardware profile's efficiency, bandwidth and per-kernel overhead parameters (and, with energy
    data, its power model) to measured latency, and write a calibrated profile recording that data."""
    from .calibrate import Observation, calibrate as fit, calibrated_profile_toml, observations_summary
    from .measure.record import cpu_model
    from .profile import profile_onnx
    from .profiles import projection_defaults

    try:
        ps = _load(profiles)
        hw = ps.get("hardware", hardware)
        obs = []
        for label, path, sha, batch, lat, energy in read_observations(measurements, csv_path, runtime):
            prof = profile_onnx(path, batch=batch, per_op=True, scan_sparsity=False)
            if sha and prof.sha256 != sha:
                raise UsageError(f"{path}: the file changed since it was measured (sha256 differs); measure it again")
            obs.append(Observation(label, prof.sha256, batch, lat, prof, energy))
        cal = fit(obs, hw, dtype, runtime, projection_defaults())
        text = calibrated_profile_toml(hw, cal, obs, dtype, runtime, name or f"{hw.name}-{runtime}-calibrated", cpu_model())
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
        except OSError as e:
            raise UsageError(f"--out {out}: cannot write ({e.strerror})") from None
    except AnalyzerError as e:
        err.print(f"error: {e}", markup=False)
        raise typer.Exit(e.exit_code) from None
    summary = {"profile": str(out), "values": cal.values, "median_abs_error": cal.median_abs_error,
               "p90_abs_error": cal.p90_abs_error, "power_w": cal.power_w, "fitted_on": observations_summary(cal, obs)}
    if fmt is OutFormat.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        for row in summary["fitted_on"]:
            print(f"{row['model']:<24} batch {row['batch']:>3}  measured {row['measured_s'] * 1e3:9.3f} ms  "
                  f"fitted {row['predicted_s'] * 1e3:9.3f} ms  error {row['error']:+.1%}")
        print(f"median |error| {cal.median_abs_error:.1%}, p90 {cal.p90_abs_error:.1%}; wrote {out}")
