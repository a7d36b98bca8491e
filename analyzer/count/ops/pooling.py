"""Pooling and reductions."""

from __future__ import annotations

import math

from ...ir import Node
from ...records import OpCost
from .registry import register


@register("MaxPool", "AveragePool")
def pool(node: Node) -> OpCost:
    """One compare (max) or add (average; its divide replaces one add) per window element:
    flops = numel(output) x prod(kernel_shape)."""
    k = math.prod(int(v) for v in node.attrs.get("kernel_shape", ()))
    return OpCost(flops=node.out_numel(0) * k, op_class="pooling")


@register("LpPool")
def lp_pool(node: Node) -> OpCost:
    """|x|^p and add per window element, one root per output: numel(output) x (2 prod(kernel) + 1)."""
    k = math.prod(int(v) for v in node.attrs.get("kernel_shape", ()))
    return OpCost(flops=node.out_numel(0) * (2 * k + 1), op_class="pooling")


@register("GlobalAveragePool")
def global_avg_pool(node: Node) -> OpCost:
    """One add per input element and one divide per output element."""
    return OpCost(flops=node.in_numel(0) + node.out_numel(0), op_class="pooling")


@register("GlobalMaxPool")
def global_max_pool(node: Node) -> OpCost:
    """One compare per input element."""
    return OpCost(flops=node.in_numel(0), op_class="pooling")


@register("GlobalLpPool")
def global_lp_pool(node: Node) -> OpCost:
    """|x|^p and add per input element, one root per output."""
    return OpCost(flops=2 * node.in_numel(0) + node.out_numel(0), op_class="pooling")


# op -> (flops per input element, extra flops per output element)
_REDUCE: dict[str, tuple[int, int]] = {
    "ReduceSum": (1, 0), "ReduceMax": (1, 0), "ReduceMin": (1, 0), "ReduceProd": (1, 0),
    "ArgMax": (1, 0), "ArgMin": (1, 0),
    "ReduceMean": (1, 1),  # adds, then one divide per output
    "ReduceSumSquare": (2, 0), "ReduceL1": (2, 0),  # square/abs + add
    "ReduceL2": (2, 1),  # square + add, sqrt per output
    "ReduceLogSum": (1, 1),  # add, log per output
    "ReduceLogSumExp": (2, 1),  # exp + add, log per output
}


def _reduce(per_in: int, per_out: int):
    def handler(node: Node) -> OpCost:
        return OpCost(flops=per_in * node.in_numel(0) + per_out * node.out_numel(0), op_class="reduction")

    return handler


for _op, (_a, _b) in _REDUCE.items():
    _h = _reduce(_a, _b)
    _h.__doc__ = f"{_op}: {_a} flop(s) per input element + {_b} per output element."
    register(_op)(_h)


@register("TopK")
def topk(node: Node) -> OpCost:
    """Heap selection: about log2(k) compares per input element (at least one)."""
    k = max(node.out_dims(0)[int(node.attrs.get("axis", -1))], 1)
    return OpCost(flops=node.in_numel(0) * max(1, math.ceil(math.log2(k + 1))), op_class="reduction")
