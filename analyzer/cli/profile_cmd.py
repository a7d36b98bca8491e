"""Command `profile`: the static profile of ONNX files and PyTorch modules. Parsing and rendering only."""

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import AnalyzerError, UsageError
from .base import AssumeUpperOpt, QuietOpt, MemoryLimitOpt, NoStoreOpt, OutputTokensOpt, PromptOpt, StoreOpt, TimeoutOpt, WideOpt, app, command, console, err, message, parse_dims, per_model

ProfilePhaseOpt = Annotated[Optional[str], typer.Option("--phase", help="A decoder exported with its KV cache: prefill (the prompt, empty cache) or decode (one token per step over the cache; with --output-tokens, a whole response).")]


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


@app.command()
@command
def profile(
    models: Annotated[list[Path], typer.Argument(help="ONNX files, or folders (a manifest.toml's models, else *.onnx); FILE.py:NAME (torch extra) runs FILE.py and profiles what NAME() returns: name only files you would run with python.")],
    dim: Annotated[Optional[list[str]], typer.Option("--dim", help="Bind a symbolic input dim: NAME=VALUE (repeatable).")] = None,
    batch: Annotated[Optional[int], typer.Option("--batch", min=1, help="Set the leading (batch) dim of every input, symbolic or fixed.")] = None,
    per_op: Annotated[bool, typer.Option("--per-op", help="Include one record per node.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    sparsity: Annotated[bool, typer.Option("--sparsity/--no-sparsity", help="Scan weights for zeros and 2:4 structure.")] = True,
    input_shape: Annotated[Optional[list[str]], typer.Option("--input-shape", help="For TorchScript/PyTorch files: an input shape, e.g. 1,3,224,224 (repeatable).")] = None,
    export_onnx: Annotated[Optional[Path], typer.Option("--export-onnx", help="PyTorch inputs: also export to this ONNX file and profile both.")] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow loading a pickled module (runs code from the file).")] = False,
    assume_upper_bound: AssumeUpperOpt = False, quiet: QuietOpt = False,
    timeout: TimeoutOpt = 60.0,
    memory_limit: MemoryLimitOpt = 2048.0,
    phase: ProfilePhaseOpt = None,
    prompt_tokens: PromptOpt = None,
    output_tokens: OutputTokensOpt = None,
    symbolic: Annotated[bool, typer.Option("--symbolic", help="MACs, FLOPs and bytes as exact polynomials in the input dims left free (not bound by --dim or --batch), overall and per operator type.")] = False,
    store: StoreOpt = None, no_store: NoStoreOpt = False, wide: WideOpt = False,
) -> None:
    """Static profile: MACs, FLOPs (= 2 x MACs + other arithmetic), params, bytes moved, weight sparsity and
    operator coverage, per model and optionally per node. Exit 2 on usage errors, 1 if any model fails."""
    from ..load.manifest import expand_model_args
    from ..load.torch_fvcore import is_torch_spec
    from ..records import ModelProfile
    from ..report.safe import terminal_lines
    from ..report.serialize import to_csv, to_json

    torch_specs = [str(m) for m in models if is_torch_spec(str(m))]
    dims = parse_dims(dim or [])
    if batch is not None:
        from ..checks import check_int
        from ..units import MAX_BATCH

        check_int("batch", batch, 1, MAX_BATCH)
    paths = expand_model_args([m for m in models if not is_torch_spec(str(m))])
    if symbolic:
        _symbolic(paths, dims, batch, fmt, assume_upper_bound, bool(torch_specs))
    phase_notes: list[str] = []
    prompt, out_tokens = 0, None
    if phase is not None or prompt_tokens is not None or output_tokens is not None:  # else a plain profile: no
        from ..target import resolve_phase  # import of target/ and profiles/ (~25 ms of every start)

        ph, phase_notes = resolve_phase(phase, prompt_tokens, output_tokens)
        if ph.kind == "train":
            raise UsageError("profile --phase: prefill or decode (a training step is projected: project --phase train)")
        phase = None if ph.kind == "inference" else ("decode" if ph.kind == "response" else ph.kind)
        prompt, out_tokens = ph.prompt_tokens or 0, ph.output_tokens
    shapes = [_parse_shape(s) for s in input_shape or []]
    results: list[ModelProfile] = []
    code = 0
    for spec in torch_specs:
        try:
            results += _profile_torch_spec(spec, shapes, trust_pickle, export_onnx, per_op, sparsity)
        except AnalyzerError as e:
            err.print(f"error: {message(e)}")
            code = max(code, e.exit_code)
    kw = dict(per_op=per_op, scan_sparsity=sparsity, assume_upper_bound=assume_upper_bound)
    if phase is None:
        profiled, failed = _pipelined(paths, lambda path: _remembered(path, dims, batch, kw), fmt)
    else:
        profiled, failed = per_model(paths, lambda path: _phase_profile(path, phase, prompt, out_tokens, batch or 1, dims,
                                                                        phase_notes, kw))
    results += profiled
    code = max(code, failed)
    from .runlog import record_run

    record_run("profile", {"models": [str(m) for m in models], "batch": batch, "dims": dims, "phase": phase},
               {"profiled": len(results), "failed": len(paths) + len(torch_specs) - len(results),
                "macs": {r.model: r.macs for r in results[:20]}}, store, no_store)
    if results:
        if fmt is Format.json:
            sys.stdout.write(to_json(results) + "\n")
        elif fmt is Format.csv:
            text = to_csv(results, per_op)
            sys.stdout.write(terminal_lines(text) if sys.stdout.isatty() else text)  # names' control codes, shown
        else:
            from ..report.text import render_profiles

            render_profiles(results, console(wide), per_op, quiet)
    raise typer.Exit(code)


def _pipelined(paths: list[Path], fn, fmt: "Format") -> tuple[list, int]:
    """per_model(paths, fn), with the models profiled two at a time on threads when there are several: one model's
    weight scan (numpy and the file reads release the GIL) and its wait for the shape-inference worker overlap the
    next model's parsing, and the renderer is imported meanwhile. Results, errors and their order are per_model's:
    each model's outcome is taken in the order given. Each thread runs in a copy of this context (the --timeout and
    --memory-limit of load/guard.py are context variables)."""
    if len(paths) < 2:
        return per_model(paths, fn)
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(2)
    try:
        futures = {id(path): pool.submit(contextvars.copy_context().run, fn, path) for path in paths}
        if fmt is Format.table:  # imported while the models are read, not after
            from ..report import text  # noqa: F401
        return per_model(paths, lambda path: futures[id(path)].result())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # on the normal path every future is done by now


def _remembered(path: Path, dims: dict[str, int], batch: int | None, kw: dict):
    """The profile of `path`, read back (load/profile_memo.py) when the file, the options and the code are unchanged:
    then neither onnx nor numpy is imported. Per-operator profiles are not remembered (they are large)."""
    from ..load import profile_memo
    from ..records import ModelProfile

    options = {"dims": dims, "batch": batch, **kw}
    if not kw["per_op"]:
        hit = profile_memo.lookup(path, options)
        if hit is not None:
            return ModelProfile.from_dict(hit)
    from ..count import profile_onnx
    from ..count.profile import ReadOptions

    deps: list[Path] = []
    p = profile_onnx(path, dims, batch, reading=ReadOptions(files_read=deps), **kw)
    if not kw["per_op"]:
        profile_memo.remember(path, options, p.to_dict(), deps)
    return p


def _phase_profile(path: Path, phase: str, prompt: int, out_tokens: int | None, batch: int, dims: dict[str, int],
                   notes: list[str], kw: dict):
    """The profile of one forward of the phase; with --output-tokens the response's exact MACs in its notes."""
    from ..count import profile_onnx
    from ..count.decoder import phase_profile, response_macs

    p = phase_profile(path, phase, prompt, None, batch, dims, profile_onnx, **kw)
    p.notes[:0] = notes
    if out_tokens is not None:
        r = response_macs(path, prompt, out_tokens, batch, dims, profile_onnx, scan_sparsity=False, hash_file=False)
        p.notes.append(f"a response of {out_tokens} tokens after {prompt}: {r['macs_per_response']:,.0f} MACs per sequence "
                       f"(prefill {r['prefill_macs']:,.0f}; decode {r['decode_macs_first_step']:,.0f} per token at the first "
                       f"step, {r['decode_macs_last_step']:,.0f} at the last); the cache holds "
                       f"{r['cache_bytes_per_cached_token']:,.0f} bytes per cached token per sequence (as exported)")
    return p


def _symbolic(paths: list[Path], dims: dict[str, int], batch: int | None, fmt: Format, assume_upper_bound: bool,
              torch_specs: bool) -> None:
    from ..report.symbolic_text import render_symbolic
    from ..count.symbolic import cost_formulas

    if torch_specs or fmt is Format.csv:
        raise UsageError("--symbolic takes ONNX files and writes a table or JSON")
    results, code = per_model(paths, lambda path: cost_formulas(path, dims, batch, assume_upper_bound=assume_upper_bound))
    if results and fmt is Format.json:
        from .base import print_json

        print_json([r.to_dict() for r in results])
    elif results:
        render_symbolic([r.to_dict() for r in results], console())
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
    from ..count.profile import profile_torch_spec

    profiles, comparison = profile_torch_spec(spec, shapes, trust_pickle, export_path, per_op, sparsity)
    for line in comparison:
        err.print(line)
    return profiles
