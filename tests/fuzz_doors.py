"""A seeded fuzzer for the doors other than model files (issue #27): results stores, manifests, saved analyses,
search plans and profile TOML. Used by tests/whole/test_fuzz.py (short campaigns and the corpus) and benchmarks/fuzz.py.

Each door has seeds (files the tool wrote or ships), byte-level mutations (tests/fuzzing.py's) and structure-aware
ones (a value anywhere in the parsed file made negative, huge, NaN, a boolean, text, deeply nested, a control
sequence, a path out of the folder; or removed), and an oracle: the door refuses the input with one of our errors
in one line, or accepts it and what the tool then does with it (the engine's reads and writes of a store, a
manifest's sources, the HTML report, amortize over a plan, a projection on a fuzzed chip) works, stays finite and
non-negative, and warns nothing raw. Anything else is a finding, as is a byte written to a refused store and an
input that took more than fuzzing.SLOW_S of CPU time or HANG_S of wall time: a door runs in this process, so its
CPU time is what the tool spent, whatever else the machine runs (on a loaded 2-core machine a report's 0.7 s of
CPU took up to 7 s of wall time); the wall clock catches what waits without computing (a read that blocks).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import sqlite3
import time
import traceback
import warnings
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import fuzzing
import tomlkit

ROOT = Path(__file__).resolve().parent.parent
DOORS = ("store", "manifest", "analysis", "plan", "profile")
HANG_S = 30.0  # wall time: an input that waits this long is stuck, however loaded the machine
HOSTILE = [-1, -1e308, 0, 1e308, 1e40, 10 ** 30, -(10 ** 30), float("nan"), float("inf"), True, False, None, "", "0",
           "x" * 2000, "=1+2", "\x1b[2J\n", "../../etc/passwd", "/dev/zero", [], {}, [1, "a", None], {"a": {"b": [1]}}]


@dataclass
class DoorCampaign:
    inputs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DOORS, 0))
    accepted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DOORS, 0))
    refused: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DOORS, 0))
    findings: list[fuzzing.Finding] = field(default_factory=list)
    slowest_s: float = 0.0  # CPU time
    slowest_wall_s: float = 0.0


# ---- mutations of parsed files ---------------------------------------------------------------------------------


def _paths(x: Any, at: tuple = ()) -> list[tuple]:
    out = [at]
    if isinstance(x, dict):
        for k, v in x.items():
            out += _paths(v, at + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x[:20]):
            out += _paths(v, at + (i,))
    return out


def mutate_value(doc: Any, rng: random.Random, allow_none: bool = True) -> Any:
    """A copy of a parsed JSON/TOML document with 1-3 values replaced by hostile ones (or their keys removed)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(rng.randint(1, 3)):
        at = rng.choice(_paths(doc)[1:] or [()])
        if not at:
            continue
        parent = doc
        for k in at[:-1]:
            parent = parent[k]
        choice = rng.random()
        if choice < 0.15 and isinstance(parent, dict):
            del parent[at[-1]]
            continue
        if choice < 0.25:
            new = functools.reduce(lambda v, _: [v], range(rng.choice([50, 65, 900, 3000])), 1)  # nested lists
        elif choice < 0.45 and isinstance(parent[at[-1]], (int, float)) and not isinstance(parent[at[-1]], bool):
            old = parent[at[-1]]
            new = rng.choice([-old, old * 1e30, old / 1e30, old + 0.5, -abs(old) - 1, int(old) if math.isfinite(old) else 0])
        else:
            new = rng.choice(HOSTILE)
        if new is None and not allow_none:
            continue
        parent[at[-1]] = new
    return doc


# ---- seeds -----------------------------------------------------------------------------------------------------


@dataclass
class Seeds:
    workdir: Path
    store: bytes = b""
    store_keys: list[str] = field(default_factory=list)
    manifest: str = ""
    analysis: dict = field(default_factory=dict)
    plan: dict = field(default_factory=dict)
    profiles: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)


