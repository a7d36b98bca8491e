"""Projection accuracy against real measurements, printed per setting and summarised.

    python benchmarks/projection_accuracy.py --hardware h100 [--write PROFILE.toml] [--quick]
    python models/build.py && python benchmarks/projection_accuracy.py --hardware ci-cpu-2vcpu [--max-time 10] [--write PROFILE.toml]

h100 (no GPU needed): leave-one-model-out on the H100 calibration set (resnet18, mobilenet_v3_large,
mnasnet1_0; fit on two, predict the third; profiles/measurements/h100-sxm-calibration-set.csv and our own
session in profiles/measurements/h100-sxm-2026-11-27/), then the full fit checked on six models it never
saw (resnet50, mobilenet_v2, efficientnet_b0, deit_tiny, vit_b_16, bert_base), with the rank correlation
and the per-item saving of EfficientNet-B0 and MobileNetV2 over ResNet-50. Target: leave-one-model-out
median |error| <= 20% in energy per item. --write writes the calibrated profile (how the shipped
profiles/hardware/h100-sxm-calibrated.toml was made). Then, from the same fit (issue #25; --quick skips these):
  per exporter (benchmarks/exporter_accuracy.py): the held-out models projected from each of four exports of
    each network, median/p90 error, Spearman, savings, 90% band coverage with spreads estimated leaving the
    checked model and exporter out, how far the exports lie apart, and training steps per exporter;
  per GPU: the calibrated H100 (above); a GPU whose profile is wrong the way a transfer can be, before and after
    `calibrate` on 5 models (benchmarks/new_gpu.py --displaced); other GPUs of other families, blind, against
    NVIDIA's published ResNet-50 throughput (benchmarks/gpu_transfer.py).

ci-cpu-2vcpu: measures the shipped models here with ONNX Runtime at batch 1 and 8, calibrates on
ResNet-18, MobileNetV3-L, MnasNet and DeiT-Ti, and reports projected vs measured latency on ResNet-50,
MobileNetV2 and EfficientNet-B0 (how profiles/hardware/ci-cpu-2vcpu-ort-calibrated.toml was made).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TRAIN = ("resnet18", "mobilenet_v3_large", "mnasnet1_0", "deit_tiny")
TEST = ("resnet50", "mobilenet_v2", "efficientnet_b0")


def cpu(args) -> None:
    from analyzer.project.calibrate import CalibratedName, Observation, calibrate, calibrated_profile_toml
    from analyzer.errors import AnalyzerError
    from analyzer.load.manifest import read_manifest
    from analyzer.measure.onnx_measure import OrtSettings, measure_onnx
    from analyzer.measure.record import cpu_model
    from analyzer.count.profile import profile_onnx
    from analyzer.profiles import load_profiles, projection_defaults
    from analyzer.project import project, resolve_params

    hw = load_profiles().get("hardware", args.hardware)
    defaults = projection_defaults()
    obs: list[Observation] = []
    for entry in read_manifest(ROOT / "models" / "manifest.toml"):
        for batch in (1, 8):
            try:
                m = measure_onnx(entry.file, batch, settings=OrtSettings(max_time_s=args.max_time))
            except AnalyzerError as e:
                print(f"skip {entry.name} batch {batch}: {e}")
                continue
            prof = profile_onnx(entry.file, batch=batch, per_op=True, scan_sparsity=False)
            obs.append(Observation(entry.name, prof.sha256, batch, m.latency_s_median, prof, None, "fp32", "ort"))
    train = [o for o in obs if o.name in TRAIN]
    test = [o for o in obs if o.name in TEST]
    cal = calibrate(train, hw, defaults)
    fitted = resolve_params(hw, "fp32", "ort", defaults, overrides=cal.values)
    before = resolve_params(hw, "fp32", "ort", defaults)
    print(f"calibrated on {', '.join(TRAIN)} (batch 1 and 8): fit median |error| {cal.median_abs_error:.1%}")
    print({k: float(f"{cal.values[k]:.4g}") for k in cal.fitted_keys})
    print(f"\nheld out: {', '.join(TEST)}")
    print(f"{'model':<18} {'batch':>5} {'measured ms':>12} {'projected ms':>13} {'error':>8} {'uncalibrated':>13}")
    errs, raw = [], []
    for o in test:
        p = project(o.profile, hw, fitted, "ort", "fp32")
        u = project(o.profile, hw, before, "ort", "fp32")
        e, ue = p.latency_s / o.latency_s - 1, u.latency_s / o.latency_s - 1
        errs.append(abs(e))
        raw.append(abs(ue))
        print(f"{o.name:<18} {o.batch:>5} {o.latency_s * 1e3:12.3f} {p.latency_s * 1e3:13.3f} {e:+8.1%} {ue:+12.1%}")
    print(f"\nmedian |error| on held-out models: {np.median(errs):.1%} calibrated, {np.median(raw):.1%} with default parameters")
    if args.write:
        cal_all = calibrate(obs, hw, defaults)
        args.write.write_text(calibrated_profile_toml(hw, cal_all, obs, CalibratedName(f"{hw.name}-ort-calibrated", cpu_model(),
                                                                                     aliases=("ci-ort",))))
        print(f"wrote {args.write} (fitted on all {len(obs)} measurements, median |error| {cal_all.median_abs_error:.1%})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hardware", default="ci-cpu-2vcpu", help="h100 (recorded H100 data) or ci-cpu-2vcpu (measures here)")
    ap.add_argument("--max-time", type=float, default=10.0)
    ap.add_argument("--write", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="h100: the fit and its held-out check only (no exporters, no GPUs)")
    ap.add_argument("--json", action="store_true", help="h100: also write benchmarks/results/projection_accuracy.json")
    args = ap.parse_args()
    if args.hardware.lower().startswith("h100"):
        from h100_fit import cmd_fit

        args.data = str(ROOT / "profiles" / "measurements" / "h100-sxm-2026-11-27")
        args.shared = str(ROOT / "profiles" / "measurements" / "h100-sxm-calibration-set.csv")
        args.hardware = "h100-sxm"
        args.write = str(args.write) if args.write else ""
        args.exporters = not args.quick
        args.json_name = "projection_accuracy"
        cmd_fit(args)
        if not args.quick:
            import gpu_transfer
            import new_gpu

            print("\nper GPU: a profile wrong as a transfer can be, then calibrated on 5 models (benchmarks/new_gpu.py --displaced)")
            new_gpu.main(["--displaced", "--seeds", "3"])
            print()
            gpu_transfer.check()
    else:
        cpu(args)


if __name__ == "__main__":
    main()
