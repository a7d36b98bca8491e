"""Terminal tables for projections: one row per model, and with --per-kernel every kernel of each."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..project.projection import Projection


def render_projections(results: list[Projection], console: Console) -> None:
    t = Table(title="Projected", title_justify="left")
    for col in ("model", "hardware", "dtype", "runtime", "batch", "kernels", "latency ms", "items/s", "J/item (90% band)",
                "gCO2e/item", "kg/M items", "embodied g/item", "bound c/m/l/o", "basis"):
        t.add_column(col, justify="left" if col in ("model", "hardware", "runtime", "basis") else "right", overflow="fold")
    for r in results:
        emb = "n/a" if r.embodied_co2e_g_per_item is None else f"{r.embodied_co2e_g_per_item:.3g}"
        t.add_row(escape(Path(r.model).name), escape(r.hardware), r.dtype, r.runtime, str(r.batch), str(r.kernels),
                  f"{r.latency_s * 1e3:.4g}", f"{r.throughput_per_s:.4g}",
                  f"{r.energy_j_per_item:.3g} ({r.range['low']:.2g}-{r.range['high']:.2g})",
                  f"{r.co2e_g_per_item:.3g}", f"{r.co2e_kg_per_million:.3g}", emb,
                  "/".join(f"{100 * r.bound.get(k, 0.0):.0f}" for k in ("compute", "memory", "latency", "overhead")), r.basis)
    console.print(t)
    console.print("[dim]bound: share of the forward in compute-bound, memory-bound and launch-latency-bound kernels, and "
                  "overhead (the device waiting on the host); band: the profile's error model, 90%[/]")
    common = set.intersection(*(set(r.notes) for r in results)) if len(results) > 1 else set()
    for n in (n for n in results[0].notes if n in common):
        console.print(f"[yellow]note[/] {escape(n)}")
    for r in results:
        for n in r.notes:
            if n not in common:
                console.print(f"[yellow]note[/] {escape(Path(r.model).name)}: {escape(n)}")


def render_per_kernel(r: Projection, console: Console) -> None:
    t = Table(title=f"Kernels of {escape(Path(r.model).name)} ({r.runtime}, {r.dtype}, batch {r.batch}): {r.kernels} kernels, "
                    f"{r.host_ops} operators issued", title_justify="left")
    for col in ("#", "node", "kernel", "class", "unit", "GFLOP", "MB", "time us", "bound", "energy mJ"):
        t.add_column(col, justify="left" if col in ("node", "kernel", "class", "unit", "bound") else "right", overflow="fold")
    for i, k in enumerate(r.per_kernel or [], 1):
        t.add_row(str(i), escape(k["op"]), escape(k["kernel"]), k["class"], k["unit"], f"{k['flops'] / 1e9:.4g}",
                  f"{k['bytes'] / 1e6:.4g}", f"{k['time_s'] * 1e6:.3g}", k["bound"], f"{k['energy_j'] * 1e3:.3g}")
    console.print(t)
