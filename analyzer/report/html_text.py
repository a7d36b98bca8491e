"""The HTML report's words: its tables, the verdict block (the terminal's rows), the search's cost as the verdict
gives it, the paste-ready footprint paragraph and the provenance. Text only (no plotting library), from the
analysis record alone; html.py assembles the page."""

from __future__ import annotations

import html
import math
from typing import Any

from .. import __version__
from ..words import plain, plain_range


def e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _table(headers: list[str], rows: list[list[Any]], left: set[int] = frozenset()) -> str:
    th = "".join(f'<th class="{"l" if i in left else ""}">{e(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i in left else ""}">{e(c)}</td>' for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _g(x: Any) -> str:
    return "n/a" if x is None else (f"{x:.4g}" if isinstance(x, float) else str(x))


# what each verdict outcome says about the search, as the end of "with the stated reuse ... the search ..."
OUTCOME_PHRASES = {"pays back": "pays back", "does not pay back": "does not pay back",
                   "undetermined": "may or may not pay back",
                   "never pays back": "never pays back, as the NAS model saves nothing per item"}

QUANTITY_LABELS = {  # the amortisation record's keys as a person reads them
    "savings_g_per_item": "saving per item (gCO2e)", "spent_kg": "spent: search and deployment costs (kgCO2e)",
    "items_over_horizon": "items served over the horizon", "gross_savings_kg": "gross saving over the horizon (kgCO2e)",
    "net_savings_kg": "net saving over the horizon (kgCO2e)",
    "net_savings_with_embodied_kg": "net saving incl. embodied carbon (kgCO2e)", "break_even_items": "break-even (items served)",
    "break_even_days": "break-even (days)", "savings_ratio": "saved / spent", "max_nas_budget_kg": "largest search budget (kgCO2e)",
    "max_nas_budget_kwh": "largest search budget (kWh where the search runs)",
    "max_nas_budget_chip_hours": "largest search budget (chip-hours)", "p_positive": "P(net saving > 0)",
    "samples": "Monte Carlo samples", "seed": "Monte Carlo seed"}


def _number(x: Any) -> float | None:
    """x where it is a finite number (a saved record's optional fields are not checked by its schema), else None."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def verdict_clause(v: dict) -> str:
    """'the search is unlikely to pay back (probability of a net saving 26%)': the terminal's likelihood words where
    the record has them (decide/verdict.py), else the outcome; grammatical for every outcome."""
    if isinstance(v.get("words"), str) and _number(v.get("p_net_saving")) is not None:
        return f"the search is {v['words']} (probability of a net saving {v['p_net_saving']:.0%})"
    if isinstance(v.get("withheld"), str) and v["withheld"]:
        return f"no verdict is given: {v['withheld']}"
    phrase = OUTCOME_PHRASES.get(v.get("outcome", ""), f"is judged: {v.get('outcome', 'n/a')}")
    p = v.get("p_net_saving")
    why = "undetermined: " if v.get("outcome") == "undetermined" else ""
    return f"the search {phrase}" + ("" if p is None else f" ({why}probability of a net saving {p:.0%})")


def footprint_paragraph(result: dict) -> str:
    t, pair = result["target"], result["pair"]
    nas = pair["nas"]
    proj = next((p for p in result.get("projections", []) if p["name"] == nas), None)
    text = (f"We estimate inference with {nas} on one {t['hardware']} ({t['dtype']}, batch {t['batch']}, {t['runtime']} runtime) in a "
            f"datacenter with PUE {t['pue']:.3g} on a grid of {t['grid_gco2e_per_kwh']:.4g} gCO2e/kWh, busy "
            f"{t['site'].get('utilization', 1):.0%} of the time, power counted at the {t['site'].get('power_boundary', 'chip')} "
            f"and embodied carbon at the {t['site'].get('embodied_boundary', 'chip')} boundary")
    if proj:
        fac = _number(proj.get("facility_energy_j_per_item"))
        text += (f" at {proj['energy_j_per_item']:.3g} J per item at the chip"
                 + (f" ({fac:.3g} J at the facility: with idle time, the host's share and the PUE)" if fac else "")
                 + f" and {proj['co2e_g_per_item'] * 1e6:.3g} mgCO2e per 1,000 items "
                 f"({proj['co2e_kg_per_million']:.3g} kgCO2e per million items; 90% range {proj['energy_range_j']['low']:.3g}-{proj['energy_range_j']['high']:.3g} J), "
                 f"plus {_g(proj['embodied_co2e_g_per_item'])} g embodied per item")
    a, v, s = result.get("amortization"), result["verdict"], result["search"]
    if a:
        text += (f". The architecture search ({s['description']}) is accounted at {search_cost_words(result)}; against "
                 f"{pair['baseline']} and with the stated reuse ({result['scenario']['items_per_day_per_deployment']} items/day per deployment, "
                 f"{result['scenario']['deployments']} deployments, {result['scenario']['horizon_years']} years) {verdict_clause(v)}")
    text += (f". Numbers were projected with nas-analyzer {__version__} (kernel-level model on "
             f"{proj['basis'] if proj else 'datasheet'} hardware figures; Patterson et al. 2021 accounting).")
    return text


def search_cost_words(result: dict) -> str:
    """The search's cost as the terminal's verdict gives it: the median and its 90% band, and each reading's kgCO2e
    where the record reads it several ways; a record without them gives its stated cost."""
    k = (result.get("verdict") or {}).get("search_kg")
    if not (isinstance(k, dict) and _number(k.get("p50")) is not None):
        return f"{result['search']['cost_kg']:.4g} kgCO2e"
    text = f"{plain(k['p50'])} kgCO2e"
    if _number(k.get("p5")) is not None and _number(k.get("p95")) is not None:
        text += f" (median; 90% {plain_range(k['p5'], k['p95'])})"
    readings = [x for x in result["verdict"].get("search_readings") or [] if isinstance(x, dict)]
    if readings:
        text += ", drawn equally from its readings: " + "; ".join(
            f"{plain(_number(x.get('chip_hours')))} chip-hours ({x.get('reading')}): {plain(_number(x.get('kg')))} kgCO2e"
            for x in readings)
    return text


def verdict_html(result: dict) -> str:
    """The terminal's verdict block (report/verdict_text.py's rows), one line each; a record without the fields it
    reads shows its verdict sentence."""
    from .verdict_text import verdict_rows

    try:
        rows = verdict_rows(result)
    except (KeyError, TypeError, AttributeError, ValueError):
        return f"<p class='verdict' id='verdict'>{e(result['verdict']['text'])}</p>"
    return ("<div class='verdict' id='verdict'>" + "".join(f"<div><b>{e(k)}</b> {e(t)}</div>" for k, t in rows)
            + "</div>")


def provenance(result: dict) -> str:
    """Every input of the projections and the search, each value once, grouped by its source; each group collapsed
    (a summary line: the source, its kind and how many inputs)."""
    groups: dict[str, dict[tuple, list]] = {}
    inputs = [i for p in result.get("projections", []) for i in p.get("inputs", [])] + list(result["search"].get("inputs", []))
    for i in inputs:
        row = [i["name"], _g(i["value"]), i.get("unit", ""), i.get("kind", "")]
        groups.setdefault(i.get("source", "") or "(no source given)", {})[(i["name"], str(i["value"]))] = row
    out = []
    for source, rows in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        kinds = ", ".join(sorted({r[3] for r in rows.values() if r[3]}))
        out.append(f"<details><summary>{e(source)} <span class='muted'>({len(rows)} input{'s' if len(rows) > 1 else ''}"
                   f"{'; ' + e(kinds) if kinds else ''})</span></summary>"
                   + _table(["input", "value", "unit", "kind"], list(rows.values()), {0, 2, 3}) + "</details>")
    return "".join(out)
