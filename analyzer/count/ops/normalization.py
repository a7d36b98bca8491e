"""Normalisation and softmax. Counts per element of the output, plus per normalised row where stated."""

from __future__ import annotations

import math

from ...ir import Node
from ...records import OpCost
from .registry import MS, register


def _rows(dims: tuple[int, ...], axis: int) -> int:
    """Number of normalised groups when normalising over dims[axis:]."""
    axis = axis % len(dims) if dims else 0
    return math.prod(dims[:axis])


@register("BatchNormalization")
def batch_norm(node: Node) -> OpCost:
    """Inference form y = x * s + t with s, t precomputed per channel: 2 flops per element."""
    return OpCost(flops=2 * node.out_numel(0), op_class="normalization")


@register("LayerNormalization")
def layer_norm(node: Node) -> OpCost:
    """Per element: mean add, subtract, square, variance add, multiply by 1/std, scale = 6, +1 for the
    bias; per row: mean divide, variance divide, sqrt(var + eps) ~ 3."""
    dims = node.in_dims(0)
    k = 6 + (1 if node.input(2) is not None else 0)
    rows = _rows(dims, int(node.attrs.get("axis", -1)))
    return OpCost(flops=k * math.prod(dims) + 3 * rows, op_class="normalization")


@register("RMSNormalization")
def rms_norm(node: Node) -> OpCost:
    """Per element: square, add, multiply by 1/rms, scale = 4; per row: divide, add eps, sqrt = 3."""
    dims = node.in_dims(0)
    return OpCost(flops=4 * math.prod(dims) + 3 * _rows(dims, int(node.attrs.get("axis", -1))),
                  op_class="normalization")


@register("SimplifiedLayerNormalization")
def simplified_layer_norm(node: Node) -> OpCost:
    """ORT's RMSNorm (onnx domain, written by its fusions): as RMSNormalization."""
    return rms_norm(node)


@register("InstanceNormalization", "GroupNormalization", "MeanVarianceNormalization")
def instance_norm(node: Node) -> OpCost:
    """As LayerNormalization with scale and bias: 7 flops per element, 3 per normalised group
    (N x C groups for instance norm, N x G for group norm, N x C for MVN over spatial axes)."""
    dims = node.in_dims(0)
    groups = dims[0] * int(node.attrs.get("num_groups", dims[1] if len(dims) > 1 else 1))
    return OpCost(flops=7 * math.prod(dims) + 3 * groups, op_class="normalization")


@register("LpNormalization")
def lp_norm(node: Node) -> OpCost:
    """Square (or abs), add, divide per element: 3 flops; a sqrt per row is ignored."""
    return OpCost(flops=3 * node.out_numel(0), op_class="normalization")


@register("LRN")
def lrn(node: Node) -> OpCost:
    """Square-sum over `size` neighbours, then scale, add, pow, divide: size + 4 flops per element."""
    return OpCost(flops=(int(node.attrs.get("size", 1)) + 4) * node.out_numel(0), op_class="normalization")


@register("Softmax", "LogSoftmax")
def softmax(node: Node) -> OpCost:
    """Per element: max-compare, subtract, exp, sum-add, divide (LogSoftmax: log per row, subtract per
    element) = 5 flops per element."""
    return OpCost(flops=5 * node.out_numel(0), op_class="softmax")


@register("Hardmax")
def hardmax(node: Node) -> OpCost:
    """One compare per element."""
    return OpCost(flops=node.out_numel(0), op_class="reduction")


@register("SkipLayerNormalization", domain=MS)
def skip_layer_norm(node: Node) -> OpCost:
    """ORT fusion of (input + skip [+ bias]) followed by LayerNorm with gamma [and beta]: per element
    1 add for skip, +1 for bias, then LayerNorm's 6 (+1 with beta); 3 per row."""
    dims = node.in_dims(0)
    k = 1 + (node.input(4) is not None) + 6 + (node.input(3) is not None)
    return OpCost(flops=k * math.prod(dims) + 3 * _rows(dims, -1), op_class="normalization")


@register("SkipSimplifiedLayerNormalization", domain=MS)
def skip_simplified_layer_norm(node: Node) -> OpCost:
    """(input + skip [+ bias]) then RMSNorm: 1 (+1) + 4 flops per element, 3 per row."""
    dims = node.in_dims(0)
    k = 1 + (node.input(3) is not None) + 4
    return OpCost(flops=k * math.prod(dims) + 3 * _rows(dims, -1), op_class="normalization")


@register("EmbedLayerNormalization", domain=MS)
def embed_layer_norm(node: Node) -> OpCost:
    """Three embedding gathers summed (2 adds) then LayerNorm (7) per output element; 3 per row."""
    dims = node.out_dims(0)
    return OpCost(flops=9 * math.prod(dims) + 3 * _rows(dims, -1), op_class="normalization")
