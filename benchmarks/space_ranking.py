"""Issue #34 part 5: rank a NAS-Bench-201 search space on the device at hand, blind and after calibrating on 5 cells.

A sample of NB201 cells (load/nb201_arch.sample) is built as ONNX (load/nb201_onnx, seeded weights) and measured on
this CPU with ONNX Runtime (measure_onnx, the `measure` path) at batch 1 and a large batch. Then, per batch, over
several draws of 5 calibration cells: the cells not drawn are ranked by MACs, by the blind projection (the hardware
profile as shipped) and by the projection calibrated on the 5 (project/calibrate.py, its leave-one-out check on:
a refused fit is counted and the blind projection stands for that draw), each against the measured latencies:
Spearman, and median / p90 |latency error| (blind first, then calibrated). The worst and best draw are printed.

The machine is shared (2 vCPUs, several engineers): every cell is measured in --passes passes (each in a shuffled
order) and its fastest pass counts, the spread of its passes weighing it in the calibration; how far the passes disagree is printed with the load average, so the noise floor of every
number above is in the same output.

    flock /tmp/heavy.lock python benchmarks/space_ranking.py [--cells 24] [--batches 1,32] [--draws 5] [--max-time 0.8]
Results: benchmarks/space_ranking.json (every measurement, every draw).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _measure(paths, batch, args):
    from analyzer.measure.onnx_measure import measure_onnx
    from analyzer.measure.processes import measure_in_processes

    out = []
    for p in paths:
        if args.processes > 1:
            m = measure_in_processes(p, batch, args.processes, {"provider": "CPUExecutionProvider", "max_time_s": args.max_time,
                                                                  "meter": "none"}, timeout_s=args.max_time * 3 + 120)
        else:
            m = measure_onnx(p, batch, max_time_s=args.max_time, meter=None)
        out.append(m)
    return out


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def _draws(n: int, k: int, draws: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [sorted(rng.choice(n, size=k, replace=False).tolist()) for _ in range(draws)]


def evaluate(obs, measured_s, macs, hw, draws, k) -> dict:
    """Per draw: Spearman of MACs, blind and calibrated projections against measured latency on the held-out cells,
    and their |error|s."""
    from analyzer.profiles import projection_defaults
    from analyzer.project import project, resolve_params
    from analyzer.project.calibrate import CalibrationRefused, calibrate

    d = projection_defaults()
    blind_params = resolve_params(hw, "fp32", "ort", d)
    blind = np.array([project(o.profile, hw, blind_params, "ort", "fp32").latency_s for o in obs])
    rows = []
    for sel in _draws(len(obs), k, draws, 0):
        rest = [i for i in range(len(obs)) if i not in sel]
        try:
            cal = calibrate([obs[i] for i in sel], hw, d)
            params = resolve_params(hw, "fp32", "ort", d, overrides=cal.values)
            calibrated = np.array([project(obs[i].profile, hw, params, "ort", "fp32").latency_s for i in rest])
            refused, fitted = "", list(cal.fitted_keys)
        except CalibrationRefused as e:
            calibrated, refused, fitted = blind[rest], str(e), []
        m = measured_s[rest]
        rows.append({"calibration_cells": sel, "refused": refused, "fitted_keys": fitted,
                     "spearman_macs": _spearman(macs[rest], m), "spearman_blind": _spearman(blind[rest], m),
                     "spearman_calibrated": _spearman(calibrated, m),
                     "blind_median_abs_error": float(np.median(np.abs(blind[rest] / m - 1))),
                     "blind_p90_abs_error": float(np.percentile(np.abs(blind[rest] / m - 1), 90)),
                     "calibrated_median_abs_error": float(np.median(np.abs(calibrated / m - 1))),
                     "calibrated_p90_abs_error": float(np.percentile(np.abs(calibrated / m - 1), 90))})
    return {"blind_s": blind.tolist(), "draws": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=24)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--calibrate-on", type=int, default=5)
    ap.add_argument("--max-time", type=float, default=0.8, help="seconds of measurement per cell and batch")
    ap.add_argument("--processes", type=int, default=1, help="fresh processes per measurement (measure --processes)")
    ap.add_argument("--passes", type=int, default=3, help="passes over all cells, each shuffled; the fastest counts")
    ap.add_argument("--hardware", default="ci-cpu-2vcpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache" / "nb201")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "space_ranking.json")
    ap.add_argument("--from-json", type=Path, default=None, help="re-evaluate the measurements saved in this results file "
                    "(same cells and batches) instead of measuring again")
    args = ap.parse_args()
    import onnx

    from analyzer import profile_onnx
    from analyzer.load import nb201_arch, nb201_onnx
    from analyzer.measure.record import cpu_model
    from analyzer.profiles import load_profiles
    from analyzer.project.calibrate import Observation

    t_start = time.time()
    hw = load_profiles().get("hardware", args.hardware)
    archs = nb201_arch.sample(args.cells, args.seed)
    args.cache.mkdir(parents=True, exist_ok=True)
    paths = []
    for a in archs:
        p = args.cache / f"nb201-{a.index():05d}.onnx"
        if not p.exists():
            onnx.save(nb201_onnx.build(a, name=f"nb201-{a.index()}"), str(p))
        paths.append(p)
    device = cpu_model()
    print(f"NB201 space ranking on {device} ({platform.machine()}), blind profile {hw.name}; {len(archs)} cells, "
          f"calibrated on {args.calibrate_on}, {args.draws} draws; latency measured with ONNX Runtime, "
          f"{args.max_time:g} s per cell, batch and pass, {args.passes} passes, {args.processes} process(es); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    results = {"device": device, "hardware": hw.name, "cells": [a.to_string() for a in archs], "settings": vars(args) | {
        "cache": str(args.cache), "out": str(args.out), "from_json": str(args.from_json or "")}, "batches": {}}
    for batch in (int(b) for b in args.batches.split(",")):
        profs = [profile_onnx(p, batch=batch, per_op=True, scan_sparsity=False) for p in paths]
        # passes over every cell, each in its own shuffled order, so a burst of load on the shared machine lands on
        # different cells in each; a cell's latency is its fastest pass (interference only ever slows a run), its
        # sigma the spread of its passes (log sd), which the calibration weighs it by
        passes = []
        saved = json.loads(args.from_json.read_text())["batches"][str(batch)] if args.from_json else None
        for k in range(0 if saved else args.passes):
            order = np.random.default_rng([args.seed, batch, k]).permutation(len(paths)).tolist()
            got = _measure([paths[i] for i in order], batch, args)
            passes.append([got[order.index(i)] for i in range(len(paths))])
        if saved:
            lat = np.array(saved["passes_s"])
            ci = saved["ci_rel"]
        else:
            lat = np.array([[m.latency_s_median for m in p] for p in passes])
            ci = [passes[k][i].ci_rel for i, k in enumerate(lat.argmin(axis=0))]
        measured = lat.min(axis=0)
        between = lat.max(axis=0) / lat.min(axis=0) - 1
        sigma = np.std(np.log(lat), axis=0, ddof=1) if len(lat) > 1 else np.zeros(len(paths))
        obs = [Observation(p.stem, pr.sha256, batch, float(t), pr, None, "fp32", "ort", float(sg), device)
               for p, pr, t, sg in zip(paths, profs, measured, sigma)]
        macs = np.array([pr.macs for pr in profs], dtype=float)
        ev = evaluate(obs, measured, macs, hw, args.draws, args.calibrate_on)
        results["batches"][str(batch)] = {"measured_s": measured.tolist(), "passes_s": lat.tolist(),
                                          "ci_rel": ci, "macs": macs.tolist(),
                                          "pass_disagreement": between.tolist(), "loadavg_after": os.getloadavg()[0], **ev}
        _print(batch, ev, between, ci)
    results["wall_s"] = time.time() - t_start
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(args.out)
    print(f"wrote {args.out} ({results['wall_s']:.0f} s)")


def _print(batch: int, ev: dict, between: np.ndarray, ci: list[float]) -> None:
    rows = ev["draws"]

    def col(key):
        return np.array([r[key] for r in rows])

    sc = col("spearman_calibrated")
    best, worst = int(np.argmax(sc)), int(np.argmin(sc))
    print(f"\nbatch {batch}: Spearman on the {len(ev['blind_s']) - len(rows[0]['calibration_cells'])} held-out cells "
          f"(median over {len(rows)} draws)")
    print(f"  MACs {np.median(col('spearman_macs')):.3f}   blind {np.median(col('spearman_blind')):.3f}   calibrated "
          f"{np.median(sc):.3f} (worst draw {sc[worst]:.3f}, best {sc[best]:.3f}, spread {sc[best] - sc[worst]:.3f})")
    print(f"  |latency error| blind: median {np.median(col('blind_median_abs_error')):.1%}, p90 "
          f"{np.median(col('blind_p90_abs_error')):.1%};  calibrated: median {np.median(col('calibrated_median_abs_error')):.1%}, "
          f"p90 {np.median(col('calibrated_p90_abs_error')):.1%}")
    refused = sum(1 for r in rows if r["refused"])
    if refused:
        print(f"  {refused} of {len(rows)} calibrations refused by their leave-one-out check (blind used): {rows[[bool(r['refused']) for r in rows].index(True)]['refused']}")
    print(f"  noise: a measurement's own 95% CI median +-{np.median(ci):.1%}; its passes disagree by a median "
          f"{np.median(between):.1%}, at most {np.max(between):.0%} (load average now {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
