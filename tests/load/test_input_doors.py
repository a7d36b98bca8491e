"""Every door a file comes in by (issue #27): manifests, profile TOML, search plans, saved analyses and model files
given as special files. Each bad input is one line naming the file, with the right exit code (2 usage, 1 analysis),
never a traceback."""

import json
import os

import numpy as np
import onnx
import pytest
from onnx import helper

from analyzer.errors import AnalyzerError
from analyzer.files import read_json, read_toml
from analyzer.load.manifest import read_manifest
from cli_helpers import cli, one_line_error
from onnx_builders import init, model, vi

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture
def pair(tmp_path):
    """A baseline and a NAS-found candidate (two small convolutions) and their manifest's text."""
    for name, c in (("big", 32), ("small", 8)):
        nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])]
        onnx.save(model(nodes, [vi("x", [1, 8, 16, 16])], [vi("y", None)], [init("w", np.ones((c, 8, 3, 3), np.float32))]),
                  str(tmp_path / f"{name}.onnx"))
    text = ('[[model]]\nname = "big"\nfile = "big.onnx"\nrole = "baseline"\ntop1_accuracy_pct = 70.0\n\n'
            '[[model]]\nname = "small"\nfile = "small.onnx"\nrole = "NAS-found"\ntop1_accuracy_pct = 70.0\n')
    (tmp_path / "manifest.toml").write_text(text)
    return tmp_path, text


ANALYZE = ("--no-store", "--samples", "200", "--no-sensitivity", "--quiet", "--format", "json")


