"""A bounded, regularised least-squares fit in log space (SciPy's `least_squares`), shared by every calibration.

Each parameter theta_j is fitted as x_j = ln theta_j inside physical bounds [lo_j, hi_j]. The residuals are

    r_i = rho((ln pred_i(theta) - ln measured_i) / sigma_i)      one per measurement (sigma_i: its log spread)
    p_j = (x_j - ln prior_j) / prior_log_sigma_j                  one per parameter (a Gaussian prior in log space)

with rho the soft-L1 transform (r -> sign(r) c sqrt(2 (sqrt(1 + (r/c)^2) - 1)), c = ROBUST_SCALE), so one point
far off cannot drag the fit; the prior keeps parameters that few points pin weakly near the base or family value.
The standard error of each x_j is the square root of the diagonal of (J^T J)^-1 at the solution (J the Jacobian of
the whitened residuals), scaled up by the data's reduced chi-square where it exceeds 1 (`curve_fit` with
absolute_sigma=False does the same); a value's relative standard error is its log one.

Which parameters to free (`identifiable`): the whitened sensitivity S_ij = d r_i / d x_j x prior_log_sigma_j (how
far measurement i moves, in its own sigmas, when parameter j moves one prior sigma) is factored by QR with column
pivoting; a parameter is free when its pivot |R_kk| >= 1 (the measurements pin it at least as tightly as the prior
does, so its posterior variance is at most half the prior's), and never more than n - 1 of them for n points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

ROBUST_SCALE = 3.0  # soft-L1 knee, in sigmas of a measurement
FD_STEP = 0.05
AT_BOUND = 0.01  # a fitted value within 1% of a bound stopped there  # log step of the sensitivity matrix's finite differences (5%)


@dataclass(frozen=True)
class Bounded:
    """One fitted quantity: the keys it scales together (their ratios kept), its prior (the base or family value) and
    its physical bounds, all in the keys' units; `why` says where the bounds come from."""

    name: str
    prior: float
    lo: float
    hi: float
    prior_log_sigma: float = 1.0
    why: str = ""

    def __post_init__(self) -> None:
        assert 0 < self.lo <= self.hi and self.prior > 0, (self.name, self.lo, self.hi, self.prior)

    @property
    def centre(self) -> float:
        """The prior, moved inside the bounds when it lies outside them."""
        return min(max(self.prior, self.lo), self.hi)


@dataclass(frozen=True)
class FitResult:
    values: dict[str, float]  # name -> fitted value
    log_stderr: dict[str, float]  # name -> standard error of ln value (~ relative standard error)
    at_bound: dict[str, str]  # name -> "lower" | "upper"
    chi2_reduced: float
    success: bool
    message: str = ""
    notes: list[str] = field(default_factory=list)


def _soft_l1(r: np.ndarray, c: float = ROBUST_SCALE) -> np.ndarray:
    return np.sign(r) * c * np.sqrt(2.0 * (np.sqrt(1.0 + (r / c) ** 2) - 1.0))


