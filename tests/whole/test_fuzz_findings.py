"""What fuzzing the newer doors found (issue #35: tests/fuzz_doors_new.py, benchmarks/fuzz.py) in the file doors, meters,
imports and measurement stores (analyzer/files.py, analyzer/measure/) and the decoder config (analyzer/load/hf_config.py),
each as the smallest input that shows it. Found on a branch without those doors' hardening, all pass since it was
merged: they stay as regression tests. The findings in the API edge, the serving options and the CLI's option values are
tested in tests/whole/test_api_edge.py, tests/project/test_serving_limits.py and tests/whole/test_fuzz.py."""

import json
import math
from pathlib import Path

import pytest

from analyzer.errors import AnalyzerError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "interchange"
DECODERS = ROOT / "models" / "decoders"
CODECARBON = (DATA / "codecarbon-example-2.4.3rc1.csv").read_text()


def refused(fn):
    """fn() raises one of our errors in one line (the door's contract)."""
    with pytest.raises(AnalyzerError) as e:
        fn()
    assert "\n" not in str(e.value) and len(str(e.value)) < 1000




# ---- CodeCarbon CSV (analyzer/measure/interchange.py read_codecarbon) ---------------------------------------------

def _codecarbon_with(tmp_path, column: str, value: str) -> Path:
    import csv
    import io

    rows = list(csv.reader(io.StringIO(CODECARBON)))
    rows[1][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    path = tmp_path / "emissions.csv"
    path.write_text(out.getvalue())
    return path


def test_codecarbon_a_non_utf8_byte_is_refused(tmp_path):
    from analyzer.measure.interchange import read_codecarbon

    path = tmp_path / "emissions.csv"
    path.write_bytes(CODECARBON.encode() + b"\xff\n")  # was UnicodeDecodeError
    refused(lambda: read_codecarbon(path))


def test_codecarbon_a_cell_over_the_csv_field_limit_is_refused(tmp_path):
    from analyzer.measure.interchange import read_codecarbon

    refused(lambda: read_codecarbon(_codecarbon_with(tmp_path, "project_name", "x" * 200_000)))  # was _csv.Error


@pytest.mark.parametrize("column, value", [("energy_consumed", "-5"), ("ram_energy", "nan"), ("duration", "inf"),
                                           ("duration", "-3"), ("emissions", "-18000000")])
def test_codecarbon_a_negative_or_non_finite_cell_is_refused(tmp_path, column, value):
    from analyzer.measure.interchange import read_codecarbon

    refused(lambda: read_codecarbon(_codecarbon_with(tmp_path, column, value)))  # was read as a run


# ---- Zeus JSON (analyzer/measure/interchange.py read_zeus) --------------------------------------------------------

def _zeus_with(tmp_path, key: str, value) -> Path:
    doc = json.loads((DATA / "zeus-h100-fp32-eager.json").read_text())
    rec = doc[0] if isinstance(doc, list) else doc
    (rec.get("measurement", rec) if key in ("time",) else rec)[key] = value
    path = tmp_path / "zeus.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("batch", [2.5, True, "8"])
def test_zeus_a_batch_that_is_not_a_whole_number_is_refused(tmp_path, batch):
    from analyzer.measure.interchange import read_zeus

    refused(lambda: read_zeus(_zeus_with(tmp_path, "batch", batch)))  # was read as int(batch): 2, 1, 8


def test_zeus_an_infinite_batch_is_refused(tmp_path):
    from analyzer.measure.interchange import read_zeus

    path = tmp_path / "zeus.json"
    path.write_text(_zeus_with(tmp_path, "batch", 1).read_text().replace('"batch": 1', '"batch": 1e999'))
    refused(lambda: read_zeus(path))  # was OverflowError: cannot convert float infinity to integer


def test_zeus_an_infinite_time_is_refused(tmp_path):
    from analyzer.measure.interchange import read_zeus

    path = tmp_path / "zeus.json"
    path.write_text(_zeus_with(tmp_path, "time", 1.0).read_text().replace('"time": 1.0', '"time": 1e999'))
    refused(lambda: read_zeus(path))  # was a row of inf s per forward


# ---- replay recordings (analyzer/measure/meters.py ReplayMeter.from_csv) -------------------------------------------

def _recording(tmp_path, rows: list[str]) -> Path:
    path = tmp_path / "rec.csv"
    path.write_text("t_s,energy_j\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("rows", [["0,0", "1"], ["0,0", "0.5,nan", "1,50"], ["0,0", "0,10", "1,50"], ["0,0", "0.5,40", "1,20"],
                                  ["0,0", "inf,50"]], ids=["missing-cell", "nan", "equal-times", "counter-backwards", "inf-time"])
def test_a_recording_that_is_not_a_rising_counter_is_refused(tmp_path, rows):
    from analyzer.measure.meters import ReplayMeter

    refused(lambda: ReplayMeter.from_csv(_recording(tmp_path, rows)))  # a TypeError, or accepted and clamped to 0 J


# ---- measurement stores (analyzer/measure/store.py read) ----------------------------------------------------------

def _seed_measurement() -> dict:
    import fuzz_doors_new

    return fuzz_doors_new.measurement_seed()


def test_measurements_a_non_utf8_byte_is_refused_or_skipped(tmp_path):
    from analyzer.measure import store

    path = tmp_path / "m.jsonl"
    path.write_bytes(json.dumps(_seed_measurement()).encode() + b"\n\xff\n")
    try:
        records = store.read(path)  # was UnicodeDecodeError
    except AnalyzerError:
        return
    assert len(records) == 1


