"""Projection accuracy per ONNX exporter, with 90% bands checked on residuals they were not estimated from
(issue #25, items 4 and 6).

    python benchmarks/exporter_accuracy.py [--exporters torchscript,dynamo] [--skip-training]

The H100 fit of benchmarks/h100_fit.py (calibration models resnet18, mobilenet_v3_large, mnasnet1_0) is made
once. Every measured forward of the models it never saw (resnet50, mobilenet_v2, efficientnet_b0, deit_tiny,
vit_b_16, bert_base; profiles/measurements/h100-sxm-2026-11-27/) is then projected from each exporter's file
of the network (benchmarks/exporters.py: torchscript, torchscript-preserve, dynamo, dynamo-raw), and per
exporter we print: energy/item median and p90 |error|, latency median |error|, rank correlation of energy,
the per-item saving of efficientnet_b0 and mobilenet_v2 over resnet50 (signs right, median |error|), and the
share of measurements inside the projection's 90% band.

Band coverage (a nominal 90% band should cover 80-95%), each band estimated without the checked row's model AND
exporter: "indep": the sigma-model band of projection.py (error_model on the calibration models' leave-one-model-out
residuals and the other held-out models, exp(+-Z90 sigma), sigma^2 = model^2 + (h host)^2 + shared^2 +
(h host_session)^2, h the host-bound share; host_session from h100_fit.session_spread), also without the session
term; "shipped": h100-sxm-calibrated's [calibration] sigmas; "out-of-sample band": calibrate_profile.band_from_log_errors
on those same residuals (conformal from 20 on), and on the held-out models' residuals only (without the two-model
fits' residuals). Each with its median high/low beside the median |error|.

Also: how far the four exporters' projections of one network and setting lie apart (max/min - 1), and the
training steps of train.csv projected from each exporter's file (targets: median |error| <= 15%, rank
correlation >= 0.95). Needs torch only to export a missing file. Nothing here is fitted on the checked rows.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from analyzer.dist import Z90  # noqa: E402
from exporters import EXPORTERS, export  # noqa: E402
from h100_fit import CAL_MODELS, CHECK_MODELS, fit, predict, read_rows, session_spread, spearman  # noqa: E402

DATA = ROOT / "profiles" / "measurements" / "h100-sxm-2026-11-27"
SHARED = ROOT / "profiles" / "measurements" / "h100-sxm-calibration-set.csv"
# models/onnx/*.onnx (what the fit and its leave-one-model-out residuals project) are made this way
FIT_EXPORTER = "torchscript-preserve"
NAS_MODELS = ("efficientnet_b0", "mobilenet_v2")
BASELINE = "resnet50"
SERVING = {"fp16/graph/b32", "fp16/graph/b256"}  # how a served model runs: half precision, CUDA graphs, batched


@dataclass(frozen=True)
class Point:
    """One measured forward and its projection from one exporter's file."""

    model: str
    exporter: str
    setting: str  # dtype/runtime/bBATCH
    measured_j: float  # device energy per item
    projected_j: float
    measured_s: float
    projected_s: float
    host_share: float  # share of the forward the device waits on the host, as projected

    @property
    def log_error(self) -> float:
        return float(np.log(self.projected_j / self.measured_j))


def setting(r: dict) -> str:
    return f"{r['dtype']}/{r['runtime']}/b{r['batch']}"


@lru_cache(maxsize=None)
def exporter_profile(name: str, exporter: str, batch: int):
    """The profile of `name` as `exporter` wrote it (exported on first use, which needs torch)."""
    from analyzer.count.profile import profile_onnx

    return profile_onnx(export(name, exporter), batch=batch, per_op=True, scan_sparsity=False)


def project_rows(values: dict, rows: list[dict], exporter: str, hw, defaults) -> list[Point]:
    from analyzer.project import project, resolve_params

    out = []
    for r in rows:
        params = resolve_params(hw, r["dtype"], r["runtime"], defaults, overrides=values)
        out.append(point(r, project(exporter_profile(r["model"], exporter, r["batch"]), hw, params, r["runtime"], r["dtype"]),
                         exporter))
    return out


def point(r: dict, p, exporter: str = FIT_EXPORTER) -> Point:
    """A measured row of h100_fit.read_rows and its Projection (a caller with its own leave-one-model-out loop,
    as h100_fit.cmd_fit has, builds report()'s `lomo` with this)."""
    return Point(r["model"], exporter, setting(r), r["energy_j_per_item"], p.energy_j_per_item, r["latency_s"], p.latency_s,
                 p.bound["overhead"])


