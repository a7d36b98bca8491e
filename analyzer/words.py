"""Numbers and ranges in plain words, for text a person reads first (the verdict, its reasons): "32 million"
rather than 3.19e+07, "1 to 100 million, log-uniform" rather than the command line's `1e+06..1e+08:log`.

One function per kind of figure, so a quantity printed in two places is printed the same way in both (the
verdict and the flip table say the break-even volume with `plain`, never once with `plain` and once with `%g`).
Pure functions of numbers; no I/O.
"""

from __future__ import annotations

import math

_LARGE = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"))
SIGNIFICANT = 2  # a count in millions or more: 32 million, 7.3 million (a headline figure)
SMALL_SIGNIFICANT = 3  # a figure under 100: as the tables print it (report/text.num), so both say the same


def _sig(x: float, digits: int) -> str:
    """x to `digits` significant figures, without an exponent, thousands separated, no trailing zeros."""
    if x == 0:
        return "0"
    exp = math.floor(math.log10(abs(x)))
    decimals = max(digits - 1 - exp, 0)
    r = round(x, decimals)
    if decimals == 0:
        # 2 significant figures of 1,455 are 1,500; of 727 are 730: a count under a million keeps its units digit
        return f"{r:,.0f}"
    return f"{r:,.{decimals}f}".rstrip("0").rstrip(".")


def plain(x: float | None, none: str = "n/a", digits: int = SIGNIFICANT) -> str:
    """A figure as a person says it: 32 million, 1.2 billion, 990, 2,910, 5.88, 0.0031; None as `none`.
    From a million up `digits` significant figures and a scale word; below, whole numbers from 100 up (990, 1,455),
    else three significant figures."""
    if x is None or not math.isfinite(x):
        return none
    a = abs(x)
    for f, word in _LARGE:
        if a >= f * 0.9995:  # 999,700 reads as 1 million, not 1,000 thousand
            return f"{_sig(x / f, max(digits, 1))} {word}"
    if a >= 100:
        return f"{round(x):,}"
    return _sig(x, SMALL_SIGNIFICANT)


def plain_range(low: float | None, high: float | None, none: str = "n/a", digits: int = SIGNIFICANT) -> str:
    """'7.3 to 150 million' (the scale word once when both ends share it), '394 to 3,337', 'at least 7.3 million'."""
    if low is None:
        return none
    if high is None:
        return f"at least {plain(low, none, digits)}"
    lo, hi = plain(low, none, digits), plain(high, none, digits)
    lw, hw = lo.rsplit(" ", 1), hi.rsplit(" ", 1)
    if len(lw) == 2 and len(hw) == 2 and lw[1] == hw[1] and lw[1] in {w for _, w in _LARGE}:
        return f"{lw[0]} to {hi}"
    return f"{lo} to {hi}"


_KIND = {"uniform": "uniform", "log-uniform": "log-uniform", "triangular": "triangular"}


def plain_dist(kind: str, low: float, high: float, mode: float | None = None, digits: int = SIGNIFICANT) -> str:
    """A stated scenario input in words: '10', '1 to 3', '1 to 100 million, log-uniform', '1 to 3, most likely 2'."""
    if kind == "fixed" or low == high:
        return plain(low, digits=digits)
    r = plain_range(low, high, digits=digits)
    if kind == "triangular" and mode is not None:
        return f"{r}, most likely {plain(mode, digits=digits)}"
    if kind == "uniform":
        return r
    return f"{r}, {_KIND.get(kind, kind)}"


def plain_dist_text(text: str, digits: int = SIGNIFICANT) -> str:
    """plain_dist of a scenario input's command-line text (`5e6`, `1e6..1e8`, `1e6..1e8:log`, `1..2..3`); text it
    cannot read is returned as it is (a record written by another version)."""
    t = text.strip()
    kind = "log-uniform" if t.endswith(":log") else "uniform"
    parts = t.removesuffix(":log").split("..")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        return text
    if len(nums) == 1:
        return plain(nums[0], digits=digits)
    if len(nums) == 2:
        return plain_dist(kind, nums[0], nums[1], digits=digits)
    if len(nums) == 3:
        return plain_dist("triangular", nums[0], nums[2], nums[1], digits=digits)
    return text


def parse_plain(text: str) -> float:
    """The number at the start of a plain figure ('32 million items/day' -> 3.2e7, '1,455 kgCO2e' -> 1455): the
    inverse of `plain`, for a reader of the printed text (and the tests that check it)."""
    parts = text.replace(",", "").split()
    x = float(parts[0])
    scale = {w: f for f, w in _LARGE}
    return x * scale[parts[1]] if len(parts) > 1 and parts[1] in scale else x
