"""Resize / Upsample: interpolation cost per output element."""

from __future__ import annotations

from ...ir import Node
from ...records import OpCost
from .registry import register


@register("Resize", "Upsample")
def resize(node: Node) -> OpCost:
    """nearest: 0 flops (a gather). linear over k resized axes: 2^k - 1 lerps of 3 flops (subtract,
    multiply, add) per output element. cubic: 4^k taps, a multiply and an add each, per output element.
    k = number of axes whose size changes."""
    x = node.in_dims(0)
    y = node.out_dims(0)
    k = sum(1 for a, b in zip(x, y) if a != b)
    mode = str(node.attrs.get("mode", "nearest"))
    if mode == "nearest" or k == 0:
        per = 0
    elif mode == "linear" or mode == "bilinear":
        per = 3 * (2**k - 1)
    else:  # cubic
        per = 2 * 4**k
    return OpCost(flops=per * node.out_numel(0), op_class="movement" if per == 0 else "elementwise")
