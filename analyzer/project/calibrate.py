"""Fit a hardware profile's projection parameters to measured forwards, within physics, and write a calibrated
profile that records the data it was fitted on. Everything goes through the projection's own code (kernel plan,
kernel_arrays_times, schedule_arrays), never a copy of it.

1. Latency (`calibrate`): the candidates are the host costs of the runtimes measured (eager's per-family costs as one
   scale, ONNX Runtime's per-kernel cost, the per-forward cost, CUDA-graph gaps) and, for every kernel class the
   measured forwards run (unless `with_traces` fitted them already: calibrate_traces.py), its efficiency, memory
   efficiency and floor. Each is a scale on the base value, bounded by physics (calibrate_bounds.py) and with a
   prior at the base; only those the measurements identify are freed (project/fit.py `identifiable`: at most n - 1
   for n forwards); the others stay at their prior and are reported as not fitted.
2. Energy (with >= 3 measured energies): E = P_s T + P_a B + (P_busy - P_s - P_a) F + eps_byte bytes (T the
   forward's time, B the device's busy time, F the seconds its FLOPs take at the unit's GEMM rate), fitted the same
   way for P_s, P_a and eps_byte, with their sum held under the part's limit x 1.1.
3. The check: each forward is left out in turn, the fit redone on the others and the left-out forward projected
   (leave-one-out). The fit is refused (`CalibrationRefused`, nothing written) when its held-out median |latency
   error| is worse than the uncalibrated projection's on the same forwards and above LOO_TOLERANCE (2%): a
   calibration that predicts unseen forwards worse than no calibration is not one. The powers alone failing the same
   test (held-out median |energy error|) are not fitted: the profile keeps its own, and a note says why.
Each measurement's weight is its log spread (between processes, `measure --processes`) with a floor for the
model's own error, MODEL_LOG_SIGMA.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import UsageError
from ..profiles import HardwareProfile, Sourced
from ..records import ModelProfile
from ..taxonomy import HOST_FAMILIES, KERNEL_CLASSES
from .calibrate_bounds import fit_powers, group, power_params
from .calibrate_checks import check_observations
from .calibrate_profile import CalibratedName, calibrated_profile_toml, calibration_summary, error_model, observations_summary  # noqa: F401
from .calibrate_traces import OpSample, class_keys, current, fit_kernel_classes  # noqa: F401  (re-exported)
from .fit import Bounded, FitResult, fit_bounded, identifiable, sensitivity
from .kernels import nchwc_block, plan_kernels
from .params import resolve_params
from .roofline import KernelArrays, executed_flops, kernel_arrays_times, schedule_arrays

MODEL_LOG_SIGMA = 0.05  # what the projection cannot follow from one forward to the next: a floor on every point's sigma
LOO_TOLERANCE = 0.02
PIN_ROUNDS = 2  # times a fit may pin parameters that stopped at a bound and free others (_fit_latency)  # held-out median |error| allowed above the uncalibrated one before the fit is refused
MIN_POINTS = 3


class CalibrationRefused(UsageError):
    """The fit failed its own check: nothing is written."""


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
    latency_log_sigma: float = 0.0  # the measurement's own spread (between processes), log
    device: str = ""  # the device it ran on, as the measurement says


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
    log_stderr: dict[str, float] = field(default_factory=dict)  # fitted key -> standard error of ln value
    blind_errors: list[float] = field(default_factory=list)  # the uncalibrated projection's
    loo_errors: list[float] = field(default_factory=list)  # each forward projected by a fit that did not see it
    energy_blind_errors: list[float | None] = field(default_factory=list)
    energy_loo_errors: list[float | None] = field(default_factory=list)
    not_fitted: dict[str, str] = field(default_factory=dict)  # candidate -> why it stayed at its prior
    notes: list[str] = field(default_factory=list)

    @property
    def energy_median_abs_error(self) -> float | None:
        return _median_abs(self.energy_errors)

    @property
    def blind_median_abs_error(self) -> float | None:
        return _median_abs(self.blind_errors)

    @property
    def loo_median_abs_error(self) -> float | None:
        return _median_abs(self.loo_errors)

    @property
    def energy_blind_median_abs_error(self) -> float | None:
        return _median_abs(self.energy_blind_errors)

    @property
    def energy_loo_median_abs_error(self) -> float | None:
        return _median_abs(self.energy_loo_errors)


def _median_abs(errors: list[float | None]) -> float | None:
    e = [abs(x) for x in errors if x is not None]
    return float(np.median(e)) if e else None


# ---- candidates and predictions -------------------------------------------------------------------------------


@dataclass
class _Problem:
    observations: list[Observation]
    hw: HardwareProfile
    defaults: dict[str, dict[str, Sourced]]
    arrays: list[KernelArrays]
    base: dict[str, float]
    groups: dict[str, tuple[str, ...]]  # candidate -> the keys it scales
    params: list[Bounded]
    sigma: np.ndarray
    skipped: dict[str, str] = field(default_factory=dict)

    def overrides(self, scales: dict[str, float]) -> dict[str, float]:
        vals = dict(self.base)
        for name, s in scales.items():
            for k in self.groups[name]:
                vals[k] = self.base[k] * s
        return vals

    def timelines(self, values: dict[str, float], idx: list[int]):
        out, cache = [], {}
        for i in idx:
            o, a = self.observations[i], self.arrays[i]
            key = (o.dtype, o.runtime)
            if key not in cache:
                cache[key] = resolve_params(self.hw, o.dtype, o.runtime, self.defaults, overrides=values)
            params = cache[key]
            kt = kernel_arrays_times(a, params, o.profile.nm_sparsity or 0.0)
            out.append((params, schedule_arrays(a, kt[0], kt[3], params)))
        return out

    def latency(self, values: dict[str, float], idx: list[int]) -> np.ndarray:
        return np.array([tl.latency_s for _, tl in self.timelines(values, idx)])


def _problem(observations, hw, defaults, start, with_traces) -> _Problem:
    arrays, cache = [], {}
    for o in observations:
        key = (id(o.profile), o.runtime, o.dtype)
        if key not in cache:
            cache[key] = KernelArrays(plan_kernels(o.profile, o.runtime, o.dtype, gpu=hw.category == "gpu",
                                                    nchwc_block=nchwc_block(hw)))
        arrays.append(cache[key])
    runtimes = {o.runtime for o in observations}
    groups: dict[str, tuple[str, ...]] = {}
    if "eager" in runtimes:
        groups["host_eager"] = tuple(f"host_eager_{f}_s" for f in HOST_FAMILIES)
    if "ort" in runtimes:
        groups["host_ort_s"] = ("host_ort_s",)
    if runtimes & {"eager", "ort"}:
        groups["forward_s"] = ("forward_s",)
    if "graph" in runtimes:
        groups["graph_gap_s"] = ("graph_gap_s",)
        groups["graph_launch_s"] = ("graph_launch_s",)
    present = sorted({int(c) for a in arrays for c in np.unique(a.cls)})
    biggest = {c: max(float(a.bytes[a.cls == c].max()) for a in arrays if (a.cls == c).any()) for c in present}
    resident = {KERNEL_CLASSES[c]: hw.l2_cache_mb is not None and b <= hw.l2_cache_mb.value * 1e6 for c, b in biggest.items()}
    if not with_traces:
        for c in (KERNEL_CLASSES[i] for i in present):
            for k in class_keys(c)[:3]:
                groups[k] = (k,)
    base = dict(start or {})
    for keys in groups.values():
        for k in keys:
            base.setdefault(k, current(hw, defaults, k))
    params, skipped = [], {}
    for name, keys in groups.items():
        cls = next((c for c in KERNEL_CLASSES if name.startswith("memory_efficiency_") and name.endswith(f"_{c}")), None)
        g = group(name, keys, base, hw, resident.get(cls, False))
        if g is None:
            skipped[name] = "its base value is 0 (a scale cannot move it)"
        else:
            params.append(g)
    sigma = np.array([np.hypot(o.latency_log_sigma, MODEL_LOG_SIGMA) for o in observations])
    return _Problem(observations, hw, defaults, arrays, base, groups, params, sigma, skipped)


def _fit_latency(pb: _Problem, idx: list[int]) -> tuple[dict[str, float], FitResult, list[Bounded], dict[str, str]]:
    """(scales, fit, the fitted candidates, candidate -> why not fitted) on the forwards `idx`. A freed candidate that
    stops at a physical bound is pinned there (physics fixes it, not the data) and the fit redone with its degree of
    freedom given to the next identifiable candidate, at most PIN_ROUNDS times: an efficiency that would pass 1 to
    absorb a host cost leaves that cost to its own parameter."""
    measured = np.array([pb.observations[i].latency_s for i in idx])
    sigma = pb.sigma[idx]
    pinned: dict[str, float] = {}

    def pred(scales: dict[str, float]) -> np.ndarray:
        return pb.latency(pb.overrides({**scales, **pinned}), idx)

    at: dict[str, float] = {}
    for round_ in range(PIN_ROUNDS + 1):
        open_params = [p for p in pb.params if p.name not in pinned]
        s = sensitivity(pred, sigma, open_params, at)
        free = sorted(identifiable(s, len(idx) - 1 - len(pinned)))  # a pinned value counts against the n - 1
        chosen = [open_params[j] for j in free]
        res = fit_bounded(pred, measured, sigma, chosen, explore=True)
        newly = {k: res.values[k] for k in res.at_bound}
        if not newly or round_ == PIN_ROUNDS or len(pinned) + len(newly) >= len(idx) - 1:
            break
        pinned.update(newly)
        at = {k: v for k, v in res.values.items() if k not in newly}
    why = dict(pb.skipped)
    for j, p in enumerate(open_params):
        if j not in free:
            why[p.name] = ("no measured forward depends on it" if not np.any(np.abs(s[:, j]) > 1e-3)
                           else f"not identified by {len(idx)} forwards (held at its prior)")
    byname = {p.name: p for p in pb.params}
    values = {**res.values, **pinned}
    stopped = {**{k: ("upper" if byname[k].hi <= v * 1.0101 else "lower") for k, v in pinned.items()}, **res.at_bound}
    res = replace(res, values=values, at_bound=stopped)  # a pinned value has no standard error: a bound set it
    return values, res, chosen + [byname[k] for k in pinned], why


def _energy_terms(pb: _Problem, values: dict[str, float], idx: list[int]) -> np.ndarray:
    """Per forward (T - F, B - F, bytes, P_busy F): the energy model's terms (module docstring)."""
    rows = []
    for i, (params, tl) in zip(idx, pb.timelines(values, idx)):
        a = pb.arrays[i]
        spare = max(params.busy_power_w - params.static_power_w - params.active_power_w, 1e-12)
        per_flop_s = np.array([params.energy_per_flop_j.get(params.classes[c].unit, 0.0) / spare for c in KERNEL_CLASSES])[a.cls]
        f = float(np.sum(per_flop_s * executed_flops(a, params)))  # executed: Winograd does fewer multiplies
        rows.append((tl.latency_s - f, tl.busy_s - f, float(np.sum(a.bytes)) * params.bytes_scale, params.busy_power_w * f))
    return np.array(rows)


