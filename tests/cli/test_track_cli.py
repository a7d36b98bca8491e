"""`nas-analyzer track -- COMMAND` and the tracker's safety (issue #37): the command's exit code, spans a child process
opens through $NAS_ANALYZER_TRACK_LOG, a command that cannot start, and a run killed with SIGKILL."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import analyzer

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "analyzer", *args], capture_output=True, text=True, env=ENV,
                          cwd=ROOT, timeout=timeout)


CHILD = """
import sys, time, analyzer
for i in range(2):
    with analyzer.child_span(f"trial{i}", arch=f"arch{i}", lr=0.01):
        with analyzer.child_span("eval", kind="eval"):
            t = time.time() + 0.2
            while time.time() < t:
                pass
    time.sleep(0.1)
sys.exit(3)
"""


def test_track_runs_the_command_keeps_its_exit_code_and_its_spans(tmp_path):
    log, csv = tmp_path / "run.jsonl", tmp_path / "emissions.csv"
    p = cli("track", "--name", "cli-run", "--meter", "estimate", "--no-store", "--log", str(log), "--pue", "1.2",
            "--grid-gco2e-per-kwh", "300", "--emissions-csv", str(csv), "--format", "json", "--", sys.executable, "-c", CHILD)
    assert p.returncode == 3, p.stderr
    d = json.loads(p.stdout)
    assert d["status"] == "complete" and d["exit_status"] == 3 and d["name"] == "cli-run"
    top = [s for s in d["spans"] if s["parent"] is None]
    assert [s["name"] for s in top] == ["trial0", "trial1"] and [s["identity"] for s in top] == ["arch0", "arch1"]
    evals = [s for s in d["spans"] if s["name"] == "eval"]
    assert [e["parent"] for e in evals] == [s["id"] for s in top]  # nested in the child process
    assert all(e["energy_j"] <= p["energy_j"] for e, p in zip(evals, top))
    assert {s["pid"] for s in d["spans"]} != {0}  # written by the child process
    spans_j = sum(s["energy_j"] for s in top) + sum(d["idle_j"].values())
    assert spans_j == pytest.approx(d["total_energy_j"], rel=1e-9)
    assert d["account"]["pue"] == 1.2 and csv.read_text().count("\n") == 2


def test_track_prints_its_table_on_stderr_and_leaves_stdout_to_the_command(tmp_path):
    p = cli("track", "--meter", "estimate", "--no-store", "--log", str(tmp_path / "t.jsonl"), "--grid-gco2e-per-kwh", "300",
            "--", sys.executable, "-c", CHILD.replace("sys.exit(3)", "print('the command speaks')"))
    assert p.returncode == 0 and p.stdout == "the command speaks\n"
    assert "trial0" in p.stderr and "(idle)" in p.stderr and "method: estimated, not measured" in p.stderr


def test_a_command_that_cannot_start_is_one_line_and_a_nonzero_exit(tmp_path):
    p = cli("track", "--no-store", "--log", str(tmp_path / "r.jsonl"), "--", "no-such-command-here", "x")
    assert p.returncode == 2 and p.stderr.strip().splitlines() == ["error: cannot start 'no-such-command-here': no such executable"]
    assert not (tmp_path / "r.jsonl").exists()
    p = cli("track", "--no-store")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1


KILLED = """
import sys, time, analyzer
with analyzer.track("killed-run", meter="estimate", hooks=analyzer.TrackHooks(interval_s=0.02), store=sys.argv[1], log=sys.argv[2],
                    site=analyzer.SiteRequest(pue=1.1, grid=200)) as run:
    with run.trial("forever", arch="a"):
        time.sleep(600)
"""


def test_kill_9_keeps_every_flushed_reading_and_marks_the_run_incomplete(tmp_path):
    store, log = tmp_path / "s.sqlite", tmp_path / "run.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(store), str(log)], env=ENV, cwd=ROOT)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and (not log.exists() or log.read_text().count('"k":"r"') < 15):
            time.sleep(0.05)
        seen = log.read_text().count('"k":"r"')
        assert seen >= 15
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    r = analyzer.load_run("killed-run", store=store)
    assert r.status == "incomplete" and r.readings >= seen and r.total_energy_j > 0
    assert r.spans[0]["status"] == "open" and r.spans[0]["energy_j"] == pytest.approx(r.total_energy_j, rel=0.2)
    with sqlite3.connect(store) as c:
        assert c.execute("PRAGMA quick_check").fetchone() == ("ok",)
        (payload,) = c.execute("SELECT payload FROM results WHERE kind='search-run'").fetchone()
    assert json.loads(payload)["status"] == "incomplete"  # marked on the read


def test_a_tracked_command_is_in_the_history_and_exports_as_a_search_run(tmp_path):
    store = tmp_path / "s.sqlite"
    p = cli("track", "--name", "exported", "--meter", "estimate", "--store", str(store), "--log", str(tmp_path / "e.jsonl"),
            "-q", "--", sys.executable, "-c", "pass")
    assert p.returncode == 0, p.stderr
    p = cli("export", "--kind", "search-run", "--store", str(store))
    (row,) = json.loads(p.stdout)
    assert row["kind"] == "search-run" and row["payload"]["name"] == "exported" and row["payload"]["status"] == "complete"
    p = cli("export", "--kind", "track", "--store", str(store))
    (run,) = json.loads(p.stdout)
    assert run["command"] == "track" and run["summary"]["run_id"] == row["payload"]["run_id"]


def test_sigterm_to_the_tracker_reaches_the_command_and_the_run_ends(tmp_path):
    log = tmp_path / "t.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "analyzer", "track", "--meter", "estimate", "--no-store", "--log", str(log),
                             "--format", "json", "--", sys.executable, "-c", "import time; time.sleep(60)"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    deadline = time.time() + 30
    while time.time() < deadline and (not log.exists() or log.read_text().count('"k":"r"') < 5):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM  # the command's death by the signal, as a shell reports it
    d = json.loads(out)
    assert d["status"] == "complete" and d["exit_status"] == 128 + signal.SIGTERM
