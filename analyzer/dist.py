"""Scenario inputs that may be uncertain: a number, a uniform or log-uniform range, or a triangle; and, built in
code, a mixture (one of several readings of a published record, equally likely) and a product of independent
factors (a search's chip-hours x its power x its site's PUE and grid).

Text forms (command line): `5e6` (fixed), `1e6..1e8` (uniform), `1e6..1e8:log` (log-uniform),
`1e6..5e6..1e8` (triangular with mode 5e6). Sampling is seeded and vectorised (numpy)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .errors import UsageError, param

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


@dataclass(frozen=True)
class Dist:
    kind: str  # fixed | uniform | log-uniform | triangular | lognormal | mixture | product (see `mixture`, `product`)
    low: float  # lognormal, mixture, product: the 5th and 95th percentiles
    high: float
    mode: float | None = None  # triangular, lognormal: the mode; mixture, product: the point estimate
    parts: tuple["Dist", ...] = ()  # mixture: the readings, equally likely; product: the factors

    @property
    def point(self) -> float:
        """The point estimate: the value, the midpoint, the geometric midpoint, or the mode."""
        if self.kind == "fixed":
            return self.low
        if self.kind == "log-uniform":
            return math.sqrt(self.low * self.high)
        if self.kind in ("triangular", "lognormal", "mixture", "product"):
            return float(self.mode)  # type: ignore[arg-type]
        return (self.low + self.high) / 2

    @property
    def is_range(self) -> bool:
        return self.kind != "fixed"

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "mixture":
            draws = np.stack([p.sample(rng, n) for p in self.parts])
            return draws[rng.integers(0, len(self.parts), n), np.arange(n)]
        if self.kind == "product":
            out = np.ones(n)
            for p in self.parts:
                out = out * p.sample(rng, n)
            return out
        if self.kind == "fixed" or self.low == self.high:
            return np.full(n, self.low if self.kind != "triangular" else float(self.mode))
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high, n)
        if self.kind == "log-uniform":
            return np.exp(rng.uniform(math.log(self.low), math.log(self.high), n))
        if self.kind == "lognormal":
            sigma = math.log(self.high / self.low) / (2 * Z90)
            return np.exp(rng.normal(math.log(float(self.mode)), sigma, n))  # type: ignore[arg-type]
        return rng.triangular(self.low, float(self.mode), self.high, n)

    def text(self) -> str:
        if self.kind == "mixture":
            return f"one of {len(self.parts)} readings: " + " | ".join(p.text() for p in self.parts)
        if self.kind == "product":
            return f"{self.mode:g} (90% {self.low:g}..{self.high:g})"
        if self.kind == "fixed":
            return f"{self.low:g}"
        if self.kind == "lognormal":
            return f"{self.mode:g} (lognormal, 90% {self.low:g}..{self.high:g})"
        if self.kind == "triangular":
            return f"{self.low:g}..{self.mode:g}..{self.high:g}"
        return f"{self.low:g}..{self.high:g}" + (":log" if self.kind == "log-uniform" else "")


Z90 = 1.6448536269514722  # the standard normal's 95th percentile: a 90% band is +-Z90 sigma


def fixed(v: float) -> Dist:
    return Dist("fixed", float(v), float(v))


_SPAN_DRAWS = 20_000  # draws behind a mixture's or product's stated 5th-95th percentiles (seeded: reproducible)


def _span(kind: str, parts: tuple[Dist, ...], point: float) -> Dist:
    d = Dist(kind, 0.0, 0.0, point, parts)
    lo, hi = np.percentile(d.sample(np.random.default_rng(0), _SPAN_DRAWS), [5, 95])
    return Dist(kind, float(lo), float(hi), point, parts)


def mixture(parts: list[Dist]) -> Dist:
    """One of several readings, equally likely (a published record read two ways); point: their geometric mean."""
    if len(parts) == 1:
        return parts[0]
    return _span("mixture", tuple(parts), float(math.exp(np.mean([math.log(p.point) for p in parts]))))


def product(parts: list[Dist]) -> Dist:
    """The product of independent factors; point: the product of their points."""
    parts = [p for p in parts if p.is_range or p.point != 1.0]
    if len(parts) == 1:
        return parts[0]
    return _span("product", tuple(parts), float(np.prod([p.point for p in parts])))


MAXIMUM = 1e15  # no scenario value is larger; products of a few such values stay far from float overflow


def parse_dist(text: str, name: str, *, minimum: float = 0.0, allow_zero: bool = True, maximum: float = MAXIMUM) -> Dist:
    """Parse a scenario value; errors name the parameter `name` and say what is wrong."""
    t = str(text).strip()
    log = t.endswith(":log")
    if log:
        t = t[:-4]
    parts = t.split("..")
    if not all(re.fullmatch(_NUM, p.strip()) for p in parts) or len(parts) > 3:
        raise UsageError(f"{param(name)} '{text}': expected a number, LOW..HIGH, LOW..HIGH:log or LOW..MODE..HIGH")
    vals = [float(p) for p in parts]
    for v in vals:
        if not math.isfinite(v) or v < minimum or (v == 0 and not allow_zero) or v > maximum:
            raise UsageError(f"{param(name)} '{text}': values must be finite, {'>' if not allow_zero else '>='} {minimum:g} and <= {maximum:g}")
    if len(vals) == 1:
        if log:
            raise UsageError(f"{param(name)} '{text}': ':log' needs a range LOW..HIGH")
        return fixed(vals[0])
    if vals[0] > vals[-1]:
        raise UsageError(f"{param(name)} '{text}': the range's low {vals[0]:g} is above its high {vals[-1]:g}")
    if len(vals) == 3:
        if log:
            raise UsageError(f"{param(name)} '{text}': ':log' applies to LOW..HIGH ranges only")
        if not vals[0] <= vals[1] <= vals[2]:
            raise UsageError(f"{param(name)} '{text}': the mode {vals[1]:g} must lie between {vals[0]:g} and {vals[2]:g}")
        return Dist("triangular", vals[0], vals[2], vals[1])
    if log and vals[0] <= 0:
        raise UsageError(f"{param(name)} '{text}': a log-uniform range needs LOW > 0")
    return Dist("log-uniform" if log else "uniform", vals[0], vals[1])


def band(value: float, sigma: float) -> dict[str, float]:
    """The 90% band of a lognormal error of log-sigma `sigma` around `value`: value / f .. value x f, f = exp(Z90 sigma)."""
    f = math.exp(Z90 * sigma)
    return {"low": value / f, "high": value * f}