def lomo_residuals(rows: list[dict], data: Path, hw, defaults) -> list[Point]:
    """Leave-one-model-out on the calibration models, as h100_fit.cmd_fit does: fit on two, predict the third
    (our own session's rows only, as cmd_fit's error model uses). Three fits: the slow part of this script."""
    out = []
    for held in CAL_MODELS:
        cal, _, _ = fit(tuple(m for m in CAL_MODELS if m != held), rows, data, hw, defaults, check=False)
        test = [r for r in rows if r["model"] == held and not r["source"].startswith("shared")]
        out += [point(r, p) for r, p in zip(test, predict(cal.values, test, hw, defaults))]
    return out



class Sigmas(NamedTuple):
    """The error model of the band, in log space (host terms per unit of host-bound share)."""

    model: float
    shared: float
    host: float
    host_session: float = 0.0


def band_sigma(sig: Sigmas, host_share: float) -> float:
    """sigma = sqrt(sigma_model^2 + (h sigma_host)^2 + sigma_shared^2 + (h sigma_host_session)^2), h the host-bound
    share, as project() builds its band."""
    return float(np.sqrt(sig.model**2 + (host_share * sig.host) ** 2 + sig.shared**2 + (host_share * sig.host_session) ** 2))


def independent_sigmas(points: list[Point], pool: list[Point], host_session: float) -> dict[tuple[str, str], Sigmas]:
    """(model, exporter) -> the error model estimated from the residuals of `pool` that share neither the model nor
    the exporter. A model's residuals under the remaining exporters are averaged per setting (one residual per
    model and setting, as error_model assumes): the exporters project a network almost alike, so keeping each
    copy would count every other model three times and outweigh the calibration models' residuals."""
    from analyzer.project.calibrate import error_model

    # with one exporter checked there is no other exporter's residual: leave one model out only
    by_exporter = len({p.exporter for p in points}) > 1
    out = {}
    for key in sorted({(p.model, p.exporter) for p in points}):
        groups: dict[tuple[str, str], list[Point]] = {}
        for q in pool:
            if q.model != key[0] and (q.exporter != key[1] or not by_exporter):
                groups.setdefault((q.model, q.setting), []).append(q)
        log_err = {k: float(np.mean([q.log_error for q in v])) for k, v in groups.items()}
        host = {k: float(np.mean([q.host_share for q in v])) for k, v in groups.items()}
        out[key] = Sigmas(*error_model(log_err, host), host_session)
    return out


def independent_bands(points: list[Point], pool: list[Point]) -> dict[tuple[str, str], float]:
    """(model, exporter) -> 90% log half width of band_from_log_errors on the residuals of `pool` sharing neither
    the model nor the exporter, one per other model and setting (averaged over exporters, as independent_sigmas)."""
    from analyzer.project.calibrate_profile import band_from_log_errors

    by_exporter = len({p.exporter for p in points}) > 1
    out = {}
    for key in sorted({(p.model, p.exporter) for p in points}):
        groups: dict[tuple[str, str], list[float]] = {}
        for q in pool:
            if q.model != key[0] and (q.exporter != key[1] or not by_exporter):
                groups.setdefault((q.model, q.setting), []).append(q.log_error)
        out[key] = band_from_log_errors([float(np.mean(v)) for v in groups.values()], scheme="leave-one-model-out").half_width_log
    return out


def band_width(points: list[Point], half_of) -> float:  # median high/low, exp(2 half width), of the bands
    return float(np.exp(2 * np.median([half_of(p) for p in points]))) if points else float("nan")


def covered(p: Point, sigmas: Sigmas) -> bool:
    """Is the measurement inside the projection's 90% band exp(+-Z90 sigma)?"""
    return abs(p.log_error) <= Z90 * band_sigma(sigmas, p.host_share)


def coverage(points: list[Point], sigmas_of) -> float:
    return float(np.mean([covered(p, sigmas_of(p)) for p in points])) if points else float("nan")



def savings(points: list[Point]) -> tuple[int, int, float]:
    """(signs right, pairs, median |relative error|) of the per-item saving of each NAS model over the baseline,
    paired per exporter and setting."""
    idx = {(p.model, p.exporter, p.setting): p for p in points}
    right, errs = 0, []
    for p in points:
        base = idx.get((BASELINE, p.exporter, p.setting))
        if p.model not in NAS_MODELS or base is None:
            continue
        meas, proj = base.measured_j - p.measured_j, base.projected_j - p.projected_j
        right += int(np.sign(meas) == np.sign(proj))
        errs.append(abs(proj / meas - 1))
    return right, len(errs), float(np.median(errs)) if errs else float("nan")


