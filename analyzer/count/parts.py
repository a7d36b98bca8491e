"""A network's static profile put together from the profiles of its segments (a chain of subgraphs each reading
only the one before it: load/nb201.py's stem, blocks, cells and head), so a population counts each distinct
segment once (engine/memo.py).

Every total of a profile is a sum over nodes or initializers (integers: exact in any order), and the per-op records
are the segments' in order, so the combined profile is the whole graph's, number for number. Notes are not: a
segment with a note (an unsupported op, an unknown shape) is not combined (`combinable`), and the caller profiles
the whole graph instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph, TensorInfo
from ..records import ModelProfile
from .profile import profile_graph


@dataclass(frozen=True, slots=True)
class CountedPart:
    """One segment's profile (per-op records kept: the kernel planner reads them) and what combining needs."""

    profile: ModelProfile
    known_nodes: int  # the coverage's numerator (nodes with a rule, subgraphs' included)
    largest_node_bytes: int  # the largest node's tensors, for the memory check of the projection

    @property
    def combinable(self) -> bool:
        return not self.profile.notes and not self.profile.unsupported_ops and self.profile.shape_scale == 1


def count_part(name: str, graph: Graph, initializers: tuple[TensorInfo, ...], batch: int | None) -> CountedPart:
    p = profile_graph(name, "", graph, initializers, batch, per_op=True)
    return CountedPart(p, round(p.coverage * p.nodes), max((n.bytes for n in p.per_op or []), default=0))


def combine(model: str, sha256: str, parts: list[CountedPart], batch: int | None, notes: tuple[str, ...] = (),
            sparsity: tuple[float | None, float | None] = (None, None), counts: list[int] | None = None) -> ModelProfile:
    """The whole network's profile (without per-op records) from its segments' profiles; `counts`: how often each
    part occurs (1 each by default: integer totals do not depend on the order); `notes` and `sparsity` are the
    model's own (a seeded skeleton's recorded sparsity and its note)."""
    if not all(p.combinable for p in parts):
        raise ValueError("a segment with notes is not combined: profile the whole graph")
    counts = counts or [1] * len(parts)
    profs = [p.profile for p in parts]
    macs = sum(p.macs * k for p, k in zip(profs, counts))
    flops = sum(p.flops * k for p, k in zip(profs, counts))
    act = sum(p.activation_bytes * k for p, k in zip(profs, counts))
    wread = sum(p.weight_read_bytes * k for p, k in zip(profs, counts))
    nodes = sum(p.nodes * k for p, k in zip(profs, counts))
    known = sum(p.known_nodes * k for p, k in zip(parts, counts))
    moved = act + wread
    by_type: dict[str, dict[str, int]] = {}
    for p, k in zip(profs, counts):
        for op, agg in p.op_type_totals.items():
            acc = by_type.get(op)
            if acc is None:
                by_type[op] = {"count": agg["count"] * k, "macs": agg["macs"] * k, "flops": agg["flops"] * k, "bytes": agg["bytes"] * k}
            else:
                acc["count"] += agg["count"] * k
                acc["macs"] += agg["macs"] * k
                acc["flops"] += agg["flops"] * k
                acc["bytes"] += agg["bytes"] * k
    return ModelProfile(
        model=model, sha256=sha256, opset=profs[0].opset if profs else 17, batch=batch,
        params=sum(p.params * k for p, k in zip(profs, counts)), macs=macs, flops=flops,
        weight_bytes=sum(p.weight_bytes * k for p, k in zip(profs, counts)), activation_bytes=act, weight_read_bytes=wread,
        bytes_moved=moved, arithmetic_intensity=flops / moved if moved else 0.0, weight_sparsity=sparsity[0], nm_sparsity=sparsity[1],
        coverage=known / nodes if nodes else 1.0, nodes=nodes, unsupported_ops={}, op_type_totals=dict(sorted(by_type.items())),
        notes=list(notes), dims={}, per_op=None, shape_scale=1)
