"""Power limits (issue #34 part 4): a board that would draw more than its limit lowers its clocks, so the time
stretches to energy / limit and the energy stays (roofline.power_limited), in the inference and the training
projection alike, with a note where it binds."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from analyzer.count.profile import profile_onnx
from analyzer.profiles import load_profiles, projection_defaults
from analyzer.project import project, resolve_params
from analyzer.project.roofline import power_limited
from analyzer.project.training import project_training

SRC = 'source = "test part", year = 2024, kind = "datasheet"'


def _card(name: str, tdp: float) -> str:
    # busy 300 W in a large GEMM: a 100 W card cannot run it at full clocks
    return (f'name = "{name}"\ntitle = "{name}"\ncategory = "gpu"\nembodied_method = "per card"\ntransfer = false\n'
            f'memory_bandwidth_gbps = {{ value = 500, {SRC} }}\ntdp_w = {{ value = {tdp}, {SRC} }}\n'
            f'idle_w = {{ value = 10, {SRC} }}\nbusy_power_w = {{ value = 300, {SRC} }}\n'
            f'embodied_co2e_kg = {{ value = 10, {SRC} }}\nlifetime_years = {{ value = 5, {SRC} }}\n'
            f'[peak_tflops]\nfp32 = {{ value = 10, {SRC} }}\n')


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    d = tmp_path_factory.mktemp("profiles")
    (d / "hardware").mkdir()
    (d / "hardware" / "capped.toml").write_text(_card("capped", 100))
    (d / "hardware" / "free.toml").write_text(_card("free", 10000))
    ps = load_profiles((d,))
    return ps.get("hardware", "capped"), ps.get("hardware", "free")


@pytest.fixture(scope="module")
def matmul(tmp_path_factory):
    """One 2048 x 2048 x 2048 MatMul with a weight: compute-bound on any GPU."""
    n = 2048
    w = numpy_helper.from_array(np.zeros((n, n), dtype=np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])], [w])
    path = tmp_path_factory.mktemp("m") / "mm.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return profile_onnx(path, per_op=True, scan_sparsity=False)


@pytest.mark.parametrize("t, e, cap, want", [(1.0, 500.0, 300.0, 5 / 3), (1.0, 200.0, 300.0, 1.0), (2.0, 1e9, np.inf, 2.0),
                                             (0.5, 150.0, 300.0, 0.5)])
def test_power_limited_closed_form(t, e, cap, want):
    t2, throttle = power_limited(t, e, cap)
    assert float(t2) == pytest.approx(want)
    assert float(throttle) == pytest.approx(want / t)
    assert e / float(t2) <= cap * (1 + 1e-12)


def test_power_limited_is_elementwise():
    t2, throttle = power_limited(np.array([1.0, 1.0]), np.array([50.0, 400.0]), 100.0)
    assert t2.tolist() == pytest.approx([1.0, 4.0]) and throttle.tolist() == pytest.approx([1.0, 4.0])


def test_an_inference_past_the_limit_runs_at_it_with_a_note(cards, matmul):
    capped, free = cards
    d = projection_defaults()
    pc = project(matmul, capped, resolve_params(capped, "fp32", "graph", d), "graph", "fp32")
    pf = project(matmul, free, resolve_params(free, "fp32", "graph", d), "graph", "fp32")
    assert pc.energy_j_per_item == pytest.approx(pf.energy_j_per_item)  # the same work, the same energy
    assert pc.energy_j_per_item * pc.batch / pc.latency_s == pytest.approx(100.0)  # at the limit
    assert pf.energy_j_per_item * pf.batch / pf.latency_s > 100.0  # what it would draw at full clocks
    assert pc.latency_s == pytest.approx(pf.latency_s * (pf.energy_j_per_item / pf.latency_s) / 100.0 * pf.batch)
    assert any(n.startswith("power-limited") and "100 W limit" in n for n in pc.notes)
    assert not any(n.startswith("power-limited") for n in pf.notes)


def test_a_training_step_past_the_limit_runs_at_it_with_a_note(cards, matmul):
    capped, free = cards
    d = projection_defaults()
    sc = project_training(matmul, resolve_params(capped, "fp32", "eager", d), "fp32", "sgd", True)
    sf = project_training(matmul, resolve_params(free, "fp32", "eager", d), "fp32", "sgd", True)
    assert sc.energy_j_per_sample == pytest.approx(sf.energy_j_per_sample)
    assert sc.energy_j_per_sample * sc.batch / sc.step_s == pytest.approx(100.0)
    assert sc.step_s > sf.step_s
    assert any(n.startswith("power-limited") for n in sc.notes) and not any(n.startswith("power-limited") for n in sf.notes)
