"""Measurement: statistics, the adaptive loop on recorded durations, energy meters on fake counters and
recorded replays, input synthesis, and the measure command on real ONNX Runtime sessions."""

import json
import os
import stat
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from analyzer.measure.inputs import embedding_bounds, synthesise
from analyzer.errors import MeterUnavailable
from analyzer.measure.meters import NvmlMeter, RaplMeter, ReplayMeter, measure_energy
from analyzer.measure.stats import median_ci, relative_half_width
from analyzer.measure.timing import measure_latency
from onnx_builders import init, model, vi
from cli_helpers import cli
from fakes import FakeClock


def test_median_ci_order_statistics():
    samples = list(range(1, 101))  # n = 100: ranks 50 -+ 1.96 x 10 / 2 -> 40 and 61
    assert median_ci(samples) == (40, 61)
    # 1..100 in time order is pure drift: the robust half-width is wider than the order statistics'
    assert relative_half_width(samples) > (61 - 40) / 2 / 50.5
    assert median_ci([3.0, 1.0, 2.0]) == (1.0, 3.0)  # too few samples: the full range


def test_adaptive_loop_converges_on_stable_durations():
    clock = FakeClock()
    rng = np.random.default_rng(0)
    durations = iter(0.010 * (1 + 0.01 * rng.standard_normal(100_000)))
    t = measure_latency(lambda: clock.sleep(next(durations)), max_time_s=30, target_ci=0.02, clock=clock)
    assert t.converged and t.ci_rel <= 0.02 and t.note == ""
    assert t.median_s == pytest.approx(0.010, rel=0.01)
    assert t.ci95_s[0] <= t.median_s <= t.ci95_s[1]


def test_adaptive_loop_says_why_when_budget_ends():
    clock = FakeClock()
    rng = np.random.default_rng(1)
    durations = iter(rng.lognormal(np.log(0.01), 1.0, 100_000))  # wildly noisy
    t = measure_latency(lambda: clock.sleep(next(durations)), max_time_s=2, target_ci=0.001, clock=clock)
    assert not t.converged and "raise --max-time" in t.note and t.ci_rel > 0.001


def _rapl_tree(root: Path, pkg_uj=1_000_000, dram_uj=500_000, max_range=2_000_000):
    for zone, name, uj in (("intel-rapl:0", "package-0", pkg_uj), ("intel-rapl:0:0", "core", 7), ("intel-rapl:0:1", "dram", dram_uj)):
        d = root / zone
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "energy_uj").write_text(f"{uj}\n")
        (d / "max_energy_range_uj").write_text(f"{max_range}\n")


def test_rapl_package_and_dram_with_wraparound(tmp_path):
    _rapl_tree(tmp_path)
    m = RaplMeter(tmp_path)
    assert m.source == "rapl:package-0+dram"  # core is inside the package: not added twice
    a = m.snapshot()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("1999999\n")
    (tmp_path / "intel-rapl:0:1" / "energy_uj").write_text("100\n")  # wrapped: 500000 -> max -> 100
    b = m.snapshot()
    assert m.joules_between(a, b) == pytest.approx((999_999 + (2_000_000 - 500_000 + 1 + 100)) / 1e6)


def test_rapl_missing_domains_and_permission(tmp_path, monkeypatch):
    with pytest.raises(MeterUnavailable, match="does not exist"):
        RaplMeter(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MeterUnavailable, match="no package or DRAM zones"):
        RaplMeter(tmp_path / "empty")
    _rapl_tree(tmp_path / "locked")
    energy = tmp_path / "locked" / "intel-rapl:0" / "energy_uj"
    energy.chmod(0)
    if os.geteuid() == 0:  # root reads any file: simulate the kernel's EACCES on this one path
        real = Path.read_text
        monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: (_ for _ in ()).throw(PermissionError(13, "denied"))
                            if self == energy else real(self, *a, **k))
    with pytest.raises(MeterUnavailable, match="permission denied"):
        RaplMeter(tmp_path / "locked")
    energy.chmod(stat.S_IRUSR | stat.S_IWUSR)


