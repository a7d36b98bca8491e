"""The shape of the code, by parsing it (issue #36): no function takes more than 8 parameters outside record
constructors (a dataclass's generated __init__ is not in the source; a typer command's parameters are its options),
and the package's import graph has no circle."""

import ast
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "analyzer"
MAX_PARAMS = 8
# functions over the limit today, each to become a record's consumer; a new one over the limit fails the test, and
# one taken off the limit must leave this list (so the list only shrinks)
KNOWN_WIDE: set[str] = set()
# circles through imports inside functions (taken when called): none today. Anything is a new circle.
KNOWN_LAZY_CIRCLES: list[set[str]] = [
]


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = fn.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)] + [x.arg for x in (a.vararg, a.kwarg) if x]
    return len([n for n in names if n not in ("self", "cls")])


def _is_command(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A typer command: its parameters are the command's options (the CLI's parse table)."""
    return any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "command"
               for d in fn.decorator_list)


def wide_functions(source: str, rel: str) -> set[str]:
    return {f"{rel}:{n.name}" for n in ast.walk(ast.parse(source))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and _params(n) > MAX_PARAMS and not _is_command(n)}


def test_no_function_takes_more_than_eight_parameters():
    wide = set()
    for f in sorted(PKG.rglob("*.py")):
        wide |= wide_functions(f.read_text(), str(f.relative_to(PKG)))
    assert not wide - KNOWN_WIDE, f"more than {MAX_PARAMS} parameters (take a record): {sorted(wide - KNOWN_WIDE)}"
    assert not KNOWN_WIDE - wide, f"no longer over the limit: drop from KNOWN_WIDE {sorted(KNOWN_WIDE - wide)}"


def test_the_parameter_test_catches_a_wide_function_and_spares_records_and_commands():
    src = "def f(a, b, c, d, e, f, g, h, i):\n    pass\n"
    assert wide_functions(src, "x.py") == {"x.py:f"}
    assert not wide_functions("class R:\n    def m(self, a, b, c, d, e, f, g, h):\n        pass\n", "x.py")
    assert not wide_functions("@dataclass(frozen=True)\nclass R:\n" + "".join(f"    f{i}: int = 0\n" for i in range(20)), "x.py")
    assert not wide_functions("@app.command()\ndef cmd(a, b, c, d, e, f, g, h, i):\n    pass\n", "x.py")


def _module_name(f: Path) -> str:
    parts = ("analyzer",) + f.relative_to(PKG).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(modules: dict[str, str], module_level_only: bool) -> dict[str, set[str]]:
    """module -> the package's modules it imports (a `from pkg import name` counts the submodule when there is one,
    else the package); with `module_level_only`, imports inside functions (taken when called) are left out."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for m, src in modules.items():
        is_pkg = src.startswith("#pkg\n")
        nodes = []

        def visit(body):
            for n in body:
                if module_level_only and isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    continue
                nodes.append(n)
                for child in ast.iter_child_nodes(n):
                    if isinstance(child, ast.stmt) or isinstance(child, ast.excepthandler):
                        visit([child])

        visit(ast.parse(src.removeprefix("#pkg\n")).body)
        for n in nodes:
            if isinstance(n, ast.Import):
                graph[m] |= {a.name for a in n.names if a.name in modules}
            elif isinstance(n, ast.ImportFrom):
                if n.level:
                    parts = m.split(".")[: len(m.split(".")) - (n.level - 1) - (0 if is_pkg else 1)]
                    base = ".".join(parts + ([n.module] if n.module else []))
                else:
                    base = n.module or ""
                for a in n.names:
                    sub = f"{base}.{a.name}"
                    graph[m] |= {sub} if sub in modules else ({base} if base in modules else set())
        graph[m].discard(m)
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in graph:
        if v not in index:
            strong(v)
    return out


def _package() -> dict[str, str]:
    return {_module_name(f): ("#pkg\n" if f.name == "__init__.py" else "") + f.read_text() for f in sorted(PKG.rglob("*.py"))}


