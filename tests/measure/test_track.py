"""The tracker (issue #37): runs on replay meters and a fake clock, with values from closed forms; spans' attribution
rule (hypothesis: idle + spans' own energy = the run's total); a failing meter; the store and CodeCarbon's format."""

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

import analyzer
from analyzer import SiteRequest, TrackHooks
from analyzer.errors import UsageError
from analyzer.measure.meters import EnergyMeter, ReplayMeter
from analyzer.measure.spans import Span, attribute, identity_of
from analyzer.measure.track import read_log
from fakes import FakeClock


def watts(w, clock, t0=1000.0):
    """A replay meter drawing `w` watts from t0 on (cumulative J = w x (t - t0))."""
    return ReplayMeter([(t0, 0.0), (t0 + 1e6, w * 1e6)], clock=clock)


@pytest.fixture
def clock():
    c = FakeClock()
    c.t = 1000.0
    return c


def tracked(tmp_path, clock, meters, **kw):
    return analyzer.track("search", store=tmp_path / "s.sqlite", log=tmp_path / "run.jsonl",
                          site=SiteRequest(pue=1.5, grid=400.0),
                          hooks=TrackHooks(meters=meters, clock=clock, thread=False, **kw))


def step(run, clock, seconds, n=1):
    for _ in range(n):
        clock.sleep(seconds / n)
        run.sampler.tick()


def test_a_run_of_three_trials_accounts_energy_spans_and_idle(tmp_path, clock):
    with tracked(tmp_path, clock, {"cpu": watts(10.0, clock)}) as run:
        for i in range(3):
            step(run, clock, 1.0)  # idle between trials
            with run.trial(f"t{i}", arch=f"|nor_conv_3x3~{i}|", lr=0.1 * (i + 1)):
                step(run, clock, 5.0, 5)
        step(run, clock, 2.0)
    r = run.result
    assert r.status == "complete" and r.exit_status == "ok"
    assert r.seconds == pytest.approx(20.0) and r.energy_j["cpu"] == pytest.approx(200.0)
    assert r.idle_j["cpu"] == pytest.approx(50.0)
    assert [s["energy_j"] for s in r.spans] == pytest.approx([50.0] * 3)
    assert [s["identity"] for s in r.spans] == ["|nor_conv_3x3~0|", "|nor_conv_3x3~1|", "|nor_conv_3x3~2|"]
    assert r.spans[1]["params"] == {"lr": pytest.approx(0.2)}
    # facility kWh = 200 J x 1.5 / 3.6e6; CO2e = kWh x 400 g / 1000
    assert r.account.facility_energy_kwh == pytest.approx(200 * 1.5 / 3.6e6)
    assert r.account.co2e_kg == pytest.approx(200 * 1.5 / 3.6e6 * 0.4)
    assert r.account.co2e_low_kg == r.account.co2e_high_kg == r.account.co2e_kg  # measured: no band
    assert sum(s["co2e_kg"] for s in r.spans) == pytest.approx(r.account.co2e_kg * 150 / 200)


def test_nested_and_overlapping_spans_follow_the_rule():
    times = [0.0, 10.0]
    cum = {"cpu": [0.0, 100.0], "gpu0": [0.0, 200.0]}  # 10 W and 20 W
    parent = Span("p", "outer", 0.0, 10.0)
    child = Span("c", "inner", 2.0, 6.0, parent="p")
    other = Span("o", "other-process", 4.0, 8.0)  # overlaps the child from 4 to 6, the parent alone from 6 to 8
    gpu_only = Span("g", "on the gpu", 9.0, 10.0, devices=("gpu0",))
    idle = attribute(times, cum, [parent, child, other, gpu_only])
    # cpu: child alone 2-4 (20 J), child+other 4-6 (10 J each), parent+other 6-8 (10 each), parent 0-2 and 8-10
    # except 9-10 where the gpu-only span is active for the gpu alone: parent self = 0-2 (20) + 8-10 (20)
    assert child.self_j["cpu"] == pytest.approx(30.0)
    assert other.self_j["cpu"] == pytest.approx(20.0)
    assert parent.self_j["cpu"] == pytest.approx(20 + 10 + 20)
    assert parent.energy_j["cpu"] == pytest.approx(80.0)  # its own and its child's
    assert gpu_only.self_j == {"cpu": 0.0, "gpu0": pytest.approx(10.0)}
    assert idle == {"cpu": pytest.approx(0.0), "gpu0": pytest.approx(0.0)}
    assert parent.self_j["gpu0"] == pytest.approx(40 + 20 + 20 + 10)  # 9-10 went to the gpu-only span (a leaf beside it)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 20), st.floats(0, 20), st.integers(-1, 5)), max_size=8),
       st.lists(st.floats(0.01, 50), min_size=1, max_size=12))
