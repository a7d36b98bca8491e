"""Several targets in one command (a row per (candidate, target)), options echoed as resolved (a region with its year
and intensity), a repeated single-valued option refused, and tables within 80 columns without a cut number."""

import json

from cli_helpers import cli


def test_several_hardware_and_sites_give_one_table_a_row_per_candidate_and_target(shipped):
    one = shipped["resnet18"]
    r = cli("project", one, "--hardware", "h100,a100,l4", "--region", "france,us-central1", "--no-store", "-q")
    assert r.exit_code == 0, r.output
    j = json.loads(cli("project", one, "--hardware", "h100,a100,l4", "--region", "france,us-central1", "--no-store",
                       "--format", "json").stdout)
    assert len(j) == 6 and {e["hardware"] for e in j} == {"h100-sxm-calibrated", "a100-40gb", "l4"}
    assert r.stdout.count("Projected") == 1  # one table
    assert "where: google-fleet (PUE 1.1); grid fra@2023 (56.04 gCO2e/kWh)" in r.stdout
    assert "grid us-central1@2024" in r.stdout
    assert max(len(ln) for ln in r.stdout.splitlines()) <= 80 and "…" not in r.stdout


def test_rank_across_targets_ranks_each_candidate_on_each_target(shipped):
    args = ("rank", shipped["resnet18"], shipped["resnet50"], "--hardware", "h100,l4")
    j = json.loads(cli(*args, "--format", "json").stdout)
    rows = [(r["model"], r["target"]) for r in j["ranking"]]
    assert sorted(rows) == sorted((m, t) for m in ("resnet18", "resnet50") for t in ("h100-sxm-calibrated", "l4"))
    co2e = [r["co2e_g_per_item"] for r in j["ranking"]]
    assert co2e == sorted(co2e)  # ranked together by CO2e per item
    t = cli(*args, "-q").stdout
    assert "Candidates on 2 targets" in t and "…" not in t and max(len(ln) for ln in t.splitlines()) <= 80


def test_rank_does_not_put_an_excluded_model_on_the_front(shipped):
    j = json.loads(cli("rank", shipped["resnet50"].parent, "--max-latency-ms", "3", "--format", "json").stdout)
    out = [r for r in j["ranking"] if r["excluded"]]
    assert out and not any(r["pareto"] for r in out) and all(r["rank"] is None for r in out)


def test_a_repeated_single_valued_option_is_refused(shipped):
    r = cli("project", shipped["resnet18"], "--hardware", "h100", "--hardware", "a100", "--no-store")
    assert r.exit_code == 2 and "--hardware given 2 times (h100, a100)" in r.stderr and "--hardware h100,a100" in r.stderr
    r = cli("analyze", "--hardware=h100", "--hardware", "l4", "--no-store")
    assert r.exit_code == 2 and "--hardware given 2 times" in r.stderr and "several targets" not in r.stderr


def test_a_stated_region_is_echoed_with_its_year_and_intensity(shipped):
    r = cli("project", shipped["resnet18"], "--region", "france", "--no-store", "-q")
    assert "grid fra@2023 (56.04 gCO2e/kWh)" in r.stdout
    a = cli("analyze", "--region", "france", "--no-store", "--samples", "300", "--no-sensitivity")
    assert "grid fra@2023 (56.04 gCO2e/kWh)" in " ".join(a.stdout.split())


def test_serving_footer_gives_each_models_request_mix(shipped):
    from pathlib import Path

    folder = Path(shipped["resnet50"]).parent / "decoders"
    r = cli("project", folder / "llama-3.1-8b.json", folder / "gpt2.json", "--hardware", "h100", "--phase", "serving",
            "--no-store", "-q")
    assert r.exit_code == 0, r.output
    j = json.loads(cli("project", folder / "llama-3.1-8b.json", folder / "gpt2.json", "--hardware", "h100", "--phase",
                       "serving", "--no-store", "--format", "json").stdout)
    flat = " ".join(r.stdout.split())
    for e in j:
        w = e["detail"]["workload"]
        assert f"a request: {w['prompt_tokens_mean']:,.0f} prompt and {w['output_tokens_mean']:,.0f} output" in flat
    assert "…" not in r.stdout and max(len(ln) for ln in r.stdout.splitlines()) <= 80
