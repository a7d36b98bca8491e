"""Terminal renderings of footprints, 4Ms comparisons (from their records' dicts) and profiles."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table



def _inputs_table(inputs: list[dict]) -> Table:
    t = Table(title="Inputs", title_justify="left")
    for col in ("input", "value", "unit", "kind", "source"):
        t.add_column(col, overflow="fold")
    for i in inputs:
        v = i["value"]
        t.add_row(escape(str(i["name"])), f"{v:,.6g}" if isinstance(v, float) else escape(str(v)), escape(i.get("unit", "")),
                  escape(i.get("kind", "")), escape(str(i.get("source", ""))))
    return t


def render_footprint(f: dict, console: Console) -> None:
    t = Table(title="Footprint", title_justify="left")
    for col in ("energy (kWh)", "operational CO2e (kg)", "embodied CO2e (kg)", "total CO2e (kg)"):
        t.add_column(col, justify="right")
    emb = f["embodied_co2e_kg"]
    t.add_row(f"{f['energy_kwh']:,.1f}", f"{f['co2e_kg']:,.1f}", "n/a" if emb is None else f"{emb:,.1f}", f"{f['total_co2e_kg']:,.1f}")
    console.print(t)
    console.print(_inputs_table(f["inputs"]))
    for n in f["notes"]:
        console.print(f"[yellow]note[/] {escape(n)}")


def render_fourms(r: dict, console: Console) -> None:
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
    console.print(_inputs_table(r["inputs"]))
    for n in r["notes"]:
        console.print(f"[yellow]note[/] {escape(n)}")


def render_profile_list(listing: dict[str, list[dict[str, str]]], console: Console) -> None:
    """`profiles list`: per kind, each profile's name, title and one-line summary (ProfileSet.listing)."""
    for kind, rows in listing.items():
        t = Table(title=kind, title_justify="left")
        t.add_column("name")
        t.add_column("title", overflow="fold")
        t.add_column("summary", overflow="fold")
        for r in rows:
            t.add_row(escape(r["name"]), escape(r["title"]), escape(r["summary"]))
        console.print(t)


def _is_sourced(v: Any) -> bool:
    return isinstance(v, dict) and {"value", "source", "year", "kind"} <= set(v)


def render_profile_show(p: dict[str, Any], console: Console) -> None:
    """`profiles show`: every value of one profile (its record as a dict) with its source, year and kind."""
    t = Table(title=f"{escape(p['name'])}: {escape(p['title'])}  ({escape(p['file'])})", title_justify="left")
    for col in ("key", "value", "kind", "year", "source"):  # keys, kinds and years whole; long values and sources wrap
        t.add_column(col, overflow="fold", no_wrap=col in ("kind", "year"), max_width=26 if col == "key" else None,
                     min_width={"key": 22, "value": 8, "source": 12}.get(col), ratio=2 if col == "source" else None)
    if "years" in p:  # a region: one row per year
        for y, row in sorted(p["years"].items()):
            t.add_row(f"{y} grid_gco2e_per_kwh", f"{row['grid_gco2e_per_kwh']:g}", row["kind"], str(y), escape(row["source"]))
            if row.get("cfe_fraction") is not None:
                t.add_row(f"{y} cfe_fraction", f"{row['cfe_fraction']:g}", row["kind"], str(y), escape(row["source"]))
    else:
        for key, v in p.items():
            if _is_sourced(v):
                t.add_row(key, f"{v['value']:g}", v["kind"], str(v["year"]), escape(v["source"]))
            elif isinstance(v, dict) and v and all(_is_sourced(x) for x in v.values()):
                for sub, x in v.items():
                    t.add_row(f"{key}.{sub}", f"{x['value']:g}", x["kind"], str(x["year"]), escape(x["source"]))
            elif isinstance(v, dict):  # a table of plain values ([calibration], a search's procedure)
                for sub, x in v.items():
                    if _is_sourced(x):
                        t.add_row(f"{key}.{sub}", f"{x['value']:g}", x["kind"], str(x["year"]), escape(x["source"]))
                    elif not isinstance(x, (dict, list)):
                        t.add_row(f"{key}.{sub}", escape(str(x)), "", "", "")
            elif key not in ("name", "title", "file") and v:
                t.add_row(key, escape(str(v)), "", "", "")
    console.print(t)
