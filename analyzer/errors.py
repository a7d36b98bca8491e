"""One error hierarchy. The library raises these; only the CLI turns them into one line and an exit code.

Messages speak of parameters, not of command-line flags: a parameter's name is written with `param(name)`,
which the library prints as the name itself (`batch 0: must be ...`) and the CLI as the flag that sets it
(`--batch 0: must be ...`, cli/base.py), so the library reads the same without the CLI's words.
"""

from __future__ import annotations

import re
from typing import Callable

_MARK = "\x1f"  # ASCII unit separator: never in a user's text that reaches a message unescaped
_PARAM = re.compile(f"{_MARK}([A-Za-z_][A-Za-z0-9_]*){_MARK}")


def param(name: str) -> str:
    """A parameter's name inside an error message (see the module docstring)."""
    return f"{_MARK}{name}{_MARK}"


def render(message: str, flag_of: Callable[[str], str] | None = None) -> str:
    """A message with its parameters written as their names, or as `flag_of(name)`."""
    return _PARAM.sub(lambda m: flag_of(m.group(1)) if flag_of else m.group(1), message)


ECHO_CHARS = 60  # the most of a user's value an error message repeats


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """A user's value as an error message repeats it: text as it is, anything else as its repr, cut to `limit`
    characters with the length said (a 20 MB value is not echoed whole), a container by its type and size, and an
    integer too long to print (Python's int-string limit) by its size in bits. Every message that quotes user input
    goes through here."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of {value.bit_length():,} bits>"
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return f"<a {type(value).__name__} of {len(value):,} items>"
    if isinstance(value, (str, bytes)):
        head = value[: limit + 1]
        text = head if isinstance(head, str) else repr(head)
    else:
        try:
            text = repr(value)
        except Exception:  # noqa: BLE001 - a user's object whose repr fails is still named
            text = f"<a {type(value).__name__}>"
    if len(text) > limit or (isinstance(value, (str, bytes)) and len(value) > limit):
        return f"{text[:limit]}... ({len(value) if isinstance(value, (str, bytes)) else len(text):,} characters)"
    return text


_LONG_TOKEN = re.compile(r"\S{%d,}" % (4 * ECHO_CHARS))


def shorten(message: str) -> str:
    """A message with every run of text too long to read (a value echoed by code that did not use `echo`: a path, a
    library's own message) cut as `echo` cuts it: the CLI prints every error line through this, so one line is one
    screen line, not 20 MB."""
    if len(message) <= 4 * ECHO_CHARS:
        return message
    return _LONG_TOKEN.sub(lambda m: echo(m.group(0), 2 * ECHO_CHARS), message)


class AnalyzerError(Exception):
    """A problem with the user's input or environment that the user can fix. Exit code 1 (analysis)."""

    exit_code = 1

    @property
    def message(self) -> str:
        """The message as raised, its parameters still marked (what travels between processes)."""
        return str(self.args[0]) if self.args else ""

    def params(self) -> list[str]:
        return _PARAM.findall(self.message)

    def render(self, flag_of: Callable[[str], str] | None = None) -> str:
        return render(self.message, flag_of)

    def __str__(self) -> str:
        return self.render()


def naming(e: AnalyzerError, subject: str) -> AnalyzerError:
    """The error with its message starting with `subject` (a model's path), its exit code kept."""
    if str(e).startswith(subject):
        return e
    out = AnalyzerError(f"{subject}: {e.message}")
    out.exit_code = e.exit_code
    return out


class UsageError(AnalyzerError):
    """The command line itself is wrong (bad flag value, missing file). Exit code 2."""

    exit_code = 2


class ModelLoadError(AnalyzerError):
    """The model file cannot be read as a valid ONNX model."""


class ExternalDataError(ModelLoadError):
    """External weight data is missing, truncated, or lies outside the model's folder."""


class UnboundDimError(AnalyzerError):
    """A count needs a dimension that is still symbolic or unknown."""

    def __init__(self, dims: list[str], where: str = "") -> None:
        self.dims = sorted(set(dims))
        # ONNX names the dims it cannot infer unk__N: not the user's to bind, so never suggested as a flag
        named = [d for d in self.dims if d and not d.startswith("?") and not _GENERATED_DIM.match(d)]
        place = f" at {where}" if where else ""
        if named:
            flags = " ".join(f"{param('dim')} {d}=N" for d in named)
            msg = f"unbound dims {', '.join(named)}{place}; bind with {flags} or {param('batch')} N for the leading (batch) dim"
        else:  # no name to bind: shape inference could not determine these shapes
            msg = (f"unknown shape{place}: neither shape inference nor evaluating the graph's shape computations "
                   "determined it from the input dims")
        super().__init__(msg)


_GENERATED_DIM = re.compile(r"^(unk__\d+|\?.*)$")


class ShapeError(AnalyzerError):
    """Shapes are inconsistent or an operator's inputs do not fit its specification."""


class WireError(ModelLoadError):
    """The file is not a well-formed ONNX protobuf at the wire level."""


class ProfileError(AnalyzerError):
    """A profile file is malformed."""


class UnknownProfileError(ProfileError):
    """A profile name (hardware, datacenter, region, search preset) is unknown: the command line is wrong. Exit 2."""

    exit_code = 2


class StoreError(AnalyzerError):
    """The results store cannot be used (corrupt, from a newer tool, unwritable)."""


class MeterUnavailable(AnalyzerError):
    """No energy counter can be read here; the message is the reason, reported as energy_source."""


class RuntimeFailure(AnalyzerError):
    """ONNX Runtime could not load or run the model."""


class InputError(AnalyzerError):
    """Inputs cannot be synthesised or do not match the model."""


class ResourceLimitError(AnalyzerError):
    """Analysing an untrusted model hit the time or memory limit (load/guard.py)."""
