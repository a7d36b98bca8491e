"""Terminal tables for ranking, amortisation and the main job's answer."""

from __future__ import annotations

from typing import Any, Callable

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _n(x: Any) -> str:
    return "never" if x is None else f"{x:,.4g}"


def render_ranking(rows: list[dict[str, Any]], console: Console, title: str = "Candidates") -> None:
    t = Table(title=escape(title), title_justify="left")
    for col in ("rank", "model", "role", "top-1 %", "gCO2e/item", "J/item", "latency ms", "Pareto", "dominated by / excluded"):
        t.add_column(col, justify="right" if col in ("rank", "top-1 %", "gCO2e/item", "J/item", "latency ms") else "left", overflow="fold")
    for r in rows:
        t.add_row("-" if r["rank"] is None else str(r["rank"]), escape(r["name"]), escape(r["role"]),
                  "n/a" if r["accuracy"] is None else f"{r['accuracy']:g}", f"{r['co2e_g_per_item']:.3g}",
                  f"{r['energy_j_per_item']:.3g}", f"{r['latency_s'] * 1e3:.3g}", "yes" if r["pareto"] else "",
                  escape(r["excluded"] or ", ".join(r["dominated_by"])))
    console.print(t)


def render_amortization(a: dict[str, Any], console: Console, title: str = "NAS amortisation", quiet: bool = False) -> None:
    t = Table(title=title, title_justify="left")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_column("P5 / P50 / P95", justify="right")
    unc = a.get("uncertainty") or {}
    chip = a.get("inputs", {}).get("budget_hardware") or ""
    budget_hw = f"largest NAS budget (chip-hours of {chip})" if chip else "largest NAS budget (chip-hours)"
    for label, key, v in (("saving per item (gCO2e)", "savings_g_per_item", a["savings_g_per_item"]), ("spent (kgCO2e)", None, a["spent_kg"]),
                          ("break-even items", None, a["break_even_items"]), ("break-even days", "break_even_days", a["break_even_days"]),
                          ("net saving over horizon (kgCO2e)", "net_savings_kg", a["net_savings_kg"]),
                          ("net saving with embodied, search hardware's included (kgCO2e)", None, a["net_savings_with_embodied_kg"]),
                          ("saved / spent", "savings_ratio", a["savings_ratio"]),
                          ("largest NAS budget (kgCO2e)", "max_nas_budget_kg", a["max_nas_budget_kg"] if a["max_nas_budget_kg"] > 0 else None),
                          ("largest NAS budget (kWh where the search runs)", None, a["max_nas_budget_kwh"]),
                          (budget_hw, None, a["max_nas_budget_chip_hours"])):
        u = unc.get(key) if key else None
        value = "none" if "budget" in label and (v is None or v == 0) else _n(v)
        t.add_row(label, value, "" if not u else " / ".join(_n(u[k]) for k in ("p5", "p50", "p95")))
    for k, v in a["intensity_g_per_item"].items():
        t.add_row(f"NAS model gCO2e/item, {k}", f"{v:.4g}", "")
    console.print(t)
    console.print(f"[bold]verdict[/]: {escape(a['verdict'])}")
    for n in [] if quiet else a["notes"]:
        console.print(f"[yellow]note[/] {escape(n)}")


def _same(name: str) -> str:
    return name


def render_answer(d: dict[str, Any], console: Console, quiet: bool = False, flag_of: Callable[[str], str] = _same) -> None:
    """The main job's answer: the pair, the scenario, the verdict with P(net saving), what would flip it."""
    t, p, s, sc = d["target"], d["pair"], d["scenario"], d["search"]
    site = t["site"]
    console.print(f"[bold]pair[/]: {escape(p['nas'])} (NAS-found, {p['nas_accuracy']}% top-1) vs {escape(p['baseline'])} "
                  f"(baseline, {p['baseline_accuracy']}%): {escape(p['how'])}")
    if not p["matched"] and p["accuracy_gap_points"] is not None:
        console.print(f"[bold red]accuracy gap[/]: {p['accuracy_gap_points']:.2f} top-1 points (tolerance {p['tolerance_points']:g}): "
                      "the NAS-found model does not do the same job")
    console.print(f"[bold]serving[/]: {escape(t['hardware'])} ({escape(t['hardware_title'])}), {t['runtime']}, {t['dtype']}, batch {t['batch']}, "
                  f"PUE {site['pue']:g}, {site['grid_gco2e_per_kwh']:g} gCO2e/kWh, busy {site.get('utilization', 1):.0%}; power at the "
                  f"{site.get('power_boundary', 'chip')}, embodied at the {site.get('embodied_boundary', 'chip')} boundary (search alike); reuse: {s['items_per_day_per_deployment']} items/day per "
                  f"deployment x {s['deployments']} deployments x {s['horizon_years']} years")
    console.print(f"[bold]search[/]: {escape(sc['description'])}: {sc['cost_kg']:,.4g} kgCO2e ({sc['low_kg']:,.4g}..{sc['high_kg']:,.4g})")
    sv = d["saving"]
    console.print(f"[bold]saving per item[/]: {sv['saving_j_per_item']:.3g} J ({sv['low']:.3g}..{sv['high']:.3g} J, 90%, the projections' "
                  f"shared error cancelling); {sv['saving_g_per_item']:.3g} gCO2e")
    v = d["verdict"]
    console.print(f"[bold]verdict[/]: {escape(v['text'])}")
    top = [x for x in d["sensitivities"]][:3]
    if top:
        console.print("[bold]what would flip it[/] (the three assumptions that move the net saving most):")
        for x in top:
            flip = f"flips at {x['flip']}" if x["flip"] else "never flips within " + x["tried"]
            console.print(f"  {escape(x['name'])} ({flag_of(x['param'])}, now {escape(x['base'])}): {escape(flip)}; net saving "
                          f"{x['net_low_kg']:,.4g} kg at {escape(x['low'])} .. {x['net_high_kg']:,.4g} kg at {escape(x['high'])}")


def render_sensitivities(rows: list[dict[str, Any]], console: Console, flag_of: Callable[[str], str] = _same) -> None:
    t = Table(title="What would flip the verdict (each assumption alone)", title_justify="left")
    for col in ("assumption", "option", "now", "flips at", "tried", "net kg (low end)", "net kg (high end)"):
        t.add_column(col, overflow="fold", justify="right" if "net" in col else "left")
    for x in rows:
        t.add_row(escape(x["name"]), flag_of(x["param"]), escape(x["base"]), escape(x["flip"] or "never in the range tried"), escape(x["tried"]),
                  f"{x['net_low_kg']:,.4g} ({escape(x['low'])})", f"{x['net_high_kg']:,.4g} ({escape(x['high'])})")
    console.print(t)
