"""MkDocs hook: the benchmarks page, one section per script under benchmarks/.

For each `benchmarks/NAME.py`: its claim (the module docstring's first paragraph) and how to run it (the docstring's
command lines), then its last result: `benchmarks/results/NAME.json` or `benchmarks/NAME.json` where a run wrote one (every top-level
scalar shown), and the result last recorded by hand in `docs/benchmarks.toml` (`result`, `where`: the machine and
the command); else "no result recorded". A script added
under benchmarks/ appears on the next build; one missing from benchmarks.toml says so rather than disappearing.
"""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
RECORDED = Path(__file__).resolve().parent / "benchmarks.toml"


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def _claim_and_usage(doc: str) -> tuple[str, list[str]]:
    paras = doc.strip().split("\n\n")
    claim = " ".join(paras[0].split()) if paras else "(no docstring)"
    usage = [ln.strip() for ln in doc.splitlines() if "python benchmarks/" in ln or ln.strip().startswith("python ")]
    return claim, usage


def _json_result(name: str) -> list[str] | None:
    path = next((p for p in (BENCH / "results" / f"{name}.json", BENCH / f"{name}.json") if p.is_file()), None)
    if path is None:
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = ["| quantity | value |", "|---|---|"]
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                rows.append(f"| `{key}` | {value} |")
    return [f"Last run's results file: `{path.relative_to(ROOT)}` (its scalar fields below; the rest in the file).", "",
            *rows, ""]


def page() -> str:
    recorded = tomllib.loads(RECORDED.read_text(encoding="utf-8")) if RECORDED.is_file() else {}
    out = ["# Benchmarks", "",
           "Each script under `benchmarks/` checks a claim the documentation makes, against a reference measured in the "
           "same run or a published figure. This page is generated (`docs/gen_benchmarks.py`) from the scripts' "
           "docstrings, their results files (`benchmarks/results/NAME.json`) where a run wrote one, and the results "
           "recorded by hand in `docs/benchmarks.toml` otherwise. Timings on this project's shared 2-core VM are noisy: "
           "the ratios are measured within one run.", ""]
    for path in sorted(BENCH.glob("*.py")):
        name = path.stem
        if name.startswith("_"):  # a helper of the scripts (_results.py), no benchmark
            continue
        claim, usage = _claim_and_usage(_docstring(path))
        out += [f"## {name}", "", f"**Claim.** {claim}", ""]
        if usage:
            out += ["```bash", *usage, "```", ""]
        result = _json_result(name) or []
        if name in recorded:
            entry = recorded[name]
            result += [f"**Last recorded result** ({entry['where']}): {entry['result']}"]
        out += (result or ["**Last result:** none recorded (no results file, no entry in `docs/benchmarks.toml`)."]) + [""]
    extra = Path(__file__).resolve().parent / "_benchmarks_recorded.md"
    if extra.is_file():  # the longer record of the static profiler's and start-up's speed
        text = extra.read_text(encoding="utf-8").split("\n", 1)[1]
        out += ["## The static profiler and start-up, as recorded", "", text.strip(), ""]
    return "\n".join(out)


def on_files(files, config):
    from mkdocs.structure.files import File

    files.append(File.generated(config, "benchmarks.md", content=page()))
    return files
