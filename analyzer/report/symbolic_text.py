"""Terminal tables for `profile --symbolic`: cost formulas in the free input dims."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

_LABELS = {"macs": "MACs", "flops": "FLOPs", "bytes_moved": "bytes moved", "activation_bytes": "activation bytes",
           "weight_read_bytes": "weight bytes read"}
MAX_OP_ROWS = 15


def _degree(poly: dict[str, Any]) -> int:
    return max((sum(t["powers"].values()) for t in poly["terms"]), default=0)


def _at(poly: dict[str, Any], value: float) -> float:
    """The polynomial with every free dim at `value` (to order operator types by size)."""
    return sum(t["coefficient"] * value ** sum(t["powers"].values()) for t in poly["terms"])


def render_symbolic(profiles: list[dict[str, Any]], console: Console) -> None:
    """Cost formulas from SymbolicProfile dicts: totals, then the operator types that grow with the free dims."""
    for s in profiles:
        bound = ", ".join(f"{k}={v}" for k, v in s["bound"].items())
        t = Table(title=f"Cost formulas: {escape(s['model'])} in {', '.join(s['variables'])}" + (f" ({escape(bound)})" if bound else ""),
                  title_justify="left")
        t.add_column("quantity")
        t.add_column("formula (exact)", overflow="fold")
        for q, p in s["totals"].items():
            t.add_row(_LABELS[q], escape(p["text"]))
        console.print(t)
        growing = [(op, q) for op, q in s["op_types"].items() if _degree(q["macs"]) or _degree(q["bytes"])]
        growing.sort(key=lambda oq: (-_degree(oq[1]["macs"]), -_at(oq[1]["macs"], 128)))
        if growing:
            ot = Table(title="By operator type (those that grow with the free dims)", title_justify="left")
            for col in ("op", "MACs", "bytes"):
                ot.add_column(col, overflow="fold")
            for op, q in growing[:MAX_OP_ROWS]:
                ot.add_row(escape(op), escape(q["macs"]["text"]), escape(q["bytes"]["text"]))
            console.print(ot)
            if len(growing) > MAX_OP_ROWS:
                console.print(f"note {len(growing) - MAX_OP_ROWS} more operator types in --format json", highlight=False)
        checked = "; ".join(", ".join(f"{k}={v}" for k, v in c.items()) for c in s["checked_at"])
        console.print(f"note interpolated exactly from {s['profiles_run']} profiles; checked against fresh profiles at {checked}",
                      highlight=False)
        for n in s["notes"]:
            console.print(f"note {escape(n)}", highlight=False)