def test_the_import_graph_has_no_circle_at_module_level():
    assert not circles(import_graph(_package(), module_level_only=True))


def test_no_new_circle_through_imports_inside_functions():
    found = circles(import_graph(_package(), module_level_only=False))
    new = [sorted(c) for c in found if c not in KNOWN_LAZY_CIRCLES]
    assert not new, f"import circles: {new}"
    # the meter shim's circle (measure/meters.py re-exporting select.py's meter_from_spec) stays gone
    assert not any({"analyzer.measure.meters", "analyzer.measure.select"} <= c for c in found)


def test_the_circle_test_finds_a_circle():
    mods = {"analyzer.a": "from . import b\n", "analyzer.b": "def f():\n    from .a import x\n", "analyzer": "#pkg\n"}
    assert circles(import_graph(mods, module_level_only=False)) == [{"analyzer.a", "analyzer.b"}]
    assert not circles(import_graph(mods, module_level_only=True))


ROOT = PKG.parent
# benchmarks/fuzz.py runs the tests' own fuzz campaigns (tests/fuzz_doors.py, fuzz_doors_new.py, fuzzing.py) for
# longer than the suite does: a campaign runner, no claim of benchmarks/README.md; until those campaigns move out of
# tests/, it is the one benchmark that imports them
RUNS_THE_TESTS_FUZZERS = {"fuzz.py"}
# tests that still import a benchmark's check (merged in from other branches), to become a module both import
TESTS_USING_A_BENCHMARK = {"project/test_channels_last.py"}  # benchmarks/gpu_transfer.py's check()


def _top_imports(source: str) -> set[str]:
    """The top-level names a script imports, and 'sys.path:<dir>' for each folder it puts on the path by name."""
    out = set()
    for n in ast.walk(ast.parse(source)):
        if isinstance(n, ast.Import):
            out |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            out.add(n.module.split(".")[0])
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("insert", "append") and \
                isinstance(n.func.value, ast.Attribute) and n.func.value.attr == "path":
            out |= {f"sys.path:{c.value}" for a in n.args for c in ast.walk(a)
                    if isinstance(c, ast.Constant) and c.value in ("benchmarks", "tests")}
    return out


def crossings(tests: dict[str, str], benchmarks: dict[str, str]) -> list[str]:
    """A test importing a benchmark (or putting benchmarks/ on its path), a benchmark importing a test module."""
    bench_names, test_names = {Path(b).stem for b in benchmarks}, {Path(t).stem for t in tests}
    found = [f"tests/{t} imports benchmarks' {sorted(_top_imports(s) & (bench_names | {'sys.path:benchmarks'}))}"
             for t, s in tests.items() if t not in TESTS_USING_A_BENCHMARK and _top_imports(s) & (bench_names | {"sys.path:benchmarks"})]
    found += [f"benchmarks/{b} imports tests' {sorted(_top_imports(s) & (test_names | {'sys.path:tests'}))}"
              for b, s in benchmarks.items() if b not in RUNS_THE_TESTS_FUZZERS and _top_imports(s) & (test_names | {"sys.path:tests"})]
    return found


def test_no_benchmark_is_imported_by_a_test_or_imports_the_tests():
    tests = {f.relative_to(ROOT / "tests").as_posix(): f.read_text()
             for f in sorted([*(ROOT / "tests").glob("*.py"), *(ROOT / "tests").glob("*/test_*.py")])}
    benchmarks = {f.name: f.read_text() for f in sorted((ROOT / "benchmarks").glob("*.py"))}
    assert not crossings(tests, benchmarks), crossings(tests, benchmarks)


def test_the_crossing_test_catches_both_directions():
    bench = {"fourms_paper.py": "PAPER = {}\n", "b.py": "import sys\nsys.path.insert(0, str(ROOT / 'tests'))\n"}
    tests = {"fakes.py": "", "test_x.py": "from fourms_paper import PAPER\n"}
    assert len(crossings(tests, bench)) == 2
    assert not crossings({"test_x.py": "import analyzer\n"}, {"fourms_paper.py": "import numpy\n"})
