"""The one-core profile of PyTorch's CPU kernels (profiles/hardware/ci-cpu-1core-torch.toml, issue #34): its
measured average-pool rate is what an eager projection of a 3 x 3 average pool on it uses, in closed form, and the
same pool on ONNX Runtime's one-core profile (vectorised MLAS pooling) is many times faster."""

import numpy as np
import onnx
import pytest
from onnx import helper

from analyzer.count.profile import profile_onnx
from analyzer.profiles import load_profiles, projection_defaults
from analyzer.project import project, resolve_params
from onnx_builders import model, vi


def _pool(tmp_path, shape=(8, 64, 28, 28)):
    nodes = [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=0)]
    path = tmp_path / "pool.onnx"
    onnx.save(model(nodes, [vi("x", list(shape))], [vi("y", None)], []), str(path))
    return profile_onnx(path, per_op=True, scan_sparsity=False)


def test_eager_average_pool_takes_the_measured_rate(tmp_path):
    prof = _pool(tmp_path)
    ps, d = load_profiles(), projection_defaults()
    hw = ps.get("hardware", "ci-cpu-1core-torch")
    assert hw.projection["efficiency_reduce"].value == pytest.approx(0.0068)
    assert hw.projection["efficiency_reduce"].kind == "measured"
    params = resolve_params(hw, "fp32", "eager", d)
    p = project(prof, hw, params, "eager", "fp32", per_kernel=True)
    (k,) = [k for k in p.per_kernel if k["kernel"] == "AveragePool"]
    n = 8 * 64 * 28 * 28
    assert k["flops"] == 9 * n  # nine window taps per output
    compute_s = 9 * n / (0.0068 * 0.168e12)
    assert k["bound"] == "compute"
    assert k["time_s"] == pytest.approx(compute_s, rel=0.05)  # plus the class's small start-up time
    ort = ps.get("hardware", "ci-cpu-1core")
    fast = project(prof, ort, resolve_params(ort, "fp32", "eager", d), "eager", "fp32", per_kernel=True)
    (kf,) = [k for k in fast.per_kernel if k["kernel"] == "AveragePool"]
    assert k["time_s"] > 10 * kf["time_s"]


def test_the_torch_profile_shares_the_chip_with_the_ort_one():
    ps = load_profiles()
    a, b = ps.get("hardware", "ci-cpu-1core"), ps.get("hardware", "ci-cpu-1core-torch")
    for key in ("memory_bandwidth_gbps", "l2_cache_mb", "tdp_w", "idle_w", "cache_bandwidth_gbps"):
        assert getattr(a, key).value == getattr(b, key).value, key
    assert a.peak_tflops["fp32"].value == b.peak_tflops["fp32"].value
    assert np.isclose(b.projection["host_eager_conv_s"].value, 1.58e-6)
