"""Dataflow facts about a profiled graph that decide which nodes launch device kernels at all.

Exporters write a model's shape arithmetic into the graph (Shape -> Gather -> Concat -> Reshape, the
sqrt(head_dim) of scaled dot-product attention, ConstantOfShape masks) and fold nothing. A runtime computes
such values on the host, once, or never: in eager PyTorch they are Python integers, ONNX Runtime folds them
at load time. A node launches a kernel only if one of its inputs carries run-time data: a graph input (not
an initializer) or the output of a node that does. Shape and Size read metadata only, so their outputs are
host values even when their input is run-time data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...records import NodeProfile

METADATA_OPS = frozenset({"Shape", "Size"})


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
        return node.op_type not in METADATA_OPS and any(self.is_dynamic(t) for t in node.inputs)

    def single_consumer(self, tensor: str) -> int | None:
        users = self.consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in self.graph_outputs else None


def numel(shape: list | None) -> int:
    """Elements of a shape whose dims are all known integers; 0 when any is symbolic or the shape is unknown."""
    return math.prod(shape) if shape and all(isinstance(d, int) for d in shape) else 0


def dataflow(nodes: list[NodeProfile]) -> Dataflow:
    producer: dict[str, int] = {}
    consumers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for t in n.outputs:
            if t:
                producer[t] = i
        for t in n.inputs:
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
        if any(t in dynamic for t in n.inputs if t):
            dynamic.update(t for t in n.outputs if t)
    outputs = frozenset(t for n in nodes for t in n.outputs if t and t not in consumers)
    return Dataflow(producer, consumers, frozenset(dynamic), outputs)