@pytest.mark.parametrize("key, value", [("energy_j_per_item", -1.0), ("batch", float("nan")), ("latency_s_median", float("nan")),
                                        ("batch", [[1]]), ("energy_source", 5.0)])
def test_measurements_a_wrong_figure_is_not_read_as_measured(tmp_path, key, value):
    from analyzer.measure import store

    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({**_seed_measurement(), key: value}) + "\n")
    try:
        records = store.read(path)
    except AnalyzerError:
        return
    assert records == []  # skipped (said) or refused, never a measurement of -1 J or NaN


def test_measurements_a_missing_field_or_deep_nesting_is_not_a_traceback(tmp_path):
    from analyzer.measure import store

    seed = _seed_measurement()
    del seed["latency_s_ci95"]
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(seed) + "\n")
    try:
        store.read(path)  # was KeyError
    except AnalyzerError:
        pass


@pytest.mark.parametrize("key", ["threads", "idle_power_w", "avg_power_w", "dynamic_energy_j_per_item", "energy_j_per_item",
                                 "latency_s_median", "sha256"])
def test_measurements_a_record_without_a_field_is_read_or_refused_by_name(tmp_path, key):
    """Found on merged main (benchmarks/fuzz.py --new-doors, seed 11): a record without one of the fields a measurement
    may leave empty (threads, the powers, the energies) was a TypeError from the record's constructor, and one without
    its energy a KeyError. An optional field missing reads as not measured; a required one is refused naming it."""
    from analyzer.errors import UsageError
    from analyzer.measure import store
    from analyzer.measure.record import RECORD
    from analyzer.checks import Opt

    seed = _seed_measurement()
    del seed[key]
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(seed) + "\n")
    if isinstance(RECORD.fields[key], Opt):
        (m,) = store.read(path)
        assert getattr(m, key) is None
    else:
        with pytest.raises(UsageError, match=f"line 1: not a measurement record: {key} missing"):
            store.read(path)


# ---- decoder configs (analyzer/load/hf_config.py) -----------------------------------------------------------------

def test_config_a_5000_digit_integer_is_refused(tmp_path):
    from analyzer.load.hf_config import read_config

    text = (DECODERS / "gpt2.json").read_text()
    cfg = json.loads(text)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**cfg, "n_layer": 0}).replace('"n_layer": 0', '"n_layer": 1' + "0" * 5000))
    refused(lambda: read_config(path))  # was ValueError (Python's int-string limit)


@pytest.mark.parametrize("base, key, value", [("qwen3-8b", "num_key_value_heads", 0),  # ZeroDivisionError
                                              ("qwen3-30b-a3b", "first_k_dense_replace", [1, 2]),  # TypeError
                                              ("qwen3-30b-a3b", "first_k_dense_replace", "x")])
def test_config_a_wrong_structural_field_is_refused(tmp_path, base, key, value):
    from analyzer.load.hf_config import read_config

    cfg = json.loads((DECODERS / f"{base}.json").read_text())
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**cfg, key: value}))
    spec = None
    try:
        spec = read_config(path)  # was ZeroDivisionError / TypeError
    except AnalyzerError:
        return
    assert spec.window_layers <= spec.num_layers and math.isfinite(spec.num_layers)


def test_a_short_campaign_over_the_newer_doors_finds_nothing(tmp_path):
    """tests/fuzz_doors_new.py's doors, 12 inputs each, seeded: what benchmarks/fuzz.py runs for hours, in seconds."""
    import time

    import fuzz_doors_new

    c = fuzz_doors_new.campaign(dict.fromkeys(fuzz_doors_new.DOORS, 12), 20261207, tmp_path, deadline=time.monotonic() + 60)
    assert not c.findings, "\n\n".join(f"{f.kind}: {f.detail}" for f in c.findings[:3])


def test_config_zero_layers_is_refused(tmp_path):
    from analyzer.load.hf_config import read_config

    path = tmp_path / "config.json"
    path.write_text(json.dumps({**json.loads((DECODERS / "llama-3.1-70b.json").read_text()), "num_hidden_layers": 0}))
    refused(lambda: read_config(path))  # was a decoder of 0 layers, priced


def test_config_error_echoes_a_long_value_cut(tmp_path):
    from analyzer.load.hf_config import read_config

    path = tmp_path / "config.json"
    path.write_text(json.dumps({**json.loads((DECODERS / "gpt2.json").read_text()), "n_layer": "x" * 2000}))
    with pytest.raises(AnalyzerError) as e:
        read_config(path)
    assert len(str(e.value)) < 400  # was 2,104 characters (the CLI cuts it: errors.shorten; the library should too)


@pytest.mark.slow
def test_config_two_billion_moe_layers_is_refused_at_once(tmp_path):
    """num_hidden_layers 2^31 on an MoE config: its layers were counted one by one before the layer limit (121 s of CPU
    in the fuzz run); a subprocess with a 10 s limit, so the suite never waits on it."""
    import subprocess
    import sys

    path = tmp_path / "config.json"
    path.write_text(json.dumps({**json.loads((DECODERS / "qwen3-30b-a3b.json").read_text()), "num_hidden_layers": 2 ** 31}))
    code = f"from analyzer.load.hf_config import read_config\ntry:\n    read_config({str(path)!r})\nexcept Exception:\n    pass\n"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=10, check=True)


def test_import_codecarbon_shows_a_field_s_escape_sequence_escaped(tmp_path):
    from cli_helpers import cli

    r = cli("import-codecarbon", _codecarbon_with(tmp_path, "project_name", "\x1b]0;pwned\x07"))
    assert r.exit_code in (0, 2) and "\x1b" not in r.output and "\x07" not in r.output