def tiny_models(folder: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    for name, c in (("big", 16), ("small", 4)):
        w = numpy_helper.from_array(np.ones((c, 4, 3, 3), np.float32), "w")
        g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        onnx.save(m, str(folder / f"{name}.onnx"))


def seeds(workdir: Path) -> Seeds:
    """Real files, written by the tool here (a store, an analysis, a plan) or shipped with it (profiles)."""
    from typer.testing import CliRunner

    from analyzer.cli import app

    s = Seeds(workdir)
    models = workdir / "seed-models"
    tiny_models(models)
    manifest = ('[[model]]\nname = "big"\nfile = "big.onnx"\nrole = "baseline"\ntop1_accuracy_pct = 70.0\n'
                'architecture = "test"\naccuracy_source = "test"\n\n'
                '[[model]]\nname = "small"\nfile = "small.onnx"\nrole = "NAS-found"\ntop1_accuracy_pct = 70.0\nparams_published = 144\n')
    (models / "manifest.toml").write_text(manifest)
    s.manifest = manifest
    run = CliRunner()
    store = workdir / "seed.sqlite"
    r = run.invoke(app, ["analyze", str(models), "--store", str(store), "--samples", "200", "--out", str(workdir / "seed-out"), "--quiet"])
    assert r.exit_code == 0, r.output
    r = run.invoke(app, ["population", "space:2", "--hardware", "t4", "--store", str(store), "--workers", "1", "--quiet"])
    assert r.exit_code == 0, r.output
    with sqlite3.connect(store) as c:
        s.store_keys = [k for (k,) in c.execute("SELECT key FROM results")]
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every row in the file itself: the seed is its bytes
    s.store = store.read_bytes()
    s.analysis = json.loads((workdir / "seed-out" / "analysis.json").read_text())
    r = run.invoke(app, ["plan-search", "space:3", "--hardware", "t4", "--dataset-samples", "1000", "--epochs", "1",
                         "--sample", "2", "--out", str(workdir / "seed-plan.json")])
    assert r.exit_code == 0, r.output
    s.plan = json.loads((workdir / "seed-plan.json").read_text())
    for kind, name in (("hardware", "t4"), ("hardware", "h100-sxm-calibrated"), ("datacenter", "google-fleet"),
                       ("region", "us-central1"), ("nas", "mnasnet")):
        f = next((ROOT / "profiles" / kind).rglob(f"{name}.toml"))
        s.profiles.append((kind, f.read_text()))
    return s


# ---- oracles ---------------------------------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bad_numbers(x: Any, at: str = "") -> str | None:
    """The first non-finite number in a record (dataclasses, dicts, lists), as 'path = value'."""
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return None if math.isfinite(x) else f"{at} = {x!r}"
    if is_dataclass(x):
        x = {f.name: getattr(x, f.name) for f in fields(x)}
    if isinstance(x, dict):
        return next((b for k, v in x.items() if (b := _bad_numbers(v, f"{at}.{k}"))), None)
    if isinstance(x, (list, tuple)):
        return next((b for i, v in enumerate(x) if (b := _bad_numbers(v, f"{at}[{i}]"))), None)
    return None


def _keys(path: Path) -> list[str]:
    """The keys a store file lists, read without a lock or a byte written (immutable); [] when it cannot be read."""
    try:
        with sqlite3.connect(f"file:{quote(str(path))}?immutable=1", uri=True) as c:
            return [k for (k,) in c.execute("SELECT key FROM results LIMIT 1000") if isinstance(k, str)]
    except (sqlite3.Error, UnicodeDecodeError, OverflowError):
        return []


def door_store(data: bytes, s: Seeds) -> bool:
    """A store the engine opens, reads (every key it lists, the seed's too), exports, lists and writes. A store
    refused at the door, or found damaged by a read, is never written: its bytes stay as they were (checked when
    the input is in WAL mode, as the engine leaves a store: opening a healthy store in another mode switches it)."""
    from analyzer.engine.run import stored_evaluation
    from analyzer.engine.store import Store, StoreError
    from analyzer.report.export import rows_to_csv

    path = s.workdir / "door.sqlite"
    for side in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + side).unlink(missing_ok=True)
    path.write_bytes(data)
    keys = s.store_keys + _keys(path)
    try:
        db = Store.open(path)
    except StoreError as e:
        _one_line(str(e))
        if _sha(path.read_bytes()) != _sha(data):
            raise AssertionError("a store that was refused was written to") from None
        return False
    try:
        for payload in db.get_many("evaluation", {k: k for k in keys}).values():
            e = stored_evaluation(db, payload)
            if e.co2e_g_per_item < 0 or e.energy_j_per_item < 0:
                raise AssertionError(f"a stored evaluation with a negative figure was accepted: {e.co2e_g_per_item}")
        rows_to_csv(list(db.results()))
        db.runs(50)
    except StoreError as e:
        _one_line(str(e))
    damaged = db.broken is not None
    try:
        db.put_many([("evaluation", "fuzz", "m", "sha", {"batch": 1}, "pv", {"latency_s": 1.0})])
        db.log_run("fuzz", {}, {})
    except StoreError as e:
        _one_line(str(e))
    finally:
        db.close()
    if damaged and data[18:20] == b"\x02\x02" and _sha(path.read_bytes()) != _sha(data):
        raise AssertionError("a store found damaged was written to")
    return not damaged


