"""The package's stages and their direction, kept by parsing every module's imports:

  0 core       units, errors, records, ir, paths, dist, taxonomy, checks,  constants, errors, records, vocabulary,
               files                                        reading untrusted input files
  1 load, profiles                                model files -> IR; profiles/ -> validated profile records
  2 count, target                                 IR -> static profile; options + profiles -> a Target
  3 project, measure                              kernels, time and device energy; measuring the machine at hand
  4 account                                       energy -> CO2e (serving, runs, searches, the 4Ms)
  5 engine                                        the one chain candidate -> Evaluation; executors; the store
  6 decide                                        the use cases (analyze, amortize, plan-search, calibrate, footprint,
                                                  the 4Ms: request -> result); ranking, pairing, amortisation
  7 report                                        tables, CSV/JSON, HTML: from records only (the core layer)
  8 cli                                           parse flags, call the library, render

A module imports only its own stage or lower ones; a report imports nothing above the core (records are the
interface); the CLI imports neither project/ nor account/ (the use cases in decide/ orchestrate them, evaluation
goes through the engine). Heavy third-party packages stay where they belong: onnx in load/ (sparsity's weight
reads go through load/), onnxruntime in measure/, torch and fvcore in the PyTorch front door and the PyTorch
measurer, matplotlib in the HTML report. Beside the imports: one module chains profile -> project -> account
(engine/evaluate.py), one reads a datacenter's PUE or a region's intensity from the profiles (target/resolve.py),
and one multiplies by a PUE or a grid intensity (account/step.py, the accounting step every account calls; found
by parsing expressions).
"""

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "analyzer"
CORE = {"units", "errors", "records", "ir", "paths", "dist", "taxonomy", "checks", "files", "words", "__init__"}
LAYERS = [CORE, {"load", "profiles"}, {"count", "target"}, {"project", "measure"}, {"account"}, {"engine"}, {"decide"},
          {"report"}, {"cli", "__main__"}]
HEAVY = {"onnx": ("load/",), "onnxruntime": ("measure/",), "torch": ("load/torch_fvcore.py", "measure/torch_backend.py"),
         "fvcore": ("load/torch_fvcore.py",), "matplotlib": ("report/html.py",)}
# what the CLI must not reach into: the projection and the accounting, whole stages (the engine runs them, the use cases
# in decide/ orchestrate them), and the counting and chaining internals
CLI_FORBIDDEN = {"project", "account", "count.static", "count.ops", "engine.chain"}


def layer_of(unit: str) -> int:
    stage = unit.split(".")[0]
    for i, names in enumerate(LAYERS):
        if stage in names:
            return i
    raise AssertionError(f"module group '{stage}' is in no stage: add it to tests/whole/test_layers.py")


def _is_unit(name: str) -> bool:
    return any(name in names for names in LAYERS)


