"""Shipped profiles: coverage of the issue's list, validation errors that name file and key, overrides."""

import math

import pytest

from analyzer.errors import AnalyzerError
from analyzer.profiles import load_profiles

REQUIRED_HW = ["p100", "v100", "a100-40gb", "a100-80gb", "h100-sxm", "h200", "l4", "t4", "tpu-v2", "tpu-v3", "tpu-v4",
               "tpu-v5e", "epyc-7763", "xeon-8380"]


@pytest.fixture(scope="module")
def ps():
    return load_profiles()


def test_required_profiles_present(ps):
    assert set(REQUIRED_HW) <= set(ps.hardware)
    assert {"industry-average-2018", "industry-average-2020", "industry-average-2021", "google-fleet", "on-premise-small"} <= set(ps.datacenter)
    assert [ps.get("datacenter", f"industry-average-{y}").pue.value for y in (2018, 2020, 2021)] == [1.58, 1.59, 1.57]
    assert ps.get("datacenter", "google-fleet").pue.value == 1.10
    assert ps.get("region", "world-iea-2019").at(None).grid_gco2e_per_kwh == 475
    assert ps.get("region", "world-ember-2022").at(None).grid_gco2e_per_kwh == 436
    assert ps.get("region", "us-average-eia").at(None).grid_gco2e_per_kwh == 429


def test_every_gcp_region_year_and_country(ps):
    import csv
    from pathlib import Path

    shared = Path(__file__).resolve().parents[3] / "shared" / "data"
    if not shared.is_dir():
        pytest.skip("../shared/data (the source datasets) is not beside this checkout")
    rows = 0
    for f in sorted((shared / "google_region_carbon_info").glob("20*.csv")):
        for row in [r for r in csv.reader(open(f)) if r][1:]:
            region, year = ps.get("region", row[0]), int(f.stem)
            assert region.years[year].grid_gco2e_per_kwh == float(row[3])
            assert region.years[year].cfe_fraction == (float(row[2]) if row[2] else None)
            rows += 1
    assert rows == 205  # 24 + 27 + 34 + 36 + 40 + 44 region rows, 2019..2024
    countries = [p for p in ps.region.values() if p.category == "country"]
    assert len(countries) == 213
    assert ps.get("region", "France").at(None).grid_gco2e_per_kwh == pytest.approx(56.039)
    # Patterson et al. 2021 Table 1: us-central1 (Iowa) 2019 = 78% CFE, 0.478-0.479 kg/kWh gross
    _, row = ps.region_at("us-central1@2019")
    assert (row.cfe_fraction, row.grid_gco2e_per_kwh) == (0.78, 479.0)


def test_every_value_has_provenance(ps):
    from dataclasses import fields

    from analyzer.profiles import Sourced

    for hw in ps.hardware.values():
        for f in fields(hw):
            v = getattr(hw, f.name)
            values = v.values() if isinstance(v, dict) else [v]
            for s in values:
                if isinstance(s, Sourced):
                    assert s.source and s.kind and 1950 <= s.year <= 2100 and math.isfinite(s.value), (hw.name, f.name)
    h100 = ps.get("hardware", "h100-sxm")
    assert h100.achievable_tflops["bf16"].kind == "measured" and h100.peak_tflops["bf16"].kind == "datasheet"
    assert h100.idle_w.value == 123


def test_region_lookup_errors(ps):
    with pytest.raises(AnalyzerError, match="did you mean us-central1"):
        ps.get("region", "us-centrl1")
    with pytest.raises(AnalyzerError, match="no data for 2017; years: 2019, 2020"):
        ps.region_at("us-central1@2017")


def _write(tmp_path, kind, name, text):
    d = tmp_path / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.toml").write_text(text)


GOOD_DC = 'name = "mine"\ntitle = "My DC"\npue = { value = 1.3, source = "measured by us", year = 2025, kind = "measured" }\n'


def test_user_folder_adds_and_overrides(tmp_path):
    _write(tmp_path, "datacenter", "mine", GOOD_DC)
    _write(tmp_path, "datacenter", "google", GOOD_DC.replace('"mine"', '"google-fleet"').replace("1.3", "1.2"))
    ps = load_profiles((tmp_path,))
    assert ps.get("datacenter", "mine").pue.value == 1.3
    assert ps.get("datacenter", "google-fleet").pue.value == 1.2  # overridden by name


@pytest.mark.parametrize("text,needle", [
    ('name = "x"\ntitle = "x"\npue = { value = 0.9, source = "s", year = 2020, kind = "measured" }\n', "key 'pue': value 0.9 is not a number in [1, 5]"),
    ('name = "x"\ntitle = "x"\npue = { value = nan, source = "s", year = 2020, kind = "measured" }\n', "key 'pue.value': nan is not a finite number"),
    ('name = "x"\ntitle = "x"\npue = { value = 1.2, year = 2020, kind = "measured" }\n', "missing 'source'"),
    ('name = "x"\ntitle = "x"\npue = { value = 1.2, source = "s", year = 2020, kind = "guess" }\n', "kind 'guess' is not one of"),
    ('name = "x"\ntitle = "x"\n', "key 'pue': missing"),
    ('name = "x"\ntitle = "x"\npue = 1.2\n', "expected an inline table"),
    ('name = "x"\ntitle = "x"\npeu = 1\n', "key 'peu': unknown key; valid keys"),
    ('name = "x" title', "malformed TOML"),
])
def test_bad_profile_files_name_file_and_key(tmp_path, text, needle):
    _write(tmp_path, "datacenter", "bad", text)
    load_profiles.cache_clear()
    with pytest.raises(AnalyzerError) as e:
        load_profiles((tmp_path,))
    assert needle in str(e.value) and "bad.toml" in str(e.value)


def test_bad_hardware_profile(tmp_path):
    _write(tmp_path, "hardware", "bad", 'name = "x"\ntitle = "x"\ncategory = "gpu"\nembodied_method = "per card"\n'
           'memory_bandwidth_gbps = { value = 1, source = "s", year = 2020, kind = "datasheet" }\n'
           'embodied_co2e_kg = { value = 1, source = "s", year = 2020, kind = "estimated" }\n'
           'lifetime_years = { value = 4, source = "s", year = 2020, kind = "estimated" }\n'
           '[peak_tflops]\nfp17 = { value = 1, source = "s", year = 2020, kind = "datasheet" }\n')
    with pytest.raises(AnalyzerError, match="key 'peak_tflops.fp17': unknown dtype; valid: fp64, fp32"):
        load_profiles((tmp_path,))
