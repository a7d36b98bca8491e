"""Closed-form FLOP counts of the non-matmul families, attention, RNNs, contrib ops and control flow."""

import numpy as np
import pytest
from onnx import TensorProto, helper

from analyzer.count.ops import ZERO_COST, registered_ops
from onnx_builders import init, model, one_node, profile_model, vi

W = lambda *s: np.ones(s, np.float32)  # noqa: E731


@pytest.mark.parametrize("op,k", [("Add", 1), ("Mul", 1), ("Div", 1), ("Relu", 1), ("Sigmoid", 4), ("Tanh", 1),
                                  ("Erf", 1), ("HardSwish", 5), ("HardSigmoid", 4), ("Clip", 2), ("LeakyRelu", 2)])
def test_elementwise_per_output_element(tmp_path, op, k):
    binary = op in ("Add", "Mul", "Div")
    inputs = {"a": [2, 1, 5], "b": [3, 1]} if binary else {"a": [2, 3, 5]}
    p = profile_model(one_node(op, inputs, {"y": None}), tmp_path, per_op=True)
    assert p.per_op[0].output_shapes == [[2, 3, 5]]  # broadcast output
    assert (p.macs, p.flops) == (0, k * 30)


def test_gelu_exact_and_tanh(tmp_path):
    assert profile_model(one_node("Gelu", {"x": [4, 8]}, {"y": None}, opset=20), tmp_path).flops == 5 * 32
    assert profile_model(one_node("Gelu", {"x": [4, 8]}, {"y": None}, opset=20, approximate="tanh"), tmp_path).flops == 9 * 32


def test_softmax_layernorm_batchnorm(tmp_path):
    assert profile_model(one_node("Softmax", {"x": [2, 4, 8]}, {"y": None}), tmp_path).flops == 5 * 64
    ln = one_node("LayerNormalization", {"x": [2, 4, 8], "g": W(8), "b": W(8)}, {"y": None}, axis=-1)
    assert profile_model(ln, tmp_path).flops == 7 * 64 + 3 * 8  # 8 rows of 8
    bn = one_node("BatchNormalization", {"x": [2, 3, 4, 4], "s": W(3), "b": W(3), "m": W(3), "v": W(3)}, {"y": None})
    p = profile_model(bn, tmp_path)
    assert p.flops == 2 * 96
    assert p.params == 6  # running mean and variance are buffers, not parameters


def test_pooling_and_reductions(tmp_path):
    mp = one_node("MaxPool", {"x": [1, 8, 112, 112]}, {"y": None}, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    assert profile_model(mp, tmp_path).flops == 8 * 56 * 56 * 9
    gap = one_node("GlobalAveragePool", {"x": [2, 16, 7, 7]}, {"y": None})
    assert profile_model(gap, tmp_path).flops == 2 * 16 * 49 + 2 * 16
    rm = one_node("ReduceMean", {"x": [2, 16, 10]}, {"y": None}, axes=[2], keepdims=0)
    assert profile_model(rm, tmp_path).flops == 320 + 32


@pytest.mark.parametrize("mode,per", [("nearest", 0), ("linear", 9), ("cubic", 32)])
def test_resize(tmp_path, mode, per):
    scales = init("scales", np.array([1, 1, 2, 2], np.float32))
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode)
    p = profile_model(model([node], [vi("x", [1, 3, 8, 8])], [vi("y", None)], [scales]), tmp_path, per_op=True)
    assert p.per_op[0].output_shapes == [[1, 3, 16, 16]]
    assert p.flops == per * 3 * 256 and p.coverage == 1.0


@pytest.mark.parametrize("op,gates,per_unit", [("LSTM", 4, 26), ("GRU", 3, 19), ("RNN", 1, 3)])
def test_rnn(tmp_path, op, gates, per_unit):
    seq, batch, inp, hid, dirs = 7, 2, 10, 16, 2
    mdl = one_node(op, {"x": [seq, batch, inp], "w": W(dirs, gates * hid, inp), "r": W(dirs, gates * hid, hid),
                        "b": W(dirs, 2 * gates * hid)}, {"y": None}, hidden_size=hid, direction="bidirectional")
    p = profile_model(mdl, tmp_path)
    macs = dirs * seq * batch * gates * hid * (inp + hid)
    assert p.macs == macs and p.flops == 2 * macs + dirs * seq * batch * hid * per_unit


