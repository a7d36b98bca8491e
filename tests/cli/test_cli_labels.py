"""What `amortize`, `population` and `history` say about their own figures (issue #39): the verdict first, each
JSON quantity labelled point or median, per batch said where a figure is per batch, and a run's region named."""

from __future__ import annotations

import json
import re

import pytest

from cli_helpers import cli

FIGURE = r"(-?[\d,.]+(?: [kMG]| bn)?)"
MNAS = ("amortize", "--nas-preset", "mnasnet", "--baseline-co2e-g", "1.53e-5", "--nas-co2e-g", "9.35e-6",
        "--inferences-per-day", "1e7", "--deployments", "10", "--horizon-years", "2")


def _n(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.fixture(scope="module")
def mnas():
    r = cli(*MNAS, "--samples", "2000")
    assert r.exit_code == 0, r.output
    j = cli(*MNAS, "--samples", "2000", "--format", "json")
    assert j.exit_code == 0, j.output
    return r.stdout, json.loads(j.stdout)


def test_amortize_prints_its_verdict_first_with_the_tables_values(mnas):
    out, d = mnas
    lines = out.splitlines()
    assert lines[0].startswith("VERDICT ") and f"{d['p_positive']:.0%} probability of a net saving" in lines[0]
    assert out.count("VERDICT") == 1
    head, evidence = out.split("the evidence", 1)
    assert "NAS amortisation" in evidence and "NAS amortisation" not in head
    net = re.search(rf"^net saving {FIGURE} kgCO2e over the horizon \(median; 90% {FIGURE} to {FIGURE}\)", head, re.M)
    spent = re.search(rf"^search +{FIGURE} kgCO2e spent \(median; 90% {FIGURE} to {FIGURE}\)", head, re.M)
    assert re.search(r"^break-even .* items/day per deployment \(median; 90% ", head, re.M)
    # the verdict's values are the evidence table's, median and band
    row = re.search(rf"^net saving over the horizon \(kgCO2e\) +{FIGURE} +{FIGURE} to {FIGURE}", evidence, re.M)
    assert net.groups() == row.groups()
    row = re.search(rf"^spent \(kgCO2e\) +{FIGURE} +{FIGURE} to {FIGURE}", evidence, re.M)
    assert spent.groups() == row.groups()
    assert _n(spent.group(1)) == pytest.approx(d["spent_kg_median"], rel=2e-3)


def test_amortize_point_only_says_point(tmp_path):
    r = cli("amortize", "--nas-cost-kg", "1000", "--baseline-co2e-g", "1.53e-5", "--nas-co2e-g", "9.35e-6",
            "--inferences-per-day", "1e7", "--deployments", "10", "--horizon-years", "2")
    assert r.exit_code == 0, r.output
    head = r.stdout.split("the evidence")[0]
    # 1000 kg spent; 1e7 x 10 x 730.5 days x 5.95e-6 g = 434.6 kg saved: net -565 kg
    assert "net saving -565 kgCO2e over the horizon (point)" in head and "search     1,000 kgCO2e spent (point)" in head
    # break-even 1000 kg / (5.95e-6 g x 10 x 730.5 days) = 23.0 M items/day per deployment
    assert "break-even 23 M items/day per deployment (point)" in head
    j = json.loads(cli("amortize", "--nas-cost-kg", "1000", "--baseline-co2e-g", "1.53e-5", "--nas-co2e-g", "9.35e-6",
                       "--inferences-per-day", "1e7", "--format", "json", "--horizon-years", "2").stdout)
    assert "spent_kg_median" not in j and j["values"].startswith("every quantity is a point value")


def test_amortize_json_labels_the_point_and_the_median(mnas):
    _, d = mnas
    # MnasNet's two readings (6,912 and 27,648 chip-hours): the point is the mixture's centre, 1,455 kg; the median
    # of the draws is lower (the 6,912 reading alone is 727 kg)
    assert d["spent_kg"] == pytest.approx(1454.8, rel=1e-3)
    assert 727 < d["spent_kg_median"] < d["spent_kg"]
    assert d["spent_kg_median"] == d["uncertainty"]["spent_kg"]["p50"]
    assert d["spent_kg_band"] == [d["uncertainty"]["spent_kg"]["p5"], d["uncertainty"]["spent_kg"]["p95"]]
    assert d["net_savings_kg_median"] == d["uncertainty"]["net_savings_kg"]["p50"] != d["net_savings_kg"]
    assert "point value" in d["values"] and "_median" in d["values"]
    assert any("(point: inputs at their centres" in n for n in d["notes"] if n.startswith("NAS cost:"))


def _table_rows(out: str, title: str) -> tuple[list[str], list[list[str]]]:
    """(the two header lines, the rows split on spaces) of the table titled `title`."""
    lines = out.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith(title))
    rows = []
    for ln in lines[i + 4:]:
        if not ln.strip() or not ln[0].isalnum() or ln.startswith("Top "):
            break
        rows.append(ln.split())
    return lines[i + 1:i + 3], rows


