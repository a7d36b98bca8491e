"""The one accounting step (account/step.py, issue #36): closed forms for each part, and every account (serving,
footprints, search costs, measured runs) agreeing with it on the same work."""

import pytest

from analyzer.account.carbon import footprint
from analyzer.account.measured_run import account_run
from analyzer.account.search_cost import ChipHours, search_cost
from analyzer.account.serving import account_item
from analyzer.account.step import DeviceCost, account, over_time, per_item, stated_facility
from analyzer.errors import UsageError
from analyzer.profiles import load_profiles
from analyzer.target import SiteRequest, TargetRequest, resolve_site, resolve_target

PS = load_profiles()
HW = PS.get("hardware", "h100")


def site(utilization=None, embodied="lifetime-share", **kw):
    return resolve_site(PS, SiteRequest(**kw), utilization=utilization, embodied=embodied)


def test_facility_energy_co2e_and_embodied_in_closed_form():
    s = site(pue=1.5, grid=400)
    a = account(DeviceCost(3.6e6, 3600.0, 7200.0, idle_j=1.8e6, host_j=0.9e6, boundary="server"), s, HW)
    assert a.facility_energy_kwh == pytest.approx((1.0 + 0.5 + 0.25) * 1.5)  # (3.6 + 1.8 + 0.9) MJ x PUE
    assert a.co2e_kg == pytest.approx(1.75 * 1.5 * 0.4)
    kg = a.inputs[[i["name"] for i in a.inputs].index("embodied_co2e_kg")]["at_boundary_kg"]
    life_s = HW.lifetime_years.value * 8766 * 3600
    assert a.embodied_co2e_kg == pytest.approx(kg * 7200.0 / life_s)  # over the held time, not the busy time


def test_a_facility_energy_is_not_multiplied_by_pue_again():
    s = site(pue=1.5, grid=400)
    assert account(stated_facility(10.0), s).facility_energy_kwh == pytest.approx(10.0)
    assert account(stated_facility(10.0), s).co2e_kg == pytest.approx(4.0)


def test_per_item_charges_idle_and_host_over_the_held_time():
    s = site(pue=1.2, grid=300, utilization=0.5)
    c = per_item(HW, s, 2.0, 0.01)
    assert c.held_s == pytest.approx(0.02)
    assert c.idle_j == pytest.approx(HW.idle_w.value * 0.01 * 0.5 / 0.5)
    assert c.host_j == pytest.approx(HW.host_power_w.value * 0.02)  # the server boundary (the default)
    item = account_item(2.0, 0.01, HW, s)
    assert item.facility_energy_j_per_item == pytest.approx((2.0 + c.idle_j + c.host_j) * 1.2)
    assert item.co2e_g_per_item == pytest.approx(item.facility_energy_j_per_item / 3.6e6 * 300)
    chip = per_item(HW, site(pue=1.2, grid=300, utilization=0.5, power_boundary="chip"), 2.0, 0.01)
    assert chip.host_j == 0.0 and chip.boundary == "chip"


def test_scaling_a_cost_scales_every_result():
    s = site(pue=1.3, grid=250)
    c = per_item(HW, s, 1.5, 0.002)
    one, many = account(c, s, HW), account(c.scaled(1000.0), s, HW)
    assert many.facility_energy_j == pytest.approx(1000 * one.facility_energy_j)
    assert many.co2e_g == pytest.approx(1000 * one.co2e_g)
    assert many.embodied_co2e_g == pytest.approx(1000 * one.embodied_co2e_g)


def test_excluded_embodied_is_none_everywhere():
    s = site(pue=1.1, grid=100, embodied="excluded")
    assert account(over_time(500.0, 500.0, 3600.0, "server"), s, HW).embodied_co2e_kg is None
    assert account_run({"gpu": 3.6e6}, {"gpu": None}, 3600.0, s, HW).embodied_co2e_kg is None


def test_every_account_of_one_hour_of_one_chip_agrees():
    """A footprint, a search of one chip-hour and a measured run of the same joules give the step's numbers."""
    s = site(pue=1.4, grid=350)
    fp = footprint(HW, 1, 1.0, s, avg_power_w=500.0)
    step = account(over_time(500.0, 500.0, 3600.0, s.power_boundary), s, HW)
    assert fp.energy_kwh == pytest.approx(step.facility_energy_kwh) and fp.co2e_kg == pytest.approx(step.co2e_kg)
    assert fp.embodied_co2e_kg == pytest.approx(step.embodied_co2e_kg)
    run = account_run({"gpu": 500.0 * 3600}, {"gpu": None}, 3600.0, s, HW)  # a chip-level reading gains the host's share
    assert run.facility_energy_kwh == pytest.approx((500.0 + HW.host_power_w.value) * 1.4 / 1000)
    sc = search_cost(PS, chips=ChipHours("h100", 1, 1.0), site=SiteRequest(pue=1.4, grid=350))
    # its point is the middle of its power's range; its facility kW per chip-hour is the footprint of one chip-hour
    assert sc.kw_per_chip_hour == pytest.approx(footprint(HW, 1, 1.0, s).energy_kwh)


def test_a_pue_given_with_a_resolved_site_is_refused():
    s = site(pue=1.1, grid=100)
    with pytest.raises(UsageError, match="pue.*resolved site"):
        resolve_target(PS, TargetRequest("h100", site=s, pue=1.5))
    assert resolve_target(PS, TargetRequest("h100", site=s)).pue == 1.1


def test_one_definition_of_the_4ms_in_fourm_and_the_report():
    """The Model factor for ResNet-50 -> EfficientNet-B0 is their FLOPs ratio in `fourm` and in analyze's
    illustrative 4Ms alike (it read 10x and 1.84x before issue #36); the report's Model x Machine is still its
    energy-per-item ratio."""
    import json

    from cli_helpers import cli

    fm = cli("fourm", "--base-hardware", "h100", "--new-hardware", "h100", "--base-model", "models/resnet50.onnx",
             "--new-model", "models/efficientnet_b0.onnx", "--format", "json")
    an = cli("analyze", "--no-store", "--format", "json")
    assert fm.exit_code == 0 and an.exit_code == 0, (fm.output, an.output)
    f, r = json.loads(fm.stdout), json.loads(an.stdout)
    assert r["fourms"]["model"] == pytest.approx(f["model"], rel=1e-12) and f["model"] > 9
    base, nas = (next(p for p in r["projections"] if p["name"] == n) for n in ("resnet50", "efficientnet_b0"))
    assert r["fourms"]["model"] * r["fourms"]["machine"] == pytest.approx(base["energy_j_per_item"] / nas["energy_j_per_item"])
