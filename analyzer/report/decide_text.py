"""Terminal tables for ranking, amortisation and the main job's answer: compact tables in readable units, the
notes once, and the verdict printed once, last."""

from __future__ import annotations

from typing import Any, Callable

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table

from .text import CO2E_PER_ITEM, ENERGY_PER_ITEM, TIME, cell, count, fold_name, fold_words, header, notes, num, site_line, table, unit_for


def render_ranking(rows: list[dict[str, Any]], console: Console, title: str = "Candidates", token: bool = False,
                   projections: list[dict[str, Any]] | None = None, wide: bool = False, target_col: bool = False) -> None:
    """The ranked candidates; `token`: a served decoder's figures are per output token (analyze's amortisation then
    counts items of 1,000 tokens, so the columns must not say "item"). With `projections` (the candidates'
    evaluations), energy per item at the chip and at the facility ((chip + idle + host) x PUE), each labelled with
    its boundary; latency per item beside per batch. Names fold at their separators, never mid-word.
    `target_col`: rows are (candidate, target) pairs, each row's "target" named."""
    def key(x: dict[str, Any]) -> tuple[str, str]:
        return x["name"], x.get("target", "")
    facility = {key(p): p.get("facility_energy_j_per_item") for p in projections or []}
    batch = {key(p): p.get("batch") for p in projections or []}
    cm, cu = unit_for((r["co2e_g_per_item"] for r in rows), CO2E_PER_ITEM)
    em, eu = unit_for([*(r["energy_j_per_item"] for r in rows), *facility.values()], ENERGY_PER_ITEM)
    item = "token" if token else "item"
    if token:
        cu = cu.replace("items", "tokens")
    eu = eu.replace("per item", f"per {item}")
    tm, tu = unit_for((r["latency_s"] for r in rows), TIME)
    # a forward's latency per item beside per batch (a served decoder's latency is not per batch: none)
    per_item = {} if token else {key(r): r["latency_s"] / batch[key(r)] for r in rows if batch.get(key(r))}
    im, iu = unit_for(per_item.values(), TIME)
    t = table(title, tight=True)
    w = (lambda n: 1000) if wide else (lambda n: n)
    # several targets: a target column in place of the role (the model's role is the same on every target)
    cols = [("#", "right", 2), ("model", "left", 12 if target_col else 13)] + (
        [("target", "left", 10)] if target_col else [("role", "left", 9)]) + [("top-1 %", "right", 5), (cu, "right", 6), (f"chip {eu}", "right", 6)]
    if facility:
        cols.append((f"facility {eu}", "right", 8))
    if per_item:
        cols.append((f"latency {iu} per {item}", "right", 7))
    cols += [(f"{tu} per batch", "right", 6), ("Pareto front", "left", 6)]
    for col, just, width in cols:
        t.add_column(header(col, w(width)), justify=just, no_wrap=True)
    for r in rows:
        front = "excl." if r["excluded"] else "yes" if r["pareto"] else "no"
        cells = ["-" if r["rank"] is None else str(r["rank"]), cell(fold_name(r["name"], w(12 if target_col else 13)))]
        cells.append(cell(fold_words(r.get("target", ""), w(10))) if target_col else cell(fold_name(r["role"], w(9))))
        cells += ["n/a" if r["accuracy"] is None else f"{r['accuracy']:.2f}", num(r["co2e_g_per_item"] * cm),
                  num(r["energy_j_per_item"] * em)]
        if facility:
            cells.append(num(None if facility.get(key(r)) is None else facility[key(r)] * em))
        if per_item:
            cells.append(num(None if key(r) not in per_item else per_item[key(r)] * im))
        cells += [num(r["latency_s"] * tm), front]
        t.add_row(*cells)
    console.print(t)
    def who(r: dict[str, Any]) -> str:
        return r["name"] + (f" on {r['target']}" if r.get("target") else "")
    off = [f"{who(r)} by {', '.join(r['dominated_by'])}" for r in rows if r["dominated_by"] and not r["excluded"]]
    out = [f"{who(r)}: {r['excluded']}" for r in rows if r["excluded"]]
    if off:
        console.print(escape("dominated (another is as good on accuracy, CO2e and latency, and better on one): " + "; ".join(off)))
    if out:
        console.print(escape("excluded (on no front, ranked last): " + "; ".join(out)))
    if facility:
        console.print("[dim]energy at the chip: the accelerator's own (what the projection's error model was checked on); at "
                      "the facility: with its idle time, its host's share (server boundary) and the PUE. CO2e: the "
                      "facility's energy on the grid (operational)[/]")


