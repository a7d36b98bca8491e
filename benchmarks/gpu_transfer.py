"""Hardware transfer checked blind against published cross-GPU figures (issue #25).

    python benchmarks/gpu_transfer.py

ResNet-50 v1.5 throughput in PyTorch on V100, T4 and A100 as NVIDIA published it (DeepLearningExamples,
profiles/measurements/published-dle-resnet50.csv): each row projected with the shipped profile of that GPU, which
no calibration measured (its kernel curves and host costs transferred from the calibrated H100, two steps away:
another family), and nothing fitted to these rows. Prints the throughput error per row and per GPU, and whether the
published figure falls in the projection's 90% latency band. The mixed-precision rows ran channels-last and are
projected so (memory_format="channels-last": no layout transforms, NHWC batch norms; analyzer/project/kernels,
MEMORY_FORMATS). Caveats the projection does not model: 2021 libraries (cuDNN 8.1; the H100 curves are cuDNN
9.19's); FP32 on V100/T4 runs on CUDA cores, where cuDNN may pick Winograd for 3x3 convolutions (projected so).
"""

from __future__ import annotations

import csv
import math
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "profiles" / "measurements" / "published-dle-resnet50.csv"


@lru_cache(maxsize=None)
def _profile(batch: int):
    from analyzer.count.profile import profile_onnx

    path = ROOT / "models" / "onnx" / "resnet50.onnx"
    return profile_onnx(path if path.exists() else ROOT / "models" / "resnet50.onnx", batch=batch, per_op=True,
                        scan_sparsity=False)


def project_row(r: dict, ps, defaults, memory_format: bool = True) -> tuple[float, float, float, str]:
    """(projected throughput, band low, band high, basis) of one published row, images per second; the
    channels-last rows projected channels-last unless `memory_format` is False (every row as NCHW)."""
    from analyzer.project import project, resolve_params
    from analyzer.project.training import StepForm, project_training

    hw = ps.get("hardware", r["hardware"])
    batch = int(r["batch"])
    params = resolve_params(hw, r["precision"], "eager", defaults)
    fmt = "channels-last" if r["memory_format"] == "nhwc" and memory_format else "nchw"
    if r["phase"] == "inference":
        p = project(_profile(batch), hw, params, "eager", r["precision"], memory_format=fmt)
        lo, hi = p.latency_range_s["low"], p.latency_range_s["high"]
        return batch / p.latency_s, batch / hi, batch / lo, params.basis
    st = project_training(_profile(batch), params, r["precision"], "sgd-momentum", hw.category == "gpu",
                          form=StepForm(memory_format=fmt))
    sigma = math.hypot(params.energy_log_sigma_model, params.energy_log_sigma_shared)
    return batch / st.step_s, batch / st.step_s / math.exp(1.645 * sigma), batch / st.step_s * math.exp(1.645 * sigma), params.basis


def check(verbose: bool = True) -> dict:
    from analyzer.profiles import load_profiles, projection_defaults

    ps, defaults = load_profiles(), projection_defaults()
    rows = list(csv.DictReader(open(DATA, newline="")))
    out: dict[str, list] = {}
    if verbose:
        print("published ResNet-50 throughput (NVIDIA DeepLearningExamples) vs blind transferred projection:")
    for r in rows:
        proj, lo, hi, basis = project_row(r, ps, defaults)
        pub = float(r["throughput_img_s"])
        err = proj / pub - 1
        inside = lo <= pub <= hi
        out.setdefault(r["hardware"], []).append((err, inside, r["memory_format"]))
        if verbose:
            print(f"  {r['hardware']:<10} {r['precision']} {r['phase']:<9} b{r['batch']:<4} {r['memory_format']}  published "
                  f"{pub:7.0f} img/s  projected {proj:7.0f} ({basis})  {err:+6.1%}  {'in band' if inside else 'OUTSIDE band'}")
    allerr = [e for v in out.values() for e, _, _ in v]
    summary = {hw: {"median_abs": float(np.median([abs(e) for e, _, _ in v])), "bias": float(np.median([e for e, _, _ in v])),
                    "coverage": float(np.mean([i for _, i, _ in v])), "n": len(v)} for hw, v in out.items()}
    nchw = [e for v in out.values() for e, _, f in v if f == "nchw"]
    summary["all"] = {"median_abs": float(np.median(np.abs(allerr))), "max_abs": float(np.max(np.abs(allerr))),
                      "bias": float(np.median(allerr)),
                      "coverage": float(np.mean([i for v in out.values() for _, i, _ in v])), "n": len(allerr),
                      "nchw_median_abs": float(np.median(np.abs(nchw)))}
    if verbose:
        for hw, s in summary.items():
            print(f"  {hw:<10} {s['n']:>2} rows: throughput median |error| {s['median_abs']:.1%} (median signed {s['bias']:+.1%}), "
                  f"90% band covers {s['coverage']:.0%}")
        print(f"  all rows: worst |error| {summary['all']['max_abs']:.1%}; NCHW rows only: median |error| "
              f"{summary['all']['nchw_median_abs']:.1%}")
    return summary


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="also write benchmarks/results/gpu_transfer.json")
    summary = check()
    if ap.parse_args().json:
        from _results import write

        write("gpu_transfer", [str(DATA.relative_to(ROOT))], summary)
