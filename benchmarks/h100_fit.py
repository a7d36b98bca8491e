"""The fitting half of benchmarks/gpu_calibration.py (no GPU needed): calibrate the projection on the
calibration models' measurements (profiler traces for the kernel classes, whole forwards for host costs,
graph gaps and power), check it on models it never saw, and write the calibrated profile.

Calibration models: resnet18, mobilenet_v3_large, mnasnet1_0 (those of profiles/measurements/h100-sxm-calibration-set.csv).
Checked, never fitted on: resnet50, mobilenet_v2, efficientnet_b0, deit_tiny, vit_b_16, bert_base.
"""

from __future__ import annotations

import csv
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CAL_MODELS = ("resnet18", "mobilenet_v3_large", "mnasnet1_0")
CHECK_MODELS = ("resnet50", "mobilenet_v2", "efficientnet_b0", "deit_tiny", "vit_b_16", "bert_base")
RUNTIME = {"eager": "eager", "cuda-graph": "graph"}


def onnx_path(name: str) -> Path:
    for p in (ROOT / "models" / "onnx" / f"{name}.onnx", ROOT / "models" / f"{name}.onnx"):  # models/build.py writes the latter
        if p.exists():
            return p
    q = ROOT / "benchmarks" / ".cache" / f"{name}.onnx"
    if not q.exists():
        from export_models import export_all  # needs torch: exports ViT-B/16, BERT-base, ...

        export_all()
    return q


@lru_cache(maxsize=None)
def profile(name: str, batch: int):
    from analyzer.count.profile import profile_onnx

    return profile_onnx(onnx_path(name), batch=batch, per_op=True, scan_sparsity=False)


def read_rows(data: Path, shared: Path | None) -> list[dict]:
    rows = []
    with open(data / "measurements.csv", newline="") as f:
        for r in csv.DictReader(f):
            rows.append({"model": r["model"], "dtype": r["dtype"], "batch": int(r["batch"]), "runtime": RUNTIME[r["runtime"]],
                         # the energy loop's time per forward: the duration the measured energy belongs to
                         "latency_s": float(r["loop_ms_per_forward"]) / 1e3, "energy_j_per_item": float(r["energy_j_per_sample"]),
                         "kernels": int(r["kernels_per_forward"]), "source": data.name})
    if shared is not None and shared.exists():
        with open(shared, newline="") as f:
            for r in csv.DictReader(f):
                rows.append({"model": r["model"], "dtype": r["dtype"], "batch": int(r["batch"]), "runtime": RUNTIME[r["runtime"]],
                             "latency_s": float(r["latency_ms_median"]) / 1e3, "energy_j_per_item": float(r["energy_j_per_sample"]),
                             "kernels": int(r["kernels_per_forward"]) if r["kernels_per_forward"] else None,
                             "source": f"shared run {r['run']}"})
    return rows


def observations(rows: list[dict]):
    from analyzer.project.calibrate import Observation

    return [Observation(f"{r['model']} ({r['source']})", profile(r["model"], r["batch"]).sha256, r["batch"], r["latency_s"],
                        profile(r["model"], r["batch"]), r["energy_j_per_item"], r["dtype"], r["runtime"]) for r in rows]


def op_samples(models, data: Path, hw):
    """Traced operators of `models` (eager, every dtype and batch traced), paired with the plan's operators."""
    import tarfile
    import tempfile

    from analyzer.project.calibrate_traces import traced_samples
    from analyzer.project.kernels import plan_kernels

    out = []
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(data / "traces_infer.tar") as tar:
        tar.extractall(tmp, filter="data")
        for name in models:
            for dtype in ("fp32", "fp16"):
                for batch in (1, 32, 256):
                    f = Path(tmp) / "traces" / f"{name}_{dtype}_b{batch}.json.gz"
                    if not f.exists():
                        continue
                    plan = plan_kernels(profile(name, batch), "eager", dtype, gpu=hw.category == "gpu")
                    out += traced_samples(plan, f, dtype)
    return out