def door_manifest(data: bytes, s: Seeds) -> bool:
    import os

    from analyzer.errors import AnalyzerError
    from analyzer.load.manifest import expand_model_args, read_manifest
    from analyzer.load.sources import read

    folder = s.workdir / "seed-models"
    path = folder / "manifest.toml"
    path.write_bytes(data)
    try:
        entries = read_manifest(path)
    except AnalyzerError as e:
        _one_line(str(e))
        return False
    for e in entries:
        acc = e.top1_accuracy_pct
        if acc is not None and (isinstance(acc, bool) or not 0 <= acc <= 100):
            raise AssertionError(f"accuracy {acc!r} accepted")
        rel = os.path.normpath(os.path.relpath(e.file, folder))
        if rel.split(os.sep)[0] == os.pardir or Path(rel).is_absolute():
            raise AssertionError(f"file {e.file} outside the manifest's folder accepted")
    try:
        expand_model_args([folder])
        list(read(str(folder)))
    except AnalyzerError as e:
        _one_line(str(e))
        return False
    return True


def _cli(args: list[str], names: str) -> Any:
    """The command's result: success, or exit 2 (a file the user gave is wrong) with one error line naming it."""
    from typer.testing import CliRunner

    from analyzer.cli import app

    r = CliRunner().invoke(app, args)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    if r.exit_code not in (0, 2) or "Traceback" in r.output:
        raise AssertionError(f"exit {r.exit_code}: {r.output[-400:]}")
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    if r.exit_code and (not lines or not lines[-1].startswith("error:") or names not in lines[-1]
                        or any(not ln.startswith(("error:", "warning:", "note")) for ln in lines)):
        raise AssertionError(f"exit {r.exit_code} without one error line naming {names}: {r.stderr[-400:]}")
    return r


def door_analysis(data: bytes, s: Seeds) -> bool:
    path, out = s.workdir / "door-analysis.json", s.workdir / "door-report.html"
    path.write_bytes(data)
    out.unlink(missing_ok=True)
    r = _cli(["report", str(path), "--html", str(out)], str(path))
    if r.exit_code == 0 and not out.read_text().startswith("<!doctype html>"):
        raise AssertionError("report succeeded without a report")
    return r.exit_code == 0


