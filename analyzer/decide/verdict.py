"""The main job's verdict as a record a person reads first: the likelihood in words and its probability, the
break-even daily volume (one figure, the Monte Carlo median, with its 90% band), the saving and the search cost
it weighs (the search as the mixture of the published record's readings it is, each reading with its own
kgCO2e), and the caveats that change the answer written into it, not only into the notes.

Every figure is the median of the amortisation's draws where one was drawn (the point where not), so the
verdict, the amortisation table and the flip table print one value per quantity. A pair that does not do the
baseline's job gets no probability: it would compare two different jobs.
"""

from __future__ import annotations

from typing import Any

from ..words import plain, plain_dist_text, plain_range


def _median(unc: dict | None, key: str, point: float | None) -> dict[str, float | None]:
    """{p5, p50, p95, statistic} of an amortisation output: its draws' where drawn, else the point three times."""
    u = (unc or {}).get(key)
    if u:
        return {**u, "statistic": "median"}
    return {"p5": point, "p50": point, "p95": point, "statistic": "point"}


def reading_costs(sc) -> list[dict[str, Any]]:
    """Each published reading of a search's chip-hours with its own kgCO2e at the stated site and average power.
    The search's point cost is at the readings' geometric middle (search_cost: the mixture's point), so a reading's
    cost is that point scaled by its chip-hours over the middle."""
    hours = [float(r["chip_hours"]) for r in sc.readings]
    if not hours:
        return []
    middle = 1.0
    for h in hours:
        middle *= h ** (1 / len(hours))
    return [{"chip_hours": float(r["chip_hours"]), "reading": _short(str(r.get("reading", ""))),
             "kg": sc.cost_kg * float(r["chip_hours"]) / middle} for r in sc.readings]


def _short(reading: str) -> str:
    """'a device is one TPU v2 chip: 64 chips x 4.5 days' -> 'a device is one TPU v2 chip' (its first clause)."""
    cut = [i for i in (reading.find(": "), reading.find(", ")) if i > 0]
    return reading[:min(cut)] if cut else reading


def _recipe(name: str) -> str:
    """"torchvision's 2021 recipe (600 epochs, ...)" -> "torchvision's 2021 recipe"."""
    return name.split(" (")[0]


def caveats(pair, recipe: dict[str, Any], assumed_preset: str, stands_in_for: str, decoders: bool,
            search_domain: str) -> list[dict[str, str]]:
    """The caveats that change the answer, each {kind, text}: a search assumed or standing in for another, a search
    from another domain than the candidates', accuracies trained with different recipes (and the gap under the
    baseline's other recipe), an accuracy gap beyond the tolerance."""
    out: list[dict[str, str]] = []
    if not pair.matched and pair.accuracy_gap_points is not None:
        out.append({"kind": "accuracy gap", "text": f"{pair.nas} is {pair.accuracy_gap_points:.2f} top-1 points below "
                    f"{pair.baseline} (tolerance {pair.tolerance_points:g}): it does not do the baseline's job, so no "
                    "probability is given"})
    if recipe.get("note"):
        text = (f"the accuracies come from different training recipes ({pair.baseline}: {_recipe(recipe['baseline_recipe'])}; "
                f"{pair.nas}: {_recipe(recipe['nas_recipe'])})")
        for alt in recipe.get("alternatives", []):
            gap = alt.get("nas_gap_points")
            if gap is None:
                continue
            text += (f"; under {_recipe(alt['recipe'])} {pair.baseline} reaches {alt['baseline_accuracy']:g}% and {pair.nas} is "
                     f"{abs(gap):.2f} points {'below' if gap > 0 else 'above'} it"
                     + (": not the same job, and the saving would not count" if gap > pair.tolerance_points else ""))
        out.append({"kind": "recipes", "text": text})
    if assumed_preset:
        out.append({"kind": "search assumed", "text": f"search ASSUMED (none given): the {assumed_preset} search"
                    + (f", a stand-in for {stands_in_for}'s own (never published)" if stands_in_for else "")})
    if decoders and search_domain and "transformer" not in search_domain.lower():
        out.append({"kind": "search domain", "text": f"the search is from another domain: {search_domain}, "
                    "amortised against decoders"})
    return out


def build_verdict(amort, scenario: dict[str, str], sc, caveat_list: list[dict[str, str]], item: str, search_said: str,
                  search_assumed: bool) -> dict[str, Any]:
    """The verdict record (see the module docstring). `item`: what an item is ('item', or '1k tokens')."""
    unc = amort.uncertainty
    withheld = next((c["text"] for c in caveat_list if c["kind"] == "accuracy gap"), "")
    p = None if withheld else amort.p_positive
    be = dict(amort.break_even_items_per_day)
    v: dict[str, Any] = {
        "outcome": "no verdict: not the same job" if withheld else amort.outcome, "p_net_saving": p,
        "words": "no verdict" if withheld else amort.words, "withheld": withheld,
        "break_even_items_per_day": be, "p_given_items_per_day": amort.p_given_items_per_day,
        "saving_g_per_item": _median(unc, "savings_g_per_item", amort.savings_g_per_item),
        "search_kg": _median(unc, "spent_kg", amort.spent_kg),
        "net_savings_kg": _median(unc, "net_savings_kg", amort.net_savings_kg),
        "search_readings": reading_costs(sc), "search_title": sc.description.split(": ")[0], "search_chip": sc.chip,
        "caveats": caveat_list, "search": search_said, "search_assumed": search_assumed,
        "reuse": {k: plain_dist_text(scenario[k]) for k in ("items_per_day_per_deployment", "deployments", "horizon_years")},
        "item": item}
    v["text"] = verdict_text(v, amort)
    return v


def verdict_text(v: dict[str, Any], amort=None) -> str:
    """The verdict in one line (JSON, the results store, the HTML report's headline): plain words and numbers."""
    r = v["reuse"]
    reuse = f"{r['items_per_day_per_deployment']} items/day per deployment, {r['deployments']} deployments, {r['horizon_years']} years"
    s = v["search_kg"]
    search = f"search {plain(s['p50'])} kgCO2e ({s['statistic']}" + (
        f"; 90% {plain_range(s['p5'], s['p95'])})" if s["p5"] != s["p95"] else ")")
    if v["withheld"]:
        return f"NO VERDICT: {v['withheld']}; {search}"
    if v["p_net_saving"] is None:
        return f"{amort.verdict if amort is not None else v['outcome']}; {search}"
    head = f"{v['words']} ({v['p_net_saving']:.0%} probability of a net saving over the stated reuse: {reuse})"
    be = v["break_even_items_per_day"]
    if be.get("p50") is None:
        out = f"{head}; the NAS model saves nothing per item in most draws; {search}"
    else:
        out = (f"{head}; it pays back above {plain(be['p50'])} items/day per deployment (median; 90% "
               f"{plain_range(be['p5'], be.get('p95'))}); {search}")
    assumed = [c["text"] for c in v["caveats"] if c["kind"] != "accuracy gap"]
    return out + "".join(f"; {c}" for c in assumed)
