"""Running a user's Python file named on the command line as `FILE.py:NAME` (a population generator, a PyTorch
factory). That executes FILE.py's top-level code, as `python FILE.py` would: name only files you would run.

No explicit trust option is asked for (unlike --trust-pickle): the `FILE.py:NAME` form names code and nothing else,
so typing it is the decision, where a `.pt` file looks like data but may unpickle code. The tool never runs Python
that a data file names: manifests, profiles (a search preset's stand-in is `space` only), search plans, saved
analyses and the results store cannot name code. Before anything runs, the file is read (a regular file) and parsed:
a syntax error, or a NAME the file does not define at top level, is refused without running a line of it.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

from ..errors import AnalyzerError, UsageError
from ..files import read_text

MAX_SOURCE_BYTES = 16 * 1024 * 1024


def top_level_names(tree: ast.Module) -> set[str] | None:
    """Names a module binds at top level (defs, classes, assignments, imports, for/with targets, also inside
    top-level if/try/with blocks); None when it cannot be told statically (`from x import *`)."""
    names: set[str] = set()

    def targets(node: ast.AST) -> None:
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                names.add(n.id)

    def visit(body: list[ast.stmt]) -> bool:
        for s in body:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(s.name)
            elif isinstance(s, ast.Assign):
                for t in s.targets:
                    targets(t)
            elif isinstance(s, (ast.AnnAssign, ast.AugAssign)):
                targets(s.target)
            elif isinstance(s, (ast.Import, ast.ImportFrom)):
                for a in s.names:
                    if a.name == "*":
                        return False
                    names.add(a.asname or a.name.split(".")[0])
            elif isinstance(s, (ast.For, ast.AsyncFor)):
                targets(s.target)
            elif isinstance(s, (ast.With, ast.AsyncWith)):
                for item in s.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
            for block in ("body", "orelse", "finalbody"):
                if isinstance(s, (ast.If, ast.Try, ast.For, ast.While, ast.With)) and not visit(getattr(s, block, []) or []):
                    return False
            for h in getattr(s, "handlers", []) or []:
                if h.name:
                    names.add(h.name)
                if not visit(h.body):
                    return False
        return True

    return names if visit(tree.body) else None


def load_attr(spec: str, what: str) -> tuple[Path, str, Any]:
    """(file, name, the object) for `FILE.py:NAME`, running FILE.py's top-level code once it is known to be Python
    that defines NAME. `what` says what NAME should be ('generator', 'function')."""
    file, _, name = spec.rpartition(":")
    path = Path(file)
    source = read_text(path, UsageError, MAX_SOURCE_BYTES)
    try:
        tree = ast.parse(source, filename=file)
    except (SyntaxError, ValueError) as e:
        line = f", line {e.lineno}" if getattr(e, "lineno", None) else ""
        raise UsageError(f"{file}: not Python ({getattr(e, 'msg', e)}{line}); it was not run") from None
    except RecursionError:
        raise UsageError(f"{file}: not Python this tool reads (nested too deeply); it was not run") from None
    bound = top_level_names(tree)
    if not name.isidentifier():
        raise UsageError(f"{spec}: '{name}' is not a Python name; give FILE.py:NAME")
    if bound is not None and name not in bound:
        shown = sorted(n for n in bound if not n.startswith("_"))[:10]
        raise UsageError(f"{file}: defines no top-level {what} '{name}' (a def, class, assignment or import); it was "
                         f"not run" + (f"; it defines {', '.join(shown)}" if shown else ""))
    module_name = f"_nas_analyzer_user_{abs(hash(str(path.resolve())))}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    if loader is None or loader.loader is None:
        raise UsageError(f"{file}: cannot be imported as Python")
    mod = importlib.util.module_from_spec(loader)
    try:
        exec(compile(tree, str(path), "exec"), mod.__dict__)  # the tree already parsed: the file is read once
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's own file: its error in one line
        raise AnalyzerError(f"{file}: running it failed ({first_line(e)})") from None
    obj = getattr(mod, name, None)
    if obj is None:
        raise UsageError(f"{file}: no {what} '{name}' after running it")
    return path, name, obj


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__
