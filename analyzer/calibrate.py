"""Fit a hardware profile's projection parameters (efficiencies, memory efficiency, per-kernel overhead,
and with energy data the power model) to measured latency, and write a calibrated profile that records
the data it was fitted on. Objective: mean squared log error of predicted vs measured latency."""

from __future__ import annotations

import math
from pathlib import Path
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from . import __version__
from .errors import UsageError
from .fit import nelder_mead
from .profiles import PROJECTION_KEYS, HardwareProfile, Sourced
from .project import CLASS_OF, Params, fused_nodes, node_times, resolve_params
from .records import ModelProfile

_CLASSES = ("gemm", "attention", "depthwise", "vector", "movement")
STARTS = 8
_EFF_OF = {"gemm": "efficiency_gemm", "attention": "efficiency_attention", "depthwise": "efficiency_depthwise",
           "vector": "efficiency_vector"}


@dataclass(frozen=True)
class Observation:
    name: str
    sha256: str
    batch: int
    latency_s: float
    profile: ModelProfile
    energy_j_per_item: float | None = None


@dataclass(frozen=True)
class Calibration:
    values: dict[str, float]
    predicted_s: list[float]
    errors: list[float]  # predicted / measured - 1
    median_abs_error: float
    p90_abs_error: float
    power_w: dict[str, float] = field(default_factory=dict)  # compute/memory/overhead, when energy was fitted
    fitted_keys: tuple[str, ...] = ()


class _Arrays:
    """One observation's nodes as arrays, so a prediction is a few vector operations."""

    def __init__(self, obs: Observation, runtime: str) -> None:
        fused = fused_nodes(obs.profile) if runtime == "ort" else set()
        rows = [(n.flops, n.bytes, _CLASSES.index(CLASS_OF[n.op_class])) for n in obs.profile.per_op or []
                if CLASS_OF.get(n.op_class) is not None and n.name not in fused]
        self.flops = np.array([r[0] for r in rows], dtype=float)
        self.bytes = np.array([r[1] for r in rows], dtype=float)
        self.cls = np.array([r[2] for r in rows], dtype=int)


def fit_keys(runtime: str) -> tuple[str, ...]:
    return ("efficiency_gemm", "efficiency_attention", "efficiency_depthwise", "efficiency_vector", "memory_efficiency",
            f"overhead_{runtime}_s")


def _predict(arr: _Arrays, base: Params, values: dict[str, float], peak: float, vector_peak: float, bw0: float) -> float:
    rates = np.array([peak * values["efficiency_gemm"], peak * values["efficiency_attention"],
                      vector_peak * values["efficiency_depthwise"], vector_peak * values["efficiency_vector"], np.inf])
    bw = bw0 * values["memory_efficiency"]
    overhead = next(v for k, v in values.items() if k.startswith("overhead_"))
    compute = np.where(arr.flops > 0, arr.flops / rates[arr.cls], 0.0)
    memory = arr.bytes * base.bytes_scale / bw
    return float(np.sum(np.maximum(compute, memory) + overhead))


