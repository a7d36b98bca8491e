"""Cost formulas: a model's MACs, FLOPs and bytes as exact polynomials in its free input dims.

Every count the profiler makes is an integer at bound dims, and for the operators models are built of it is
a polynomial in the input dims (a GEMM over tokens is linear in batch x seq, attention's score and value
products quadratic in seq). So the formula is recovered by profiling the model at a grid of bindings and
interpolating exactly (poly.py), not by fitting:

1. per free dim, the lowest degree (up to 4) that predicts one more point than it was built from;
2. the tensor grid of (degree + 1) values per dim, interpolated in rational arithmetic;
3. the formula is checked against fresh profiles at random bindings. Sequence-like dims are sampled on
   multiples of 32, where strided convolutions and pooling divide exactly; when a random binding off that
   lattice disagrees (floor divisions), the formula is reported as exact on the lattice only, and said so.
   When even the lattice check fails the cost is not polynomial of degree <= 4 and an error says so.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import product
from pathlib import Path
from typing import Callable

from ..errors import AnalyzerError, UsageError, param
from ..load import dim_expr
from ..load.onnx_graph import input_signature
from .poly import Poly, interpolate, lowest_degree
from .profile import profile_onnx
from ..records import ModelProfile

MAX_DEGREE = 4
LATTICE = 32  # sequence/spatial dims are sampled on multiples of this: a CNN's stride-32 stages divide exactly
QUANTITIES = ("macs", "flops", "bytes_moved", "activation_bytes", "weight_read_bytes")
OP_QUANTITIES = ("macs", "flops", "bytes")


class NotPolynomialError(AnalyzerError):
    """The cost is not a polynomial of bounded degree in the free dims."""


@dataclass(frozen=True)
class SymbolicProfile:
    model: str
    variables: tuple[str, ...]
    bound: dict[str, int]
    totals: dict[str, Poly]  # QUANTITIES
    op_types: dict[str, dict[str, Poly]]  # op type -> OP_QUANTITIES
    checks: list[dict[str, int]]  # the random bindings the formulas were checked at
    lattice_only: tuple[str, ...] = ()  # dims on which the formulas hold only at multiples of LATTICE
    notes: list[str] = field(default_factory=list)
    profiles_run: int = 0

    def to_dict(self) -> dict:
        return {"model": self.model, "variables": list(self.variables), "bound": dict(self.bound),
                "totals": {k: p.to_dict() for k, p in self.totals.items()},
                "op_types": {op: {k: p.to_dict() for k, p in q.items()} for op, q in self.op_types.items()},
                "checked_at": self.checks, "exact_only_at_multiples_of": {d: LATTICE for d in self.lattice_only},
                "notes": list(self.notes), "profiles_run": self.profiles_run}


def free_dims(path: Path, dims: dict[str, int], batch: int | None) -> tuple[list[str], set[str]]:
    """(free dim names in input order, the names that size a leading (batch) axis)."""
    names: list[str] = []
    leading: set[str] = set()
    for sig in input_signature(path):
        for axis, d in enumerate(sig.dims or ()):
            if not isinstance(d, str) or d == "?":
                continue
            for n in sorted(dim_expr.names(d)):
                if axis == 0:
                    leading.add(n)
                if n not in names:
                    names.append(n)
    free = [n for n in names if n not in dims and not (batch is not None and n in leading)]
    return free, leading


def _vector(p: ModelProfile) -> dict[str, int]:
    v = {q: int(getattr(p, q)) for q in QUANTITIES}
    for op, agg in p.op_type_totals.items():
        for q in OP_QUANTITIES:
            v[f"{op}\x00{q}"] = int(agg[q])
    return v


def cost_formulas(path: Path, dims: dict[str, int] | None = None, batch: int | None = None,
                  variables: list[str] | None = None, assume_upper_bound: bool = False, seed: int = 0,
                  profile: Callable[..., ModelProfile] = profile_onnx) -> SymbolicProfile:
    """The model's costs as polynomials in its free input dims (all symbolic input dims not bound by `dims`
    or, for leading axes, by `batch`)."""
    dims = dict(dims or {})
    free, leading = free_dims(path, dims, batch)
    if variables:
        unknown = [v for v in variables if v not in free]
        if unknown:
            raise UsageError(f"{path}: {', '.join(unknown)} is not a free input dim (free: {', '.join(free) or 'none'})")
        free = list(variables)
    if not free:
        raise UsageError(f"{path}: no free input dim: every input dim is fixed or bound, so the cost is one number "
                         f"(profile without {param('symbolic')})")
    cache: dict[tuple[int, ...], dict[str, int]] = {}

    def at(values: tuple[int, ...]) -> dict[str, int]:
        if values not in cache:
            binding = {**dims, **dict(zip(free, values))}
            cache[values] = _vector(profile(path, binding, batch, scan_sparsity=False, hash_file=False,
                                            assume_upper_bound=assume_upper_bound))
        return cache[values]

    ladders = {v: [k for k in range(1, MAX_DEGREE + 3)] if v in leading else [LATTICE * k for k in range(1, MAX_DEGREE + 3)]
               for v in free}
    base = tuple(ladders[v][0] for v in free)
    grids = []
    for i, v in enumerate(free):
        degree = _degree_of(v, i, ladders[v], base, at)
        grids.append(ladders[v][: degree + 1])
    values = {pt: at(pt) for pt in product(*grids)}
    keys = sorted(set().union(*(set(x) for x in values.values())))
    polys = {k: interpolate(free, grids, {pt: Fraction(vec.get(k, 0)) for pt, vec in values.items()}) for k in keys}

    rng = random.Random(seed)
    checks, lattice_only = [], []
    # on the lattice, then off it: one past a multiple (no stride divides it) and a random offset
    for offset in (0, 1, rng.randint(2, LATTICE - 1)):
        # small bindings: a gather reads at most its table, so position-embedding bytes stop growing once
        # batch x seq passes the table's rows; checks stay below that for models of ordinary context length
        pt = tuple(rng.randint(1, 4) if v in leading else LATTICE * rng.randint(1, 6) + offset for v in free)
        got = at(pt)
        bad = [k for k in keys if polys[k](pt) != got.get(k, 0)]
        checks.append(dict(zip(free, pt)))
        if bad and offset == 0:
            raise NotPolynomialError(f"{path}: {bad[0].replace(chr(0), ' ')} is not a polynomial of degree <= {MAX_DEGREE} "
                                     f"in {', '.join(free)} (checked at {dict(zip(free, pt))}); bind some dims with {param('dim')} "
                                     "for formulas in the others")
        if bad:
            lattice_only = [v for v in free if v not in leading]
            break
    totals = {q: polys[q] for q in QUANTITIES}
    ops: dict[str, dict[str, Poly]] = {}
    for k, p in polys.items():
        if "\x00" in k:
            op, q = k.split("\x00")
            ops.setdefault(op, {})[q] = p
    notes = []
    if lattice_only:
        notes.append(f"exact where {', '.join(lattice_only)} {'is a multiple' if len(lattice_only) == 1 else 'are multiples'} "
                     f"of {LATTICE}: elsewhere strided or pooled sizes round (checked at {checks[-1]})")
    return SymbolicProfile(str(path), tuple(free), {k: v for k, v in dims.items()}, totals, dict(sorted(ops.items())), checks,
                           tuple(lattice_only), notes, len(cache))


def _degree_of(v: str, i: int, ladder: list[int], base: tuple[int, ...], at: Callable) -> int:
    """The degree of every count in v, the other dims at their base values."""
    xs: list[int] = []
    bad: list[str] = []
    for k, x in enumerate(ladder):
        xs.append(x)
        if k < 1:
            continue
        pts = [tuple(xx if j == i else b for j, b in enumerate(base)) for xx in xs]
        vecs = [at(p) for p in pts]
        keys = sorted(set().union(*(set(vv) for vv in vecs)))
        degrees = {key: lowest_degree(xs, [Fraction(vv.get(key, 0)) for vv in vecs], MAX_DEGREE) for key in keys}
        bad = [key for key, d in degrees.items() if d is None]
        if not bad and max(degrees.values()) <= k - 1:  # type: ignore[type-var]
            return max(degrees.values())  # type: ignore[type-var]
    raise NotPolynomialError(_not_polynomial(v, xs, bad, [at(tuple(xx if j == i else b for j, b in enumerate(base)))
                                                         for xx in xs]))


def _not_polynomial(v: str, xs: list[int], bad: list[str], vecs: list[dict[str, int]]) -> str:
    """Which count is not a polynomial in v, its values along v, and why where the reason is known."""
    key = next((b for b in bad if "\x00" in b), bad[0] if bad else "cost")
    name = key.replace("\x00", " ")
    values = ", ".join(f"{vv.get(key, 0):,}" for vv in vecs)
    why = ""
    if key.startswith("Gather\x00") or key == "weight_read_bytes":
        why = ("; a Gather (an embedding lookup) reads at most its whole table, so its bytes bend (grow more slowly) once the "
               "indices outnumber the table's rows: a min(), not a polynomial")
    return (f"{name} is not a polynomial of degree <= {MAX_DEGREE} in {v} (at {v} = {', '.join(map(str, xs))}: "
            f"{values}){why}; bind {v} with {param('dim')} {v}=N for formulas in the other dims, "
            f"or profile without {param('symbolic')} at the sizes you need")