def fit_bounded(predict: Callable[[dict[str, float]], np.ndarray], measured: np.ndarray, sigma_log: np.ndarray,
                params: list[Bounded], extra: Callable[[dict[str, float]], np.ndarray] | None = None,
                explore: bool = False) -> FitResult:
    """Minimise the residuals of the module docstring over `params` (predict(values) -> predictions, > 0, same order as
    `measured`). `extra(values)` adds penalty residuals (e.g. a sum of powers above a limit). `explore` also starts
    from each parameter moved alone to 1/4, 1/2 and 3/4 of its log range (a max(compute, memory) surface has flat
    plateaus where a start at the prior sees no gradient) and keeps the lowest cost. With no parameter, the priors are returned as they are."""
    from scipy.optimize import least_squares

    measured = np.asarray(measured, dtype=float)
    sigma = np.asarray(sigma_log, dtype=float)
    if not params:
        return FitResult({}, {}, {}, float(np.mean((np.log(predict({}) / measured) / sigma) ** 2)), True)
    lo = np.log([p.lo for p in params])
    hi = np.log([p.hi for p in params])
    mu = np.log([p.centre for p in params])
    ps = np.array([p.prior_log_sigma for p in params])
    fixed = lo >= hi
    lo_s, hi_s = np.where(fixed, lo - 1e-9, lo), np.where(fixed, hi + 1e-9, hi)

    def values_of(x: np.ndarray) -> dict[str, float]:
        return {p.name: float(math.exp(v)) for p, v in zip(params, x)}

    def data_r(x: np.ndarray) -> np.ndarray:
        pred = np.asarray(predict(values_of(x)), dtype=float)
        return (np.log(np.maximum(pred, 1e-300)) - np.log(measured)) / sigma

    def residuals(x: np.ndarray) -> np.ndarray:
        parts = [_soft_l1(data_r(x)), (x - mu) / ps]
        if extra is not None:
            parts.append(np.asarray(extra(values_of(x)), dtype=float))
        return np.concatenate(parts)

    x0s = [np.clip(mu, lo_s, hi_s)]
    if explore:  # one parameter at a time moved to a quarter, half and three quarters of its log range
        for j in np.flatnonzero(~fixed):
            for q in (0.25, 0.5, 0.75):
                x0 = x0s[0].copy()
                x0[j] = lo[j] + q * (hi[j] - lo[j])
                x0s.append(x0)
    res = min((least_squares(residuals, np.clip(x0, lo_s, hi_s), bounds=(lo_s, hi_s), method="trf", x_scale=ps,
                             diff_step=1e-4, max_nfev=100 * len(params)) for x0 in x0s), key=lambda r: r.cost)
    x = res.x
    j = res.jac
    n = len(measured)
    r = data_r(x)
    dof = n - len(params)
    chi2 = float(np.sum(r**2) / dof) if dof > 0 else float(np.mean(r**2))
    try:
        cov = np.linalg.pinv(j.T @ j)
    except np.linalg.LinAlgError:  # pragma: no cover - pinv of a finite matrix converges
        cov = np.diag(ps**2)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0)) * math.sqrt(max(chi2, 1.0))
    at = {}
    for p, v, a, b in zip(params, x, lo, hi):
        if a < b and v <= a + AT_BOUND:
            at[p.name] = "lower"
        elif a < b and v >= b - AT_BOUND:
            at[p.name] = "upper"
    return FitResult(values_of(x), {p.name: float(s) for p, s in zip(params, se)}, at, chi2, bool(res.success and np.all(np.isfinite(x))),
                     str(res.message))


def sensitivity(predict: Callable[[dict[str, float]], np.ndarray], sigma_log: np.ndarray, params: list[Bounded],
                at: dict[str, float] | None = None) -> np.ndarray:
    """S_ij = d ln pred_i / d ln theta_j x prior_log_sigma_j / sigma_i at the priors, or at the values `at` gives
    (central differences, FD_STEP)."""
    base = {**{p.name: p.centre for p in params}, **(at or {})}
    cols = []
    for p in params:
        v = base[p.name]
        up = np.log(predict({**base, p.name: v * math.exp(FD_STEP)}))
        down = np.log(predict({**base, p.name: v * math.exp(-FD_STEP)}))
        cols.append((up - down) / (2 * FD_STEP) * p.prior_log_sigma / np.asarray(sigma_log))
    return np.stack(cols, axis=1) if cols else np.zeros((len(sigma_log), 0))


def identifiable(s: np.ndarray, max_free: int, threshold: float = 1.0) -> list[int]:
    """Columns of the whitened sensitivity `s` the measurements identify, best first (module docstring)."""
    from scipy.linalg import qr

    if s.size == 0 or max_free <= 0:
        return []
    _, r, piv = qr(s, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    out = [int(piv[k]) for k in range(len(diag)) if diag[k] >= threshold]
    return out[:max_free]
