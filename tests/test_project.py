"""Projection: closed-form roofline on single ops, fusion, 2:4, monotonicity, calibration recovering known
parameters, and the project/calibrate commands."""

import json

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from analyzer import profile_onnx
from analyzer.calibrate import Observation, calibrate
from analyzer.profiles import load_profiles, projection_defaults
from analyzer.project import project, resolve_params
from onnx_builders import init, model, vi
from cli_helpers import cli

SYNTH = '''name = "synth"
title = "Synthetic accelerator with round numbers"
category = "gpu"
embodied_method = "per card"
memory_gb = { value = 16, source = "test", year = 2026, kind = "estimated" }
memory_bandwidth_gbps = { value = 1000, source = "test", year = 2026, kind = "datasheet" }
tdp_w = { value = 110, source = "test", year = 2026, kind = "datasheet" }
busy_power_w = { value = 110, source = "test", year = 2026, kind = "measured" }
memory_bound_power_w = { value = 60, source = "test", year = 2026, kind = "measured" }
idle_w = { value = 10, source = "test", year = 2026, kind = "measured" }
embodied_co2e_kg = { value = 100, source = "test", year = 2026, kind = "estimated" }
lifetime_years = { value = 4, source = "test", year = 2026, kind = "estimated" }
[peak_tflops]
fp32 = { value = 10, source = "test", year = 2026, kind = "datasheet" }
fp16 = { value = 100, source = "test", year = 2026, kind = "datasheet" }
[peak_tflops_sparse]
fp16 = { value = 200, source = "test", year = 2026, kind = "datasheet" }
[projection]
efficiency_gemm = { value = 1.0, source = "test", year = 2026, kind = "measured" }
efficiency_attention = { value = 1.0, source = "test", year = 2026, kind = "measured" }
efficiency_depthwise = { value = 1.0, source = "test", year = 2026, kind = "measured" }
efficiency_vector = { value = 1.0, source = "test", year = 2026, kind = "measured" }
memory_efficiency = { value = 1.0, source = "test", year = 2026, kind = "measured" }
overhead_eager_s = { value = 1e-5, source = "test", year = 2026, kind = "measured" }
overhead_graph_s = { value = 1e-6, source = "test", year = 2026, kind = "measured" }
overhead_ort_s = { value = 5e-6, source = "test", year = 2026, kind = "measured" }
overhead_power_fraction = { value = 0.0, source = "test", year = 2026, kind = "measured" }
'''


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    d = tmp_path_factory.mktemp("profiles")
    (d / "hardware").mkdir()
    (d / "hardware" / "synth.toml").write_text(SYNTH)
    return d, load_profiles((d,)).get("hardware", "synth")


def _profile(tmp_path, nodes, inputs, inits=(), name="m.onnx", **kw):
    path = tmp_path / name
    onnx.save(model(nodes, inputs, [vi(nodes[-1].output[0], None)], list(inits)), str(path))
    return profile_onnx(path, per_op=True, **kw)


def _run(prof, hw, dtype="fp32", runtime="eager", **kw):
    params = resolve_params(hw, dtype, runtime, projection_defaults())
    return project(prof, hw, params, runtime, dtype, pue=kw.pop("pue", 1.0), grid_gco2e_per_kwh=kw.pop("grid", 500.0), **kw)


def test_compute_bound_gemm(tmp_path, synth):
    _, hw = synth
    n = 1024
    prof = _profile(tmp_path, [helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("a", [n, n]), vi("b", [n, n])])
    r = _run(prof, hw)
    compute = 2 * n**3 / 10e12  # fp32 peak x efficiency 1
    assert r.latency_s == pytest.approx(compute + 1e-5)
    assert r.bound["compute"] == 1.0 and r.basis == "datasheet"
    assert prof.batch == n  # the leading dim of the first input is the batch: energy is per item
    assert r.energy_j_per_item == pytest.approx(110 * (compute + 1e-5) / n)
    half = _run(prof, hw, dtype="fp16")  # tensor-unit peak 10x, bytes halved
    assert half.latency_s == pytest.approx(2 * n**3 / 100e12 + 1e-5)


def test_memory_bound_elementwise(tmp_path, synth):
    _, hw = synth
    prof = _profile(tmp_path, [helper.make_node("Add", ["a", "b"], ["y"])], [vi("a", [4096, 4096]), vi("b", [4096, 4096])])
    r = _run(prof, hw)
    memory = 3 * 4096 * 4096 * 4 / 1000e9
    assert r.latency_s == pytest.approx(memory + 1e-5) and r.bound["memory"] == 1.0
    assert r.energy_j_per_item == pytest.approx(60 * (memory + 1e-5) / 4096)
    # grid and PUE: CO2e = J x PUE / 3.6e6 x g/kWh
    r2 = _run(prof, hw, pue=1.5, grid=400.0)
    assert r2.co2e_g_per_item == pytest.approx(r2.energy_j_per_item * 1.5 / 3.6e6 * 400)
    assert r2.co2e_kg_per_million == pytest.approx(r2.co2e_g_per_item * 1000)


