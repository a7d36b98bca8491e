"""CLI: outputs, and every kind of bad input gives one line, a non-zero exit and no traceback."""

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper

from onnx_builders import init, model, one_node, vi
from cli_helpers import cli as run



def _mm_model(tmp_path, name="m.onnx", external=False, location=None):
    w = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", ["batch", 64])], [vi("y", None)], [init("w", w)])
    path = tmp_path / name
    if external:
        onnx.save(m, str(path), save_as_external_data=True, location=location or "m.data", size_threshold=0)
    else:
        onnx.save(m, str(path))
    return path


def test_json_output_fields(tmp_path):
    path = _mm_model(tmp_path)
    r = run("profile", path, "--dim", "batch=3", "--format", "json", "--per-op")
    assert r.exit_code == 0, r.output
    (rec,) = json.loads(r.stdout)
    for key in ("model", "sha256", "opset", "params", "macs", "flops", "weight_bytes", "activation_bytes",
                "arithmetic_intensity", "weight_sparsity", "nm_sparsity", "coverage", "unsupported_ops", "per_op"):
        assert key in rec
    assert rec["macs"] == 3 * 64 * 64 and rec["params"] == 4096 and rec["dims"] == {"batch": 3}
    assert rec["weight_sparsity"] == 1 / 4096  # arange has one zero
    assert rec["per_op"][0]["output_shapes"] == [[3, 64]]
    assert rec["activation_bytes"] == (3 * 64 + 3 * 64) * 4


def test_csv_and_table(tmp_path):
    path = _mm_model(tmp_path)
    r = run("profile", path, "--batch", "2", "--format", "csv")
    assert r.exit_code == 0 and r.stdout.splitlines()[0].startswith("model,sha256,opset")
    r = run("profile", path, "--batch", "2", "--format", "csv", "--per-op")
    assert r.stdout.splitlines()[1].split(",")[2] == "MatMul"
    r = run("profile", path, "--batch", "2", "--per-op")
    assert r.exit_code == 0 and "Static profile" in r.stdout and "MatMul" in r.stdout


def test_external_data_streamed_and_checked(tmp_path):
    inline = run("profile", _mm_model(tmp_path), "--batch", "1", "--format", "json")
    ext_path = _mm_model(tmp_path, "e.onnx", external=True, location="e.data")
    ext = run("profile", ext_path, "--batch", "1", "--format", "json")
    assert ext.exit_code == 0, ext.output
    a, b = json.loads(inline.stdout)[0], json.loads(ext.stdout)[0]
    assert (a["macs"], a["params"], a["weight_sparsity"]) == (b["macs"], b["params"], b["weight_sparsity"])


def _set_location(path, location):
    m = onnx.load(str(path), load_external_data=False)
    for t in m.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = location
    onnx.save(m, str(path))


