"""The projection's 90% band (issue #34, bands that mean what they say): closed forms of the Student-t and conformal
bands, their coverage on errors they did not see, and the band a calibration writes into its profile."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm, t

from analyzer.errors import UsageError
from analyzer.profiles import load_profiles, projection_defaults
from analyzer.project import project, resolve_params
from analyzer.project.calibrate_profile import band_from_log_errors, loo_band, nested_coverage
from cli_helpers import cli
from test_calibrate_fit import CPU, TRUTH, _csv, _models


def test_few_points_give_students_t_on_the_rms_about_zero():
    r = np.array([0.1, -0.05, 0.02, 0.0, -0.1])
    b = band_from_log_errors(r)
    rms = math.sqrt(np.mean(r**2))
    assert b.method == "student-t" and b.dof == 5 and b.points == 5 and b.scheme == "leave-one-out"
    assert b.log_sigma == pytest.approx(rms)
    assert b.half_width_log == pytest.approx(t.ppf(0.95, 5) * rms)  # 2.015 rms, not 1.645
    assert b.normal_sigma == pytest.approx(b.half_width_log / norm.ppf(0.95))
    assert loo_band(list(np.expm1(r))).half_width_log == pytest.approx(b.half_width_log)


def test_many_points_give_the_conformal_order_statistic():
    r = np.linspace(-0.39, 0.4, 40)  # |r| sorted: k = ceil(41 x 0.9) = 37th smallest
    b = band_from_log_errors(r)
    assert b.method == "conformal" and b.points == 40
    assert b.half_width_log == pytest.approx(np.sort(np.abs(r))[36])
    # heavy tails: a few large errors do not widen the band of the bulk as a normal quantile on the rms would
    heavy = np.r_[np.full(38, 0.05), [1.5, -2.0]]  # 5% of the errors far out
    hb = band_from_log_errors(heavy)
    assert hb.half_width_log == pytest.approx(0.05) and 1.645 * hb.log_sigma > 5 * hb.half_width_log


@pytest.mark.parametrize("n", [5, 12, 60])
def test_nested_coverage_of_normal_errors_is_what_the_band_says(n):
    """Normal log errors of a known sigma: for each i the band from the other n - 1 covers r_i; over many seeded
    draws the share covered lies in 80-95% (a nominal 90% band), and its width is close to the known one."""
    rng = np.random.default_rng(n)
    sigma = 0.12
    runs = [nested_coverage(rng.normal(0, sigma, n)) for _ in range(400 if n < 60 else 60)]
    cov = np.mean([c["coverage"] for c in runs])
    assert 0.80 <= cov <= 0.95, cov
    assert abs(cov - 0.90) < 0.03  # exact for Student-t, within 1/(n+1) for conformal
    width = np.median([c["median_high_over_low"] for c in runs])
    assert math.exp(2 * 1.645 * sigma) * 0.85 < width < math.exp(2 * 1.645 * sigma) * 1.25
    # the median |error| beside it: 0.674 sigma for normal errors
    assert np.median([c["median_abs_error"] for c in runs]) == pytest.approx(0.674 * sigma, rel=0.2)


def test_a_band_refuses_what_it_cannot_estimate():
    with pytest.raises(UsageError, match="at least 2"):
        band_from_log_errors([0.1])
    with pytest.raises(UsageError, match="at least 2"):
        band_from_log_errors([0.1, float("nan")])
    with pytest.raises(UsageError, match="not in"):
        band_from_log_errors([0.1, 0.2], coverage=1.0)
    with pytest.raises(UsageError, match="at least 3"):
        nested_coverage([0.1, 0.2])


def test_a_calibrated_profile_carries_its_band_and_its_provenance_and_projections_use_it(tmp_path):
    cpu = load_profiles().get("hardware", CPU)
    paths = _models(tmp_path)
    wobble = [1.06, 0.95, 1.03, 0.97, 1.05, 0.94, 1.02, 0.99]  # measurement noise: leave-one-out errors are not zero
    f = _csv(tmp_path, paths, cpu, TRUTH, edit=lambda i, lat, e: (lat * wobble[i], e * wobble[i]))
    out = tmp_path / "profiles" / "hardware" / "banded.toml"
    r = cli("calibrate", "--hardware", CPU, "--csv", f, "--out", out)
    assert r.exit_code == 0, r.output
    hw = load_profiles((tmp_path / "profiles",)).get("hardware", "banded")
    summary = __import__("json").loads(cli("calibrate", "--hardware", CPU, "--csv", f, "--out", tmp_path / "b2.toml",
                                           "--format", "json").stdout)
    assert summary["band"] == hw.calibration["band"]  # the JSON summary says what the profile carries
    band = hw.calibration["band"]
    rows = hw.calibration["fitted_on"]
    loo = [math.log1p(row["loo_error"]) for row in rows]
    assert band["points"] == len(rows) == 8 and band["scheme"] == "leave-one-out" and band["of"] in ("energy_j_per_item", "latency_s")
    assert band["method"] == "student-t" and band["dof"] == 8 and band["coverage"] == 0.9
    if band["of"] == "latency_s":
        assert band["half_width_log"] == pytest.approx(t.ppf(0.95, 8) * math.sqrt(np.mean(np.square(loo))), rel=1e-4)
    sigma = hw.calibration["energy_log_sigma_model"]
    assert sigma == pytest.approx(band["half_width_log"] / norm.ppf(0.95), abs=1e-4) and sigma > 0
    assert hw.calibration["energy_log_sigma_shared"] == 0.0
    # every projection's range is that band: exp(+-Z90 sigma) about the point (host share 0 on a CPU profile's ort)
    prof = __import__("analyzer").profile_onnx(paths["conv"], batch=1, per_op=True)
    params = resolve_params(hw, "fp32", "ort", projection_defaults())
    p = project(prof, hw, params, "ort", "fp32")
    lo, hi = p.range["low"], p.range["high"]
    assert math.log(hi / lo) == pytest.approx(2 * norm.ppf(0.95) * math.hypot(sigma, p.bound.get("overhead", 0.0) * params.energy_log_sigma_host), rel=1e-3)


def test_the_banded_error_model_keeps_the_split_and_takes_the_width_of_the_errors_own_band():
    from analyzer.project.calibrate_profile import banded_error_model, error_model

    rng = np.random.default_rng(3)
    settings = [f"s{i}" for i in range(8)]
    shared = dict(zip(settings, rng.normal(0, 0.1, 8)))
    errs = {(f"m{j}", s): shared[s] + rng.normal(0, 0.05) for j in range(5) for s in settings}  # 40 errors
    m, sh, ho, band = banded_error_model(errs)
    m0, sh0, ho0 = error_model(errs)
    assert band.method == "conformal" and band.points == 40 and ho == ho0 == 0.0
    assert m / sh == pytest.approx(m0 / sh0)  # the split is error_model's
    assert math.hypot(m, sh) == pytest.approx(band.half_width_log / norm.ppf(0.95))  # the width is the band's
    assert band.half_width_log == pytest.approx(np.sort(np.abs(list(errs.values())))[36])


def test_nested_coverage_keeps_a_group_out_of_its_own_band():
    r = [0.01, 0.01, 0.01, 0.5, 0.5, 0.5]  # two models: each model's band comes from the other's errors only
    c = nested_coverage(r, groups=["a", "a", "a", "b", "b", "b"])
    assert c["coverage"] == pytest.approx(0.5)  # a's errors sit inside b's wide band, b's outside a's narrow one
    b_band = band_from_log_errors([0.5, 0.5, 0.5]).half_width_log
    assert c["median_high_over_low"] == pytest.approx(math.exp(2 * np.median([b_band] * 3 + [band_from_log_errors([0.01] * 3).half_width_log] * 3)))
