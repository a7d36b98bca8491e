"""Measured forwards for `calibrate`: rows of a measurement store (JSON lines from `measure`) or a CSV, each
profiled into a calibration Observation. CSV columns: model (a path, or a name found in a models folder),
batch, latency_s or latency_ms_median, optional energy_j_per_item or energy_j_per_sample, dtype, runtime, device (what
ran it), latency_log_sigma (the spread between processes, log) and date. A row giving one quantity in two columns
(latency_s and latency_ms_median, energy_j_per_item and energy_j_per_sample) must agree within 1%. Every row is checked
again, against physics, by project/calibrate_checks.py before a fit."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .calibrate import Observation
from ..errors import UsageError, param
from ..count.profile import profile_onnx
from .training import OPTIMIZERS, PRECISIONS, TrainingSample

MAX_CSV_BYTES = 64 << 20  # a calibration CSV: one short row a measured forward
_RUNTIME_NAMES = {"cuda-graph": "graph", "cudagraph": "graph", "graph": "graph", "eager": "eager", "ort": "ort"}


def _model_path(raw: str, base: Path, models_dir: Path | None) -> Path:
    """A CSV's model column: a path (relative to the CSV), or a name found in --models DIR as NAME.onnx."""
    p = Path(raw)
    if models_dir is not None and not p.suffix:
        for cand in (models_dir / f"{raw}.onnx", models_dir / "onnx" / f"{raw}.onnx"):
            if cand.exists():
                return cand
        raise UsageError(f"{param('models')} {models_dir}: no {raw}.onnx in it (or in its onnx/ folder)")
    return p if p.is_absolute() else base / p


def _csv_rows(csv_path: Path, parse) -> list:
    """parse(row, 'FILE: row N') for each row of a CSV, read through the one reading layer (files.read_csv: a missing
    file, a FIFO, a device, a bad byte or an oversize cell is one usage error)."""
    from ..files import read_csv

    _, rows = read_csv(csv_path, UsageError, MAX_CSV_BYTES, f"{param('csv')} {csv_path}")
    return [parse(r, f"{csv_path}: row {i}") for i, r in rows]


