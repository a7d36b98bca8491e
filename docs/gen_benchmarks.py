"""MkDocs hook: the benchmarks page, from the benchmarks themselves and their results files only.

For each `benchmarks/NAME.py`: its claim (the module docstring's first paragraph) and how to run it (the docstring's
command lines), then its last results: `benchmarks/results/NAME.json`, or `benchmarks/NAME.json` where a run wrote it
there; its numbers as the file holds them (scalars, and those of nested objects as dotted keys; lists counted).
A claim without a results file says "no results file yet": no number on this page is written by hand. A results
file without a script of its name gets a section of its own. A script added under benchmarks/ appears on the next
build.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
MAX_ROWS = 40  # a results file's rows shown on the page; the rest stay in the file, and the page says how many


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def _claim_and_usage(doc: str) -> tuple[str, list[str]]:
    paras = doc.strip().split("\n\n")
    claim = " ".join(paras[0].split()) if paras and paras[0].strip() else "(no docstring)"
    usage = [ln.strip() for ln in doc.splitlines() if "python benchmarks/" in ln or ln.strip().startswith("python ")]
    return claim, usage


def results_files(bench: Path = BENCH) -> dict[str, Path]:
    """NAME -> its results file: benchmarks/results/NAME.json, else benchmarks/NAME.json."""
    found = {p.stem: p for p in sorted(bench.glob("*.json"))}
    found.update({p.stem: p for p in sorted((bench / "results").glob("*.json"))})
    return found


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _rows(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, value) of every scalar, depth first; a list is counted, not expanded."""
    if isinstance(data, dict):
        return [row for k, v in data.items() for row in _rows(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(data, list):
        return [(prefix, f"({len(data)} entries, in the file)")]
    return [(prefix or "(value)", _cell(data))]


def render_results(path: Path, root: Path = ROOT) -> list[str]:
    """A results file as a table of its numbers, or one line saying why it cannot be read."""
    where = path.relative_to(root) if path.is_relative_to(root) else path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"**Results file** `{where}`: not readable as JSON ({exc}).", ""]
    rows = _rows(data)
    out = [f"**Results file** `{where}`:", "", "| quantity | value |", "|---|---|"]
    out += [f"| `{k}` | {v} |" for k, v in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        out.append(f"| ... | {len(rows) - MAX_ROWS} more in the file |")
    return out + [""]


def page(bench: Path = BENCH, root: Path = ROOT) -> str:
    files = results_files(bench)
    out = ["# Benchmarks", "",
           "Each script under `benchmarks/` checks a claim the documentation makes, against a reference measured in the "
           "same run or a published figure. This page is generated (`docs/gen_benchmarks.py`) from the scripts' "
           "docstrings and the results files their runs wrote (`benchmarks/results/NAME.json`); a claim without one "
           "says so, and no number here is written by hand. Timings on this project's shared 2-core VM are noisy: "
           "the ratios are measured within one run.", ""]
    scripts = sorted(bench.glob("*.py"))
    for path in scripts:
        name = path.stem
        if name.startswith("_"):  # a helper of the scripts (_results.py), no benchmark
            continue
        claim, usage = _claim_and_usage(_docstring(path))
        out += [f"## {name}", "", f"**Claim.** {claim}", ""]
        if usage:
            out += ["```bash", *usage, "```", ""]
        if name in files:
            out += render_results(files[name], root)
        else:
            out += [f"**No results file yet** (`benchmarks/results/{name}.json`).", ""]
    for name in sorted(set(files) - {p.stem for p in scripts}):
        out += [f"## {name} (results file only)", "", *render_results(files[name], root)]
    return "\n".join(out)


def on_files(files, config):
    from mkdocs.structure.files import File

    files.append(File.generated(config, "benchmarks.md", content=page()))
    return files
