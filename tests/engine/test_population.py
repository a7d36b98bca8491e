"""Search populations (issue #17): the synthetic space, population sources, the pure task on a process pool,
store-backed resume after a killed driver, and the Pareto front."""

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from analyzer.errors import AnalyzerError, UsageError
from analyzer.load import space
from analyzer.load.sources import read
from analyzer.target import TargetRequest, resolve_target as resolve_placement
from analyzer.engine import LocalExecutor
from analyzer.engine.population import pareto_front, run_population
from analyzer.count.profile import ReadOptions, profile_onnx
from analyzer.profiles import load_profiles
from analyzer.engine.store import Store
from cli_helpers import cli
from onnx_builders import init, model, vi


@pytest.fixture(scope="module")
def placement():
    return resolve_placement(load_profiles(), TargetRequest("h100", dtype="fp16", runtime="graph", batch=1, pue=1.1, grid=100.0))


def _expected_macs(arch: space.Arch) -> int:
    """MobileNetV2-style inverted residuals, counted by hand: k x k x C_in/group x C_out x H_out x W_out each."""
    res = space.RESOLUTION // 2
    c = space._channels(space.STEM, arch.width)
    macs = 3 * 3 * 3 * c * res * res
    for s, (base, stride, _) in enumerate(space.STAGES):
        c_out = space._channels(base, arch.width)
        for j in range(arch.depths[s]):
            hidden = c * arch.expansions[s][j]
            if hidden != c:
                macs += c * hidden * res * res
            if j == 0 and stride == 2:
                res = (res + 1) // 2
            k = arch.kernels[s][j]
            macs += k * k * hidden * res * res
            macs += hidden * c_out * res * res
            c = c_out
    head = max(space.HEAD, space._channels(space.HEAD, arch.width))
    return macs + c * head * res * res + head * space.CLASSES


def test_space_candidates_are_deterministic_and_costed_as_counted_by_hand(tmp_path):
    for i in range(6):
        name, data, arch = space.candidate(7, i)
        assert space.candidate(7, i)[1] == data  # the same bytes on every machine
        assert len(data) < 100_000  # a skeleton: dims and seeds, no weights
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(data)
        onnx.shape_inference.infer_shapes(onnx.load(str(path), load_external_data=False), strict_mode=True)
        p = profile_onnx(path, batch=1)
        assert p.macs == _expected_macs(arch), (i, arch)
        # built here, trusted: its batch is not cross-checked against batch 1, so it must scale by itself
        assert profile_onnx(path, batch=64, reading=ReadOptions(trusted=True)).macs == 64 * _expected_macs(arch), (i, arch)
        assert 100e6 < p.macs < 1.2e9 and 1.5e6 < p.params < 12e6  # MobileNetV2-space sizes (300 MMACs, 3.4 M)
        assert p.coverage == 1.0 and p.weight_sparsity == 0.0
    assert space.sample(7, 0) != space.sample(8, 0)


def test_channels_round_as_mobilenet_does():
    assert [space._channels(c, 1.0) for c in (16, 24, 32, 96, 320)] == [16, 24, 32, 96, 320]
    assert space._channels(24, 0.75) == 24 and space._channels(32, 0.75) == 24 and space._channels(16, 1.25) == 24


def _write_generator(tmp_path: Path, body: str) -> Path:
    f = tmp_path / "gen.py"
    f.write_text("import numpy as np\nimport onnx\nfrom onnx import helper, numpy_helper, TensorProto\n" + body)
    return f


GEN = """
def _mlp(width):
    w = numpy_helper.from_array(np.ones((64, width), np.float32), 'w')
    g = helper.make_graph([helper.make_node('MatMul', ['x', 'w'], ['y'])], 'g',
                          [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 64])],
                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, width])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)]); m.ir_version = 8
    return m

def space():
    yield 'a', _mlp(8), 71.5
    yield 'b', _mlp(16).SerializeToString()
    yield {'name': 'c', 'model': _mlp(32), 'accuracy': 74.0}
"""


def test_a_generator_feeds_models_and_accuracy(tmp_path, placement):
    gen = _write_generator(tmp_path, GEN)
    tasks = list(read(f"{gen}:space"))
    assert [t.name for t in tasks] == ["a", "b", "c"] and [t.accuracy for t in tasks] == [71.5, None, 74.0]
    run = run_population(read(f"{gen}:space"), placement, LocalExecutor(1))
    macs = {r["name"]: r["macs"] for r in run.records}
    assert macs == {"a": 64 * 8, "b": 64 * 16, "c": 64 * 32} and not run.errors