def accuracy(points: list[Point]) -> dict:
    e = np.abs([p.projected_j / p.measured_j - 1 for p in points])
    lat = np.abs([p.projected_s / p.measured_s - 1 for p in points])
    right, pairs, saving_err = savings(points)
    return {"settings": len(points), "energy_median": float(np.median(e)), "energy_p90": float(np.percentile(e, 90)),
            "energy_worst": float(e.max()), "latency_median": float(np.median(lat)),
            "rank": spearman([p.measured_j for p in points], [p.projected_j for p in points]),
            "saving_signs": (right, pairs), "saving_median": saving_err}


def print_accuracy(by_exporter: dict[str, list[Point]], indep: dict, shipped: Sigmas, halves=None, halves_checked=None) -> dict:
    print(f"\n{'exporter':<21} {'n':>3} {'E med':>6} {'E p90':>6} {'E worst':>7} {'t med':>6} {'rho':>6} "
          f"{'saving sign':>11} {'saving med':>10} {'cover indep':>11} {'(no session)':>12} {'cover shipped':>13}")
    groups = dict(by_exporter)
    if len(by_exporter) > 1:
        groups["all exporters"] = [p for pts in by_exporter.values() for p in pts]
    out = {}
    for label, pts in groups.items():
        a = accuracy(pts)
        a["coverage_independent"] = coverage(pts, lambda p: indep[(p.model, p.exporter)])
        # the brief's original band, before the session term: what the residuals alone support
        a["coverage_independent_no_session"] = coverage(pts, lambda p: indep[(p.model, p.exporter)]._replace(host_session=0.0))
        a["coverage_shipped"] = coverage(pts, lambda p: shipped)
        k, n = a["saving_signs"]
        print(f"{label:<21} {a['settings']:>3} {a['energy_median']:6.1%} {a['energy_p90']:6.1%} {a['energy_worst']:7.1%} "
              f"{a['latency_median']:6.1%} {a['rank']:6.3f} {f'{k}/{n}':>11} {a['saving_median']:10.1%} "
              f"{a['coverage_independent']:11.1%} {a['coverage_independent_no_session']:12.1%} {a['coverage_shipped']:13.1%}")
        out[label] = a
    print(f"\n90% bands beside the error they should match (median |E error|; width: median high/low of the bands checked):\n"
          f"{'exporter':<21} {'E med':>6} {'indep band':>10} {'width':>6} {'(no session)':>12} {'width':>6} {'shipped':>8} "
          f"{'width':>6} {'out-of-sample band':>18} {'width':>6} {'(held-out only)':>15} {'width':>6}")
    for label, pts in groups.items():
        a = out[label]
        a["width_independent"] = band_width(pts, lambda p: Z90 * band_sigma(indep[(p.model, p.exporter)], p.host_share))
        a["width_independent_no_session"] = band_width(pts, lambda p: Z90 * band_sigma(indep[(p.model, p.exporter)]._replace(host_session=0.0), p.host_share))
        a["width_shipped"] = band_width(pts, lambda p: Z90 * band_sigma(shipped, p.host_share))
        if halves:  # the out-of-sample bands, with and without the two-model fits' residuals
            a["coverage_out_of_sample_band"] = float(np.mean([abs(p.log_error) <= halves[(p.model, p.exporter)] for p in pts]))
            a["width_out_of_sample_band"] = band_width(pts, lambda p: halves[(p.model, p.exporter)])
            a["coverage_held_out_band"] = float(np.mean([abs(p.log_error) <= halves_checked[(p.model, p.exporter)] for p in pts]))
            a["width_held_out_band"] = band_width(pts, lambda p: halves_checked[(p.model, p.exporter)])
        print(f"{label:<21} {a['energy_median']:6.1%} {a['coverage_independent']:10.1%} {a['width_independent']:5.2f}x "
              f"{a['coverage_independent_no_session']:12.1%} {a['width_independent_no_session']:5.2f}x "
              f"{a['coverage_shipped']:8.1%} {a['width_shipped']:5.2f}x "
              + (f"{a['coverage_out_of_sample_band']:18.1%} {a['width_out_of_sample_band']:5.2f}x "
                 f"{a['coverage_held_out_band']:15.1%} {a['width_held_out_band']:5.2f}x" if halves else ""))
    return out


