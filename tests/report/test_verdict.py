"""The verdict a funder reads first: within the first 15 lines of `analyze`, in plain words and numbers, with the
break-even volume as one median figure and its band, the search as the mixture of its readings (each with its
kgCO2e), the caveats that change the answer; one value per quantity across the output; 80 columns, nothing cut."""

import json
import math
import re

import pytest

from analyzer.words import parse_plain, plain, plain_dist_text, plain_range
from cli_helpers import cli


@pytest.fixture(scope="module")
def run(shipped):
    """The default analysis, as a table and as JSON (the same seed and samples: the same numbers)."""
    args = ("analyze", shipped["resnet50"].parent, "--no-store", "--samples", "4000")
    t, j = cli(*args), cli(*args, "--format", "json")
    assert t.exit_code == 0 and j.exit_code == 0, t.output + j.output
    return t.stdout, json.loads(j.stdout)


def test_plain_words_for_numbers_and_ranges():
    assert plain(3.19e7) == "32 million" and plain(7.29e6) == "7.3 million" and plain(2.44e11) == "244 billion"
    assert plain(990.2) == "990" and plain(1455.3) == "1,455" and plain(5.884) == "5.88" and plain(0.00312) == "0.00312"
    assert plain_range(7.29e6, 1.49e8) == "7.3 to 149 million" and plain_range(394, 3337) == "394 to 3,337"
    assert plain_dist_text("1e+06..1e+08:log") == "1 to 100 million, log-uniform"
    assert plain_dist_text("1..3") == "1 to 3" and plain_dist_text("10") == "10"
    for x in (3.19e7, 1455.3, 0.52, 7.29e6):
        assert parse_plain(plain(x)) == pytest.approx(x, rel=0.02)


def test_the_verdict_and_its_reasons_are_in_the_first_15_lines(run):
    out, d = run
    head = "\n".join(out.splitlines()[:15])
    flat = " ".join(head.split())  # the block wraps at 80 columns: read it as one text
    v = d["verdict"]
    assert out.splitlines()[0].startswith("VERDICT")
    assert f"{v['words']}: {v['p_net_saving']:.0%} probability of a net saving" in flat
    be = v["break_even_items_per_day"]
    assert f"{plain(be['p50'])} items/day per deployment (median; 90% {plain_range(be['p5'], be['p95'])})" in flat
    assert "1 to 100 million items/day per deployment (log-uniform); 10 deployments; 1 to 3 years" in flat
    s = v["search_kg"]
    assert f"search {plain(s['p50'])} kgCO2e (median; 90% {plain_range(s['p5'], s['p95'])})" in flat
    # the search as the mixture it is: each reading with its own kgCO2e, at the stated site and power
    per_chip_hour = d["search"]["cost_kg"] / math.sqrt(6912 * 27648)
    for hours in (6912, 27648):
        assert f"{plain(hours)} chip-hours (a device is" in flat
        assert f"{plain(hours * per_chip_hour)} kgCO2e" in flat
    assert "6912 or 27648" not in out and "e+0" not in head and ".." not in head
    # the two main reasons: the saving per item and the search cost
    sv = v["saving_g_per_item"]
    assert f"saving {sv['p50'] * 1e6:.3g} mgCO2e per 1k items (median" in flat


def test_the_caveats_that_change_the_answer_are_in_the_verdict(run):
    out, d = run
    block = " ".join(out.split("the evidence")[0].split())
    assert "different training recipes" in block and "efficientnet_b0 is 3.17 points below it: not the same job" in block
    assert "search ASSUMED (none given): the mnasnet search, a stand-in for efficientnet_b0's own" in block
    kinds = [c["kind"] for c in d["verdict"]["caveats"]]
    assert kinds == ["recipes", "search assumed"]


def test_one_value_per_quantity(run):
    """The break-even volume, the search cost and the saving each print one value wherever they appear; the
    search's point at the readings' geometric middle (1,455 kgCO2e, neither reading) is printed nowhere."""
    out, d = run
    v = d["verdict"]
    flat = " ".join(out.split())
    be = plain(v["break_even_items_per_day"]["p50"])
    flip = next(s for s in d["sensitivities"] if s["param"] == "inferences_per_day")
    assert flip["flip"] == f"{be} items/day" and flip["flip_statistic"] == "median"
    flips = out.split("What would flip the verdict")[1]
    row = flips.split("daily volume")[1].split("search cost")[0]  # the row's lines: its cells side by side
    assert be in row and "(median)" in row
    search = next(s for s in d["sensitivities"] if s["param"] == "nas_cost_kg")
    assert search["base"] == f"{plain(v['search_kg']['p50'])} kgCO2e"
    assert re.search(rf"spent \(kgCO2e\) {re.escape(plain(v['search_kg']['p50']))} ", flat)
    assert f"{d['search']['cost_kg']:,.0f}" not in out
    saving = f"{v['saving_g_per_item']['p50'] * 1e6:.3g}"
    assert re.search(rf"saving \(mgCO2e per 1k items\) {re.escape(saving)} ", flat)
    # every figure of the amortisation table is its median and 90% band; no 'point' column beside it
    assert "median 90% band" in flat and "P5 / P50 / P95" not in out


