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
reads go through load/), onnxruntime in measure/, torch and fvcore in the PyTorch front door and the PyTorch measurer, matplotlib in the
HTML report. Beside the imports: one module chains profile -> project -> account (engine/evaluate.py), and one
reads a datacenter's PUE or a region's intensity from the profiles (target/resolve.py).
"""

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "analyzer"
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
    raise AssertionError(f"module group '{stage}' is in no stage: add it to tests/test_layers.py")


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
    assert {m for m, c in calls.items() if "account_item" in c} == {"engine/chain.py"}
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
