"""-q/--quiet means the same in every command that prints notes: the tables, no notes (issue #39)."""

import pytest

from cli_helpers import cli


@pytest.mark.parametrize("args", [
    ["footprint", "--hardware", "tpu-v2", "--count", "64", "--hours", "108"],
    ["fourm", "--base-hardware", "p100", "--new-hardware", "tpu-v4", "--model-ratio", "14"],
    ["plan-search", "--preset", "mnasnet", "--no-store"],
    ["amortize", "--nas-preset", "mnasnet", "--baseline-co2e-g", "1.53e-5", "--nas-co2e-g", "9.35e-6"],
    ["project", "models/resnet18.onnx", "--hardware", "h100", "--no-store"],
    ["profile", "models/resnet18.onnx", "--no-store"],
], ids=lambda a: a[0])
def test_quiet_drops_the_notes_and_keeps_the_tables(args):
    loud, quiet = cli(*args), cli(*args, "-q")
    assert loud.exit_code == 0 and quiet.exit_code == 0, loud.output + quiet.output
    notes = [ln for ln in loud.stdout.splitlines() if ln.startswith("note ")]
    assert notes and not any(ln.startswith("note ") for ln in quiet.stdout.splitlines())
    first_table_line = next(ln for ln in loud.stdout.splitlines() if ln.strip())
    assert first_table_line in quiet.stdout


def test_plan_search_echoes_the_site_as_resolved():
    """--region france is said as the region profile and year it resolved to, with its intensity (issue #39)."""
    r = cli("plan-search", "--preset", "mnasnet", "--no-store", "--region", "france", "-q")
    assert r.exit_code == 0, r.output
    head = " ".join(r.stdout.split("\n")[:2])
    assert "industry-average-2021 (PUE 1.57); grid fra@2023 (56.04 gCO2e/kWh)" in head


def test_amortize_echoes_the_serving_site_as_resolved():
    r = cli("amortize", "--nas-preset", "mnasnet", "--baseline-model", "models/resnet50.onnx", "--nas-model",
            "models/efficientnet_b0.onnx", "--hardware", "h100", "--region", "france", "-q")
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    assert "served on h100-sxm-calibrated; where: google-fleet (PUE 1.1); grid fra@2023 (56.04 gCO2e/kWh)" in text


def test_population_echoes_the_site_as_resolved():
    r = cli("population", "nb201:5", "--hardware", "h100", "--no-store", "-q", "--region", "france", "--workers", "1")
    assert r.exit_code == 0, r.output
    assert "where: google-fleet (PUE 1.1); grid fra@2023 (56.04 gCO2e/kWh)" in " ".join(r.stdout.split())
