"""The package's layers, kept by parsing every module's imports:

  0 units, errors, records, ir, paths        constants, the error hierarchy, frozen records
  1 load/, manifest, profiles, dist, fit, poly   files -> IR and validated profiles; small maths
  2 ops/, static, sparsity, profile, kernels/, training_kernels, symbolic   IR -> profile, kernel plans, cost formulas
  3 project, carbon, fourms, amortize, rank, calibrate, pairing, sensitivity, place, search_cost, measure/, generation
                                             estimators and measurement
  4 pipeline, observations, analysis, store, population  steps that chain them
  5 report/                                  tables, JSON/CSV, HTML
  6 cli/                                     parse flags, call the library, render

A module imports only its own layer or lower ones. Heavy third-party packages stay where they belong: onnx in
load/ (and sparsity's weight reads go through load/), onnxruntime in measure/, torch and fvcore in the
PyTorch front door and the PyTorch measurer, matplotlib in the HTML report.
"""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "analyzer"
LAYERS = [
    {"units", "errors", "records", "ir", "paths", "__init__"},
    {"load", "load.manifest", "profiles", "dist", "project.fit", "count.poly"},
    {"count.ops", "count.static", "count.sparsity", "count.profile", "project.kernels", "project.training_kernels",
     "count.symbolic", "count"},
    {"project.projection", "account.carbon", "account.fourms", "decide.amortize", "decide.rank", "project.calibrate",
     "decide.pairing", "decide.sensitivity", "target.resolve", "account.search_cost", "measure", "project.generation",
     "project.training", "account.search_plan", "project", "account", "decide", "target"},
    {"decide.ranking", "project.observations", "decide.analysis", "engine.store", "engine.population", "engine.fleet",
     "engine"},
    {"report"},
    {"cli", "__main__"},
]
HEAVY = {"onnx": ("load/",), "onnxruntime": ("measure/",), "torch": ("load/torch_fvcore.py", "measure/torch_backend.py"),
         "fvcore": ("load/torch_fvcore.py",), "matplotlib": ("report/html.py",)}


def layer_of(unit: str) -> int:
    for i, names in enumerate(LAYERS):
        if unit in names:
            return i
    raise AssertionError(f"module group '{unit}' is in no layer: add it to tests/test_layers.py")


STAGES = ("count", "project", "account", "decide", "engine", "target")


def _unit(rel: Path) -> str:
    if rel.parts[0] in STAGES and len(rel.parts) > 1:
        return f"{rel.parts[0]}.{rel.parts[1].removesuffix('.py')}".removesuffix(".__init__")
    return rel.parts[0].removesuffix(".py")


def _imports(source: str, rel: Path) -> list[tuple[str, int]]:
    """(imported analyzer module group or third-party top-level name, line) for every import in a module."""
    out = []
    pkg_parts = ["analyzer", *rel.parts[:-1]]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(a.name.split(".")[0], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                mod = node.module or ""
                if mod.startswith("analyzer"):
                    parts = mod.split(".")[1:]
                    out.append(("analyzer." + (".".join(parts[:2]) if parts and parts[0] in STAGES else (parts[0] if parts else "__init__")), node.lineno))
                else:
                    out.append((mod.split(".")[0], node.lineno))
                continue
            base = pkg_parts[: len(pkg_parts) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            if len(target) > 2 and target[1] in STAGES:
                out.append(("analyzer." + ".".join(target[1:3]), node.lineno))
            elif len(target) > 1 and target[1] in STAGES:
                out += [("analyzer." + target[1] + "." + a.name, node.lineno) for a in node.names]
            elif len(target) > 1:
                out.append(("analyzer." + target[1], node.lineno))
            else:  # `from . import x` at the package root, or `from .. import __version__`
                out += [("analyzer." + a.name, node.lineno) for a in node.names] if not node.module else []
                if node.module is None and all(a.name == "__version__" for a in node.names):
                    out = [o for o in out if o[0] != "analyzer.__version__"] + [("analyzer.__init__", node.lineno)]
    return out


def violations(source: str, rel: Path) -> list[str]:
    me = layer_of(_unit(rel))
    found = []
    for name, line in _imports(source, rel):
        if name.startswith("analyzer."):
            other = name.split(".", 1)[1]
            if other in ("__version__",):
                continue
            if layer_of(other) > me:
                found.append(f"{rel}:{line} imports analyzer.{other} (layer {layer_of(other)} above {me})")
        elif name in HEAVY and not any(str(rel).startswith(p) for p in HEAVY[name]):
            found.append(f"{rel}:{line} imports {name}, allowed only in {', '.join(HEAVY[name])}")
    return found


def test_layers_hold():
    problems = []
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG)
        problems += violations(f.read_text(), rel)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("rel, source", [
    ("records.py", "from .project.projection import Projection\n"),  # a record reaching up to an estimator
    ("project.py", "from .cli.base import app\n"),
    ("report/html.py", "from ..cli.base import app\n"),
    ("project/kernels/patterns.py", "from ...decide.ranking import project_models\n"),
    ("count/static.py", "import onnxruntime\n"),
    ("decide/amortize.py", "import matplotlib.pyplot as plt\n"),
    ("report/decide_text.py", "import torch\n"),
])
def test_the_layer_test_catches_a_forbidden_import(rel, source):
    assert violations(source, Path(rel)), (rel, source)


def test_the_layer_test_allows_what_is_allowed():
    assert not violations("from ..errors import UsageError\nfrom ..project.projection import Projection\n", Path("report/projection_text.py"))
    assert not violations("import onnx\n", Path("load/onnx_graph.py"))
    assert not violations("from .. import __version__\n", Path("report/html.py"))


def test_cli_modules_stay_small():
    for f in (PKG / "cli").glob("*.py"):
        assert len(f.read_text().splitlines()) <= 200, f"{f.name} is over 200 lines: move tables to report/ and logic to the library"
