"""Validation of profile files: parsed TOML -> frozen profiles (schema.py). Every value is checked once, and an
error names the file, the key and the valid range or names."""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ProfileError
from ..taxonomy import COMPUTE_DTYPES, DEVICE_FAMILIES, FILL_CLASSES, HOST_FAMILIES, KERNEL_CLASSES, POWER_BOUNDARIES
from .schema import KINDS, DatacenterProfile, HardwareProfile, NasPreset, RegionProfile, RegionYear, Sourced

# ---- validation ---------------------------------------------------------------------------------------

# key -> (unit description, low, high) for hardware scalar values
_HW_SCALARS: dict[str, tuple[float, float]] = {
    "memory_gb": (0.001, 1e5), "memory_bandwidth_gbps": (0.001, 1e6), "achievable_memory_bandwidth_gbps": (0.001, 1e6),
    "tdp_w": (0.1, 1e5), "idle_w": (0.0, 1e5), "avg_power_w": (0.1, 1e5), "busy_power_w": (0.1, 1e5),
    "memory_bound_power_w": (0.1, 1e5), "embodied_co2e_kg": (0.0, 1e6), "lifetime_years": (0.1, 50.0),
    "l2_cache_mb": (0.01, 1e5), "cache_bandwidth_gbps": (0.001, 1e6), "sm_count": (1, 1e5), "max_threads_per_sm": (32, 1e5), "interconnect_gbps": (0.1, 1e5),
    "host_power_w": (0.0, 1e5), "accelerators_per_server": (1, 1e4),
}
HW_SCALAR_KEYS = tuple(_HW_SCALARS)
_HW_TABLES = ("peak_tflops", "peak_tflops_sparse", "achievable_tflops")
_HW_TEXT = ("name", "title", "category", "embodied_method", "note", "aliases", "projection", "calibration", "training", "family",
            "transfer", "avg_power_boundary", "host")
# training-step parameters (analyzer/project/training.py) -> valid range
TRAINING_KEYS: dict[str, tuple[float, float]] = {"autograd_host_s": (0.0, 1e-2), "backward_slowdown": (0.1, 20.0)}
# projection parameter -> valid range (see analyzer/project/__init__.py for what each means)
SIMT_CLASSES = ("conv", "conv1x1", "gemm", "attention")  # the tensor classes (taxonomy.TENSOR_CLASSES), in order
_KCLASSES = tuple(c for c in KERNEL_CLASSES if c != "aux")  # "aux" kernels have a floor and nothing else
PROJECTION_KEYS: dict[str, tuple[float, float]] = {
    **{f"efficiency_{c}": (1e-4, 1.5) for c in _KCLASSES},  # of the peak of the unit the class runs on
    **{f"memory_efficiency_{c}": (1e-3, 10.0) for c in _KCLASSES},  # of datasheet bandwidth; > 1: cache-resident
    **{f"t0_{c}_s": (0.0, 1e-3) for c in _KCLASSES + ("aux",)},  # a kernel's time however little it does
    **{f"fill_{c}": (0.0, 1e10) for c in FILL_CLASSES},  # outputs to fill the chip
    **{f"kdepth_{c}": (0.0, 512.0) for c in FILL_CLASSES},  # per-tile fixed work
    **{f"host_eager_{f}_s": (0.0, 1e-2) for f in HOST_FAMILIES},  # host time to issue one operator, eager
    "host_ort_s": (0.0, 1e-2), "gap_s": (0.0, 1e-3), "forward_s": (0.0, 1e-1), "graph_gap_s": (0.0, 1e-3),
    "graph_launch_s": (0.0, 1e-1), "sparse_2_4_speedup": (1.0, 4.0),
}
# hardware-specific and optional (derived from the profile's powers when absent)
OPTIONAL_PROJECTION_KEYS: dict[str, tuple[float, float]] = {
    "static_power_w": (0.0, 1e5), "active_power_w": (0.0, 1e5), "energy_per_byte_pj": (0.0, 1e5),
    "flop_energy_scale": (0.0, 100.0),
    # a tensor class on the FP32 FMA units (no tensor core for its dtype), where its family states it (profiles/
    # families.toml); else efficiency_<class>
    **{f"efficiency_simt_{c}": (1e-4, 1.0) for c in SIMT_CLASSES},
}
# category defaults only: the error model of uncalibrated projections (log space)
DEFAULT_ONLY_KEYS: dict[str, tuple[float, float]] = {
    **{f"energy_log_sigma_{part}_{basis}": (0.0, 5.0) for part in ("model", "shared") for basis in ("datasheet", "achievable")},
    "energy_log_sigma_host": (0.0, 5.0), "energy_log_sigma_training": (0.0, 5.0),
    # the log-error one step away from a measured part adds (profiles/transfer.py)
    "energy_log_sigma_transfer_step": (0.0, 5.0),
    # a board's power when bound by memory, as a share of the way from idle to busy, where a profile has no
    # memory-bound power of its own
    "memory_bound_power_share": (0.0, 1.0),
    # a small all-reduce between tensor-parallel GPUs, however few bytes it moves (project/serving.py)
    "allreduce_latency_s": (0.0, 1e-2)}