def _mid(point: float | None, u: dict | None, scale: float = 1.0, fmt: Callable[[float | None], str] = num) -> tuple[str, str]:
    """(the value, its 90% band): the median of the draws and P5 to P95 where drawn, else the point and no band."""
    if not u:
        return fmt(None if point is None else point * scale), ""
    s = {k: None if u[k] is None else u[k] * scale for k in ("p5", "p50", "p95")}
    return fmt(s["p50"]), f"{fmt(s['p5'])} to {fmt(s['p95'])}"


def render_amortization(a: dict[str, Any], console: Console, title: str = "NAS amortisation", quiet: bool = False,
                        verdict: bool = True) -> None:
    """The verdict first (unless the caller prints its own): the likelihood and its main reasons (net saving,
    break-even daily volume, the search's cost), then the evidence: the amortisation's quantities, each once (the
    median of the Monte Carlo draws with its 90% band where one was drawn, else the point; the header says which),
    then the notes."""
    unc = a.get("uncertainty") or {}
    if verdict:
        render_amortize_verdict(a, console)
    chip = a.get("inputs", {}).get("budget_hardware") or ""
    sm, su = unit_for([a["savings_g_per_item"], *a["intensity_g_per_item"].values()], CO2E_PER_ITEM)  # one unit for all
    budget_kg = a["max_nas_budget_kg"]
    nothing = budget_kg is not None and budget_kg <= 0  # nothing saved: no budget in any unit
    kg_per = {k: a[k] / budget_kg for k in ("max_nas_budget_kwh", "max_nas_budget_chip_hours")
              if budget_kg and a.get(k) is not None}
    scaled = {k: {p: (None if v is None else v * f) for p, v in (unc.get("max_nas_budget_kg") or {}).items()}
              for k, f in kg_per.items()} if unc.get("max_nas_budget_kg") else {}

    def budget(key: str, u: dict | None) -> tuple[str, str]:
        if nothing:
            return "none", ""
        if a[key] is None:
            return "n/a (no search site to convert)", ""
        return _mid(a[key], u)
    rows = [(f"saving ({su})", *_mid(a["savings_g_per_item"], unc.get("savings_g_per_item"), sm)),
            ("spent (kgCO2e)", *_mid(a["spent_kg"], unc.get("spent_kg"))),
            ("break-even (items)", *_mid(a["break_even_items"], unc.get("break_even_items"), fmt=count)),
            ("break-even (days)", *_mid(a["break_even_days"], unc.get("break_even_days"), fmt=count)),
            ("net saving over the horizon (kgCO2e)", *_mid(a["net_savings_kg"], unc.get("net_savings_kg"))),
            ("net saving incl. embodied (kgCO2e)", *_mid(a["net_savings_with_embodied_kg"], unc.get("net_savings_with_embodied_kg"))),
            ("saved / spent", *_mid(a["savings_ratio"], unc.get("savings_ratio"), fmt=lambda x: num(x, "never"))),
            ("largest NAS budget (kgCO2e)", *budget("max_nas_budget_kg", unc.get("max_nas_budget_kg"))),
            ("largest NAS budget (kWh, search site)", *budget("max_nas_budget_kwh", scaled.get("max_nas_budget_kwh"))),
            (f"largest NAS budget (chip-hours{', ' + chip if chip else ''})",
             *budget("max_nas_budget_chip_hours", scaled.get("max_nas_budget_chip_hours")))]
    for k, v in a["intensity_g_per_item"].items():
        rows.append((f"NAS model, {k.split(' (')[0]} ({su}; point)", num(v * sm), ""))
    t = table(title)
    t.add_column("quantity", overflow="fold")
    t.add_column("median" if unc else "point", justify="right", no_wrap=True)
    if unc:
        t.add_column("90% band", justify="right", no_wrap=True)
    for r in rows:
        t.add_row(*(r if unc else r[:2]))
    console.print(t)
    if isinstance(a.get("target"), dict):  # projected per-item costs: where they were served, as resolved
        console.print(escape(f"served on {a['target'].get('hardware')}; where: {site_line(a['target'])}"))
    if not quiet:
        notes(a["notes"], console)


