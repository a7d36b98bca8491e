"""Fit a hardware profile's projection parameters to measurements, and write a calibrated profile that
records the data it was fitted on. Two levels, both through the projection's own code (kernel plan,
kernel_times, schedule), never a copy of it:

1. Kernel classes, from profiler traces (`fit_kernel_classes`): per class c, (efficiency_c,
   memory_efficiency_c, t0_c) minimise the squared log error of each traced operator's kernel time
   against the sum of t_k over the kernels the plan gives that operator. Blocks of one class are fitted
   in turn (coordinate descent), starting from the profile's values.
2. Whole forwards (`calibrate`): latency of measured forwards fixes what traces cannot see, the host cost
   of issuing operators (one scale on the eager families, or ONNX Runtime's per-kernel cost), the gaps of
   CUDA-graph replay, and, with no traces, scales on the tensor-class efficiencies, the bandwidth and the
   kernel floor; then, with measured energy, linear least squares for P_static, P_active and the energy
   per byte (the energy per FLOP stays the measured ceiling's: GEMM power over GEMM throughput).
Only what the data identifies is fitted: a class absent from the traces keeps its value, a runtime absent
from the measurements keeps its host costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import UsageError
from .fit import nelder_mead
from ..taxonomy import KERNEL_CLASSES, TENSOR_CLASSES
from .kernels import Kernel, KernelPlan, plan_kernels
from ..profiles import PROJECTION_KEYS, HardwareProfile, Sourced
from ..taxonomy import FILL_CLASSES, HOST_FAMILIES
from .params import resolve_params
from .roofline import KernelArrays, executed_flops, kernel_arrays_times, schedule_arrays
from ..records import ModelProfile

STARTS = 6
_START_GRID = [np.array(q) for q in ((0.2, 0.2, 0.3, 0.5, 0.5), (0.2, 0.6, 0.3, 0.6, 0.3), (0.6, 0.2, 0.3, 0.7, 0.6),
                                     (0.6, 0.6, 0.3, 0.5, 0.4), (0.4, 0.4, 0.1, 0.7, 0.5), (0.1, 0.5, 0.5, 0.6, 0.2),
                                     (0.5, 0.1, 0.5, 0.4, 0.6), (0.8, 0.5, 0.2, 0.65, 0.45))]
_FIT_CLASSES = tuple(c for c in KERNEL_CLASSES if c != "aux")


@dataclass(frozen=True)
class Observation:
    name: str
    sha256: str
    batch: int
    latency_s: float
    profile: ModelProfile
    energy_j_per_item: float | None = None
    dtype: str = "fp32"
    runtime: str = "ort"


@dataclass(frozen=True)
class OpSample:
    """One traced operator: the kernels the plan gives it and what they took on the device."""

    kernels: tuple[Kernel, ...]
    measured_s: float
    dtype: str
    runtime: str


@dataclass(frozen=True)
class Calibration:
    values: dict[str, float]
    predicted_s: list[float]
    errors: list[float]  # predicted / measured latency - 1
    median_abs_error: float
    p90_abs_error: float
    energy_predicted_j: list[float | None] = field(default_factory=list)
    energy_errors: list[float | None] = field(default_factory=list)
    fitted_keys: tuple[str, ...] = ()
    kernel_fit: dict[str, float] = field(default_factory=dict)  # median |error| of traced operators per class

    @property
    def energy_median_abs_error(self) -> float | None:
        e = [abs(x) for x in self.energy_errors if x is not None]
        return float(np.median(e)) if e else None


def _current(hw: HardwareProfile, defaults: dict[str, dict[str, Sourced]], key: str) -> float:
    s = hw.projection.get(key) or defaults[hw.category].get(key)
    if s is None:
        raise UsageError(f"no value for '{key}' in {hw.name} or the {hw.category} defaults")
    return s.value


# ---- 1. kernel classes from traces ---------------------------------------------------------------------------


def _class_keys(c: str) -> tuple[str, ...]:
    if c == "aux":
        return ("t0_aux_s",)
    keys = (f"efficiency_{c}", f"memory_efficiency_{c}", f"t0_{c}_s")
    return keys + (f"fill_{c}", f"kdepth_{c}") if c in FILL_CLASSES else keys


def fit_kernel_classes(samples: list[OpSample], hw: HardwareProfile, defaults: dict[str, dict[str, Sourced]],
                       start: dict[str, float] | None = None, rounds: int = 3,
                       fixed: dict[str, float] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Per-class (efficiency, memory_efficiency, t0, and for tensor-core classes fill and kdepth) from
    traced operators; see the module docstring. `fixed` values are held, not fitted. Returns the values and
    the median |error| of the operators of each class after the fit."""
    if not samples:
        raise UsageError("no traced operators to fit kernel classes on")
    values = {**(start or {}), **(fixed or {})}
    for c in KERNEL_CLASSES:
        for key in _class_keys(c):
            values.setdefault(key, _current(hw, defaults, key))
    # per (dtype, runtime): the kernels of every operator as arrays, and which operator each belongs to;
    # predictions go through the projection's own kernel_arrays_times (one roofline, never a copy)
    groups: dict[tuple[str, str], list[OpSample]] = {}
    for s in samples:
        groups.setdefault((s.dtype, s.runtime), []).append(s)
    arrays = []
    for (dtype, runtime), ss in groups.items():
        kernels = tuple(k for s in ss for k in s.kernels)
        owner = np.array([i for i, s in enumerate(ss) for _ in s.kernels], dtype=int)
        ka = KernelArrays(KernelPlan(runtime, kernels, 0, 0, 0, 0))
        arrays.append((dtype, runtime, ka, owner, np.array([s.measured_s for s in ss]), [set(k.kclass for k in s.kernels) for s in ss]))

    def predict(vals: dict[str, float]) -> list[np.ndarray]:
        out = []
        for dtype, runtime, ka, owner, meas, _ in arrays:
            params = resolve_params(hw, dtype, runtime, defaults, overrides=vals)
            t = kernel_arrays_times(ka, params)[0]
            out.append(np.bincount(owner, weights=t, minlength=len(meas)))
        return out

    def loss_for(c: str, vals: dict[str, float]) -> float:
        preds = predict(vals)
        errs = [np.log(np.maximum(p[m], 1e-12) / meas[m]) for p, (*_, meas, cl) in zip(preds, arrays)
                for m in [np.array([c in s for s in cl])] if m.any()]
        e = np.concatenate(errs) if errs else np.zeros(1)
        return float(np.mean(e**2))

    present = {k.kclass for s in samples for k in s.kernels}
    for _ in range(rounds):
        for c in (c for c in KERNEL_CLASSES if c in present):
            keys = tuple(k for k in _class_keys(c) if k not in (fixed or {}))
            lo = np.log([max(PROJECTION_KEYS[k][0], 1e-8) for k in keys])
            hi = np.log([PROJECTION_KEYS[k][1] for k in keys])

            def f(x: np.ndarray, keys=keys, lo=lo, hi=hi, c=c) -> float:
                trial = {**values, **{k: float(math.exp(v)) for k, v in zip(keys, np.clip(x, lo, hi))}}
                return loss_for(c, trial) + float(np.sum(np.maximum(x - hi, 0) ** 2 + np.maximum(lo - x, 0) ** 2))

            # several starts across the bounds: the max(compute, memory) surface has flat, clipped plateaus
            x0 = np.log([max(values[k], 1e-8) for k in keys])
            starts = [x0] + [lo + (hi - lo) * q[: len(keys)] for q in _START_GRID[: 8 if len(keys) > 1 else 0]]
            x, _ = min((nelder_mead(f, s0, step=0.5, max_evals=400) for s0 in starts), key=lambda r: r[1])
            x, _ = nelder_mead(f, x, step=0.1, max_evals=400)
            values.update({k: float(math.exp(v)) for k, v in zip(keys, np.clip(x, lo, hi))})
    preds = predict(values)
    per_class: dict[str, float] = {}
    for c in sorted(present):
        e = [np.abs(p[m] / meas[m] - 1) for p, (*_, meas, cl) in zip(preds, arrays) for m in [np.array([c in s for s in cl])] if m.any()]
        per_class[c] = float(np.median(np.concatenate(e)))
    return {k: values[k] for c in sorted(present) for k in _class_keys(c)}, per_class


