"""CodeCarbon's emissions.csv both ways, Zeus-style windows as calibration input, and `calibrate --measure`."""

import csv
import io
import json
from pathlib import Path

import pytest

from analyzer.errors import UsageError
from analyzer.measure.interchange import CODECARBON_COLUMNS, codecarbon_rows, read_codecarbon, read_zeus, write_codecarbon
from analyzer.measure.record import Measurement
from analyzer.units import J_PER_KWH
from cli_helpers import cli

DATA = Path(__file__).parents[1] / "data" / "interchange"
ROOT = Path(__file__).resolve().parents[2]


def _measurement(**kw) -> Measurement:
    base = dict(model="/m/resnet18.onnx", sha256="ab" * 32, backend="onnxruntime", batch=8, provider="CUDAExecutionProvider",
                threads=None, opt_level="all", runtime_version="onnxruntime 1", cpu_model="Xeon", session_creation_s=0.1,
                latency_s_median=0.004, latency_s_p10=0.004, latency_s_p90=0.004, latency_s_ci95=(0.004, 0.004), ci_rel=0.01,
                converged=True, iterations=100, warmup_iterations=10, throughput_per_s=2000, energy_j_per_item=0.25,
                dynamic_energy_j_per_item=0.2, idle_power_w=60, avg_power_w=500, energy_source="nvml:gpu0 (NVIDIA H100)",
                measured_at="2026-12-02T12:00:00+00:00", energy_provenance="measured")
    return Measurement(**{**base, **kw})


def test_codecarbon_export_has_its_columns_and_reads_back(tmp_path):
    est = _measurement(model="/m/mobilenet_v2.onnx", batch=1, energy_source="estimate:cpu+dram (2 vCPU, Xeon)",
                       energy_provenance="estimated", energy_parts_j_per_item={"cpu": 0.02, "dram": 0.001},
                       energy_j_per_item=0.021)
    text = write_codecarbon(codecarbon_rows([_measurement(), est, _measurement(energy_j_per_item=None)], 400.0))
    header = next(csv.reader(io.StringIO(text)))
    assert tuple(header) == CODECARBON_COLUMNS
    (tmp_path / "emissions.csv").write_text(text)
    runs = read_codecarbon(tmp_path / "emissions.csv")
    assert len(runs) == 2  # the measurement without energy is not exported
    gpu, cpu = runs
    assert gpu.gpu_energy_j == pytest.approx(0.25 * 8) and gpu.energy_j == pytest.approx(2.0) and gpu.tracking_mode == "machine"
    assert gpu.emissions_kg == pytest.approx(2.0 / J_PER_KWH * 400 / 1000) and gpu.experiment_id == "resnet18@batch8"
    assert (cpu.cpu_energy_j, cpu.ram_energy_j) == (pytest.approx(0.02), pytest.approx(0.001)) and cpu.tracking_mode == "process"
    no_grid = codecarbon_rows([_measurement()])[0]
    assert no_grid["emissions"] == "" and no_grid["emissions_rate"] == ""


def test_codecarbon_recorded_file_and_malformed(tmp_path):
    runs = read_codecarbon(DATA / "codecarbon-example-2.4.3rc1.csv")
    assert len(runs) == 28 and runs[0].cpu_model == "Apple M1"
    assert runs[0].energy_j == pytest.approx(0.0004047892176375 * J_PER_KWH) and runs[0].duration_s == pytest.approx(355.46638011932373)
    assert runs[4].energy_j is None and runs[4].gpu_energy_j == pytest.approx(5.41164398111679e-07 * J_PER_KWH)
    (tmp_path / "bad.csv").write_text("timestamp,duration\n2024-01-01,3\n")
    with pytest.raises(UsageError, match="not a CodeCarbon emissions.csv: no column cpu_energy, energy_consumed"):
        read_codecarbon(tmp_path / "bad.csv")
    r = cli("import-codecarbon", DATA / "codecarbon-example-2.4.3rc1.csv")
    assert r.exit_code == 0 and "1457 J" in r.stdout and "n/a (empty in the file)" in r.stdout


def test_zeus_windows_and_malformed(tmp_path):
    rows = read_zeus(DATA / "zeus-h100-fp32-eager.json")
    assert rows[0][:2] == ("resnet18", 32) and rows[0][2] == pytest.approx(0.0021406) and rows[0][3] == pytest.approx(0.0341)
    (tmp_path / "z.json").write_text(json.dumps({"model": "m", "batch": 1, "time": 1.0, "gpu_energy": {"0": 5}}))
    with pytest.raises(UsageError, match="need model, batch, iterations and Zeus's time and gpu_energy"):
        read_zeus(tmp_path / "z.json")
    (tmp_path / "z.json").write_text("{not json")
    with pytest.raises(UsageError, match="not JSON"):
        read_zeus(tmp_path / "z.json")


def test_calibrate_takes_zeus_windows(tmp_path):
    out = tmp_path / "h.toml"
    r = cli("calibrate", "--hardware", "h100-sxm", "--zeus", DATA / "zeus-h100-fp32-eager.json", "--models", ROOT / "models",
            "--runtime", "eager", "--out", out, "--format", "json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert len(res["fitted_on"]) == 3 and res["energy_median_abs_error"] is not None and out.is_file()


def test_calibrate_measures_then_fits_and_never_fits_an_estimate(tmp_path):
    out = tmp_path / "cpu.toml"
    r = cli("calibrate", "--hardware", "ci-cpu-2vcpu", "--measure", ROOT / "models" / "mobilenet_v2.onnx",
            "--measure", ROOT / "models" / "mnasnet1_0.onnx", "--measure", ROOT / "models" / "efficientnet_b0.onnx", "--meter", "estimate", "--max-time", "0.5", "--out", out,
            "--format", "json")
    kept = tmp_path / "cpu.measurements.jsonl"
    assert kept.is_file() and len(kept.read_text().splitlines()) == 3
    assert "estimated energy" in r.stderr and "their energy is not" in r.stderr
    if r.exit_code == 2:  # three half-second measurements on a shared 2-vCPU machine can fail the fit's own check
        assert "leave-one-out" in r.stderr and not out.exists(), r.output
    else:
        assert r.exit_code == 0, r.output
        res = json.loads(r.stdout)
        assert len(res["fitted_on"]) == 3 and res["energy_median_abs_error"] is None
        assert "Intel" in res["measured_on"] or "AMD" in res["measured_on"]  # measured here, on this CPU
    six = [ROOT / "models" / "mobilenet_v2.onnx"] * 6
    r = cli("calibrate", "--hardware", "ci-cpu-2vcpu", *[a for p in six for a in ("--measure", p)], "--out", out)
    assert r.exit_code == 2 and "give 1 to 5" in r.stderr
