"""Terminal tables (rich). Human units here only; records keep raw SI numbers."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..records import ModelProfile


def _si(x: float, unit: str = "") -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}".rstrip()


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def render_profiles(profiles: list[ModelProfile], console: Console, per_op: bool = False) -> None:
    if not console.is_terminal:  # pipes and files get the full table rather than 80 squeezed columns
        console.width = max(console.width, 160)
    t = Table(title="Static profile", title_justify="left")
    for col in ("model", "batch", "params", "MACs", "FLOPs", "weights", "activations", "FLOP/B", "zeros", "2:4", "coverage"):
        t.add_column(col, justify="left" if col == "model" else "right")
    for p in profiles:
        t.add_row(escape(p.model), str(p.batch), f"{p.params:,}", _si(p.macs), _si(p.flops), _si(p.weight_bytes, "B"),
                  _si(p.activation_bytes, "B"), f"{p.arithmetic_intensity:.1f}", _pct(p.weight_sparsity),
                  _pct(p.nm_sparsity), _pct(p.coverage))
    console.print(t)
    for p in profiles:
        for note in p.notes:
            console.print(f"[yellow]note[/] {escape(p.model)}: {escape(note)}", highlight=False)
        if per_op and p.per_op:
            nt = Table(title=f"Per operator: {escape(p.model)}", title_justify="left")
            for col in ("node", "op", "class", "MACs", "FLOPs", "bytes", "output shapes"):
                nt.add_column(col, justify="right" if col in ("MACs", "FLOPs", "bytes") else "left")
            for n in p.per_op:
                shapes = ", ".join("x".join(str(d) for d in s) for s in n.output_shapes)
                nt.add_row(escape(n.name), escape(n.op_type) + ("" if n.supported else " (unsupported)"), n.op_class,
                           f"{n.macs:,}", f"{n.flops:,}", f"{n.bytes:,}", shapes)
            console.print(nt)