def print_coverage_detail(every: list[Point], indep: dict, shipped: Sigmas) -> None:
    """Per model (every exporter together), and the spread of the independent sigmas: where the band misses."""
    print("\nband coverage per model (every exporter checked): independent / shipped sigmas")
    for m in CHECK_MODELS:
        pts = [p for p in every if p.model == m]
        if pts:
            own, fixed = coverage(pts, lambda p: indep[(p.model, p.exporter)]), coverage(pts, lambda p: shipped)
            print(f"  {m:<16} {own:6.1%} / {fixed:6.1%}  (n {len(pts)})")
    misses: dict[tuple[str, str], list[Point]] = {}
    for p in every:
        if not covered(p, indep[(p.model, p.exporter)]):
            misses.setdefault((p.model, p.setting), []).append(p)
    print("  outside the independent band: " + ("; ".join(
        f"{m} {s} {np.expm1(ps[0].log_error):+.0%} (host share {ps[0].host_share:.2f}; {len(ps)} exporter(s))"
        for (m, s), ps in sorted(misses.items())) or "none"))
    arr = np.array(list(indep.values()))
    for i, name in enumerate(Sigmas._fields):
        lo, mid, hi = arr[:, i].min(), np.median(arr[:, i]), arr[:, i].max()
        print(f"  independent sigma_{name:<13} {lo:.3f} .. {hi:.3f} (median {mid:.3f}); shipped {shipped[i]:.3f}")


def print_pairwise(by_exporter: dict[str, list[Point]]) -> dict:
    """max/min - 1 of the projected energy across exporters, per network and setting: 0 when the projection does
    not depend on how the graph was exported."""
    per: dict[tuple[str, str], list[float]] = {}
    for pts in by_exporter.values():
        for p in pts:
            per.setdefault((p.model, p.setting), []).append(p.projected_j)
    spread = {k: max(v) / min(v) - 1 for k, v in per.items()}
    print(f"\nexporters' projections apart (max/min - 1 of energy/item over {', '.join(by_exporter)}):")
    print(f"  {'network':<16} {'serving worst':<26} overall worst")
    out = {}
    for m in CHECK_MODELS:
        mine = {s: v for (n, s), v in spread.items() if n == m}
        if not mine:
            continue
        serve = {s: v for s, v in mine.items() if s in SERVING}
        worst = max(mine, key=mine.get)
        sw = max(serve, key=serve.get) if serve else None
        serving = f"{serve[sw]:7.2%} ({sw})" if sw else "-"
        print(f"  {m:<16} {serving:<26} {mine[worst]:7.2%} ({worst})")
        out[m] = {"serving": serve.get(sw, float("nan")) if sw else float("nan"), "overall": mine[worst], "worst_setting": worst}
    return out



