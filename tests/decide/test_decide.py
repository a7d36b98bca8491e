"""Amortisation closed forms and published figures, Pareto properties, and the amortize/rank/analyze commands."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.decide.amortize import AmortizeInputs, amortize, days_to_serve, items_served, strategies_break_even
from analyzer.dist import fixed, parse_dist
from analyzer.errors import UsageError
from analyzer.decide.rank import Candidate, dominates, pareto, rank
from cli_helpers import cli



def test_evolved_transformer_pays_back_15_to_1():
    """Patterson et al. 2021: the ET search cost 3.2 tCO2e and saved 48.5 tCO2e on its one reuse: net 45.3 t, ~15:1."""
    a = amortize(AmortizeInputs(nas_cost_kg=fixed(3200), baseline_g_per_item=fixed(1.0), nas_g_per_item=fixed(0.0),
                                items_per_day=fixed(48.5e6), horizon_days=fixed(1)))
    assert a.net_savings_kg == pytest.approx(45_300)
    assert a.savings_ratio == pytest.approx(15.2, abs=0.1)
    assert a.break_even_items * a.savings_g_per_item / 1000 == pytest.approx(3200)


@settings(max_examples=60, deadline=None)
@given(cost=st.floats(1, 1e6), base=st.floats(0.01, 10), frac=st.floats(0.01, 0.99), rate=st.floats(1e3, 1e9),
       dep=st.integers(1, 100), h1=st.floats(1, 1e4), dh=st.floats(0, 1e4))
def test_closed_forms(cost, base, frac, rate, dep, h1, dh):
    nas = base * frac
    mk = lambda h: AmortizeInputs(nas_cost_kg=fixed(cost), baseline_g_per_item=fixed(base), nas_g_per_item=fixed(nas),  # noqa: E731
                                  items_per_day=fixed(rate), deployments=fixed(dep), horizon_days=fixed(h))
    a1, a2 = amortize(mk(h1)), amortize(mk(h1 + dh))
    assert a1.break_even_items * a1.savings_g_per_item / 1000 == pytest.approx(cost)
    # net savings are linear in the horizon (no growth): slope = rate x deployments x saving
    scale = abs(a2.net_savings_kg) + abs(a1.net_savings_kg)  # the difference of two large numbers: float cancellation
    assert a2.net_savings_kg - a1.net_savings_kg == pytest.approx(rate * dep * dh * (base - nas) / 1000, rel=1e-6, abs=1e-12 * scale + 1e-9)
    assert a1.break_even_days == pytest.approx(a1.break_even_items / (rate * dep))


@settings(max_examples=40, deadline=None)
@given(rate=st.floats(1, 1e9), dep=st.integers(1, 50), t=st.floats(0.1, 5000), g=st.floats(0, 5))
def test_growth_inverse(rate, dep, t, g):
    n = items_served(rate, dep, t, g)
    assert float(days_to_serve(n, rate, dep, g)) == pytest.approx(t, rel=1e-6)


def test_zero_width_ranges_equal_point_estimate():
    point = amortize(AmortizeInputs(fixed(500), fixed(2.0), fixed(1.0), fixed(1e6), fixed(3), fixed(100)))
    mc = amortize(AmortizeInputs(fixed(500), parse_dist("2..2", "b"), fixed(1.0), parse_dist("1e6..1e6", "r"), fixed(3),
                                 parse_dist("100..100", "h")), samples=500, seed=1)
    assert mc.uncertainty["net_savings_kg"]["p50"] == pytest.approx(point.net_savings_kg)
    assert mc.uncertainty["net_savings_kg"]["p5"] == pytest.approx(point.net_savings_kg)
    assert mc.p_positive == 1.0


def test_ranges_give_percentiles_and_probability():
    a = amortize(AmortizeInputs(fixed(1000), fixed(1e-3), fixed(0.5e-3), parse_dist("1e6..1e9:log", "r"), fixed(1), fixed(365)),
                 samples=20_000, seed=3)
    u = a.uncertainty["net_savings_kg"]
    assert u["p5"] < u["p50"] < u["p95"]
    # net > 0 iff rate > 1000 kg / (365 d x 0.5e-6 kg) = 5.48e6/day; log-uniform on [1e6, 1e9]
    expected = (np.log(1e9) - np.log(1000 / (365 * 0.5e-6))) / (np.log(1e9) - np.log(1e6))
    assert a.p_positive == pytest.approx(expected, abs=0.01)


def test_never_breaks_even_is_reported_not_infinite():
    a = amortize(AmortizeInputs(fixed(100), fixed(1.0), fixed(1.2), fixed(1e6)))
    assert a.break_even_items is None and a.break_even_days is None and "never pays back" in a.verdict
    json.dumps(a.to_dict(), allow_nan=False)  # no inf/nan in the record


def test_strategies_once_for_all():
    # OFA: 1240 GPU-h one-off + ~0 per scenario vs ProxylessNAS 200 + 300 GPU-h per scenario (OFA Table 1), in GPU-hours
    assert strategies_break_even(1240, 0, 500) == pytest.approx(2.48)
    assert strategies_break_even(100, 5, 5) is None


@pytest.mark.parametrize("text,msg", [("5..1", "low 5 is above its high 1"), ("-3", ">= 0"), ("1..x", "expected a number"),
                                      ("0..10:log", "LOW > 0"), ("1..20..10", "mode 20 must lie")])
def test_bad_distributions(text, msg):
    with pytest.raises(UsageError, match=msg):
        parse_dist(text, "--inferences-per-day")


cands = st.lists(st.tuples(st.one_of(st.none(), st.floats(50, 90)), st.floats(0.1, 10), st.floats(0.1, 10)), min_size=1, max_size=12)


@settings(max_examples=80, deadline=None)
@given(rows=cands, seed=st.integers(0, 1000))
def test_pareto_properties(rows, seed):
    cs = [Candidate(f"m{i}", a, c, c, l) for i, (a, c, l) in enumerate(rows)]
    dom = pareto(cs)
    front = [c for c in cs if not dom[c.name]]
    for c in front:
        assert not any(dominates(o, c) for o in cs)
    for c in cs:
        if dom[c.name]:
            assert any(dominates(o, c) for o in cs)
    shuffled = list(cs)
    np.random.default_rng(seed).shuffle(shuffled)
    assert pareto(shuffled) == dom
    assert [r.candidate.name for r in rank(shuffled)] == [r.candidate.name for r in rank(cs)]


def test_rank_constraints_and_ties():
    cs = [Candidate("b", 70, 1.0, 1.0, 0.010), Candidate("a", 75, 1.0, 1.0, 0.010), Candidate("c", None, 0.5, 0.5, 0.050)]
    rows = rank(cs, max_latency_s=0.020)
    assert [(r.rank, r.candidate.name) for r in rows] == [(None, "c"), (1, "a"), (2, "b")]  # ties by name
    assert rows[0].excluded.startswith("latency")
    assert rank(cs, min_accuracy=72)[0].excluded == "accuracy unknown"


def test_amortize_cli(shipped):
    r = cli("amortize", "--nas-preset", "evolved-transformer", "--nas-pue", "1.1", "--nas-grid-gco2e-per-kwh", "431",
            "--baseline-co2e-g", "1", "--nas-co2e-g", "0.5", "--inferences-per-day", "1e5..1e7:log", "--horizon-years", "1",
            "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for k in ("break_even_items", "break_even_days", "net_savings_kg", "savings_ratio", "max_nas_budget_kg", "p_positive"):
        assert k in d
    spent = 32_640 * 208 * 1.1 / 1000 * 0.431  # the preset through the footprint accounting
    assert d["spent_kg"] == pytest.approx(spent)
    assert d["max_nas_budget_kwh"] == pytest.approx(d["max_nas_budget_kg"] / 0.431)
    r = cli("amortize", "--nas-cost-kg", "100", "--baseline-model", shipped["resnet50"], "--nas-model", shipped["mobilenet_v2"],
            "--hardware", "t4", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["savings_g_per_item"] > 0


def test_amortize_bad_input():
    r = cli("amortize", "--nas-cost-kg", "100", "--baseline-co2e-g", "1", "--nas-co2e-g", "0.5", "--inferences-per-day", "-5")
    assert r.exit_code == 2 and "--inferences-per-day '-5'" in r.stderr
    r = cli("amortize", "--nas-cost-kg", "100", "--baseline-co2e-g", "1", "--nas-co2e-g", "0.5", "--deployments", "9..3")
    assert r.exit_code == 2 and "low 9 is above its high 3" in r.stderr
    r = cli("amortize", "--baseline-co2e-g", "1", "--nas-co2e-g", "0.5")
    assert r.exit_code == 2 and "exactly one NAS cost" in r.stderr
    r = cli("amortize", "--nas-preset", "darts-3rd", "--baseline-co2e-g", "1", "--nas-co2e-g", "0.5")
    assert r.exit_code == 2 and "did you mean darts" in r.stderr  # an unknown name is a usage error


def test_rank_accuracy_file_errors(shipped, tmp_path):
    folder = shipped["resnet50"].parent
    bad = tmp_path / "acc.csv"
    bad.write_text("model,accuracy\nresnet50,76.1\nvgg16,71.6\n")
    r = cli("rank", folder, "--hardware", "t4", "--accuracy", bad)
    assert r.exit_code == 2 and "row 3: unknown model 'vgg16'" in r.stderr
    bad.write_text("model,accuracy\nresnet50,\n")
    r = cli("rank", folder, "--hardware", "t4", "--accuracy", bad)
    assert r.exit_code == 2 and "row 2: accuracy '' is not a number" in r.stderr
    good = tmp_path / "good.csv"
    good.write_text("model,accuracy\nresnet18,99\n")
    r = cli("rank", folder, "--hardware", "t4", "--accuracy", good, "--min-accuracy", "75", "--format", "json")
    rows = json.loads(r.stdout)["ranking"]
    assert next(x for x in rows if x["name"] == "resnet18")["accuracy"] == 99
    assert all(x["rank"] is None for x in rows if x["accuracy"] is not None and x["accuracy"] < 75)
