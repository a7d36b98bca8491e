"""Issue #34 part 5: rank a NAS-Bench-201 search space on the device at hand, blind and after calibrating on 5 cells.

A seeded sample of NB201 cells (load/nb201_arch.sample) is built as ONNX (load/nb201_onnx, seeded weights) and
measured on this CPU with ONNX Runtime pinned to ONE thread (benchmarks/space_measure.py: warm-up, interleaved
rounds, several fresh processes, median; cached in benchmarks/.cache/space_ranking, so a rerun measures nothing).
The profile projected against is the matching one-core profile (ci-cpu-1core). Per batch, over several draws of 5
calibration cells, the cells not drawn are ranked by MACs, by the blind projection and by the projection calibrated
on the 5 (project/calibrate.py; a fit refused by its leave-one-out check is counted and the blind projection stands
for that draw), each against the measured latencies: Spearman, median / p90 |latency error|, the worst and best
draw, and the calibrated 90% band (its width from the fit's leave-one-out residuals, calibrate_profile.loo_band):
the share of held-out cells it covers and its median high/low.

    flock /tmp/heavy.lock python benchmarks/space_ranking.py [--cells 32] [--batches 1,32] [--draws 5]
Results: benchmarks/results/space_ranking.json (every measurement, every draw); benchmarks/space_ranking.json (copy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# per batch: (rounds, timed runs per cell per round); a batch-1 forward takes about 1 ms, a batch-32 one 20-200 ms
SETTINGS = {1: (15, 21), 32: (7, 3)}


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def _draws(n: int, k: int, draws: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [sorted(rng.choice(n, size=k, replace=False).tolist()) for _ in range(draws)]


def evaluate(obs, measured_s, macs, hw, draws, k, seed=0, runtime="ort") -> dict:
    """Per draw: Spearman of MACs, blind and calibrated projections against measured latency on the held-out cells,
    their |error|s, and the calibrated band's coverage and width there; `runtime` as the cells ran (ort, eager)."""
    from analyzer.profiles import projection_defaults
    from analyzer.project import project, resolve_params
    from analyzer.project.calibrate import CalibrationRefused, calibrate
    from analyzer.project.calibrate_profile import loo_band

    d = projection_defaults()
    blind_params = resolve_params(hw, "fp32", runtime, d)
    blind = np.array([project(o.profile, hw, blind_params, runtime, "fp32").latency_s for o in obs])
    rows = []
    for sel in _draws(len(obs), k, draws, seed):
        rest = [i for i in range(len(obs)) if i not in sel]
        m = measured_s[rest]
        try:
            cal = calibrate([obs[i] for i in sel], hw, d)
            params = resolve_params(hw, "fp32", runtime, d, overrides=cal.values)
            calibrated = np.array([project(obs[i].profile, hw, params, runtime, "fp32").latency_s for i in rest])
            refused, fitted, values = "", list(cal.fitted_keys), cal.values
            half = loo_band(cal.loo_errors).half_width_log
            inside = np.abs(np.log(m / calibrated)) <= half
            band = {"coverage": float(np.mean(inside)), "high_over_low": float(np.exp(2 * half)), "points": len(cal.loo_errors),
                    "loo_errors": cal.loo_errors}
        except CalibrationRefused as e:
            calibrated, refused, fitted, values, band = blind[rest], str(e), [], {}, {}
        rows.append({"calibration_cells": sel, "refused": refused, "fitted_keys": fitted, "values": values,
                     "spearman_macs": _spearman(macs[rest], m), "spearman_blind": _spearman(blind[rest], m),
                     "spearman_calibrated": _spearman(calibrated, m), "calibrated_s": calibrated.tolist(), "band": band,
                     "blind_median_abs_error": float(np.median(np.abs(blind[rest] / m - 1))),
                     "blind_p90_abs_error": float(np.percentile(np.abs(blind[rest] / m - 1), 90)),
                     "calibrated_median_abs_error": float(np.median(np.abs(calibrated / m - 1))),
                     "calibrated_p90_abs_error": float(np.percentile(np.abs(calibrated / m - 1), 90))})
    return {"blind_s": blind.tolist(), "draws": rows}


def build_cells(n: int, seed: int, cache: Path) -> tuple[list, list[Path]]:
    import onnx

    from analyzer.load import nb201_arch, nb201_onnx

    archs = nb201_arch.sample(n, seed)
    cache.mkdir(parents=True, exist_ok=True)
    paths = []
    for a in archs:
        p = cache / f"nb201-{a.index():05d}.onnx"
        if not p.exists():
            onnx.save(nb201_onnx.build(a, name=f"nb201-{a.index()}"), str(p))
        paths.append(p)
    return archs, paths


