"""Terminal tables for `project`: one row per evaluated model (a forward, a decoder's prefill or decode step), with
--per-kernel every kernel of each; responses, training steps and served decoders have their own tables
(generation_text.py, training_text.py, serving_text.py). Rendered from Evaluation dicts and the target's dict alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text  # a header we wrap ourselves: our line break, not a user's control character
from rich.markup import escape

from .text import CO2E_PER_ITEM, CHIP_ENERGY_PER_ITEM, TIME, notes, num, table, two_lines, unit_for


def render_evaluations(evaluations: list[dict[str, Any]], target: dict[str, Any], console: Console, wide: bool = False) -> None:
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

        render_serving(evaluations, console, wide)
    else:
        render_projections(evaluations, console, wide)
        for e in evaluations:
            if e["detail"].get("per_kernel"):
                render_per_kernel(e, console, wide)
    render_notes(target.get("notes", []), evaluations, console)


def render_notes(target_notes: list[str], evaluations: list[dict[str, Any]], console: Console) -> None:
    """The target's notes, then a note several models share once (naming them), then each model's own, named."""
    notes(target_notes, console)
    who: dict[str, list[str]] = {}
    for e in evaluations:
        for n in e["notes"]:
            who.setdefault(n, []).append(Path(e["model"]).name)
    for n, names in who.items():
        if n in target_notes:
            continue
        if len(names) == len(evaluations) and len(names) > 1:
            prefix = ""
        elif len(names) > 3:
            prefix = f"{len(names)} models ({', '.join(names[:3])}, ...): "
        else:
            prefix = f"{', '.join(dict.fromkeys(names))}: "
        console.print(f"[yellow]note[/] {escape(prefix + n)}")


def render_projections(evaluations: list[dict[str, Any]], console: Console, wide: bool = False) -> None:
    """One row per model; the target (one for all rows) in the title; each quantity in the unit its column reads in.
    Items per second and the embodied share only with `wide`."""
    e0 = evaluations[0]
    em, eu = unit_for((e["energy_range_j"]["high"] for e in evaluations), CHIP_ENERGY_PER_ITEM)
    cm, cu = unit_for((e["co2e_g_per_item"] for e in evaluations), CO2E_PER_ITEM)
    bm, bu = unit_for((e["embodied_co2e_g_per_item"] for e in evaluations), CO2E_PER_ITEM)
    tm, tu = unit_for((e["latency_s"] for e in evaluations), TIME)
    t = table(f"Projected on {e0['hardware']} ({e0['dtype']}, {e0['runtime']}, batch {e0['batch']})")
    cols = ["model", "kernels", f"latency {tu}", "items/s", eu, "90% band", cu, f"embodied {bu}", "bound c/m/l/o", "basis"]
    if not wide:
        cols.remove("items/s")
        cols.remove(f"embodied {bu}")
    for col in cols:
        t.add_column(Text(two_lines(col)) if col not in ("90% band", "kernels") else col,
                     justify="left" if col in ("model", "basis") else "right", no_wrap=col != "basis", min_width=10 if col == "basis" else None)
    for e in evaluations:
        emb = None if e["embodied_co2e_g_per_item"] is None else e["embodied_co2e_g_per_item"] * bm
        band, bound = e["energy_range_j"], e["detail"].get("bound", {})
        cells = {"model": escape(Path(e["model"]).name), "kernels": str(e["kernels"]), f"latency {tu}": num(e["latency_s"] * tm),
                 "items/s": num(e["throughput_per_s"]), eu: num(e["energy_j_per_item"] * em),
                 "90% band": f"{num(band['low'] * em)}-{num(band['high'] * em)}", cu: num(e["co2e_g_per_item"] * cm),
                 f"embodied {bu}": num(emb), "basis": e["basis"],
                 "bound c/m/l/o": "/".join(f"{100 * bound.get(k, 0.0):.0f}" for k in ("compute", "memory", "latency", "overhead"))}
        t.add_row(*(cells[c] for c in cols))
    console.print(t)
    console.print("[dim]bound: share of the forward in compute-bound, memory-bound and launch-latency-bound kernels, and "
                  "overhead (the device waiting on the host); band: the profile's error model, 90%[/]")


def render_per_kernel(e: dict[str, Any], console: Console, wide: bool = False) -> None:
    """Every kernel of one model; the ONNX node each comes from with `wide`."""
    d = e["detail"]
    console.print(escape(f"Kernels of {Path(e['model']).name} ({e['runtime']}, {e['dtype']}, batch {e['batch']}): "
                         f"{d['kernels']} kernels, {d['host_ops']} operators issued"))
    t = table()
    cols = ("#", "kernel", "class", "unit", "GFLOP", "MB", "time us", "bound", "energy mJ") + (("node",) if wide else ())
    for col in cols:
        t.add_column(col, justify="left" if col in ("node", "kernel", "class", "unit", "bound") else "right",
                     overflow="fold", no_wrap=col != "node")
    for i, k in enumerate(d.get("per_kernel") or [], 1):
        t.add_row(str(i), escape(k["kernel"]), k["class"], k["unit"], f"{k['flops'] / 1e9:.4g}", f"{k['bytes'] / 1e6:.4g}",
                  f"{k['time_s'] * 1e6:.3g}", k["bound"], f"{k['energy_j'] * 1e3:.3g}", *((escape(k["op"]),) if wide else ()))
    console.print(t)