def calibrate(observations: list[Observation], hw: HardwareProfile, dtype: str, runtime: str,
              defaults: dict[str, dict[str, Sourced]]) -> Calibration:
    if len(observations) < 3:
        raise UsageError(f"calibration needs at least 3 measurements, got {len(observations)}")
    arrays = [_Arrays(o, runtime) for o in observations]
    present = {_CLASSES[c] for a in arrays for c, f in zip(a.cls, a.flops) if f > 0}
    # Only what the data can identify is fitted: an op class absent from every measurement keeps its value.
    keys = tuple(k for k in fit_keys(runtime) if not (k in _EFF_OF.values() and
                                                      next(c for c, e in _EFF_OF.items() if e == k) not in present))
    all_keys = fit_keys(runtime)
    base = resolve_params(hw, dtype, runtime, defaults, overrides={k: defaults[hw.category][k].value for k in all_keys})
    peak = hw.peak_tflops[dtype].value * 1e12
    vector_peak = hw.peak_tflops.get("fp32", hw.peak_tflops[dtype]).value * 1e12
    bw0 = hw.memory_bandwidth_gbps.value * 1e9  # type: ignore[union-attr]
    measured = np.array([o.latency_s for o in observations])
    lo = np.log([PROJECTION_KEYS[k][0] or 1e-9 for k in keys])
    hi = np.log([PROJECTION_KEYS[k][1] for k in keys])
    start = {k: (hw.projection.get(k) or defaults[hw.category][k]).value for k in all_keys}
    x0 = np.log([max(start[k], 1e-8) for k in keys])

    def unpack(x: np.ndarray) -> dict[str, float]:
        return {**start, **{k: float(math.exp(v)) for k, v in zip(keys, np.clip(x, lo, hi))}}

    def loss(x: np.ndarray) -> float:
        vals = unpack(x)
        pred = np.array([_predict(a, base, vals, peak, vector_peak, bw0) for a in arrays])
        # a penalty outside the bounds keeps the simplex from drifting on the flat, clipped plateau
        outside = np.maximum(x - hi, 0) + np.maximum(lo - x, 0)
        return float(np.mean(np.log(pred / measured) ** 2) + np.sum(outside**2))

    # The objective is piecewise (max of compute and memory time), so Nelder-Mead can stall: start from the
    # current values and from seeded random points in the bounds, polish the best with fresh simplexes.
    rng = np.random.default_rng(0)
    starts = [x0] + [lo + (hi - lo) * rng.random(len(keys)) for _ in range(STARTS - 1)]
    x, best = min((nelder_mead(loss, s, step=0.7, max_evals=1500) for s in starts), key=lambda r: r[1])
    for _ in range(3):
        x, best = nelder_mead(loss, x, step=0.2, max_evals=1500)
    values = {k: v for k, v in unpack(x).items() if k in keys}
    full = {**start, **values}
    pred = [_predict(a, base, full, peak, vector_peak, bw0) for a in arrays]
    errors = [p / m - 1 for p, m in zip(pred, measured)]
    abs_err = np.abs(errors)
    power: dict[str, float] = {}
    if all(o.energy_j_per_item is not None for o in observations):
        power = _fit_power(observations, hw, dtype, runtime, defaults, full)
    return Calibration(values, pred, errors, float(np.median(abs_err)), float(np.percentile(abs_err, 90)), power, keys)


def _fit_power(observations, hw, dtype, runtime, defaults, values) -> dict[str, float]:
    """Least squares for the powers by bound: E_item x batch = P_c T_c + P_m T_m + P_o T_o."""
    params = resolve_params(hw, dtype, runtime, defaults, overrides=values)
    rows, target = [], []
    for o in observations:
        times = node_times(o.profile, params, runtime)
        rows.append([sum(t.time_s for t in times if t.bound == b) for b in ("compute", "memory", "overhead")])
        target.append(o.energy_j_per_item * o.batch)
    sol, *_ = np.linalg.lstsq(np.array(rows), np.array(target), rcond=None)
    idle = hw.idle_w.value if hw.idle_w else 0.0
    return {b: float(max(w, idle)) for b, w in zip(("compute", "memory", "overhead"), sol)}


# ---- writing the calibrated profile -----------------------------------------------------------------------


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _sourced(s: Sourced) -> str:
    note = f", note = {_q(s.note)}" if s.note else ""
    return f"{{ value = {s.value!r}, source = {_q(s.source)}, year = {s.year}, kind = {_q(s.kind)}{note} }}"


