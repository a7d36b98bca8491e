"""Writes the corpus of the other doors (issue #27) next to this file: results stores, manifests, saved analyses,
search plans and profile TOML that once broke the tool (the issue's findings, what tests/fuzz_doors.py's campaigns
found, or a file built to its shape), and in expected.toml each one's door, the exit code of the command a user
would run on it (tests/whole/test_fuzz.py's DOOR_COMMANDS) and a phrase of its one-line error. tests/whole/test_fuzz.py replays
each through the door's fuzz oracle and through that command. Rerun after changing a case:

    python tests/corpus/doors/build.py
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def _deep(n: int, leaf: object = 1) -> object:
    for _ in range(n):
        leaf = [leaf]
    return leaf


def _store(tamper: str, *args: object) -> bytes:
    """A results store as the engine writes it (one evaluation, one run), then one SQL statement run on it."""
    from analyzer.records import Evaluation
    from analyzer.engine.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite"
        db = Store.open(path)
        e = Evaluation("m", "m.onnx", "ab12", "t4", "fp32", "ort", 1, latency_s=0.001, energy_j_per_item=0.5, co2e_g_per_item=0.1)
        payload = {k: v for k, v in e.to_dict().items() if k not in ("name", "model")}  # as the engine stores one
        db.put_many([("evaluation", "k1", "m.onnx", "ab12", {"batch": 1}, "pv", payload)])
        db.log_run("analyze", {"models": ["m.onnx"]}, {"candidates": 1})
        db.close()
        c = sqlite3.connect(path, isolation_level=None)
        c.execute(tamper, args)
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # one self-contained file, still in WAL mode as the engine leaves it
        c.close()
        return path.read_bytes()


# inputs the door campaigns found, kept as found (not rebuilt here): name -> (door, exit code, phrase)
FOUND = {
    # seed 7: an analysis whose fourms.inputs[4].unit is nested 904 deep; the report's checker recursed past Python's
    # limit, and the command line said the *model* nested subgraphs too deeply
    "fuzz_analysis_deep_unit.json": ("analysis", 2, "nested too deeply"),
    # seed 101: a sensitivity's net_high_kg written as the integer -10**30; numpy made the tornado plot's values an
    # object array and matplotlib raised a TypeError
    "fuzz_analysis_huge_int_net.json": ("analysis", 2, "an integer beyond 2**53 is not exact in JSON"),
}


def _corrupt(store: bytes) -> bytes:
    """A store with one page of its results table overwritten: SQLite's quick_check fails on it."""
    page = int.from_bytes(store[16:18], "big")
    return store[:3 * page] + b"\xa5" * page + store[4 * page:]


def _with(doc: dict, path: tuple, value: object) -> bytes:
    doc = json.loads(json.dumps(doc))
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = value
    return json.dumps(doc).encode()


def main() -> None:
    import fuzz_doors

    calibrated = (ROOT / "profiles" / "hardware" / "ci-cpu-2vcpu-ort-calibrated.toml").read_text()
    manifest = ('[[model]]\nname = "big"\nfile = "big.onnx"\nrole = "baseline"\ntop1_accuracy_pct = {acc}\n\n'
                '[[model]]\nname = "small"\nfile = "{file}"\nrole = "NAS-found"\ntop1_accuracy_pct = 70.0\n')
    with tempfile.TemporaryDirectory() as tmp:
        seeds = fuzz_doors.seeds(Path(tmp))  # an analysis and a search plan as the tool writes them
    cases = {  # name: (door, data, exit code, phrase)
        # the findings
        "store_corrupt_page.sqlite": ("store", _corrupt(_store("SELECT 1")), 1, "malformed); it was left untouched"),
        "manifest_accuracy_true.toml": ("manifest", manifest.format(acc="true", file="small.onnx").encode(), 1, "top1_accuracy_pct must be a number"),
        "manifest_path_outside.toml": ("manifest", manifest.format(acc="70.0", file="../small.onnx").encode(), 1,
                                       "lies outside the manifest's folder"),
        "analysis_negative_co2e.json": ("analysis", _with(seeds.analysis, ("ranking", 0, "co2e_g_per_item"), -1.0), 2,
                                        "ranking[0].co2e_g_per_item"),
        "analysis_ranking_not_a_list.json": ("analysis", _with(seeds.analysis, ("ranking",), {"small": 1}), 2, "ranking"),
        "plan_total_1e308_kg.json": ("plan", _with(seeds.plan, ("total", "co2e_kg"), 1e308), 2, "total.co2e_kg"),
        # found by the door campaigns, or built to their shape
        "store_text_not_utf8.sqlite": ("store", _store("UPDATE results SET payload = CAST(x'7b22ff22' AS TEXT)"),
                                       1, "a read failed"),
        "store_schema_version_text.sqlite": ("store", _store("UPDATE meta SET value = 'x' WHERE key = 'schema_version'"),
                                             1, "is not a version this tool writes"),
        "store_schema_version_negative.sqlite": ("store", _store("UPDATE meta SET value = '-1' WHERE key = 'schema_version'"),
                                                 1, "is not a version this tool writes"),
        "store_settings_not_object.sqlite": ("store", _store("UPDATE results SET settings = '[]'"),
                                             1, "a stored result is not a JSON object"),
        "store_payload_deep.sqlite": ("store", _store("UPDATE results SET payload = ?", json.dumps({"notes": _deep(500)})),
                                      1, "nests more than 64 deep"),
        "store_payload_without_identity.sqlite": ("store", _store("UPDATE results SET payload = json_remove(payload, '$.identity')"),
                                                  0, ""),
        "store_huge_int_macs.sqlite": ("store", _store("UPDATE results SET payload = replace(payload, '\"macs\": 0,', "
                                                       "'\"macs\": 1000000000000000000000000000000,')"), 0, ""),
        "manifest_name_too_long.toml": ("manifest", manifest.format(acc="70.0", file="a" * 300 + ".onnx").encode(),
                                        2, "lists files that do not exist"),
        "profile_inf_in_fitted_forward.toml": ("profile", calibrated.replace(" error = 0.0169 }", " error = -inf }", 1).encode(),
                                               1, "calibration.fitted_on[0].error': -inf is not a finite number"),
    }
    lines = ["# tests/corpus/doors/build.py writes this; tests/whole/test_fuzz.py replays each file through its door's fuzz oracle",
             "# (tests/fuzz_doors.py), which must refuse it in one line, and through the door's command (test_fuzz.DOOR_COMMANDS),",
             "# which exits with `exit` and one error line naming the file and containing `says` (exit 0: a store whose",
             "# damage only the engine's read sees; export lists its rows as they are).", ""]
    for name, (door, data, code, says) in sorted(cases.items()):
        (HERE / name).write_bytes(data)
    for name, (door, code, says) in sorted({**{n: (d, c, s) for n, (d, _, c, s) in cases.items()}, **FOUND}.items()):
        lines += [f'["{name}"]', f'door = "{door}"', f"exit = {code}", "says = " + json.dumps(says), ""]
    (HERE / "expected.toml").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
