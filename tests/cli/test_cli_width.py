"""Every command's table output fits 80 columns (COLUMNS=80) without cutting a number or a name (issue #39).

Each command runs again for its vocabulary of whole tokens: with `--format json` (every name, key and source whole)
and, where it has one, `--wide` (no folding). A token printed at 80 columns that is a proper prefix of a whole token
and does not end at a separator is a name cut mid-word (`grid_gco2e_per_kw` / `h`, `industry-average-202` / `1`;
`mobilenet_v3_` / `large` is folded at a separator, as report/text.fold_name folds, and passes); a number with a
short thousands group is a number cut (`1,23` / `4`); an ellipsis anywhere is a cut too.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest
from typer.testing import CliRunner

from analyzer.cli import app

runner = CliRunner()
BOX = "│┃┏┓┗┛━─┡┩╇┳┻╋┼├┤┬┴╭╮╰╯═║╔╗╚╝╠╣╦╩╬└┘┌┐"
SEPARATORS = "_-./@:,;=+"
STRIP_LEAD, STRIP_TRAIL = "([{'\"`", ")]}'\"`,;:."
NUMBER = re.compile(r"^[-+~]?(\d{1,3}(,\d{3})*|\d+)(\.\d+)?(e[-+]?\d+)?(%|x|-fold)?$")

COMMANDS = [  # (command, has --wide); STORE is a store of this test's own
    ("profile models/mobilenet_v3_large.onnx models/efficientnet_b0.onnx --store STORE", False),
    ("project models/resnet18.onnx --hardware h100 --region france --store STORE", False),
    ("project models/efficientnet_b0.onnx models/mobilenet_v3_large.onnx --hardware h100,a100,l4 --no-store", False),
    ("project models/decoders/gpt2.json --hardware h100 --phase serving --no-store", False),
    ("rank models/ --hardware h100 --region france", True),
    ("population nb201:20 --hardware h100 --workers 1 --no-store -q", True),
    ("footprint --hardware tpu-v2 --count 64 --hours 108 --region us-central1", False),
    ("fourm --base-hardware p100 --new-hardware tpu-v4 --model-ratio 14 --base-region us-central1", False),
    ("amortize --nas-preset mnasnet --baseline-co2e-g 1.53e-5 --nas-co2e-g 9.35e-6 --inferences-per-day 1e7", True),
    ("plan-search --preset mnasnet --no-store", True),
    ("analyze --no-store", True),
    ("history --store STORE", False),
    ("profiles show h100", False),
]


def _tokens(text: str, raw: bool = False) -> list[str]:
    """Whitespace- and box-separated tokens, stripped of brackets and quotes (and, unless `raw`, of trailing
    punctuation)."""
    out = []
    for line in text.splitlines():
        for tok in re.split(rf"[\s{BOX}]+", line):
            tok = tok.lstrip(STRIP_LEAD).rstrip(")]}'\"`")
            if not raw:
                tok = tok.rstrip(STRIP_TRAIL)
            if tok:
                out.append(tok)
    return out


def _vocabulary(args: list[str], wide: bool) -> set[str]:
    vocab: set[str] = set()
    r = runner.invoke(app, [*args, "--format", "json"], env={"COLUMNS": "80"})
    if r.exit_code == 0:
        vocab |= set(_tokens(json.dumps(json.loads(r.stdout), ensure_ascii=False).replace('"', " ").replace("\\n", " ")))
    if wide:
        r = runner.invoke(app, [*args, "--wide"], env={"COLUMNS": "80"})
        assert r.exit_code == 0, r.output
        vocab |= set(_tokens(r.stdout))
    return vocab


def cut_tokens(printed: str, vocab: set[str]) -> list[str]:
    """The tokens of `printed` that are the first piece of a name or number cut mid-word: a proper prefix of a
    whole token (the JSON's or the --wide output's), not ending at a separator, whose rest is printed as a token
    of its own (a plural's 's' aside); or a number with a short thousands group."""
    printed_tokens = {t for t in _tokens(printed) if t}
    bad = []
    for raw in _tokens(printed, raw=True):
        tok = raw.rstrip(STRIP_TRAIL)
        if not tok or tok in vocab or raw[-1] in SEPARATORS:
            continue
        if re.fullmatch(r"[\d,.]+", tok):
            if not NUMBER.match(tok):
                bad.append(tok)  # 1,23 / 4
            continue
        for v in vocab:
            rest = v[len(tok):]
            if (len(tok) >= 2 and v.startswith(tok) and rest and rest[0] not in SEPARATORS and rest not in ("s", "es")
                    and any(rest.startswith(p) and (len(p) >= 2 or p == rest) for p in printed_tokens)):
                bad.append(tok)  # grid_gco2e_per_kw / h
                break
    return bad


@pytest.mark.parametrize("command, wide", COMMANDS, ids=[c.split(" --")[0] for c, _ in COMMANDS])
def test_80_columns_without_a_cut(command, wide, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    store = tmp_path / "store.sqlite"
    if "history" in command:
        assert runner.invoke(app, shlex.split(f"project models/resnet18.onnx models/efficientnet_b0.onnx --hardware "
                                              f"h100,a100 --region france --store {store}")).exit_code == 0
    args = shlex.split(command.replace("STORE", str(store)))
    r = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    long = [ln for ln in r.output.splitlines() if len(ln.rstrip()) > 80]
    assert not long, long
    assert "…" not in r.output, [ln for ln in r.output.splitlines() if "…" in ln]
    bad = cut_tokens(r.stdout, _vocabulary(args, wide) | {str(store)})
    assert not bad, f"cut mid-word: {bad}\n{r.stdout}"


@pytest.mark.parametrize("printed, ok", [
    ("grid_gco2e_per_\nkwh", True), ("grid_gco2e_per_kw\nh", False), ("industry-average-202\n1", False),
    ("1,23\n4", False), ("1,234 kgCO2e", True), ("mobilenet_v3_\nlarge", True), ("mobilenet_v\n3_large", False),
    ("13.9-26 c/m/l/o", True),
])
def test_the_cut_detector(printed, ok):
    vocab = {"grid_gco2e_per_kwh", "industry-average-2021", "mobilenet_v3_large", "kgCO2e"}
    assert (not cut_tokens(printed, vocab)) is ok
