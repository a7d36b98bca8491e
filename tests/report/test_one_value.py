"""No number appears twice with different values in one output (issue #39): the quantities the verdict states are
the ones the evidence tables give, label for label, and a plan's cost reads the same in plan-search and amortize."""

from __future__ import annotations

import re

import pytest

from analyzer.words import parse_plain
from cli_helpers import cli

FIGURE = r"(-?[\d,.]+(?: (?:thousand|million|billion|trillion))?)"


def _row(out: str, label: str) -> str:
    return next(ln for ln in out.splitlines() if ln.startswith(label))


@pytest.fixture(scope="module")
def analyze_out():
    r = cli("analyze", "--no-store")
    assert r.exit_code == 0, r.output
    return r.stdout


def test_the_verdict_and_the_tables_give_one_value_per_quantity(analyze_out):
    out = analyze_out
    verdict = {"search": parse_plain(re.search(rf"^search +{FIGURE} kgCO2e \(median", out, re.M).group(1)),
               "saving": parse_plain(re.search(rf"^saving +{FIGURE} mgCO2e per 1k items \(median", out, re.M).group(1)),
               "break-even": parse_plain(re.search(rf"^break-even {FIGURE} items/day per deployment \(median", out, re.M).group(1))}
    spent = re.search(rf"^spent \(kgCO2e\) +{FIGURE} ", out, re.M).group(1)
    saving = re.search(rf"^saving \(mgCO2e per 1k items\) +{FIGURE} ", out, re.M).group(1)
    assert parse_plain(spent) == verdict["search"] and parse_plain(saving) == verdict["saving"]
    flips = out.split("What would flip the verdict")[1]
    now = re.search(rf"^search cost +{FIGURE} kgCO2e", flips, re.M).group(1)
    assert parse_plain(now) == verdict["search"]
    volume = re.search(rf"^daily volume per +{FIGURE} +{FIGURE}", flips, re.M).group(2)
    assert parse_plain(volume) == verdict["break-even"]  # the flip is the median break-even, as the verdict says


def test_a_plans_cost_reads_the_same_in_plan_search_and_amortize(tmp_path):
    plan = tmp_path / "plan.json"
    r = cli("plan-search", "--preset", "mnasnet", "--no-store", "--out", plan)
    assert r.exit_code == 0, r.output
    point = parse_plain(re.search(rf"^total +\S+(?: \w+)? +\S+ +\S+ +{FIGURE} ", r.stdout, re.M).group(1))
    r = cli("amortize", "--search-plan", plan, "--baseline-co2e-g", "1.53e-5", "--nas-co2e-g", "9.35e-6", "-q")
    assert r.exit_code == 0, r.output
    spent = parse_plain(re.search(rf"^spent \(kgCO2e\) +{FIGURE} ", r.stdout, re.M).group(1))
    assert "note " not in r.stdout  # -q: no notes
    # the plan's point value and amortize's Monte Carlo median of the same band: within the sampling's 1%
    assert spent == pytest.approx(point, rel=0.01)
