"""What a calibration leaves: the calibrated profile's text (fitted values with their standard errors, the device that
was measured, every measurement it was fitted on with its in-sample, held-out and uncalibrated errors), the summary the
CLI renders, and the error model fitted on out-of-sample residuals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import UsageError
from ..profiles import HardwareProfile, Sourced


def _g(x: float) -> float:
    return float(f"{x:.6g}")


@dataclass(frozen=True)
class CalibratedName:
    """How a calibrated profile names itself: its name and aliases, the device measured, the source its fitted values
    cite ('' for the default sentence: tool version, date, measurement count, in-sample and left-out errors) and the
    year of the measurements (None: this year)."""

    name: str
    measured_on: str
    source: str = ""
    aliases: tuple[str, ...] = ()
    data_year: int | None = None


def calibrated_profile_toml(hw: HardwareProfile, cal, observations: list, named: CalibratedName,
                            extra: dict[str, Any] | None = None) -> str:
    """The hardware profile with the fitted values as `calibrated` [projection] entries (their year: the year of the
    measurements, `data_year`, else this year) and a [calibration] table holding the device measured, each fitted key's
    relative standard error, what was not fitted and why, and every measurement it was fitted on; written by the one
    profile writer (profiles/writer.py)."""
    from ..profiles.writer import hardware_toml

    name, measured_on, source, aliases, data_year = named.name, named.measured_on, named.source, named.aliases, named.data_year

    today = date.today()
    year = data_year or today.year
    loo = cal.loo_median_abs_error
    src = source or (f"calibrated by nas-analyzer {__version__} on {today.isoformat()}: {len(observations)} measurements on "
                     f"{measured_on}; median |latency error| {cal.median_abs_error:.1%} in sample"
                     + (f", {loo:.1%} left out" if loo is not None else ""))
    merged: dict[str, Sourced] = dict(hw.projection)
    for k, v in sorted(cal.values.items()):
        merged[k] = Sourced(_g(v), src, year, "calibrated")
    table: dict[str, Any] = {"date": today.isoformat(), "data_year": year, "measured_on": measured_on,
                             "fitted_keys": list(cal.fitted_keys), "median_abs_error": _g(cal.median_abs_error),
                             "p90_abs_error": _g(cal.p90_abs_error)}
    for key, v in (("loo_median_abs_error", loo), ("blind_median_abs_error", cal.blind_median_abs_error),
                   ("energy_median_abs_error", cal.energy_median_abs_error),
                   ("energy_loo_median_abs_error", cal.energy_loo_median_abs_error)):
        if v is not None:
            table[key] = _g(v)
    if cal.log_stderr:
        table["relative_stderr"] = {k: _g(v) for k, v in cal.log_stderr.items()}
    if cal.not_fitted:
        table["not_fitted"] = dict(cal.not_fitted)
    if cal.notes:
        table["notes"] = list(cal.notes)
    table.update(calibrated_band(cal) if "energy_log_sigma_model" not in (extra or {}) else {})
    table.update(extra or {})
    rows = []
    for i, o in enumerate(observations):
        row = {"model": o.name, "sha256": o.sha256, "dtype": o.dtype, "runtime": o.runtime, "batch": o.batch,
               "measured_s": _g(o.latency_s), "predicted_s": _g(cal.predicted_s[i]), "error": round(cal.errors[i], 4)}
        if cal.loo_errors:
            row["loo_error"] = round(cal.loo_errors[i], 4)
        if o.latency_log_sigma:
            row["latency_log_sigma"] = _g(o.latency_log_sigma)
        ep = (cal.energy_predicted_j or [None] * len(observations))[i]
        if o.energy_j_per_item is not None and ep is not None:
            row |= {"energy_j_per_item": _g(o.energy_j_per_item), "predicted_energy_j_per_item": _g(ep),
                    "energy_error": round(cal.energy_errors[i], 4)}
        rows.append(row)
    table["fitted_on"] = rows
    return hardware_toml(hw, name=name, title=hw.title + " (calibrated)", aliases=aliases, projection=merged, training={},
                         calibration=table, header=f"Calibrated from {Path(hw.file).name} by nas-analyzer on measurements "
                                                   f"taken on {measured_on}; the data it was fitted on is in [calibration].")


def calibrated_band(cal, coverage: float = 0.90) -> dict[str, Any]:
    """The error model a calibration writes: the band of its own leave-one-out errors (band_from_log_errors) on
    energy per item where the measurements had energy, else on latency, as energy_log_sigma_model (the normal sigma
    of the same 90% width; every projection's energy and latency range reads it, project/params.py _sigmas) with
    energy_log_sigma_shared 0 (the leave-one-out errors hold every part of the error: none is split off), and a
    `band` table of its provenance (points, scheme, method, of what). Empty with fewer than 2 such errors (then the
    projection keeps its category's default spreads)."""
    for of, errs in (("energy_j_per_item", cal.energy_loo_errors), ("latency_s", cal.loo_errors)):
        finite = [float(np.log1p(e)) for e in (errs or []) if e is not None and e > -1 and np.isfinite(e)]
        if len(finite) >= 2:
            b = band_from_log_errors(finite, coverage)
            return {"energy_log_sigma_model": round(b.normal_sigma, 4), "energy_log_sigma_shared": 0.0,
                    "band": {**b.table(), "of": of}}
    return {}


def observations_summary(cal, observations: list) -> list[dict[str, Any]]:
    n = len(observations)
    loo = cal.loo_errors or [None] * n
    blind = cal.blind_errors or [None] * n
    return [{"model": o.name, "dtype": o.dtype, "runtime": o.runtime, "batch": o.batch, "measured_s": o.latency_s,
             "predicted_s": p, "error": e, "loo_error": le, "blind_error": be, "energy_error": ee}
            for o, p, e, le, be, ee in zip(observations, cal.predicted_s, cal.errors, loo, blind,
                                           cal.energy_errors or [None] * n)]


def calibration_summary(cal, observations: list, profile: str, name: str, measured_on: str) -> dict[str, Any]:
    """The record `calibrate` prints (report/calibration_text.py) or emits as JSON."""
    return {"profile": profile, "name": name, "measured_on": measured_on,
            "values": {k: cal.values[k] for k in cal.fitted_keys},
            "relative_stderr": dict(cal.log_stderr), "not_fitted": dict(cal.not_fitted), "notes": list(cal.notes),
            "median_abs_error": cal.median_abs_error, "p90_abs_error": cal.p90_abs_error,
            "loo_median_abs_error": cal.loo_median_abs_error, "blind_median_abs_error": cal.blind_median_abs_error,
            "energy_median_abs_error": cal.energy_median_abs_error,
            "energy_loo_median_abs_error": cal.energy_loo_median_abs_error,
            "energy_blind_median_abs_error": cal.energy_blind_median_abs_error,
            "band": calibrated_band(cal).get("band"), "fitted_on": observations_summary(cal, observations)}


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


def banded_error_model(log_errors: dict[tuple[str, str], float], host_share: dict[tuple[str, str], float] | None = None,
                       coverage: float = 0.90, scheme: str = "held out", band_errors: list[float] | None = None
                       ) -> tuple[float, float, float, "Band"]:
    """(sigma_model, sigma_shared, sigma_host, band): error_model's split of the out-of-sample log errors, scaled
    by one factor so that the band a projection draws, exp(+-z sigma) with sigma^2 = model^2 + shared^2 +
    (h host)^2 averaged over the errors, is as wide as band_from_log_errors on those errors (conformal from 20 on).

        f = band.normal_sigma / sqrt(mean_i(model^2 + shared^2 + (h_i host)^2))

    The split (what cancels in a ratio, what grows with the host-bound share) stays error_model's; the width is
    the errors' own 90% quantile, so tails that the root mean square carries into a normal band do not widen the
    bulk of it. `band_errors`: the errors of the fit being banded where `log_errors` also hold other fits' (a
    leave-one-model-out fit on fewer models errs more than the fit on all of them); default `log_errors`."""
    m, sh, ho = error_model(log_errors, host_share)
    band = band_from_log_errors(list(log_errors.values()) if band_errors is None else band_errors, coverage, scheme=scheme)
    h = np.array([(host_share or {}).get(k, 0.0) for k in log_errors])
    total = float(np.sqrt(np.mean(m**2 + sh**2 + (h * ho) ** 2)))
    f = band.normal_sigma / total if total > 0 else 0.0
    return m * f, sh * f, ho * f, band


@dataclass(frozen=True)
class Band:
    """A two-sided band in log space, measured / projected in exp(+-half_width_log), with its provenance: how many
    out-of-sample errors it rests on, from which held-out scheme, and how it was made (`method`)."""

    log_sigma: float  # root mean square of the out-of-sample log errors (about zero: a bias widens the band)
    half_width_log: float
    coverage: float
    points: int
    normal_sigma: float = 0.0  # the normal sigma of the same half width (half_width / z_{(1+coverage)/2}): what samplers use
    dof: int = 0  # Student-t degrees of freedom (method student-t)
    method: str = "student-t"  # student-t (few points) | conformal (an order statistic of |log error|)
    scheme: str = "leave-one-out"  # how each error was kept out of the fit it judges

    def table(self) -> dict[str, Any]:
        """The band as a profile's [calibration] band table (provenance included)."""
        return {"coverage": self.coverage, "half_width_log": _g(self.half_width_log), "normal_sigma": _g(self.normal_sigma),
                "rms_log": _g(self.log_sigma), "points": self.points, "method": self.method, "dof": self.dof,
                "scheme": self.scheme}


CONFORMAL_MIN_POINTS = 20  # from 20 errors on, the 90% band is an order statistic (ceil(21 x 0.9) = 19 <= 20)


def band_from_log_errors(log_errors, coverage: float = 0.90, scheme: str = "leave-one-out",
                         conformal_min: int = CONFORMAL_MIN_POINTS) -> Band:
    """The band that n out-of-sample log errors r_i = ln(projected / measured) support (each from a fit that did
    not see its forward):

      few points (n < conformal_min): Student-t on the root mean square about zero,
          s = sqrt(sum r_i^2 / n),  half_width = t_{(1 + coverage) / 2, n} s
        If the r_i are normal about zero with one sigma, a new r over s follows Student's t with n degrees of
        freedom, so the band covers `coverage` of new forwards exactly (n = 5: t = 2.02, a known sigma 1.645).
      many points: split-conformal, half_width = the k-th smallest |r_i|, k = ceil((n + 1) coverage)
        For exchangeable errors a new one lies inside with probability in [coverage, coverage + 1 / (n + 1)],
        whatever their distribution: heavy tails do not widen the bulk of the band the way a root mean square
        (and a normal quantile on it) does.

    normal_sigma is the normal sigma with the same half width (half_width / z_{(1+coverage)/2}), the spread a
    sampler of the band draws with. What no scheme sees: a bias that every calibration forward shares and the
    forwards projected later do not. Refuses fewer than 2 errors, non-finite ones and a coverage outside (0, 1)."""
    import math

    from scipy.stats import norm
    from scipy.stats import t as student_t

    r = np.asarray([x for x in log_errors if x is not None], dtype=float)
    if len(r) < 2 or not np.all(np.isfinite(r)):
        raise UsageError(f"a band needs at least 2 finite out-of-sample errors, got {len(r)}")
    if not 0 < coverage < 1:
        raise UsageError(f"coverage {coverage!r} is not in (0, 1)")
    n = len(r)
    rms = float(np.sqrt(np.mean(r**2)))
    k = math.ceil((n + 1) * coverage)
    if n >= conformal_min and k <= n:
        half, method, dof = float(np.sort(np.abs(r))[k - 1]), "conformal", 0
    else:
        half, method, dof = float(student_t.ppf((1 + coverage) / 2, n)) * rms, "student-t", n
    return Band(rms, half, coverage, n, half / float(norm.ppf((1 + coverage) / 2)), dof, method, scheme)


def loo_band(loo_errors: list[float | None], coverage: float = 0.90) -> Band:
    """The band a calibration's own leave-one-out errors support (e_i = projected / measured - 1 of each forward
    projected by a fit that did not see it; band_from_log_errors on ln(1 + e_i)), not a fixed factor."""
    r = [float(np.log1p(e)) if e > -1 else float("nan") for e in loo_errors if e is not None]
    return band_from_log_errors(r, coverage)


def nested_coverage(log_errors, coverage: float = 0.90, conformal_min: int = CONFORMAL_MIN_POINTS,
                    groups=None) -> dict[str, float]:
    """How the band does on errors it did not see: for each i, the band from the errors outside i's group
    (band_from_log_errors; `groups`: a label per error, e.g. its model, so that errors of one model do not vouch
    for each other; default each error its own group), and whether |r_i| lies inside. Returns the share covered,
    the median high/low of those bands (exp(2 half_width)) and the median |projected / measured - 1|, to be
    printed side by side."""
    r = np.asarray(log_errors, dtype=float)
    g = np.arange(len(r)) if groups is None else np.asarray(groups)
    if len(r) < 3 or len(g) != len(r):
        raise UsageError(f"a nested coverage check needs at least 3 errors (one group label each), got {len(r)}")
    halves = np.array([band_from_log_errors(r[g != g[i]], coverage, conformal_min=conformal_min).half_width_log
                       for i in range(len(r))])
    return {"coverage": float(np.mean(np.abs(r) <= halves)), "median_high_over_low": float(np.exp(2 * np.median(halves))),
            "median_abs_error": float(np.median(np.abs(np.expm1(r)))), "points": len(r)}