def _fit_energy(pb: _Problem, values: dict[str, float], idx: list[int]) -> tuple[dict[str, float], FitResult] | None:
    idx = [i for i in idx if pb.observations[i].energy_j_per_item is not None]
    if len(idx) < MIN_POINTS:
        return None
    terms = _energy_terms(pb, values, idx)
    measured = np.array([pb.observations[i].energy_j_per_item * pb.observations[i].batch for i in idx])
    p0 = pb.timelines(values, idx[:1])[0][0]
    params = power_params(pb.hw, p0.static_power_w, p0.active_power_w, p0.energy_per_byte_j * 1e12)

    def pred(v: dict[str, float]) -> np.ndarray:
        ps, pa, eb = (v.get(p.name, p.centre) for p in params)
        return np.maximum(terms[:, 0] * ps + terms[:, 1] * pa + terms[:, 2] * eb * 1e-12 + terms[:, 3], 1e-30)

    values, res, _ = fit_powers(pred, measured, params, pb.hw, np.full(len(idx), MODEL_LOG_SIGMA))
    return values, res


def _predict(pb: _Problem, values: dict[str, float], idx: list[int]) -> tuple[np.ndarray, list[float | None]]:
    lat = []
    energy: list[float | None] = []
    for i, (_, tl) in zip(idx, pb.timelines(values, idx)):
        lat.append(tl.latency_s)
        energy.append(tl.energy_j / pb.observations[i].batch)
    return np.array(lat), energy