def arguments(description: str, hardware: str, out: str) -> argparse.ArgumentParser:
    """The options of a space ranking (this script's and space_ranking_torch.py's): cells, batches, draws, ..."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--cells", type=int, default=32)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--calibrate-on", type=int, default=5)
    ap.add_argument("--processes", type=int, default=3, help="fresh processes per batch, each measuring every cell")
    ap.add_argument("--hardware", default=hardware)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draw-seed", type=int, default=0, help="seed of the calibration draws")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / out)
    return ap


def main() -> None:
    ap = arguments(__doc__.splitlines()[0], "ci-cpu-1core", "space_ranking.json")
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache" / "nb201")
    args = ap.parse_args()
    import space_measure

    from analyzer import profile_onnx
    from analyzer.measure.record import cpu_model
    from analyzer.profiles import load_profiles
    from analyzer.project.calibrate import Observation

    t_start = time.time()
    hw = load_profiles().get("hardware", args.hardware)
    archs, paths = build_cells(args.cells, args.seed, args.cache)
    device = cpu_model()
    print(f"NB201 space ranking on {device} ({platform.machine()}), blind profile {hw.name}; {len(archs)} cells, "
          f"calibrated on {args.calibrate_on}, {args.draws} draws; ONNX Runtime CPU, 1 intra-op thread, "
          f"{args.processes} processes x interleaved rounds; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    results = {"device": device, "hardware": hw.name, "cells": [a.to_string() for a in archs],
               "settings": {k: str(v) for k, v in vars(args).items()}, "batches": {}}
    for batch in (int(b) for b in args.batches.split(",")):
        rounds, reps = SETTINGS.get(batch, (7, 3))
        meas = space_measure.measure(paths, batch, rounds, reps, args.processes, args.seed)
        measured = np.array(meas["latency_s"])
        profs = [profile_onnx(p, batch=batch, per_op=True, scan_sparsity=False) for p in paths]
        obs = [Observation(p.stem, pr.sha256, batch, float(t), pr, None, "fp32", "ort", float(sg), device)
               for p, pr, t, sg in zip(paths, profs, measured, meas["process_log_sd"])]
        macs = np.array([pr.macs for pr in profs], dtype=float)
        ev = evaluate(obs, measured, macs, hw, args.draws, args.calibrate_on, args.draw_seed)
        results["batches"][str(batch)] = {"measured_s": measured.tolist(), "macs": macs.tolist(),
                                          "measurement": {k: v for k, v in meas.items()}, **ev}
        _print(batch, ev, meas)
    results["wall_s"] = time.time() - t_start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(args.out)
    if args.out == ROOT / "benchmarks" / "results" / "space_ranking.json":
        shutil.copyfile(args.out, ROOT / "benchmarks" / "space_ranking.json")
    print(f"wrote {args.out} ({results['wall_s']:.0f} s)")


def _print(batch: int, ev: dict, meas: dict) -> None:
    rows = ev["draws"]

    def col(key):
        return np.array([r[key] for r in rows])

    sc = col("spearman_calibrated")
    best, worst = int(np.argmax(sc)), int(np.argmin(sc))
    print(f"\nbatch {batch}: Spearman on the {len(ev['blind_s']) - len(rows[0]['calibration_cells'])} held-out cells "
          f"(median over {len(rows)} draws)")
    sm = col("spearman_macs")
    print(f"  MACs {np.median(sm):.3f}   blind {np.median(col('spearman_blind')):.3f}   calibrated "
          f"{np.median(sc):.3f} (worst draw {sc[worst]:.3f}, best {sc[best]:.3f}, spread {sc[best] - sc[worst]:.3f}); "
          f"calibrated - MACs per draw: {' '.join(f'{d:+.3f}' for d in sc - sm)}")
    print(f"  |latency error| blind: median {np.median(col('blind_median_abs_error')):.1%}, p90 "
          f"{np.median(col('blind_p90_abs_error')):.1%};  calibrated: median {np.median(col('calibrated_median_abs_error')):.1%}"
          f" (worst draw {np.max(col('calibrated_median_abs_error')):.1%}), p90 {np.median(col('calibrated_p90_abs_error')):.1%}")
    bands = [r["band"] for r in rows if r["band"]]
    if bands:
        cov = np.array([b["coverage"] for b in bands])
        print(f"  calibrated 90% band (width from the fit's leave-one-out residuals): covers {np.mean(cov):.0%} of held-out "
              f"cells (per draw {' '.join(f'{c:.0%}' for c in cov)}); median high/low {np.median([b['high_over_low'] for b in bands]):.2f}x"
              f" beside a median |error| of {np.median(col('calibrated_median_abs_error')):.1%} (Student-t on "
              f"{bands[0]['points']} leave-one-out errors)")
    refused = [r for r in rows if r["refused"]]
    if refused:
        print(f"  {len(refused)} of {len(rows)} calibrations refused (blind used): {refused[0]['refused']}")
    fitted = sorted({k for r in rows for k in r["fitted_keys"]})
    print(f"  fitted (any draw): {', '.join(fitted) or 'none'}")
    print(f"  noise: between-round interquartile range median {np.median(meas['round_iqr_rel']):.1%} (max "
          f"{np.max(meas['round_iqr_rel']):.1%}); between-process log sd median {np.median(meas['process_log_sd']):.3f}"
          f"{' (cached: ' + Path(meas['cached']).name + ')' if meas.get('cached') else ''}")


if __name__ == "__main__":
    main()
