"""Every example the README and the docs show runs, and prints what they show (issue #39).

An example is a fenced ```console block: lines starting with `$ nas-analyzer ` are commands (a trailing backslash
continues one), the lines after a command up to the next are its output. Each command runs in-process from the
repository root through the CLI runner of tests/cli_helpers.py, with COLUMNS unset (the CLI's own default width).
The shown output must match what it printed, line by line, trailing spaces ignored, with two elisions:

- a line that is exactly `...` stands for any number of lines (none included);
- `...` inside a line stands for any text within that line.

A command whose shown output starts with `error:` must exit non-zero; any other must exit 0. An HTML comment
`<!-- slow -->` on the line before a block marks it slow (skipped by the default run, run by CI's second phase).
Shell examples of other programs stay in ```bash blocks; a `$ nas-analyzer` line in any other fenced block is an
error here, so every example shown is one that runs. To refresh a block after an output changed,
`PYTHONPATH=.:tests python tests/whole/test_docs_examples.py "nas-analyzer ..."` prints it as a block shows it; then put the
elisions back.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from cli_helpers import cli

ROOT = Path(__file__).resolve().parents[2]
ELIDE = "..."
FENCE = re.compile(r"^(`{3,})(.*)$")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path):
    """(line number, info string, lines, slow) of each fenced block in a markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i].strip())
        if not m:
            i += 1
            continue
        fence, info, start = m.group(1), m.group(2).strip(), i
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i])
            i += 1
        slow = start > 0 and lines[start - 1].strip() == "<!-- slow -->"
        yield start + 1, info, body, slow
        i += 1


def commands(body: list[str]) -> list[tuple[str, list[str]]]:
    """[(command line, expected output lines)] of a console block."""
    out: list[tuple[str, list[str]]] = []
    lines = iter(body)
    for line in lines:
        if line.startswith("$ "):
            cmd = line[2:]
            while cmd.endswith("\\"):
                cmd = cmd[:-1] + " " + next(lines).strip()
            out.append((cmd, []))
        elif out:
            out[-1][1].append(line)
        else:
            raise AssertionError(f"output before any command: {line!r}")
    return out


def examples():
    for path in doc_files():
        for lineno, info, body, slow in blocks(path):
            where = f"{path.relative_to(ROOT)}:{lineno}"
            if info.split()[:1] != ["console"]:
                continue
            for cmd, expected in commands(body):
                marks = [pytest.mark.slow] if slow else []
                yield pytest.param(cmd, expected, id=f"{where}: {cmd[:60]}", marks=marks)


def _line_pattern(expected: str) -> re.Pattern:
    return re.compile(".*?".join(re.escape(part) for part in expected.rstrip().split(ELIDE)) + r"\Z")


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether the shown lines match the printed ones, with `...` lines and `...` inside lines elided."""
    exp = [e.rstrip() for e in expected]
    act = [a.rstrip() for a in actual]
    while exp and not exp[-1]:
        exp.pop()
    while act and not act[-1]:
        act.pop()
    pats = [None if e.strip() == ELIDE else _line_pattern(e) for e in exp]
    memo: dict[tuple[int, int], bool] = {}

    def go(i: int, j: int) -> bool:
        key = (i, j)
        if key not in memo:
            if i == len(pats):
                memo[key] = j == len(act)
            elif pats[i] is None:
                memo[key] = any(go(i + 1, k) for k in range(j, len(act) + 1))
            else:
                memo[key] = j < len(act) and bool(pats[i].match(act[j])) and go(i + 1, j + 1)
        return memo[key]

    return go(0, 0)


def run(cmd: str):
    argv = shlex.split(cmd)
    assert argv[0] == "nas-analyzer", f"examples run nas-analyzer only: {cmd}"
    old = os.environ.pop("COLUMNS", None)
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        return cli(*argv[1:])
    finally:
        os.chdir(cwd)
        if old is not None:
            os.environ["COLUMNS"] = old


@pytest.mark.parametrize("cmd, expected", list(examples()))
def test_example_prints_what_the_docs_show(cmd, expected):
    r = run(cmd)
    actual = r.output.splitlines()
    shown = "\n".join(expected)
    assert matches(expected, actual), f"$ {cmd}\n--- shown:\n{shown}\n--- printed (exit {r.exit_code}):\n{r.output}"
    wants_error = next((e for e in expected if e.strip()), "").startswith("error:")
    assert (r.exit_code != 0) == wants_error, f"$ {cmd}: exit {r.exit_code}\n{r.output}"


def test_every_shown_command_is_a_runnable_example():
    """A `$ nas-analyzer` line outside a ```console block would be an example CI never runs."""
    stray = [f"{p.relative_to(ROOT)}:{n}" for p in doc_files() for n, info, body, _ in blocks(p)
             if info.split()[:1] != ["console"] and any(ln.lstrip().startswith("$ nas-analyzer") for ln in body)]
    assert not stray, f"examples outside ```console blocks (not run): {stray}"


def test_there_are_examples_in_the_readme_and_the_docs():
    where = {p.split(":")[0] for p in (x.id for x in examples())}
    assert "README.md" in where and any(w.startswith("docs/") for w in where), where


@pytest.mark.parametrize("expected, actual, ok", [
    (["a", "...", "d"], ["a", "b", "c", "d"], True),
    (["a", "...", "d"], ["a", "d"], True),
    (["a", "...", "d"], ["a", "b"], False),
    (["x ... z"], ["x 1 2 3 z"], True),
    (["x ... z"], ["x 1 2 3 y"], False),
    (["a"], ["a", "b"], False),
    (["a", "b"], ["a"], False),
    (["a  "], ["a"], True),
])
def test_elisions(expected, actual, ok):
    assert matches(expected, actual) is ok


def test_the_readme_command_table_names_every_command():
    """The README's command table is written by hand: it must name every command the CLI registers."""
    import typer.main

    from analyzer.cli import register

    names = set(typer.main.get_command(register(None)).commands)
    rows = [ln for ln in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if ln.startswith("| `")]
    listed = {re.match(r"\| `([a-z-]+)", ln).group(1) for ln in rows}
    assert names <= listed, f"commands missing from the README's table: {sorted(names - listed)}"


def test_the_readme_keeps_the_two_set_up_commands():
    """Both set-up commands stay exactly as written (.ci/run runs the second, with pip's -q)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install . && nas-analyzer analyze\n" in text
    test_cmd = ("bash tests/install_browser.sh && python3 -m venv .venv && . .venv/bin/activate && "
                "pip install -e '.[test]' && python -m pytest")
    assert test_cmd + "\n" in text
    assert test_cmd.replace("pip install -e", "pip install -q -e") in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


if __name__ == "__main__":  # print a command's output as an example block shows it, to paste after a change of output
    import sys

    sys.path.insert(0, str(ROOT))
    for command in sys.argv[1:]:
        print(f"$ {command}")
        print("\n".join(line.rstrip() for line in run(command).output.splitlines()))
