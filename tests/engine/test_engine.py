"""The one evaluation engine: the same candidate on the same explicit target gives bit-identical energy, CO2e and
provenance whichever command asks (analyze, project, rank, population, plan-search), and the library call is the
commands' call."""

import json
import shutil
from pathlib import Path

import pytest

from cli_helpers import cli

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
# analyze's serving scenario, stated in full so every command is given the same target
TARGET = ["--hardware", "h100", "--dtype", "fp16", "--runtime", "graph", "--batch", "64", "--datacenter", "google-fleet",
          "--region", "world-ember-2022"]
FIELDS = ("energy_j_per_item", "facility_energy_j_per_item", "co2e_g_per_item", "embodied_co2e_g_per_item", "latency_s",
          "energy_range_j", "energy_log_sigma_model", "energy_log_sigma_shared")


def _json(*args):
    r = cli(*args, "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_every_command_gives_the_same_evaluation():
    project = {Path(e["model"]).stem: e for e in _json("project", MODELS / "resnet50.onnx", MODELS / "efficientnet_b0.onnx", *TARGET)}
    rank = {e["name"]: e for e in _json("rank", MODELS / "resnet50.onnx", MODELS / "efficientnet_b0.onnx", *TARGET)["evaluations"]}
    analysis = _json("analyze", MODELS, *TARGET, "--no-store", "--no-sensitivity", "--samples", "200")
    analyze = {e["name"]: e for e in analysis["projections"]}
    population = _json("population", MODELS, *TARGET, "--no-store", "--workers", "1", "--top", "10")
    pop = {r["name"]: r for r in population["top"]}
    for name in ("resnet50", "efficientnet_b0"):
        for k in FIELDS:
            assert project[name][k] == rank[name][k] == analyze[name][k], (name, k)
        for k in ("energy_j_per_item", "co2e_g_per_item", "latency_s", "macs", "kernels"):
            assert pop[name][k] == project[name][k], (name, k)
        assert project[name]["inputs"] == rank[name]["inputs"] == analyze[name]["inputs"] == population["inputs"]
    # the provenance names the site's values and the hardware's embodied figure
    names = {i["name"] for i in project["resnet50"]["inputs"]}
    assert {"pue", "grid_gco2e_per_kwh", "utilization", "embodied_co2e_kg", "lifetime_years", "static_power_w"} <= names


def test_one_serving_default_everywhere():
    """Issue #28: the shipped ResNet-50 evaluated by analyze, project, rank and population with no target flag beyond
    --hardware: identical energy and CO2e, the serving default (profiles/defaults.toml [serving]) taken by each and
    said in its notes."""
    from analyzer.profiles import defaults

    d = defaults()["serving"]
    hw = ["--hardware", "h100"]
    r50 = MODELS / "resnet50.onnx"
    project = _json("project", r50, *hw)[0]
    ranked = _json("rank", MODELS, *hw)
    rank = {e["name"]: e for e in ranked["evaluations"]}["resnet50"]
    analysis = _json("analyze", MODELS, *hw, "--no-store", "--no-sensitivity", "--samples", "200")
    analyze = {e["name"]: e for e in analysis["projections"]}["resnet50"]
    population = _json("population", MODELS, *hw, "--no-store", "--workers", "1", "--top", "10")
    pop = {r["name"]: r for r in population["top"]}["resnet50"]
    for k in ("energy_j_per_item", "co2e_g_per_item"):
        assert project[k] == rank[k] == analyze[k] == pop[k], k
    assert (project["dtype"], project["runtime"], project["batch"]) == (d["dtype"].value, d["runtime"].value, d["batch"].value)
    assert analysis["target"]["pue"] == ranked["target"]["pue"] == population["target"]["pue"] == 1.1  # google-fleet
    for notes in (ranked["notes"], analysis["notes"], population["target"]["notes"]):
        assert any(n.startswith("serving default (profiles/defaults.toml): dtype fp16, runtime graph, batch 64") for n in notes), notes
        assert any("assumed google-fleet (PUE 1.1)" in n for n in notes), notes


def test_the_serving_default_adapts_to_the_hardware_and_says_so():
    """A CPU has no fp16 and no CUDA graphs: its first dtype and ONNX Runtime, each said; a training step keeps its
    own defaults (eager, the hardware's first of bf16...)."""
    from analyzer import load_profiles, resolve_target, TargetRequest

    ps = load_profiles()
    cpu = resolve_target(ps, TargetRequest("epyc-7763"))
    assert (cpu.dtype, cpu.runtime, cpu.batch) == ("fp32", "ort", 64)
    assert any("dtype fp32 (epyc-7763 has no fp16)" in n and "runtime ort" in n for n in cpu.notes), cpu.notes
    train = resolve_target(ps, TargetRequest("h100", phase="train"))
    assert (train.dtype, train.runtime, train.batch, train.pue) == ("bf16", "eager", 1, 1.57)
    default = resolve_target(ps)
    assert default.hardware.name == "h100-sxm-calibrated" and any(n.startswith("no hardware given") for n in default.notes)


def test_a_training_step_is_the_same_in_project_and_plan_search(tmp_path):
    train = ["--hardware", "h100", "--dtype", "bf16", "--batch", "32", "--pue", "1.2", "--grid-gco2e-per-kwh", "300"]
    one = tmp_path / "mobilenet_v2.onnx"
    shutil.copy(MODELS / "mobilenet_v2.onnx", one)
    step = _json("project", one, "--phase", "train", *train)[0]
    plan = _json("plan-search", one, *train, "--samples-per-candidate", "1000", "--population", "10")
    # at the server boundary, as the step's own account: its facility energy is this x PUE
    at_boundary = step["energy_j_per_item"] + step["idle_j_per_item"] + step["host_j_per_item"]
    assert step["host_j_per_item"] > 0 and plan["energy_j_per_sample"] == at_boundary
    assert plan["energy_j_per_sample"] * 1.2 == pytest.approx(step["facility_energy_j_per_item"], rel=1e-12)
    assert plan["step_s_per_sample"] == step["latency_s"] / step["batch"]
    assert plan["inputs"] == step["inputs"]
    assert plan["search"]["energy_kwh"] == pytest.approx(10 * 1000 * at_boundary * 1.2 / 3.6e6, rel=1e-12)
    assert plan["embodied_kg"] == pytest.approx(10 * 1000 * step["embodied_co2e_g_per_item"] / 1000, rel=1e-12)


def test_the_library_call_is_the_commands_call():
    from analyzer import evaluate, load_profiles, resolve_target, TargetRequest

    t = resolve_target(load_profiles(), TargetRequest("h100", dtype="fp16", runtime="graph", batch=64, datacenter="google-fleet",
                       region="world-ember-2022"))
    e = evaluate([MODELS / "resnet50.onnx"], t)[0]
    cmd = _json("project", MODELS / "resnet50.onnx", *TARGET)[0]
    assert e.ok and all(getattr(e, k) == cmd[k] for k in FIELDS) and e.inputs == cmd["inputs"]
    bad = evaluate([MODELS / "resnet50.onnx", MODELS / "missing.onnx"], t)
    assert bad[0].ok and not bad[1].ok and "missing.onnx: no such file" in bad[1].error_text() and bad[1].exit_code == 2


def test_the_store_answers_with_what_was_evaluated(tmp_path):
    from analyzer import evaluate, load_profiles, resolve_target, TargetRequest
    from analyzer.engine.store import Store

    t = resolve_target(load_profiles(), TargetRequest("a100", dtype="bf16", runtime="eager", batch=8, pue=1.3, grid=250.0))
    store = Store.open(tmp_path / "s.sqlite")
    first = evaluate([MODELS / "resnet18.onnx", MODELS / "mnasnet1_0.onnx"], t, store=store)
    again = evaluate([MODELS / "resnet18.onnx", MODELS / "mnasnet1_0.onnx"], t, store=store)
    assert [e.to_dict() for e in again] == [e.to_dict() for e in first]
    assert store.conn.execute("SELECT count(*) FROM results WHERE kind='evaluation'").fetchone()[0] == 2