def test_onnx_attention_opset23(tmp_path):
    b, h, s, l, d = 2, 4, 8, 12, 16
    mdl = one_node("Attention", {"q": [b, h, s, d], "k": [b, h, l, d], "v": [b, h, l, d]}, {"y": None}, opset=23)
    p = profile_model(mdl, tmp_path, per_op=True)
    assert p.per_op[0].output_shapes == [[b, h, s, d]]
    scores = b * h * s * l
    assert p.macs == scores * 2 * d and p.flops == 2 * p.macs + 6 * scores


def test_ms_attention_and_downstream_shapes(tmp_path):
    """com.microsoft Attention: ONNX inference does not know it; our shape rule lets the MatMul after it be
    counted."""
    b, s, d, heads = 2, 10, 32, 4
    att = helper.make_node("Attention", ["x", "w", "bias"], ["a"], domain="com.microsoft", num_heads=heads)
    mm = helper.make_node("MatMul", ["a", "w2"], ["y"])
    mdl = model([att, mm], [vi("x", [b, s, d])], [vi("y", None)],
                [init("w", W(d, 3 * d)), init("bias", W(3 * d)), init("w2", W(d, 5))], extra_opsets={"com.microsoft": 1})
    p = profile_model(mdl, tmp_path, per_op=True)
    proj = b * s * d * 3 * d
    core = b * s * s * (d + d)
    assert p.per_op[0].macs == proj + core
    assert p.per_op[1].output_shapes == [[b, s, 5]] and p.per_op[1].macs == b * s * d * 5
    assert p.coverage == 1.0


def test_ms_fused_ops(tmp_path):
    fm = helper.make_node("FusedMatMul", ["a", "b"], ["c"], domain="com.microsoft", transB=1, alpha=0.5)
    sln = helper.make_node("SkipLayerNormalization", ["c", "skip", "g", "beta"], ["y"], domain="com.microsoft")
    mha = helper.make_node("MultiHeadAttention", ["y", "k", "v"], ["z"], domain="com.microsoft", num_heads=2)
    mdl = model([fm, sln, mha], [vi("a", [3, 8, 16]), vi("b", [3, 12, 16]), vi("skip", [3, 8, 12]),
                                 vi("k", [3, 20, 12]), vi("v", [3, 20, 12])],
                [vi("z", None)], [init("g", W(12)), init("beta", W(12))], extra_opsets={"com.microsoft": 1})
    p = profile_model(mdl, tmp_path, per_op=True)
    fused, skip, att = p.per_op
    assert fused.output_shapes == [[3, 8, 12]] and fused.macs == 3 * 8 * 12 * 16
    assert fused.flops == 2 * fused.macs + 3 * 8 * 12  # alpha scaling
    assert skip.flops == (1 + 7) * 288 + 3 * 24
    assert att.output_shapes == [[3, 8, 12]] and att.macs == 3 * 8 * 20 * (12 + 12)


def _relu_graph(name):
    return helper.make_graph([helper.make_node("Relu", ["x"], [name])], name, [], [vi(name, [4, 4])])


def test_if_reports_larger_branch(tmp_path):
    then_g = helper.make_graph([helper.make_node("MatMul", ["x", "x"], ["t"])], "then", [], [vi("t", [4, 4])])
    else_g = _relu_graph("e")
    node = helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)
    mdl = model([node], [vi("cond", [], TensorProto.BOOL), vi("x", [4, 4])], [vi("y", [4, 4])])
    p = profile_model(mdl, tmp_path)
    assert p.macs == 64 and any("larger branch (then_branch)" in n for n in p.notes)
    assert p.nodes == 2 and p.coverage == 1.0  # the If and the chosen branch's node