def door_plan(data: bytes, s: Seeds) -> bool:
    path = s.workdir / "door-plan.json"
    path.write_bytes(data)
    r = _cli(["amortize", "--search-plan", str(path), "--baseline-co2e-g", "1", "--nas-co2e-g", "0.5", "--inferences-per-day",
              "1e6..1e8:log", "--samples", "200", "--format", "json"], f"--search-plan {path}")
    if r.exit_code == 0:
        out = json.loads(r.stdout, parse_constant=lambda c: (_ for _ in ()).throw(AssertionError(f"JSON holds {c}")))
        if not out["spent_kg"] >= 0:
            raise AssertionError(f"spent_kg {out['spent_kg']}")
    return r.exit_code == 0


def door_profile(data: bytes, s: Seeds, kind: str) -> bool:
    from analyzer.errors import AnalyzerError
    from analyzer.profiles import load_profiles
    from analyzer.profiles.loader import ProfileSet, read_profile

    file = s.workdir / "door-profiles" / kind / "fuzzed.toml"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(data)
    try:
        prof = read_profile(file, kind)
    except AnalyzerError as e:
        _one_line(str(e))
        return False
    bad = _bad_numbers(prof)
    if bad:
        raise AssertionError(f"profile accepted with {bad}")
    shipped = load_profiles()
    ps = ProfileSet(**{k: {**getattr(shipped, k), **({prof.name: prof} if k == kind else {})} for k in ("hardware", "datacenter", "region", "nas")})
    try:
        _use_profile(ps, kind, prof, s)
    except AnalyzerError as e:
        _one_line(str(e))
    return True


def _use_profile(ps: Any, kind: str, prof: Any, s: Seeds) -> None:
    from analyzer.account.search_cost import search_cost
    from analyzer.engine import evaluate
    from analyzer.target import SiteRequest, resolve_site, resolve_target, TargetRequest

    if kind == "hardware":
        target = resolve_target(ps, TargetRequest(prof.name, batch=2, pue=1.2, grid=300.0))
        e = evaluate([s.workdir / "seed-models" / "small.onnx"], target)[0]
        if e.ok and (_bad_numbers(e.to_dict()) or e.energy_j_per_item < 0 or e.co2e_g_per_item < 0):
            raise AssertionError(f"evaluation on the fuzzed hardware: {_bad_numbers(e.to_dict())} {e.energy_j_per_item}")
        if not e.ok:
            _one_line(e.error_text())
    elif kind == "datacenter":
        resolve_site(ps, SiteRequest(datacenter=prof.name, grid=300.0))
    elif kind == "region":
        site = resolve_site(ps, SiteRequest(region=prof.name, pue=1.2))
        if not site.grid_gco2e_per_kwh >= 0:
            raise AssertionError(f"grid {site.grid_gco2e_per_kwh}")
    else:
        sc = search_cost(ps, preset=prof.name)
        if not (0 <= sc.low_kg <= sc.cost_kg <= sc.high_kg) or _bad_numbers(sc.to_dict()):
            raise AssertionError(f"search cost {sc.low_kg} {sc.cost_kg} {sc.high_kg}")


def _one_line(message: str) -> None:
    """A library error's message: not empty (the CLI shows it escaped, on one line: report/safe.py)."""
    if not message.strip():
        raise AssertionError("an error with an empty message")


# ---- the campaign ------------------------------------------------------------------------------------------------


def run_door(door: str, data: bytes, s: Seeds, kind: str = "hardware") -> bool:
    """One input through its door's oracle (`kind`: the profile folder a profile goes in): True when the door
    accepted it (and what followed was sound), False when it refused it in one line; else an AssertionError or
    the exception that escaped."""
    if door == "profile":
        return door_profile(data, s, kind)
    return {"store": door_store, "manifest": door_manifest, "analysis": door_analysis, "plan": door_plan}[door](data, s)


