"""Every file door through the one reading layer (issue #35): import-codecarbon, calibrate --zeus/--csv/--measurements,
--meter replay:FILE, export --measurements, lengths files, search plans and saved analyses, each given a FIFO (refused
at once, never blocking), /dev/zero (refused before a byte is read), a non-UTF-8 byte and an oversize CSV cell or a
5,000-digit integer: one line naming the door, a non-zero exit, no traceback. And the interchange imports' values."""

import json
import os
import signal
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from analyzer.errors import AnalyzerError, UsageError
from analyzer.files import parse_json, read_csv, read_json
from analyzer.load.lengths import read_lengths
from analyzer.measure.interchange import read_codecarbon, read_zeus
from cli_helpers import cli, one_line_error
from onnx_builders import model, vi

CC_HEADER = "timestamp,project_name,run_id,experiment_id,duration,emissions,cpu_energy,gpu_energy,ram_energy,energy_consumed"
CC_ROW = "2026-12-01T10:00:00,p,r1,e1,10.0,0.001,0.0001,0.0002,0.00001,0.00031"
BIG_CELL = "x" * 200_000  # over the csv module's field limit (131,072 characters)
BIG_INT = "1" * 5000  # over Python's int-string limit (4,300 digits): ValueError, not JSONDecodeError


@pytest.fixture(autouse=True)
def _no_hang():
    """A door that blocks (a FIFO opened for reading waits for a writer) fails the test instead of hanging it."""
    def boom(*_):
        raise TimeoutError("a door blocked")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _tiny(tmp_path: Path) -> Path:
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    path = tmp_path / "tiny.onnx"
    onnx.save(model(nodes, [vi("x", ["N", 4])], [vi("y", None)]), str(path))
    return path


def _measurement_line(**kw) -> str:
    d = dict(model="/m/resnet18.onnx", sha256="ab" * 32, backend="onnxruntime", batch=8, provider="CPUExecutionProvider",
             threads=None, opt_level="all", runtime_version="onnxruntime 1", cpu_model="Xeon", session_creation_s=0.1,
             latency_s_median=0.004, latency_s_p10=0.004, latency_s_p90=0.004, latency_s_ci95=[0.004, 0.004], ci_rel=0.01,
             converged=True, iterations=100, warmup_iterations=10, throughput_per_s=2000, energy_j_per_item=0.25,
             dynamic_energy_j_per_item=0.2, idle_power_w=60, avg_power_w=500, energy_source="rapl:package-0")
    d.update(kw)
    return json.dumps(d)


# door name -> (the command given FILE, a good file's text for the door, the kind of its bad-size input)
def _doors(tmp_path: Path) -> dict:
    out = tmp_path / "out.toml"
    return {
        "import-codecarbon": (lambda f: ("import-codecarbon", f), f"{CC_HEADER}\n{CC_ROW}\n", "csv"),
        "calibrate --zeus": (lambda f: ("calibrate", "--hardware", "h100-sxm", "--out", out, "--zeus", f),
                             json.dumps({"model": "m", "batch": 1, "iterations": 1, "time": 1.0, "gpu_energy": {"0": 1}}), "json"),
        "calibrate --csv": (lambda f: ("calibrate", "--hardware", "h100-sxm", "--out", out, "--csv", f),
                            "model,batch,latency_s\nm.onnx,1,0.01\n", "csv"),
        "calibrate --measurements": (lambda f: ("calibrate", "--hardware", "h100-sxm", "--out", out, "--measurements", f),
                                     _measurement_line() + "\n", "json"),
        "measure --meter replay:": (lambda f: ("measure", _tiny(tmp_path), "--meter", f"replay:{f}", "--no-store", "--max-time", "0.1"),
                                    "t_s,energy_j\n0,0\n1,50\n", "csv"),
        "export --measurements": (lambda f: ("export", "--kind", "measurement", "--measurements", f), _measurement_line() + "\n", "json"),
        "rank --accuracy": (lambda f: ("rank", _tiny(tmp_path), "--hardware", "t4", "--accuracy", f), "model,accuracy\ntiny,71.5\n", "csv"),
        "report": (lambda f: ("report", f, "--html", tmp_path / "r.html"), '{"kind": "x", "batch": 1, "ranking": []}', "json"),
        "amortize --search-plan": (lambda f: ("amortize", "--search-plan", f, "--inferences-per-day", "1000"),
                                   '{"kind": "nas-analyzer search plan", "batch": 1}', "json"),
    }