def test_overhead_bound_tiny_op_and_runtimes(tmp_path, synth):
    _, hw = synth
    prof = _profile(tmp_path, [helper.make_node("Relu", ["a"], ["y"])], [vi("a", [8])])
    eager, graph = _run(prof, hw, runtime="eager"), _run(prof, hw, runtime="graph")
    assert eager.bound["overhead"] == 1.0 and eager.latency_s == pytest.approx(1e-5 + 64 / 1000e9)
    assert graph.latency_s == pytest.approx(1e-6 + 64 / 1000e9)
    assert eager.energy_j_per_item == pytest.approx(10 * eager.latency_s / 8)  # idle + 0 x (busy - idle), 8 items


def test_ort_fuses_activation_into_conv(tmp_path, synth):
    _, hw = synth
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])]
    prof = _profile(tmp_path, nodes, [vi("x", [1, 16, 32, 32])], [init("w", np.ones((16, 16, 3, 3), np.float32))])
    eager, ort = _run(prof, hw, runtime="eager"), _run(prof, hw, runtime="ort")
    relu = next(n for n in prof.per_op if n.op_type == "Relu")
    # eager: conv + 10 us, relu + 10 us; ort: conv + 5 us, relu fused into the conv kernel
    assert eager.latency_s - ort.latency_s == pytest.approx(max(relu.bytes / 1000e9, relu.flops / 10e12) + 2e-5 - 5e-6)


def test_two_four_speeds_up_only_supporting_hardware(tmp_path, synth):
    _, hw = synth
    w = np.ones((512, 512), np.float32)
    w.reshape(128, 4, 512)[:, :2, :] = 0  # 2:4 along K
    prof = _profile(tmp_path, [helper.make_node("MatMul", ["a", "w"], ["y"])], [vi("a", [4096, 512])], [init("w", w)])
    assert prof.nm_sparsity == 1.0
    dense = profile_onnx(tmp_path / "m.onnx", per_op=True, scan_sparsity=False)  # sparsity unknown -> no speed-up
    fp16, fp16_dense = _run(prof, hw, dtype="fp16"), _run(dense, hw, dtype="fp16")
    assert fp16.latency_s < fp16_dense.latency_s
    fp32, fp32_dense = _run(prof, hw), _run(dense, hw)  # no fp32 sparse peak: no speed-up
    assert fp32.latency_s == pytest.approx(fp32_dense.latency_s)
    assert fp32.potential_unstructured_savings > 0  # zeros reported as potential, not realised


@settings(max_examples=30, deadline=None)
@given(bw=st.floats(10, 1e4), factor=st.floats(1.0, 10.0), pue=st.floats(1.0, 3.0), dpue=st.floats(0.0, 1.0))
def test_monotonic(tmp_path_factory, synth, bw, factor, pue, dpue):
    d, hw = synth
    from dataclasses import replace

    from analyzer.profiles import Sourced

    tmp = tmp_path_factory.mktemp("mono")
    prof = _profile(tmp, [helper.make_node("Add", ["a", "b"], ["c"]), helper.make_node("MatMul", ["c", "b"], ["y"])],
                    [vi("a", [256, 256]), vi("b", [256, 256])])
    slow = replace(hw, memory_bandwidth_gbps=Sourced(bw, "t", 2026, "datasheet"))
    fast = replace(hw, memory_bandwidth_gbps=Sourced(bw * factor, "t", 2026, "datasheet"))
    assert _run(prof, fast).latency_s <= _run(prof, slow).latency_s
    assert _run(prof, hw, pue=pue + dpue).co2e_g_per_item >= _run(prof, hw, pue=pue).co2e_g_per_item