_CALIBRATION_NUMBERS = {"median_abs_error": (0.0, 100.0), "p90_abs_error": (0.0, 100.0),
                        "energy_log_sigma_model": (0.0, 5.0), "energy_log_sigma_shared": (0.0, 5.0),
                        "energy_log_sigma_host": (0.0, 5.0), "energy_log_sigma_training": (0.0, 5.0),
                        "energy_log_sigma_host_session": (0.0, 5.0),
    # a board's power when bound by memory, as a share of the way from idle to busy, where a profile has no
    # memory-bound power of its own
    "memory_bound_power_share": (0.0, 1.0),
    # a small all-reduce between tensor-parallel GPUs, however few bytes it moves (project/serving.py)
    "allreduce_latency_s": (0.0, 1e-2)}
_EMBODIED_METHODS = ("per card", "per die area", "per server share")
CATEGORIES = ("gpu", "tpu", "cpu", "other")


def fail(file: Path, key: str, msg: str) -> ProfileError:
    return ProfileError(f"{file}: key '{key}': {msg}")


def _number(file: Path, key: str, raw: Any, low: float, high: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or math.isnan(raw) or not (low <= raw <= high):
        raise fail(file, key, f"value {raw!r} is not a number in [{low:g}, {high:g}]")
    return float(raw)


def _sourced(file: Path, key: str, raw: Any, low: float, high: float) -> Sourced:
    if not isinstance(raw, dict):
        raise fail(file, key, "expected an inline table { value, source, year, kind }")
    unknown = set(raw) - {"value", "source", "year", "kind", "note"}
    if unknown:
        raise fail(file, key, f"unknown field(s) {', '.join(sorted(unknown))}; valid: value, source, year, kind, note")
    for req in ("value", "source", "year", "kind"):
        if req not in raw:
            raise fail(file, key, f"missing '{req}' (every value needs value, source, year and kind)")
    if not isinstance(raw["source"], str) or not raw["source"].strip():
        raise fail(file, key, "source must be a non-empty string")
    if raw["kind"] not in KINDS:
        raise fail(file, key, f"kind '{raw['kind']}' is not one of {', '.join(KINDS)}")
    year = raw["year"]
    if not isinstance(year, int) or not 1950 <= year <= 2100:
        raise fail(file, key, f"year {year!r} is not an integer in [1950, 2100]")
    return Sourced(_number(file, key, raw["value"], low, high), raw["source"], year, raw["kind"], str(raw.get("note", "")))


def _text(file: Path, data: dict, key: str, required: bool = True, choices: tuple[str, ...] = ()) -> str:
    v = data.get(key)
    if v is None and not required:
        return ""
    if not isinstance(v, str) or not v.strip():
        raise fail(file, key, "missing or not a non-empty string")
    if choices and v not in choices:
        raise fail(file, key, f"'{v}' is not one of {', '.join(choices)}")
    return v


def _aliases(file: Path, data: dict) -> tuple[str, ...]:
    a = data.get("aliases", [])
    if not isinstance(a, list) or not all(isinstance(x, str) for x in a):
        raise fail(file, "aliases", "must be a list of strings")
    return tuple(a)


def _check_keys(file: Path, data: dict, valid: set[str]) -> None:
    unknown = set(data) - valid
    if unknown:
        raise fail(file, sorted(unknown)[0], f"unknown key; valid keys: {', '.join(sorted(valid))}")


def parse_hardware(file: Path, data: dict) -> HardwareProfile:
    _check_keys(file, data, set(_HW_SCALARS) | set(_HW_TABLES) | set(_HW_TEXT))
    tables: dict[str, dict[str, Sourced]] = {}
    for t in _HW_TABLES:
        raw = data.get(t, {})
        if not isinstance(raw, dict):
            raise fail(file, t, "must be a table of dtype = { value, source, year, kind }")
        for dt in raw:
            if dt not in COMPUTE_DTYPES:
                raise fail(file, f"{t}.{dt}", f"unknown dtype; valid: {', '.join(COMPUTE_DTYPES)}")
        tables[t] = {dt: _sourced(file, f"{t}.{dt}", v, 1e-6, 1e6) for dt, v in raw.items()}
    if not tables["peak_tflops"]:
        raise fail(file, "peak_tflops", "missing: at least one dtype's peak throughput is required")
    scalars = {k: _sourced(file, k, data[k], lo, hi) for k, (lo, hi) in _HW_SCALARS.items() if k in data}
    for req in ("memory_bandwidth_gbps", "embodied_co2e_kg", "lifetime_years"):
        if req not in scalars:
            raise fail(file, req, "missing (required for every hardware profile)")
    if "idle_w" in scalars and "tdp_w" in scalars and scalars["idle_w"].value > scalars["tdp_w"].value:
        raise fail(file, "idle_w", f"{scalars['idle_w'].value} W exceeds tdp_w {scalars['tdp_w'].value} W")
    projection = parse_projection(file, data.get("projection", {}), "projection")
    calibration = data.get("calibration", {})
    if not isinstance(calibration, dict):
        raise fail(file, "calibration", "must be a table")
    for key, (lo, hi) in _CALIBRATION_NUMBERS.items():  # the numbers a projection reads from it
        if key in calibration:
            calibration = {**calibration, key: _number(file, f"calibration.{key}", calibration[key], lo, hi)}
    raw_training = data.get("training", {})
    if not isinstance(raw_training, dict):
        raise fail(file, "training", "must be a table of parameter = { value, source, year, kind }")
    for k in raw_training:
        if k not in TRAINING_KEYS:
            raise fail(file, f"training.{k}", f"unknown training parameter; valid: {', '.join(TRAINING_KEYS)}")
    training = {k: _sourced(file, f"training.{k}", v, *TRAINING_KEYS[k]) for k, v in raw_training.items()}
    transferable = data.get("transfer", True)
    if not isinstance(transferable, bool):
        raise fail(file, "transfer", "must be true or false (false: never transfer a measured part's parameters to it)")
    return HardwareProfile(
        family=_text(file, data, "family", required=False, choices=DEVICE_FAMILIES), transferable=transferable,
        host=_text(file, data, "host", required=False),
        avg_power_boundary=_text(file, data, "avg_power_boundary", required=False, choices=POWER_BOUNDARIES) or "chip",
        projection=projection, calibration=calibration, training=training,
        name=_text(file, data, "name"), title=_text(file, data, "title"),
        category=_text(file, data, "category", choices=CATEGORIES), file=str(file),
        embodied_method=_text(file, data, "embodied_method", choices=_EMBODIED_METHODS),
        note=_text(file, data, "note", required=False), aliases=_aliases(file, data), **tables, **scalars)


def parse_projection(file: Path, raw: Any, where: str, defaults: bool = False) -> dict[str, Sourced]:
    if not isinstance(raw, dict):
        raise fail(file, where, "must be a table of parameter = { value, source, year, kind }")
    out = {}
    valid = {**PROJECTION_KEYS, **OPTIONAL_PROJECTION_KEYS, **(DEFAULT_ONLY_KEYS if defaults else {})}
    for k, v in raw.items():
        if k not in valid:
            close = difflib.get_close_matches(k, list(valid), n=3, cutoff=0.6)
            hint = f"closest: {', '.join(close)}" if close else "see profiles/projection-defaults.toml for the parameters"
            raise fail(file, f"{where}.{k}", f"unknown projection parameter; {hint}")
        lo, hi = valid[k]
        out[k] = _sourced(file, f"{where}.{k}", v, lo, hi)
    return out



def parse_datacenter(file: Path, data: dict) -> DatacenterProfile:
    _check_keys(file, data, {"name", "title", "pue", "aliases"})
    if "pue" not in data:
        raise fail(file, "pue", "missing (required)")
    return DatacenterProfile(_text(file, data, "name"), _text(file, data, "title"), str(file),
                             _sourced(file, "pue", data["pue"], 1.0, 5.0), _aliases(file, data))


def parse_region(file: Path, data: dict) -> RegionProfile:
    _check_keys(file, data, {"name", "title", "category", "aliases", "years", "note", "licence"})
    years_raw = data.get("years")
    if not isinstance(years_raw, dict) or not years_raw:
        raise fail(file, "years", "missing: a table [years.YYYY] with grid_gco2e_per_kwh and source")
    years: dict[int, RegionYear] = {}
    for y, row in years_raw.items():
        key = f"years.{y}"
        if not str(y).isdigit() or not 1950 <= int(y) <= 2100 or not isinstance(row, dict):
            raise fail(file, key, "expected [years.YYYY] tables with YYYY in 1950..2100")
        _check_keys(file, row, {"grid_gco2e_per_kwh", "cfe_fraction", "source", "kind"})
        if "grid_gco2e_per_kwh" not in row:
            raise fail(file, f"{key}.grid_gco2e_per_kwh", "missing (required)")
        kind = row.get("kind", "published")
        if kind not in KINDS:
            raise fail(file, f"{key}.kind", f"'{kind}' is not one of {', '.join(KINDS)}")
        source = row.get("source")
        if not isinstance(source, str) or not source.strip():
            raise fail(file, f"{key}.source", "missing or empty (every value needs its source)")
        cfe = row.get("cfe_fraction")
        years[int(y)] = RegionYear(
            int(y), _number(file, f"{key}.grid_gco2e_per_kwh", row["grid_gco2e_per_kwh"], 0.0, 2000.0),
            None if cfe is None else _number(file, f"{key}.cfe_fraction", cfe, 0.0, 1.0), source, kind)
    return RegionProfile(_text(file, data, "name"), _text(file, data, "title"), _text(file, data, "category", required=False) or "region",
                         str(file), years, _aliases(file, data), _text(file, data, "note", required=False))



# a published search's procedure ([procedure] of a NAS preset), for plan-search --preset: candidates trained one by
# one (kind "candidates"), or supernets trained for phases of epochs (kind "supernet"), each training sample a
# number of training passes (forward and backward) and forward-only passes of a stand-in network
_PROCEDURE_NUMBERS = {"candidates": {"candidates": (1, 1e9), "samples_per_candidate": (1, 1e15)},
                      "supernet": {"supernets": (1, 1e6), "dataset_samples": (1, 1e12)}}
_PROCEDURE_TEXT = ("source", "stand_in", "dtype", "hardware", "note")
_PHASE_NUMBERS = {"epochs": (0.001, 1e6), "train_passes": (0.0, 1e3), "forward_passes": (0.0, 1e3)}
# a stand-in becomes a population source: only the tool's own builders (the synthetic space, CIFAR-10 cells, DARTS's
# supernet), never a file or FILE.py:NAME, so a profile never names code
STAND_IN = re.compile(r"^(space(:full|:\d+(:\d+)?)?|cells:\d+x\d+:[a-z]+:\d+(:\d+)?|darts-supernet(:\d+x\d+)?)$")


def _procedure(file: Path, data: Any) -> dict | None:
    from ..taxonomy import TRAINING_PRECISIONS

    if data is None:
        return None
    if not isinstance(data, dict):
        raise fail(file, "procedure", "must be a table")
    kind = data.get("kind", "candidates")
    if kind not in _PROCEDURE_NUMBERS:
        raise fail(file, "procedure.kind", f"'{kind}' is not one of {', '.join(_PROCEDURE_NUMBERS)}")
    numbers = _PROCEDURE_NUMBERS[kind]
    _check_keys(file, data, {"kind", "quotes", *numbers, *_PROCEDURE_TEXT} | ({"phases"} if kind == "supernet" else set()))
    out: dict[str, Any] = {"kind": kind}
    for key, (lo, hi) in numbers.items():
        v = data.get(key)
        if key == "candidates" and (isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi or v != int(v)):
            # a population's size, as space:N on the command line (2.5 was taken as 2)
            raise fail(file, "procedure.candidates", f"must be a whole number from {lo:g} to {hi:g}")
        out[key] = _number(file, f"procedure.{key}", v, lo, hi)
    for key in _PROCEDURE_TEXT:
        if key in data or key in ("source", "stand_in"):
            if not isinstance(data.get(key), str) or not data[key].strip():
                raise fail(file, f"procedure.{key}", "missing or not a non-empty string")
            out[key] = data[key].strip()
    if "dtype" in out and out["dtype"] not in TRAINING_PRECISIONS:
        raise fail(file, "procedure.dtype", f"'{out['dtype']}' is not one of {', '.join(TRAINING_PRECISIONS)} (a training dtype)")
    quotes = data.get("quotes", {})
    if not isinstance(quotes, dict) or not all(isinstance(q, str) and q.strip() for q in quotes.values()):
        raise fail(file, "procedure.quotes", "must be a table of key = \"the paper's words and where they are\"")
    for key in quotes:
        if key not in out or key == "kind":
            raise fail(file, f"procedure.quotes.{key}", f"quotes a key the procedure does not have; its keys: "
                       f"{', '.join(k for k in out if k != 'kind')}")
    if kind == "supernet":  # every number the plan rests on is quoted, or its reading stated
        for key in [*numbers, *(k for k in ("dtype", "hardware") if k in out)]:
            if key not in quotes:
                raise fail(file, f"procedure.quotes.{key}", "missing: a supernet procedure quotes where each of its numbers comes from")
        out["phases"] = _phases(file, data.get("phases"))
    out["quotes"] = dict(quotes)
    if not STAND_IN.match(out["stand_in"]):
        raise fail(file, "procedure.stand_in", f"'{out['stand_in']}' is not a population the tool builds (space, space:full, "
                   "cells:NxF:OPS:COUNT, darts-supernet[:CxC]); a profile never names a file or code")
    return out


def _phases(file: Path, data: Any) -> list[dict]:
    if not isinstance(data, list) or not data or not all(isinstance(p, dict) for p in data):
        raise fail(file, "procedure.phases", "must be an array of tables [[procedure.phases]] with epochs, train_passes, "
                   "forward_passes and what")
    out = []
    for i, p in enumerate(data):
        _check_keys(file, p, {*_PHASE_NUMBERS, "what"})
        phase: dict[str, Any] = {k: _number(file, f"procedure.phases[{i}].{k}", p.get(k, 0.0 if k == "forward_passes" else None),
                                            lo, hi) for k, (lo, hi) in _PHASE_NUMBERS.items()}
        if phase["train_passes"] + phase["forward_passes"] <= 0:
            raise fail(file, f"procedure.phases[{i}]", "trains nothing: give train_passes or forward_passes above 0")
        phase["what"] = _text(file, p, "what").strip()
        out.append(phase)
    return out


def _readings(file: Path, data: Any) -> tuple[dict, ...]:
    if data is None:
        return ()
    if not isinstance(data, list) or not data or not all(isinstance(r, dict) for r in data):
        raise fail(file, "readings", "must be an array of tables [[readings]] with chip_hours, reading and quote")
    out = []
    for i, r in enumerate(data):
        _check_keys(file, r, {"chip_hours", "reading", "quote"})
        out.append({"chip_hours": _number(file, f"readings[{i}].chip_hours", r.get("chip_hours"), 1e-3, 1e9),
                    "reading": _text(file, r, "reading"), "quote": _text(file, r, "quote")})
    return tuple(out)


def _range(file: Path, data: dict, key: str, around: Sourced | None, low: float, high: float) -> tuple[float, float, str] | None:
    raw = data.get(key)
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"low", "high", "source"}:
        raise fail(file, key, "expected { low, high, source }")
    lo, hi = (_number(file, f"{key}.{k}", raw[k], low, high) for k in ("low", "high"))
    if around is None or not lo <= around.value <= hi:
        raise fail(file, key, f"the range {lo:g}..{hi:g} must hold the stated value")
    return lo, hi, _text(file, raw, "source")


