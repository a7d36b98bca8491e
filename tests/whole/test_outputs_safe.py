"""Outputs safe in a spreadsheet and a terminal (issue #27): hostile file, candidate, node and op names are
neutralised in every CSV the tool writes (OWASP's CSV-injection advice; numbers stay numbers), escaped in every
terminal output (errors stay one line), and kept exact in JSON."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from analyzer.report.safe import csv_cell, terminal
from cli_helpers import cli
from onnx_builders import init, model, vi

ROOT = Path(__file__).resolve().parents[2]
FORMULAS = ["=1+2", "+SUM(A1:A2)", "-2+3", "@cmd", "\t=1", "\r=1"]
CONTROL = "title\x1b]0;owned\x07clear\x1b[2J\nerror: fake line\u202e"


@pytest.mark.parametrize("text, shown", [("=1+2", "'=1+2"), ("+SUM(A1)", "'+SUM(A1)"), ("-2+3", "'-2+3"), ("@cmd", "'@cmd"),
                                         ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("-3.5", "-3.5"), ("+7", "+7"), ("-1e-3", "-1e-3"),
                                         ("resnet-50", "resnet-50"), ("", ""), ("-", "'-"), ("-inf", "'-inf")])
def test_a_text_cell_that_would_be_a_formula_is_neutralised(text, shown):
    assert csv_cell(text) == shown


def test_numbers_stay_numbers():
    assert csv_cell(-3.5) == -3.5 and csv_cell(-2) == -2 and csv_cell(None) is None and csv_cell(True) is True


def test_terminal_escapes_every_control_character():
    assert terminal(CONTROL) == "title\\x1b]0;owned\\x07clear\\x1b[2J\\nerror: fake line\\u202e"
    assert terminal("résumé ✓ plain") == "résumé ✓ plain"
    assert terminal("\x9b31m\x7f\x00") == "\\x9b31m\\x7f\\x00"


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _hostile_model(path: Path, node_name: str, op_name: str = "") -> None:
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name=node_name, pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name=op_name or "relu")]
    onnx.save(model(nodes, [vi("x", [1, 4, 8, 8])], [vi("y", None)], [init("w", np.ones((4, 4, 3, 3), np.float32))]), str(path))


def test_profile_csv_and_per_op_neutralise_names(tmp_path):
    path = tmp_path / "m.onnx"
    _hostile_model(path, '=HYPERLINK("http://evil","click")', "@SUM(1+1)")
    per_op = _rows(cli("profile", path, "--per-op", "--format", "csv").stdout)
    assert [r["name"] for r in per_op] == ["'=HYPERLINK(\"http://evil\",\"click\")", "'@SUM(1+1)"]
    assert int(per_op[0]["macs"]) == 4 * 4 * 9 * 64
    summary = _rows(cli("profile", path, "--format", "csv").stdout)
    assert int(summary[0]["macs"]) == 4 * 4 * 9 * 64 and float(summary[0]["coverage"]) == 1.0
    # JSON keeps the names exactly
    per = json.loads(cli("profile", path, "--per-op", "--format", "json").stdout)[0]["per_op"]
    assert per[0]["name"] == '=HYPERLINK("http://evil","click")'


_GEN = """
from onnx import TensorProto, helper

NAMES = {names!r}


def space():
    for i, name in enumerate(NAMES):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, i + 2])
        g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [helper.make_tensor_value_info("y", 1, None)])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        yield name, m, 50.0 + i
