"""Data movement: no arithmetic (0 flops) but real bytes read and written, so a known cost rule."""

from __future__ import annotations

from ...ir import Node
from ...records import OpCost
from .registry import register

_MOVEMENT = (
    "Transpose", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "ScatterND",
    "ScatterElements", "Scatter", "Expand", "Tile", "Pad", "Cast", "CastLike", "ConstantOfShape", "Range",
    "DepthToSpace", "SpaceToDepth", "Compress", "NonZero", "Trilu", "OneHot", "EyeLike", "ReverseSequence",
    "Unique", "SequenceConstruct", "SequenceAt", "SequenceInsert", "SequenceLength", "SequenceEmpty",
    "SplitToSequence", "ConcatFromSequence", "Col2Im", "CenterCropPad", "NonMaxSuppression",
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
)


_READS_WHAT_IT_WRITES = frozenset({"Gather", "GatherElements", "GatherND", "Slice"})


def movement(node: Node) -> OpCost:
    """Copies, gathers, type casts and (de)quantisation: 0 flops; its bytes are counted from its tensors.
    (Quantize/Dequantize do a scale and round per element; we count them as data movement because they
    are memory-bound in every runtime, and say so here.) Gathers and slices read only the elements they
    write: an embedding lookup reads its rows, not the whole table."""
    if node.op_type in _READS_WHAT_IT_WRITES and node.inputs and node.inputs[0] is not None and node.outputs:
        out, data = node.outputs[0], node.inputs[0]
        if out is not None and _known(out) and _known(data):
            read = min(out.nbytes(), data.nbytes())
            return OpCost(flops=0, op_class="movement", partial_reads=((0, read),))
    return OpCost(flops=0, op_class="movement")


def _known(t) -> bool:
    return t.shape is not None and all(isinstance(d, int) for d in t.shape)


register(*_MOVEMENT)(movement)
