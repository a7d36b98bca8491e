"""Exact polynomials in a few named variables, and their interpolation from values on a grid.

A model's MACs, FLOPs and bytes at bound input dims are integers; as functions of the free dims they are
polynomials (a transformer's in batch x seq and batch x seq^2). Interpolating exact values on a tensor grid
of (degree + 1) points per variable recovers the coefficients exactly (rational arithmetic, no fitting):
`interpolate` returns the unique polynomial of those degrees through the values.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import product
from typing import Callable, Sequence

Exponents = tuple[int, ...]


@dataclass(frozen=True)
class Poly:
    variables: tuple[str, ...]
    terms: tuple[tuple[Exponents, Fraction], ...]  # nonzero coefficients, highest total degree first

    @staticmethod
    def of(variables: Sequence[str], coeffs: dict[Exponents, Fraction]) -> "Poly":
        kept = [(e, Fraction(c)) for e, c in coeffs.items() if c != 0]
        kept.sort(key=lambda ec: (-sum(ec[0]), tuple(-x for x in ec[0])))
        return Poly(tuple(variables), tuple(kept))

    def __call__(self, values: dict[str, int] | Sequence[int]) -> Fraction:
        xs = [values[v] for v in self.variables] if isinstance(values, dict) else list(values)
        total = Fraction(0)
        for exps, c in self.terms:
            term = c
            for x, e in zip(xs, exps):
                term *= Fraction(x) ** e
            total += term
        return total

    def degree(self, variable: str) -> int:
        i = self.variables.index(variable)
        return max((e[i] for e, _ in self.terms), default=0)

    def text(self, number: Callable[[Fraction], str] | None = None) -> str:
        """'18,432·batch·seq² + 84,935,424·batch·seq + 589,824·batch' (exact integers, or p/q)."""
        fmt = number or _exact
        if not self.terms:
            return "0"
        parts = []
        for exps, c in self.terms:
            names = [v + _sup(e) for v, e in zip(self.variables, exps) if e]
            mag = fmt(abs(c))
            body = "·".join(([mag] if mag != "1" or not names else []) + names)
            parts.append(("- " if c < 0 else "+ ") + body)
        s = " ".join(parts)
        return s[2:] if s.startswith("+ ") else "-" + s[2:]

    def to_dict(self) -> dict:
        return {"terms": [{"coefficient": _json_number(c), **({"coefficient_exact": f"{c.numerator}/{c.denominator}"}
                                                             if c.denominator != 1 else {}),
                           "powers": {v: e for v, e in zip(self.variables, exps) if e}} for exps, c in self.terms],
                "text": self.text()}


def _json_number(c: Fraction) -> int | float:
    return c.numerator if c.denominator == 1 else float(c)


def _exact(c: Fraction) -> str:
    return f"{c.numerator:,}" if c.denominator == 1 else f"{c.numerator:,}/{c.denominator:,}"


_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sup(e: int) -> str:
    return "" if e == 1 else str(e).translate(_SUPERSCRIPTS)


def interpolate_1d(xs: Sequence[int], ys: Sequence[Fraction]) -> list[Fraction]:
    """Monomial coefficients c0..cd of the polynomial of degree <= len(xs)-1 through (xs, ys), exactly
    (Newton's divided differences, then expanded)."""
    n = len(xs)
    coef = [Fraction(y) for y in ys]
    for j in range(1, n):
        for i in range(n - 1, j - 1, -1):
            coef[i] = (coef[i] - coef[i - 1]) / (xs[i] - xs[i - j])
    out = [Fraction(0)] * n
    for i in range(n - 1, -1, -1):  # Horner on the Newton form
        out = [Fraction(0)] + out[:-1]  # multiply by x ...
        for k in range(n - 1):
            out[k] -= xs[i] * out[k + 1]  # ... minus x_i
        out[0] += coef[i]
    return out


def interpolate(variables: Sequence[str], grids: Sequence[Sequence[int]], values: dict[tuple[int, ...], Fraction]) -> Poly:
    """The polynomial of degree len(grids[i]) - 1 in variable i through `values` on the tensor grid."""
    k = len(variables)
    if k == 0:
        return Poly.of((), {(): values[()]})
    coeffs: dict[Exponents, Fraction] = {}
    # interpolate along the last variable for every point of the others, then recurse on the coefficients
    inner: dict[int, dict[tuple[int, ...], Fraction]] = {}
    for head in product(*grids[:-1]):
        ys = [values[(*head, x)] for x in grids[-1]]
        for e, c in enumerate(interpolate_1d(list(grids[-1]), ys)):
            inner.setdefault(e, {})[tuple(head)] = c
    for e, sub in inner.items():
        p = interpolate(variables[:-1], grids[:-1], sub)
        for exps, c in p.terms:
            coeffs[(*exps, e)] = coeffs.get((*exps, e), Fraction(0)) + c
    return Poly.of(variables, coeffs)


def lowest_degree(xs: Sequence[int], ys: Sequence[Fraction], max_degree: int) -> int | None:
    """The smallest d <= max_degree whose interpolant through the first d+1 points also passes through
    every later point given; None when none does."""
    for d in range(min(max_degree, len(xs) - 2) + 1):
        c = interpolate_1d(list(xs[: d + 1]), list(ys[: d + 1]))
        if all(sum(ci * Fraction(x) ** i for i, ci in enumerate(c)) == y for x, y in zip(xs[d + 1 :], ys[d + 1 :])):
            return d
    return None

