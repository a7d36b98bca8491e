"""Matrix products: Conv, ConvTranspose, MatMul, Gemm, Einsum and their quantised / fused variants.

These are the only ops (with attention and RNN gates) whose multiply-accumulates count as `macs`.
flops = 2 x macs + the bias additions stated per handler.
"""

from __future__ import annotations

import math
import re

from ...errors import ShapeError
from ...ir import Node
from ...records import OpCost
from ...units import FLOPS_PER_MAC
from .registry import MS, register


def _conv_class(group: int, in_channels: int) -> str:
    if group == 1:
        return "conv"
    return "depthwise_conv" if group == in_channels else "grouped_conv"


def _conv_cost(node: Node, x_idx: int, w_idx: int, b_idx: int | None) -> OpCost:
    """macs = N x M x prod(out_spatial) x (C / group) x prod(kernel); W is [M, C/group, *kernel].
    flops = 2 x macs + N x M x prod(out_spatial) when a bias is present (one add per output)."""
    x = node.in_dims(x_idx)
    w = node.in_dims(w_idx)
    y = node.out_dims(0)
    group = int(node.attrs.get("group", 1))
    if len(w) < 2 or len(y) != len(w):
        raise ShapeError(f"{node.where}: weight rank {len(w)} does not match output rank {len(y)}")
    _check_groups(node, group, x[1], w[1] * group, w[0])
    macs = math.prod(y) * w[1] * math.prod(w[2:])
    bias = math.prod(y) if b_idx is not None and node.input(b_idx) is not None else 0
    return OpCost(macs=macs, flops=FLOPS_PER_MAC * macs + bias, op_class=_conv_class(group, x[1]))


def _check_groups(node: Node, group: int, in_channels: int, weight_in_channels: int, groups_divide: int) -> None:
    """What ONNX Runtime checks before it runs a convolution, and shape inference does not: the channels
    match the weight and divide into the groups. A wrong group would count a cost no runtime runs."""
    if group < 1 or in_channels != weight_in_channels or groups_divide % group:
        raise ShapeError(f"{node.where}: group={group} does not fit {in_channels} input channels and a weight for "
                         f"{weight_in_channels} (the channels must match and divide into the groups)")


@register("Conv")
def conv(node: Node) -> OpCost:
    return _conv_cost(node, 0, 1, 2)


@register("ConvInteger")
def conv_integer(node: Node) -> OpCost:
    return _conv_cost(node, 0, 1, None)


@register("QLinearConv")
def qlinear_conv(node: Node) -> OpCost:
    return _conv_cost(node, 0, 3, 8)


@register("ConvTranspose")
def conv_transpose(node: Node) -> OpCost:
    """Each input pixel scatters a kernel: macs = N x C x prod(in_spatial) x (M / group) x prod(kernel),
    W is [C, M/group, *kernel]. flops = 2 x macs + one add per output element when a bias is present."""
    x = node.in_dims(0)
    w = node.in_dims(1)
    group = int(node.attrs.get("group", 1))
    _check_groups(node, group, x[1], w[0], w[0] * 1)
    macs = math.prod(x) * w[1] * math.prod(w[2:])
    bias = node.out_numel(0) if node.input(2) is not None else 0
    cls = _conv_class(group, x[1])
    return OpCost(macs=macs, flops=FLOPS_PER_MAC * macs + bias, op_class=cls.replace("conv", "conv_transpose"))


def _reduction_length(a: tuple[int, ...], transposed: bool = False) -> int:
    if len(a) == 1:
        return a[0]
    return a[-2] if transposed else a[-1]


@register("MatMul", "MatMulInteger", "QLinearMatMul")
def matmul(node: Node) -> OpCost:
    """Numpy matmul semantics with broadcast batch dims: macs = numel(output) x K, K = A's last dim
    (1-D operands are promoted as numpy does). flops = 2 x macs."""
    a_idx = 0
    a = node.in_dims(a_idx)
    macs = node.out_numel(0) * _reduction_length(a)
    return OpCost(macs=macs, flops=FLOPS_PER_MAC * macs, op_class="gemm")