def read_observations(measurements: Path | None, csv_path: Path | None, runtime: str, dtype: str, models_dir: Path | None,
                      device_kind: str | None = None, zeus_path: Path | None = None, notes: list[str] | None = None):
    """(name, path, sha256 or None, batch, latency_s, energy_j_per_item or None, dtype, runtime, latency_log_sigma, device,
    date or '') rows. With
    device_kind, only the measurements a fleet took on that kind (its Ray resource, or a part of the device's
    or CPU's name). zeus_path: Zeus-style measurement JSON (measure/interchange.py read_zeus). An estimated energy
(no counter: measure/estimate.py) is never fitted as a measured one: its row keeps the latency only, said in notes."""
    rows = []
    if zeus_path is not None:
        from ..measure.interchange import read_zeus

        for model, batch, lat, energy in read_zeus(zeus_path):
            rows.append((Path(model).stem, _model_path(model, zeus_path.parent, models_dir), None, batch, lat, energy, dtype,
                         runtime, 0.0, "", ""))
    if measurements is not None:
        from ..measure.store import read

        if not measurements.exists():
            raise UsageError(f"{param('measurements')} {measurements}: no such file")
        found = read(measurements, f"{param('measurements')} {measurements}")
        if device_kind is not None:
            kinds = sorted({m.node.get("fleet_resource") or m.node.get("device") or m.cpu_model for m in found})
            found = [m for m in found if device_kind == m.node.get("fleet_resource")
                     or device_kind.lower() in (m.node.get("device") or m.cpu_model).lower()]
            if not found:
                raise UsageError(f"{param('device_kind')} {device_kind}: no measurement in {measurements} was taken there; "
                                 f"kinds there: {', '.join(kinds) or 'none'}")
        training = [m for m in found if m.opt_level.startswith("train:")]
        found = [m for m in found if not m.opt_level.startswith("train:")]  # a step is not a forward: never fitted as one
        if training and not found and csv_path is None:
            raise UsageError(f"{param('measurements')} {measurements}: only training steps ({len(training)}); fit them with "
                             f"calibrate {param('phase')} train")
        estimated = [m for m in found if m.energy_provenance == "estimated" and m.energy_j_per_item is not None]
        if estimated and notes is not None:
            notes.append(f"{len(estimated)} measurement(s) carry an estimated energy (no counter: {estimated[0].energy_source}); "
                         "their latency is fitted, their energy is not")
        for m in found:
            rt = "graph" if m.opt_level == "cuda-graph" else ("eager" if m.backend == "torch" else "ort")
            energy = None if m.energy_provenance == "estimated" else m.energy_j_per_item
            rows.append((Path(m.model).stem, Path(m.model), m.sha256, m.batch, m.latency_s_median, energy, dtype, rt,
                         m.latency_log_sigma_between or 0.0, measured_device(m), m.measured_at[:10]))
    if csv_path is not None:
        def forward(r: dict, where: str) -> tuple:
            try:
                lat = _agreeing(r, "latency_s", "latency_ms_median", 1e-3, where)
                batch = int(r["batch"])
                energy = _agreeing(r, "energy_j_per_item", "energy_j_per_sample", 1.0, where)
                rt = _RUNTIME_NAMES[(r.get("runtime") or runtime).strip().lower()]
                dt = (r.get("dtype") or dtype).strip().lower()
                sigma = float(r.get("latency_log_sigma") or 0.0)
            except (KeyError, TypeError, ValueError):
                raise UsageError(f"{where}: need model, batch, latency_s (or latency_ms_median)"
                                 "[, energy_j_per_item, dtype, runtime, device, latency_log_sigma, date]") from None
            if lat is None or not (math.isfinite(lat) and lat > 0 and batch >= 1) \
                    or (energy is not None and not (math.isfinite(energy) and energy > 0)):
                raise UsageError(f"{where}: latency and energy must be finite and > 0, and batch >= 1")
            if not (math.isfinite(sigma) and 0 <= sigma < 5):
                raise UsageError(f"{where}: latency_log_sigma {sigma!r} is not in [0, 5)")
            return (Path(r["model"]).stem, _model_path(r["model"], csv_path.parent, models_dir), None, batch, lat, energy, dt, rt,
                    sigma, (r.get("device") or "").strip(), (r.get("date") or "").strip())

        rows += _csv_rows(csv_path, forward)
    if not rows:
        raise UsageError(f"no measurements: give {param('measurements')} STORE.jsonl (from `measure`), {param('csv')} FILE.csv, "
                         f"{param('zeus')} FILE.json or {param('measure')} MODEL")
    return rows


def _agreeing(r: dict, name: str, other: str, scale: float, where: str) -> float | None:
    """One quantity from its column `name`, or from `other` x scale; both given: they must agree within 1%."""
    a = float(r[name]) if r.get(name) else None
    b = float(r[other]) * scale if r.get(other) else None
    if a is not None and b is not None and not (math.isfinite(a) and math.isfinite(b) and abs(a - b) <= 0.01 * max(abs(a), abs(b))):
        raise UsageError(f"{where}: {name} {a:.6g} and {other} {r[other]} disagree (inconsistent units?)")
    return a if a is not None else b


def measured_device(m: Any) -> str:
    """The device a stored measurement ran on: the fleet's device name, the GPU the record names, or the CPU when the
    CPU provider ran it; never the machine reading the store."""
    if m.node.get("device"):
        return m.node["device"]
    prov = m.provider.lower()
    if prov in ("cpu", "cpuexecutionprovider"):
        return m.cpu_model
    if "(" in m.provider and m.provider.endswith(")"):
        return m.provider[m.provider.index("(") + 1:-1]
    return f"{m.provider} (the record names no device)"