def amortize_verdict_rows(a: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) lines of `amortize`'s verdict: the likelihood, then its reasons, each the median of the draws
    with its 90% band (or the point where nothing was drawn), the same values the evidence table gives."""
    unc = a.get("uncertainty") or {}

    def said(key: str, unit: str) -> str:
        mid, band = _mid(a[key], unc.get(key))
        return f"{mid} {unit} ({'median; 90% ' + band if band else 'point'})"
    head = (f"{a['words']}: {a['p_positive']:.0%} probability of a net saving" if a.get("p_positive") is not None
            else a["verdict"].split(";")[0])
    rows = [("VERDICT", head), ("net saving", said("net_savings_kg", "kgCO2e over the horizon"))]
    be = a.get("break_even_items_per_day") or {}
    if be.get("p50") is not None:
        rows.append(("break-even", f"{count(be['p50'])} items/day per deployment (median; 90% {count(be['p5'])} to "
                                   f"{count(be['p95'])})"))
    elif be.get("point") is not None and not unc:
        rows.append(("break-even", f"{count(be['point'])} items/day per deployment (point)"))
    elif a.get("break_even_items") is None and not unc:
        rows.append(("break-even", "never: the NAS model saves nothing per item"))
    rows.append(("search", said("spent_kg", "kgCO2e spent")))
    return rows


def render_amortize_verdict(a: dict[str, Any], console: Console) -> None:
    """`amortize`'s verdict block, first, then a rule before the evidence."""
    t = Table.grid(padding=(0, 1))
    t.add_column(no_wrap=True, style="bold")
    t.add_column(overflow="fold")
    for label, text in amortize_verdict_rows(a):
        t.add_row(escape(label), f"[bold]{escape(text)}[/bold]" if label == "VERDICT" else escape(text))
    console.print(t)
    console.print(Rule("the evidence", style="dim", align="left"))


def _same(name: str) -> str:
    return name


def render_answer(d: dict[str, Any], console: Console, quiet: bool = False, flag_of: Callable[[str], str] = _same) -> None:
    """The pair and where it is served, every option as resolved (the verdict, first, says the search and the
    saving in CO2e; here the saving in energy, at the chip and at the facility)."""
    t, p = d["target"], d["pair"]
    role = p.get("nas_role", "NAS-found")

    def top1(a: float | None) -> str:
        return "top-1 not given" if a is None else f"{a:g}% top-1"

    console.print(f"[bold]pair[/]: {escape(p['nas'])} ({escape(role)}, {top1(p['nas_accuracy'])}) vs {escape(p['baseline'])} "
                  f"(baseline, {top1(p['baseline_accuracy'])}): {escape(p['how'])}")
    if not p["matched"] and p["accuracy_gap_points"] is not None:
        console.print(f"[bold red]accuracy gap[/]: {p['accuracy_gap_points']:.2f} top-1 points (tolerance {p['tolerance_points']:g}): "
                      f"{escape(p['nas'])} does not do the baseline's job")
    console.print(f"[bold]serving[/]: {escape(t['hardware'])} ({escape(t['hardware_title'])}), {t['runtime']}, {t['dtype']}, "
                  f"batch {t['batch']}; {escape(site_line(t))}")
    sv = d["saving"]
    em, eu = unit_for([sv["saving_j_per_item"], sv["low"], sv["high"]], ENERGY_PER_ITEM)
    if t["phase"]["kind"] == "serving":  # a decoder's amortisation item: 1,000 output tokens
        eu = eu.replace("per item", "per 1k tokens")
    fac = {x["name"]: x.get("facility_energy_j_per_item") for x in d.get("projections", [])}
    line = (f"[bold]saving in energy[/]: at the chip {num(sv['saving_j_per_item'] * em)} {eu} (point; 90% "
            f"{num(sv['low'] * em)} to {num(sv['high'] * em)}, the projections' shared error cancelling)")
    if fac.get(p["baseline"]) is not None and fac.get(p["nas"]) is not None:
        line += f"; at the facility {num((fac[p['baseline']] - fac[p['nas']]) * em)} {eu} (point)"
    console.print(line)


def render_sensitivities(rows: list[dict[str, Any]], console: Console, flag_of: Callable[[str], str] = _same,
                         limit: int | None = None) -> None:
    """What would flip the verdict: each assumption moved alone, the others at their medians, its net saving at the
    worse and the better end of its plausible range; the `limit` that move it most (all with None). The daily
    volume's flip is the verdict's break-even volume (the median of the draws), so both print one value."""
    shown = rows if limit is None else rows[:limit]
    title = "What would flip the verdict (each assumption moved alone, the others at their medians)"
    if len(shown) < len(rows):
        title += f": the {len(shown)} that move it most; --wide shows all {len(rows)}"
    t = table(title)
    widths = (16, 14, 14, 15, 15)
    for col, width in zip(("assumption (option)", "now", "flips at", "net kgCO2e at the worse end",
                           "net kgCO2e at the better end"), widths):
        t.add_column(header(col, width), justify="left", no_wrap=True)
    for x in shown:
        flip = x["flip"] or f"never in {x['tried']}"
        if x.get("flip_statistic") == "median" and x["flip"]:
            flip += " (median)"
        texts = (f"{x['name']} ({flag_of(x['param'])})", x["base"], flip, f"{num(x['net_low_kg'])} at {x['low']}",
                 f"{num(x['net_high_kg'])} at {x['high']}")
        t.add_row(*(cell(fold_words(v, 1000 if limit is None and False else width)) for v, width in zip(texts, widths)))
    console.print(t)