# ---- 2. whole forwards ----------------------------------------------------------------------------------------


def _latency_keys(observations: list[Observation], with_traces: bool) -> dict[str, tuple[str, ...]]:
    """Fitted groups: name -> the parameters it scales together (a group keeps their ratios)."""
    runtimes = {o.runtime for o in observations}
    groups: dict[str, tuple[str, ...]] = {}
    if "eager" in runtimes:
        groups["host_eager"] = tuple(f"host_eager_{f}_s" for f in HOST_FAMILIES)
    if "ort" in runtimes:
        groups["host_ort"] = ("host_ort_s",)
    if "graph" in runtimes:
        groups["graph_gap"] = ("graph_gap_s",)
    if not with_traces:
        present = {k.kclass for o in observations for k in plan_kernels(o.profile, o.runtime, o.dtype, False).kernels}
        for c in sorted(present & TENSOR_CLASSES | ({"depthwise"} & present)):
            groups[f"efficiency_{c}"] = (f"efficiency_{c}",)
        groups["memory"] = tuple(f"memory_efficiency_{c}" for c in _FIT_CLASSES)
        groups["t0"] = tuple(f"t0_{c}_s" for c in KERNEL_CLASSES)
    return groups


def _arrays(observations: list[Observation], hw: HardwareProfile) -> list[KernelArrays]:
    cache: dict[tuple[int, str, str], KernelArrays] = {}
    out = []
    for o in observations:
        key = (id(o.profile), o.runtime, o.dtype)
        if key not in cache:
            cache[key] = KernelArrays(plan_kernels(o.profile, o.runtime, o.dtype, gpu=hw.category == "gpu"))
        out.append(cache[key])
    return out