def training(values: dict, hw, defaults, exporters: tuple[str, ...]) -> dict:
    """Each train.csv step projected from each exporter's file, with the fitted values (the runtime is eager
    PyTorch; folded batch norms are trained as the network trains them: project/canonical.py)."""
    with open(DATA / "train.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    meas = [float(r["energy_j_per_sample"]) for r in rows]
    pred = {e: [training_step(values, r, e, hw, defaults) for r in rows] for e in exporters}
    print(f"\ntraining steps ({len(rows)} of train.csv) per exporter: energy/sample median |error| (target <= 15%), "
          "worst, rank correlation (target >= 0.95)")
    out = {}
    for exp, pr in pred.items():
        err = np.abs(np.array(pr) / np.array(meas) - 1)
        rho = spearman(meas, pr)
        w = rows[int(err.argmax())]
        print(f"  {exp:<21} median {np.median(err):6.1%}  worst {err.max():6.1%} ({w['model']}/{w['precision']}/{w['batch']})  "
              f"rank {rho:.3f}")
        out[exp] = {"median": float(np.median(err)), "worst": float(err.max()), "rank": rho}
    spread = [max(v) / min(v) - 1 for v in zip(*pred.values())]
    w = rows[int(np.argmax(spread))]
    print(f"  exporters apart (max/min - 1 per step): worst {max(spread):.2%} ({w['model']}/{w['precision']}/{w['batch']}), "
          f"median {np.median(spread):.2%}")
    out["apart_worst"] = float(max(spread))
    return out


def training_step(values: dict, r: dict, exporter: str, hw, defaults) -> float:
    """Projected device energy per sample of one train.csv row."""
    from analyzer.project import resolve_params
    from analyzer.project.training import project_training

    params = resolve_params(hw, r["precision"], "eager", defaults, overrides=values)
    st = project_training(exporter_profile(r["model"], exporter, int(r["batch"])), params, r["precision"], r["optimizer"],
                          hw.category == "gpu")
    return st.energy_j_per_sample



def shipped_sigmas() -> Sigmas:
    from analyzer.profiles import load_profiles

    cal = load_profiles().get("hardware", "h100-sxm-calibrated").calibration
    return Sigmas(*(float(cal.get(f"energy_log_sigma_{k}", 0.0)) for k in Sigmas._fields))


def host_session_sigma(cal_values: dict, rows: list[dict], hw, defaults) -> float:
    """The session-to-session host term as h100_fit.cmd_fit estimates it: calibration models only."""
    train = [r for r in rows if r["model"] in CAL_MODELS]
    return session_spread(train, predict(cal_values, train, hw, defaults))[0]


def report(cal_values: dict, rows: list[dict], data: Path, hw, defaults, exporters: tuple[str, ...] = EXPORTERS,
           lomo: list[Point] | None = None, with_training: bool = True, host_session: float | None = None) -> dict:
    """Everything after the fit, given the fitted values (h100_fit.fit(CAL_MODELS, ...)[0].values) and the rows of
    h100_fit.read_rows. `lomo`: the calibration models' leave-one-model-out residuals (point(r, p) per held-out
    row of our own session) where the caller has them; computed here otherwise (lomo_residuals: three more fits);
    `host_session`: sigma_host_session as h100_fit.session_spread gives it (computed here otherwise)."""
    check = [r for r in rows if r["model"] in CHECK_MODELS and not r["source"].startswith("shared")]
    by_exporter = {e: project_rows(cal_values, check, e, hw, defaults) for e in exporters}
    if lomo is None:
        lomo = lomo_residuals(rows, data, hw, defaults)
    every = [p for pts in by_exporter.values() for p in pts]
    if len(exporters) < 2:
        print("note: one exporter checked, so its bands are estimated leaving one model out only (not one exporter)")
    if host_session is None:
        host_session = host_session_sigma(cal_values, rows, hw, defaults)
    indep = independent_sigmas(every, every + lomo, host_session)
    shipped = shipped_sigmas()
    print(f"\nheld-out models ({', '.join(CHECK_MODELS)}), every measured setting, projected from each exporter's file; "
          "E: energy/item |error|, t: latency |error|, rho: rank correlation of energy, saving: per item over "
          f"{BASELINE} ({' and '.join(NAS_MODELS)}), cover: share of measurements inside the 90% band")
    halves = independent_bands(every, every + lomo)
    # the errors of the fit being banded only (its held-out models), not those of the two-model fits of `lomo`
    out = {"accuracy": print_accuracy(by_exporter, indep, shipped, halves, independent_bands(every, every))}
    print_coverage_detail(every, indep, shipped)
    if len(exporters) > 1:
        out["pairwise"] = print_pairwise(by_exporter)
    if with_training:
        out["training"] = training(cal_values, hw, defaults, exporters)
    return out


def main(argv: list[str] | None = None) -> int:
    from analyzer.profiles import load_profiles, projection_defaults

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exporters", default=",".join(EXPORTERS), help=f"comma-separated, of {', '.join(EXPORTERS)}")
    ap.add_argument("--skip-training", action="store_true")
    args = ap.parse_args(argv)
    exporters = tuple(e.strip() for e in args.exporters.split(",") if e.strip())
    bad = [e for e in exporters if e not in EXPORTERS]
    if bad or not exporters:
        ap.error(f"unknown exporter(s) {', '.join(bad) or '(none given)'}; valid: {', '.join(EXPORTERS)}")
    start = time.perf_counter()
    # the datasheet profile the fit starts from, as h100_fit.cmd_fit does
    hw = load_profiles().get("hardware", "h100-sxm")
    defaults = projection_defaults()
    rows = read_rows(DATA, SHARED)
    cal, _, train = fit(CAL_MODELS, rows, DATA, hw, defaults, check=False)  # as h100_fit.cmd_fit: the held-out models are the check
    print(f"fit on {', '.join(CAL_MODELS)} ({len(train)} forwards): latency median |error| {cal.median_abs_error:.1%}, "
          f"energy {cal.energy_median_abs_error:.1%}")
    report(cal.values, rows, DATA, hw, defaults, exporters, with_training=not args.skip_training)
    print(f"\nrun time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