@pytest.mark.parametrize("body, says", [
    ("def space():\n    yield 'a', b'not onnx'\n", None),
    ("def space():\n    yield 'a', 1\n", "expected an onnx.ModelProto"),
    ("def space():\n    yield ('a',)\n", "yield (name, model)"),
    ("def space():\n    yield 'a', b'', 101\n", "must be a number in 0..100"),
    ("def space():\n    yield 'a', b''\n    yield 'a', b''\n", "used twice"),
    ("def space():\n    raise RuntimeError('boom')\n    yield 1\n", "the generator failed after 0 candidates (RuntimeError: boom)"),
    ("x = 1\n", "defines no top-level generator 'space'"),
    ("def space(:\n", "not Python"),
    ("raise ValueError('bad file')\nspace = []\n", "running it failed (ValueError: bad file)"),
])
def test_generator_errors_are_one_line(tmp_path, placement, body, says):
    gen = _write_generator(tmp_path, body)
    if says is None:  # a candidate that is not a model fails alone, named
        run = run_population(read(f"{gen}:space"), placement, LocalExecutor(1))
        assert not run.records and run.errors[0]["name"] == "a" and "not a valid ONNX file" in run.errors[0]["error"]
        return
    with pytest.raises(AnalyzerError, match=says.replace("(", r"\(").replace(")", r"\)")):
        run_population(read(f"{gen}:space"), placement, LocalExecutor(1))


def test_a_generator_file_without_the_name_is_not_run(tmp_path):
    """FILE.py:NAME runs FILE.py's top-level code; a NAME it does not define is refused before a line of it runs."""
    marker = tmp_path / "ran"
    gen = _write_generator(tmp_path, f"open({str(marker)!r}, 'w').write('x')\ndef other():\n    yield 1\n")
    r = cli("population", f"{gen}:space", "--hardware", "t4", "--no-store")
    assert r.exit_code == 2 and "defines no top-level generator 'space'" in r.stderr and "it was not run" in r.stderr
    assert "other" in r.stderr.split("it defines")[1] and not marker.exists()
    r = cli("population", f"{gen}:other", "--hardware", "t4", "--no-store")
    assert marker.exists()  # named as it is defined: run, as documented


def test_bad_sources_are_usage_errors(tmp_path):
    for spec in ("space:0", "space:99999999999", str(tmp_path / "missing"), f"{tmp_path / 'missing.py'}:space"):
        with pytest.raises(UsageError):
            list(read(spec))


def test_pool_of_two_equals_one_process_and_the_store_answers_a_repeat(tmp_path, placement):
    one = run_population(read("space:40:3"), placement, LocalExecutor(1))
    db = Store.open(tmp_path / "s.sqlite")
    two = run_population(read("space:40:3"), placement, LocalExecutor(2), db, "v1")
    key = lambda r: r["name"]  # noqa: E731
    strip = lambda rs: [{k: v for k, v in r.items() if k != "host"} for r in sorted(rs, key=key)]  # noqa: E731
    assert strip(one.records) == strip(two.records) and two.evaluated == 40 and two.from_store == 0
    again = run_population(read("space:40:3"), placement, LocalExecutor(2), db, "v1")
    assert again.evaluated == 0 and again.from_store == 40
    assert json.loads(json.dumps(strip(again.records))) == json.loads(json.dumps(strip(two.records)))
    other = resolve_placement(load_profiles(), TargetRequest("h100", dtype="fp32", runtime="graph", pue=1.1, grid=100.0))
    assert run_population(read("space:5:3"), other, LocalExecutor(1), db, "v1").evaluated == 5  # other settings: new rows


def test_stored_rows_read_without_their_detail_are_the_evaluations_less_detail(tmp_path, placement):
    """A population reads stored rows up to their detail (written last): every other field is the evaluation read
    whole, which is the evaluation as made (json round trip); a row of another shape is read whole."""
    from dataclasses import replace

    from analyzer.engine.run import iter_evaluate

    db = Store.open(tmp_path / "s.sqlite")
    made = {r.task.name: r.evaluation for r in iter_evaluate(read("space:6:4"), placement, store=db, profiles_ver="v1")}
    whole = {r.task.name: r for r in iter_evaluate(read("space:6:4"), placement, store=db, profiles_ver="v1")}
    lean = {r.task.name: r for r in iter_evaluate(read("space:6:4"), placement, store=db, profiles_ver="v1", detail=False)}
    assert all(r.from_store for r in [*whole.values(), *lean.values()]) and len(lean) == 6
    for name, e in made.items():
        assert e.detail and lean[name].evaluation.detail == {}
        assert json.loads(json.dumps(whole[name].evaluation.to_dict())) == json.loads(json.dumps(e.to_dict()))
        assert replace(whole[name].evaluation, detail={}) == lean[name].evaluation
    text = db.conn.execute("SELECT payload FROM results LIMIT 1").fetchone()[0]
    full = json.loads(text)
    assert list(full)[-1] == "detail"
    assert db._json(text, "detail") == {k: v for k, v in full.items() if k != "detail"}
    moved = json.dumps({"detail": full["detail"], **{k: v for k, v in full.items() if k != "detail"}})
    assert db._json(moved, "detail") == {k: v for k, v in full.items() if k != "detail"}  # first: read whole
    nested = json.dumps({"a": {"b": 1, "detail": 2}, "detail": 3})  # a nested member of that name is not the cut
    assert db._json(nested, "detail") == {"a": {"b": 1, "detail": 2}}


