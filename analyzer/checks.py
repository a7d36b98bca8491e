"""Validation of numeric parameters, the one rule every stage and command uses: finite, and within a stated
range. Errors name the parameter (errors.param), never a command-line flag. And the same rule for values read from
JSON files (a saved analysis, a search plan): a small schema (`check`) whose error names the field's path."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import UsageError, param


def check_number(name: str, value: float | int | None, low: float, high: float, *, low_open: bool = False) -> float:
    """`value` as a float when it is finite and in [low, high] (or (low, high]); else a UsageError naming the
    parameter `name` and the range."""
    if value is None or isinstance(value, bool):
        raise UsageError(f"{param(name)}: a number is required")
    v = float(value)
    if not math.isfinite(v) or v > high or v < low or (low_open and v == low):
        if isinstance(value, int) and float(low).is_integer() and float(high).is_integer():
            raise UsageError(f"{param(name)} {value}: must be an integer from {int(low) + low_open:,} to {int(high):,}")
        rng = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise UsageError(f"{param(name)} {value}: must be a finite number in {rng}")
    return v


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
    shown = repr(value) if not isinstance(value, (dict, list)) else f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    return UsageError(f"{at} {shown[:60]}: {what}")


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


