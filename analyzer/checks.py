"""Validation of numeric parameters, the one rule every stage and command uses: finite, and within a stated
range. Errors name the parameter (errors.param), never a command-line flag. And the same rule for values read from
JSON files (a saved analysis, a search plan): a small schema (`check`) whose error names the field's path."""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError, echo, param


def _kind(value: Any) -> str:
    name = type(value).__name__
    return "text" if isinstance(value, str) else "None" if value is None else f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def check_number(name: str, value: float | int | None, low: float, high: float, *, low_open: bool = False) -> float:
    """`value` as a float when it is a finite real number (not a bool, not text) in [low, high] (or (low, high]);
    else a UsageError naming the parameter `name` and the range."""
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
        shown = "" if value is None else f" {echo(value)}"
        raise UsageError(f"{param(name)}{shown}: a number is required, not {_kind(value)}")
    try:
        v = float(value)
    except OverflowError:  # an integer beyond any float
        v = math.inf
    if not math.isfinite(v) or v > high or v < low or (low_open and v == low):
        rng = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise UsageError(f"{param(name)} {echo(value)}: must be a finite number in {rng}")
    return v


def check_int(name: str, value: int | None, low: int, high: int) -> int:
    """`value` when it is an integer (not a bool, not 2.5: a count is never rounded) in [low, high]; an integral float
    (2.0, as JSON may give it) is taken as its integer. Else a UsageError naming the parameter."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Integral):
        shown = "" if value is None else f" {echo(value)}"
        raise UsageError(f"{param(name)}{shown}: must be an integer from {low:,} to {high:,}, not {_kind(value)}")
    if not low <= value <= high:
        raise UsageError(f"{param(name)} {echo(value)}: must be an integer from {low:,} to {high:,}")
    return int(value)


def check_text(name: str, value: Any, choices: tuple[str, ...] | None = None, *, optional: bool = False) -> str | None:
    """`value` when it is text (and one of `choices`, if given); None too when `optional`."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise UsageError(f"{param(name)}{'' if value is None else ' ' + echo(value)}: must be text, not {_kind(value)}")
    if choices is not None and value not in choices:
        raise UsageError(f"{param(name)} '{echo(value)}': expected one of {', '.join(choices)}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{param(name)} {echo(value)}: must be True or False, not {_kind(value)}")
    return value


def check_path(name: str, value: Any) -> Path:
    """A file or folder named by text or a path (os.PathLike)."""
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes):
        text = os.fspath(value)
        if isinstance(text, str) and text and "\x00" not in text:
            return Path(text)
    raise UsageError(f"{param(name)} {echo(value)}: must be a path (text or a pathlib.Path), not {_kind(value)}")


def check_paths(name: str, value: Any) -> list[Path]:
    """Paths from a list or tuple of them, or one path (text or a pathlib.Path) as a list of one: a string is one
    path, never its characters."""
    if isinstance(value, (str, os.PathLike)):
        return [check_path(name, value)]
    if not isinstance(value, (list, tuple)):
        raise UsageError(f"{param(name)} {echo(value)}: must be a path or a list of paths, not {_kind(value)}")
    return [check_path(f"{name}", v) for v in value]


def check_instance(name: str, value: Any, cls: type | tuple[type, ...], what: str) -> Any:
    """`value` when it is a `cls`; else a UsageError saying what is expected (`what`: 'a ProfileSet, as
    load_profiles() returns')."""
    if not isinstance(value, cls):
        raise UsageError(f"{param(name)} {echo(value)}: must be {what}, not {_kind(value)}")
    return value


def check_keys(name: str, value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    """A dict whose keys are all among `allowed` (a misspelled key is refused with the closest, never ignored)."""
    import difflib

    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{param(name)} {echo(value)}: must be a dict of {', '.join(allowed)}, not {_kind(value)}")
    for k in value:
        if k not in allowed:
            close = difflib.get_close_matches(str(k), allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UsageError(f"{param(name)}: unknown key '{echo(k)}'{hint} (expected {', '.join(allowed)})")
    return value


def check_dims(name: str, value: Any, high: int) -> dict[str, int]:
    """Bindings of symbolic dims: a dict of name -> integer from 0 to `high` (None: none)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{param(name)} {echo(value)}: must be a dict of dim name -> integer, not {_kind(value)}")
    for k, v in value.items():
        check_text(name, k)
        check_int(name, v, 0, high)
    return value


MAX_EXACT_INT = 2 ** 53  # the largest integer every JSON reader holds exactly (a float's mantissa)
BIG = 1e40  # above any quantity a record holds (1e15 items a day for 1e15 deployments over years is 1e33)
TEXT, BOOL, ANY = str, bool, object  # schema entries: text, true/false, anything


@dataclass(frozen=True)
class Num:
    low: float = -BIG
    high: float = BIG
    integer: bool = False


@dataclass(frozen=True)
class Opt:
    spec: Any  # or None


@dataclass(frozen=True)
class List:
    spec: Any


@dataclass(frozen=True)
class Map:
    spec: Any  # text keys, each value to spec


@dataclass(frozen=True)
class Obj:
    fields: dict[str, Any]  # required keys; others allowed
    optional: dict[str, Any] | None = None  # keys that may be absent, checked where present


def wrong(at: str, value: Any, what: str) -> UsageError:
    shown = f"'{echo(value)}'" if isinstance(value, str) else echo(value) if not isinstance(value, (dict, list)) else \
        f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    return UsageError(f"{at} {shown}: {what}")


def check(value: Any, spec: Any, at: str) -> None:
    """Raise a UsageError naming `at` (the field's path) when `value` does not fit `spec`."""
    if spec is ANY:
        return
    if isinstance(spec, Opt):
        if value is not None:
            check(value, spec.spec, at)
    elif spec is TEXT:
        if not isinstance(value, str):
            raise wrong(at, value, "must be text")
    elif spec is BOOL:
        if not isinstance(value, bool):
            raise wrong(at, value, "must be true or false")
    elif isinstance(spec, Num):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and isinstance(value, int) and abs(value) > MAX_EXACT_INT:  # numpy makes such an int an object, not a float
            raise wrong(at, value, f"an integer beyond 2**53 is not exact in JSON: write it as a float ({float(value):g})")
        if not ok or not spec.low <= value <= spec.high or (spec.integer and value != int(value)):
            kind = "an integer" if spec.integer else "a number"
            fmt = (lambda x: f"{int(x):,}") if spec.integer and spec.high < 1e15 else (lambda x: f"{x:g}")
            raise wrong(at, value, f"must be {kind} from {fmt(spec.low)} to {fmt(spec.high)}")
    elif isinstance(spec, List):
        if not isinstance(value, list):
            raise wrong(at, value, "must be an array")
        for i, v in enumerate(value):
            check(v, spec.spec, f"{at}[{i}]")
    elif isinstance(spec, Map):
        if not isinstance(value, dict):
            raise wrong(at, value, "must be an object")
        for k, v in value.items():
            check(v, spec.spec, f"{at}.{k}")
    elif isinstance(spec, Obj):
        if not isinstance(value, dict):
            raise wrong(at, value, "must be an object")
        for k, sub in spec.fields.items():
            if k not in value:
                raise UsageError(f"{at}.{k}: missing" if at else f"{k}: missing")
            check(value[k], sub, f"{at}.{k}" if at else k)
        for k, sub in (spec.optional or {}).items():
            if k in value:
                check(value[k], sub, f"{at}.{k}" if at else k)
    else:  # pragma: no cover - a schema entry of an unknown kind is a bug here
        raise TypeError(spec)


