"""The typer app, the options commands share, and the one error decorator: an AnalyzerError becomes one line
on stderr and its exit code (2 usage, 1 analysis), in every command the same way."""

import functools
import math
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, NoReturn, Optional

import typer
from rich.console import Console

from .. import __version__
from ..errors import AnalyzerError, UsageError, param, shorten
from ..report.safe import SafeConsole
from . import click_errors  # noqa: F401 (click's usage errors as one line)
from .flags import _COMMAND_FLAGS, flag_of, message, once_group, option_flags  # noqa: F401 (flag_of, message: for commands)

app = typer.Typer(help="nas-analyzer: what a model costs in compute, energy and carbon, and whether a NAS pays off.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False, rich_markup_mode=None,
                  cls=once_group())  # a single-valued option given twice is refused (cli/flags.py)
# user text (file, model, node names) reaches the terminal escaped (report/safe.py): one error line stays one line
class _ErrConsole(SafeConsole):
    """stderr: what the CLI says about errors, each line escaped (report/safe.py) and cut where a value runs long
    (errors.shorten): a one-line error stays one readable line whatever the user typed."""

    def render_str(self, text: str, **kwargs: Any):  # type: ignore[override]
        return super().render_str(shorten(text), **kwargs)


err = _ErrConsole(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

class OutFormat(str, Enum):
    table = "table"
    json = "json"


ProfilesOpt = Annotated[Optional[list[Path]], typer.Option("--profiles", help="Extra profile folder (hardware/, datacenter/, region/ inside); overrides shipped profiles by name. Repeatable.")]
FormatOpt = Annotated[OutFormat, typer.Option("--format", help="Output format.")]
StoreOpt = Annotated[Optional[Path], typer.Option("--store", help="Results store (SQLite; default: the user cache).")]
NoStoreOpt = Annotated[bool, typer.Option("--no-store", help="Neither read nor write the results store.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no notes.")]
# The serving default (profiles/defaults.toml [serving]) fills every target option not given; the output says which.
HardwareOpt = Annotated[Optional[str], typer.Option("--hardware", help="Target hardware profile or alias (see `profiles list hardware`; default: the serving default, h100, the calibrated H100 SXM).")]
DtypeOpt = Annotated[Optional[str], typer.Option("--dtype", help="fp32, tf32, fp16, bf16, int8, or fp8 for a served decoder (default: the serving default, fp16, else the hardware's first of bf16, tf32, fp32; training: its first of bf16, fp16, tf32, fp32).")]
BatchOpt = Annotated[Optional[int], typer.Option("--batch", help="Batch size, 1 to 1,048,576 (default: the serving default, 64; a training step 1).")]
RuntimeOpt = Annotated[Optional[str], typer.Option("--runtime", help="eager (PyTorch), graph (CUDA-graph replay) or ort (ONNX Runtime) (default: the serving default, graph; ort on a CPU).")]
PueOpt = Annotated[Optional[float], typer.Option("--pue", help="Datacenter PUE where it runs (1 to 5).")]
DatacenterOpt = Annotated[Optional[str], typer.Option("--datacenter", help="Datacenter profile where it runs (its PUE).")]
GridOpt = Annotated[Optional[float], typer.Option("--grid-gco2e-per-kwh", help="Grid carbon intensity where it runs (0 to 2000 gCO2e/kWh).")]
RegionOpt = Annotated[Optional[str], typer.Option("--region", help="Region profile NAME[@YEAR] where it runs (its grid intensity).")]
HardwaresOpt = Annotated[Optional[str], typer.Option("--hardware", help="Target hardware profile(s) or alias(es); several, comma-separated (h100,a100,l4), give a row per (candidate, target) in one table (see `profiles list hardware`; default: the serving default, h100, the calibrated H100 SXM).")]
RegionsOpt = Annotated[Optional[str], typer.Option("--region", help="Region profile(s) NAME[@YEAR] where it runs (its grid intensity); several, comma-separated: a row per (candidate, site).")]
NetOpt = Annotated[bool, typer.Option("--net", help="Use the region's CFE-net intensity: gross x (1 - CFE share).")]
BatchNormOpt = Annotated[str, typer.Option("--batch-norm", help="auto: where PyTorch runs the network (eager, graph, training), unfold batch norms an inference export folded into its convolutions (detected, said in a note); as-exported: project the graph as it is; present: the network has a batch norm after every convolution over feature maps (an untrained export erased them: a note says when it looks so).")]
MemoryFormatOpt = Annotated[str, typer.Option("--memory-format", help="PyTorch's tensor layout on a GPU: nchw (the default) or channels-last (model.to(memory_format=torch.channels_last), as NVIDIA's DeepLearningExamples run mixed precision): no layout transforms around cuDNN convolutions, batch norm in one persistent kernel. Refused for ONNX Runtime, CPUs and decoders, which run NCHW.")]
AssumeUpperOpt = Annotated[bool, typer.Option("--assume-upper-bound", help="Where a size depends on input values (NonZero, Unique, Compress, NMS), cost the largest case: every element selected.")]
PhaseOpt = Annotated[Optional[str], typer.Option("--phase", help="A decoder exported with its KV cache: prefill (the prompt, empty cache) or decode (one token per step over the cache; with --output-tokens, a whole response). serving: a decoder's config.json served as vLLM serves it (continuous batching, chunked prefill, paged KV cache), per output token and per request. For `project`, also train: one training step (forward, backward, optimizer) per sample.")]
OptimizerOpt = Annotated[Optional[str], typer.Option("--optimizer", help="With --phase train: sgd, sgd-momentum (the default), adam, adamw, rmsprop, rmsprop-momentum or adagrad (PyTorch's foreach implementation).")]
PromptOpt = Annotated[Optional[int], typer.Option("--prompt-tokens", help="Prompt length for --phase (default 128, said in the output); with serving, the mean prompt (default 500).")]
OutputTokensOpt = Annotated[Optional[int], typer.Option("--output-tokens", help="Tokens generated per response for --phase decode: energy per token and per response; with serving, the mean output (default 300).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds one model's parsing and shape inference may take (1 to 86,400); an untrusted file cannot hang the tool.")]
MemoryLimitOpt = Annotated[float, typer.Option("--memory-limit", help="MB one model's shape inference may add to the process (64 to 1,048,576).")]
UtilizationOpt = Annotated[Optional[float], typer.Option("--utilization", help="Busy share of the hardware (0-1]: its idle time and embodied share are charged per item (default 0.8, profiles/defaults.toml [serving]).")]
PowerBoundaryOpt = Annotated[Optional[str], typer.Option("--power-boundary", help="chip, or server: the chip and its host's share, for serving and search alike (default server, profiles/defaults.toml [boundary]).")]
EmbodiedBoundaryOpt = Annotated[Optional[str], typer.Option("--embodied-boundary", help="chip, card, or server: the card and its share of the server (the default), for serving and search alike.")]


def fail(e: AnalyzerError) -> NoReturn:
    err.print(f"error: {message(e)}")
    raise typer.Exit(e.exit_code)


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A command body: every float option must be finite (click's ranges let NaN through), and an
    AnalyzerError becomes one line and its exit code, its parameters named by the command's flags. Nothing else
    is caught here."""
    flags: dict[str, str] = {}

    def command_flags() -> dict[str, str]:
        if not flags:
            flags.update(option_flags(fn))
        return flags

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        _COMMAND_FLAGS.append(command_flags)
        try:
            for name, value in kwargs.items():
                for x in value if isinstance(value, (list, tuple)) else (value,):
                    if isinstance(x, float) and not math.isfinite(x):
                        raise UsageError(f"{param(name)} {x}: must be a finite number")
            if "timeout" in kwargs or "memory_limit" in kwargs:
                return _with_limits(fn, args, kwargs)
            return fn(*args, **kwargs)
        except AnalyzerError as e:
            fail(e)
        finally:
            _COMMAND_FLAGS.pop()
    return run


def _with_limits(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Run a command that loads models under its --timeout and --memory-limit (analyzer/load/guard.py)."""
    from ..checks import check_number
    from ..load import guard
    timeout = check_number("timeout", kwargs.get("timeout", guard.Limits.timeout_s), 1, 86_400)
    memory = check_number("memory_limit", kwargs.get("memory_limit", guard.Limits.memory_mb), 64, 1 << 20)
    with guard.limits(timeout_s=timeout, memory_mb=memory):
        return fn(*args, **kwargs)


WIDTH = 80  # tables and text fit an ordinary terminal; --wide lifts it
WideOpt = Annotated[bool, typer.Option("--wide", help="Tables as wide as their content, with every row and column (default: fit 80 columns).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Every note, grouped (default: only the notes the verdict and the tables do not already say).")]


def console(wide: bool = False) -> Console:
    """stdout for tables: 80 columns (fewer where COLUMNS or the terminal says fewer), or as wide as the content
    with --wide. User text (file names, notes) is never markup, emoji or control codes (SafeConsole)."""
    c = SafeConsole(highlight=False, emoji=False)
    c.width = 1000 if wide else min(c.width, WIDTH)
    return c


def load(dirs: list[Path] | None):
    from ..profiles import load_profiles

    return load_profiles(tuple(Path(d) for d in dirs or ()))


def print_json(obj: Any) -> None:
    """Machine-clean JSON on stdout: never NaN or Infinity. A value with no finite value becomes null, and a
    note on stderr names it (a backstop: the library validates what it computes)."""
    from ..report.serialize import finite_json

    text, bad = finite_json(obj)
    sys.stdout.write(text + "\n")
    if bad:
        err.print(f"note {len(bad)} value(s) had no finite value and are null: {', '.join(bad[:5])}")


def per_model(paths: list[Path], fn: Callable[[Path], Any]) -> tuple[list[Any], int]:
    """fn(path) for each model: the results, and the worst exit code. A failure is one line on stderr naming
    the model, and the others still count: one bad file must not lose the others' results."""
    from ..errors import naming

    results, code = [], 0
    for path in paths:
        try:
            results.append(fn(path))
        except AnalyzerError as e:
            err.print(f"error: {message(naming(e, str(path)))}")
            code = max(code, e.exit_code)
    return results, code


def report_errors(messages: list[str]) -> None:
    for m in messages:
        err.print(f"error: {m}")


def raise_failed(evaluation: Any) -> NoReturn:
    """A failed evaluation's error, raised again (its parameters still marked, its exit code kept)."""
    e = AnalyzerError(evaluation.error)
    e.exit_code = evaluation.exit_code
    raise e


def report_failed(evaluations: list[Any]) -> int:
    """One line per evaluation that failed (its parameters named by their flags); the worst exit code."""
    for e in evaluations:
        err.print(f"error: {e.error_text(flag_of)}")
    return max((e.exit_code for e in evaluations), default=0)


_DIM = re.compile(r"^([A-Za-z_][\w.\-/:]*)=([0-9]+)$")


def parse_dims(items: list[str]) -> dict[str, int]:
    dims: dict[str, int] = {}
    for item in items:
        m = _DIM.match(item.strip())
        if not m or not 1 <= int(m.group(2)) <= 1 << 31:
            raise UsageError(f"{param('dim')} '{item}': expected NAME=VALUE with an integer VALUE from 1 to 2^31")
        dims[m.group(1)] = int(m.group(2))
    return dims


def _version(value: bool) -> None:
    if value:
        print(f"nas-analyzer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False) -> None:
    pass
