"""Result records: raw SI numbers, plain and serialisable (to_dict / from_dict), no formatting."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class OpCost:
    """What a handler returns for one node.

    macs: multiply-accumulates of matrix products (Conv, ConvTranspose, MatMul, Gemm, Einsum, attention,
    RNN gate GEMMs). flops: 2 x macs plus every other arithmetic operation of the node.
    moves_bytes: False for metadata-only ops (views), whose tensors are not read or written.
    """

    macs: int = 0
    flops: int = 0
    op_class: str = "elementwise"
    moves_bytes: bool = True
    notes: tuple[str, ...] = ()
    unsupported: tuple[tuple[str, int], ...] = ()  # from subgraphs: (op, count)
    known_nodes: int = 0  # from subgraphs: nodes with a rule
    total_nodes: int = 0  # from subgraphs: all nodes
    inner_bytes: int = 0  # from subgraphs: bytes their nodes read and write
    partial_reads: tuple[tuple[int, int], ...] = ()  # (input index, bytes read) where a node reads part of an input


@dataclass(frozen=True, slots=True)
class NodeProfile:
    name: str
    op_type: str
    op_class: str
    macs: int
    flops: int
    bytes: int  # bytes read and written by the node, each distinct tensor once
    weight_bytes: int  # part of `bytes` read from initializers
    output_shapes: list[list[int | str]]
    supported: bool
    inputs: list[str] = field(default_factory=list)  # tensor names, so projection can apply fusion rules
    outputs: list[str] = field(default_factory=list)
    # What the kernel model needs to map a node to the kernels a runtime launches: input shapes ([] when
    # unknown or omitted), which inputs are initializers, and the node's scalar / int-list attributes.
    input_shapes: list[list[int | str]] = field(default_factory=list)
    initializer_inputs: list[bool] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelProfile:
    model: str
    sha256: str
    opset: int
    batch: int | None
    params: int
    macs: int
    flops: int
    weight_bytes: int
    activation_bytes: int
    weight_read_bytes: int
    bytes_moved: int
    arithmetic_intensity: float
    weight_sparsity: float | None
    nm_sparsity: float | None
    coverage: float
    nodes: int
    unsupported_ops: dict[str, int]
    op_type_totals: dict[str, dict[str, int]]
    notes: list[str] = field(default_factory=list)
    dims: dict[str, int] = field(default_factory=dict)
    per_op: list[NodeProfile] | None = None
    shape_scale: int = 1  # > 1 when the batch is pinned in the graph: per-op shapes describe one item of shape_scale

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.per_op is None:
            d.pop("per_op")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelProfile":
        d = dict(d)
        per_op = d.pop("per_op", None)
        return cls(**d, per_op=None if per_op is None else [NodeProfile(**p) for p in per_op])
