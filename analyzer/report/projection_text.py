"""Terminal tables for `project`: one row per evaluated model (a forward, a decoder's prefill or decode step), with
--per-kernel every kernel of each; responses, training steps and served decoders have their own tables
(generation_text.py, training_text.py, serving_text.py). Rendered from Evaluation dicts and the target's dict alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from .text import (CO2E_PER_ITEM, ENERGY_PER_ITEM, TIME, cell, fold_name, fold_words, header, longest_part, notes, num,
                   table, unit_for)


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
    """One row per model (per model and target where the rows carry a "target": several targets in one table); each
    quantity in the unit its column reads in: latency per item beside per batch, energy per item at the chip (with
    the error model's 90% band) and at the facility, CO2e per 1k items. Kernels, items per second and the embodied
    share only with `wide`; the basis in the title where every row has the same one."""
    e0 = evaluations[0]
    several = any("target" in e for e in evaluations)
    em, eu = unit_for([*(e["energy_range_j"]["high"] for e in evaluations),
                       *(e.get("facility_energy_j_per_item") for e in evaluations)], ENERGY_PER_ITEM)
    cm, cu = unit_for((e["co2e_g_per_item"] for e in evaluations), CO2E_PER_ITEM)
    bm, bu = unit_for((e["embodied_co2e_g_per_item"] for e in evaluations), CO2E_PER_ITEM)
    tm, tu = unit_for((e["latency_s"] for e in evaluations), TIME)
    im, iu = unit_for((e["latency_s"] / max(e["batch"], 1) for e in evaluations), TIME)
    bases = {e["basis"] for e in evaluations}
    where = "" if several else f" on {e0['hardware']}"
    t = table(f"Projected{where} ({e0['dtype']}, {e0['runtime']}, batch {e0['batch']}"
              + (f"; {next(iter(bases))} figures)" if len(bases) == 1 else ")"), tight=True)
    w = (lambda n: 1000) if wide else (lambda n: n)
    # the model column as wide as the widest piece of a name (efficientnet_ whole), the target column giving way
    names = [e["name"] if several else Path(e["model"]).name for e in evaluations]
    model_w = max(11 if several else 14, min(longest_part(names), 20))
    target_w = max(19 - (model_w - 11), longest_part(e.get("target", "") for e in evaluations)) if several else 19
    cols = [("model", model_w)] + ([("target", target_w)] if several else []) + [
        ("kernels", 7), (f"latency {iu} per item", 7), (f"{tu} per batch", 6), ("items/s", 7), (f"chip {eu}", 6),
        ("chip 90% band", 9), (f"facility {eu}", 8), (cu, 6), (f"embodied {bu}", 8), ("bound c/m/l/o", 9), ("basis", 10)]
    drop = set() if wide else {"kernels", "items/s", f"embodied {bu}"} | ({"bound c/m/l/o"} if several else set())
    if len(bases) == 1 or (several and not wide):  # several: each target's basis said under the table
        drop.add("basis")
    cols = [(c, n) for c, n in cols if c not in drop]
    for col, n in cols:
        t.add_column(header(col, w(n)), justify="left" if col in ("model", "target", "basis") else "right", no_wrap=True)
    for e in evaluations:
        emb = None if e["embodied_co2e_g_per_item"] is None else e["embodied_co2e_g_per_item"] * bm
        band, bound = e["energy_range_j"], e["detail"].get("bound", {})
        fac = e.get("facility_energy_j_per_item")
        name = e["name"] if several else Path(e["model"]).name
        cells = {"model": cell(fold_name(name, w(model_w))), "target": cell(fold_words(e.get("target", ""), w(target_w))),
                 "kernels": str(e["kernels"]), f"latency {iu} per item": num(e["latency_s"] / max(e["batch"], 1) * im),
                 f"{tu} per batch": num(e["latency_s"] * tm), "items/s": num(e["throughput_per_s"]),
                 f"chip {eu}": num(e["energy_j_per_item"] * em), "chip 90% band": f"{num(band['low'] * em)}-{num(band['high'] * em)}",
                 f"facility {eu}": num(None if fac is None else fac * em), cu: num(e["co2e_g_per_item"] * cm),
                 f"embodied {bu}": num(emb), "basis": e["basis"],
                 "bound c/m/l/o": "/".join(f"{100 * bound.get(k, 0.0):.0f}" for k in ("compute", "memory", "latency", "overhead"))}
        t.add_row(*(cells[c] for c, _ in cols))
    console.print(t)
    if several and len(bases) > 1 and not wide:
        by = {e.get("target", ""): e["basis"] for e in evaluations}
        console.print(escape("figures: " + "; ".join(f"{k}: {v}" for k, v in by.items())))
    console.print("[dim]energy at the chip: the accelerator's own, with the profile's error model's 90% band; at the facility: "
                  "with its idle time, its host's share (server boundary) and the PUE; CO2e: the facility's energy on the grid"
                  + ("" if several and not wide else "; bound: share of the forward in compute-, memory- and launch-latency-bound "
                     "kernels, and overhead (the device waiting on the host)") + "[/]")


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