def _timelines(observations, arrays, hw, defaults, values):
    """(params, (time, compute, memory, energy) arrays, timeline) per observation."""
    out = []
    params_cache: dict[tuple[str, str], Any] = {}
    for o, a in zip(observations, arrays):
        key = (o.dtype, o.runtime)
        if key not in params_cache:
            params_cache[key] = resolve_params(hw, o.dtype, o.runtime, defaults, overrides=values)
        params = params_cache[key]
        kt = kernel_arrays_times(a, params, o.profile.nm_sparsity or 0.0)
        out.append((params, kt, schedule_arrays(a, kt[0], kt[3], params)))
    return out


def calibrate(observations: list[Observation], hw: HardwareProfile, defaults: dict[str, dict[str, Sourced]],
              start: dict[str, float] | None = None, with_traces: bool = False) -> Calibration:
    """Fit the whole-forward parameters (see the module docstring) on top of `start` (e.g. the kernel
    classes fitted on traces)."""
    if len(observations) < 3:
        raise UsageError(f"calibration needs at least 3 measurements, got {len(observations)}")
    base = dict(start or {})
    groups = _latency_keys(observations, with_traces)
    for keys in groups.values():
        for k in keys:
            base.setdefault(k, _current(hw, defaults, k))
    names = list(groups)
    measured = np.array([o.latency_s for o in observations])
    bound = math.log(50.0)

    def unpack(x: np.ndarray) -> dict[str, float]:
        vals = dict(base)
        for name, v in zip(names, np.clip(x, -bound, bound)):
            for k in groups[name]:
                lo, hi = PROJECTION_KEYS[k]
                vals[k] = float(min(max(base[k] * math.exp(v), lo), hi))
        return vals

    arrays = _arrays(observations, hw)

    def loss(x: np.ndarray) -> float:
        lat = np.array([tl.latency_s for _, _, tl in _timelines(observations, arrays, hw, defaults, unpack(x))])
        return float(np.mean(np.log(lat / measured) ** 2) + np.sum(np.maximum(np.abs(x) - bound, 0) ** 2))

    x = np.zeros(len(names))
    if names:
        rng = np.random.default_rng(0)
        starts = [x] + [rng.uniform(-1.5, 1.5, len(names)) for _ in range(STARTS - 1)]
        x, _ = min((nelder_mead(loss, s, step=0.5, max_evals=300 * len(names)) for s in starts), key=lambda r: r[1])
        x, _ = nelder_mead(loss, x, step=0.1, max_evals=200 * len(names))
    values = unpack(x)
    tls = _timelines(observations, arrays, hw, defaults, values)
    pred = [tl.latency_s for _, _, tl in tls]
    errors = [p / m - 1 for p, m in zip(pred, measured)]
    fitted = [k for name in names for k in groups[name]]
    energy_pred: list[float | None] = [None] * len(observations)
    energy_err: list[float | None] = [None] * len(observations)
    with_e = [i for i, o in enumerate(observations) if o.energy_j_per_item is not None]
    if len(with_e) >= 3:
        values.update(_fit_power(observations, with_e, tls, arrays))
        fitted += ["static_power_w", "active_power_w", "energy_per_byte_pj"]
        for i, (params, _, tl) in enumerate(_timelines(observations, arrays, hw, defaults, values)):
            if observations[i].energy_j_per_item is not None:
                energy_pred[i] = tl.energy_j / observations[i].batch
                energy_err[i] = energy_pred[i] / observations[i].energy_j_per_item - 1
    abs_err = np.abs(errors)
    return Calibration(values, pred, errors, float(np.median(abs_err)), float(np.percentile(abs_err, 90)), energy_pred,
                       energy_err, tuple(dict.fromkeys(fitted)))


