"""Measurements to and from other tools' files.

- CodeCarbon's emissions.csv: the columns of its EmissionsData record (codecarbon/output_methods/emissions_data.py,
  written by output_methods/file.py, commit b05965e4): durations in s, energies in kWh, powers in W, emissions in
  kg CO2e. Export writes one row per measurement for one forward of its batch; import reads any CodeCarbon file
  (older ones lack experiment_id, water_consumed and the utilisation columns) into joules.
- Zeus (ml-energy/zeus, zeus/monitor/energy.py Measurement): a window's `time` (s) and `gpu_energy` {GPU index: J},
  optional `cpu_energy` and `dram_energy` {CPU index: J}. Zeus records no workload, so each record also names the
  `model`, the `batch` and the `iterations` (forwards) the window ran; a record is that object, or one whose
  `measurement` holds Zeus's fields. Calibration takes GPU joules per item, the device energy a profile projects.
"""

from __future__ import annotations

import csv
import io
import math
import platform
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError, param
from ..units import G_PER_KG, J_PER_KWH
from .meters import LIMIT_MARGIN, POWER_CEILING_W
from .record import Measurement

CODECARBON_COLUMNS = (
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions", "emissions_rate", "cpu_power",
    "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed", "water_consumed",
    "country_name", "country_iso_code", "region", "cloud_provider", "cloud_region", "os", "python_version",
    "codecarbon_version", "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude", "latitude",
    "ram_total_size", "tracking_mode", "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue")
GPU_SOURCES = ("nvml", "rocm-smi", "hwmon:i915", "hwmon:xe")


def _component(m: Measurement) -> str:
    return "gpu" if m.energy_source.startswith(GPU_SOURCES) else "cpu"


def codecarbon_rows(records: list[Measurement], grid_gco2e_per_kwh: float | None = None) -> list[dict[str, object]]:
    """One CodeCarbon row per measured forward (duration = the median latency of one batch). Emissions are
    written only with a grid intensity; without one they stay empty, never a default."""
    rows = []
    for m in records:
        if m.energy_j_per_item is None:
            continue
        joules = m.energy_j_per_item * m.batch
        parts = {k: v * m.batch for k, v in m.energy_parts_j_per_item.items()} or {_component(m): joules}
        kwh = {k: parts.get(k, 0.0) / J_PER_KWH for k in ("cpu", "gpu", "dram")}
        total_kwh = joules / J_PER_KWH
        kg = total_kwh * grid_gco2e_per_kwh / G_PER_KG if grid_gco2e_per_kwh is not None else ""
        s = m.latency_s_median
        row = dict.fromkeys(CODECARBON_COLUMNS, "")
        row.update({
            "timestamp": m.measured_at[:19], "project_name": "nas-analyzer", "run_id": m.sha256[:32],
            "experiment_id": f"{Path(m.model).stem}@batch{m.batch}", "duration": s, "emissions": kg,
            "emissions_rate": kg / s if kg != "" else "", "cpu_power": parts.get("cpu", 0.0) / s,
            "gpu_power": parts.get("gpu", 0.0) / s, "ram_power": parts.get("dram", 0.0) / s, "cpu_energy": kwh["cpu"],
            "gpu_energy": kwh["gpu"], "ram_energy": kwh["dram"], "energy_consumed": total_kwh, "os": platform.platform(),
            "python_version": platform.python_version(), "cpu_model": m.cpu_model,
            "tracking_mode": "process" if m.energy_provenance == "estimated" else "machine", "pue": 1.0})
        rows.append(row)
    return rows


