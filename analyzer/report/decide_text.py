"""Terminal tables for ranking, amortisation and the main job's answer: compact tables in readable units, the
notes once, and the verdict printed once, last."""

from __future__ import annotations

from typing import Any, Callable

from rich.console import Console
from rich.text import Text  # a header we wrap ourselves: our line break, not a user's control character
from rich.markup import escape
from rich.rule import Rule

from .text import CO2E_PER_ITEM, CHIP_ENERGY_PER_ITEM, TIME, count, notes, num, table, two_lines, unit_for


def render_ranking(rows: list[dict[str, Any]], console: Console, title: str = "Candidates", token: bool = False) -> None:
    """The ranked candidates; `token`: a served decoder's figures are per output token (analyze's amortisation then
    counts items of 1,000 tokens, so the columns must not say "item")."""
    cm, cu = unit_for((r["co2e_g_per_item"] for r in rows), CO2E_PER_ITEM)
    em, eu = unit_for((r["energy_j_per_item"] for r in rows), CHIP_ENERGY_PER_ITEM)
    if token:
        cu, eu = cu.replace("items", "tokens"), eu.replace("per item", "per token")
    tm, tu = unit_for((r["latency_s"] for r in rows), TIME)
    t = table(title)
    for col in ("#", "model", "role", "top-1 %", cu, eu, f"latency {tu}", "Pareto"):
        t.add_column(Text(two_lines(col)) if col in (cu, eu, "top-1 %", f"latency {tu}") else col,
                     justify="left" if col in ("model", "role", "Pareto") else "right", no_wrap=True)
    # names fold, never cut: "mobilenet" alone could be either MobileNet
    t.add_column(Text("dominated by /\nexcluded"), overflow="fold")
    for r in rows:
        t.add_row("-" if r["rank"] is None else str(r["rank"]), escape(r["name"]), escape(r["role"]),
                  "n/a" if r["accuracy"] is None else f"{r['accuracy']:.2f}", num(r["co2e_g_per_item"] * cm),
                  num(r["energy_j_per_item"] * em), num(r["latency_s"] * tm), "yes" if r["pareto"] else "",
                  escape(r["excluded"] or ", ".join(r["dominated_by"])))
    console.print(t)


def _band(u: dict | None, scale: float = 1.0, fmt: Callable[[float | None], str] = num) -> str:
    if not u:
        return ""
    return " / ".join(fmt(None if u[k] is None else u[k] * scale) for k in ("p5", "p50", "p95"))


def render_amortization(a: dict[str, Any], console: Console, title: str = "NAS amortisation", quiet: bool = False,
                        verdict: bool = True) -> None:
    """The amortisation's quantities, each with its Monte Carlo band where one was drawn; then the notes, then
    the verdict (unless the caller prints it last itself)."""
    unc = a.get("uncertainty") or {}
    chip = a.get("inputs", {}).get("budget_hardware") or ""
    sm, su = unit_for([a["savings_g_per_item"], *a["intensity_g_per_item"].values()], CO2E_PER_ITEM)  # one unit for all
    budget_kg = a["max_nas_budget_kg"]
    nothing = budget_kg is not None and budget_kg <= 0  # nothing saved: no budget in any unit

    def budget(v: float | None) -> str:
        return "none" if nothing else num(v, "n/a (no search site to convert)")
    kg_per = {k: a[k] / budget_kg for k in ("max_nas_budget_kwh", "max_nas_budget_chip_hours")
              if budget_kg and a.get(k) is not None}
    scaled = {k: {p: (None if v is None else v * f) for p, v in (unc.get("max_nas_budget_kg") or {}).items()}
              for k, f in kg_per.items()} if unc.get("max_nas_budget_kg") else {}
    rows = [(f"saving ({su})", num(a["savings_g_per_item"] * sm),
             _band(unc.get("savings_g_per_item"), sm)),
            ("spent (kgCO2e)", num(a["spent_kg"]), _band(unc.get("spent_kg"))),
            ("break-even (items)", count(a["break_even_items"]), _band(unc.get("break_even_items"), fmt=count)),
            ("break-even (days)", count(a["break_even_days"]), _band(unc.get("break_even_days"), fmt=count)),
            ("net saving over the horizon (kgCO2e)", num(a["net_savings_kg"]), _band(unc.get("net_savings_kg"))),
            ("net saving incl. embodied (kgCO2e)", num(a["net_savings_with_embodied_kg"]),
             _band(unc.get("net_savings_with_embodied_kg"))),
            ("saved / spent", num(a["savings_ratio"], "never"), _band(unc.get("savings_ratio"))),
            ("largest NAS budget (kgCO2e)", budget(budget_kg), "" if nothing else _band(unc.get("max_nas_budget_kg"))),
            ("largest NAS budget (kWh, search site)", budget(a["max_nas_budget_kwh"]),
             "" if nothing else _band(scaled.get("max_nas_budget_kwh"))),
            (f"largest NAS budget (chip-hours{', ' + chip if chip else ''})", budget(a["max_nas_budget_chip_hours"]),
             "" if nothing else _band(scaled.get("max_nas_budget_chip_hours")))]
    for k, v in a["intensity_g_per_item"].items():
        rows.append((f"NAS model, {k.split(' (')[0]} ({su})", num(v * sm), ""))
    t = table(title)
    t.add_column("quantity", overflow="fold")
    t.add_column("point", justify="right")
    t.add_column("P5 / P50 / P95", justify="right")
    for r in rows:
        t.add_row(*r)
    console.print(t)
    if not quiet:
        notes(a["notes"], console)
    if verdict:
        render_verdict(a["verdict"], console)


