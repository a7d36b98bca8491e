"""Closed-form MAC/FLOP counts of matrix products on one-node graphs built in code."""

import numpy as np
import pytest

from onnx_builders import one_node, profile_model

W = lambda *s: np.ones(s, np.float32)  # noqa: E731


@pytest.mark.parametrize(
    "n,c,h,w,m,k,stride,pad,dil,group",
    [
        (1, 3, 224, 224, 64, 7, 2, 3, 1, 1),  # ResNet stem
        (2, 32, 56, 56, 32, 3, 1, 1, 1, 32),  # depthwise
        (1, 64, 28, 28, 128, 3, 2, 1, 1, 4),  # grouped, strided
        (1, 16, 33, 31, 8, 3, 1, 2, 2, 1),  # dilated, odd sizes
        (3, 8, 10, 10, 8, 1, 1, 0, 1, 1),  # pointwise
    ],
)
def test_conv(tmp_path, n, c, h, w, m, k, stride, pad, dil, group):
    ek = dil * (k - 1) + 1
    oh, ow = (h + 2 * pad - ek) // stride + 1, (w + 2 * pad - ek) // stride + 1
    mdl = one_node("Conv", {"x": [n, c, h, w], "w": W(m, c // group, k, k), "b": W(m)}, {"y": None},
                   strides=[stride] * 2, pads=[pad] * 4, dilations=[dil] * 2, group=group)
    p = profile_model(mdl, tmp_path, per_op=True)
    macs = n * m * oh * ow * (c // group) * k * k
    assert p.macs == macs
    assert p.flops == 2 * macs + n * m * oh * ow  # bias: one add per output
    assert p.per_op[0].output_shapes == [[n, m, oh, ow]]
    assert p.per_op[0].op_class == ("depthwise_conv" if group == c else "grouped_conv" if group > 1 else "conv")
    assert p.params == m * (c // group) * k * k + m


def test_conv_1d_no_bias(tmp_path):
    p = profile_model(one_node("Conv", {"x": [4, 16, 100], "w": W(32, 16, 5)}, {"y": None}), tmp_path)
    assert p.macs == 4 * 32 * 96 * 16 * 5 and p.flops == 2 * p.macs


def test_conv_transpose(tmp_path):
    # [1, 8, 7, 7] -> stride 2, k 4, pad 1: out 14x14. Each input pixel scatters C_out/g x k x k MACs.
    mdl = one_node("ConvTranspose", {"x": [1, 8, 7, 7], "w": W(8, 4, 4, 4), "b": W(4)}, {"y": None},
                   strides=[2, 2], pads=[1, 1, 1, 1])
    p = profile_model(mdl, tmp_path, per_op=True)
    assert p.per_op[0].output_shapes == [[1, 4, 14, 14]]
    assert p.macs == 1 * 8 * 7 * 7 * 4 * 4 * 4
    assert p.flops == 2 * p.macs + 4 * 14 * 14


@pytest.mark.parametrize(
    "a,b,out,k",
    [
        ([8, 16], [16, 32], [8, 32], 16),
        ([2, 3, 8, 16], [16, 4], [2, 3, 8, 4], 16),  # broadcast 2-D weight over batch
        ([5, 1, 8, 16], [1, 7, 16, 2], [5, 7, 8, 2], 16),  # broadcast both batch dims
        ([16], [16, 3], [3], 16),  # 1-D lhs
        ([4, 16], [16], [4], 16),  # 1-D rhs
    ],
)
def test_matmul_broadcast(tmp_path, a, b, out, k):
    p = profile_model(one_node("MatMul", {"a": a, "b": b}, {"y": None}), tmp_path, per_op=True)
    assert p.per_op[0].output_shapes == [out]
    assert p.macs == int(np.prod(out)) * k and p.flops == 2 * p.macs


@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm_transposes(tmp_path, trans_a, trans_b):
    m_, k_, n_ = 6, 10, 4
    a = [k_, m_] if trans_a else [m_, k_]
    b = W(n_, k_) if trans_b else W(k_, n_)
    p = profile_model(one_node("Gemm", {"a": a, "b": b, "c": W(n_)}, {"y": None}, transA=trans_a, transB=trans_b),
                      tmp_path, per_op=True)
    assert p.per_op[0].output_shapes == [[m_, n_]]
    assert p.macs == m_ * n_ * k_ and p.flops == 2 * p.macs + m_ * n_


@pytest.mark.parametrize(
    "eq,shapes,macs",
    [
        ("ij,jk->ik", [[3, 4], [4, 5]], 3 * 4 * 5),
        ("bhqd,bhkd->bhqk", [[2, 4, 8, 16], [2, 4, 10, 16]], 2 * 4 * 8 * 10 * 16),  # attention scores
        ("bhqk,bhkd->bhqd", [[2, 4, 8, 10], [2, 4, 10, 16]], 2 * 4 * 8 * 10 * 16),  # attention values
        ("...ij,...jk->...ik", [[7, 3, 4], [7, 4, 5]], 7 * 3 * 4 * 5),  # ellipsis batch
        ("i,i->", [[9], [9]], 9),  # dot product
        ("i,j->ij", [[3], [4]], 12),  # outer product
    ],
)
def test_einsum(tmp_path, eq, shapes, macs):
    inputs = {f"x{i}": s for i, s in enumerate(shapes)}
    p = profile_model(one_node("Einsum", inputs, {"y": None}, equation=eq), tmp_path)
    assert p.macs == macs and p.flops == 2 * macs


def test_einsum_single_operand_reduction_and_transpose(tmp_path):
    p = profile_model(one_node("Einsum", {"x": [3, 4]}, {"y": None}, equation="ij->i"), tmp_path)
    assert (p.macs, p.flops) == (0, 12)
    p = profile_model(one_node("Einsum", {"x": [3, 4]}, {"y": None}, equation="ij->ji"), tmp_path)
    assert (p.macs, p.flops) == (0, 0)
