"""IR -> static profile: per-node costs from the handler registry, bytes moved, params, coverage."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from . import ops
from .canonical import canonical, constant_tensors
from ..errors import AnalyzerError, ShapeError, UnboundDimError
from ..ir import Graph, Node, TensorInfo
from ..records import ModelProfile, NodeProfile, OpCost


@dataclass(frozen=True, slots=True)
class CostedNode:
    node: Node
    cost: OpCost
    supported: bool
    act_bytes: int
    weight_bytes: int
    unknown_tensors: int = 0  # tensors of a supported node whose shape is unknown: left out of the bytes


def node_cost(node: Node) -> tuple[OpCost, bool]:
    """The node's cost and whether a rule was known for it. Unknown ops cost OpCost() but are reported."""
    if ops.zero_cost_reason(node.domain, node.op_type) is not None:
        return OpCost(op_class="view", moves_bytes=False), True
    handler = ops.lookup(node.domain, node.op_type)
    if handler is None:
        return OpCost(op_class="unsupported"), False
    if node.subgraphs:
        node = replace(node, subgraph_costs={k: graph_cost(g) for k, g in node.subgraphs.items()})
    try:
        return handler(node), True
    except AnalyzerError:
        raise
    except (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError) as e:
        raise ShapeError(f"{node.where}: inputs do not fit the operator ({type(e).__name__}: {e})") from None


def _node_bytes(node: Node, cost: OpCost, const: frozenset[str] = frozenset()) -> tuple[int, int, int]:
    """(activation bytes, weight bytes, tensors of unknown shape) read and written by the node, each distinct
    tensor once; constant tensors (`const`) count as weights. A tensor of unknown shape counts 0 bytes; the
    caller says how many there were."""
    if not cost.moves_bytes:
        return 0, 0, 0
    seen: set[str] = set()
    act = weight = unknown = 0
    partial = dict(cost.partial_reads)
    for i, t in enumerate((*node.inputs, *node.outputs)):
        if t is None or t.name in seen:
            continue
        seen.add(t.name)
        if t.shape is None or str in set(map(type, t.shape)):  # a named dim: unknown
            unknown += 1
            continue
        n = partial[i] if i in partial else math.ceil(math.prod(t.shape) * t.itemsize)  # type: ignore[arg-type]
        if t.is_initializer or t.name in const:
            weight += n
        else:
            act += n
    return act, weight, unknown


def cost_nodes(graph: Graph) -> list[CostedNode]:
    """Each node of the canonical graph (count/canonical.py) with its cost and bytes."""
    graph = canonical(graph)
    out: list[CostedNode] = []
    unsupported_seen: list[str] = []
    const = constant_tensors(graph)
    for node in graph.nodes:
        try:
            cost, ok = node_cost(node)
        except UnboundDimError as e:
            if unsupported_seen:
                raise UnboundDimError(e.dims, f"{node.where}, downstream of unsupported "
                                      f"{', '.join(sorted(set(unsupported_seen)))} whose output shapes are unknown") from None
            raise
        if not ok:
            unsupported_seen.append(node.qualified_op)
        act, w, unknown = _node_bytes(node, cost, const)
        out.append(CostedNode(node, cost, ok, act + cost.inner_bytes, w, unknown if ok else 0))
    return out


def graph_cost(graph: Graph) -> OpCost:
    """A whole (sub)graph folded into one OpCost, for control-flow handlers."""
    nodes = cost_nodes(graph)
    unsupported: Counter[str] = Counter()
    known = total = 0
    for c in nodes:
        unsupported.update(dict(c.cost.unsupported))
        if not c.supported:
            unsupported[c.node.qualified_op] += 1
        known += c.supported + c.cost.known_nodes
        total += 1 + c.cost.total_nodes
    return OpCost(
        macs=sum(c.cost.macs for c in nodes), flops=sum(c.cost.flops for c in nodes), op_class="control_flow",
        notes=tuple(n for c in nodes for n in c.cost.notes), unsupported=tuple(sorted(unsupported.items())),
        known_nodes=known, total_nodes=total, inner_bytes=sum(c.act_bytes + c.weight_bytes for c in nodes))


def simple_attrs(attrs: Any) -> dict[str, Any]:
    """The attributes a kernel model reads (group, kernel_shape, strides, axis, equation, ...): numbers,
    short strings and number lists; tensors and subgraphs are left out."""
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        kind = type(v)
        if kind is int or kind is float or kind is bool or (kind is str and len(v) <= 64):
            out[k] = v
        elif (kind is list or kind is tuple) and len(v) <= 16 and set(map(type, v)) <= _NUMBERS:
            out[k] = list(v)
    return out


