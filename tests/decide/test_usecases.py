"""The use cases of decide/ (issue #36): a frozen request in, a result record out, the same numbers the CLI prints."""

import pytest

from analyzer.decide.amortize_case import AmortizeRequest, PairCosts, SearchRequest, amortize_pair, amortize_search
from analyzer.decide.carbon_case import FootprintRequest, SiteRequest, footprint
from analyzer.decide.plan_case import PlanRequest, Training, plan_search
from analyzer.dist import fixed
from analyzer.errors import UsageError
from analyzer.profiles import load_profiles
from analyzer.target import TargetRequest, resolve_site
from cli_helpers import cli

PS = load_profiles()


def test_amortize_charges_retraining_per_deployment_in_closed_form():
    """spent = search + D x per-deployment cost x (1 + retrains); break-even items = spent x 1000 / saving (g)."""
    req = AmortizeRequest(SearchRequest(cost_kg=1000.0), baseline_co2e_g="0.05", nas_co2e_g="0.03", items_per_day="1e6",
                          deployments="5", horizon_years="1", per_deployment_cost_kg="10", retrains="2", samples=100)
    d = amortize_search(PS, req).to_dict()
    assert d["spent_kg"] == pytest.approx(1000 + 5 * 10 * 3)
    assert d["break_even_items"] == pytest.approx(1150 * 1000 / 0.02)
    assert d["inputs"]["retrains_per_deployment"] == "2"


def test_amortize_use_case_is_what_the_command_prints():
    args = ["--nas-cost-kg", "1000", "--baseline-co2e-g", "0.05", "--nas-co2e-g", "0.03", "--retrains", "1",
            "--per-deployment-cost-kg", "20", "--inferences-per-day", "1e6", "--samples", "100"]
    import json

    printed = json.loads(cli("amortize", *args, "--format", "json").stdout)
    d = amortize_search(PS, AmortizeRequest(SearchRequest(cost_kg=1000.0), baseline_co2e_g="0.05", nas_co2e_g="0.03",
                                            items_per_day="1e6", retrains="1", per_deployment_cost_kg="20", samples=100)).to_dict()
    assert printed["spent_kg"] == d["spent_kg"] == pytest.approx(1000 + 10 * 20 * 2)  # 10 deployments by default
    assert printed["net_savings_kg"] == d["net_savings_kg"]


def test_one_amortisation_step_for_amortize_and_analyze():
    """amortize_pair: the budget's chip is the search's unless named; its notes come back for the caller to place."""
    from analyzer.decide.amortize_case import cost_search
    from analyzer.decide.amortize import parse_reuse

    sc = cost_search(PS, SearchRequest(preset="mnasnet"))
    done = amortize_pair(PS, sc, PairCosts(fixed(0.05), fixed(0.03)), parse_reuse("1e6", "10", None, "1"), None,
                         resolve_site(PS), 200, 0)
    assert done.inputs.nas_cost_kg == sc.dist() and done.inputs.budget_hardware == done.budget_hardware
    named = amortize_pair(PS, sc, PairCosts(fixed(0.05), fixed(0.03)), parse_reuse("1e6", "10", None, "1"), "h100",
                          resolve_site(PS), 200, 0)
    assert named.budget_hardware == PS.get("hardware", "h100").name
    assert named.amortization.max_nas_budget_chip_hours is not None and named.amortization.max_nas_budget_chip_hours > 0


def test_plan_search_from_stated_chip_hours():
    """100 candidates x 2 chip-hours, trained in full, and a final training of 50 chip-hours: 250 chip-hours."""
    r = plan_search(PS, PlanRequest(population=100, training=Training(candidate_chip_hours=2.0, final_chip_hours=50.0),
                                    target=TargetRequest(pue=1.1, grid=100.0)))
    assert r.to_dict()["total"]["chip_hours"] == pytest.approx(250.0)
    assert r.settings["phase"]["kind"] == "train" and not r.failed


def test_plan_search_refuses_a_source_beside_a_preset_naming_the_parameter():
    with pytest.raises(UsageError, match="preset"):
        plan_search(PS, PlanRequest(source="space:4", preset="mnasnet"))


def test_footprint_use_case_is_patterson_s_formula():
    """kWh = hours x chips x W x PUE / 1000; CO2e = kWh x intensity."""
    f = footprint(PS, FootprintRequest("v100", 8, hours=10.0, avg_power_w=300.0, site=SiteRequest(pue=1.1, grid=400.0),
                                       power_boundary="chip"))
    assert f.energy_kwh == pytest.approx(10 * 8 * 300 * 1.1 / 1000)
    assert f.co2e_kg == pytest.approx(f.energy_kwh * 400 / 1000)
    with pytest.raises(UsageError, match="hours"):
        footprint(PS, FootprintRequest("v100", hours=1.0, days=1.0))
