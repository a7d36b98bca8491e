"""Our intermediate representation: plain frozen records that cost handlers see instead of protobuf.

A dim is an int when known, or a string when symbolic ("batch") or unknown ("?"). Handlers call
`TensorInfo.dims()` which raises `UnboundDimError` naming the unknown dims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import UnboundDimError

Dim = int | str


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    shape: tuple[Dim, ...] | None  # None: rank unknown
    dtype: str
    itemsize: float
    is_initializer: bool = False
    const_value: tuple[float, ...] | None = None  # small constant (scalar/int vector) values, when known

    def dims(self, where: str = "") -> tuple[int, ...]:
        if self.shape is None:
            raise UnboundDimError([f"?rank({self.name})"], where)
        unknown = [d for d in self.shape if not isinstance(d, int)]
        if unknown:
            raise UnboundDimError([str(d) for d in unknown], where or self.name)
        return self.shape  # type: ignore[return-value]

    def numel(self, where: str = "") -> int:
        return math.prod(self.dims(where))

    def nbytes(self, where: str = "") -> int:
        return math.ceil(self.numel(where) * self.itemsize)


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    op_type: str
    domain: str  # "" for the default ONNX domain
    attrs: Mapping[str, Any]
    inputs: tuple[TensorInfo | None, ...]  # None for an omitted optional input
    outputs: tuple[TensorInfo | None, ...]
    subgraphs: Mapping[str, "Graph"] = field(default_factory=dict)
    # Filled in by the static profiler for control-flow nodes before their handler runs.
    subgraph_costs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"node '{self.name}' ({self.qualified_op})"

    @property
    def qualified_op(self) -> str:
        return self.op_type if self.domain in ("", "ai.onnx") else f"{self.domain}::{self.op_type}"

    def input(self, i: int) -> TensorInfo | None:
        return self.inputs[i] if i < len(self.inputs) else None

    def in_dims(self, i: int) -> tuple[int, ...]:
        t = self.input(i)
        if t is None:
            raise IndexError(i)
        return t.dims(self.where)

    def out_dims(self, i: int = 0) -> tuple[int, ...]:
        t = self.outputs[i]
        if t is None:
            raise IndexError(i)
        return t.dims(self.where)

    def out_numel(self, i: int = 0) -> int:
        return math.prod(self.out_dims(i))

    def in_numel(self, i: int) -> int:
        return math.prod(self.in_dims(i))


@dataclass(frozen=True, slots=True)
class Graph:
    name: str
    nodes: tuple[Node, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
