"""Issue #34 part 5 on a second runtime: the NAS-Bench-201 space ranked as PyTorch eager runs it on this CPU.

The same seeded sample of cells as benchmarks/space_ranking.py (load/nb201_arch.sample), each run as NB201's own
module (analyzer/load/nb201_torch.py) in PyTorch eager, one thread (torch.set_num_threads(1)), under inference_mode,
measured as space_ranking measures ONNX Runtime (benchmarks/space_measure.py: warm-up, interleaved rounds in
shuffled order, 3 fresh processes, median; cached). Projected with runtime `eager` from the IR the space is built
into (load/nb201.py: every ReLU that eager runs is kept, batch norms unfolded), blind on the one-core profile of
PyTorch's kernels (ci-cpu-1core-torch: the chip's ceilings, and the rates PyTorch's CPU kernels reach on generic
shapes, benchmarks/cpu_ceilings.py --torch; nothing fitted to a cell) and calibrated on 5 cells, over 5 draws:
Spearman of MACs, blind and calibrated, median / p90 |error|, the band's coverage (space_ranking.evaluate, the same
code). `--hardware ci-cpu-1core` projects with ONNX Runtime's kernel rates instead, to show what they miss.

    flock /tmp/heavy.lock python benchmarks/space_ranking_torch.py [--cells 32] [--batches 1,32] [--seed 0]
Results: benchmarks/results/space_ranking_torch.json. Needs the torch extra.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    from space_ranking import arguments

    ap = arguments(__doc__.splitlines()[0], "ci-cpu-1core-torch", "space_ranking_torch.json")
    args = ap.parse_args()
    import space_measure
    import torch
    from space_ranking import SETTINGS, _print, evaluate

    from analyzer.count.profile import profile_graph
    from analyzer.load import nb201, nb201_arch
    from analyzer.measure.record import cpu_model
    from analyzer.profiles import load_profiles
    from analyzer.project.calibrate import Observation

    t_start = time.time()
    hw = load_profiles().get("hardware", args.hardware)
    archs = nb201_arch.sample(args.cells, args.seed)
    strings = [a.to_string() for a in archs]
    device = cpu_model()
    print(f"NB201 space ranking on {device} ({platform.machine()}), blind profile {hw.name}; {len(archs)} cells, "
          f"calibrated on {args.calibrate_on}, {args.draws} draws; PyTorch {torch.__version__} eager CPU, 1 thread, "
          f"{args.processes} processes x interleaved rounds; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    results = {"device": device, "hardware": hw.name, "runtime": "eager", "torch": torch.__version__, "cells": strings,
               "settings": {k: str(v) for k, v in vars(args).items()}, "batches": {}}
    for batch in (int(b) for b in args.batches.split(",")):
        rounds, reps = SETTINGS.get(batch, (7, 3))
        meas = space_measure.measure(strings, batch, rounds, reps, args.processes, args.seed, runtime="eager")
        measured = np.array(meas["latency_s"])
        profs = []
        for a in archs:
            g, inits = nb201.build(a, batch)
            profs.append(profile_graph(f"nb201-{a.index()}", "", g, inits, batch))
        obs = [Observation(f"nb201-{a.index()}", hashlib.sha256(s.encode()).hexdigest(), batch, float(t), pr, None, "fp32",
                           "eager", float(sg), device)
               for a, s, pr, t, sg in zip(archs, strings, profs, measured, meas["process_log_sd"])]
        macs = np.array([pr.macs for pr in profs], dtype=float)
        ev = evaluate(obs, measured, macs, hw, args.draws, args.calibrate_on, args.draw_seed, runtime="eager")
        results["batches"][str(batch)] = {"measured_s": measured.tolist(), "macs": macs.tolist(),
                                          "measurement": dict(meas), **ev}
        _print(batch, ev, meas)
    results["wall_s"] = time.time() - t_start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(args.out)
    print(f"wrote {args.out} ({results['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
