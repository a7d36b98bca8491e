"""The ledger closed (issue #37): a tracked run as the search's cost in `analyze --search-run`, and beside its plan in
`plan-search --compare`, with values from closed forms."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import analyzer
from analyzer import SiteRequest, TrackHooks
from analyzer.account.tracked_run import measured_search_cost
from analyzer.measure.meters import EnergyMeter, ReplayMeter
from fakes import FakeClock

ROOT = Path(__file__).resolve().parents[2]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "analyzer", *args], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


class Estimated(EnergyMeter):
    """4 W on the clock, labelled an estimate with a x0.5..x2 band."""

    provenance, band, source, method = "estimated", (0.5, 2.0), "estimate:test", "4 W, stated"

    def __init__(self, clock):
        self.clock = clock

    def snapshot(self):
        return 4.0 * self.clock()

    def joules_between(self, a, b):
        return b - a


def search_run(log, hardware=None, watts=700.0, meters=None):
    """Three 3.6 s trials 0.36 s apart, then a 3.6 s final training, on a GPU drawing `watts`."""
    clk = FakeClock()
    clk.t = 1000.0
    meters = meters or {"gpu0": ReplayMeter([(1000.0, 0.0), (1e6, watts * (1e6 - 1000))], clock=clk)}
    hooks = TrackHooks(meters={k: (m(clk) if isinstance(m, type) else m) for k, m in meters.items()}, clock=clk, thread=False)
    with analyzer.track("planned", hooks=hooks, store=False, log=log, site=SiteRequest(pue=1.5, grid=400.0),
                        hardware=hardware) as run:
        for i in range(3):
            with run.trial(f"t{i}"):
                clk.sleep(3.6)
                run.sampler.tick()
            clk.sleep(0.36)
            run.sampler.tick()
        with run.trial("final", kind="final"):
            clk.sleep(3.6)
            run.sampler.tick()
    return run.result


def test_a_measured_run_is_a_search_cost_with_its_band(tmp_path):
    r = search_run(tmp_path / "a.jsonl", meters={"cpu": Estimated})
    sc = measured_search_cost(r)
    joules = 4.0 * 15.48
    assert sc.cost_kg == pytest.approx(joules * 1.5 / 3.6e6 * 0.4)
    assert (sc.low_kg, sc.high_kg) == (pytest.approx(sc.cost_kg * 0.5), pytest.approx(sc.cost_kg * 2.0))
    assert sc.energy_kwh == pytest.approx(joules * 1.5 / 3.6e6) and sc.dist().kind == "log-uniform"
    assert sc.inputs[0]["kind"] == "estimated"


def test_analyze_takes_the_measured_run_as_the_search_cost(tmp_path):
    r = search_run(tmp_path / "b.jsonl")
    p = cli("analyze", "models", "--search-run", str(tmp_path / "b.jsonl"), "--no-sensitivity", "--no-store",
            "--samples", "2000", "--format", "json")
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)["search"]
    assert s["cost_kg"] == pytest.approx(r.account.co2e_kg) == pytest.approx(700 * 15.48 * 1.5 / 3.6e6 * 0.4)
    assert s["low_kg"] == s["high_kg"] == pytest.approx(s["cost_kg"])  # measured: no band
    p = cli("analyze", "models", "--search-run", str(tmp_path / "b.jsonl"), "--nas-cost-kg", "5", "--no-store")
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        "error: give one search cost: --search-run or a preset, a cost in kgCO2e or a plan, not both"]


def test_plan_search_compare_gives_plan_vs_measured_per_phase(tmp_path):
    search_run(tmp_path / "c.jsonl", hardware="h100")  # 700 W: the H100's TDP, which the stated plan assumes
    p = cli("plan-search", "--hardware", "h100", "--candidate-chip-hours", "0.001", "--population", "3",
            "--final-chip-hours", "0.001", "--pue", "1.5", "--grid-gco2e-per-kwh", "400", "--compare",
            str(tmp_path / "c.jsonl"), "--no-store", "--format", "json")
    assert p.returncode == 0, p.stderr
    phases = {row["phase"]: row for row in json.loads(p.stdout)["compare"]["phases"]}
    # each trial ran 3.6 s = 0.001 h at the TDP, at the same site and boundary: the plan, exactly
    for name in ("search", "final"):
        assert phases[name]["ratio"]["energy_kwh"] == pytest.approx(1.0)
        assert phases[name]["ratio"]["chip_hours"] == pytest.approx(1.0)
        assert phases[name]["ratio"]["co2e_kg"] == pytest.approx(1.0)
    assert phases["idle"]["planned"] is None and phases["idle"]["actual"]["device_energy_j"] == pytest.approx(700 * 3 * 0.36)
    assert phases["total"]["actual"]["hours"] == pytest.approx(15.48 / 3600)
    assert phases["total"]["ratio"]["hours"] == pytest.approx(15.48 / 14.4)
    p = cli("plan-search", "--hardware", "h100", "--candidate-chip-hours", "0.001", "--population", "3", "--compare",
            str(tmp_path / "nothing.jsonl"), "--no-store")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