def calibrated_profile_toml(hw: HardwareProfile, cal: Calibration, observations: list[Observation], dtype: str,
                            runtime: str, name: str, measured_on: str) -> str:
    today = date.today()
    src = (f"calibrated by nas-analyzer {__version__} on {today.isoformat()}: {runtime} runtime, {dtype}, "
           f"{len(observations)} measurements on {measured_on}; median |error| {cal.median_abs_error:.1%}")
    lines = [f"# Calibrated from {Path(hw.file).name} by `nas-analyzer calibrate`; the data it was fitted on is in [calibration].",
             f"name = {_q(name)}", f"title = {_q(hw.title + ' (calibrated)')}", f"category = {_q(hw.category)}",
             f"embodied_method = {_q(hw.embodied_method)}"]
    if hw.note:
        lines.append(f"note = {_q(hw.note)}")
    scalars = ("memory_gb", "memory_bandwidth_gbps", "achievable_memory_bandwidth_gbps", "tdp_w", "idle_w", "avg_power_w",
               "busy_power_w", "memory_bound_power_w", "embodied_co2e_kg", "lifetime_years")
    power_keys = {"compute": "busy_power_w", "memory": "memory_bound_power_w"}
    for k in scalars:
        v = getattr(hw, k)
        fitted = next((b for b, key in power_keys.items() if key == k and b in cal.power_w), None)
        if fitted:
            lines.append(f"{k} = {_sourced(Sourced(round(cal.power_w[fitted], 3), src, today.year, 'calibrated'))}")
        elif v is not None:
            lines.append(f"{k} = {_sourced(v)}")
    for k in ("busy_power_w", "memory_bound_power_w"):
        b = "compute" if k == "busy_power_w" else "memory"
        if getattr(hw, k) is None and b in cal.power_w:
            lines.append(f"{k} = {_sourced(Sourced(round(cal.power_w[b], 3), src, today.year, 'calibrated'))}")
    for table in ("peak_tflops", "peak_tflops_sparse", "achievable_tflops"):
        values = getattr(hw, table)
        if values:
            lines += ["", f"[{table}]"] + [f"{dt} = {_sourced(s)}" for dt, s in values.items()]
    lines += ["", "[projection]"]
    merged: dict[str, Sourced] = dict(hw.projection)
    for k, v in cal.values.items():
        merged[k] = Sourced(float(f"{v:.6g}"), src, today.year, "calibrated")
    if "overhead" in cal.power_w and hw.idle_w and (hw.busy_power_w or hw.tdp_w):
        busy = cal.power_w.get("compute", (hw.busy_power_w or hw.tdp_w).value)
        frac = (cal.power_w["overhead"] - hw.idle_w.value) / max(busy - hw.idle_w.value, 1e-9)
        merged["overhead_power_fraction"] = Sourced(float(f"{min(max(frac, 0.0), 1.0):.4g}"), src, today.year, "calibrated")
    lines += [f"{k} = {_sourced(s)}" for k, s in merged.items()]
    lines += ["", "[calibration]", f"date = {_q(today.isoformat())}", f"runtime = {_q(runtime)}", f"dtype = {_q(dtype)}",
              f"measured_on = {_q(measured_on)}", f"fitted_keys = [{', '.join(_q(k) for k in cal.fitted_keys)}]",
              f"median_abs_error = {cal.median_abs_error:.6g}", f"p90_abs_error = {cal.p90_abs_error:.6g}",
              "fitted_on = ["]
    for o, p, e in zip(observations, cal.predicted_s, cal.errors):
        energy = f", energy_j_per_item = {o.energy_j_per_item!r}" if o.energy_j_per_item is not None else ""
        lines.append(f"  {{ model = {_q(o.name)}, sha256 = {_q(o.sha256)}, batch = {o.batch}, measured_s = {o.latency_s:.6g}, "
                     f"predicted_s = {p:.6g}, error = {e:.4f}{energy} }},")
    lines.append("]")
    return "\n".join(lines) + "\n"


def observations_summary(cal: Calibration, observations: list[Observation]) -> list[dict[str, Any]]:
    return [{"model": o.name, "batch": o.batch, "measured_s": o.latency_s, "predicted_s": p, "error": e}
            for o, p, e in zip(observations, cal.predicted_s, cal.errors)]