DOOR_NAMES = ("import-codecarbon", "calibrate --zeus", "calibrate --csv", "calibrate --measurements", "measure --meter replay:",
              "export --measurements", "rank --accuracy", "report", "amortize --search-plan")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("door", DOOR_NAMES)
def test_a_fifo_is_refused_at_once(tmp_path, door):
    command, _, _ = _doors(tmp_path)[door]
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    one_line_error(cli(*command(fifo)), 2, str(fifo), "is a FIFO, not a regular file")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
@pytest.mark.parametrize("door", DOOR_NAMES)
def test_dev_zero_is_refused_before_reading(tmp_path, door):
    command, _, _ = _doors(tmp_path)[door]
    one_line_error(cli(*command("/dev/zero")), 2, "/dev/zero", "is a device, not a regular file")


@pytest.mark.parametrize("door", DOOR_NAMES)
def test_a_byte_that_is_not_utf8(tmp_path, door):
    command, good, _ = _doors(tmp_path)[door]
    bad = tmp_path / "bad"
    data = good.encode()
    at = data.index(b"1")  # inside a value, where a byte of another encoding would sit
    bad.write_bytes(data[:at] + b"\xff" + data[at:])
    one_line_error(cli(*command(bad)), 2, str(bad), "not UTF-8")


@pytest.mark.parametrize("door", DOOR_NAMES)
def test_an_oversize_cell_or_number(tmp_path, door):
    """CSV doors: a cell over the csv module's field limit (it raises csv.Error mid-iteration). JSON doors: an
    integer of 5,000 digits (Python's int-string limit raises ValueError, which is not a JSONDecodeError)."""
    command, good, kind = _doors(tmp_path)[door]
    bad = tmp_path / "bad"
    if kind == "csv":
        lines = good.splitlines()
        bad.write_text(lines[0] + "\n" + lines[1] + "\n" + BIG_CELL + "," + "1" * 3 + "\n")
        phrase = "longer than the csv module's limit"
    else:
        bad.write_text(good.replace('"batch": 1', f'"batch": {BIG_INT}').replace('"batch": 8', f'"batch": {BIG_INT}'))
        phrase = "more digits than this tool reads"
    one_line_error(cli(*command(bad)), 2, str(bad), phrase)


def test_json_doors_refuse_nan_infinity_and_overflow(tmp_path):
    for text, phrase in (("[NaN]", "NaN is not a number"), ('{"a": Infinity}', "Infinity is not a number"),
                         ("[1e309]", "1e309 is not finite"), (f"[{BIG_INT}]", "more digits")):
        with pytest.raises(UsageError, match=phrase):
            parse_json(text, UsageError, "x.json")
    p = tmp_path / "plan.json"
    p.write_text(f'{{"kind": "nas-analyzer search plan", "total": {{"co2e_kg": {BIG_INT}}}}}')
    one_line_error(cli("amortize", "--search-plan", p, "--inferences-per-day", "1000"), 2, "--search-plan", "more digits")
    a = tmp_path / "a.json"
    a.write_text('{"kind": "x", "ranking": [NaN]}')
    one_line_error(cli("report", a, "--html", tmp_path / "r.html"), 2, str(a), "NaN is not a number")
    assert not (tmp_path / "r.html").exists()


def test_lengths_file_door(tmp_path):
    p = tmp_path / "lengths.jsonl"
    p.write_text(f'{{"prompt_tokens": {BIG_INT}, "output_tokens": 5}}\n')
    with pytest.raises(UsageError, match=r"lengths.jsonl:1: not a JSON value"):
        read_lengths(p)
    p.write_bytes(b'{"prompt_tokens": 1\xff, "output_tokens": 5}\n')
    with pytest.raises(UsageError, match=r":1: not a JSON value"):
        read_lengths(p)
    with pytest.raises(UsageError, match="is a device, not a regular file"):
        read_lengths("/dev/zero")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        with pytest.raises(UsageError, match="is a FIFO, not a regular file"):
            read_lengths(tmp_path / "fifo")
    p.write_text('{"prompt_tokens": 100, "output_tokens": 5}\n[7, 9]\n')
    assert read_lengths(p)[0] == ((100, 5), (7, 9))


