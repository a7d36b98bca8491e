"""Data movement: no arithmetic (0 flops) but real bytes read and written, so a known cost rule."""

from __future__ import annotations

from ..ir import Node
from ..records import OpCost
from .registry import register

_MOVEMENT = (
    "Transpose", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "ScatterND",
    "ScatterElements", "Scatter", "Expand", "Tile", "Pad", "Cast", "CastLike", "ConstantOfShape", "Range",
    "DepthToSpace", "SpaceToDepth", "Compress", "NonZero", "Trilu", "OneHot", "EyeLike", "ReverseSequence",
    "Unique", "SequenceConstruct", "SequenceAt", "SequenceInsert", "SequenceLength", "SequenceEmpty",
    "SplitToSequence", "ConcatFromSequence", "Col2Im", "CenterCropPad", "NonMaxSuppression",
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
)


def movement(node: Node) -> OpCost:
    """Copies, gathers, type casts and (de)quantisation: 0 flops; its bytes are counted from its tensors.
    (Quantize/Dequantize do a scale and round per element; we count them as data movement because they
    are memory-bound in every runtime, and say so here.)"""
    return OpCost(flops=0, op_class="movement")


register(*_MOVEMENT)(movement)