@register("FusedMatMul", domain=MS)
def fused_matmul(node: Node) -> OpCost:
    """ORT's MatMul with transposes and a scale: macs = numel(output) x K (K from A, honouring transA);
    flops = 2 x macs + numel(output) when alpha != 1."""
    a = node.in_dims(0)
    macs = node.out_numel(0) * _reduction_length(a, bool(node.attrs.get("transA", 0)))
    scale = node.out_numel(0) if float(node.attrs.get("alpha", 1.0)) != 1.0 else 0
    return OpCost(macs=macs, flops=FLOPS_PER_MAC * macs + scale, op_class="gemm")


@register("FusedGemm", domain=MS)
def fused_gemm(node: Node) -> OpCost:
    """ORT's Gemm fused with its activation: Gemm's count + one flop per output element for the
    activation (activation-specific costs are not distinguished here)."""
    c = gemm(node)
    return OpCost(macs=c.macs, flops=c.flops + node.out_numel(0), op_class="gemm")


@register("Gemm")
def gemm(node: Node) -> OpCost:
    """Y = alpha op(A) op(B) + beta C: macs = M x N x K with K from A after transA.
    flops = 2 x macs + M x N when C is given (the add; alpha/beta scaling is folded by every kernel)."""
    a = node.in_dims(0)
    y = node.out_dims(0)
    k = a[0] if node.attrs.get("transA", 0) else a[-1]
    macs = math.prod(y) * k
    bias = math.prod(y) if node.input(2) is not None else 0
    return OpCost(macs=macs, flops=FLOPS_PER_MAC * macs + bias, op_class="gemm")


_EINSUM_TERM = re.compile(r"^[A-Za-z]*(\.\.\.)?[A-Za-z]*$")


def einsum_letter_sizes(equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str, dict[str, int]]:
    """Parse an einsum equation; return the input terms, the output term and each index's size.
    An ellipsis becomes numbered pseudo-indices (right-aligned, broadcast to the larger size)."""
    eq = equation.replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes) or not all(_EINSUM_TERM.match(t) for t in terms):
        raise ShapeError(f"einsum equation '{equation}' does not fit {len(shapes)} inputs")
    ell_rank = max((len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes) if "..." in t), default=0)
    sizes: dict[str, int] = {}
    expanded = []
    for term, shape in zip(terms, shapes):
        letters = list(term.replace("...", "\0"))
        if "\0" in letters:
            k = len(shape) - (len(letters) - 1)
            i = letters.index("\0")
            letters[i : i + 1] = [f"…{ell_rank - k + j}" for j in range(k)]
        if len(letters) != len(shape):
            raise ShapeError(f"einsum term '{term}' does not fit input of rank {len(shape)}")
        for letter, size in zip(letters, shape):
            sizes[letter] = max(sizes.get(letter, 1), size)
        expanded.append("".join(letters) if all(len(x) == 1 for x in letters) else "|".join(letters))
    if "->" not in eq:  # implicit output: letters seen once, alphabetical
        counts: dict[str, int] = {}
        for t in terms:
            for ch in t.replace("...", ""):
                counts[ch] = counts.get(ch, 0) + 1
        rhs = ("..." if ell_rank else "") + "".join(sorted(c for c, n in counts.items() if n == 1))
    return expanded, rhs, sizes


@register("Einsum")
def einsum(node: Node) -> OpCost:
    """Two operands: macs = product of the sizes of every distinct index (the naive contraction, which
    is what a GEMM-based kernel does). n > 2 operands: evaluated left to right pairwise, counted as
    (n - 1) x that product (an upper bound, noted). One operand: a transpose (0 flops) or a reduction
    (one add per input element)."""
    shapes = [node.in_dims(i) for i in range(len(node.inputs))]
    _, rhs, sizes = einsum_letter_sizes(str(node.attrs.get("equation", "")), shapes)
    if len(shapes) == 1:
        out = node.out_numel(0)
        inp = math.prod(shapes[0])
        return OpCost(flops=0 if inp == out else inp, op_class="movement" if inp == out else "reduction")
    full = math.prod(sizes.values())
    macs = full * (len(shapes) - 1)
    notes = (f"{node.name}: {len(shapes)}-operand einsum counted as naive pairwise contraction",) if len(shapes) > 2 else ()
    return OpCost(macs=macs, flops=FLOPS_PER_MAC * macs, op_class="gemm", notes=notes)
