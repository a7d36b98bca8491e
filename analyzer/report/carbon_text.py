"""Terminal renderings of footprints, 4Ms comparisons (from their records' dicts) and profiles."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table



def _inputs_table(inputs: list[dict], width: int) -> Table:
    """Each input with its value, unit, kind and source, folded at spaces and separators to the console's width
    (text.folded_table): no key, profile name or source cut mid-word."""
    from .text import folded_table

    rows = [[str(i["name"]), f"{i['value']:,.6g}" if isinstance(i["value"], float) else str(i["value"]), i.get("unit", ""),
             i.get("kind", ""), str(i.get("source", ""))] for i in inputs]
    headers = ["input", "value", "unit", "kind", "source"]
    return folded_table(Table(title="Inputs", title_justify="left"), headers, rows, width - 3 * len(headers) - 1,
                        weight={4: 2.0})


def render_footprint(f: dict, console: Console, quiet: bool = False) -> None:
    t = Table(title="Footprint", title_justify="left")
    for col in ("energy (kWh)", "operational CO2e (kg)", "embodied CO2e (kg)", "total CO2e (kg)"):
        t.add_column(col, justify="right")
    emb = f["embodied_co2e_kg"]
    t.add_row(f"{f['energy_kwh']:,.1f}", f"{f['co2e_kg']:,.1f}", "n/a" if emb is None else f"{emb:,.1f}", f"{f['total_co2e_kg']:,.1f}")
    console.print(t)
    console.print(_inputs_table(f["inputs"], console.width))
    for n in [] if quiet else f["notes"]:
        console.print(f"[yellow]note[/] {escape(n)}")


def render_fourms(r: dict, console: Console, quiet: bool = False) -> None:
    t = Table(title="The 4Ms", title_justify="left")
    for col in ("factor", "x"):
        t.add_column(col, justify="right" if col == "x" else "left")
    for name, key in (("Model (compute)", "model"), ("Machine (perf/W)", "machine"), ("Mechanization (PUE)", "mechanization"),
                      ("energy = Model x Machine x Mechanization", "energy"), ("Map (grid intensity)", "map"), ("CO2e = energy x Map", "co2e")):
        t.add_row(name, f"{r[key]:,.3g}")
    console.print(t)
    s = Table(title="Both sides", title_justify="left")
    for col in ("", "hardware", "TFLOP/s", "W", "PUE", "gCO2e/kWh", "energy kWh", "CO2e kg"):
        s.add_column(col, justify="left" if col in ("", "hardware") else "right")
    for side in (r["base"], r["new"]):
        s.add_row(escape(side["label"]), escape(side["hardware"]), f"{side['throughput_tflops']:g}", f"{side['avg_power_w']:g}",
                  f"{side['pue']:g}", f"{side['grid_gco2e_per_kwh']:.4g}",
                  "n/a" if side["energy_kwh"] is None else f"{side['energy_kwh']:,.4g}", "n/a" if side["co2e_kg"] is None else f"{side['co2e_kg']:,.4g}")
    console.print(s)
    console.print(_inputs_table(r["inputs"], console.width))
    for n in [] if quiet else r["notes"]:
        console.print(f"[yellow]note[/] {escape(n)}")


def render_profile_list(listing: dict[str, list[dict[str, str]]], console: Console) -> None:
    """`profiles list`: per kind, each profile's name, title and one-line summary (ProfileSet.listing), folded
    at spaces and separators."""
    from .text import folded_table

    for kind, entries in listing.items():
        rows = [[r["name"], r["title"], r["summary"]] for r in entries]
        # a profile's name is what the user types: whole on one line (up to 32 characters), the other columns fold
        name_w = min(max((len(r[0]) for r in rows), default=4), 32)
        console.print(folded_table(Table(title=kind, title_justify="left"), ["name", "title", "summary"], rows,
                                   console.width - 10, at_least={0: name_w}, weight={2: 2.0}))


def _is_sourced(v: Any) -> bool:
    return isinstance(v, dict) and {"value", "source", "year", "kind"} <= set(v)


def render_profile_show(p: dict[str, Any], console: Console) -> None:
    """`profiles show`: every value of one profile (its record as a dict) with its source, year and kind."""
    from .text import cell, fold_words, folded_table

    t = Table(title=cell(fold_words(f"{p['name']}: {p['title']} ({p['file']})", console.width)), title_justify="left")
    rows: list[list[str]] = []
    if "years" in p:  # a region: one row per year
        for y, row in sorted(p["years"].items()):
            rows.append([f"{y} grid_gco2e_per_kwh", f"{row['grid_gco2e_per_kwh']:g}", row["kind"], str(y), row["source"]])
            if row.get("cfe_fraction") is not None:
                rows.append([f"{y} cfe_fraction", f"{row['cfe_fraction']:g}", row["kind"], str(y), row["source"]])
    else:
        for key, v in p.items():
            if _is_sourced(v):
                rows.append([key, f"{v['value']:g}", v["kind"], str(v["year"]), v["source"]])
            elif isinstance(v, dict) and v and all(_is_sourced(x) for x in v.values()):
                for sub, x in v.items():
                    rows.append([f"{key}.{sub}", f"{x['value']:g}", x["kind"], str(x["year"]), x["source"]])
            elif isinstance(v, dict):  # a table of plain values ([calibration], a search's procedure)
                for sub, x in v.items():
                    if _is_sourced(x):
                        rows.append([f"{key}.{sub}", f"{x['value']:g}", x["kind"], str(x["year"]), x["source"]])
                    elif not isinstance(x, (dict, list)):
                        rows.append([f"{key}.{sub}", str(x), "", "", ""])
            elif key not in ("name", "title", "file") and v:
                rows.append([key, str(v), "", "", ""])
    # keys whole where they fit (achievable_tflops.bf16: 22), then the value and the source share the rest
    console.print(folded_table(t, ["key", "value", "kind", "year", "source"], rows, console.width - 16, at_least={0: 22},
                               weight={4: 2.0}))