_NUMBERS = {int, float}


def params_of(initializers: tuple[TensorInfo, ...], param_names: set[str]) -> int:
    return sum(math.prod(t.shape) for t in initializers if t.name in param_names and t.shape is not None)  # type: ignore[misc]


@dataclass(frozen=True)
class ProfileHeader:
    """What a profile says of its model beside the counts: its name, sha256 (or the identity standing for it), opset,
    batch, parameter count, the batch `scale` (> 1: per-item work and activation traffic multiplied, the batch pinned by
    constants; weights counted once), (weight, N:M) sparsity (None: not scanned), the loader's notes and the dims
    bound."""
    model: str
    sha256: str
    opset: int
    batch: int | None
    params: int
    scale: int = 1
    sparsity: tuple[float | None, float | None] = (None, None)
    notes: tuple[str, ...] = ()
    dims: dict[str, int] | None = None


def summarise(header: ProfileHeader, graph: Graph, initializers: tuple[TensorInfo, ...], per_op: bool = False) -> ModelProfile:
    """Fold per-node costs into a ModelProfile (see ProfileHeader for `scale`)."""
    model, sha256, opset, batch, params = header.model, header.sha256, header.opset, header.batch, header.params
    scale, sparsity, notes, dims = header.scale, header.sparsity, header.notes, header.dims
    graph = canonical(graph)
    nodes = cost_nodes(graph)
    const = constant_tensors(graph)
    unsupported: Counter[str] = Counter()
    by_type: dict[str, dict[str, int]] = {}
    known = total = 0
    macs = flops = act = wread = 0
    records: list[NodeProfile] = []
    all_notes = list(notes)
    for c in nodes:
        n_macs, n_flops, n_act = c.cost.macs * scale, c.cost.flops * scale, c.act_bytes * scale
        macs, flops, act, wread = macs + n_macs, flops + n_flops, act + n_act, wread + c.weight_bytes
        unsupported.update(dict(c.cost.unsupported))
        if not c.supported:
            unsupported[c.node.qualified_op] += 1
        known += c.supported + c.cost.known_nodes
        total += 1 + c.cost.total_nodes
        all_notes.extend(c.cost.notes)
        agg = by_type.setdefault(c.node.qualified_op, {"count": 0, "macs": 0, "flops": 0, "bytes": 0})
        agg["count"] += 1
        agg["macs"] += n_macs
        agg["flops"] += n_flops
        agg["bytes"] += n_act + c.weight_bytes
        if per_op:
            records.append(NodeProfile(
                c.node.name, c.node.qualified_op, c.cost.op_class, n_macs, n_flops, n_act + c.weight_bytes,
                c.weight_bytes, [list(t.shape) if t is not None and t.shape is not None else [] for t in c.node.outputs],
                c.supported, [t.name if t is not None else "" for t in c.node.inputs],
                [t.name if t is not None else "" for t in c.node.outputs],
                [list(t.shape) if t is not None and t.shape is not None else [] for t in c.node.inputs],
                [bool(t is not None and (t.is_initializer or t.const_value is not None or t.name in const)) for t in c.node.inputs],
                simple_attrs(c.node.attrs), [t.dtype if t is not None else "" for t in c.node.inputs]))
    weight_bytes = sum(math.ceil(math.prod(t.shape) * t.itemsize) for t in initializers if t.shape is not None)  # type: ignore[misc]
    moved = act + wread
    if min(macs, flops, act, wread, weight_bytes) < 0:  # a backstop: shapes are checked at load time
        raise ShapeError(f"{model}: counts came out negative (MACs {macs}, bytes {moved}): the model's shapes make no sense")
    for op, count in sorted(unsupported.items()):
        all_notes.append(f"unsupported op {op} x{count}: its work is not counted")
    unknown = sum(c.unknown_tensors for c in nodes)
    if unknown:
        all_notes.append(f"bytes moved leave out {unknown} tensors of supported ops whose shape could not be determined: "
                         "a lower bound")
    return ModelProfile(
        model=model, sha256=sha256, opset=opset, batch=batch, params=params, macs=macs, flops=flops,
        weight_bytes=weight_bytes, activation_bytes=act, weight_read_bytes=wread, bytes_moved=moved,
        arithmetic_intensity=flops / moved if moved else 0.0, weight_sparsity=sparsity[0], nm_sparsity=sparsity[1],
        coverage=known / total if total else 1.0, nodes=total, unsupported_ops=dict(sorted(unsupported.items())),
        op_type_totals=dict(sorted(by_type.items())), notes=all_notes, dims=dict(dims or {}),
        per_op=records if per_op else None, shape_scale=scale)