def test_a_killed_driver_resumes_with_every_candidate_stored_once(tmp_path):
    """kill -9 the CLI mid-run, run it again: it evaluates only what is missing, and the store holds each
    candidate exactly once."""
    store = tmp_path / "s.sqlite"
    n = 1600  # seconds of work on two workers: 160 candidates could finish between two polls once the driver starts fast
    args = [sys.executable, "-m", "analyzer", "population", f"space:{n}:5", "--hardware", "h100", "--store", str(store),
            "--workers", "2", "--format", "json", "--quiet"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if store.exists():
            try:
                with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as c:
                    done = c.execute("SELECT count(*) FROM results WHERE kind='evaluation'").fetchone()[0]
            except sqlite3.DatabaseError:
                continue
            if done >= 32:
                break
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers
    proc.wait()
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["candidates"] == n and out["from_store"] >= 32 and out["evaluated"] == n - out["from_store"]
    with sqlite3.connect(store) as c:
        rows = c.execute("SELECT model, count(*) FROM results WHERE kind='evaluation' GROUP BY key").fetchall()
    assert len(rows) == n and all(k == 1 for _, k in rows) and len({m for m, _ in rows}) == n


_GENERATOR = """
from onnx import TensorProto, helper


def space():
    for i in range(1_000_000):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, i + 1])
        g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [helper.make_tensor_value_info("y", 1, None)])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        yield f"relu{i}", m
"""


def _alive_in_session(sid: int) -> list[tuple[int, str]]:
    """(pid, command) of every live (not zombie) process in session `sid`, from /proc."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:100]
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append((int(d.name), cmd))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_no_process_outlives_a_killed_driver(tmp_path):
    """SIGKILL the driver alone (not its group) mid-run, while its pool workers profile generated candidates in
    their limited shape-inference workers: every process it started (forkserver, resource tracker, workers and
    theirs) is gone within 5 s."""
    (tmp_path / "gen.py").write_text(_GENERATOR)
    args = [sys.executable, "-m", "analyzer", "population", f"{tmp_path / 'gen.py'}:space", "--hardware", "t4", "--no-store",
            "--workers", "2", "--quiet", "--format", "json"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        started: list = []
        # the driver, the resource tracker, the forkserver, 2 workers and at least one worker's shape-inference worker
        while time.monotonic() < deadline and len(started) < 6 and proc.poll() is None:
            time.sleep(0.1)
            started = _alive_in_session(proc.pid)
        assert len(started) >= 6, started
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = time.monotonic()
        left = _alive_in_session(proc.pid)
        while left and time.monotonic() - killed < 5:
            time.sleep(0.05)
            left = _alive_in_session(proc.pid)
        assert not left, f"alive {time.monotonic() - killed:.1f} s after the driver was killed: {left}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # only what this test started: its own session's group
        except ProcessLookupError:
            pass


def _dominated(p, q):
    return all(a <= b for a, b in zip(q, p)) and any(a < b for a, b in zip(q, p))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8), st.integers(0, 8)), min_size=1, max_size=40))
def test_pareto_front_is_the_brute_force_front(points):
    recs = [{"co2e_g_per_item": a, "latency_s": b, "accuracy": c} for a, b, c in points]
    axes = ("co2e_g_per_item", "latency_s", "accuracy")
    got = set(pareto_front(recs, axes))
    pts = [(a, b, -c) for a, b, c in points]
    want = {i for i, p in enumerate(pts) if not any(_dominated(p, q) for q in pts)}
    assert got == want


def test_population_command(tmp_path):
    out = tmp_path / "all.csv"
    r = cli("population", "space:12", "--hardware", "h100", "--no-store", "--workers", "1", "--top", "3", "--out", out,
            "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["candidates"] == 12 and d["evaluated"] == 12 and len(d["top"]) == 3 and d["front"]
    assert d["top"][0]["co2e_g_per_item"] == min(x["co2e_g_per_item"] for x in d["front"])
    assert len(out.read_text().splitlines()) == 13
    import csv

    rows = list(csv.DictReader(out.open()))  # MACs named per item and per batch (the table shows per item)
    assert all(float(r["macs_per_batch"]) == float(r["macs_per_item"]) * int(r["batch"]) for r in rows) and "macs" not in rows[0]
    models = Path(__file__).resolve().parents[2] / "models"
    r = cli("population", models, "--hardware", "h100", "--no-store", "--workers", "1", "--format", "json")
    d = json.loads(r.stdout)
    assert r.exit_code == 0 and d["front_axes"] == ["co2e_g_per_item", "latency_s", "accuracy"]
    bad = cli("population", "space:12", "--hardware", "h100", "--no-store", "--out", tmp_path / "x.txt")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1


TORCH_GEN = """
import torch

class Net(torch.nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, width, 3, padding=1)
        self.fc = torch.nn.Linear(width, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))