def test_a_pair_that_does_not_do_the_baselines_job_gets_no_probability(shipped):
    r = cli("analyze", shipped["resnet50"].parent, "--nas-model", "resnet18", "--no-store", "--samples", "1000",
            "--no-sensitivity")
    assert r.exit_code == 0, r.output
    first = " ".join(r.stdout.split("reuse")[0].split())
    assert first.startswith("NO VERDICT resnet18 is 6.37 top-1 points below resnet50") and "%" not in first
    assert "probability of a net saving" not in r.stdout
    j = json.loads(cli("analyze", shipped["resnet50"].parent, "--nas-model", "resnet18", "--no-store", "--samples", "1000",
                       "--no-sensitivity", "--format", "json").stdout)
    assert j["verdict"]["p_net_saving"] is None and j["verdict"]["outcome"] == "no verdict: not the same job"


def test_notes_grouped_once_and_all_with_verbose(run, shipped):
    out, d = run
    from analyzer.report.text import dedupe

    assert "note " not in out and "-v shows them" in out
    hidden = int(re.search(r"(\d+) more notes", out).group(1))
    r = cli("analyze", shipped["resnet50"].parent, "--no-store", "--samples", "4000", "-v")
    shown = r.stdout.split("the evidence")[0]
    assert "more notes" not in shown and "notes: search" in shown and "notes: defaults taken" in shown
    assert shown.count("\n- ") == len(dedupe(d["notes"])) >= hidden


def test_eighty_columns_cut_no_number_and_no_name(run):
    """At 80 columns (the default): no line is longer, nothing is elided, every name that folds breaks after a
    separator, and each candidate's figures are printed whole (as the JSON gives them)."""
    out, d = run
    from analyzer.report.text import num

    lines = out.splitlines()
    assert max(len(ln) for ln in lines) <= 80 and "…" not in out
    names = [r["name"] for r in d["ranking"]] + ["--inferences-per-day", "--nas-grid-gco2e-per-kwh", "--nas-cost-kg"]
    tables = out.split("the evidence")[1].split("pair:")[0] + out.split("What would flip the verdict")[1]
    for ln in tables.splitlines():
        for w in re.findall(r"[\w.\-/]+", ln):
            for n in names:
                if len(w) >= 3 and n.startswith(w) and w != n and n[len(w)] != "_":
                    assert w[-1] in "_-./", (w, n, ln)
    table = out.split("the evidence")[1].split("dominated (")[0]
    for r in d["ranking"]:
        row = next(ln for ln in table.splitlines() if ln.startswith(f"{r['rank']} "))
        assert f" {num(r['co2e_g_per_item'] * 1e6)} " in row and f" {r['accuracy']:.2f} " in row


def test_the_report_speaks_the_terminals_words_and_units(run, tmp_path, shipped):
    """The HTML report's paste-ready paragraph says the terminal's likelihood words and both energy boundaries; its
    ranked table is in the terminal's units (mgCO2e per 1,000 items, mJ per item at the chip and at the facility)."""
    from analyzer.report.html import footprint_paragraph, render_html

    _, d = run
    text = footprint_paragraph(d)
    assert f"the search is {d['verdict']['words']} (probability of a net saving {d['verdict']['p_net_saving']:.0%})" in text
    assert "J per item at the chip" in text and "at the facility" in text and "may or may not" not in text
    html = render_html(d)
    assert "mgCO2e per 1k items" in html and "facility mJ per item" in html and "gCO2e/item" not in html
    # the verdict block is the terminal's, line for line; the search cost its median and readings, not a point value
    import html as htmllib

    from analyzer.report.verdict_text import verdict_rows

    for label, line in verdict_rows(d):
        assert f"<b>{label}</b> {htmllib.escape(line, quote=True)}" in html
    k = d["verdict"]["search_kg"]
    assert f"accounted at {plain(k['p50'])} kgCO2e (median; 90% {plain_range(k['p5'], k['p95'])})" in text
    assert all(f"{plain(x['kg'])} kgCO2e" in text for x in d["verdict"]["search_readings"])
    assert f"{d['search']['cost_kg']:.4g} kgCO2e" not in text


def test_the_tornado_draws_every_row_on_one_linear_axis():
    """Bars are the rows' own ends on one kgCO2e axis (lengths comparable: 4,000 kg is 1,000 times 4 kg), and a row
    whose ends nearly meet still gets a visible bar (1/150 of the axis) about its centre."""
    from analyzer.report.html import tornado_bars

    rows = [{"net_low_kg": -947.0, "net_high_kg": 3305.0}, {"net_low_kg": -564.4, "net_high_kg": -559.9},
            {"net_low_kg": -2908.0, "net_high_kg": 35.0}]
    bars, (lo, hi) = tornado_bars(rows, -570.0)
    assert (lo, hi) == (-2908.0, 3305.0)
    assert bars[0] == (-947.0, 3305.0 + 947.0) and bars[2] == (-2908.0, 2943.0)
    least = (3305.0 + 2908.0) / 150
    assert bars[1][1] == pytest.approx(least) and bars[1][0] + least / 2 == pytest.approx((-564.4 - 559.9) / 2)