def gemm_samples(data: Path):
    """The GEMM sweep of micro.json as one-kernel operators. Sizes whose time is under 20 us are left out:
    the sweep issues them from an eager loop, so they time the host, not the kernel."""
    import json

    from analyzer.project.calibrate import OpSample
    from analyzer.project.kernels import Kernel

    out = []
    for g in json.loads((data / "micro.json").read_text()).get("gemm", []):
        if g["dtype"] not in ("fp32", "fp16") or g["ms"] < 0.02:
            continue
        m, n, k = g["m"], g["n"], g["k"]
        kern = Kernel(f"mm{m}x{n}x{k}", "MatMul", "gemm", 2.0 * m * n * k, 4.0 * (m * k + k * n + m * n), "gemm")
        out.append(OpSample((kern,), g["ms"] / 1e3, g["dtype"], "eager"))
    return out


def fit(models, rows, data: Path, hw, defaults, check: bool = True):
    from analyzer.project.calibrate import calibrate, fit_kernel_classes

    samples = op_samples(models, data, hw) + gemm_samples(data)
    # A 1x1 convolution is a GEMM (M = N x H x W, N = C_out, K = C_in) and cuDNN runs it with GEMM kernels:
    # it reaches the GEMM's efficiency at large sizes, which only the GEMM sweep spans; its own fill and
    # kdepth (small K) are fitted on the traces.
    first, _ = fit_kernel_classes(samples, hw, defaults)
    classes, per_class = fit_kernel_classes(samples, hw, defaults, start=first, rounds=1,
                                            fixed={"efficiency_conv1x1": first["efficiency_gemm"]})
    train = [r for r in rows if r["model"] in models]
    cal = calibrate(observations(train), hw, defaults, start=classes, with_traces=True, check=check)
    return cal, per_class, train


def predict(values: dict, rows: list[dict], hw, defaults):
    from analyzer.project import project, resolve_params

    out = []
    for r in rows:
        params = resolve_params(hw, r["dtype"], r["runtime"], defaults, overrides=values)
        p = project(profile(r["model"], r["batch"]), hw, params, r["runtime"], r["dtype"])
        out.append(p)
    return out


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def report(label: str, rows, preds) -> dict:
    e = np.array([p.energy_j_per_item / r["energy_j_per_item"] - 1 for r, p in zip(rows, preds)])
    lat = np.array([p.latency_s / r["latency_s"] - 1 for r, p in zip(rows, preds)])
    rho = spearman([r["energy_j_per_item"] for r in rows], [p.energy_j_per_item for p in preds])
    print(f"{label}: {len(rows)} settings; energy/item median |error| {np.median(np.abs(e)):.1%} (p90 {np.percentile(np.abs(e), 90):.1%}, "
          f"worst {np.max(np.abs(e)):.1%}); latency median |error| {np.median(np.abs(lat)):.1%}; rank correlation {rho:.3f}")
    return {"energy_median_abs_error": float(np.median(np.abs(e))), "rank": rho}