def _input(door: str, s: Seeds, rng: random.Random, structure: bool) -> tuple[bytes, Callable[[bytes], bool]]:
    import tomllib

    if door == "store":
        data = fuzzing.mutate_bytes(s.store, rng) if not structure else _store_rows(s, rng)
    elif door == "manifest":
        data = tomlkit.dumps(mutate_value(tomllib.loads(s.manifest), rng, allow_none=False)).encode() if structure else \
            fuzzing.mutate_bytes(s.manifest.encode(), rng)
    elif door in ("analysis", "plan"):
        doc = s.analysis if door == "analysis" else s.plan
        data = json.dumps(mutate_value(doc, rng)).encode() if structure else fuzzing.mutate_bytes(json.dumps(doc).encode(), rng)
    else:
        kind, text = rng.choice(s.profiles)
        data = tomlkit.dumps(mutate_value(tomllib.loads(text), rng, allow_none=False)).encode() if structure else \
            fuzzing.mutate_bytes(text.encode(), rng)
        return data, lambda d: run_door(door, d, s, kind)
    return data, lambda d: run_door(door, d, s)


def _store_rows(s: Seeds, rng: random.Random) -> bytes:
    """The seed store with stored values rewritten as SQL would let a damaged file hold them."""
    path = s.workdir / "door-seed.sqlite"
    for side in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + side).unlink(missing_ok=True)
    path.write_bytes(s.store)
    with sqlite3.connect(path) as c:
        rows = c.execute("SELECT rowid, payload, settings FROM results").fetchall()
        rowid, payload, settings = rng.choice(rows)
        column = rng.choice(["payload", "settings", "model", "created_at", "kind", "key"])
        if column in ("payload", "settings") and rng.random() < 0.7:
            value: Any = json.dumps(mutate_value(json.loads(payload if column == "payload" else settings), rng))
        else:
            value = rng.choice([None, 1, -1.5, b"\x00\xff", "{", "[]", "null", "x" * 5000, '{"a": NaN}'])
        try:
            c.execute(f"UPDATE results SET {column}=? WHERE rowid=?", (value, rowid))
        except sqlite3.IntegrityError:  # NOT NULL, or a second row with the same key: SQLite keeps those out itself
            pass
        if rng.random() < 0.2:
            c.execute("UPDATE meta SET value=? WHERE key='schema_version'", (rng.choice(["0", "2", "x", "", "-1", "1e3"]),))
        if rng.random() < 0.05:
            c.execute(rng.choice(["DROP TABLE results", "DROP TABLE runs", "CREATE TABLE other (x)"]))
    return path.read_bytes()


def campaign(per_door: dict[str, int], seed: int, workdir: Path, deadline: float | None = None, s: Seeds | None = None,
             slow_s: float = fuzzing.SLOW_S, hang_s: float = HANG_S) -> DoorCampaign:
    """`per_door[door]` inputs for each door (half byte-level, half structure-aware), seeded, until `deadline`; an
    input that takes more than `slow_s` of CPU time or `hang_s` of wall time is a finding."""
    rng = random.Random(seed)
    s = s or seeds(workdir)
    c = DoorCampaign()
    plan = [(door, k % 2 == 1) for door in DOORS for k in range(per_door.get(door, 0))]
    rng.shuffle(plan)
    for door, structure in plan:
        if deadline is not None and time.monotonic() > deadline:
            break
        try:
            data, run = _input(door, s, rng, structure)
        except (ValueError, TypeError, OverflowError, RecursionError):  # the mutation cannot be written as TOML
            continue
        c.inputs[door] += 1
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                ok = run(data)
            if said:
                raise AssertionError(f"raw warning: {said[0].category.__name__}: {str(said[0].message)[:200]}")
            (c.accepted if ok else c.refused)[door] += 1
        except Exception:  # noqa: BLE001 - the finding
            c.findings.append(fuzzing.Finding(f"{door}", traceback.format_exc(limit=8), data))
        took, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        c.slowest_s, c.slowest_wall_s = max(c.slowest_s, cpu), max(c.slowest_wall_s, took)
        if cpu > slow_s or took > hang_s:
            c.findings.append(fuzzing.Finding(f"{door} slow", f"{cpu:.1f} s CPU, {took:.1f} s wall (limits {slow_s:g} s, "
                                              f"{hang_s:g} s)", data))
    return c
