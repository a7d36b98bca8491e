"""Every numeric option of every command, given -1, 0, nan, inf, 1e308 and a huge integer: one line and exit 2,
or a valid result (exit 0, JSON without NaN or Infinity, no negative energy or CO2e). And the same missing
model file gives the same message and exit code in every command that takes models."""

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from analyzer.cli import app
from cli_helpers import cli
from onnx_builders import init, model, vi

VALUES = ["-1", "0", "nan", "inf", "1e308", "9223372036854775808"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two small convolutional candidates with a manifest: a baseline and a NAS-found one."""
    d = tmp_path_factory.mktemp("tiny")
    for name, c in (("big", 64), ("small", 16)):
        nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])]
        m = model(nodes, [vi("x", [1, 16, 32, 32])], [vi("y", None)], [init("w", np.ones((c, 16, 3, 3), np.float32))])
        onnx.save(m, str(d / f"{name}.onnx"))
    (d / "manifest.toml").write_text(
        '[[model]]\nname = "big"\nfile = "big.onnx"\nrole = "baseline"\ninput_shape = [1, 16, 32, 32]\ntop1_accuracy_pct = 70.0\n'
        'architecture = "test"\naccuracy_source = "test"\n\n'
        '[[model]]\nname = "small"\nfile = "small.onnx"\nrole = "NAS-found"\ninput_shape = [1, 16, 32, 32]\ntop1_accuracy_pct = 70.0\n'
        'architecture = "test"\naccuracy_source = "test"\n')
    return d


def _base_args(command: str, tiny) -> list[str] | None:
    m = str(tiny / "small.onnx")
    return {
        "profile": [m, "--format", "json"],
        "project": [m, "--hardware", "h100", "--format", "json"],
        "rank": [str(tiny), "--hardware", "h100", "--format", "json"],
        "analyze": [str(tiny), "--samples", "200", "--no-store", "--format", "json", "--quiet"],
        "footprint": ["--hardware", "t4", "--hours", "1", "--format", "json"],
        "fourm": ["--base-hardware", "p100", "--new-hardware", "tpu-v4", "--model-ratio", "2", "--format", "json"],
        "amortize": ["--nas-cost-kg", "1", "--baseline-co2e-g", "1", "--nas-co2e-g", "0.5", "--format", "json"],
        "strategies": ["--one-off-kg", "1", "--per-scenario-kg", "0.1", "--search-per-scenario-kg", "0.5", "--format", "json"],
        "measure": [m, "--max-time", "0.2", "--no-store", "--meter", "none", "--format", "json"],
        "population": ["space:2", "--hardware", "h100", "--no-store", "--workers", "1", "--format", "json"],
        "plan-search": ["--candidate-chip-hours", "1", "--population", "10", "--hardware", "h100", "--format", "json"],
    }.get(command)


def _numeric_options():
    import typer.main

    group = typer.main.get_command(app)
    out = []
    for name, cmd in group.commands.items():
        for p in cmd.params:
            if getattr(p, "param_type_name", "") == "option" and getattr(p.type, "name", "") in ("int", "integer", "float", "integer range", "float range"):
                out.append((name, p.opts[0]))
    return out


NUMERIC = _numeric_options()


def test_every_numeric_option_is_enumerated():
    names = {o for _, o in NUMERIC}
    for o in ("--batch", "--pue", "--grid-gco2e-per-kwh", "--utilization", "--samples", "--accuracy-tolerance", "--nas-cost-kg",
              "--hours", "--count", "--one-off-kg", "--max-latency-ms", "--max-time", "--model-ratio", "--base-flops"):
        assert o in names, o
    assert len(NUMERIC) > 50


def _negative_quantities(d, path=""):
    """Energy, CO2e, MACs, FLOPs and bytes in an output must never be negative."""
    bad = []
    if isinstance(d, dict):
        for k, v in d.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0 and any(
                    s in k for s in ("energy", "co2e", "macs", "flops", "bytes", "kwh")) and "saving" not in k and "net" not in k:
                bad.append(f"{path}.{k}={v}")
            bad += _negative_quantities(v, f"{path}.{k}")
    elif isinstance(d, list):
        for i, v in enumerate(d):
            bad += _negative_quantities(v, f"{path}[{i}]")
    return bad


@pytest.mark.parametrize("command, option", [c for c in NUMERIC if c[0] in ("profile", "project", "rank", "footprint", "fourm",
                                                                               "amortize", "strategies", "analyze", "measure", "population",
                                                                               "plan-search")])
def test_numeric_option_abuse(tiny, command, option):
    base = _base_args(command, tiny)
    for value in VALUES:
        if command == "analyze" and value in ("1e308", "9223372036854775808") and option == "--samples":
            pass
        args = [a for a in base]
        if option in args:  # replace the base's own value
            i = args.index(option)
            args[i + 1] = value
        else:
            args += [option, value]
        r = cli(command, *args)
        if value in ("nan", "inf", "-inf"):  # never a result: one line and exit 2
            assert r.exit_code == 2, (command, option, value, r.output)
        if r.exit_code == 0:
            text = r.stdout
            assert "NaN" not in text and "Infinity" not in text, (command, option, value)
            data = json.loads(text)
            assert not _negative_quantities(data), (command, option, value, _negative_quantities(data)[:3])
        else:
            assert r.exit_code == 2, (command, option, value, r.exit_code, r.output)
            lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
            assert lines, (command, option, value)
            # our validation: one line; click's own parse errors come in its usage box, also exit 2
            if lines[0].startswith("error:"):
                assert len(lines) == 1, (command, option, value, r.stderr)


def test_the_same_missing_file_fails_the_same_way_everywhere(tmp_path):
    missing = tmp_path / "nope.onnx"
    runs = {"profile": cli("profile", missing), "project": cli("project", missing, "--hardware", "h100"),
            "rank": cli("rank", missing, "--hardware", "h100"), "measure": cli("measure", missing, "--no-store"),
            "analyze": cli("analyze", missing, "--no-store"),
            "amortize": cli("amortize", "--nas-cost-kg", "1", "--baseline-model", missing, "--nas-co2e-g", "1")}
    messages = {k: r.stderr.strip() for k, r in runs.items()}
    for k, r in runs.items():
        assert r.exit_code == 2, (k, r.output)
        assert str(missing) in messages[k] and "no such file" in messages[k], (k, messages[k])
        assert len(messages[k].splitlines()) == 1, (k, messages[k])


def test_every_option_has_help():
    import typer.main

    group = typer.main.get_command(app)
    missing = []
    for name, cmd in group.commands.items():
        subs = cmd.commands.items() if hasattr(cmd, "commands") else [(name, cmd)]
        for sub, c in subs:
            for p in c.params:
                if getattr(p, "param_type_name", "") == "option" and not p.help and p.name not in ("help",):
                    missing.append(f"{sub} {p.opts[0]}")
    assert not missing, missing


def test_user_text_is_not_markup(tmp_path, monkeypatch):
    """A file named like rich markup or an emoji code is printed as written."""
    monkeypatch.chdir(tmp_path)
    src = Path(":factory:[bold]x[red].onnx")
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    onnx.save(model(nodes, [vi("x", [1, 4])], [vi("y", None)]), str(src))
    r = cli("profile", src)
    assert r.exit_code == 0 and ":factory:[bold]x[red]" in r.stdout
    r = cli("project", "[red]missing.onnx", "--hardware", "h100")
    assert "[red]missing.onnx" in r.stderr
    assert math.isfinite(1.0)
