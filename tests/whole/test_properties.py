"""Property tests: counts scale linearly with batch; adding an Identity changes nothing; flops >= 2 macs."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from onnx_builders import init, model, profile_model, vi

SETTINGS = settings(max_examples=20, deadline=None)


def _convnet(c: int, m: int, k: int, groups: int, h: int, with_identity: bool = False):
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[k // 2] * 4, group=groups),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fb"], ["y"], transB=1)]
    if with_identity:
        nodes.insert(1, helper.make_node("Identity", ["c"], ["c2"]))
        nodes[2] = helper.make_node("Relu", ["c2"], ["r"])
    inits = [init("w", np.ones((m, c // groups, k, k), np.float32)), init("b", np.ones(m, np.float32)),
             init("fc", np.ones((10, m), np.float32)), init("fb", np.ones(10, np.float32))]
    return model(nodes, [vi("x", ["N", c, h, h])], [vi("y", None)], inits)


conv_params = st.tuples(st.sampled_from([1, 2, 4]), st.integers(1, 4), st.sampled_from([1, 3, 5]), st.integers(4, 12))


@SETTINGS
@given(p=conv_params, batch=st.integers(1, 16))
def test_counts_linear_in_batch(tmp_path_factory, p, batch):
    groups, mult, k, h = p
    c = m = 4 * mult
    mdl = _convnet(c, m, k, groups, h)
    tmp = tmp_path_factory.mktemp("b")
    one = profile_model(mdl, tmp, batch=1)
    many = profile_model(mdl, tmp, batch=batch)
    assert many.macs == batch * one.macs and many.flops == batch * one.flops
    assert many.activation_bytes == batch * one.activation_bytes
    assert many.params == one.params and many.weight_read_bytes == one.weight_read_bytes
    assert many.flops >= 2 * many.macs


@SETTINGS
@given(p=conv_params)
def test_identity_changes_nothing(tmp_path_factory, p):
    groups, mult, k, h = p
    tmp = tmp_path_factory.mktemp("i")
    a = profile_model(_convnet(4 * mult, 4 * mult, k, groups, h), tmp, "a.onnx", batch=2)
    b = profile_model(_convnet(4 * mult, 4 * mult, k, groups, h, with_identity=True), tmp, "b.onnx", batch=2)
    for field in ("macs", "flops", "params", "activation_bytes", "weight_bytes", "coverage"):
        assert getattr(a, field) == getattr(b, field), field


@SETTINGS
@given(m=st.integers(1, 64), k=st.integers(1, 64), n=st.integers(1, 64), batch=st.lists(st.integers(1, 4), max_size=2))
def test_matmul_closed_form(tmp_path_factory, m, k, n, batch):
    mdl = model([helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("a", batch + [m, k]), vi("b", [k, n])], [vi("y", None)])
    p = profile_model(mdl, tmp_path_factory.mktemp("m"))
    assert p.macs == int(np.prod(batch + [m, n])) * k and p.flops == 2 * p.macs
