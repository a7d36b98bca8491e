"""A tracked run (engine/track.py's record, as a dict) as text: the run's energy and CO2e with its band, one line per
trial span and the idle line, how each meter read, and the tracker's own cost."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from ..units import G_PER_KG, W_PER_KW
from .text import notes, num, table


def _kg(x: float | None) -> str:
    return "n/a" if x is None else f"{x * G_PER_KG:.4g} g" if abs(x) < 1 else f"{x:.4g} kg"


def render_run(d: dict[str, Any], console: Console, quiet: bool = False) -> None:
    a = d["account"]
    band = "" if a["co2e_low_kg"] == a["co2e_high_kg"] else f" (band {_kg(a['co2e_low_kg'])}..{_kg(a['co2e_high_kg'])})"
    console.print(escape(f"run {d['run_id']} ({d['status']}, exit {d['exit_status']}): {d['seconds']:.4g} s, device "
                         f"{num(d['total_energy_j'])} J, facility {a['facility_energy_kwh'] * W_PER_KW:.4g} Wh (PUE {a['pue']:g}), "
                         f"{_kg(a['co2e_kg'])} CO2e at {a['grid_gco2e_per_kwh']:g} g/kWh{band}"
                         + (f", embodied {_kg(a['embodied_co2e_kg'])}" if a["embodied_co2e_kg"] is not None else "")))
    top = [s for s in d["spans"] if not s["parent"]]
    if top:
        t = table("Trials (energy by time: overlapping spans share it; idle apart)")
        for col in ("trial", "candidate", "s", "device J", "share", "CO2e"):
            t.add_column(col, justify="left" if col in ("trial", "candidate") else "right", overflow="fold")
        total = d["total_energy_j"] or 1e-300
        for s in top:
            t.add_row(escape(s["name"]), escape(s["identity"][:40]), num(s["seconds"]), num(s["energy_j"]),
                      f"{s['energy_j'] / total:.1%}", _kg(s["co2e_kg"]))
        idle = sum(d["idle_j"].values())
        t.add_row("(idle)", "", "", num(idle), f"{idle / total:.1%}", _kg(a["co2e_kg"] * idle / total))
        console.print(t)
    if quiet:
        return
    for name, m in d["meters"].items():
        console.print(escape(f"meter {name}: {m['source']} ({m['provenance']})" + (f"; {m['attribution']}" if m["attribution"] else "")))
        if m["method"]:
            console.print(escape(f"  method: {m['method']}"))
    tr = d["tracker"]
    if tr:
        console.print(escape(f"tracker: {num(tr.get('tracker_cpu_s'))} CPU s in its sampling thread, {tr.get('ticks')} readings, "
                             f"{tr.get('late_ticks')} late; peak RSS {num((tr.get('tracker_rss_bytes') or 0) / 2**20)} MiB "
                             f"({tr.get('rss_note')})"))
    console.print(escape(f"log: {d['log']}"))
    notes(d["notes"], console)


def _r(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}x"


def render_compare(d: dict[str, Any], console: Console) -> None:
    """Plan vs the tracked run, per phase (account/plan_compare.py's record)."""
    t = table(f"Plan vs measured: run {d['run_id']} ({d['status']}, {d['chips']} chip(s))")
    for col in ("phase", "kWh plan", "kWh run", "ratio", "h plan", "h run", "ratio", "chip-h plan", "chip-h run", "ratio"):
        t.add_column(col, justify="left" if col == "phase" else "right")
    for row in d["phases"]:
        p, a, r = row["planned"] or {}, row["actual"], row["ratio"] or {}
        t.add_row(row["phase"], num(p.get("energy_kwh")), num(a["energy_kwh"]), _r(r.get("energy_kwh")), num(p.get("hours")),
                  num(a["hours"]), _r(r.get("hours")), num(p.get("chip_hours")), num(a["chip_hours"]), _r(r.get("chip_hours")))
    console.print(t)
    notes(d["notes"], console)