def test_loop_constant_and_dynamic_trip_count(tmp_path):
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("MatMul", ["acc", "x"], ["acc_out"])],
        "body", [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("acc", [4, 4])],
        [vi("cond_out", [], TensorProto.BOOL), vi("acc_out", [4, 4])])
    node = helper.make_node("Loop", ["M", "", "a0"], ["a_final"], body=body)
    const = [init("M", np.array(5, np.int64))]
    p = profile_model(model([node], [vi("x", [4, 4]), vi("a0", [4, 4])], [vi("a_final", [4, 4])], const), tmp_path)
    assert p.macs == 5 * 64
    dyn = model([node], [vi("M", [], TensorProto.INT64), vi("x", [4, 4]), vi("a0", [4, 4])], [vi("a_final", [4, 4])])
    p = profile_model(dyn, tmp_path, name="dyn.onnx")
    assert p.macs == 64 and any("not a constant" in n for n in p.notes)


def test_zero_cost_ops_are_explicit_and_disjoint_from_handlers():
    handlers = set(registered_ops()) - set(ZERO_COST)
    assert not handlers & set(ZERO_COST)
    assert all(reason for reason in ZERO_COST.values())


def test_unknown_op_is_counted_not_zero(tmp_path):
    node = helper.make_node("Foo", ["x"], ["y"], domain="com.acme")
    mdl = model([node], [vi("x", [2, 2])], [vi("y", [2, 2])], extra_opsets={"com.acme": 1},
                value_info=[vi("y", [2, 2])])
    p = profile_model(mdl, tmp_path)
    assert p.unsupported_ops == {"com.acme::Foo": 1} and p.coverage == 0.0
    assert any("unsupported op com.acme::Foo" in n for n in p.notes)


def test_ms_fused_gemm(tmp_path):
    node = helper.make_node("FusedGemm", ["a", "b", "c"], ["y"], domain="com.microsoft", transB=1, activation="Relu")
    mdl = model([node, helper.make_node("Relu", ["y"], ["z"])], [vi("a", [4, 8])], [vi("z", None)],
                [init("b", W(6, 8)), init("c", W(6))], extra_opsets={"com.microsoft": 1})
    p = profile_model(mdl, tmp_path, per_op=True)
    assert p.per_op[0].macs == 4 * 6 * 8 and p.per_op[0].flops == 2 * 192 + 24 + 24
    assert p.per_op[1].output_shapes == [[4, 6]] and p.coverage == 1.0


def test_scan_multiplies_body(tmp_path):
    body = helper.make_graph([helper.make_node("MatMul", ["s", "w_in"], ["o"]), helper.make_node("Identity", ["c"], ["c2"])],
                             "body", [vi("c", [3]), vi("s", [1, 3]), vi("w_in", [3, 3])], [vi("c2", [3]), vi("o", [1, 3])])
    node = helper.make_node("Scan", ["c0", "seq", "w"], ["cN", "outs"], body=body, num_scan_inputs=2)
    mdl = model([node], [vi("c0", [3]), vi("seq", [7, 1, 3]), vi("w", [7, 3, 3])], [vi("cN", [3]), vi("outs", None)])
    p = profile_model(mdl, tmp_path)
    assert p.macs == 7 * 9 and any("Scan body x 7" in n for n in p.notes)


def test_an_embedding_lookup_reads_its_rows_not_the_table(tmp_path):
    table = np.ones((1000, 64), np.float32)
    m = one_node("Gather", {"table": table, "ids": [1, 8]}, {"y": None})
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.INT64
    p = profile_model(m, tmp_path)
    assert p.weight_read_bytes == 8 * 64 * 4  # 8 rows of 64 floats, not 256,000 bytes
    assert p.activation_bytes == 8 * 8 + 8 * 64 * 4  # int64 ids read, rows written


def test_a_slice_reads_what_it_keeps(tmp_path):
    m = one_node("Slice", {"x": [4, 100], "starts": np.array([0], np.int64), "ends": np.array([10], np.int64),
                           "axes": np.array([1], np.int64)}, {"y": None})
    p = profile_model(m, tmp_path)
    assert p.activation_bytes == 2 * 4 * 10 * 4  # 40 floats read, 40 written