@pytest.mark.parametrize("case", ["missing", "absolute", "dotdot", "symlink", "truncated"])
def test_bad_external_data(tmp_path, case):
    sub = tmp_path / "model"
    sub.mkdir()
    path = _mm_model(sub, external=True)
    if case == "missing":
        (sub / "m.data").unlink()
    elif case == "absolute":
        _set_location(path, str(sub / "m.data"))
    elif case == "dotdot":
        (tmp_path / "outside.data").write_bytes((sub / "m.data").read_bytes())
        _set_location(path, "../outside.data")
    elif case == "symlink":
        (tmp_path / "outside.data").write_bytes((sub / "m.data").read_bytes())
        (sub / "m.data").unlink()
        os.symlink(tmp_path / "outside.data", sub / "m.data")
    elif case == "truncated":
        data = (sub / "m.data").read_bytes()
        (sub / "m.data").write_bytes(data[: len(data) // 2])
    r = run("profile", path, "--batch", "1")
    assert r.exit_code == 1
    msg = {"missing": "is missing", "absolute": "absolute", "dotdot": "escapes", "symlink": "outside the model folder",
           "truncated": "truncated"}[case]
    assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_bad_inputs(tmp_path):
    good = _mm_model(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("hello, I am not a model\n" * 10)
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes(good.read_bytes()[:-500])
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    bad_graph = tmp_path / "invalid.onnx"  # node reads a tensor nothing produces
    onnx.save(model([helper.make_node("Relu", ["nope"], ["y"])], [vi("x", [2])], [vi("y", [2])]), str(bad_graph))
    unknown = tmp_path / "unknown.onnx"
    onnx.save(model([helper.make_node("Foo", ["x"], ["z"], domain="com.acme"), helper.make_node("Relu", ["z"], ["y"])],
                    [vi("x", [2])], [vi("y", None)], extra_opsets={"com.acme": 1}), str(unknown))
    cases = [
        ((tmp_path / "missing.onnx",), 2, "no such file"),
        ((empty_dir,), 2, "directory"),
        ((text,), 1, "not a valid ONNX file"),
        ((trunc,), 1, "not a valid ONNX file"),
        ((bad_graph,), 1, "invalid ONNX graph"),
        ((unknown,), 1, "com.acme::Foo"),
        ((good,), 1, "unbound dims batch"),
        ((good, "--dim", "batch=0"), 2, "integer VALUE from 1 to 2^31"),
        ((good, "--dim", "nonsense"), 2, "NAME=VALUE"),
        ((good, "--batch", "0"), 2, ""),
        ((good, "--format", "xml"), 2, ""),
    ]
    for args, code, msg in cases:
        r = run("profile", *args)
        assert r.exit_code == code, (args, r.output)
        assert msg in r.stderr, (args, r.stderr)
        if msg:
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_one_bad_file_loses_nothing(tmp_path):
    good = _mm_model(tmp_path)
    r = run("profile", tmp_path / "missing.onnx", good, "--batch", "2", "--format", "json")
    assert r.exit_code == 2 and len(json.loads(r.stdout)) == 1


def test_unbound_dim_message_names_flags(tmp_path):
    r = run("profile", _mm_model(tmp_path))
    assert "--dim batch=N" in r.stderr and "--batch N" in r.stderr


def test_batch_pinned_by_constants_is_rewritten_or_scaled_and_said(tmp_path):
    """A fixed-batch export reshapes to a constant [1, 4, 16]: --batch 8 rewrites that target to [8, 4, 16] and
    says so. One that merges the batch into another dim ([4, 16] from [1, 64]) cannot be rewritten: the profile
    scales one item's work by 8 and says so. Both count what 8 items cost."""
    w = init("w", np.ones((16, 8), np.float32))
    for target, said in (([1, 4, 16], "rewritten to follow the batch, 8"), ([4, 16], "pin the batch")):
        nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])]
        m = model(nodes, [vi("x", [1, 64])], [vi("y", None)], [init("shape", np.array(target, np.int64)), w])
        path = tmp_path / f"pinned{len(target)}.onnx"
        onnx.save(m, str(path))
        one = json.loads(run("profile", path, "--format", "json").stdout)[0]
        r = run("profile", path, "--batch", "8", "--format", "json")
        assert r.exit_code == 0, r.output
        eight = json.loads(r.stdout)[0]
        assert eight["macs"] == 8 * one["macs"] == 8 * 4 * 16 * 8
        assert eight["weight_read_bytes"] == one["weight_read_bytes"]
        assert any(said in n for n in eight["notes"]), eight["notes"]