def _fit_power(observations, idx, timelines, arrays) -> dict[str, float]:
    """The energy model is E = P_s T + P_a B + (P_busy - P_s - P_a) F + eps_byte bytes, with F the FLOPs over
    the measured GEMM rate of their unit (eps_flop = (P_busy - P_s - P_a) / rate). So
    E - P_busy F = P_s (T - F) + P_a (B - F) + eps_byte bytes: least squares weighted to relative error,
    every coefficient kept >= 0."""
    rows, target = [], []
    for i in idx:
        params, _, tl = timelines[i]
        a = arrays[i]
        spare = max(params.busy_power_w - params.static_power_w - params.active_power_w, 1e-12)
        per_flop_s = np.array([params.energy_per_flop_j.get(params.classes[c].unit, 0.0) / spare for c in KERNEL_CLASSES])[a.cls]
        f = float(np.sum(per_flop_s * executed_flops(a, params)))  # seconds of FLOPs at the unit's measured GEMM rate
        byts = float(np.sum(a.bytes)) * params.bytes_scale
        e = observations[i].energy_j_per_item * observations[i].batch
        rows.append(np.array([tl.latency_s - f, tl.busy_s - f, byts]) / e)
        target.append((e - params.busy_power_w * f) / e)
    a, y = np.array(rows), np.array(target)
    active = [0, 1, 2]
    sol = np.zeros(3)
    for _ in range(3):  # drop a negative coefficient and refit: a tiny non-negative least squares
        s, *_ = np.linalg.lstsq(a[:, active], y, rcond=None)
        sol = np.zeros(3)
        sol[active] = s
        neg = [j for j in active if sol[j] < 0]
        if not neg:
            break
        active = [j for j in active if j not in neg]
    sol = np.maximum(sol, 0.0)
    return {"static_power_w": float(sol[0]), "active_power_w": float(sol[1]), "energy_per_byte_pj": float(sol[2] * 1e12)}


# ---- the error model ------------------------------------------------------------------------------------------


