"""`calibrate --phase train`: power fitted from measured training steps' energy, with the checks of forwards.

The step time is fitted by project/training.fit_training (autograd host cost and backward slowdown). With >= 3 steps
that carry a measured energy, the powers are then fitted as for forwards (project/calibrate.py): static power, active
power and energy per byte, bounded by calibrate_bounds.py, a prior at the profile's values, only those the steps
identify, through project_training's own energy (never a copy of it). Each step is left out in turn and its energy
projected by a fit on the others; the fit is refused when that held-out median |error| is worse than the uncalibrated
projection's and above LOO_TOLERANCE. Every step goes through calibrate_checks first (finite, positive, an implied
power within the part's limit, no step 100x off its siblings)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from ..profiles import HardwareProfile
from .calibrate import LOO_TOLERANCE, MIN_POINTS, MODEL_LOG_SIGMA, CalibrationRefused
from .calibrate_bounds import fit_powers, power_limit_w, power_params
from .calibrate_checks import check_observations
from .params import resolve_params
from .training import TrainingParams, TrainingSample, project_training


def _steps(samples: list[TrainingSample], hw: HardwareProfile, runtime: str, defaults: dict, tp: TrainingParams,
           overrides: dict[str, float]) -> list[Any]:
    cache: dict[str, Any] = {}
    out = []
    for s in samples:
        if s.precision not in cache:
            cache[s.precision] = resolve_params(hw, s.precision, runtime, defaults, overrides=overrides or None)
        out.append(project_training(s.profile, cache[s.precision], s.precision, s.optimizer, hw.category == "gpu", tp))
    return out


def check_steps(samples: list[TrainingSample], hw: HardwareProfile, runtime: str, defaults: dict, tp: TrainingParams) -> None:
    blind = _steps(samples, hw, runtime, defaults, tp, {})
    rows = [SimpleNamespace(name=s.profile.model, batch=s.profile.batch or 1, latency_s=s.step_s,
                            energy_j_per_item=s.energy_j_per_sample) for s in samples]
    check_observations(rows, hw, [b.step_s for b in blind], [b.energy_j_per_sample for b in blind])


def _fit(samples, hw, runtime, defaults, tp):
    p0 = resolve_params(hw, samples[0].precision, runtime, defaults)
    params = power_params(hw, p0.static_power_w, p0.active_power_w, p0.energy_per_byte_j * 1e12)
    measured = np.array([s.energy_j_per_sample for s in samples])

    def pred(v: dict[str, float]) -> np.ndarray:
        full = {p.name: v.get(p.name, p.centre) for p in params}
        return np.array([st.energy_j_per_sample for st in _steps(samples, hw, runtime, defaults, tp, full)])

    return fit_powers(pred, measured, params, hw, np.full(len(samples), MODEL_LOG_SIGMA))


def fit_training_power(samples: list[TrainingSample], hw: HardwareProfile, runtime: str, defaults: dict,
                       tp: TrainingParams, check: bool = True) -> dict[str, Any] | None:
    """{'values', 'log_stderr', 'fitted_keys', 'energy_median_abs_error' in sample, 'energy_loo_median_abs_error',
    'energy_blind_median_abs_error', 'notes'}, or None with fewer than MIN_POINTS steps carrying an energy."""
    with_e = [s for s in samples if s.energy_j_per_sample is not None]
    if len(with_e) < MIN_POINTS or power_limit_w(hw) is None:
        return None
    values, res, free = _fit(with_e, hw, runtime, defaults, tp)
    measured = np.array([s.energy_j_per_sample for s in with_e])
    fitted = np.array([st.energy_j_per_sample for st in _steps(with_e, hw, runtime, defaults, tp, values)])
    blind = np.array([st.energy_j_per_sample for st in _steps(with_e, hw, runtime, defaults, tp, {})])
    loo = []
    for i in range(len(with_e)):
        rest = with_e[:i] + with_e[i + 1:]
        v, _, _ = _fit(rest, hw, runtime, defaults, tp)
        loo.append(_steps([with_e[i]], hw, runtime, defaults, tp, v)[0].energy_j_per_sample)
    med = lambda p: float(np.median(np.abs(np.asarray(p) / measured - 1)))  # noqa: E731
    out = {"values": {k: values[k] for k in free}, "log_stderr": {k: res.log_stderr[k] for k in free}, "fitted_keys": free,
           "energy_median_abs_error": med(fitted), "energy_loo_median_abs_error": med(loo),
           "energy_blind_median_abs_error": med(blind),
           "notes": [f"{k} stopped at its {b} bound" for k, b in res.at_bound.items()]}
    if check and out["energy_loo_median_abs_error"] > max(out["energy_blind_median_abs_error"], LOO_TOLERANCE):
        raise CalibrationRefused(f"the power fit fails its leave-one-out check: held-out median |energy error| "
                                 f"{out['energy_loo_median_abs_error']:.1%} is worse than the uncalibrated projection's "
                                 f"{out['energy_blind_median_abs_error']:.1%}; nothing written")
    return out