def _imports(source: str, rel: Path) -> list[tuple[str, int]]:
    """(imported 'analyzer.<stage>[.<module>]' or third-party top-level name, line) for every import in a module."""
    out = []
    pkg_parts = ["analyzer", *rel.parts[:-1]]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(a.name.split(".")[0], node.lineno) if not a.name.startswith("analyzer.") else
                    (".".join(a.name.split(".")[:3]), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                mod = node.module or ""
                if mod.startswith("analyzer"):
                    parts = mod.split(".")[1:]
                    out.append(("analyzer." + (".".join(parts[:2]) if parts else "__init__"), node.lineno))
                else:
                    out.append((mod.split(".")[0], node.lineno))
                continue
            base = pkg_parts[: len(pkg_parts) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            if len(target) > 1:
                stage = target[1:3]
                if len(stage) == 1:  # `from .stage import module`: each name may be a module of the stage
                    out += [("analyzer." + stage[0] + "." + a.name, node.lineno) for a in node.names]
                else:
                    out.append(("analyzer." + ".".join(stage), node.lineno))
            else:  # `from .. import project` names a stage; `from .. import __version__` the package root
                out += [("analyzer." + (a.name if _is_unit(a.name) else "__init__"), node.lineno) for a in node.names]
    return out


def violations(source: str, rel: Path) -> list[str]:
    me = layer_of(rel.parts[0].removesuffix(".py"))
    found = []
    for name, line in _imports(source, rel):
        if name.startswith("analyzer."):
            other = name.split(".", 1)[1]
            if layer_of(other) > me:
                found.append(f"{rel}:{line} imports analyzer.{other} (stage {layer_of(other)} above {me})")
            elif rel.parts[0] == "report" and layer_of(other) not in (0, layer_of("report")):
                found.append(f"{rel}:{line} imports analyzer.{other}: a report reads records, never a computing stage")
            elif rel.parts[0] == "cli" and any(other == f or other.startswith(f + ".") for f in CLI_FORBIDDEN):
                found.append(f"{rel}:{line} imports analyzer.{other}: the CLI evaluates through the engine")
        elif name in HEAVY and not any(str(rel).startswith(p) for p in HEAVY[name]):
            found.append(f"{rel}:{line} imports {name}, allowed only in {', '.join(HEAVY[name])}")
    return found


def _sources():
    for f in sorted(PKG.rglob("*.py")):
        yield f.relative_to(PKG), f.read_text()


def test_layers_hold():
    problems = [p for rel, src in _sources() for p in violations(src, rel)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("rel, source", [
    ("records.py", "from .project.projection import Projection\n"),  # a record reaching up to an estimator
    ("project/projection.py", "from ..cli.base import app\n"),
    ("report/html.py", "from ..cli.base import app\n"),
    ("report/projection_text.py", "from ..project import Projection\n"),  # a report importing an estimator
    ("report/decide_text.py", "from ..engine import evaluate\n"),
    ("report/text.py", "from ..profiles import ProfileSet\n"),
    ("project/kernels/patterns.py", "from ...engine import evaluate\n"),
    ("account/carbon.py", "from ..engine.run import evaluate\n"),
    ("target/resolve.py", "from ..project import resolve_params\n"),
    ("cli/project.py", "from ..project.projection import project\n"),  # the CLI chaining the stages itself
    ("cli/decide.py", "from ..account import serving\n"),
    ("cli/decide.py", "from ..account.search_cost import search_cost\n"),  # orchestration belongs in decide/
    ("cli/plan.py", "from ..account.search_plan import plan_projected\n"),
    ("cli/calibrate_cmd.py", "from ..project.observations import observations\n"),
    ("cli/calibrate_cmd.py", "from ..project import resolve_params\n"),
    ("cli/carbon.py", "from .. import account\n"),
    ("cli/carbon.py", "import analyzer.account.fourms\n"),
    ("count/static.py", "import onnxruntime\n"),
    ("decide/amortize.py", "import matplotlib.pyplot as plt\n"),
    ("report/decide_text.py", "import torch\n"),
])
def test_the_layer_test_catches_a_forbidden_import(rel, source):
    assert violations(source, Path(rel)), (rel, source)


def test_the_layer_test_allows_what_is_allowed():
    assert not violations("from ..errors import UsageError\nfrom ..records import Evaluation\n", Path("report/projection_text.py"))
    assert not violations("import onnx\n", Path("load/onnx_graph.py"))
    assert not violations("from .. import __version__\n", Path("report/html.py"))
    assert not violations("from ..engine import evaluate\nfrom ..target import resolve_target\n", Path("cli/project.py"))
    assert not violations("from ..account.serving import account_item\n", Path("engine/chain.py"))


def test_cli_modules_stay_small():
    for f in (PKG / "cli").glob("*.py"):
        assert len(f.read_text().splitlines()) <= 200, f"{f.name} is over 200 lines: move tables to report/ and logic to the library"


def test_no_module_is_long():
    long = [f"{rel} ({len(src.splitlines())} lines)" for rel, src in _sources() if len(src.splitlines()) > 400]
    assert not long, "split these: " + ", ".join(long)


def _calls(src: str) -> set[str]:
    return {n.func.id if isinstance(n.func, ast.Name) else n.func.attr for n in ast.walk(ast.parse(src))
            if isinstance(n, ast.Call) and isinstance(n.func, (ast.Name, ast.Attribute))}


def test_one_module_chains_profile_project_and_account():
    """Only the engine turns a model file into a profile, projects it and accounts it: no command, population or
    plan wires the chain itself."""
    calls = {str(rel): _calls(src) for rel, src in _sources()}
    assert {m for m, c in calls.items() if {"item_account", "account_item"} & c and m.split("/")[0] != "account"} == {"engine/chain.py"}
    assert {m for m, c in calls.items() if {"profile_onnx", "project"} <= c} == {"engine/chain.py"}


def test_one_resolver_reads_pue_and_grid():
    """A datacenter's PUE and a region's intensity are read from the profiles in target/resolve.py alone (the
    profiles package defines them; reports render saved records)."""
    reads = re.compile(r"\.pue\.value|\bsite_pue\b|\bsite_grid_gco2e_per_kwh\b|\bregion_at\(|\.years\[|\.at\(None\)|\.cfe_fraction\b")
    found = {str(rel) for rel, src in _sources() if reads.search(src) and rel.parts[0] not in ("profiles", "report")}
    assert found == {"target/resolve.py"}, found


def test_library_errors_name_parameters_not_flags():
    """Outside cli/, a raised message names a parameter (errors.param), never a command-line flag: the library
    reads the same without the CLI, and the CLI maps each parameter to its flag."""
    flag = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
    found = []
    for rel, src in _sources():
        if rel.parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for lit in ast.walk(node.exc):
                    if isinstance(lit, ast.Constant) and isinstance(lit.value, str) and flag.search(lit.value):
                        found.append(f"{rel}:{node.lineno} {flag.findall(lit.value)}")
    assert not found, "\n".join(found)


# --- the one accounting step (issue #36): where a joule meets a PUE or a grid intensity ---------------------------
STEP = "account/step.py"
_PUE = re.compile(r"(^|_)pue(_\w+)?$", re.I)
_GRID = re.compile(r"(^|_)grid(_gco2e\w*|_lo|_hi|_range)?$|intensity", re.I)
# scaling by a PUE or an intensity elsewhere, each with its reason (a ratio of two PUEs or two intensities is no
# accounting and needs none)
SCALES_ALLOWED = {
    "target/resolve.py": "makes the site's intensity (a region's grid net of its carbon-free share); no energy in it",
    "decide/sensitivity.py": "what-if sweeps rescale an accounted saving or search cost by a ratio of PUEs or grids",
    "measure/interchange.py": "writes CodeCarbon's own emissions column (its kWh x its intensity) into its file format",
}


def _kind(node: ast.AST) -> str | None:
    """'pue' or 'grid' when the operand names one: a name, an attribute, a subscript or `.get` by a string, a call's
    result (`site_pue()`), through a conversion or a default (`float(d.get("grid_gco2e_per_kwh") or 0)`)."""
    if isinstance(node, ast.BoolOp):
        return next((k for k in map(_kind, node.values) if k), None)
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id in ("float", "int", "abs") and node.args:
            return _kind(node.args[0])
        if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args and \
                isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            name = node.args[0].value
            return "pue" if _PUE.search(name) else "grid" if _GRID.search(name) else None
        node = node.func
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        name = node.slice.value
    elif isinstance(node, ast.Attribute):
        name = node.attr
    elif isinstance(node, ast.Name):
        name = node.id
    else:
        return None
    return "pue" if _PUE.search(name) else "grid" if _GRID.search(name) else None


def scales_by_site(source: str, rel: Path) -> list[str]:
    """Every multiplication or division by a PUE or a grid intensity outside the accounting step (and the listed
    places): `x * site.pue`, `kwh * grid_gco2e_per_kwh / 1000`, `d["pue"] * j`. A ratio of two PUEs or two
    intensities (the 4Ms' Mechanization and Map, a range's ends over its value) is allowed."""
    if str(rel) == STEP or str(rel) in SCALES_ALLOWED:
        return []
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
            kinds = (_kind(node.left), _kind(node.right))
            if any(kinds) and kinds[0] != kinds[1]:
                found.append(f"{rel}:{node.lineno} {ast.unparse(node)[:80]}")
    return found


def test_only_the_accounting_step_multiplies_by_pue_or_grid():
    found = [p for rel, src in _sources() for p in scales_by_site(src, rel)]
    assert not found, "apply PUE and grid through analyzer/account/step.py `account`:\n" + "\n".join(found)


@pytest.mark.parametrize("rel, source", [
    ("report/carbon_text.py", "def f(d):\n    return d['energy_kwh'] * d['pue']\n"),  # a report re-pricing a record
    ("cli/carbon.py", "def f(kwh, site):\n    return kwh * site.grid_gco2e_per_kwh / 1000\n"),  # a command
    ("account/serving.py", "def f(j, site):\n    return j * site.pue / 3.6e6\n"),  # an accounting caller
    ("account/search_plan.py", "def f(kwh, grid):\n    return kwh * grid / 1000\n"),
    ("decide/analysis.py", "def f(e, target):\n    return e.energy_j_per_item * target.pue\n"),
    ("engine/chain.py", "def f(j, s):\n    return j / s.carbon_intensity\n"),
    ("account/search_cost.py", "def f(d):\n    return float(d.get('grid_gco2e_per_kwh') or 0) / 1000\n"),  # a plan file's
])
def test_the_accounting_test_catches_a_pue_applied_elsewhere(rel, source):
    assert scales_by_site(source, Path(rel)), (rel, source)


def test_the_accounting_test_allows_ratios_and_the_step():
    assert not scales_by_site("def f(b, n):\n    return b.pue / n.pue, b.grid_gco2e_per_kwh / n.grid_gco2e_per_kwh\n",
                              Path("account/fourms.py"))
    assert not scales_by_site("def f(j, site):\n    return j * site.pue\n", Path(STEP))
    assert not scales_by_site("def f(a):\n    return a.grid_threads / a.warps\n", Path("project/roofline.py"))


ACCOUNTS = ("account/serving.py", "account/carbon.py", "account/search_cost.py", "account/search_plan.py",
            "account/fourms.py", "account/measured_run.py")


def test_every_account_calls_the_step():
    """Serving, footprints, search costs, plans, the 4Ms and measured runs import the step and call `account`."""
    srcs = dict((str(rel), src) for rel, src in _sources())
    missing = [m for m in ACCOUNTS if "analyzer.account.step" not in {n for n, _ in _imports(srcs[m], Path(m))}
               or "account" not in _calls(srcs[m])]
    assert not missing, missing


# ---- the tests mirror the stages --------------------------------------------------------------------------------
# tests/<stage>/ holds the tests of analyzer/<stage>/'s modules, tests/whole/ those that cross the stages (these
# layers, the code's shape, fuzzing, the docs, the wheel); shared helpers (conftest.py, cli_helpers.py, ...) and
# data (corpus/, data/, golden/) stay at tests/ root, which tests/conftest.py puts on sys.path. pytest's default
# import mode takes a test module by its file name, so no two test files may share one.
TESTS = PKG.parent / "tests"
ACROSS_STAGES = {"whole"}
TEST_DATA = {"corpus", "data", "golden"}


def mirror_faults(stages: set[str], tree: dict[str, list[str]]) -> list[str]:
    """What breaks the mirror in `tree` (folder under tests/, "" for tests/ itself -> its file names): a test file at
    tests/ root or in a data folder, a folder that is neither a stage of analyzer/ nor whole/ nor data, and two
    test files of one name."""
    faults, seen = [], {}
    for folder, names in sorted(tree.items()):
        where = f"tests/{folder}/" if folder else "tests/"
        tests = [n for n in names if n.startswith("test_") and n.endswith(".py")]
        if folder not in stages | ACROSS_STAGES | TEST_DATA | {""}:
            faults.append(f"{where} is no stage of analyzer/ (nor {sorted(ACROSS_STAGES | TEST_DATA)})")
        elif tests and folder in TEST_DATA | {""}:
            faults += [f"{where}{n}: a test belongs in tests/<stage>/ or tests/whole/" for n in tests]
        for n in tests:
            if n in seen:
                faults.append(f"{seen[n]}{n} and {where}{n} share a name (pytest imports by name)")
            seen.setdefault(n, where)
    return faults


def _tree() -> dict[str, list[str]]:
    tree = {"": [f.name for f in TESTS.iterdir() if f.is_file()]}
    tree |= {d.name: [f.name for f in d.rglob("*.py")] for d in TESTS.iterdir()
             if d.is_dir() and not d.name.startswith((".", "__"))}
    return tree


def test_the_tests_mirror_the_stages():
    stages = {d.name for d in PKG.iterdir() if (d / "__init__.py").exists()}
    assert not mirror_faults(stages, _tree()), mirror_faults(stages, _tree())
    assert {"project", "account", "load", "cli", "whole"} <= set(_tree())  # the walk sees the folders


@pytest.mark.parametrize("tree, phrase", [
    ({"projection": ["test_kernels.py"]}, "tests/projection/ is no stage"),
    ({"": ["conftest.py", "test_kernels.py"]}, "tests/test_kernels.py: a test belongs"),
    ({"data": ["test_x.py"]}, "tests/data/test_x.py: a test belongs"),
    ({"project": ["test_x.py"], "account": ["test_x.py"]}, "share a name"),
])
def test_the_mirror_test_catches_a_misplaced_test(tree, phrase):
    faults = mirror_faults({"project", "account"}, tree)
    assert len(faults) == 1 and phrase in faults[0], faults


def test_the_mirror_test_allows_the_layout():
    tree = {"": ["conftest.py", "fakes.py"], "project": ["test_kernels.py"], "whole": ["test_layers.py"],
            "corpus": ["build.py"], "golden": []}
    assert mirror_faults({"project", "account"}, tree) == []
