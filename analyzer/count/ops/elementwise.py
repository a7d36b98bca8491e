"""Elementwise arithmetic, comparisons and activations.

Rule: flops = k x numel(output), where k counts the elementary operations (add, multiply, compare,
divide, exp, log, tanh, erf, sqrt: one each) of the op's defining formula, written beside each entry.
"""

from __future__ import annotations

from ...ir import Node
from ...records import OpCost
from .registry import MS, register

# op -> (flops per output element, formula that gives it)
_PER_ELEMENT: dict[str, tuple[int, str]] = {
    # binary arithmetic and comparisons: one op per output element (after broadcasting)
    **{op: (1, "a (op) b") for op in (
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Equal", "Less", "LessOrEqual", "Greater",
        "GreaterOrEqual", "And", "Or", "Xor", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
        "Where")},
    # simple unary maths: one op each
    **{op: (1, "f(x), one primitive") for op in (
        "Neg", "Abs", "Relu", "Floor", "Ceil", "Round", "Sign", "Reciprocal", "Sqrt", "Exp", "Log", "Tanh",
        "Erf", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
        "Not", "BitwiseNot", "IsNaN", "IsInf", "ThresholdedRelu")},
    "LeakyRelu": (2, "x < 0 ? alpha x : x  (compare, multiply)"),
    "PRelu": (2, "x < 0 ? slope x : x  (compare, multiply)"),
    "Clip": (2, "min(max(x, lo), hi)"),
    "Elu": (3, "x < 0 ? alpha (exp(x) - 1) : x"),
    "Celu": (4, "max(0,x) + min(0, alpha (exp(x/alpha) - 1))"),
    "Selu": (4, "gamma (x < 0 ? alpha exp(x) - alpha : x)"),
    "Softsign": (3, "x / (1 + |x|)"),
    "Softplus": (3, "log(exp(x) + 1)"),
    "Sigmoid": (4, "1 / (1 + exp(-x))"),
    "HardSigmoid": (4, "max(0, min(1, alpha x + beta))"),
    "HardSwish": (5, "x hardsigmoid(x)"),
    "Mish": (5, "x tanh(softplus(x))"),
    "Swish": (5, "x sigmoid(alpha x)"),
    "Shrink": (2, "compare, add"),
    "CumSum": (1, "running add"),
}


def _per_element(k: int):
    def handler(node: Node) -> OpCost:
        return OpCost(flops=k * node.out_numel(0), op_class="elementwise")

    return handler


for _op, (_k, _formula) in _PER_ELEMENT.items():
    _h = _per_element(_k)
    _h.__doc__ = f"{_op}: {_k} flop(s) per output element: {_formula}."
    register(_op)(_h)


@register("Gelu")
def gelu(node: Node) -> OpCost:
    """Exact: 0.5 x (1 + erf(x / sqrt 2)) = 5 flops per element. approximate='tanh':
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = 9 flops per element."""
    k = 9 if node.attrs.get("approximate", "none") == "tanh" else 5
    return OpCost(flops=k * node.out_numel(0), op_class="elementwise")


@register("Sum", "Max", "Min")
def variadic(node: Node) -> OpCost:
    """n inputs combine pairwise: (n - 1) flops per output element."""
    n = sum(1 for t in node.inputs if t is not None)
    return OpCost(flops=max(n - 1, 1) * node.out_numel(0), op_class="elementwise")


@register("Mean")
def mean(node: Node) -> OpCost:
    """(n - 1) adds and one divide per output element: n flops."""
    n = sum(1 for t in node.inputs if t is not None)
    return OpCost(flops=n * node.out_numel(0), op_class="elementwise")


# ONNX Runtime contrib activations written by its graph optimiser: op -> (flops per element, formula)
_MS_PER_ELEMENT: dict[str, tuple[int, str]] = {
    "Gelu": (5, "exact GELU"),
    "BiasGelu": (6, "bias add + exact GELU"),
    "QuickGelu": (6, "x sigmoid(alpha x)"),
    "BiasAdd": (2, "x + bias + skip"),
}
for _op, (_k, _formula) in _MS_PER_ELEMENT.items():
    _h = _per_element(_k)
    _h.__doc__ = f"com.microsoft {_op}: {_k} flop(s) per output element: {_formula}."
    register(_op, domain=MS)(_h)


@register("FastGelu", domain=MS)
def ms_fast_gelu(node: Node) -> OpCost:
    """tanh-approximate GELU (9 flops per element), +1 when the optional bias is given."""
    k = 9 + (1 if node.input(1) is not None else 0)
    return OpCost(flops=k * node.out_numel(0), op_class="elementwise")