def test_read_csv_names_the_line(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("a,b\n1,2\n3,4\n" + BIG_CELL + ",5\n")
    with pytest.raises(AnalyzerError, match=r"c.csv: line 4: not CSV this tool reads \(a cell longer"):
        read_csv(p)
    p.write_text("a,b\n1,2\n3,4\n")
    assert read_csv(p) == (["a", "b"], [(2, {"a": "1", "b": "2"}), (3, {"a": "3", "b": "4"})])


def test_deep_nesting_says_the_file_nests_too_deeply(tmp_path):
    p = tmp_path / "z.json"
    p.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(UsageError, match="the file nests too deeply"):
        read_zeus(p)
    r = cli("calibrate", "--hardware", "h100-sxm", "--out", tmp_path / "o.toml", "--zeus", p)
    line = one_line_error(r, 2, "the file nests too deeply")
    assert "subgraphs" not in line
    p.write_text("[" * 100 + "]" * 100)
    with pytest.raises(AnalyzerError, match="the file nests too deeply"):
        read_json(p)


# ---- the interchange imports' values ------------------------------------------------------------------------------


def test_codecarbon_shows_control_characters_escaped(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text(f"{CC_HEADER},cpu_model\n" + CC_ROW.replace(",e1,", ",\x1b]0;pwned\x07\x1b[2J,") + ",\x1b[31mXeon\u202e\n")
    r = cli("import-codecarbon", p)
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\u202e" not in r.stdout
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in r.stdout and "\\x1b[31mXeon\\u202e" in r.stdout
    r = cli("import-codecarbon", p, "--format", "json")
    assert r.exit_code == 0 and "\x1b" not in r.stdout and json.loads(r.stdout)[0]["experiment_id"] == "\x1b]0;pwned\x07\x1b[2J"


@pytest.mark.parametrize("column,value,phrase", [
    ("energy_consumed", "-5", "'energy_consumed' is '-5'"),  # -1.8e7 J
    ("energy_consumed", "nan", "'energy_consumed' is 'nan'"),
    ("gpu_energy", "inf", "'gpu_energy' is 'inf'"),
    ("duration", "-3", "'duration' is '-3'"),
    ("duration", "0", "'duration' is '0'"),
    ("emissions", "-1e9", "'emissions' is '-1e9'"),
])
def test_codecarbon_refuses_implausible_rows(tmp_path, column, value, phrase):
    cols = CC_HEADER.split(",")
    row = CC_ROW.split(",")
    row[cols.index(column)] = value
    p = tmp_path / "e.csv"
    p.write_text(f"{CC_HEADER}\n{CC_ROW}\n{','.join(row)}\n")
    with pytest.raises(UsageError, match="row 3"):
        read_codecarbon(p)
    one_line_error(cli("import-codecarbon", p), 2, f"{p}: row 3", phrase, "finite number")


def test_codecarbon_good_rows_in_joules(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text(f"{CC_HEADER}\n{CC_ROW}\n")
    (run,) = read_codecarbon(p)
    assert run.energy_j == pytest.approx(0.00031 * 3.6e6) and run.duration_s == 10.0 and run.gpu_energy_j == pytest.approx(720)


@pytest.mark.parametrize("batch,phrase", [(2.5, "batch 2.5 is not a whole number"), (True, "batch True is not a whole number"),
                                           ('"8"', "batch '8' is not a whole number")])
def test_zeus_refuses_a_fractional_or_boolean_batch(tmp_path, batch, phrase):
    p = tmp_path / "z.json"
    text = json.dumps({"model": "m", "batch": 1, "iterations": 4, "time": 2.0, "gpu_energy": {"0": 100.0}})
    p.write_text(text.replace('"batch": 1', f'"batch": {json.dumps(batch) if not isinstance(batch, str) else batch}'))
    with pytest.raises(UsageError, match=phrase):
        read_zeus(p)
    one_line_error(cli("calibrate", "--hardware", "h100-sxm", "--out", tmp_path / "o.toml", "--zeus", p), 2, "record 0", phrase)
    p.write_text(text.replace('"iterations": 4', '"iterations": 4.0'))  # a whole number written as a float is one
    assert read_zeus(p) == [("m", 1, 0.5, 25.0)]


def test_zeus_refuses_non_numbers(tmp_path):
    p = tmp_path / "z.json"
    for bad in ('"time": "2"', '"time": true'):
        p.write_text('{"model": "m", "batch": 1, "iterations": 1, ' + bad + ', "gpu_energy": {"0": 1}}')
        with pytest.raises(UsageError, match="time and gpu_energy's joules numbers"):
            read_zeus(p)


def test_measurement_store_refuses_implausible_records(tmp_path):
    from analyzer.measure.store import read

    p = tmp_path / "m.jsonl"
    for line, phrase in ((_measurement_line(avg_power_w=9e16), "avg_power_w"), (_measurement_line(batch=2.5), "batch"),
                         (_measurement_line(latency_s_median=0), "latency_s_median"),
                         (_measurement_line(energy_j_per_item=-1.0), "energy_j_per_item"),
                         (_measurement_line().replace("0.25", "NaN", 1), "NaN is not a number"),
                         ("[1, 2]", "not a measurement record"),
                         (_measurement_line(energy_j_per_item=0.0), "0 J measured: a stuck or clamped counter")):
        p.write_text(_measurement_line() + "\n" + line + "\n")
        with pytest.raises(UsageError, match=f"line 2: .*{phrase}"):
            read(p)
    # a partial last line (a killed writer) is skipped; the whole records before it are read
    p.write_text(_measurement_line() + "\n" + _measurement_line()[:40])
    (m,) = read(p)
    assert m.batch == 8 and m.avg_power_w == 500


def test_measure_inputs_npz_door(tmp_path):
    from types import SimpleNamespace

    from analyzer.errors import InputError
    from analyzer.measure.inputs import from_npz

    graph = SimpleNamespace(inputs=[SimpleNamespace(name="x", shape=[2, 3])])
    np.savez(tmp_path / "a.npz", x=np.ones((2, 3), np.float32))
    assert from_npz(tmp_path / "a.npz", graph)["x"].shape == (2, 3)
    np.save(tmp_path / "b.npy", np.ones(3))
    with pytest.raises(InputError, match=r"one array \(.npy\), not an .npz"):
        from_npz(tmp_path / "b.npy", graph)
    (tmp_path / "c.npz").write_text("x,y\n1,2\n")
    with pytest.raises(InputError, match="pickled data is never loaded"):
        from_npz(tmp_path / "c.npz", graph)
    os.mkfifo(tmp_path / "fifo.npz")
    r = cli("measure", _tiny(tmp_path), "--inputs", tmp_path / "fifo.npz", "--no-store", "--meter", "none", "--max-time", "0.1")
    assert r.exit_code == 2 and "is a FIFO, not a regular file" in r.stderr, r.output
    r = cli("measure", _tiny(tmp_path), "--inputs", "/dev/zero", "--no-store", "--meter", "none", "--max-time", "0.1")
    assert r.exit_code == 2 and "/dev/zero: is a device" in r.stderr, r.output


def test_toml_doors_refuse_a_5000_digit_integer(tmp_path):
    from analyzer.files import read_toml

    p = tmp_path / "hw.toml"
    p.write_text(f"name = 'x'\nvalue = {BIG_INT}\n")
    with pytest.raises(AnalyzerError, match="malformed TOML .an integer with more digits than this tool reads"):
        read_toml(p)
    (tmp_path / "hardware").mkdir()
    (tmp_path / "hardware" / "x.toml").write_text(p.read_text())
    r = cli("profiles", "list", "hardware", "--profiles", tmp_path)
    assert r.exit_code == 1 and "more digits than this tool reads" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_interchange_refuses_implausible_power_and_sizes_and_reads_a_bom(tmp_path):
    p = tmp_path / "e.csv"
    p.write_bytes(("\ufeff" + f"{CC_HEADER}\n{CC_ROW}\n").encode())  # Excel's UTF-8 byte order mark
    (run,) = read_codecarbon(p)
    assert run.timestamp == "2026-12-01T10:00:00" and run.energy_j == pytest.approx(1116.0)
    row = CC_ROW.split(",")
    row[CC_HEADER.split(",").index("energy_consumed")] = "1"  # 1 kWh in 10 s: 360 kW from one machine
    p.write_text(f"{CC_HEADER}\n{','.join(row)}\n")
    with pytest.raises(UsageError, match=r"row 2: 3.6e\+06 J in 10 s is 3.6e\+05 W, above 15,300 W"):
        read_codecarbon(p)
    z = tmp_path / "z.json"
    for rec, phrase in (({"batch": 2 ** 21}, "beyond this tool's limits"), ({"iterations": 10 ** 13}, "beyond this tool's limits"),
                        ({"gpu_energy": {"0": 1e9}}, r"GPU '0': 1e\+09 J in 2 s is 5e\+08 W")):
        z.write_text(json.dumps({"model": "m", "batch": 1, "iterations": 4, "time": 2.0, "gpu_energy": {"0": 100.0}, **rec}))
        with pytest.raises(UsageError, match=phrase):
            read_zeus(z)