def test_module_entry_point_and_help():
    r = subprocess.run([sys.executable, "-m", "analyzer", "profile", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--dim" in r.stdout and "--batch" in r.stdout
    r = subprocess.run([sys.executable, "-m", "analyzer", "profile", "/nonexistent.onnx"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == "error: /nonexistent.onnx: no such file"


def test_every_command_maps_to_the_module_that_registers_it():
    from typer.main import get_command_name

    from analyzer.cli import COMMAND_MODULES, app

    registered = {c.name or get_command_name(c.callback.__name__): c.callback.__module__ for c in app.registered_commands}
    registered |= {g.name: g.typer_instance.registered_commands[0].callback.__module__ for g in app.registered_groups}
    assert {name: f"analyzer.cli.{module}" for name, module in COMMAND_MODULES.items()} == registered


def test_a_command_starts_without_the_others_or_heavy_packages(tmp_path):
    """`nas-analyzer profile` imports its own command module only, and none of the packages that cost start-up
    time where they are not used (issue #14: matplotlib, onnxruntime, torch, and pydantic through typer >= 0.29)."""
    path = tmp_path / "relu.onnx"
    onnx.save(one_node("Relu", {"x": [1, 8]}, {"y": None}), str(path))
    code = ("import sys; sys.argv = ['nas-analyzer', 'profile', sys.argv[1]]\n"
            "from analyzer.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('analyzer.cli.') or m.split('.')[0] in "
            "('matplotlib', 'onnxruntime', 'torch', 'fvcore', 'pydantic'))))")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from analyzer.cli import COMMAND_MODULES

    loaded = set(r.stdout.strip().splitlines()[-1].split())
    assert {f"analyzer.cli.{m}" for m in COMMAND_MODULES.values()} & loaded == {"analyzer.cli.profile_cmd"}
    assert not {m for m in loaded if not m.startswith("analyzer.cli.")}  # no heavy package


def test_weight_bytes_that_do_not_fit_dims(tmp_path):
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 64])], [vi("y", None)],
              [init("w", np.ones((64, 64), np.float32))])
    m.graph.initializer[0].raw_data = m.graph.initializer[0].raw_data[:-6]  # 16378 bytes: not whole floats
    path = tmp_path / "bad_weights.onnx"
    path.write_bytes(m.SerializeToString())
    r = run("profile", path)
    assert r.exit_code == 1 and "holds 16378 bytes" in r.stderr


def test_sha256_is_of_the_file_and_cached_until_it_changes(tmp_path, monkeypatch):
    import hashlib

    from analyzer import profile_onnx
    from analyzer.load import hash_cache, onnx_graph

    path = _mm_model(tmp_path)
    small = profile_onnx(path, batch=1)  # under 4 MB: hashed each time, never written to the cache
    assert small.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and hash_cache.lookup(path) is None
    for mod in (hash_cache, onnx_graph):
        monkeypatch.setattr(mod, "INLINE_HASH_BYTES", 0)  # as for a large file
    first = profile_onnx(path, batch=1)
    assert first.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert hash_cache.lookup(path) == first.sha256
    m = onnx.load(str(path))
    m.graph.initializer[0].raw_data = np.zeros((64, 64), np.float32).tobytes()
    onnx.save(m, str(path))  # new content: size is the same, mtime/ctime change
    assert hash_cache.lookup(path) is None
    assert profile_onnx(path, batch=1).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_repeated_profile_is_read_back_without_onnx(tmp_path):
    """Issue #28: the second profile of an unchanged file imports neither onnx nor numpy and gives the same record;
    a changed file is profiled again."""
    path = tmp_path / "relu.onnx"
    onnx.save(one_node("Relu", {"x": [1, 8]}, {"y": None}), str(path))
    code = ("import sys; sys.argv = ['nas-analyzer', 'profile', sys.argv[1], '--format', 'json', '--no-store']\n"
            "from analyzer.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('HEAVY', ' '.join(sorted(m for m in ('onnx', 'numpy') if m in sys.modules)))")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    first, second = (r.stdout.rsplit("HEAVY", 1) for r in runs)
    assert first[1].split() == ["numpy", "onnx"] and second[1].split() == [] and json.loads(first[0]) == json.loads(second[0])
    onnx.save(one_node("Relu", {"x": [1, 16]}, {"y": None}), str(path))  # changed: profiled again
    third = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env)
    assert json.loads(third.stdout.rsplit("HEAVY", 1)[0])[0]["flops"] == 16
