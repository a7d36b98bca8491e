"""ONNX Runtime's CPU provider as the kernel plan models it (analyzer/project/kernels/ort_cpu.py): checked on graphs
built in code, and against the optimised graph ORT itself writes for NB201 cells; the cache-resident bandwidth and
the leave-one-out band of a calibration."""

from __future__ import annotations

import collections
import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from analyzer import profile_onnx
from analyzer.errors import UsageError
from analyzer.project.calibrate_profile import loo_band
from analyzer.project.kernels import plan_kernels


def _model(tmp_path, nodes, inits, c=16):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, 8, 8])], inits)
    p = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    return profile_onnx(p, batch=1, per_op=True, scan_sparsity=False)


def _w(name, c, k=3):
    return helper.make_tensor(name, TensorProto.FLOAT, [c, c, k, k], np.full(c * c * k * k, 0.01, np.float32))


def _ops(plan):
    return dict(collections.Counter(k.op_type for k in plan.kernels))


def test_conv_takes_its_relu_but_not_a_mul_and_the_mul_reads_through_a_reorder(tmp_path):
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    prof = _model(tmp_path, [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1] * 4),
                             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Mul", ["r", "zero"], ["y"])],
                  [_w("w", 16), zero])
    assert _ops(plan_kernels(prof, "ort", "fp32", gpu=False, nchwc_block=16)) == {
        "ReorderInput": 1, "Conv": 1, "ReorderOutput": 1, "Mul": 1}
    # without NCHWc (an Arm CPU): the same fusions, no reorders
    assert _ops(plan_kernels(prof, "ort", "fp32", gpu=False, nchwc_block=0)) == {"Conv": 1, "Mul": 1}


def test_repeated_subexpressions_run_once_and_an_add_of_two_convs_is_the_second_convs_sum(tmp_path):
    prof = _model(tmp_path, [helper.make_node("Relu", ["x"], ["r1"]), helper.make_node("Relu", ["x"], ["r2"]),
                             helper.make_node("Conv", ["r1", "w1"], ["a"], pads=[1] * 4),
                             helper.make_node("Conv", ["r2", "w2"], ["b"], pads=[1] * 4),
                             helper.make_node("Add", ["a", "b"], ["y"])], [_w("w1", 16), _w("w2", 16)])
    plan = plan_kernels(prof, "ort", "fp32", gpu=False, nchwc_block=16)
    # one Relu (the second repeats it), its output reordered once for both convs, the Add inside a Conv, the output back
    assert _ops(plan) == {"Relu": 1, "ReorderInput": 1, "Conv": 2, "ReorderOutput": 1}
    assert any("common subexpression x1" in r for r in plan.rules)


def test_channels_off_the_block_stay_nchw(tmp_path):
    prof = _model(tmp_path, [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1] * 4), helper.make_node("Relu", ["c"], ["y"])],
                  [_w("w", 12)], c=12)
    assert _ops(plan_kernels(prof, "ort", "fp32", gpu=False, nchwc_block=16)) == {"Conv": 1}
    assert _ops(plan_kernels(prof, "ort", "fp32", gpu=False, nchwc_block=8)) == {"Conv": 1}  # 12 % 8: not blocked either


@pytest.mark.slow
def test_the_plan_runs_the_kernels_of_orts_own_optimised_graph_for_nb201_cells(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from analyzer.load import nb201_arch, nb201_onnx
    from analyzer.load.seeded import materialize

    for arch in nb201_arch.sample(4, 3):
        p = tmp_path / f"c{arch.index()}.onnx"
        onnx.save(nb201_onnx.build(arch, name="c"), p)
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.log_severity_level = 1, 3
        so.optimized_model_filepath = str(tmp_path / "opt.onnx")
        ort.InferenceSession(str(materialize(p, tmp_path / "m")), so, providers=["CPUExecutionProvider"])
        opt = onnx.load(str(tmp_path / "opt.onnx"))
        blocked = any(n.domain == "com.microsoft.nchwc" for n in opt.graph.node)
        want = collections.Counter(n.op_type for n in opt.graph.node if n.op_type != "Flatten")
        plan = plan_kernels(profile_onnx(p, batch=1, per_op=True, scan_sparsity=False), "ort", "fp32", gpu=False,
                            nchwc_block=16 if blocked else 0)
        got = collections.Counter(k.op_type for k in plan.kernels)
        if "BatchNormalization" not in want and got["BatchNormalization"]:  # a blocked BN runs as an NCHWc Conv
            got["Conv"] += got.pop("BatchNormalization")
        assert got == want, arch.to_string()


def test_a_cache_resident_kernel_streams_at_the_cache_bandwidth():
    from dataclasses import replace

    from analyzer.profiles import load_profiles, projection_defaults
    from analyzer.project import resolve_params
    from analyzer.project.roofline import KernelArrays, kernel_arrays_times

    hw = load_profiles().get("hardware", "ci-cpu-1core")
    params = resolve_params(hw, "fp32", "ort", projection_defaults())
    assert params.cache_speedup == pytest.approx(hw.cache_bandwidth_gbps.value / hw.memory_bandwidth_gbps.value)
    small, big = 1e6, 4e6  # bytes: inside and beyond the 2 MB L2
    from analyzer.taxonomy import KERNEL_CLASSES

    ew = KERNEL_CLASSES.index("elementwise")
    a = KernelArrays.of(np.array([ew, ew]), np.zeros(2), np.array([small, big]), np.zeros(2, bool), np.array([-1, -1]),
                        np.zeros(2), 0.0)
    bw = params.classes["elementwise"].bandwidth_bytes_per_s
    _, _, mem, _ = kernel_arrays_times(a, params)
    assert mem[0] == pytest.approx(small / (bw * params.cache_speedup))
    assert mem[1] == pytest.approx(big / bw)
    _, _, mem1, _ = kernel_arrays_times(a, replace(params, cache_speedup=1.0))
    assert mem1[0] == pytest.approx(small / bw)


def test_the_loo_band_is_students_t_on_the_rms_log_error_and_covers_what_it_says():
    e = [0.1, -0.05, 0.02, 0.0, -0.1]
    r = np.log1p(e)
    b = loo_band(e)
    from scipy.stats import t

    assert b.log_sigma == pytest.approx(math.sqrt(np.mean(r**2)))
    assert b.half_width_log == pytest.approx(t.ppf(0.95, 5) * b.log_sigma)
    # normal log errors of one sigma: a band from 5 of them covers a sixth 90% of the time
    rng = np.random.default_rng(0)
    draws = rng.normal(0, 0.1, size=(20000, 6))
    hits = [abs(d[5]) <= loo_band(list(np.expm1(d[:5]))).half_width_log for d in draws[:4000]]
    assert 0.88 <= np.mean(hits) <= 0.92
    with pytest.raises(UsageError):
        loo_band([0.1])
    with pytest.raises(UsageError):
        loo_band([0.1, 0.2], coverage=1.5)
