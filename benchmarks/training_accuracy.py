"""Training-step projection against the H100 training steps kept back to check it (issue #18).

    python benchmarks/training_accuracy.py [--hardware h100-sxm-calibrated] [--csv FILE]

Per row of profiles/measurements/h100-sxm-2026-11-27/train.csv (five architectures x fp32/bf16 autocast x
batch 64/256, SGD with momentum, eager PyTorch, NVML energy): projected against measured step time and
energy per sample, then the median |error| of energy per sample, its rank correlation (the issue asks
<= 30% and >= 0.9) and the pairs the projection orders the other way round. No GPU needed. Nothing is fitted
on this file: it checks the projection, so tuning a constant to it would void the check.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analyzer import profile_onnx  # noqa: E402
from analyzer.profiles import load_profiles, projection_defaults  # noqa: E402
from analyzer.project import resolve_params  # noqa: E402
from analyzer.project.training import project_training  # noqa: E402


def _ranks(x: list[float]) -> np.ndarray:
    return np.argsort(np.argsort(x))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hardware", default="h100-sxm-calibrated")
    ap.add_argument("--csv", default=str(ROOT / "profiles" / "measurements" / "h100-sxm-2026-11-27" / "train.csv"))
    ap.add_argument("--json", action="store_true", help="also write benchmarks/results/training_accuracy.json")
    args = ap.parse_args()
    hw = load_profiles().get("hardware", args.hardware)
    rows = list(csv.DictReader(open(args.csv, newline="")))
    labels, pred, meas = [], [], []
    print(f"{'model':<16} {'prec':<5} {'batch':>5}  {'step ms proj/meas':>19}  {'J/sample proj/meas':>21}  error")
    for r in rows:
        prof = profile_onnx(ROOT / "models" / f"{r['model']}.onnx", batch=int(r["batch"]), per_op=True)
        params = resolve_params(hw, r["precision"], "eager", projection_defaults())
        st = project_training(prof, params, r["precision"], r["optimizer"], hw.category == "gpu")
        measured = float(r["energy_j_per_sample"])
        labels.append(f"{r['model']}/{r['precision']}/{r['batch']}")
        pred.append(st.energy_j_per_sample)
        meas.append(measured)
        print(f"{r['model']:<16} {r['precision']:<5} {r['batch']:>5}  {st.step_s * 1e3:8.2f} / {float(r['step_ms_median']):8.2f}"
              f"  {st.energy_j_per_sample:9.4f} / {measured:9.4f}  {st.energy_j_per_sample / measured - 1:+.1%}")
    err = np.abs(np.array(pred) / np.array(meas) - 1)
    rho = float(np.corrcoef(_ranks(pred), _ranks(meas))[0, 1])
    print(f"\nenergy per sample: median |error| {np.median(err):.1%} (target <= 30%), worst {err.max():.1%}; "
          f"rank correlation {rho:.3f} (target >= 0.9) over {len(rows)} steps")
    swapped = sorted(((meas[j] / meas[i] - 1, labels[i], labels[j]) for i in range(len(rows)) for j in range(len(rows))
                      if meas[i] < meas[j] and pred[i] > pred[j]))
    print(f"pairs ordered the other way round: {len(swapped)}")
    for gap, a, b in swapped:
        print(f"  {a} measured {gap:.1%} below {b}, projected above it")
    if args.json:
        from _results import write

        write("training_accuracy", [str(Path(args.csv).relative_to(ROOT)) if Path(args.csv).is_relative_to(ROOT) else args.csv],
              {"hardware": hw.name, "steps": len(rows), "energy_per_sample_median_abs_error": float(np.median(err)),
               "energy_per_sample_worst_abs_error": float(err.max()), "rank_correlation": rho, "pairs_swapped": len(swapped)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
