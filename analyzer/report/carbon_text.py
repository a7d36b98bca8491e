"""Terminal renderings of footprints, 4Ms comparisons (from their records' dicts) and profiles."""

from __future__ import annotations

from dataclasses import fields

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..profiles import DatacenterProfile, HardwareProfile, NasPreset, ProfileSet, RegionProfile, Sourced


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


def render_profile_list(ps: ProfileSet, kind: str | None, console: Console) -> None:
    for k in (kind,) if kind else ("hardware", "datacenter", "region", "nas"):
        t = Table(title=k, title_justify="left")
        t.add_column("name")
        t.add_column("title", overflow="fold")
        t.add_column("summary", overflow="fold")
        for p in getattr(ps, k).values():
            t.add_row(escape(p.name), escape(p.title), escape(_summary(p)))
        console.print(t)


def _summary(p) -> str:
    if isinstance(p, HardwareProfile):
        peaks = ", ".join(f"{dt} {v.value:g}" for dt, v in p.peak_tflops.items())
        tdp = f"TDP {p.tdp_w.value:g} W; " if p.tdp_w else ""
        return f"{tdp}peak TFLOP/s: {peaks}"
    if isinstance(p, DatacenterProfile):
        return f"PUE {p.pue.value:g} ({p.pue.year})"
    if isinstance(p, NasPreset):
        return f"{p.chip_hours.value:g} chip-hours on {p.hardware or p.hardware_label}"
    y = max(p.years)
    row = p.years[y]
    cfe = f", CFE {row.cfe_fraction:g}" if row.cfe_fraction is not None else ""
    return f"{row.grid_gco2e_per_kwh:g} gCO2e/kWh in {y}{cfe}; years {min(p.years)}-{y}"


def render_profile_show(p, console: Console) -> None:
    t = Table(title=f"{p.name}: {p.title}  ({p.file})", title_justify="left")
    for col in ("key", "value", "kind", "year", "source"):
        t.add_column(col, overflow="fold")
    if isinstance(p, RegionProfile):
        for y, row in sorted(p.years.items()):
            t.add_row(f"{y} grid_gco2e_per_kwh", f"{row.grid_gco2e_per_kwh:g}", row.kind, str(y), escape(row.source))
            if row.cfe_fraction is not None:
                t.add_row(f"{y} cfe_fraction", f"{row.cfe_fraction:g}", row.kind, str(y), escape(row.source))
    else:
        for f in fields(p):
            v = getattr(p, f.name)
            if isinstance(v, Sourced):
                t.add_row(f.name, f"{v.value:g}", v.kind, str(v.year), escape(v.source))
            elif isinstance(v, dict):
                for dt, s in v.items():
                    t.add_row(f"{f.name}.{dt}", f"{s.value:g}", s.kind, str(s.year), escape(s.source))
            elif f.name not in ("name", "title", "file") and v:
                t.add_row(f.name, escape(str(v)), "", "", "")
    console.print(t)