class RecordedNvml:
    """A replay of pynvml's API: total energy (mJ) recorded on an H100 at 123 W idle then 700 W busy,
    read at the fake clock's time. NvmlMeter's real code calls these functions."""

    def __init__(self, clock, samples):
        self.clock, self.samples = clock, samples

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        t = self.clock()
        for (ta, ea), (tb, eb) in zip(self.samples, self.samples[1:]):
            if ta <= t <= tb:
                return int(ea + (eb - ea) * (t - ta) / (tb - ta))
        return self.samples[-1][1]


def test_nvml_through_real_code_with_recorded_counter():
    clock = FakeClock()
    # cumulative mJ: 123 W for 2 s (idle), then 700 W
    nvml = RecordedNvml(clock, [(0.0, 5_000_000), (2.0, 5_246_000), (100.0, 5_246_000 + 700 * 98 * 1000)])
    meter = NvmlMeter(0, nvml=nvml)
    assert meter.source == "nvml:gpu0 (NVIDIA H100 80GB HBM3)"

    def run():  # one batch of 32 takes 10 ms
        clock.sleep(0.010)

    e = measure_energy(run, meter, items_per_run=32, latency_s=0.010, clock=clock, sleep=clock.sleep)
    assert e.idle_power_w == pytest.approx(123, rel=1e-3)
    assert e.avg_power_w == pytest.approx(700, rel=1e-3)
    assert e.energy_j_per_item == pytest.approx(700 * 0.010 / 32, rel=1e-3)
    assert e.dynamic_energy_j_per_item == pytest.approx((700 - 123) * 0.010 / 32, rel=1e-3)


def test_nvml_unavailable_says_why():
    class Broken(RecordedNvml):
        def nvmlInit(self):
            raise RuntimeError("NVML Shared Library Not Found")

    with pytest.raises(MeterUnavailable, match="Shared Library Not Found"):
        NvmlMeter(0, nvml=Broken(FakeClock(), [(0, 0), (1, 1)]))


def test_replay_meter_is_deterministic(tmp_path):
    csv = tmp_path / "rec.csv"
    csv.write_text("t_s,energy_j\n0,0\n1,50\n3,350\n")  # 50 W idle, then 150 W
    clock = FakeClock()
    meter = ReplayMeter.from_csv(csv, clock)
    e = measure_energy(lambda: clock.sleep(0.1), meter, items_per_run=4, latency_s=0.1, idle_s=1.0, clock=clock, sleep=clock.sleep)
    assert e.iterations == 6 and e.window_s == pytest.approx(0.6)
    assert e.energy_j_per_item == pytest.approx(150 * 0.6 / 24)
    assert e.dynamic_energy_j_per_item == pytest.approx((150 - 50) * 0.6 / 24)
    assert e.source == "replay:rec.csv"


def _bert_like(tmp_path, vocab=1000):
    nodes = [helper.make_node("Cast", ["ids"], ["ids64"], to=onnx.TensorProto.INT64),
             helper.make_node("Gather", ["emb", "ids64"], ["x"]),
             helper.make_node("ReduceMean", ["x"], ["y"], axes=[2], keepdims=0)]
    m = model(nodes, [vi("ids", ["batch", "seq"], onnx.TensorProto.INT32)], [vi("y", None)],
              [init("emb", np.random.default_rng(0).standard_normal((vocab, 16)).astype(np.float32))], opset=17)
    path = tmp_path / "bertish.onnx"
    onnx.save(m, str(path))
    return path


def test_token_ids_bounded_by_embedding(tmp_path):
    from analyzer.load.onnx_graph import load_onnx

    loaded = load_onnx(_bert_like(tmp_path, vocab=37), {"seq": 64}, 4)
    assert embedding_bounds(loaded.graph) == {"ids": 37}
    feeds, notes = synthesise(loaded.graph)
    assert feeds["ids"].dtype == np.int32 and feeds["ids"].shape == (4, 64)
    assert feeds["ids"].max() < 37 and not notes




