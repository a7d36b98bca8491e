"""Command `profile`: the static profile of ONNX files and PyTorch modules. Parsing and rendering only."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import AnalyzerError, UsageError
from .base import AssumeUpperOpt, app, command, console, err, parse_dims


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


@app.command()
@command
def profile(
    models: Annotated[list[Path], typer.Argument(help="ONNX files, or folders (a manifest.toml's models, else *.onnx).")],
    dim: Annotated[Optional[list[str]], typer.Option("--dim", help="Bind a symbolic input dim: NAME=VALUE (repeatable).")] = None,
    batch: Annotated[Optional[int], typer.Option("--batch", min=1, help="Set the leading (batch) dim of every input, symbolic or fixed.")] = None,
    per_op: Annotated[bool, typer.Option("--per-op", help="Include one record per node.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    sparsity: Annotated[bool, typer.Option("--sparsity/--no-sparsity", help="Scan weights for zeros and 2:4 structure.")] = True,
    input_shape: Annotated[Optional[list[str]], typer.Option("--input-shape", help="For TorchScript/PyTorch files: an input shape, e.g. 1,3,224,224 (repeatable).")] = None,
    export_onnx: Annotated[Optional[Path], typer.Option("--export-onnx", help="PyTorch inputs: also export to this ONNX file and profile both.")] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow loading a pickled module (runs code from the file).")] = False,
    assume_upper_bound: AssumeUpperOpt = False,
) -> None:
    """Static profile: MACs, FLOPs (= 2 x MACs + other arithmetic), params, bytes moved, weight sparsity and
    operator coverage, per model and optionally per node. Exit 2 on usage errors, 1 if any model fails."""
    from ..manifest import expand_model_args
    from ..profile import profile_onnx
    from ..records import ModelProfile
    from ..report.serialize import to_csv, to_json
    from ..report.text import render_profiles

    from ..load.torch_fvcore import is_torch_spec

    torch_specs = [str(m) for m in models if is_torch_spec(str(m))]
    dims = parse_dims(dim or [])
    if batch is not None:
        from ..place import MAX_BATCH, check_number

        check_number("--batch", batch, 1, MAX_BATCH)
    paths = expand_model_args([m for m in models if not is_torch_spec(str(m))])
    shapes = [_parse_shape(s) for s in input_shape or []]
    results: list[ModelProfile] = []
    code = 0
    for spec in torch_specs:
        try:
            results += _profile_torch_spec(spec, shapes, trust_pickle, export_onnx, per_op, sparsity)
        except AnalyzerError as e:
            err.print(f"error: {e}")
            code = max(code, e.exit_code)
    for path in paths:
        try:
            results.append(profile_onnx(path, dims, batch, per_op=per_op, scan_sparsity=sparsity,
                                        assume_upper_bound=assume_upper_bound))
        except AnalyzerError as e:  # report and go on: one bad file must not lose the others' results
            msg = str(e)
            err.print(f"error: {msg if msg.startswith(str(path)) else f'{path}: {msg}'}")
            code = max(code, e.exit_code)
    if results:
        if fmt is Format.json:
            sys.stdout.write(to_json(results) + "\n")
        elif fmt is Format.csv:
            sys.stdout.write(to_csv(results, per_op))
        else:
            render_profiles(results, console(), per_op)
    raise typer.Exit(code)


def _parse_shape(text: str) -> list[int]:
    try:
        dims = [int(x) for x in text.split(",")]
    except ValueError:
        raise UsageError(f"--input-shape '{text}': expected integers separated by commas, e.g. 1,3,224,224") from None
    if not dims or any(d < 1 for d in dims):
        raise UsageError(f"--input-shape '{text}': every dim must be >= 1")
    return dims


def _profile_torch_spec(spec, shapes, trust_pickle, export_path, per_op, sparsity) -> list:
    """Profile a PyTorch module through fvcore; with --export-onnx also its ONNX export, with the per-op-type
    MAC differences on stderr."""
    from ..profile import profile_torch_spec

    profiles, comparison = profile_torch_spec(spec, shapes, trust_pickle, export_path, per_op, sparsity)
    for line in comparison:
        err.print(line)
    return profiles