def test_a_manifest_names_its_failing_model_in_every_command(pair):
    """A truncated NAS-found model: analyze cannot pair, and says which file failed and why, not only that no
    NAS-found candidate passes; the other commands name it too, and exit 1."""
    folder, _ = pair
    data = (folder / "small.onnx").read_bytes()
    (folder / "small.onnx").write_bytes(data[: len(data) // 2])
    line = one_line_error(cli("analyze", folder, *ANALYZE), 1, "no NAS-found candidate", str(folder / "small.onnx"), "truncated")
    assert "could not be evaluated" in line
    for args in (("rank", folder, "--hardware", "t4"), ("population", folder, "--hardware", "t4", "--no-store", "--workers", "1"),
                 ("profile", folder), ("plan-search", folder, "--hardware", "t4", "--dataset-samples", "100", "--epochs", "1")):
        r = cli(*args)
        assert r.exit_code == 1, (args, r.output)
        assert f"error: {folder / 'small.onnx'}: not a valid ONNX file" in r.stderr, (args, r.stderr)


@pytest.mark.parametrize("value", ["true", "false", '"70"', "-1", "101", "nan"])
def test_a_boolean_or_out_of_range_accuracy_is_refused(pair, value):
    folder, text = pair
    (folder / "manifest.toml").write_text(text.replace("top1_accuracy_pct = 70.0\n", f"top1_accuracy_pct = {value}\n", 1))
    with pytest.raises(AnalyzerError, match=r"\[\[model\]\] #1: top1_accuracy_pct must be a number in 0..100"):
        read_manifest(folder / "manifest.toml")
    one_line_error(cli("analyze", folder, *ANALYZE), 1, str(folder / "manifest.toml"), "top1_accuracy_pct")


@pytest.mark.parametrize("file, says", [("../outside.onnx", "lies outside the manifest's folder"),
                                        ("sub/../../outside.onnx", "lies outside the manifest's folder"),
                                        ("/etc/passwd", "is an absolute path")])
def test_a_manifest_never_names_a_file_outside_its_folder(pair, file, says):
    folder, text = pair
    (folder.parent / "outside.onnx").write_bytes((folder / "big.onnx").read_bytes())
    (folder / "manifest.toml").write_text(text.replace('file = "big.onnx"', f'file = "{file}"'))
    for args in (("analyze", folder, *ANALYZE), ("profile", folder), ("population", folder, "--hardware", "t4", "--no-store")):
        one_line_error(cli(*args), 1, str(folder / "manifest.toml"), f"'{file}'", says)


def test_a_manifest_inside_its_folder_still_works(pair):
    """Subfolders and `..` that stay inside work; a symlink inside the folder is followed."""
    folder, text = pair
    (folder / "sub").mkdir()
    (folder / "big.onnx").rename(folder / "sub" / "big.onnx")
    (folder / "small.onnx").rename(folder.parent / "elsewhere.onnx")
    (folder / "small.onnx").symlink_to(folder.parent / "elsewhere.onnx")  # a folder of links: followed, as documented
    (folder / "manifest.toml").write_text(text.replace('file = "big.onnx"', 'file = "sub/../sub/big.onnx"'))
    assert [e.file.name for e in read_manifest(folder / "manifest.toml")] == ["big.onnx", "small.onnx"]
    r = cli("analyze", folder, *ANALYZE)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["pair"]["nas"] == "small"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_refused_before_they_are_read(tmp_path, pair):
    """A FIFO would block a read forever and /dev/zero never ends: both are refused at once, as a model, in a
    manifest, as a plan or a saved analysis."""
    fifo = tmp_path / "fifo.onnx"
    os.mkfifo(fifo)
    one_line_error(cli("profile", fifo), 2, str(fifo), "is a FIFO, not a regular file")
    if os.path.exists("/dev/zero"):
        one_line_error(cli("profile", "/dev/zero"), 2, "/dev/zero: is a device, not a regular file")
    folder, text = pair
    os.mkfifo(folder / "pipe.onnx")
    (folder / "manifest.toml").write_text(text.replace('file = "small.onnx"', 'file = "pipe.onnx"'))
    one_line_error(cli("population", folder, "--hardware", "t4", "--no-store"), 2, str(folder / "pipe.onnx"), "is a FIFO")
    (folder / "manifest.toml").write_text(text)
    one_line_error(cli("analyze", folder, "--no-store", "--search-plan", fifo), 2, "--search-plan", "is a FIFO")
    one_line_error(cli("report", fifo, "--html", tmp_path / "r.html"), 2, str(fifo), "is a FIFO")


def test_deep_nesting_is_one_error_naming_the_file(tmp_path):
    deep = tmp_path / "hardware" / "deep.toml"
    deep.parent.mkdir()
    deep.write_text('name = "deep"\ntdp_w = ' + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(AnalyzerError, match="nested too deeply"):
        read_toml(deep)
    one_line_error(cli("profiles", "list", "hardware", "--profiles", tmp_path), 1, str(deep), "nested too deeply")
    js = tmp_path / "deep.json"
    js.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AnalyzerError, match="nested too deeply"):
        read_json(js)
    one_line_error(cli("report", js, "--html", tmp_path / "r.html"), 2, str(js), "nested too deeply")


def test_nesting_is_capped_below_what_breaks_a_recursive_walk(tmp_path):
    """900 levels pass Python's JSON parser and then break whatever walks the value recursively (the report's
    checker did: tests/corpus/doors/fuzz_analysis_deep_unit.json); the readers stop at MAX_DEPTH levels."""
    from analyzer.files import MAX_DEPTH, too_deep

    js, toml = tmp_path / "a.json", tmp_path / "a.toml"
    js.write_text("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    toml.write_text("x = " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n")  # the top table is the first level
    assert too_deep(read_json(js)) is False and read_toml(toml)["x"] == _nested(MAX_DEPTH - 2)
    js.write_text("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    toml.write_text("x = " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n")
    for read, path in ((read_json, js), (read_toml, toml)):
        with pytest.raises(AnalyzerError, match=f"{path}: .*nested too deeply: at most 64 levels"):
            read(path)
    assert too_deep({"a": [{"b": [1]}]}, 4) is False and too_deep({"a": [{"b": [[1]]}]}, 4) is True


def _nested(n: int) -> list:
    v: list = []
    for _ in range(n):
        v = [v]
    return v


@pytest.mark.parametrize("name", ["h100", "h100-sxm-calibrated", "mnasnet", "google-fleet", "world-ember-2022"])
def test_profiles_show_the_defaults(name):
    """The default serving chip (h100 is the calibrated H100's alias), the default search and site."""
    r = cli("profiles", "show", name)
    assert r.exit_code == 0 and not r.stderr, r.output
    assert "source" in r.stdout.lower() or "value" in r.stdout.lower(), r.stdout


def test_a_profile_never_names_code(tmp_path):
    """A search preset's procedure becomes a population source for plan-search --preset: only the synthetic space,
    never FILE.py (which would run it)."""
    nas = tmp_path / "nas"
    nas.mkdir()
    text = (ROOT / "profiles" / "nas" / "mnasnet.toml").read_text()
    assert 'stand_in = "space"' in text
    (nas / "mnasnet.toml").write_text(text.replace('stand_in = "space"', 'stand_in = "evil.py"'))
    one_line_error(cli("profiles", "list", "nas", "--profiles", tmp_path), 1, str(nas / "mnasnet.toml"), "procedure.stand_in",
              "'evil.py' is not a population the tool builds")


@pytest.mark.parametrize("value, ok", [("8000", True), ("8000.0", True), ("2.5", False), ("0", False), ("2e9", False)])
def test_a_presets_candidates_are_a_population_size(tmp_path, value, ok):
    """plan-search --preset samples `candidates` of the space, as space:N does on the command line: a whole number
    from 1 to 1e9 (2.5 was taken as 2)."""
    nas = tmp_path / "nas"
    nas.mkdir()
    text = (ROOT / "profiles" / "nas" / "mnasnet.toml").read_text()
    assert "\ncandidates = 8000\n" in text
    (nas / "mnasnet.toml").write_text(text.replace("\ncandidates = 8000\n", f"\ncandidates = {value}\n"))
    r = cli("profiles", "list", "nas", "--profiles", tmp_path)
    if ok:
        assert r.exit_code == 0, r.output
    else:
        one_line_error(r, 1, str(nas / "mnasnet.toml"), "procedure.candidates", "must be a whole number from 1 to 1e+09")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A real analysis.json (two small candidates, sensitivities on) and a real plan.json."""
    tmp = tmp_path_factory.mktemp("saved")
    for name, c in (("big", 32), ("small", 8)):
        nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])]
        onnx.save(model(nodes, [vi("x", [1, 8, 16, 16])], [vi("y", None)], [init("w", np.ones((c, 8, 3, 3), np.float32))]),
                  str(tmp / f"{name}.onnx"))
    (tmp / "manifest.toml").write_text('[[model]]\nname = "big"\nfile = "big.onnx"\nrole = "baseline"\ntop1_accuracy_pct = 70.0\n\n'
                                       '[[model]]\nname = "small"\nfile = "small.onnx"\nrole = "NAS-found"\ntop1_accuracy_pct = 70.0\n')
    r = cli("analyze", tmp, "--no-store", "--samples", "200", "--out", tmp / "out", "--quiet")
    assert r.exit_code == 0, r.output
    r = cli("plan-search", "--candidate-chip-hours", "1", "--population", "10", "--hardware", "h100", "--out", tmp / "plan.json")
    assert r.exit_code == 0, r.output
    return tmp, json.loads((tmp / "out" / "analysis.json").read_text()), json.loads((tmp / "plan.json").read_text())


def _edit(record: dict, path: str, value) -> dict:
    """`record` with the field at a dotted path ("ranking.1.co2e_g_per_item") set to `value` (KeyError: removed)."""
    from fakes import edited

    return edited(record, [int(p) if p.isdigit() else p for p in path.split(".")], value)


@pytest.mark.parametrize("path, value, says", [
    ("ranking.1.co2e_g_per_item", -1.0, "ranking[1].co2e_g_per_item -1.0: must be a number from 0"),
    ("projections.0.energy_j_per_item", "0.1", "projections[0].energy_j_per_item '0.1': must be a number"),
    ("verdict", KeyError, "verdict: missing"),
    ("ranking", {"a": 1}, "ranking a JSON object: must be an array"),
    ("target.batch", True, "target.batch True: must be an integer from 1 to 1,048,576"),
    ("pair.baseline", "vgg", "pair.baseline 'vgg': is not among the ranked candidates"),
    ("fourms.map", 0, "fourms.map 0: must be a number from 1e-12"),
    ("sensitivities.0.net_low_kg", None, "sensitivities[0].net_low_kg None: must be a number"),
    ("projections.0.detail.breakdown.conv.time_share", 7, "projections[0].detail.breakdown.conv.time_share 7"),
    ("search.cost_kg", -5, "search.cost_kg -5: must be a number from 0"),
])
def test_report_names_the_first_wrong_field(saved, tmp_path, path, value, says):
    _, record, _ = saved
    bad = tmp_path / "analysis.json"
    bad.write_text(json.dumps(_edit(record, path, value)))
    out = tmp_path / "r.html"
    one_line_error(cli("report", bad, "--html", out), 2, f"error: {bad}: {says}")
    assert not out.exists()


def test_report_of_a_sound_analysis_and_of_zero_co2e(saved, tmp_path):
    folder, record, _ = saved
    r = cli("report", folder / "out" / "analysis.json", "--html", tmp_path / "r.html")
    assert r.exit_code == 0 and not r.stderr and (tmp_path / "r.html").read_text() == (folder / "out" / "report.html").read_text()
    zero = _edit(record, "fourms", None)
    for row in zero["ranking"]:
        row["co2e_g_per_item"] = 0.0
    (tmp_path / "zero.json").write_text(json.dumps(zero))
    r = cli("report", tmp_path / "zero.json", "--html", tmp_path / "z.html")
    assert r.exit_code == 0 and not r.stderr, r.output  # a grid of 0 gCO2e/kWh: no log axis, no warning


@pytest.mark.parametrize("field, value, says", [
    ("total.co2e_kg", 1e308, "total.co2e_kg 1e+308: must be a number from 0 to 1e+12"),
    ("total.high_kg", True, "total.high_kg True: must be a number"),
    ("total.energy_kwh", -1, "total.energy_kwh -1: must be a number from 0"),
    ("total.log_sigma", 1e6, "total.log_sigma 1000000.0: must be a number from 0 to 10"),
    ("grid_gco2e_per_kwh", 1e9, "grid_gco2e_per_kwh 1000000000.0: must be a number from 0 to 2000"),
    ("total", KeyError, "total None: must be an object"),
])
def test_a_search_plan_goes_through_the_command_lines_caps(saved, tmp_path, field, value, says):
    _, _, plan = saved
    bad = tmp_path / "plan.json"
    bad.write_text(json.dumps(_edit(plan, field, value)))
    args = ("--baseline-co2e-g", "1", "--nas-co2e-g", "0.5", "--inferences-per-day", "1e6")
    r = cli("amortize", "--search-plan", bad, *args)
    one_line_error(r, 2, f"--search-plan {bad}: {says}")
    assert "Warning" not in r.output and "overflow" not in r.output
    good = cli("amortize", "--search-plan", saved[0] / "plan.json", *args, "--format", "json")
    assert good.exit_code == 0 and json.loads(good.stdout)["spent_kg"] > 0
