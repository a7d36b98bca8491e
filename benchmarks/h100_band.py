"""The shipped H100 profile's 90% band checked on its own held-out errors (issue #34, bands that mean what they say).

    flock /tmp/heavy.lock python benchmarks/h100_band.py

The shipped profiles/hardware/h100-sxm-calibrated.toml's fitted values (not a fresh fit: benchmarks/h100_fit.py
refits) project every measured setting of the six models it never saw (profiles/measurements/h100-sxm-2026-11-27/).
Printed: median and p90 |energy error|; the shipped sigmas' coverage and median high/low, with and without the
session term; the conformal band of those errors (calibrate_profile.band_from_log_errors) and its nested check,
each model's errors judged by the band of the other five (calibrate_profile.nested_coverage). Target: 80-95%.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> int:
    from h100_fit import CHECK_MODELS, predict, read_rows

    from analyzer.dist import Z90
    from analyzer.profiles import load_profiles, projection_defaults
    from analyzer.project.calibrate_profile import band_from_log_errors, nested_coverage

    shipped = load_profiles().get("hardware", "h100-sxm-calibrated")
    values = {k: s.value for k, s in shipped.projection.items() if s.kind == "calibrated"}
    hw = load_profiles().get("hardware", "h100-sxm")
    data = ROOT / "profiles" / "measurements"
    rows = read_rows(data / "h100-sxm-2026-11-27", data / "h100-sxm-calibration-set.csv")
    check = [r for r in rows if r["model"] in CHECK_MODELS and not r["source"].startswith("shared")]
    preds = predict(values, check, hw, projection_defaults())
    r = np.array([np.log(p.energy_j_per_item / c["energy_j_per_item"]) for c, p in zip(check, preds)])
    h = np.array([p.bound["overhead"] for p in preds])
    cal = shipped.calibration
    base = cal["energy_log_sigma_model"] ** 2 + cal["energy_log_sigma_shared"] ** 2 + (h * cal["energy_log_sigma_host"]) ** 2
    e = np.abs(np.expm1(r))
    print(f"{shipped.name}'s values on {len(r)} settings of {', '.join(CHECK_MODELS)}: energy/item median |error| "
          f"{np.median(e):.1%}, p90 {np.percentile(e, 90):.1%}, worst {e.max():.1%}")
    for label, s2 in (("shipped sigmas", base + (h * cal.get("energy_log_sigma_host_session", 0.0)) ** 2),
                      ("  without the session term", base)):
        sig = np.sqrt(s2)
        print(f"{label:<28} covers {np.mean(np.abs(r) <= Z90 * sig):6.1%}, median high/low {np.exp(2 * Z90 * np.median(sig)):.2f}x")
    b = band_from_log_errors(r, scheme=f"models never fitted on ({len(CHECK_MODELS)})")
    n = nested_coverage(r, groups=[c["model"] for c in check])
    print(f"band of these errors ({b.method}, {b.points}): high/low {np.exp(2 * b.half_width_log):.2f}x, normal sigma "
          f"{b.normal_sigma:.3f} (shipped model+shared {np.hypot(cal['energy_log_sigma_model'], cal['energy_log_sigma_shared']):.3f})")
    print(f"nested, each model judged by the band of the other {len(CHECK_MODELS) - 1}: covers {n['coverage']:.1%}, "
          f"median high/low {n['median_high_over_low']:.2f}x, median |error| {n['median_abs_error']:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
