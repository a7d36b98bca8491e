"""The command line: parses arguments, calls the library, renders records. No arithmetic here."""

from __future__ import annotations

import re
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from . import __version__
from .errors import AnalyzerError, UsageError

app = typer.Typer(
    help="nas-analyzer: what a model costs in compute, energy and carbon, and whether a NAS pays off.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


_DIM = re.compile(r"^([A-Za-z_][\w.\-/:]*)=([0-9]+)$")


def parse_dims(items: list[str]) -> dict[str, int]:
    dims: dict[str, int] = {}
    for item in items:
        m = _DIM.match(item.strip())
        if not m or int(m.group(2)) < 1:
            raise UsageError(f"--dim '{item}': expected NAME=VALUE with a positive integer VALUE")
        dims[m.group(1)] = int(m.group(2))
    return dims


def _fail(e: AnalyzerError) -> None:
    err.print(f"error: {e}", markup=False)


def _version(value: bool) -> None:
    if value:
        print(f"nas-analyzer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    pass


@app.command()
def profile(
    models: Annotated[list[Path], typer.Argument(help="ONNX files, or folders (a manifest.toml's models, else *.onnx).")],
    dim: Annotated[Optional[list[str]], typer.Option("--dim", help="Bind a symbolic input dim: NAME=VALUE (repeatable).")] = None,
    batch: Annotated[Optional[int], typer.Option("--batch", min=1, help="Set the leading (batch) dim of every input, symbolic or fixed.")] = None,
    per_op: Annotated[bool, typer.Option("--per-op", help="Include one record per node.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    sparsity: Annotated[bool, typer.Option("--sparsity/--no-sparsity", help="Scan weights for zeros and 2:4 structure.")] = True,
) -> None:
    """Static profile: MACs, FLOPs (= 2 x MACs + other arithmetic), params, bytes moved, weight sparsity and
    operator coverage, per model and optionally per node. Exit 2 on usage errors, 1 if any model fails."""
    from .manifest import expand_model_args
    from .profile import profile_onnx
    from .records import ModelProfile
    from .report.serialize import to_csv, to_json
    from .report.text import render_profiles

    try:
        dims = parse_dims(dim or [])
        paths = expand_model_args(models)
    except AnalyzerError as e:
        _fail(e)
        raise typer.Exit(e.exit_code) from None
    results: list[ModelProfile] = []
    code = 0
    for path in paths:
        try:
            results.append(profile_onnx(path, dims, batch, per_op=per_op, scan_sparsity=sparsity))
        except AnalyzerError as e:  # report and go on: one bad file must not lose the others' results
            msg = str(e)
            err.print(f"error: {msg if msg.startswith(str(path)) else f'{path}: {msg}'}", markup=False)
            code = max(code, e.exit_code)
    if results:
        if fmt is Format.json:
            sys.stdout.write(to_json(results) + "\n")
        elif fmt is Format.csv:
            sys.stdout.write(to_csv(results, per_op))
        else:
            render_profiles(results, Console(highlight=False), per_op)
    raise typer.Exit(code)


from . import cli_calibrate, cli_carbon, cli_decide, cli_measure, cli_project, cli_store  # noqa: E402,F401  register the other commands


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)
    except MemoryError:
        err.print("error: out of memory", markup=False)
        sys.exit(1)
    except RecursionError:
        err.print("error: the model nests subgraphs too deeply to analyse", markup=False)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - a bug of ours: still one line, never a traceback
        err.print(f"internal error: {type(e).__name__}: {e} (please report this with the model)", markup=False)
        sys.exit(1)
