"""`profile` of several models profiles two at a time on threads (cli/profile_cmd.py _pipelined): the results, the
errors and their order are those of one model after another, and the limits reach the threads."""

import json

import numpy as np
import onnx
import pytest

from cli_helpers import cli
from onnx_builders import one_node


def _models(tmp_path):
    paths = []
    for i, k in enumerate((8, 16, 24)):
        w = np.ones((k, 4), np.float32)
        w[: i + 1] = 0
        p = tmp_path / f"m{i}.onnx"
        onnx.save(one_node("MatMul", {"a": [2, k], "b": w}, {"y": None}), str(p))
        paths.append(p)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07\x12\x03not an onnx model")
    return paths, bad


def test_several_models_in_order_with_a_bad_one_among_them(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (a, b, c), bad = _models(tmp_path)
    together = cli("profile", "--no-store", "--format", "json", a, bad, b, c)
    assert together.exit_code == 1
    assert [ln for ln in together.stderr.splitlines() if ln.startswith("error:")] == \
        [ln for ln in together.stderr.splitlines() if "bad.onnx" in ln] and "bad.onnx" in together.stderr
    got = json.loads(together.stdout)
    assert [r["model"] for r in got] == [str(a), str(b), str(c)]
    alone = [json.loads(cli("profile", "--no-store", "--format", "json", p).stdout)[0] for p in (a, b, c)]
    assert got == alone
    assert [r["weight_sparsity"] for r in got] == [4 / 32, 8 / 64, 12 / 96]


@pytest.mark.parametrize("timeout", ["7", "9.5"])
def test_the_limits_reach_the_threads(tmp_path, monkeypatch, timeout):
    """--timeout and --memory-limit are context variables (load/guard.py): each thread runs in a copy of the
    command's context, so a model profiled on a thread is limited as one profiled in line."""
    from analyzer.cli import profile_cmd
    from analyzer.load import guard

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    seen = []
    real = profile_cmd._remembered
    monkeypatch.setattr(profile_cmd, "_remembered", lambda *a: (seen.append(guard.current()), real(*a))[1])
    paths, _ = _models(tmp_path)
    r = cli("profile", "--no-store", "--timeout", timeout, "--memory-limit", "512", *paths)
    assert r.exit_code == 0, r.output
    assert [(s.timeout_s, s.memory_mb) for s in seen] == [(float(timeout), 512.0)] * 3