def _tiny_cnn(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])]
    m = model(nodes, [vi("x", ["N", 8, 32, 32])], [vi("y", None)], [init("w", np.ones((16, 8, 3, 3), np.float32) * 0.01)])
    path = tmp_path / "tiny.onnx"
    onnx.save(m, str(path))
    return path


def test_measure_command_real_session(tmp_path):
    store = tmp_path / "m.jsonl"
    r = cli("measure", _tiny_cnn(tmp_path), "--batch", "1,4", "--max-time", "3", "--threads", "1", "--meter", "none",
            "--store", store, "--format", "json")
    assert r.exit_code == 0, r.output
    recs = json.loads(r.stdout)
    assert [m["batch"] for m in recs] == [1, 4]
    for m in recs:
        assert m["latency_s_ci95"][0] <= m["latency_s_median"] <= m["latency_s_ci95"][1]
        assert m["throughput_per_s"] == pytest.approx(m["batch"] / m["latency_s_median"])
        assert m["energy_j_per_item"] is None and m["energy_source"].startswith("unavailable:")
        assert m["provider"] == "CPUExecutionProvider" and m["iterations"] >= 30 and m["sha256"]
    from analyzer.measure.store import read

    assert [m.batch for m in read(store)] == [1, 4]


def test_measure_with_replay_meter_and_npz(tmp_path):
    rec = tmp_path / "rec.csv"
    rec.write_text("t_s,energy_j\n0,0\n1000000,50000000\n")  # a steady 50 W, far into the future
    path = _tiny_cnn(tmp_path)
    np.savez(tmp_path / "in.npz", x=np.ones((2, 8, 32, 32), np.float32))
    r = cli("measure", path, "--batch", "2", "--max-time", "2", "--meter", f"replay:{rec}", "--inputs", tmp_path / "in.npz",
            "--no-store", "--format", "json")
    assert r.exit_code == 0, r.output
    (m,) = json.loads(r.stdout)
    assert m["energy_source"] == "replay:rec.csv" and m["idle_power_w"] == pytest.approx(50, rel=0.05)


def test_measure_bad_input(tmp_path):
    good = _tiny_cnn(tmp_path)
    r = cli("measure", good, "--provider", "cuda", "--no-store")
    assert r.exit_code == 2 and "provider 'cuda' is not available" in r.stderr and "cpu" in r.stderr
    r = cli("measure", good, "--batch", "0", "--no-store")
    assert r.exit_code == 2 and "every batch must be from 1 to 1,048,576" in r.stderr
    r = cli("measure", good, "--batch", "x", "--no-store")
    assert r.exit_code == 2 and "positive integers" in r.stderr
    # ORT cannot load: an op in a domain ORT does not implement (our profiler can still shape it)
    odd = tmp_path / "odd.onnx"
    onnx.save(model([helper.make_node("Foo", ["x"], ["y"], domain="com.acme")], [vi("x", [1, 2])], [vi("y", [1, 2])],
                    extra_opsets={"com.acme": 1}, value_info=[vi("y", [1, 2])]), str(odd))
    r = cli("measure", odd, "--no-store", "--max-time", "1")
    assert r.exit_code == 1 and "onnxruntime cannot load the model" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # inputs that cannot be synthesised: a string input
    s = tmp_path / "str.onnx"
    onnx.save(model([helper.make_node("Identity", ["x"], ["y"])], [vi("x", [1], onnx.TensorProto.STRING)],
                    [vi("y", [1], onnx.TensorProto.STRING)]), str(s))
    r = cli("measure", s, "--no-store")
    assert r.exit_code == 1 and "cannot synthesise dtype string" in r.stderr
    r = cli("measure", good, "--inputs", tmp_path / "none.npz", "--no-store", "--batch", "1")
    assert r.exit_code == 2 and "no such file" in r.stderr