def cmd_fit(args) -> int:
    from analyzer.project.calibrate import CalibratedName, calibrated_profile_toml, error_model
    from analyzer.project.calibrate_profile import banded_error_model, nested_coverage
    from analyzer.profiles import load_profiles, projection_defaults

    data = Path(args.data)
    shared = Path(args.shared) if args.shared else None
    hw = load_profiles().get("hardware", args.hardware)
    defaults = projection_defaults()
    rows = read_rows(data, shared)
    # leave one calibration model out: fit on the other two, predict the third (shared set and our rows)
    log_err: dict[tuple[str, str], float] = {}
    host_share: dict[tuple[str, str], float] = {}
    print("leave-one-model-out on the calibration models (fit on two, predict the third):")
    lomo_shared = []
    lomo_points = []  # our session's held-out rows, for the exporter report's independent bands
    for held in CAL_MODELS:
        train = tuple(m for m in CAL_MODELS if m != held)
        cal, _, _ = fit(train, rows, data, hw, defaults, check=False)  # held out here: this loop is the check
        test = [r for r in rows if r["model"] == held]
        preds = predict(cal.values, test, hw, defaults)
        for r, p in zip(test, preds):
            err = p.energy_j_per_item / r["energy_j_per_item"] - 1
            if r["source"].startswith("shared"):
                lomo_shared.append(abs(err))
            else:
                log_err[(held, f"{r['dtype']}/{r['runtime']}/b{r['batch']}")] = float(np.log1p(err))
                lomo_points.append((r, p))
                host_share[(held, f"{r['dtype']}/{r['runtime']}/b{r['batch']}")] = p.bound["overhead"]
            print(f"  {held:<20} {r['source']:<22} {r['dtype']} {r['runtime']:<5} b{r['batch']:<3} measured {r['energy_j_per_item']:.4f} J "
                  f"projected {p.energy_j_per_item:.4f} J  {err:+.1%}")
    print(f"leave-one-model-out, shared calibration set: median |error| {np.median(lomo_shared):.1%} over {len(lomo_shared)} settings")
    # the forwards' own leave-one-out is printed, not enforced: the held-out models below are this fit's check
    cal, per_class, train = fit(CAL_MODELS, rows, data, hw, defaults, check=False)
    print(f"whole-forward stage on top of the trace-fitted classes: latency median |error| {cal.blind_median_abs_error:.1%} "
          f"before it, {cal.median_abs_error:.1%} in sample, {cal.loo_median_abs_error:.1%} left out"
          + (f"; energy {cal.energy_blind_median_abs_error:.1%} / {cal.energy_median_abs_error:.1%} / "
             f"{cal.energy_loo_median_abs_error:.1%}" if cal.energy_loo_median_abs_error is not None else ""))
    print(f"\nfull fit on {', '.join(CAL_MODELS)} ({len(train)} forwards): latency median |error| {cal.median_abs_error:.1%}, "
          f"energy {cal.energy_median_abs_error:.1%}; traced operators per class: "
          + ", ".join(f"{c} {v:.0%}" for c, v in per_class.items()))
    check = [r for r in rows if r["model"] in CHECK_MODELS]
    preds = predict(cal.values, check, hw, defaults)
    checked_err, checked_model = [], []  # the full fit's own out-of-sample errors: its band's width (two-model fits err more)
    for r, p in zip(check, preds):
        log_err[(r["model"], f"{r['dtype']}/{r['runtime']}/b{r['batch']}")] = float(np.log(p.energy_j_per_item / r["energy_j_per_item"]))
        checked_err.append(log_err[(r["model"], f"{r['dtype']}/{r['runtime']}/b{r['batch']}")])
        checked_model.append(r["model"])
        host_share[(r["model"], f"{r['dtype']}/{r['runtime']}/b{r['batch']}")] = p.bound["overhead"]
    print("\nchecked on models never fitted on (our measurements, same card):")
    held_out = report("  all", check, preds)
    for m in CHECK_MODELS:
        sub = [(r, p) for r, p in zip(check, preds) if r["model"] == m]
        report(f"  {m:<16}", [r for r, _ in sub], [p for _, p in sub])
    savings(check, preds)
    raw = error_model(log_err, host_share)
    sigma_model, sigma_shared, sigma_host, band = banded_error_model(log_err, host_share, band_errors=checked_err,
                                                                     scheme=f"models never fitted on ({len(CHECK_MODELS)})")
    nested = nested_coverage(checked_err, groups=checked_model)
    print(f"\nerror model from out-of-sample log errors (rms split): sigma_model {raw[0]:.3f}, sigma_shared {raw[1]:.3f}, "
          f"sigma_host {raw[2]:.3f} (per unit of host-bound share); scaled to the errors' own 90% band ({band.method}, "
          f"{band.points} errors, half width {band.half_width_log:.3f} = {band.normal_sigma:.3f} normal sigma, rms {band.log_sigma:.3f}): "
          f"{sigma_model:.3f}, {sigma_shared:.3f}, {sigma_host:.3f}; nested (each model's errors judged by the band of the other models'): "
          f"covers {nested['coverage']:.0%}, median high/low {nested['median_high_over_low']:.2f}x, median |error| {nested['median_abs_error']:.1%}")
    sigma_session, pairs = session_spread(train, predict(cal.values, train, hw, defaults))
    print(f"session to session (one setting measured in two sessions, {pairs} pairs): sigma_host_session {sigma_session:.3f} "
          "per unit of host-bound share, shared by a session's models")
    if getattr(args, "exporters", False):  # projection_accuracy.py: per exporter, bands checked independently
        import exporter_accuracy

        exporter_accuracy.report(cal.values, rows, data, hw, defaults, host_session=sigma_session,
                                 lomo=[exporter_accuracy.point(r, p) for r, p in lomo_points])
    if args.write:
        src = (f"calibrated on an H100 SXM 80GB (torch 2.11, CUDA 13.0, cuDNN 9.19) by benchmarks/gpu_calibration.py fit: "
               f"kernel classes on profiler traces and forwards of {', '.join(CAL_MODELS)} (profiles/measurements/{data.name}/) "
               "and profiles/measurements/h100-sxm-calibration-set.csv")
        text = calibrated_profile_toml(hw, cal, observations(train),
                                       CalibratedName("h100-sxm-calibrated", "NVIDIA H100 80GB HBM3 (SXM), 700 W limit",
                                                      source=src, aliases=("h100", "h100-calibrated")),
                                       extra={"energy_log_sigma_model": round(sigma_model, 4), "energy_log_sigma_shared": round(sigma_shared, 4),
                                              "energy_log_sigma_host": round(sigma_host, 4),
                                              "energy_log_sigma_host_session": round(sigma_session, 4),
                                              "band": {**band.table(), "of": "energy_j_per_item"},
                                              "lomo_energy_median_abs_error": round(float(np.median(lomo_shared)), 4)})
        Path(args.write).write_text(text)
        print(f"wrote {args.write}")
    if getattr(args, "json", False):
        from _results import write

        write(getattr(args, "json_name", "h100_fit"), [f"profiles/measurements/{data.name}/", *([f"profiles/measurements/{shared.name}"] if shared else [])],
              {"lomo_shared_energy_median_abs_error": float(np.median(lomo_shared)), "lomo_shared_settings": len(lomo_shared),
               "full_fit_latency_median_abs_error": cal.median_abs_error, "full_fit_energy_median_abs_error": cal.energy_median_abs_error,
               "latency_loo_median_abs_error": cal.loo_median_abs_error, "energy_loo_median_abs_error": cal.energy_loo_median_abs_error,
               "held_out_energy_median_abs_error": held_out["energy_median_abs_error"], "held_out_rank_correlation": held_out["rank"],
               "band_points": band.points, "band_half_width_log": band.half_width_log, "band_nested_coverage": nested["coverage"],
               "band_nested_median_high_over_low": nested["median_high_over_low"], "band_sigmas": [sigma_model, sigma_shared, sigma_host],
               "sigma_model": raw[0], "sigma_shared": raw[1], "sigma_host": raw[2], "sigma_host_session": sigma_session})
    return 0


