"""The documentation site's generated pages (docs/gen_*.py) say what the code does: a page per command holding the
command's own --help, an API entry per name in analyzer.__all__, a benchmarks section per script. The full strict
build (`mkdocs build --strict`) runs in CI's second phase (.ci/run), where the docs extra is installed."""

import importlib.util
import re
from pathlib import Path

import pytest

from cli_helpers import cli

ROOT = Path(__file__).resolve().parents[2]


def gen(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_page_per_command_holding_its_help():
    import typer.main

    from analyzer.cli import register

    pages = gen("gen_commands").pages()
    top = typer.main.get_command(register(None)).commands
    for name, cmd in top.items():
        page = pages[f"commands/{name}.md"]
        assert page.startswith(f"# nas-analyzer {name}\n")
        for param in cmd.params:  # every option the command takes is on its page
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert opt in page, (name, opt)
        assert f"[`{name}`]({name}.md)" in pages["commands/index.md"]
    assert "commands/profiles-list.md" in pages and "commands/profiles-show.md" in pages


def test_the_help_on_a_page_is_what_the_command_prints():
    page = gen("gen_commands").pages()["commands/footprint.md"]
    shown = page.split("```text\n", 1)[1].split("\n```", 1)[0]
    printed = cli("footprint", "--help").output
    # the runner's width and program name differ from the page's (100 columns, `nas-analyzer`): the same words, in
    # the same order, after the usage line
    words = lambda text: text.split("\n", 1)[1].split()
    assert shown.startswith("Usage: nas-analyzer footprint [OPTIONS]")
    assert words(shown) == words(printed)


def test_an_api_entry_per_public_name():
    import analyzer

    page = gen("gen_api").page()
    for name in analyzer.__all__:
        if name != "__version__":
            obj = getattr(analyzer, name)
            assert f"::: {obj.__module__}.{obj.__qualname__}\n" in page, name


def test_a_benchmarks_section_per_script_with_a_claim_and_a_result():
    page = gen("gen_benchmarks").page()
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        assert (f"## {script.stem}\n" in page) != script.stem.startswith("_"), script.stem  # _results.py: a helper
    assert "`benchmarks/results/space_ranking.json`" in page  # a results file reaches the page
    assert not (ROOT / "docs" / "benchmarks.toml").exists(), "the benchmarks page takes numbers from results files only"


def test_the_benchmarks_page_shows_results_files_and_says_where_there_is_none(tmp_path):
    """Numbers come from benchmarks/results/NAME.json (nested keys dotted, lists counted); a claim without a file
    says so; a results file without a script still shows."""
    g = gen("gen_benchmarks")
    (tmp_path / "results").mkdir()
    (tmp_path / "speed.py").write_text('"""profile is 20x faster than onnx-tool.\n\n    python benchmarks/speed.py\n"""\n')
    (tmp_path / "accuracy.py").write_text('"""projections within 25%."""\n')
    (tmp_path / "results" / "speed.json").write_text('{"ratio": 27.4123, "runs": {"wall_s": 0.33}, "models": ["a", "b"]}')
    (tmp_path / "results" / "orphan.json").write_text('{"n": 3}')
    page = g.page(tmp_path, tmp_path)
    speed = page.split("## speed\n")[1].split("## ")[0]
    assert "**Claim.** profile is 20x faster than onnx-tool." in speed and "python benchmarks/speed.py" in speed
    assert "`results/speed.json`" in speed
    assert "| `ratio` | 27.41 |" in speed and "| `runs.wall_s` | 0.33 |" in speed and "| `models` | (2 entries, in the file) |" in speed
    assert "**No results file yet** (`benchmarks/results/accuracy.json`)." in page.split("## accuracy\n")[1].split("## ")[0]
    assert "## orphan (results file only)" in page and "| `n` | 3 |" in page


def test_the_api_page_example_runs(monkeypatch):
    page = gen("gen_api").page()
    code = page.split("```python\n", 1)[1].split("\n```", 1)[0]
    monkeypatch.chdir(ROOT)
    scope = {}
    exec(compile(code, "docs/api.md", "exec"), scope)  # its asserts are the check
    assert scope["result"].verdict is not None


def test_the_readme_python_example_runs(monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("\n```", 1)[0]
    monkeypatch.chdir(ROOT)
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["p"].macs == 4_089_184_256 and scope["result"].verdict is not None


@pytest.mark.extras
def test_the_populations_guides_optuna_example_runs(monkeypatch):
    """docs/guides/populations.md's Optuna loop, as shown but for 5 trials (of 200): analyzer.cost in the loop gives
    each trial its CO2e per item."""
    from conftest import require_extra

    require_extra("optuna", "NAS_ANALYZER_REQUIRE_OPTUNA", "the populations guide's Optuna example was NOT run")
    text = (ROOT / "docs" / "guides" / "populations.md").read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("\n```", 1)[0]
    assert "n_trials=200" in code
    monkeypatch.chdir(ROOT)
    scope = {}
    exec(compile(code.replace("n_trials=200", "n_trials=5"), "docs/guides/populations.md", "exec"), scope)
    trials = scope["study"].trials
    assert len(trials) == 5 and all(t.values[1] > 0 for t in trials)