def render_verdict(text: str, console: Console) -> None:
    """The verdict, once, last and set apart."""
    console.print(Rule(style="bold"))
    console.print(f"[bold]VERDICT[/bold]: [bold]{escape(text)}[/bold]")


def _same(name: str) -> str:
    return name


def render_answer(d: dict[str, Any], console: Console, quiet: bool = False, flag_of: Callable[[str], str] = _same) -> None:
    """The main job's answer: the pair, the scenario, the search and the saving (the verdict is printed last, by
    render_verdict)."""
    t, p, s, sc = d["target"], d["pair"], d["scenario"], d["search"]
    site = t["site"]
    role = p.get("nas_role", "NAS-found")
    def top1(a: float | None) -> str:
        return "top-1 not given" if a is None else f"{a:g}% top-1"

    console.print(f"[bold]pair[/]: {escape(p['nas'])} ({escape(role)}, {top1(p['nas_accuracy'])}) vs {escape(p['baseline'])} "
                  f"(baseline, {top1(p['baseline_accuracy'])}): {escape(p['how'])}")
    if not p["matched"] and p["accuracy_gap_points"] is not None:
        console.print(f"[bold red]accuracy gap[/]: {p['accuracy_gap_points']:.2f} top-1 points (tolerance {p['tolerance_points']:g}): "
                      f"{escape(p['nas'])} does not do the baseline's job")
    console.print(f"[bold]serving[/]: {escape(t['hardware'])} ({escape(t['hardware_title'])}), {t['runtime']}, {t['dtype']}, batch {t['batch']}, "
                  f"PUE {site['pue']:g}, {site['grid_gco2e_per_kwh']:g} gCO2e/kWh, busy {site.get('utilization', 1):.0%}; power at the "
                  f"{site.get('power_boundary', 'chip')}, embodied at the {site.get('embodied_boundary', 'chip')} boundary (search alike); reuse: {s['items_per_day_per_deployment']} items/day per "
                  f"deployment x {s['deployments']} deployments x {s['horizon_years']} years")
    console.print(f"[bold]search[/]: {escape(sc['description'])}: {num(sc['cost_kg'])} kgCO2e ({num(sc['low_kg'])}..{num(sc['high_kg'])})")
    sv = d["saving"]
    em, eu = unit_for([sv["saving_j_per_item"], sv["low"], sv["high"]], CHIP_ENERGY_PER_ITEM)
    cm, cu = unit_for([sv["saving_g_per_item"]], CO2E_PER_ITEM)
    console.print(f"[bold]saving[/]: {num(sv['saving_j_per_item'] * em)} {eu} ({num(sv['low'] * em)}..{num(sv['high'] * em)}, 90%, the "
                  f"projections' shared error cancelling); {num(sv['saving_g_per_item'] * cm)} {cu}")


def render_sensitivities(rows: list[dict[str, Any]], console: Console, flag_of: Callable[[str], str] = _same,
                         limit: int | None = None) -> None:
    """What would flip the verdict: each assumption moved alone, its net saving at the worse and the better end of
    its plausible range; the `limit` that move it most (all with None)."""
    shown = rows if limit is None else rows[:limit]
    title = "What would flip the verdict (each assumption moved alone)"
    if len(shown) < len(rows):
        title += f": the {len(shown)} that move it most; --wide shows all {len(rows)}"
    t = table(title)
    for col in ("assumption", "option", "now", "flips at", "net kg at the worse end", "net kg at the better end"):
        t.add_column(col, justify="left", no_wrap=col == "option", min_width=12 if col == "assumption" else None)
    for x in shown:
        t.add_row(escape(x["name"]), flag_of(x["param"]), escape(x["base"]), escape(x["flip"] or f"never in {x['tried']}"),
                  f"{num(x['net_low_kg'])} at {escape(x['low'])}", f"{num(x['net_high_kg'])} at {escape(x['high'])}")
    console.print(t)