def test_calibration_recovers_known_parameters(tmp_path, synth):
    _, hw = synth
    truth = {"efficiency_gemm": 0.6, "efficiency_attention": 0.3, "efficiency_depthwise": 0.05, "efficiency_vector": 0.01,
             "memory_efficiency": 0.5, "overhead_ort_s": 2e-5}
    graphs = {
        "gemm": ([helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("a", ["N", 512, 512]), vi("b", [512, 512])], []),
        "attn": ([helper.make_node("Attention", ["q", "k", "v"], ["y"])], [vi("q", ["N", 4, 256, 64]), vi("k", ["N", 4, 256, 64]),
                                                                          vi("v", ["N", 4, 256, 64])], []),
        "dw": ([helper.make_node("Conv", ["x", "w"], ["y"], group=64, pads=[3, 3, 3, 3])], [vi("x", ["N", 64, 64, 64])],
               [init("w", np.ones((64, 1, 7, 7), np.float32))]),
        "gelu": ([helper.make_node("Gelu", ["x"], ["y"])], [vi("x", ["N", 1 << 20])], []),
        "copy": ([helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 1])], [vi("x", ["N", 1024, 1024])], []),
        "tiny": ([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Neg", ["r"], ["y"])], [vi("x", ["N", 4])], []),
    }
    params = resolve_params(hw, "fp32", "ort", projection_defaults(), overrides=truth)
    obs = []
    for name, (nodes, inputs, inits) in graphs.items():
        path = tmp_path / f"{name}.onnx"
        onnx.save(model(nodes, inputs, [vi(nodes[-1].output[0], None)], inits, opset=23), str(path))
        for batch in (1, 16):
            prof = profile_onnx(path, batch=batch, per_op=True)
            lat = project(prof, hw, params, "ort", "fp32", pue=1.0, grid_gco2e_per_kwh=0.0).latency_s
            obs.append(Observation(name, prof.sha256, batch, lat, prof))
    cal = calibrate(obs, hw, "fp32", "ort", projection_defaults())
    for k, v in truth.items():
        assert cal.values[k] == pytest.approx(v, rel=0.03), k
    assert cal.median_abs_error < 0.01




def test_project_command(shipped):
    r = cli("project", shipped["resnet50"], shipped["efficientnet_b0"], "--hardware", "h100-sxm", "--dtype", "fp16",
            "--batch", "256", "--runtime", "eager", "--datacenter", "google-fleet", "--region", "us-central1@2024", "--format", "json")
    assert r.exit_code == 0, r.output
    res, eff = json.loads(r.stdout)
    for k in ("latency_s", "energy_j_per_item", "co2e_g_per_item", "co2e_kg_per_million", "embodied_co2e_g_per_item", "range", "bound"):
        assert k in res
    assert res["basis"] == "achievable"  # the H100 profile carries measured ceilings
    assert res["range"]["low"] < res["energy_j_per_item"] < res["range"]["high"]
    assert sum(res["bound"].values()) == pytest.approx(1.0)
    assert res["pue"] == 1.10 and res["grid_gco2e_per_kwh"] == 412.72


def test_project_bad_input(shipped):
    r = cli("project", shipped["mobilenet_v2"], "--hardware", "t4", "--dtype", "bf16")
    assert r.exit_code == 2 and "has no bf16 throughput; it has: fp32, fp16, int8" in r.stderr
    r = cli("project", shipped["mobilenet_v2"], "--hardware", "t5")
    assert r.exit_code == 1 and "unknown hardware 't5'" in r.stderr
    r = cli("project", shipped["mobilenet_v2"], "--hardware", "t4", "--runtime", "jit")
    assert r.exit_code == 2 and "expected one of eager, graph, ort" in r.stderr
    r = cli("project", shipped["resnet50"], "--hardware", "t4", "--batch", "4096", "--format", "json")
    assert r.exit_code == 0 and any("will not fit" in n for n in json.loads(r.stdout)[0]["notes"])
    r = cli("project", shipped["resnet50"], "--hardware", "tpu-v5e", "--format", "json")
    assert r.exit_code == 2 and "no published power" in r.stderr


def test_calibrate_command_from_csv(tmp_path, shipped):
    rows = ["model,batch,latency_s"]
    for name, lat in (("resnet18", 0.0116), ("mobilenet_v2", 0.0033), ("mnasnet1_0", 0.0029), ("resnet50", 0.0287)):
        rows.append(f"{shipped[name]},1,{lat}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "cal.toml"
    r = cli("calibrate", "--hardware", "ci-cpu-2vcpu", "--csv", tmp_path / "m.csv", "--out", out, "--format", "json")
    assert r.exit_code == 0, r.output
    ps = load_profiles((tmp_path / "p",)) if False else None
    assert ps is None
    (tmp_path / "p" / "hardware").mkdir(parents=True)
    (tmp_path / "p" / "hardware" / "cal.toml").write_text(out.read_text())
    hw = load_profiles((tmp_path / "p",)).get("hardware", "ci-cpu-2vcpu-ort-calibrated")
    assert hw.projection["efficiency_gemm"].kind == "calibrated" and len(hw.calibration["fitted_on"]) == 4
    r = cli("calibrate", "--hardware", "ci-cpu-2vcpu", "--out", out)
    assert r.exit_code == 2 and "no measurements" in r.stderr
    (tmp_path / "bad.csv").write_text("model,batch,latency_s\nx.onnx,1,-3\n")
    r = cli("calibrate", "--hardware", "ci-cpu-2vcpu", "--csv", tmp_path / "bad.csv", "--out", out)
    assert r.exit_code == 2 and "row 2" in r.stderr