def test_idle_plus_every_span_own_energy_is_the_total(raw, increments):
    times = [0.0]
    cum = [0.0]
    for i, inc in enumerate(increments):
        times.append(times[-1] + 1.5)
        cum.append(cum[-1] + inc * (1 + i % 3))
    spans = []
    for i, (a, b, p) in enumerate(raw):
        parent = str(p) if 0 <= p < i else None
        spans.append(Span(str(i), f"s{i}", min(a, b), max(a, b), parent=parent))
    idle = attribute(times, {"m": cum}, spans)
    assert idle["m"] + sum(s.self_j["m"] for s in spans) == pytest.approx(cum[-1] - cum[0], rel=1e-9, abs=1e-9)
    roots = [s for s in spans if s.parent is None]
    assert idle["m"] + sum(s.energy_j["m"] for s in roots) == pytest.approx(cum[-1], rel=1e-9, abs=1e-9)


class Breaks(EnergyMeter):
    """Reads 5 W on the clock, then fails or returns garbage after `ok` snapshots."""

    def __init__(self, clock, ok, garbage=False):
        self.clock, self.ok, self.garbage, self.source = clock, ok, garbage, "breaks"

    def snapshot(self):
        self.ok -= 1
        if self.ok < 0 and not self.garbage:
            raise OSError("the sensor went away")
        return float("nan") if self.ok < 0 else 5.0 * self.clock()

    def joules_between(self, a, b):
        return b - a


@pytest.mark.parametrize("garbage", [False, True])
def test_a_meter_that_fails_mid_run_is_reported_and_the_run_goes_on(tmp_path, clock, garbage):
    with tracked(tmp_path, clock, {"cpu": watts(10.0, clock), "bad": Breaks(clock, 4, garbage)}) as run:
        step(run, clock, 10.0, 10)
    r = run.result
    assert r.status == "complete"
    assert r.energy_j["cpu"] == pytest.approx(100.0)
    assert r.energy_j["bad"] == pytest.approx(5.0 * 3)  # three intervals read before it failed
    assert [e["meter"] for e in r.meter_errors] == ["bad"]
    assert any("failed" in n and "bad" in n for n in r.notes)


def test_the_run_is_in_the_store_and_found_by_name_or_id(tmp_path, clock):
    with tracked(tmp_path, clock, {"cpu": watts(2.0, clock)}) as run:
        step(run, clock, 3.0, 3)
    by_name = analyzer.load_run("search", store=tmp_path / "s.sqlite")
    by_id = analyzer.load_run(run.id, store=tmp_path / "s.sqlite")
    by_log = analyzer.load_run(tmp_path / "run.jsonl", store=False)
    assert by_name.energy_j == by_id.energy_j == by_log.energy_j == {"cpu": pytest.approx(6.0)}
    from analyzer.engine.store import Store

    db = Store.open_readonly(tmp_path / "s.sqlite")
    rows = list(db.results("search-run"))
    assert len(rows) == 1 and rows[0]["payload"]["status"] == "complete"
    with pytest.raises(UsageError, match="no tracked run"):
        analyzer.load_run("nothing-of-that-name", store=tmp_path / "s.sqlite")


def test_an_unended_log_is_incomplete_with_what_was_flushed(tmp_path, clock):
    with tracked(tmp_path, clock, {"cpu": watts(4.0, clock)}) as run:
        with run.trial("killed"):
            step(run, clock, 5.0, 5)
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    keep = [ln for ln in lines if json.loads(ln)["k"] not in ("end", "s-")][:-2]  # lost: the end, the last 2 readings (5 s and the stop at 5 s)
    start = json.loads(keep[0])
    keep[0] = json.dumps(start | {"pid": 2**22 + 1})  # beyond Linux's pid_max: its writer is gone
    cut.write_text("\n".join(keep) + '\n{"k": "r", "t": 10')  # and a partial line
    r = analyzer.load_run(cut, store=False)
    assert r.status == "incomplete" and r.exit_status is None
    assert r.seconds == pytest.approx(4.0) and r.energy_j["cpu"] == pytest.approx(16.0)
    assert r.spans[0]["energy_j"] == pytest.approx(16.0)  # the open span ends at the last reading
    assert any(n.startswith("incomplete") for n in r.notes)


