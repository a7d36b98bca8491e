"""Dataflow facts about a profiled graph that decide which nodes launch device kernels at all.

Exporters write a model's shape arithmetic into the graph (Shape -> Gather -> Concat -> Reshape, the
sqrt(head_dim) of scaled dot-product attention, ConstantOfShape masks) and fold nothing. A runtime computes
such values on the host, once, or never: in eager PyTorch they are Python integers, ONNX Runtime folds them
at load time. A node launches a kernel only if one of its inputs carries run-time data: a graph input (not
an initializer) or the output of a node that does. Shape and Size read metadata only, so their outputs are
host values even when their input is run-time data; CastLike reads only its second input's type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...records import NodeProfile

METADATA_OPS = frozenset({"Shape", "Size"})
# operators some of whose inputs are read for their type or shape only, by position: the rest is data
DATA_INPUTS = {"CastLike": (0,)}


def data_inputs(node: NodeProfile) -> list[str]:
    """The node's inputs whose values it reads (CastLike reads only its second input's type)."""
    keep = DATA_INPUTS.get(node.op_type)
    if keep is None:  # nearly every node: all its inputs (no copy; callers only read it)
        return node.inputs
    return [t for i, t in enumerate(node.inputs) if i in keep]


@dataclass(frozen=True)
class Dataflow:
    producer: dict[str, int]  # tensor name -> index of the node that writes it
    consumers: dict[str, list[int]]  # tensor name -> indices of the nodes that read it
    dynamic: frozenset[str]  # tensors whose values are only known at run time
    graph_outputs: frozenset[str]  # tensors nobody in the graph reads: the model's outputs

    def is_dynamic(self, tensor: str) -> bool:
        return bool(tensor) and tensor in self.dynamic

    def device_node(self, node: NodeProfile) -> bool:
        """True when the node works on run-time data, so a runtime launches kernels for it."""
        if node.op_type in METADATA_OPS:
            return False
        dynamic = self.dynamic
        return any(t in dynamic for t in data_inputs(node) if t)

    def single_consumer(self, tensor: str) -> int | None:
        users = self.consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in self.graph_outputs else None


def numel(shape: list | None) -> int:
    """Elements of a shape whose dims are all known integers; 0 when any is symbolic or the shape is unknown."""
    return math.prod(shape) if shape and all(isinstance(d, int) for d in shape) else 0


def at_full_batch(nodes: list[NodeProfile], scale: int) -> list[NodeProfile]:
    """Per-op records of a profile whose shapes describe one item (constants pin the batch: the profile scaled
    per-item work by `scale`) with every run-time tensor's leading dim multiplied by `scale`, so what a kernel
    model derives from shapes (elements, grids, transforms) is that of the whole batch; weights keep theirs.
    Scaling the leading dim scales an activation's elements by the batch whatever its layout (heads folded into
    the leading dim included)."""
    if scale == 1:
        return nodes
    from dataclasses import replace

    def scaled(shapes: list, consts: list[bool]) -> list:
        return [[s[0] * scale, *s[1:]] if s and isinstance(s[0], int) and not c else s
                for s, c in zip(shapes, consts + [False] * (len(shapes) - len(consts)))]

    return [replace(n, input_shapes=scaled(n.input_shapes, n.initializer_inputs),
                    output_shapes=scaled(n.output_shapes, [False] * len(n.output_shapes))) for n in nodes]


def dataflow(nodes: list[NodeProfile]) -> Dataflow:
    producer: dict[str, int] = {}
    consumers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for t in n.outputs:
            if t:
                producer[t] = i
        for t in data_inputs(n):  # a CastLike that reads a tensor's type is no consumer of its values
            if t:
                consumers.setdefault(t, []).append(i)
    dynamic: set[str] = set()
    for n in nodes:  # graph inputs: read, never written, and not initializers or constants
        for t, const in zip(n.inputs, n.initializer_inputs or [False] * len(n.inputs)):
            if t and t not in producer and not const:
                dynamic.add(t)
    for n in nodes:  # nodes come in topological order from the loader
        if n.op_type in METADATA_OPS:
            continue
        if any(t in dynamic for t in data_inputs(n) if t):
            dynamic.update(t for t in n.outputs if t)
    outputs = frozenset(t for n in nodes for t in n.outputs if t and t not in consumers)
    return Dataflow(producer, consumers, frozenset(dynamic), outputs)