def observations(rows) -> list[Observation]:
    """Profile each row's model (once per file and batch) into an Observation; refuse a file changed since it was measured."""
    cache: dict = {}
    out = []
    for label, path, sha, batch, lat, energy, dt, rt, sigma, device, _ in rows:
        if (path, batch) not in cache:
            cache[(path, batch)] = profile_onnx(path, batch=batch, per_op=True, scan_sparsity=False)
        prof = cache[(path, batch)]
        if sha and prof.sha256 != sha:
            raise UsageError(f"{path}: the file changed since it was measured (sha256 differs); measure it again")
        out.append(Observation(label, prof.sha256, batch, lat, prof, energy, dt, rt, sigma, device))
    return out


def read_training_rows(measurements: Any, csv_path: Any) -> list[tuple[str, str, int, str, float, float | None, str]]:
    """(model, precision, batch, optimizer, step_s, energy_j_per_sample or None, date or '') from measure_torch's training
    records (opt_level train:OPTIMIZER:PRECISION) and/or a CSV with model, precision, batch, optimizer,
    step_ms_median (or step_s)[, energy_j_per_sample]."""
    rows = []
    if measurements is not None:
        from ..measure.store import read

        if not Path(measurements).exists():
            raise UsageError(f"{param('measurements')} {measurements}: no such file")
        for m in read(Path(measurements), f"{param('measurements')} {measurements}"):
            if m.opt_level.startswith("train:"):
                _, opt, prec = m.opt_level.split(":", 2)
                rows.append((m.model, prec, m.batch, opt, m.latency_s_median, m.energy_j_per_item, m.measured_at[:10]))
    if csv_path is not None:
        def step(r: dict, where: str) -> tuple:
            try:
                s = float(r["step_s"]) if r.get("step_s") else float(r["step_ms_median"]) / 1e3
                e = float(r["energy_j_per_sample"]) if r.get("energy_j_per_sample") else None
                row = (r["model"], r["precision"], int(r["batch"]), r.get("optimizer") or "sgd-momentum", s, e,
                       (r.get("date") or "").strip())
            except (KeyError, TypeError, ValueError):
                raise UsageError(f"{where}: need model, precision, batch, optimizer, step_ms_median "
                                 "(or step_s)[, energy_j_per_sample]") from None
            if not (math.isfinite(s) and s > 0 and row[2] >= 1) or (e is not None and not (math.isfinite(e) and e > 0)):
                raise UsageError(f"{where}: step time, batch and energy must be positive and finite")
            return row

        rows += _csv_rows(Path(csv_path), step)
    if not rows:
        raise UsageError(f"no training steps to fit: give {param('measurements')} (measure_torch with TorchRun(phase='train')) or {param('csv')}")
    return rows


def training_samples(rows: list[tuple], models_dir: Any) -> list[TrainingSample]:
    """Each row's model profiled at its batch: MODELS_DIR/NAME.onnx, or the name as a path."""
    cache: dict[tuple[str, int], Any] = {}
    out = []
    for name, prec, batch, opt, step, energy, _ in rows:
        path = _model_path(name, Path.cwd(), Path(models_dir) if models_dir is not None else None)
        if not path.is_file():
            raise UsageError(f"{path}: no such file (the measured model '{name}'; give {param('models')} DIR holding NAME.onnx)")
        if prec not in PRECISIONS or opt not in OPTIMIZERS:
            raise UsageError(f"'{name}': precision '{prec}' or optimizer '{opt}' unknown; valid: {', '.join(PRECISIONS)}; "
                             f"{', '.join(OPTIMIZERS)}")
        key = (str(path), batch)
        if key not in cache:
            cache[key] = profile_onnx(path, batch=batch, per_op=True)
        out.append(TrainingSample(cache[key], prec, opt, step, energy))
    return out


def data_year(dates: list[str]) -> int | None:
    """The year of the newest measurement among ISO dates (YYYY-MM-DD...), None when none is dated."""
    years = [int(d[:4]) for d in dates if len(d) >= 4 and d[:4].isdigit() and 1950 <= int(d[:4]) <= 2100]
    return max(years) if years else None