def session_spread(rows, preds) -> tuple[float, int]:
    """The run-to-run spread of a host-bound forward, per unit of host-bound share: the log ratio of the energy per
    item measured for one setting in two sessions (our session and the calibration set's runs 1 and 2) has variance
    2 (h sigma)^2, h the projected host-bound share. Least squares over every such pair; (sigma, pairs)."""
    by: dict[tuple, list] = {}
    for r, p in zip(rows, preds):
        by.setdefault((r["model"], r["dtype"], r["runtime"], r["batch"]), []).append((r["energy_j_per_item"], p.bound["overhead"]))
    num = den = 0.0
    pairs = 0
    for group in by.values():
        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                (ea, ha), (eb, hb) = group[i], group[j]
                h = (ha + hb) / 2
                num += np.log(ea / eb) ** 2
                den += 2 * h * h
                pairs += 1
    return (float(np.sqrt(num / den)) if den > 0 else 0.0), pairs


def savings(rows, preds) -> None:
    """Per-item energy saving of EfficientNet-B0 and MobileNetV2 over ResNet-50, measured vs projected."""
    idx = {(r["model"], r["dtype"], r["runtime"], r["batch"]): (r, p) for r, p in zip(rows, preds)}
    errs, signs = [], 0
    print("\nsaving per item over resnet50 (J): measured / projected")
    for m in ("efficientnet_b0", "mobilenet_v2"):
        for (name, dt, rt, b), (r, p) in sorted(idx.items()):
            if name != m or ("resnet50", dt, rt, b) not in idx:
                continue
            rb, pb = idx[("resnet50", dt, rt, b)]
            meas = rb["energy_j_per_item"] - r["energy_j_per_item"]
            proj = pb.energy_j_per_item - p.energy_j_per_item
            same = np.sign(meas) == np.sign(proj)
            signs += int(same)
            errs.append(abs(proj / meas - 1))
            print(f"  {m:<16} {dt} {rt:<5} b{b:<3} {meas:+.4f} / {proj:+.4f}  {'sign ok' if same else 'SIGN WRONG'}  {proj / meas - 1:+.1%}")
    print(f"  sign right in {signs}/{len(errs)}; median |error| of the saving {np.median(errs):.1%}")
