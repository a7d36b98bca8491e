"""Latency measured in several fresh processes, as pyperf measures (it spawns worker processes and reports the spread
between them): one process's confidence interval sees only the noise inside that process, not what a new process
changes (where the allocator puts buffers, which cores the threads land on, what the neighbours of a shared machine do
that minute). Four `measure` runs of MobileNetV2 on the 2-vCPU CI machine gave medians of 4.98, 7.21, 7.58 and 7.78 ms,
and the first run's 95% interval (3.64-6.32 ms) excluded the other three (issue #34).

`measure_in_processes` runs `measure_onnx` in N fresh interpreters one after another and returns one Measurement whose
latency is the median of the process medians, with
    latency_log_sigma_between = sd(ln median_p)  (ddof 1)
    latency_s_ci95 = exp(mean(ln median_p) +- t_{0.975, N-1} sd / sqrt(N))
and each process's median kept (latency_s_process_medians); the energy per item is the median of the processes'.
Calibration weighs a forward by its latency_log_sigma_between (project/calibrate.py)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RuntimeFailure, UsageError, param
from .record import Measurement

MAX_PROCESSES = 64
# two-sided 95% Student t quantiles for 1..10 degrees of freedom; beyond, 2.0 (within 5% of the exact value to 30 df)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def combine(records: list[Measurement]) -> Measurement:
    """One Measurement from each process's (module docstring)."""
    medians = [r.latency_s_median for r in records]
    n = len(medians)
    logs = np.log(medians)
    sd = float(np.std(logs, ddof=1)) if n > 1 else 0.0
    t = _T975[n - 2] if 2 <= n <= 11 else 2.0
    half = t * sd / math.sqrt(n) if n > 1 else 0.0
    mid = float(np.median(medians))
    lo, hi = math.exp(float(np.mean(logs)) - half), math.exp(float(np.mean(logs)) + half)
    energies = [r.energy_j_per_item for r in records]
    energy = float(np.median(energies)) if all(e is not None for e in energies) else None
    note = (f"measured in {n} fresh processes: medians {', '.join(f'{m * 1e3:.4g}' for m in medians)} ms; between-process "
            f"spread {sd:.1%} (log sd)")
    first = records[0]
    return replace(first, latency_s_median=mid, latency_s_p10=min(r.latency_s_p10 for r in records),
                   latency_s_p90=max(r.latency_s_p90 for r in records), latency_s_ci95=(lo, hi), ci_rel=(hi - lo) / 2 / mid,
                   converged=all(r.converged for r in records), iterations=sum(r.iterations for r in records),
                   throughput_per_s=first.batch / mid, energy_j_per_item=energy,
                   notes=list(first.notes) + [note], processes=n, latency_s_process_medians=medians,
                   latency_log_sigma_between=sd if n > 1 else None)


def measure_in_processes(path: Path, batch: int, processes: int, settings: dict[str, Any], timeout_s: float) -> Measurement:
    """`settings`: measure_onnx's keyword arguments as JSON values (dims, provider, threads, opt_level, max_time_s,
    target_ci, inputs_npz) and `meter`, the meter's spec string (each process opens its own)."""
    if not 1 <= processes <= MAX_PROCESSES:
        raise UsageError(f"{param('processes')} {processes}: give 1 to {MAX_PROCESSES}")
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    job = json.dumps({"path": str(path), "batch": batch, **settings})
    records = []
    for i in range(processes):
        try:
            done = subprocess.run([sys.executable, "-m", "analyzer.measure.processes", job], capture_output=True, text=True,
                                  timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            raise RuntimeFailure(f"{path}: process {i + 1} of {processes} ran past {timeout_s:g} s") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeFailure(f"{path}: process {i + 1} of {processes} failed: {last}")
        records.append(Measurement.from_dict(json.loads(done.stdout)))
    return combine(records)


def _worker(job: dict[str, Any]) -> None:
    from .select import meter_from_spec
    from .onnx_measure import OrtSettings, measure_onnx

    meter = meter_from_spec(job.pop("meter"), job["provider"], job.pop("device", 0))
    npz = job.pop("inputs_npz", None)
    path, batch, dims = Path(job.pop("path")), job.pop("batch"), job.pop("dims", None)
    settings = OrtSettings.take(job)
    if job:
        raise UsageError(f"measure job: unknown settings {', '.join(sorted(job))}")
    try:
        m = measure_onnx(path, batch, dims=dims, inputs_npz=Path(npz) if npz else None, meter=meter, settings=settings)
    finally:
        close = getattr(meter, "close", None)
        if close is not None:
            close()
    print(json.dumps(m.to_dict()))


if __name__ == "__main__":  # one worker: python -m analyzer.measure.processes JOB_JSON
    from ..errors import AnalyzerError

    try:
        _worker(json.loads(sys.argv[1]))
    except AnalyzerError as e:
        print(str(e), file=sys.stderr)
        sys.exit(2)