def parse_nas(file: Path, data: dict) -> NasPreset:
    _check_keys(file, data, {"name", "method", "chip_hours", "hardware", "avg_power_w", "hardware_label", "note", "aliases",
                             "site_pue", "site_grid_gco2e_per_kwh", "procedure", "readings", "site_pue_range",
                             "site_grid_range", "avg_power_boundary"})
    if "chip_hours" not in data:
        raise fail(file, "chip_hours", "missing (required)")
    power = _sourced(file, "avg_power_w", data["avg_power_w"], 0.1, 1e5) if "avg_power_w" in data else None
    if not data.get("hardware") and power is None:
        raise fail(file, "hardware", "give a hardware profile name or avg_power_w")
    preset = NasPreset(_text(file, data, "name"), _text(file, data, "method"), str(file),
                     _sourced(file, "chip_hours", data["chip_hours"], 1e-3, 1e9), _text(file, data, "hardware", required=False),
                     power, _text(file, data, "hardware_label", required=False), _text(file, data, "note", required=False),
                     _aliases(file, data),
                     _sourced(file, "site_pue", data["site_pue"], 1.0, 5.0) if "site_pue" in data else None,
                     _sourced(file, "site_grid_gco2e_per_kwh", data["site_grid_gco2e_per_kwh"], 0.0, 2000.0)
                     if "site_grid_gco2e_per_kwh" in data else None, _procedure(file, data.get("procedure")),
                     _readings(file, data.get("readings")))
    pue_range = _range(file, data, "site_pue_range", preset.site_pue, 1.0, 5.0)
    grid_range = _range(file, data, "site_grid_range", preset.site_grid_gco2e_per_kwh, 0.0, 2000.0)
    boundary = _text(file, data, "avg_power_boundary", required=False, choices=POWER_BOUNDARIES) or "chip"
    return replace(preset, site_pue_range=pue_range, site_grid_range=grid_range, avg_power_boundary=boundary)


PARSERS = {"hardware": parse_hardware, "datacenter": parse_datacenter, "region": parse_region, "nas": parse_nas}