def _fit_all(pb: _Problem, idx: list[int]) -> tuple[dict[str, float], dict[str, Any]]:
    scales, res, chosen, why = _fit_latency(pb, idx)
    values = pb.overrides(scales)
    info = {"latency": res, "chosen": chosen, "why": why, "energy": None}
    e = _fit_energy(pb, values, idx)
    if e is not None:
        values.update(e[0])
        info["energy"] = e[1]
    return values, info


def calibrate(observations: list[Observation], hw: HardwareProfile, defaults: dict[str, dict[str, Sourced]],
              start: dict[str, float] | None = None, with_traces: bool = False, check: bool = True) -> Calibration:
    """Fit (module docstring) on top of `start` (e.g. kernel classes fitted on traces). Raises CalibrationRefused
    when `check` and the fit fails its leave-one-out check."""
    if len(observations) < MIN_POINTS:
        raise UsageError(f"calibration needs at least {MIN_POINTS} measurements, got {len(observations)}")
    pb = _problem(observations, hw, defaults, start, with_traces)
    n = len(observations)
    everything = list(range(n))
    blind_lat, blind_e = _predict(pb, pb.base, everything)
    check_observations(observations, hw, blind_lat, blind_e)
    values, info = _fit_all(pb, everything)
    pred, energy_pred = _predict(pb, values, everything)
    loo_lat, loo_e = np.zeros(n), [None] * n
    for i in everything:
        v, _ = _fit_all(pb, [j for j in everything if j != i])
        lat, e = _predict(pb, v, [i])
        loo_lat[i], loo_e[i] = lat[0], e[0]
    meas = np.array([o.latency_s for o in observations])
    meas_e = [o.energy_j_per_item for o in observations]

    def rel(p, m):
        return [None if (m_ is None or p_ is None) else p_ / m_ - 1 for p_, m_ in zip(p, m)]

    with_e = info["energy"] is not None
    dropped = None
    if with_e:  # the powers are kept only where they project the forwards they did not see better than the base's
        loo_med, blind_med = _median_abs(rel(loo_e, meas_e)), _median_abs(rel(blind_e, meas_e))
        if loo_med > max(blind_med, LOO_TOLERANCE):
            dropped = (f"power not fitted: fitted on the others, each forward's energy is off by a median {loo_med:.1%}, "
                       f"worse than the profile's own powers ({blind_med:.1%}); they are kept")
            for k in ("static_power_w", "active_power_w", "energy_per_byte_pj"):
                values.pop(k, None)
            info["energy"] = None
            pred, energy_pred = _predict(pb, values, everything)
    errors = list(pred / meas - 1)
    cal_fields = dict(predicted_s=list(pred), errors=errors, median_abs_error=float(np.median(np.abs(errors))),
                      p90_abs_error=float(np.percentile(np.abs(errors), 90)),
                      energy_predicted_j=[p if m is not None and with_e else None for p, m in zip(energy_pred, meas_e)],
                      energy_errors=rel(energy_pred, meas_e) if with_e else [None] * n,  # with_e: energy measured and fitted
                      blind_errors=list(blind_lat / meas - 1), loo_errors=list(loo_lat / meas - 1),
                      energy_blind_errors=rel(blind_e, meas_e) if with_e else [None] * n,
                      energy_loo_errors=rel(loo_e, meas_e) if with_e else [None] * n)
    fitted, stderr, notes = [], {}, []
    res: FitResult = info["latency"]
    for p in info["chosen"]:
        for k in pb.groups[p.name]:
            fitted.append(k)
            if p.name in res.log_stderr:
                stderr[k] = res.log_stderr[p.name]
        if p.name in res.at_bound:
            notes.append(f"{p.name} stopped at its {res.at_bound[p.name]} bound ({p.why})")
    eres: FitResult | None = info["energy"]
    if eres is not None:
        for k, s in eres.log_stderr.items():
            fitted.append(k)
            stderr[k] = s
        notes += [f"{k} stopped at its {b} bound" for k, b in eres.at_bound.items()]
    elif dropped:
        notes.append(dropped)
    elif any(o.energy_j_per_item is not None for o in observations):
        notes.append(f"power not fitted: fewer than {MIN_POINTS} forwards with a measured energy")
    else:
        notes.append("power not fitted: no measured energy")
    if not res.success:
        raise CalibrationRefused(f"the latency fit did not converge ({res.message}); nothing written")
    # values: what this fit fitted, over what the caller fitted before (`start`, e.g. kernel classes on traces)
    cal = Calibration(**cal_fields, values={**(start or {}), **{k: values[k] for k in fitted}}, fitted_keys=tuple(fitted),
                      log_stderr=stderr,
                      not_fitted=info["why"], notes=notes)
    if check:
        _loo_check(cal)
    return cal


def _loo_check(cal: Calibration) -> None:
    """Refuse a fit that projects the forwards it did not see worse than no fit (module docstring)."""
    for what, loo, blind in (("latency", cal.loo_median_abs_error, cal.blind_median_abs_error),):
        if loo is not None and blind is not None and loo > max(blind, LOO_TOLERANCE):
            raise CalibrationRefused(f"the fit fails its leave-one-out check: held-out median |{what} error| {loo:.1%} is worse "
                                     f"than the uncalibrated projection's {blind:.1%}; nothing written")
