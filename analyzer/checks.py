"""Validation of numeric parameters, the one rule every stage and command uses: finite, and within a stated
range. Errors name the parameter (errors.param), never a command-line flag."""

from __future__ import annotations

import math

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
