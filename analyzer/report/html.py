"""A self-contained HTML report of an analysis (the `Analysis` record's JSON): the pair and the scenario, the
verdict with P(net saving), what would flip it (table and tornado chart), ranked table, Pareto front,
break-even chart, 4Ms waterfall, per-model kernel-class breakdown, provenance and a paste-ready footprint
paragraph. Rendered from the record alone, so `report analysis.json` reproduces `analyze --out`. Plots are matplotlib PNGs inlined as data URIs; no scripts, no network. Every piece of text
that came from a model, a file name or a profile is escaped."""

from __future__ import annotations

import io
import math
import re
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")  # headless: never opens a window
import matplotlib.pyplot as plt  # noqa: E402

# Plots are inline SVG with their text as text (legends, axis labels and reference-line labels are in the page, so
# a browser, a screen reader and the tests read them); a fixed hash salt and no date keep the report reproducible.
matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "nas-analyzer"})

from .. import __version__  # noqa: E402
from ..units import G_PER_KG  # noqa: E402
from .safe import terminal  # noqa: E402

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}table{border-collapse:collapse;font-size:.85rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}
.verdict{font-size:1.1rem;background:#f6f8ff;border-left:4px solid #4a6cf7;padding:.6rem 1rem}.muted{color:#666;font-size:.85rem}
figure.plot{margin:1rem 0}figure.plot svg{max-width:100%;height:auto;border:1px solid #eee}
details{margin:.2rem 0}summary{cursor:pointer;font-size:.9rem}ul.notes{font-size:.85rem;color:#444}.paste{background:#fafafa;border:1px solid #ddd;padding:1rem;font-family:Georgia,serif}"""


def _label(x: Any) -> str:
    """Text drawn in a plot: control characters shown as escapes (matplotlib has no glyph for them and warns with
    the raw character), and '$' kept literal (matplotlib would parse it as mathtext, and fail on an odd count)."""
    return terminal(str(x)).replace("$", r"\$")


def _svg(fig) -> str:
    """The figure as an SVG document ."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def _img(svg: str, alt: str, ident: str) -> str:
    body = re.sub(r"\s*<metadata>.*?</metadata>", "", svg[svg.index("<svg"):], flags=re.S)  # an RDF block naming its creator
    return f'<figure id="{e(ident)}" class="plot" role="img" aria-label="{e(alt)}">{body}</figure>'


def pareto_plot(result: dict) -> str:
    rows = result["ranking"]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    known = [r for r in rows if r["accuracy"] is not None]
    lat = [r["latency_s"] * 1e3 for r in known] or [1.0]
    sc = ax.scatter([r["co2e_g_per_item"] for r in known], [r["accuracy"] for r in known], c=lat, s=[40 + 8 * v for v in lat],
                    cmap="viridis", edgecolors=["k" if r["pareto"] else "none" for r in known])
    front = sorted((r for r in known if r["pareto"]), key=lambda r: r["co2e_g_per_item"])
    ax.plot([r["co2e_g_per_item"] for r in front], [r["accuracy"] for r in front], "k--", lw=0.8, label="Pareto front")
    for r in known:
        ax.annotate(_label(r["name"]), (r["co2e_g_per_item"], r["accuracy"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
        if r["name"] == result["pair"]["nas"]:
            ax.scatter([r["co2e_g_per_item"]], [r["accuracy"]], marker="*", s=300, c="red", zorder=5, label="NAS model of the pair")
    if any(r["co2e_g_per_item"] > 0 for r in known):  # a grid of 0 gCO2e/kWh makes every item 0: a linear axis then
        ax.set_xscale("log")
    ax.set_xlabel("gCO2e per item (projected)")
    ax.set_ylabel("top-1 accuracy (%)")
    fig.colorbar(sc, ax=ax, label="latency per batch (ms)")
    ax.legend(fontsize=8)
    return _svg(fig)


def break_even_plot(result: dict) -> str | None:
    a = result.get("amortization")
    if not a:
        return None
    base = next(r for r in result["ranking"] if r["name"] == result["pair"]["baseline"])
    nas_g = a["intensity_g_per_item"]["operational (SCI for AI: training excluded)"]
    spent = a["spent_kg"]
    n_max = max(a["items_over_horizon"], (a["break_even_items"] or 0) * 1.5, 1.0)
    xs = [n_max * i / 200 for i in range(201)]
    proj = {p["name"]: p for p in result.get("projections", [])}

    def rng(name):
        p = proj.get(name)
        return (p["energy_range_j"]["high"] / p["energy_j_per_item"] - 1) if p and p["energy_j_per_item"] > 0 else 0.0
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    b_line = [x * base["co2e_g_per_item"] / G_PER_KG for x in xs]
    n_line = [spent + x * nas_g / G_PER_KG for x in xs]
    ax.plot(xs, b_line, label=f"baseline {_label(base['name'])}")
    ax.plot(xs, n_line, label="NAS model incl. search cost")
    u = rng(base["name"])
    ax.fill_between(xs, [y / (1 + u) for y in b_line], [y * (1 + u) for y in b_line], alpha=0.15)
    v = rng(result["pair"]["nas"])
    ax.fill_between(xs, [spent + (y - spent) / (1 + v) for y in n_line], [spent + (y - spent) * (1 + v) for y in n_line], alpha=0.15)
    if a["break_even_items"] is not None and a["break_even_items"] <= n_max:
        be = a["break_even_items"]
        ax.axvline(be, color="k", ls=":", lw=1)
        ax.annotate(f"break-even\n{be:.3g} items", (be, spent), fontsize=8, xytext=(5, 10), textcoords="offset points")
    else:
        ax.text(0.02, 0.92, "no break-even within the horizon", transform=ax.transAxes, fontsize=9)
    ax.axvline(a["items_over_horizon"], color="grey", ls="--", lw=0.8,
               label=f"end of the horizon: {a['items_over_horizon']:.3g} items served")
    ax.set_xlabel("items served (all deployments)")
    ax.set_ylabel("cumulative kgCO2e")
    ax.legend(fontsize=8)
    return _svg(fig)


def fourms_plot(result: dict) -> str | None:
    f = result.get("fourms")
    if not f:
        return None
    labels = ["Model", "Machine", "Mechanization", "Map"]
    factors = [f["model"], f["machine"], f["mechanization"], f["map"]]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    level = 1.0
    for i, (lab, x) in enumerate(zip(labels, factors)):
        new = level * x
        ax.bar(i, math.log10(new) - math.log10(level), bottom=math.log10(level), color="tab:green" if x >= 1 else "tab:red",
               label=("reduces (factor > 1)" if x >= 1 else "increases (factor < 1)"))
        ax.text(i, math.log10(max(new, level)) + 0.02, f"{x:.3g}x", ha="center", fontsize=9)
        level = new
    ax.bar(4, math.log10(level), color="tab:blue", label="CO2e: the product")
    ax.text(4, math.log10(max(level, 1.0)) + 0.02, f"{level:.3g}x", ha="center", fontsize=9)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(5), labels + ["CO2e"])
    ax.set_ylabel("log10 of the cumulative reduction")
    handles, names = ax.get_legend_handles_labels()
    keep = dict(zip(names, handles))
    ax.legend(keep.values(), keep.keys(), fontsize=8, loc="upper left")
    ax.set_title("4Ms: baseline as deployed vs the illustrative improved scenario (from the projections)", fontsize=9)
    return _svg(fig)


def tornado_bars(rows: list[dict], median: float | None) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """Each row's bar as (left, width) in kgCO2e on one linear axis, and the axis's data range (break-even and the
    median included). A bar narrower than 1/150 of the range is widened to that about its centre, so it shows."""
    ends = [x for r in rows for x in (r["net_low_kg"], r["net_high_kg"])] + [0.0] + ([median] if median is not None else [])
    lo_x, hi_x = min(ends), max(ends)
    least = ((hi_x - lo_x) or 1.0) / 150
    bars = []
    for r in rows:
        lo, hi = r["net_low_kg"], r["net_high_kg"]
        width = max(hi - lo, least)
        bars.append(((lo + hi - width) / 2, width))
    return bars, (lo_x, hi_x)


def tornado_plot(result: dict) -> str | None:
    """One bar per assumption, each moved alone: from the net saving at its worse end to that at its better end, on
    one linear kgCO2e axis (bars comparable by length); a bar too short to see is drawn at a minimum width and
    every bar is labelled with its two ends, so none is missing."""
    rows = result.get("sensitivities") or []
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: r["swing_kg"])
    net = (result.get("verdict") or {}).get("net_savings_kg")
    median = _number(net.get("p50")) if isinstance(net, dict) else None
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(rows) + 2.0))
    kinds = {"tab:green": "saves over the whole range", "tab:red": "loses over the whole range",
             "tab:orange": "the sign flips within the range"}
    bars, (lo_x, hi_x) = tornado_bars(rows, median)
    span = (hi_x - lo_x) or 1.0
    for i, (r, (left, width)) in enumerate(zip(rows, bars)):
        lo, hi = r["net_low_kg"], r["net_high_kg"]  # the worse and the better end
        colour = "tab:green" if lo > 0 else ("tab:red" if hi < 0 else "tab:orange")
        ax.barh(i, width, left=left, color=colour, label=kinds[colour])
        ax.text(left + width + span / 100, i, _label(f"{lo:,.0f} to {hi:,.0f} kg ({r['low']} .. {r['high']})"),
                va="center", fontsize=7)
    ax.axvline(0, color="k", lw=1, label="break-even: no net saving")
    if median is not None:
        ax.axvline(median, color="grey", ls="--", lw=0.8, label=f"as stated (median net saving): {median:,.0f} kg")
    ax.set_xlim(lo_x - span * 0.05, hi_x + span * 0.6)  # room for the labels on the right
    ax.set_yticks(range(len(rows)), [_label(r["name"]) for r in rows], fontsize=8)
    ax.set_xlabel("net saving over the horizon, kgCO2e (linear; each assumption moved alone, worse end .. better end)")
    handles, names = ax.get_legend_handles_labels()
    keep = dict(zip(names, handles))
    ax.legend(keep.values(), keep.keys(), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
    return _svg(fig)


def breakdown_plot(result: dict) -> str | None:
    projs = result.get("projections") or []
    if not projs:
        return None
    classes = sorted({c for p in projs for c in p["detail"].get("breakdown", {})})
    colours = matplotlib.colormaps["tab20"].colors  # 20 distinct colours: one per kernel class
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 0.5 * len(projs) + 2), sharey=True)
    names = [_label(p["name"]) for p in projs]
    for ax, key in ((ax1, "time_share"), (ax2, "energy_share")):
        left = [0.0] * len(projs)
        for i, c in enumerate(classes):
            vals = [p["detail"].get("breakdown", {}).get(c, {}).get(key, 0.0) for p in projs]
            ax.barh(names, vals, left=left, label=_label(c), color=colours[i % len(colours)])
            left = [a + b for a, b in zip(left, vals)]
        ax.set_xlabel(key.replace("_", " ") + " of the forward")
        ax.set_xlim(0, 1)
    ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="kernel class", title_fontsize=7)
    fig.suptitle("share by kernel class (compute/memory/latency-bound and host-wait shares are in the table)", fontsize=9)
    return _svg(fig)


from .html_text import (QUANTITY_LABELS, _g, _number, _table, e, footprint_paragraph,  # noqa: E402,F401
                        provenance, verdict_clause, verdict_html)


def render_html(result: dict, title: str = "nas-analyzer report", flag_of: Callable[[str], str] | None = None) -> str:
    """The report of one analysis record; `flag_of` names the parameters of what would flip the verdict as the
    caller's options (the CLI's flags), else by their names."""
    flag_of = flag_of or (lambda name: name)
    t, pair, v = result["target"], result["pair"], result["verdict"]
    sc = result["scenario"]
    gap = "" if pair["matched"] or pair["accuracy_gap_points"] is None else f" Accuracy gap: {pair['accuracy_gap_points']:.2f} top-1 points."
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{e(title)}</h1>",
             f"<p class='muted'>Pair: {e(pair['nas'])} ({e(pair.get('nas_role', 'NAS-found'))}) vs {e(pair['baseline'])} (baseline): {e(pair['how'])}.{e(gap)}</p>",
             f"<p class='muted'>Serving: {e(t['hardware'])}, {e(t['dtype'])}, {e(t['runtime'])} runtime, batch {e(t['batch'])}, "
             f"PUE {e(_g(t['pue']))}, grid {e(_g(t['grid_gco2e_per_kwh']))} gCO2e/kWh, busy {e(_g(t['site'].get('utilization', 1)))} of the time. "
             f"Boundary, serving and search alike: power at the {e(t['site'].get('power_boundary', 'chip'))}, embodied carbon at the "
             f"{e(t['site'].get('embodied_boundary', 'chip'))}. Reuse: {e(sc['items_per_day_per_deployment'])} items/day "
             f"per deployment x {e(sc['deployments'])} deployments x {e(sc['horizon_years'])} years. Search: {e(result['search']['description'])}.</p>",
             verdict_html(result)]
    sens = result.get("sensitivities") or []
    if sens:
        parts.append("<h2>What would flip the verdict</h2>")
        parts.append(_table(["assumption", "option", "now", "flips at", "tried", "net kg at the worse end", "net kg at the better end"],
                            [[x["name"], flag_of(x["param"]), x["base"], x["flip"] or "never in the range tried", x["tried"],
                              f"{x['net_low_kg']:.4g} ({x['low']})", f"{x['net_high_kg']:.4g} ({x['high']})"] for x in sens], {0, 1, 2, 3, 4}))
        tp = tornado_plot(result)
        if tp:
            parts.append(_img(tp, "tornado chart of the net saving", "plot-tornado"))
    parts.append("<h2>Ranked candidates</h2>")
    fac = {p["name"]: p for p in result.get("projections", [])}

    def mj(x: Any) -> str:
        return "n/a" if _number(x) is None else f"{x * 1e3:.3g}"

    def per_item(r: dict) -> str:
        b = _number(fac.get(r["name"], {}).get("batch"))
        return mj(r["latency_s"] / b) if b and b > 0 else "n/a"
    # the terminal's units: mgCO2e per 1,000 items, mJ per item at the chip and at the facility, ms per batch and per item
    parts.append(_table(["rank", "model", "role", "top-1 %", "mgCO2e per 1k items", "chip mJ per item", "facility mJ per item",
                         "latency ms per batch", "latency ms per item", "Pareto", "dominated by / excluded"],
                        [[r["rank"] or "-", r["name"], r["role"], _g(r["accuracy"]), f"{r['co2e_g_per_item'] * 1e6:.3g}",
                          mj(r["energy_j_per_item"]), mj(fac.get(r["name"], {}).get("facility_energy_j_per_item")),
                          f"{r['latency_s'] * 1e3:.3g}",
                          per_item(r),
                          "yes" if r["pareto"] else "", r["excluded"] or ", ".join(r["dominated_by"])] for r in result["ranking"]],
                        {1, 2, 10}))
    parts.append("<h2>Pareto front: accuracy vs CO2e per item</h2>" + _img(pareto_plot(result), "Pareto front", "plot-pareto"))
    a = result.get("amortization")
    be = break_even_plot(result)
    if be:
        parts.append("<h2>Break-even</h2>" + _img(be, "break-even chart", "plot-breakeven"))
        unc = a.get("uncertainty") or {}
        # the terminal's reading: the median and its 90% band where the Monte Carlo gives one, else the point value, said so
        rows = []
        for k, x in a.items():
            if not ((isinstance(x, (int, float)) and not isinstance(x, bool)) or (x is None and k in QUANTITY_LABELS)):
                continue
            u = unc.get(k) if isinstance(unc.get(k), dict) else None
            label = QUANTITY_LABELS.get(k, k.replace("_", " "))
            rows.append([label, _g(u.get("p50")), f"{_g(u.get('p5'))} to {_g(u.get('p95'))}"] if u
                        else [label + ("" if k in ("samples", "seed", "p_positive") else " (point)"), _g(x), ""])
        parts.append(_table(["quantity", "median", "90% band"], rows, {0}))
    fm = fourms_plot(result)
    if fm:
        f = result["fourms"]
        parts.append("<h2>The 4Ms</h2>" + f"<p class='muted'>{e(f.get('description', ''))}</p>" + _img(fm, "4Ms waterfall", "plot-fourms"))
    bd = breakdown_plot(result)
    if bd:
        parts.append("<h2>Where the time and energy go</h2>" + _img(bd, "kernel-class breakdown", "plot-breakdown"))
        parts.append(_table(["model", "kernels", "compute-bound", "memory-bound", "latency-bound", "waiting on the host", "basis"],
                            [[p["name"], p.get("kernels", ""), f"{b.get('compute', 0):.0%}", f"{b.get('memory', 0):.0%}",
                              f"{b.get('latency', 0):.0%}", f"{b.get('overhead', 0):.0%}", p["basis"]]
                             for p in result.get("projections", []) for b in [p["detail"].get("bound", {})]], {0, 6}))
    parts.append("<h2>Provenance</h2>" + provenance(result))
    parts.append("<h2>Notes</h2><ul class='notes'>" + "".join(f"<li>{e(n)}</li>" for n in dict.fromkeys(result.get("notes", [])))
                 + f"</ul><p class='muted'>nas-analyzer {e(__version__)}; analysis schema {e(result.get('schema_version'))}.</p>")
    parts.append("<h2>Report your footprint</h2><p class='paste' id='footprint'>" + e(footprint_paragraph(result)) + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
