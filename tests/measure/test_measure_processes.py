"""`measure --processes N`: the median over fresh processes and the spread between them (measure/processes.py)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import onnx
import pytest
from onnx import helper

from analyzer.measure.processes import combine
from analyzer.measure.record import Measurement
from cli_helpers import cli
from onnx_builders import model, vi


def _record(median_s: float, energy: float | None = 0.01) -> Measurement:
    return Measurement(model="m.onnx", sha256="x", backend="onnxruntime", batch=2, provider="CPUExecutionProvider", threads=None,
                       opt_level="all", runtime_version="", cpu_model="cpu", session_creation_s=0.0, latency_s_median=median_s,
                       latency_s_p10=median_s * 0.9, latency_s_p90=median_s * 1.2, latency_s_ci95=(median_s, median_s), ci_rel=0.0,
                       converged=True, iterations=10, warmup_iterations=1, throughput_per_s=2 / median_s, energy_j_per_item=energy,
                       dynamic_energy_j_per_item=None, idle_power_w=None, avg_power_w=None, energy_source="")


def test_the_spread_between_processes_in_closed_form():
    """Medians 4.98, 7.21, 7.58, 7.78 ms (four MobileNetV2 runs on the CI machine, issue #34): the combined median is
    their median, the log sd theirs, and the 95% interval exp(mean ln +- t(0.975, 3) sd / 2)."""
    ms = [4.98e-3, 7.21e-3, 7.58e-3, 7.78e-3]
    m = combine([_record(x, e) for x, e in zip(ms, (0.01, 0.02, 0.03, 0.04))])
    logs = np.log(ms)
    sd = float(np.std(logs, ddof=1))
    assert m.latency_s_median == pytest.approx(float(np.median(ms))) and m.latency_log_sigma_between == pytest.approx(sd)
    lo, hi = m.latency_s_ci95
    assert lo == pytest.approx(math.exp(logs.mean() - 3.182 * sd / 2)) and hi == pytest.approx(math.exp(logs.mean() + 3.182 * sd / 2))
    assert lo < 4.98e-3 * 1.3 and m.processes == 4 and m.latency_s_process_medians == ms
    assert m.energy_j_per_item == pytest.approx(0.025) and m.iterations == 40 and m.latency_s_p90 == pytest.approx(7.78e-3 * 1.2)
    assert combine([_record(5e-3, None), _record(6e-3)]).energy_j_per_item is None  # one process without a reading: none
    assert Measurement.from_dict(json.loads(json.dumps(m.to_dict()))) == replace(m, latency_s_ci95=tuple(m.latency_s_ci95))


def test_measure_in_fresh_processes(tmp_path):
    path = tmp_path / "relu.onnx"
    onnx.save(model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["N", 64])], [vi("y", None)]), str(path))
    r = cli("measure", path, "--processes", "2", "--max-time", "0.4", "--no-store", "--meter", "none", "--format", "json")
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)[0]
    assert m["processes"] == 2 and len(m["latency_s_process_medians"]) == 2 and m["latency_log_sigma_between"] >= 0
    assert m["latency_s_median"] == pytest.approx(float(np.median(m["latency_s_process_medians"])))
    r = cli("measure", path, "--processes", "0", "--no-store")
    assert r.exit_code == 2