def space():
    for width in (8, 16):
        yield {"name": f"net{width}", "model": Net(width).eval(), "example_inputs": torch.zeros(1, 3, 16, 16),
               "accuracy": 50.0 + width}
"""


@pytest.mark.torch
def test_a_generator_of_torch_modules(tmp_path, placement):
    from conftest import require_torch

    require_torch()
    gen = tmp_path / "torch_space.py"
    gen.write_text(TORCH_GEN)
    run = run_population(read(f"{gen}:space"), placement, LocalExecutor(1))
    assert not run.errors
    got = {r["name"]: (r["macs"], r["accuracy"]) for r in run.records}
    # conv: 16 x 16 x width x 3 x 3 x 3 MACs, linear: width x 10
    assert got == {f"net{w}": (16 * 16 * w * 27 + w * 10, 50.0 + w) for w in (8, 16)}


def test_two_candidates_with_the_same_model_keep_their_own_accuracy(tmp_path, placement):
    """Identical bytes under two names (a folder with a copy): one store row serves both, each keeps its
    manifest's accuracy and role."""
    m = model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [1, 8])], [vi("y", None)])
    for name in ("a", "b"):
        onnx.save(m, str(tmp_path / f"{name}.onnx"))
    (tmp_path / "manifest.toml").write_text(
        '[[model]]\nname = "a"\nfile = "a.onnx"\nrole = "baseline"\ntop1_accuracy_pct = 60.0\n\n'
        '[[model]]\nname = "b"\nfile = "b.onnx"\nrole = "NAS-found"\ntop1_accuracy_pct = 70.0\n')
    db = Store.open(tmp_path / "s.sqlite")
    run = run_population(read(str(tmp_path)), placement, LocalExecutor(1), db, "v")
    got = {r["name"]: (r["accuracy"], r["role"]) for r in run.records}
    assert got == {"a": (60.0, "baseline"), "b": (70.0, "NAS-found")}
    again = run_population(read(str(tmp_path)), placement, LocalExecutor(1), db, "v")
    assert again.from_store == 2 and {r["name"]: (r["accuracy"], r["role"]) for r in again.records} == got


def test_the_drivers_limits_reach_the_workers(placement, monkeypatch):
    """--timeout and --memory-limit are set in the driver; each chunk applies them where it runs (a worker
    process does not inherit the driver's context)."""
    from analyzer.engine import executors
    from analyzer.load import guard
    from analyzer.records import Evaluation

    seen = []

    def spy(task, target, cache=None):
        seen.append(guard.current())
        return Evaluation(task.name, task.name, task.identity, error=f"{task.name}: skipped", exit_code=1)

    monkeypatch.setattr(executors, "evaluate_one", spy)
    executors.evaluate_chunk(list(read("space:2")), placement, guard.Limits(7.0, 512.0))  # as a worker runs it
    assert seen == [guard.Limits(7.0, 512.0)] * 2 and guard.current() == guard.Limits()
    with guard.limits(timeout_s=3.0, memory_mb=256.0):  # the driver's limits travel with every chunk
        run_population(read("space:3"), placement, LocalExecutor(1), chunk=2)
    assert seen[2:] == [guard.Limits(3.0, 256.0)] * 3
    monkeypatch.undo()
    r = cli("population", "space:4", "--hardware", "h100", "--no-store", "--workers", "2", "--timeout", "5",
            "--memory-limit", "512", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["evaluated"] == 4, r.output
