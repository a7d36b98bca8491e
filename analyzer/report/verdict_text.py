"""The verdict first, in plain words and numbers: the likelihood and its probability, the reuse it rests on, the
break-even daily volume (the median, with its 90% band), the saving and the search it weighs (the readings of
the search, each with its kgCO2e), and the caveats that change the answer. Then the notes, grouped, each once.
Renders from the analysis record alone (decide/verdict.py builds its `verdict`)."""

from __future__ import annotations

import re
from typing import Any, Iterable

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table

from ..words import plain, plain_range
from .text import CO2E_PER_ITEM, dedupe, num, unit_for


def _band(u: dict[str, Any], scale: float = 1.0, fmt=plain) -> str:
    """'(median; 90% 7.3 to 149 million)', or '(point)' when nothing was drawn."""
    if u.get("statistic") != "median" or u.get("p5") is None:
        return "(point)"
    hi = None if u.get("p95") is None else u["p95"] * scale
    return f"(median; 90% {plain_range(u['p5'] * scale, hi)})" if fmt is plain else \
        f"(median; 90% {fmt(u['p5'] * scale)} to {fmt(hi)})"


def saving_unit(v: dict[str, Any], values: Iterable[float | None]) -> tuple[float, str]:
    """(multiplier from the record's g per item, label): mgCO2e per 1k items, or per 1k tokens for decoders (whose
    amortisation item is 1,000 tokens)."""
    per = 1000.0 if v.get("item") == "1k tokens" else 1.0
    m, label = unit_for([None if x is None else x / per for x in values], CO2E_PER_ITEM)
    return m / per, label.replace("items", "tokens") if per != 1.0 else label


_COUNT = {2: "two", 3: "three", 4: "four", 5: "five"}


def verdict_rows(d: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) lines of the verdict block."""
    v, p = d["verdict"], d["pair"]
    rows: list[tuple[str, str]] = []
    if v.get("withheld"):
        rows.append(("NO VERDICT", v["withheld"]))
    elif v.get("p_net_saving") is None:
        rows.append(("VERDICT", v["text"].split(";")[0]))
    else:
        rows.append(("VERDICT", f"{v['words']}: {v['p_net_saving']:.0%} probability of a net saving"))
    r = v["reuse"]
    rate, _, kind = r["items_per_day_per_deployment"].partition(", ")
    rows.append(("reuse", f"{rate} items/day per deployment{f' ({kind})' if kind else ''}; {r['deployments']} "
                          f"deployments; {r['horizon_years']} years"))
    be, cond = v["break_even_items_per_day"], v.get("p_given_items_per_day") or {}
    if not v.get("withheld") and be.get("p50") is not None:
        at = (f"; P(net saving) {cond['p_at_point']:.0%} at exactly {plain(cond['items_per_day_point'])} items/day"
              if cond.get("p_at_point") is not None else "")
        rows.append(("break-even", f"{plain(be['p50'])} items/day per deployment {_band({**be, 'statistic': 'median'})}{at}"))
    elif not v.get("withheld") and v.get("p_net_saving") is not None:
        rows.append(("break-even", "none at the median: in most draws the NAS model saves nothing"))
    s = v["saving_g_per_item"]
    m, unit = saving_unit(v, [s["p5"], s["p50"], s["p95"]])
    rows.append(("saving", f"{num(s['p50'] * m)} {unit} {_band(s, m, num)}: {p['nas']} instead of {p['baseline']}"))
    k = v["search_kg"]
    search = f"{plain(k['p50'])} kgCO2e {_band(k)}: {v['search_title']}"
    if v.get("search_readings"):
        n = len(v["search_readings"])
        search += (f" on {v['search_chip']}, read {_COUNT.get(n, str(n))} ways, drawn equally (each at the stated "
                   "site and power): " + "; ".join(f"{plain(x['chip_hours'])} chip-hours ({x['reading']}): {plain(x['kg'])} kgCO2e"
                                                   for x in v["search_readings"]))
    rows.append(("search", search))
    for c in v.get("caveats", []):
        if c["kind"] != "accuracy gap" or not v.get("withheld"):
            rows.append(("caveat", c["text"]))
    return rows


def render_verdict_block(d: dict[str, Any], console: Console) -> None:
    t = Table.grid(padding=(0, 1))
    t.add_column(no_wrap=True, style="bold")
    t.add_column(overflow="fold")
    for label, text in verdict_rows(d):
        t.add_row(escape(label), f"[bold]{escape(text)}[/bold]" if label.endswith("VERDICT") else escape(text))
    console.print(t)


# note groups: (heading, pattern on the note's text); the first that matches takes the note
GROUPS = (("accuracy", r"^(the accuracies were trained|accuracy gap)"),
          ("search", r"^(search|no search cost given|no embodied carbon figure for the search|largest NAS budget)"),
          ("defaults taken", r"^(no [\w ./-]+ given|no \./\w+ folder|serving default)"),
          ("other", r""))
SAID_IN_VERDICT = ("accuracy", "search")  # their substance is in the verdict's lines: -v shows the notes themselves


def grouped_notes(lines: Iterable[str]) -> dict[str, list[str]]:
    """Each note once (text.dedupe), under the first group whose pattern it matches, in the groups' order."""
    out: dict[str, list[str]] = {g: [] for g, _ in GROUPS}
    for n in dedupe(lines):
        out[next(g for g, pat in GROUPS if re.search(pat, n))].append(n)
    return out


def render_notes(lines: Iterable[str], console: Console, verbose: bool = False) -> None:
    """The notes grouped; by default only those the verdict does not already say and that are not defaults the
    serving line echoes, and how many more -v shows."""
    groups = grouped_notes(lines)
    hidden = 0
    for g, ns in groups.items():
        if not ns:
            continue
        if not verbose and (g in SAID_IN_VERDICT or g == "defaults taken"):
            hidden += len(ns)
            continue
        console.print(f"[yellow]notes: {g}[/]")
        t = Table.grid(padding=(0, 1))
        t.add_column(no_wrap=True)
        t.add_column(overflow="fold")
        for n in ns:
            t.add_row("-", escape(n))
        console.print(t)
    if hidden:
        console.print(f"[dim]{hidden} more notes (the defaults taken, the search's sources, the accuracies' recipes): "
                      "-v shows them[/]")


def evidence_rule(console: Console) -> None:
    console.print(Rule("the evidence", style="dim", align="left"))