def error_model(log_errors: dict[tuple[str, str], float], host_share: dict[tuple[str, str], float] | None = None
                ) -> tuple[float, float, float]:
    """(sigma_model, sigma_shared, sigma_host) from out-of-sample log errors keyed by (model, setting).
    The shared part of a setting is the mean error over the models measured in it; what remains is each
    model's own: own^2 ~ sigma_model^2 + (host_share x sigma_host)^2, fitted by least squares on the squares
    (host_share: the share of the forward the device waits on the host, as projected)."""
    by_setting: dict[str, list[float]] = {}
    for (_, setting), e in log_errors.items():
        by_setting.setdefault(setting, []).append(e)
    shared = {s: float(np.mean(v)) for s, v in by_setting.items()}
    sigma_shared = float(np.sqrt(np.mean([v**2 for v in shared.values()]))) if shared else 0.0
    keys = list(log_errors)
    own2 = np.array([(log_errors[k] - shared[k[1]]) ** 2 for k in keys])
    if not len(own2):
        return 0.0, sigma_shared, 0.0
    h2 = np.array([(host_share or {}).get(k, 0.0) ** 2 for k in keys])
    if h2.any():
        sol, *_ = np.linalg.lstsq(np.stack([np.ones_like(h2), h2], axis=1), own2, rcond=None)
        s_model2, s_host2 = max(sol[0], 0.0), max(sol[1], 0.0)
    else:
        s_model2, s_host2 = float(np.mean(own2)), 0.0
    return float(np.sqrt(s_model2)), sigma_shared, float(np.sqrt(s_host2))


# ---- writing the calibrated profile -----------------------------------------------------------------------


def calibrated_profile_toml(hw: HardwareProfile, cal: Calibration, observations: list[Observation], name: str,
                            measured_on: str, source: str = "", aliases: tuple[str, ...] = (),
                            extra: dict[str, Any] | None = None, data_year: int | None = None) -> str:
    """The hardware profile with the fitted values as `calibrated` [projection] entries (their year: the year of
    the measurements, `data_year`, else this year) and a [calibration] table holding every measurement it was
    fitted on, its prediction and error; written by the one profile writer (profiles/writer.py)."""
    from ..profiles.writer import hardware_toml

    today = date.today()
    year = data_year or today.year
    src = source or (f"calibrated by nas-analyzer {__version__} on {today.isoformat()}: {len(observations)} measurements on "
                     f"{measured_on}; median |latency error| {cal.median_abs_error:.1%}")
    merged: dict[str, Sourced] = dict(hw.projection)
    for k, v in sorted(cal.values.items()):
        merged[k] = Sourced(float(f"{v:.6g}"), src, year, "calibrated")
    table: dict[str, Any] = {"date": today.isoformat(), "data_year": year, "measured_on": measured_on,
                             "fitted_keys": list(cal.fitted_keys), "median_abs_error": float(f"{cal.median_abs_error:.6g}"),
                             "p90_abs_error": float(f"{cal.p90_abs_error:.6g}")}
    if cal.energy_median_abs_error is not None:
        table["energy_median_abs_error"] = float(f"{cal.energy_median_abs_error:.6g}")
    table.update(extra or {})
    rows = []
    for o, p, e, ep, ee in zip(observations, cal.predicted_s, cal.errors, cal.energy_predicted_j or [None] * len(observations),
                               cal.energy_errors or [None] * len(observations)):
        row = {"model": o.name, "sha256": o.sha256, "dtype": o.dtype, "runtime": o.runtime, "batch": o.batch,
               "measured_s": float(f"{o.latency_s:.6g}"), "predicted_s": float(f"{p:.6g}"), "error": round(e, 4)}
        if o.energy_j_per_item is not None and ep is not None:
            row |= {"energy_j_per_item": float(f"{o.energy_j_per_item:.6g}"), "predicted_energy_j_per_item": float(f"{ep:.6g}"),
                    "energy_error": round(ee, 4)}
        rows.append(row)
    table["fitted_on"] = rows
    return hardware_toml(hw, name=name, title=hw.title + " (calibrated)", aliases=aliases, projection=merged, training={},
                         calibration=table, header=f"Calibrated from {Path(hw.file).name} by nas-analyzer; the data it was "
                                                   "fitted on is in [calibration].")


def observations_summary(cal: Calibration, observations: list[Observation]) -> list[dict[str, Any]]:
    return [{"model": o.name, "dtype": o.dtype, "runtime": o.runtime, "batch": o.batch, "measured_s": o.latency_s,
             "predicted_s": p, "error": e, "energy_error": ee}
            for o, p, e, ee in zip(observations, cal.predicted_s, cal.errors, cal.energy_errors or [None] * len(observations))]
