"""Control flow. The static profiler costs each subgraph first and passes the totals in
`node.subgraph_costs` (attribute name -> OpCost); these handlers combine them."""

from __future__ import annotations

from dataclasses import replace

from ...ir import Node
from ...records import OpCost
from .registry import register


def _scaled(c: OpCost, n: int, notes: tuple[str, ...]) -> OpCost:
    return replace(c, macs=c.macs * n, flops=c.flops * n, inner_bytes=c.inner_bytes * n, op_class="control_flow", notes=c.notes + notes)


@register("If")
def if_(node: Node) -> OpCost:
    """Both branches are costed; the larger (by flops, then macs) is reported, and said so."""
    costs = node.subgraph_costs
    name, cost = max(costs.items(), key=lambda kv: (kv[1].flops, kv[1].macs))
    return _scaled(cost, 1, (f"{node.name}: If reports the larger branch ({name})",))


@register("Loop")
def loop(node: Node) -> OpCost:
    """body x M when the trip count M (input 0) is a constant; otherwise the body once, flagged."""
    body = node.subgraph_costs["body"]
    m = node.input(0)
    if m is not None and m.const_value is not None and len(m.const_value) == 1:
        trips = int(m.const_value[0])
        return _scaled(body, trips, (f"{node.name}: Loop body x {trips} (constant trip count)",))
    return _scaled(body, 1, (f"{node.name}: Loop trip count is not a constant; body counted once (lower bound)",))


@register("Scan")
def scan(node: Node) -> OpCost:
    """body x the length of the scanned axis of the first scan input."""
    body = node.subgraph_costs["body"]
    n_scan = int(node.attrs.get("num_scan_inputs", 1))
    first = len(node.inputs) - n_scan
    axes = list(node.attrs.get("scan_input_axes", ())) or [0]
    dims = node.in_dims(first)
    trips = dims[int(axes[0]) % len(dims)]
    return _scaled(body, trips, (f"{node.name}: Scan body x {trips} iterations",))
