"""Terminal tables for `project`: one row per evaluated model (a forward, a decoder's prefill or decode step), with
--per-kernel every kernel of each; responses, training steps and served decoders have their own tables
(generation_text.py, training_text.py, serving_text.py). Rendered from Evaluation dicts and the target's dict alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def render_evaluations(evaluations: list[dict[str, Any]], target: dict[str, Any], console: Console) -> None:
    """Dispatch on the phase: a response's and a training step's tables differ from a forward's."""
    phase = evaluations[0]["phase"]
    if phase == "response":
        from .generation_text import render_generation

        render_generation(evaluations, console)
    elif phase == "train":
        from .training_text import render_training

        render_training(evaluations, console)
    elif phase == "serving":
        from .serving_text import render_serving

        render_serving(evaluations, console)
    else:
        render_projections(evaluations, console)
        for e in evaluations:
            if e["detail"].get("per_kernel"):
                render_per_kernel(e, console)
    render_notes(target.get("notes", []), evaluations, console)


def render_notes(target_notes: list[str], evaluations: list[dict[str, Any]], console: Console) -> None:
    """The target's notes, then the notes every model shares once, then each model's own, named."""
    for n in target_notes:
        console.print(f"[yellow]note[/] {escape(n)}")
    common = set.intersection(*(set(e["notes"]) for e in evaluations)) if len(evaluations) > 1 else set()
    for n in (n for n in evaluations[0]["notes"] if n in common):
        console.print(f"[yellow]note[/] {escape(n)}")
    for e in evaluations:
        for n in e["notes"]:
            if n not in common:
                console.print(f"[yellow]note[/] {escape(Path(e['model']).name)}: {escape(n)}")


def render_projections(evaluations: list[dict[str, Any]], console: Console) -> None:
    t = Table(title="Projected", title_justify="left")
    for col in ("model", "hardware", "dtype", "runtime", "batch", "kernels", "latency ms", "items/s", "J/item (90% band)",
                "gCO2e/item", "kg/M items", "embodied g/item", "bound c/m/l/o", "basis"):
        t.add_column(col, justify="left" if col in ("model", "hardware", "runtime", "basis") else "right", overflow="fold")
    for e in evaluations:
        emb = "n/a" if e["embodied_co2e_g_per_item"] is None else f"{e['embodied_co2e_g_per_item']:.3g}"
        band, bound = e["energy_range_j"], e["detail"].get("bound", {})
        t.add_row(escape(Path(e["model"]).name), escape(e["hardware"]), e["dtype"], e["runtime"], str(e["batch"]), str(e["kernels"]),
                  f"{e['latency_s'] * 1e3:.4g}", f"{e['throughput_per_s']:.4g}",
                  f"{e['energy_j_per_item']:.3g} ({band['low']:.2g}-{band['high']:.2g})",
                  f"{e['co2e_g_per_item']:.3g}", f"{e['co2e_kg_per_million']:.3g}", emb,
                  "/".join(f"{100 * bound.get(k, 0.0):.0f}" for k in ("compute", "memory", "latency", "overhead")), e["basis"])
    console.print(t)
    console.print("[dim]bound: share of the forward in compute-bound, memory-bound and launch-latency-bound kernels, and "
                  "overhead (the device waiting on the host); band: the profile's error model, 90%[/]")


def render_per_kernel(e: dict[str, Any], console: Console) -> None:
    d = e["detail"]
    t = Table(title=f"Kernels of {escape(Path(e['model']).name)} ({e['runtime']}, {e['dtype']}, batch {e['batch']}): "
                    f"{d['kernels']} kernels, {d['host_ops']} operators issued", title_justify="left")
    for col in ("#", "node", "kernel", "class", "unit", "GFLOP", "MB", "time us", "bound", "energy mJ"):
        t.add_column(col, justify="left" if col in ("node", "kernel", "class", "unit", "bound") else "right", overflow="fold")
    for i, k in enumerate(d.get("per_kernel") or [], 1):
        t.add_row(str(i), escape(k["op"]), escape(k["kernel"]), k["class"], k["unit"], f"{k['flops'] / 1e9:.4g}",
                  f"{k['bytes'] / 1e6:.4g}", f"{k['time_s'] * 1e6:.3g}", k["bound"], f"{k['energy_j'] * 1e3:.3g}")
    console.print(t)
