"""Every meter's parser on recorded outputs (tests/data/meters/SOURCES.md says where each came from), a
malformed one giving a one-line MeterUnavailable; the estimate; attribution; auto selection on this machine."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from analyzer.errors import MeterUnavailable, UsageError
from analyzer.measure import attribution, estimate, sysfs, tools
from analyzer.measure.meters import NvmlMeter, measure_energy
from analyzer.measure.sampling import PowerIntegrator, StreamMeter
from analyzer.measure.select import auto_order, meter_from_spec
from analyzer.profiles.estimates import estimate_coefficients
from fakes import FakeClock, FakeNvml

DATA = Path(__file__).parents[1] / "data" / "meters"


def one_line(e: Exception) -> str:
    text = str(e)
    assert "\n" not in text and "Traceback" not in text
    return text


# ---- AMD: rocm-smi ------------------------------------------------------------------------------------------


def test_rocm_smi_recordings_parse_to_joules():
    rocm5 = tools.parse_rocm_smi_energy((DATA / "rocm-smi/mi250-rocm5-a.json").read_text())
    assert rocm5 == {0: pytest.approx(962825096.2974429), 1: pytest.approx(962825096.2974429)}
    rocm6 = tools.parse_rocm_smi_energy((DATA / "rocm-smi/mi250-rocm6.json").read_text())
    assert rocm6 == {0: pytest.approx(4275228873.2992185)}


@pytest.mark.parametrize("text", [(DATA / "rocm-smi/malformed-truncated.json").read_text(), "", '{"system": {}}'])
def test_rocm_smi_malformed_is_one_line(text):
    with pytest.raises(MeterUnavailable) as e:
        tools.parse_rocm_smi_energy(text)
    assert one_line(e.value).startswith("rocm-smi:")


def test_rocm_smi_meter_over_two_snapshots():
    outputs = iter([DATA / "rocm-smi/mi250-rocm5-a.json"] * 2 + [DATA / "rocm-smi/mi250-rocm5-b-synthetic.json"])
    meter = tools.RocmSmiMeter((0, 1), run=lambda cmd: next(outputs).read_text())
    assert meter.source == "rocm-smi:gpu0+gpu1"
    a, b = meter.snapshot(), meter.snapshot()
    assert meter.joules_between(a, b) == pytest.approx(2 * 2 * 560, rel=1e-4)  # 2 GCDs, 2 s, 560 W
    with pytest.raises(MeterUnavailable, match="no energy counter for GPU 3"):
        tools.RocmSmiMeter((3,), run=lambda cmd: (DATA / "rocm-smi/mi250-rocm6.json").read_text())


# ---- Apple: powermetrics -------------------------------------------------------------------------------------


def test_powermetrics_m1_and_m4_recordings():
    m1 = tools.parse_powermetrics((DATA / "powermetrics/m1-macos12-codecarbon.txt").read_text())
    assert m1 == [(pytest.approx(0.10451), pytest.approx(0.947 + 0.153)), (pytest.approx(0.10481), pytest.approx(0.420 + 0.067))]
    m4 = tools.parse_powermetrics((DATA / "powermetrics/m4max-macos15-powermetrics-go.txt").read_text())
    assert m4 == [(pytest.approx(5.02196), pytest.approx(0.954 + 0.028))]  # GPU Power counted once, not twice


@pytest.mark.parametrize("text", [(DATA / "powermetrics/malformed-no-power-lines.txt").read_text(), "powermetrics: must be invoked as the superuser\n"])
def test_powermetrics_malformed_is_one_line(text):
    with pytest.raises(MeterUnavailable) as e:
        tools.parse_powermetrics(text)
    assert one_line(e.value).startswith("powermetrics:")


def test_powermetrics_stream_meter_sums_samples():
    meter = tools.powermetrics_meter(lines=[])
    a = meter.snapshot()
    meter.consume((DATA / "powermetrics/m1-macos12-codecarbon.txt").read_text().splitlines())
    b = meter.snapshot()  # the second sample closes at the next header: one complete sample so far
    assert meter.joules_between(a, b) == pytest.approx(0.10451 * 1.100)


# ---- Jetson: tegrastats and INA3221 --------------------------------------------------------------------------


def test_tegrastats_recordings():
    orin = tools.parse_tegrastats_rails((DATA / "tegrastats/agx-orin-jp72-jetson-stats.txt").read_text())
    assert orin == {"VDD_GPU_SOC": 5.139, "VDD_CPU_CV": 3.268, "VIN_SYS_5V0": 5.5}
    assert tools.tegrastats_watts(orin) == (5.5, "rail VIN_SYS_5V0 (the module's input)")
    nano = tools.parse_tegrastats_rails((DATA / "tegrastats/nano-l4t32.txt").read_text())
    assert nano == {"POM_5V_IN": 2.545, "POM_5V_GPU": 0.0, "POM_5V_CPU": 0.549}
    assert tools.tegrastats_watts({"GPU": 1.155, "CPU": 0.385}) == (pytest.approx(1.54), "sum of rails CPU+GPU (no input rail)")


def test_tegrastats_malformed_and_meter():
    with pytest.raises(MeterUnavailable) as e:
        tools.parse_tegrastats_rails((DATA / "tegrastats/malformed-no-rails.txt").read_text())
    assert one_line(e.value).startswith("tegrastats:")
    meter = tools.tegrastats_meter(interval_ms=500, lines=[])
    a = meter.snapshot()
    meter.consume([(DATA / "tegrastats/nano-l4t32.txt").read_text()] * 4)
    assert meter.joules_between(a, meter.snapshot()) == pytest.approx(4 * 0.5 * 2.545)


def test_jetson_ina3221_hwmon_and_iio(tmp_path):
    clock = FakeClock()
    orin = sysfs.jetson_meter(DATA / "sysfs/jetson-orin/hwmon", tmp_path / "none", clock=clock, interval_s=None)
    assert orin.source == "jetson:ina3221 rail VIN_SYS_5V0 (the module's input)"
    a = orin.snapshot()
    clock.sleep(2.0)
    assert orin.joules_between(a, orin.snapshot()) == pytest.approx(2.0 * 5.5)
    rails = sysfs.ina3221_rails(tmp_path / "none", DATA / "sysfs/jetson-nano-iio/ina3221x")
    assert sorted(rails) == ["POM_5V_CPU", "POM_5V_GPU", "POM_5V_IN"] and sysfs.rail_watts(rails["POM_5V_IN"]) == 2.545
    with pytest.raises(MeterUnavailable, match="no Jetson power rails"):
        sysfs.jetson_meter(tmp_path, tmp_path)


# ---- hwmon: Intel GPUs --------------------------------------------------------------------------------------


def test_intel_gpu_hwmon_counters(tmp_path):
    for name, chip, start in (("xe-arc", "hwmon4", 1397215360), ("i915-dg2", "hwmon3", 2543117263)):
        root = tmp_path / name
        shutil.copytree(DATA / "sysfs" / name / "hwmon", root)
        meter = sysfs.hwmon_meter(root=root)
        assert meter.source.startswith(f"hwmon:{name[:2] if name.startswith('xe') else 'i915'} (energy1_input)")
        a = meter.snapshot()
        (root / chip / "energy1_input").write_text(str(start + 30_000_000))  # +30 J
        assert meter.joules_between(a, meter.snapshot()) == pytest.approx(30.0)


def test_hwmon_malformed_and_missing(tmp_path):
    with pytest.raises(MeterUnavailable) as e:
        sysfs.hwmon_meter(root=DATA / "sysfs/malformed-i915/hwmon")
    assert "not a number" in one_line(e.value)
    with pytest.raises(MeterUnavailable, match="chips here: acpitz, i915"):
        sysfs.hwmon_meter("amd_energy", root=DATA / "sysfs/i915-dg2/hwmon")


# ---- the CPU+DRAM estimate ------------------------------------------------------------------------------------


def test_proc_recordings_parse():
    a = estimate.parse_proc_stat_cpu_s((DATA / "proc/self-stat-1.txt").read_text(), 100)
    b = estimate.parse_proc_stat_cpu_s((DATA / "proc/self-stat-2.txt").read_text(), 100)
    assert (a, b) == (pytest.approx(0.03), pytest.approx(0.15))
    assert estimate.parse_proc_stat_cpu_s((DATA / "proc/pid1-stat.txt").read_text(), 100) > 0
    assert estimate.parse_status_rss_bytes((DATA / "proc/self-status.txt").read_text()) == 13496 * 1024
    for bad, fn in (("proc/self-stat-truncated.txt", lambda t: estimate.parse_proc_stat_cpu_s(t, 100)),
                    ("proc/self-stat-truncated.txt", estimate.parse_status_rss_bytes)):
        with pytest.raises(MeterUnavailable) as e:
            fn((DATA / bad).read_text())
        one_line(e.value)


def test_estimate_meter_formula_and_band():
    coeffs = estimate_coefficients()
    clock, cpu = FakeClock(), {"s": 0.0}
    meter = estimate.EstimateMeter(coeffs, "Intel(R) Xeon(R) Processor", 2, cpu_s=lambda: cpu["s"],
                                   rss_bytes=lambda: 2 * 1024**3, clock=clock)
    assert meter.provenance == "estimated" and "estimated, not measured" in meter.method and meter.band == (0.333, 3.0)

    def run():  # one item: 10 ms of wall time, all of it on one vCPU
        clock.sleep(0.010)
        cpu["s"] += 0.010

    e = measure_energy(run, meter, items_per_run=1, latency_s=0.010, clock=clock, sleep=clock.sleep)
    idle_w = 2 * 0.74 + 0.392 * 2
    assert e.idle_power_w == pytest.approx(idle_w)
    per_item = 0.010 * (idle_w + (3.5 - 0.74))
    assert e.energy_j_per_item == pytest.approx(per_item)
    assert e.dynamic_energy_j_per_item == pytest.approx(0.010 * (3.5 - 0.74))
    assert e.band_j_per_item == (pytest.approx(per_item * 0.333), pytest.approx(per_item * 3.0))
    assert e.parts_j_per_item["dram"] == pytest.approx(0.010 * 0.392 * 2) and e.provenance == "estimated"


def test_estimate_uses_a_parts_tdp_when_known():
    p = estimate.cpu_power(estimate_coefficients(), "AMD EPYC 7763 64-Core Processor")
    assert (p.max_w, p.min_w) == (pytest.approx(280 / 128), pytest.approx(0.1 * 280 / 128)) and "TDP 280 W" in p.basis
    p = estimate.cpu_power(estimate_coefficients(), "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz")
    assert (p.min_w, p.max_w) == (0.64, 3.97)  # a Cascade Lake without a TDP row: CCF's per-vCPU watts


def test_auto_on_this_machine_says_which_and_why():
    m = meter_from_spec("auto", "CPUExecutionProvider", 0)
    if Path("/sys/class/powercap").is_dir():
        pytest.skip("this machine has powercap: auto may pick RAPL")
    assert m.provenance == "estimated" and m.selection.startswith("meter auto picked estimate (unavailable before it: rapl:")
    assert auto_order("CUDAExecutionProvider") == ["jetson", "nvml"] and auto_order("ROCMExecutionProvider") == ["rocm-smi"]
    assert isinstance(meter_from_spec("rocm-smi", "cpu", 0), MeterUnavailable)
    with pytest.raises(UsageError, match="expected one of auto, rapl"):
        meter_from_spec("watts", "cpu", 0)


# ---- attribution ---------------------------------------------------------------------------------------------


def test_devices_from_cuda_visible_devices_and_slurm():
    assert attribution.physical_gpus([1], {"CUDA_VISIBLE_DEVICES": "2,3"})[0] == [3]
    assert attribution.physical_gpus([0], {"SLURM_JOB_GPUS": "4,5"})[0] == [4]
    assert attribution.physical_gpus([0], {"SLURM_STEP_GPUS": "6", "SLURM_JOB_GPUS": "4,5,6"})[0] == [6]
    assert attribution.physical_gpus([0], {"CUDA_VISIBLE_DEVICES": "GPU-8f1c"})[0] == ["GPU-8f1c"]
    assert attribution.physical_gpus([0, 1], {})[0] == [0, 1]
    with pytest.raises(MeterUnavailable, match="GPU 2 is not among CUDA_VISIBLE_DEVICES=0,1"):
        attribution.physical_gpus([2], {"CUDA_VISIBLE_DEVICES": "0,1"})


def test_mig_share_from_profile_names():
    assert attribution.mig_share("NVIDIA A100-SXM4-40GB MIG 3g.20gb")[0] == pytest.approx(3 / 7)
    assert attribution.mig_share("NVIDIA A30 MIG 2g.12gb")[0] == pytest.approx(2 / 4)
    assert attribution.mig_share("NVIDIA H100 80GB HBM3") is None


class SharedNvml(FakeNvml):
    """The pynvml calls SharedGpuMeter makes, answering with what a shared H100 reports: another process (pid 7)
    at 60% SM utilisation beside ours (pid 5) at 20%, energy advancing 700 J per snapshot pair."""

    def __init__(self):
        self.energy_mj = 0

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        self.energy_mj += 350_000
        return self.energy_mj

    def nvmlDeviceGetProcessUtilization(self, h, since_us):
        return [SimpleNamespace(pid=5, smUtil=20, timeStamp=since_us + 1), SimpleNamespace(pid=7, smUtil=60, timeStamp=since_us + 2)]

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return [SimpleNamespace(pid=5), SimpleNamespace(pid=7)]


def test_shared_gpu_is_narrowed_to_the_process_share():
    nvml = SharedNvml()
    inner = NvmlMeter(0, nvml=nvml)
    assert attribution.other_compute_pids(inner, {5}) == {7}
    meter = attribution.SharedGpuMeter(inner, pids={5}, clock_us=lambda: 1_000)
    a, b = meter.snapshot(), meter.snapshot()
    assert meter.joules_between(a, b) == pytest.approx(350 * 0.25)
    assert meter.attribution.startswith("process share 25.0% of the GPU energy")


def test_power_integrator_trapezoid():
    clock, watts = FakeClock(), iter([10.0, 10.0, 30.0])
    meter = PowerIntegrator(lambda: next(watts), "test", clock=clock, interval_s=None)
    a = meter.snapshot()
    clock.sleep(1.0)
    assert meter.joules_between(a, meter.snapshot()) == pytest.approx(20.0)
    assert isinstance(StreamMeter(tools.TegrastatsParser(0.1), "t", lines=[]).snapshot(), float)


def test_measure_reports_an_estimate_with_band_and_method():
    from cli_helpers import cli

    model = Path(__file__).resolve().parents[2] / "models" / "mobilenet_v2.onnx"
    r = cli("measure", model, "--max-time", "0.3", "--threads", "1", "--meter", "estimate", "--no-store")
    assert r.exit_code == 0, r.output
    assert "est." in r.stdout and "estimated CPU+DRAM energy (not measured)" in r.stdout and "band" in r.stdout
    assert "method: estimated, not measured: CPU J =" in r.stdout.replace("\n", " ")
