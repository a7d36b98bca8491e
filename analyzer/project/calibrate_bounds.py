"""The physical bounds a calibration keeps each projection parameter inside, and the prior width it gives it.

- efficiency_<class>: a fraction of the peak of the unit the class runs on, in [1e-4, 1]: no kernel beats its peak.
- memory_efficiency_<class>: a fraction of the datasheet DRAM bandwidth, at most 1, unless every kernel of that class
  the measurements ran moves no more bytes than the on-chip cache holds (l2_cache_mb): a cache-resident working set may
  stream faster than DRAM (up to the profile schema's 10x). A part with no stated cache gets the DRAM bound.
- t0_<class>_s (a kernel's floor): at least MIN_T0_S of its category (a GPU kernel, however small, takes about a
  microsecond end to end: 0.5 us is kept as the least; a CPU kernel is a function call and a loop: 50 ns).
- host and per-forward costs (host_*_s, forward_s, graph_launch_s, graph_gap_s): at least MIN_HOST_S (100 ns; a
  Python-free dispatch of one operator takes longer), at most the schema's range.
- powers: static_power_w in [idle/2, 1.1 x limit] (a running board draws about its idle at least; half leaves room for
  the idle figure's own error), active_power_w in [limit/1000, 1.1 x limit], their sum under 1.1 x limit (a penalty
  residual); energy_per_byte_pj in [0.1, 1000] pJ/B (HBM moves a byte for about 30-60 pJ, DDR for about 100-200 pJ).
  The limit is the larger of the profile's TDP and busy power.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..profiles import PROJECTION_KEYS, HardwareProfile
from .fit import Bounded, FitResult, fit_bounded, identifiable, sensitivity

MIN_T0_S = {"gpu": 5e-7, "tpu": 5e-7}
MIN_T0_CPU_S = 5e-8
MIN_HOST_S = 1e-7
MAX_POWER_SHARE = 1.1  # powers may reach the board limit x 1.1 (boost above TDP for short windows)
PJ_PER_BYTE = (0.1, 1000.0)
PRIOR_LOG_SIGMA = 1.0  # a prior sigma of a factor e: loose enough to let 3 points move it, tight enough to hold it


def power_limit_w(hw: HardwareProfile) -> float | None:
    """The part's power limit: the larger of its TDP and its measured busy power, None when it states neither."""
    vals = [s.value for s in (hw.tdp_w, hw.busy_power_w) if s is not None]
    return max(vals) if vals else None


def key_bounds(key: str, hw: HardwareProfile, cache_resident: bool = False) -> tuple[float, float, str]:
    """(lo, hi, why) of one projection key (module docstring)."""
    lo, hi = PROJECTION_KEYS[key]
    if key.startswith("efficiency_"):
        return max(lo, 1e-4), min(hi, 1.0), "a fraction of the unit's peak, <= 1"
    if key.startswith("memory_efficiency_"):
        if cache_resident:
            return max(lo, 1e-3), hi, f"<= {hi:g}x DRAM bandwidth: every kernel's bytes fit the {hw.l2_cache_mb.value:g} MB cache"
        return max(lo, 1e-3), 1.0, "a fraction of the datasheet bandwidth, <= 1 (working set beyond the cache)"
    if key.startswith("t0_"):
        floor = MIN_T0_S.get(hw.category, MIN_T0_CPU_S)
        return floor, hi, f"a kernel's floor, >= {floor * 1e9:g} ns on a {hw.category}"
    if key.startswith(("host_", "forward_s", "graph_launch_s", "graph_gap_s", "gap_s")):
        return MIN_HOST_S, hi, f"a host or launch cost, >= {MIN_HOST_S * 1e9:g} ns"
    return max(lo, 1e-12), hi, "the profile schema's range"


def zero_floor(key: str, hw: HardwareProfile) -> float:
    """Where a fit starts a key whose base is 0: its lower bound, at least 1e-3 of its unit."""
    return max(key_bounds(key, hw)[0], 1e-3 if not key.endswith("_s") else 1e-9)


def group(name: str, keys: tuple[str, ...], base: dict[str, float], hw: HardwareProfile, cache_resident: bool = False
          ) -> Bounded | None:
    """One fitted scale on `keys` (their ratios kept): value 1 is the base, bounds the tightest of the keys' own.
    None when a key's base is 0 (a log-space scale cannot move it: callers that may start it elsewhere replace the 0
    by zero_floor first and widen its prior)."""
    if any(base[k] <= 0 for k in keys):
        return None
    lo, hi, why = -math.inf, math.inf, ""
    for k in keys:
        a, b, why = key_bounds(k, hw, cache_resident)
        lo, hi = max(lo, a / base[k]), min(hi, b / base[k])
    if lo > hi:  # the base lies outside the bounds on both sides for different keys: pin at the tighter one
        hi = lo
    return Bounded(name, 1.0, lo, hi, PRIOR_LOG_SIGMA, why)


def power_params(hw: HardwareProfile, static_w: float, active_w: float, eps_byte_pj: float) -> list[Bounded]:
    """static, active power and energy per byte with their bounds (module docstring), priors the base's values."""
    limit = power_limit_w(hw)
    idle = hw.idle_w.value if hw.idle_w is not None else 0.0
    top = MAX_POWER_SHARE * limit
    s_lo = max(idle / 2, 1e-3 * limit)
    return [Bounded("static_power_w", max(static_w, s_lo), s_lo, top, 0.5, "between idle/2 and the limit x 1.1"),
            Bounded("active_power_w", active_w if active_w > 0 else 0.1 * max(limit - idle, 1e-3 * limit), 1e-3 * limit, top, 1.5,
                    "between limit/1000 and the limit x 1.1"),
            Bounded("energy_per_byte_pj", min(max(eps_byte_pj, PJ_PER_BYTE[0]), PJ_PER_BYTE[1]), *PJ_PER_BYTE, 1.0,
                    "0.1 to 1000 pJ per byte")]


def fit_powers(predict: Callable[[dict[str, float]], np.ndarray], measured: np.ndarray, params: list[Bounded],
               hw: HardwareProfile, sigma_log: np.ndarray) -> tuple[dict[str, float], FitResult, list[str]]:
    """The power parameters (`power_params`) fitted to measured energies, inference or training alike: only those the
    points identify are free (at most one fewer than the points), and static + active power is held under the board's
    limit x 1.1 by a penalty residual 10 ln(total / limit) where it exceeds it. Returns every parameter's value (the
    prior where not freed), the fit, and the names freed."""
    limit = 1.1 * power_limit_w(hw)

    def over_limit(v: dict[str, float]) -> np.ndarray:
        total = v.get("static_power_w", params[0].centre) + v.get("active_power_w", params[1].centre)
        return np.array([10.0 * max(np.log(total / limit), 0.0)])

    free = sorted(identifiable(sensitivity(predict, sigma_log, params), len(measured) - 1))
    res = fit_bounded(predict, measured, sigma_log, [params[j] for j in free], extra=over_limit)
    return {p.name: res.values.get(p.name, p.centre) for p in params}, res, [params[j].name for j in free]