@pytest.mark.torch
def test_torch_backend_cpu_real_module():
    from conftest import require_torch

    torch = require_torch()
    from analyzer.measure.torch_backend import TorchRun, measure_torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(8, 10))
    rec = ReplayMeter([(0.0, 0.0), (1e9, 40e9)], clock=__import__("time").perf_counter)  # a steady 40 W
    m = measure_torch(net, (torch.randn(4, 3, 16, 16),), meter=rec, name="tiny", settings=TorchRun(max_time_s=2, threads=1))
    assert m.backend == "torch" and m.batch == 4 and m.provider == "cpu" and m.opt_level == "eager"
    assert m.latency_s_ci95[0] <= m.latency_s_median <= m.latency_s_ci95[1]
    assert m.avg_power_w == pytest.approx(40, rel=0.02) and m.energy_j_per_item > 0
    with pytest.raises(Exception, match="CUDA graphs need a CUDA device"):
        measure_torch(net, (torch.randn(4, 3, 16, 16),), settings=TorchRun(cuda_graphs=True))
    with pytest.raises(Exception, match="the module fails on these inputs"):
        measure_torch(net, (torch.randn(4, 5, 16, 16),), meter=None, settings=TorchRun(max_time_s=1))


@pytest.mark.torch
def test_torch_backend_measures_a_training_step():
    """phase='train': forward, backward and the optimizer's step, which change the weights; a step costs more
    than a forward of the same batch."""
    from conftest import require_torch

    torch = require_torch()
    from analyzer.measure.torch_backend import TorchRun, measure_torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(16, 10))
    x = torch.randn(8, 3, 32, 32)
    before = net[0].weight.detach().clone()
    rec = ReplayMeter([(0.0, 0.0), (1e9, 30e9)], clock=__import__("time").perf_counter)
    train = measure_torch(net, (x,), meter=rec, name="tiny",
                          settings=TorchRun(phase="train", optimizer="adam", precision="bf16", max_time_s=2, threads=1))
    assert not torch.equal(before, net[0].weight.detach())  # the optimizer stepped
    assert train.opt_level == "train:adam:bf16" and train.batch == 8 and train.energy_j_per_item > 0
    infer = measure_torch(net, (x,), meter=None, settings=TorchRun(max_time_s=2, threads=1))
    assert train.latency_s_median > infer.latency_s_median
    for kw, says in (({"optimizer": "lion"}, "optimizer 'lion'"), ({"precision": "fp16"}, "needs a CUDA device"),
                     ({"precision": "int8"}, "precision 'int8'")):
        with pytest.raises(Exception, match=says):
            measure_torch(net, (x,), meter=None, settings=TorchRun(phase="train", max_time_s=1, **kw))
    with pytest.raises(Exception, match="no trainable parameters"):
        measure_torch(torch.nn.ReLU(), (x,), meter=None, settings=TorchRun(phase="train", max_time_s=1))


def test_block_ci_widens_under_drift():
    from analyzer.measure.stats import median_ci, robust_median_ci

    steady = list(np.random.default_rng(0).normal(10, 0.1, 400))
    drifting = [x + 0.004 * i for i, x in enumerate(steady)]  # slow drift: samples are not independent
    lo, hi = median_ci(drifting)
    rlo, rhi = robust_median_ci(drifting)
    assert rlo <= lo and rhi >= hi and (rhi - rlo) > 1.5 * (hi - lo)


def test_fleet_task_on_a_node_without_the_meter_keeps_its_latencies(shipped):
    """A fleet node with no such meter (RAPL where /sys/class/powercap is absent or unreadable) measures latency and
    says why its energy is unavailable; closing the absent meter must not raise (it called .close() on the
    MeterUnavailable and the whole task failed with AttributeError)."""
    import pytest

    from analyzer.measure.select import meter_from_spec

    if not isinstance(meter_from_spec("rapl", "CPUExecutionProvider", 0), Exception):
        pytest.skip("this machine has RAPL: the node is not meter-less")
    from analyzer.engine.fleet import measure_task

    data = shipped["mobilenet_v2"].read_bytes()
    out = measure_task("mobilenet_v2", data, [1], "cpu", {"meter": "rapl", "max_time_s": 0.2, "warmup": 1, "repeats": 3})
    assert out["errors"] == [] and len(out["records"]) == 1
    rec = out["records"][0]
    assert rec["latency_s_median"] > 0 and rec["energy_source"].startswith("unavailable: ")