def test_an_exception_in_the_block_is_the_exit_status_and_propagates(tmp_path, clock):
    with pytest.raises(KeyError):
        with tracked(tmp_path, clock, {"cpu": watts(1.0, clock)}) as run:
            step(run, clock, 1.0)
            raise KeyError("x")
    assert run.result.exit_status == "KeyError" and run.result.status == "complete"


def test_emissions_csv_reads_back_as_codecarbon(tmp_path, clock):
    from analyzer.measure.interchange import read_codecarbon

    with tracked(tmp_path, clock, {"cpu": watts(36.0, clock)}, emissions_csv=tmp_path / "emissions.csv") as run:
        step(run, clock, 100.0, 4)
    (row,) = read_codecarbon(tmp_path / "emissions.csv")
    assert row.run_id == run.id and row.duration_s == pytest.approx(100.0)
    assert row.cpu_energy_j == pytest.approx(3600.0 * 1.5)  # x PUE per component, as CodeCarbon writes them
    assert row.energy_j == pytest.approx(3600.0 * 1.5) and row.gpu_energy_j == row.ram_energy_j == 0.0
    assert row.emissions_kg == pytest.approx(3600 * 1.5 / 3.6e6 * 0.4)


def test_tracked_decorator_and_bad_input(tmp_path, clock):
    @analyzer.tracked("decorated", hooks=TrackHooks(meters={"cpu": watts(1.0, clock)}, clock=clock, thread=False),
                      store=False, log=tmp_path / "d.jsonl", site=SiteRequest(pue=1.0, grid=100.0))
    def job(x):
        clock.sleep(2.0)
        return x * 2

    assert job(21) == 42
    r = analyzer.load_run(tmp_path / "d.jsonl", store=False)
    assert r.name == "decorated" and r.energy_j["cpu"] == pytest.approx(2.0)
    with pytest.raises(UsageError, match="interval_s"):
        with analyzer.track("x", hooks=TrackHooks(meters={"cpu": watts(1.0, clock)}, interval_s=0.0), store=False):
            pass
    with pytest.raises(UsageError, match="name"):
        with analyzer.track(" ", hooks=TrackHooks(meters={"cpu": watts(1.0, clock)}), store=False):
            pass
    with pytest.raises(UsageError, match="hooks.*TrackHooks"):
        with analyzer.track("x", hooks={"interval_s": 0.1}, store=False):
            pass
    with pytest.raises(UsageError, match="site.*SiteRequest"):
        with analyzer.track("x", site={"pue": 1.2}, store=False):
            pass
    with pytest.raises(UsageError, match="already holds a run"):
        with analyzer.track("x", hooks=TrackHooks(meters={"cpu": watts(1.0, clock)}), store=False, log=tmp_path / "d.jsonl"):
            pass
    with tracked(tmp_path, clock, {"cpu": watts(1.0, clock)}) as run:
        with pytest.raises(UsageError, match="not a meter of this run"):
            run.open_span("x", devices=("gpu7",))
    with pytest.raises(UsageError, match="has ended"):
        with run.trial("late"):
            pass


def test_identity_is_the_arch_or_the_file_hash(tmp_path):
    f = tmp_path / "m.onnx"
    f.write_bytes(b"abc")
    assert identity_of(file=f) == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert identity_of(arch="|skip_connect~0|") == "|skip_connect~0|"
    with pytest.raises(UsageError):
        identity_of(arch="a", file=f)


def test_a_real_cpu_estimate_run_says_its_method_and_band(tmp_path):
    """Smoke: the CPU estimate over this process tree, sampled by the real thread at 20 Hz."""
    with analyzer.track("smoke", meter="estimate", hooks=TrackHooks(interval_s=0.05), store=False,
                        log=tmp_path / "smoke.jsonl", site=SiteRequest(pue=1.0, grid=100.0)) as run:
        with run.trial("busy"):
            x, t_end = 0, __import__("time").time() + 0.5
            while __import__("time").time() < t_end:
                x += 1
    r = run.result
    m = r.meters["cpu"]
    assert m["provenance"] == "estimated" and "estimated, not measured" in m["method"] and m["band"]
    assert r.total_energy_j > 0 and r.readings >= 5
    assert r.account.co2e_low_kg < r.account.co2e_kg < r.account.co2e_high_kg
    assert r.spans[0]["energy_j"] + sum(r.idle_j.values()) == pytest.approx(r.total_energy_j, rel=1e-9)
    assert r.tracker["tracker_cpu_s"] >= 0 and r.tracker["late_ticks"] >= 0
    recs = read_log(tmp_path / "smoke.jsonl")
    assert recs[0]["k"] == "start" and recs[-1]["k"] == "end" and math.isfinite(recs[-1]["t"])