"""


def test_population_out_csv_and_terminal(tmp_path):
    names = FORMULAS + [CONTROL.replace("/", "|")]
    (tmp_path / "gen.py").write_text(_GEN.format(names=names))
    out = tmp_path / "all.csv"
    # --wide: the escaped names whole on their lines (at 80 columns a name folds at its separators)
    r = cli("population", f"{tmp_path / 'gen.py'}:space", "--hardware", "t4", "--no-store", "--workers", "1", "--out", out, "--wide")
    assert r.exit_code == 0, r.output
    rows = _rows(out.read_bytes().decode())  # newline="": a CR inside a quoted cell stays a CR
    assert {r["name"] for r in rows} == {"'" + n for n in FORMULAS} | {names[-1]}
    assert all(float(r["co2e_g_per_item"]) > 0 and float(r["accuracy"]) >= 50 for r in rows)
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\u202e" not in r.stdout
    # the escaped name is folded over two lines in the 40-column model column, never cut
    assert "title\\x1b]0;owned\\x07clear\\x1b[2J\\nerror" in r.stdout and ": fake line\\u202e" in r.stdout
    js = json.loads(cli("population", f"{tmp_path / 'gen.py'}:space", "--hardware", "t4", "--no-store", "--workers", "1",
                        "--format", "json").stdout)
    assert {x["name"] for x in js["top"]} == set(names)  # JSON: exact


def test_ranking_csv_export_csv_and_analyze_terminal(tmp_path):
    """A candidate is named by its file: a hostile file name reaches ranking.csv, export's CSV and the terminal."""
    folder = tmp_path / "models"
    folder.mkdir()
    evil = "=cmd|' -C calc'!A0" + CONTROL
    (folder / "resnet50.onnx").write_bytes((ROOT / "models" / "resnet50.onnx").read_bytes())
    (folder / f"{evil}.onnx").write_bytes((ROOT / "models" / "mobilenet_v2.onnx").read_bytes())
    (folder / "manifest.toml").write_text(
        '[[model]]\nname = "base"\nfile = "resnet50.onnx"\nrole = "baseline"\ntop1_accuracy_pct = 76.1\n\n'
        f'[[model]]\nname = "nas"\nfile = {json.dumps(evil + ".onnx")}\nrole = "NAS-found"\ntop1_accuracy_pct = 76.0\n')
    store = tmp_path / "s.sqlite"
    r = cli("analyze", folder, "--store", store, "--samples", "200", "--no-sensitivity", "--out", tmp_path / "out", "--wide")
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout + r.stderr and "\u202e" not in r.stdout and "\x07" not in r.stdout
    assert "pair: =cmd|' -C calc'!A0title\\x1b]0;owned\\x07clear\\x1b[2J\\nerror: fake line\\u202e (NAS-found" in r.stdout
    ranking = _rows((tmp_path / "out" / "ranking.csv").read_bytes().decode())
    assert {x["model"] for x in ranking} == {"resnet50", "'" + evil}
    assert all(float(x["co2e_g_per_item"]) > 0 and float(x["top1_accuracy_pct"]) > 70 for x in ranking)
    assert json.loads((tmp_path / "out" / "analysis.json").read_text())["pair"]["nas"] == evil
    exported = _rows(cli("export", "--store", store, "--kind", "evaluation", "--format", "csv").stdout)
    assert len(exported) == 2 and {x["model"] for x in exported} == {str(folder / "resnet50.onnx"), str(folder / f"{evil}.onnx")}
    assert all(float(x["co2e_g_per_item"]) > 0 for x in exported)


def test_errors_stay_one_line_and_escaped(tmp_path):
    bad = tmp_path / "ev\x1b[2Jil\nerror: fake.onnx"
    bad.write_bytes(b"not onnx")
    r = cli("profile", bad)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.exit_code == 1 and len(lines) == 1 and "\x1b" not in r.stderr, r.stderr
    assert lines[0].startswith("error: ") and "ev\\x1b[2Jil\\nerror: fake.onnx: not a valid ONNX file" in lines[0]


def test_click_usage_errors_are_escaped_too(tmp_path):
    """What click itself refuses (an unknown command, a bad choice) quotes the user's text: escaped as well."""
    r = subprocess.run([sys.executable, "-m", "analyzer", "profile", "x.onnx", "--format", "a\x1b[2Jb"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 2 and "\x1b" not in r.stderr and "'a\\x1b[2Jb' is not one of" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "analyzer"], capture_output=True, text=True, cwd=ROOT)
    assert "Usage: " in r.stdout + r.stderr and "\\n" not in r.stdout + r.stderr  # the help text keeps its lines