def write_codecarbon(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=CODECARBON_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


@dataclass(frozen=True)
class CodeCarbonRun:
    timestamp: str
    project_name: str
    run_id: str
    experiment_id: str
    duration_s: float
    energy_j: float | None  # None where CodeCarbon left the cell empty (its appended rows drop all-empty columns)
    cpu_energy_j: float | None
    gpu_energy_j: float | None
    ram_energy_j: float | None
    emissions_kg: float | None
    tracking_mode: str
    cpu_model: str
    gpu_model: str


MAX_INTERCHANGE_BYTES = 64 << 20  # CodeCarbon appends one ~1 kB row a run: 64 MB is some 60,000 runs


def _float(row: dict, key: str, where: str, required: bool = True, positive: bool = False) -> float | None:
    """A cell as a finite number, >= 0 (> 0 with `positive`); empty is None where not `required`."""
    raw = (row.get(key) or "").strip()
    if not raw:
        if required:
            raise UsageError(f"{where}: column '{key}' is empty")
        return None
    try:
        v = float(raw)
    except ValueError:
        raise UsageError(f"{where}: column '{key}' is {raw[:30]!r}, not a number") from None
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise UsageError(f"{where}: column '{key}' is {raw[:30]!r}: must be a finite number "
                         f"{'above' if positive else 'of at least'} 0: the row is refused")
    return v


def _joules(kwh: float | None) -> float | None:
    return None if kwh is None else kwh * J_PER_KWH


def read_codecarbon(path: Path) -> list[CodeCarbonRun]:
    """A CodeCarbon emissions.csv as runs in joules (kWh x 3.6e6), read through the one reading layer (a FIFO, a
    device, a bad byte or an oversize cell is one line). A row whose duration is not a positive finite number, or
    whose energy or emissions are negative or not finite, is refused with its line."""
    from ..files import read_csv

    header, rows = read_csv(path, UsageError, MAX_INTERCHANGE_BYTES, str(path))
    need = {"duration", "energy_consumed", "cpu_energy", "gpu_energy", "ram_energy"}
    missing = sorted(need - set(header))
    if missing:
        raise UsageError(f"{path}: not a CodeCarbon emissions.csv: no column {', '.join(missing)}")
    runs = []
    for i, r in rows:
        where = f"{path}: row {i}"
        j = {k: _joules(_float(r, k, where, False)) for k in ("energy_consumed", "cpu_energy", "gpu_energy", "ram_energy")}
        seconds = _float(r, "duration", where, positive=True)
        _plausible_power(max((v for v in j.values() if v is not None), default=0.0), seconds, where)
        text = {k: _cell(r, k) for k in ("timestamp", "project_name", "run_id", "experiment_id", "tracking_mode", "cpu_model",
                                          "gpu_model")}
        runs.append(CodeCarbonRun(text["timestamp"], text["project_name"], text["run_id"], text["experiment_id"],
                                  seconds, j["energy_consumed"], j["cpu_energy"],
                                  j["gpu_energy"], j["ram_energy"], _float(r, "emissions", where, False),
                                  text["tracking_mode"], text["cpu_model"], text["gpu_model"]))
    return runs


def _plausible_power(joules: float, seconds: float, where: str) -> None:
    """One machine's average power at most 1.5 x POWER_CEILING_W (meters.py: a DGX H100's 10.2 kW maximum)."""
    high = POWER_CEILING_W * LIMIT_MARGIN
    if joules / seconds > high:
        raise UsageError(f"{where}: {joules:.4g} J in {seconds:.4g} s is {joules / seconds:.4g} W, above {high:,.0f} W "
                         f"({LIMIT_MARGIN:g} x a DGX H100's {POWER_CEILING_W:,.0f} W maximum): refused as implausible")


def _cell(row: dict, key: str) -> str:
    v = row.get(key)
    return v if isinstance(v, str) else ""  # a short row leaves None; a long one's extras sit under None, unread


MAX_BATCH = 1 << 20  # as measure --batch
MAX_ITERATIONS = 10 ** 12


def _count(rec: dict, key: str) -> int:
    """A record's batch or iterations: a whole number of at least 1 (never a boolean, never 2.5 read as 2)."""
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        raise ValueError(f"{key} {v!r} is not a whole number")
    return int(v)


def read_zeus(path: Path) -> list[tuple[str, int, float, float]]:
    """(model, batch, latency_s per forward, GPU J per item) from Zeus-style measurement records (a JSON object or list),
    read through the one reading layer. batch and iterations are whole numbers >= 1, time a finite number > 0 and
    each GPU's joules finite and >= 0; a record that is not is refused with its index."""
    from ..files import read_json

    data = read_json(path, UsageError, MAX_INTERCHANGE_BYTES, f"{param('zeus')} {path}")
    out = []
    for i, rec in enumerate(data if isinstance(data, list) else [data]):
        where = f"{param('zeus')} {path}: record {i}"
        meas = rec.get("measurement", rec) if isinstance(rec, dict) else None
        try:
            model, batch, iters = rec["model"], _count(rec, "batch"), _count(rec, "iterations")
            seconds, gpu = meas["time"], {str(k): v for k, v in meas["gpu_energy"].items()}
        except ValueError as e:
            raise UsageError(f"{where}: {e}; batch and iterations count forwards and items") from None
        except (KeyError, TypeError, AttributeError):
            raise UsageError(f"{where}: need model, batch, iterations and Zeus's time and gpu_energy {{index: J}}") from None
        numbers = [seconds, *gpu.values()]
        if not isinstance(model, str) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            raise UsageError(f"{where}: model must be text, time and gpu_energy's joules numbers")
        if not (batch >= 1 and iters >= 1 and seconds > 0 and gpu and all(v >= 0 for v in gpu.values())):
            raise UsageError(f"{where}: batch, iterations, time and a non-empty gpu_energy must be positive")
        if batch > MAX_BATCH or iters > MAX_ITERATIONS:
            raise UsageError(f"{where}: batch {batch:,} or iterations {iters:,} beyond this tool's limits "
                             f"({MAX_BATCH:,} and {MAX_ITERATIONS:,})")
        for gpu_index, joules in gpu.items():
            _plausible_power(joules, seconds, f"{where}: GPU {gpu_index[:20]!r}")
        out.append((model, batch, seconds / iters, sum(gpu.values()) / (iters * batch)))
    return out