class FakeNvml:
    """Two GPUs on a fake clock: NVML 0 draws 300 W with only us on it; NVML 1 draws 100 W, shared with another
    process (pid 999999 at 10% SM utilisation beside our 30%)."""

    def __init__(self, clock):
        self.clock = clock

    def nvmlInit(self):
        pass

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        return int((300.0 if h == 0 else 100.0) * self.clock() * 1000)

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        import os
        from types import SimpleNamespace

        return [SimpleNamespace(pid=os.getpid())] + ([SimpleNamespace(pid=999999)] if h == 1 else [])

    def nvmlDeviceGetProcessUtilization(self, h, since_us):
        import os
        from types import SimpleNamespace

        return [SimpleNamespace(pid=os.getpid(), smUtil=30), SimpleNamespace(pid=999999, smUtil=10)]


def test_gpus_are_selected_and_attributed_as_measure_does(tmp_path, clock):
    from analyzer.measure.track_meters import track_meters

    meters, notes = track_meters("auto", env={"CUDA_VISIBLE_DEVICES": "1,0"}, nvml=FakeNvml(clock))
    assert set(meters) == {"gpu0", "gpu1", "cpu"}
    assert meters["gpu0"].attribution.startswith("CUDA_VISIBLE_DEVICES=1,0: the run's device 0 is NVML GPU 1")
    assert "process tree" in meters["gpu0"].attribution and "whole GPU" in meters["gpu1"].attribution
    with tracked(tmp_path, clock, meters) as run:
        with run.trial("on-gpu1", devices=("gpu1",)):
            step(run, clock, 10.0, 10)
    r = run.result
    assert r.energy_j["gpu1"] == pytest.approx(3000.0)  # NVML 0: 300 W x 10 s, all ours
    assert r.energy_j["gpu0"] == pytest.approx(100.0 * 10 * 0.75)  # NVML 1: our tree's 30 of 40 SM-utilisation points
    assert r.spans[0]["energy_j_by_meter"]["gpu1"] == pytest.approx(3000.0)
    assert r.spans[0]["energy_j_by_meter"]["gpu0"] == 0.0 and r.idle_j["gpu0"] == pytest.approx(750.0)  # declared gpu1 only


def test_a_store_that_is_not_sound_is_a_note_and_the_run_goes_on(tmp_path, clock):
    bad = tmp_path / "s.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    with tracked(tmp_path, clock, {"cpu": watts(1.0, clock)}) as run:
        step(run, clock, 2.0)
    assert run.result.energy_j["cpu"] == pytest.approx(2.0)
    assert any(n.startswith("results store not used") for n in run.result.notes)
    assert bad.read_bytes() == b"not a database at all" * 100  # never written over
    with pytest.raises(UsageError, match="search_run"):
        analyzer.load_run("search", store=bad)


def test_trials_join_candidates_by_identity(tmp_path, clock):
    from analyzer.account.tracked_run import by_identity, evaluation_key

    f = tmp_path / "cand.onnx"
    f.write_bytes(b"abc")
    with tracked(tmp_path, clock, {"cpu": watts(10.0, clock)}) as run:
        for arch in ("|a~0|", "|b~0|", "|a~0|"):  # a candidate trained twice (two budgets)
            with run.trial(arch, arch=arch):
                step(run, clock, 1.0)
        with run.trial("from-file", file=f):
            step(run, clock, 2.0)
    rows = by_identity(run.result)
    assert rows["|a~0|"]["trials"] == 2 and rows["|a~0|"]["energy_j"] == pytest.approx(20.0)
    key = evaluation_key("", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert rows[key]["energy_j"] == pytest.approx(20.0) and evaluation_key("|b~0|", "ff") == "|b~0|"


def test_a_meter_that_cannot_read_at_the_start_leaves_no_run(tmp_path, clock):
    from analyzer.errors import MeterUnavailable

    with pytest.raises(MeterUnavailable, match="went away"):
        with tracked(tmp_path, clock, {"bad": Breaks(clock, 0)}):
            pass
    assert not (tmp_path / "run.jsonl").exists()