def test_population_says_latency_per_batch_and_per_item(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "80")
    csv_out = tmp_path / "pop.csv"
    r = cli("population", "nb201:12", "--hardware", "h100", "--batch", "64", "--workers", "1", "--no-store", "-q",
            "--out", csv_out)
    assert r.exit_code == 0, r.output
    head, rows = _table_rows(r.stdout, "Top ")
    assert re.search(r"latency ms +latency ms", head[0]) and re.search(r"per batch +per item", head[1])
    assert rows and all(len(ln) <= 80 for ln in r.stdout.splitlines())
    for row in rows:  # model, top-1, GMACs, params, latency ms per batch, per item, energy, CO2e
        assert float(row[5]) == pytest.approx(float(row[4]) / 64, rel=0.01, abs=1e-4), row
    import csv
    recs = {x["name"]: x for x in csv.DictReader(csv_out.open())}
    for row in rows:  # the CSV's latency_s is the table's per-batch latency
        assert float(recs[row[0]]["latency_s"]) * 1e3 == pytest.approx(float(row[4]), rel=0.01)


def test_population_drops_per_item_latency_rather_than_cut_a_name(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("population", "models/", "--hardware", "h100", "--workers", "1", "--no-store", "-q")
    assert r.exit_code == 0, r.output
    head, rows = _table_rows(r.stdout, "Top ")
    assert "mobilenet_v3_large" in [row[0] for row in rows]  # whole, not folded
    assert head[0].count("latency ms") == 1 and "per batch per item per 1k" in head[1]  # per batch only
    w = cli("population", "models/", "--hardware", "h100", "--workers", "1", "--no-store", "-q", "--wide")
    head, _ = _table_rows(w.stdout, "Top ")
    assert re.search(r"per batch +per item", head[1])


def test_history_names_a_projects_region_with_its_intensity(monkeypatch, tmp_path):
    from analyzer.profiles import load_profiles
    from analyzer.target import TargetRequest, resolve_target

    monkeypatch.setenv("COLUMNS", "80")
    store = tmp_path / "store"
    for region in ("france", "germany,france"):
        r = cli("project", "models/resnet18.onnx", "--hardware", "h100", "--region", region, "--store", store, "-q")
        assert r.exit_code == 0, r.output
    site = resolve_target(load_profiles(()), TargetRequest("h100", region="france")).site
    runs = json.loads(cli("history", "--store", store, "--format", "json").stdout)
    one = next(x for x in runs if "targets" not in x["args"])
    assert one["args"]["site"] == site.label and site.label.endswith("fra@2023")
    lines = cli("history", "--store", store).stdout.splitlines()
    head = next(ln for ln in lines if ln.startswith("id "))
    a, b = head.index("target and options"), head.index("summary")
    out = " ".join(ln[a:b].strip() for ln in lines[lines.index(head) + 2:])  # the column, its folded cells joined back
    assert f"{site.label}; PUE {site.pue:g}; {site.grid_gco2e_per_kwh:.4g} gCO2e/kWh" in out
    # the run over two regions: each target names its region, and no single grid intensity is shown for both
    assert "@ deu@2023," in out and "@ fra@2023;" in out
    assert out.count("gCO2e/kWh") == 1
