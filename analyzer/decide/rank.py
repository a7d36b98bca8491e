"""Candidate ranking: the Pareto front over accuracy (higher), CO2e per item and latency (lower), and a
ranking by an objective under constraints. Pure functions of plain candidate records; the result does
not depend on input order (ties break by name)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import UsageError, param

OBJECTIVES = ("co2e", "energy", "latency", "weighted")


@dataclass(frozen=True)
class Candidate:
    name: str
    accuracy: float | None  # top-1 %, None when unknown
    co2e_g_per_item: float
    energy_j_per_item: float
    latency_s: float
    role: str = ""


@dataclass(frozen=True)
class Ranked:
    rank: int | None  # None: excluded by a constraint
    candidate: Candidate
    objective: float
    pareto: bool
    dominated_by: list[str] = field(default_factory=list)
    excluded: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self.candidate), "rank": self.rank, "objective": self.objective, "pareto": self.pareto,
                "dominated_by": self.dominated_by, "excluded": self.excluded}


def dominates(a: Candidate, b: Candidate) -> bool:
    """a is at least as good on every axis and better on one. Unknown accuracy is worse than any known."""
    acc_a = a.accuracy if a.accuracy is not None else float("-inf")
    acc_b = b.accuracy if b.accuracy is not None else float("-inf")
    ge = acc_a >= acc_b and a.co2e_g_per_item <= b.co2e_g_per_item and a.latency_s <= b.latency_s
    gt = acc_a > acc_b or a.co2e_g_per_item < b.co2e_g_per_item or a.latency_s < b.latency_s
    return ge and gt


def pareto(cands: list[Candidate]) -> dict[str, list[str]]:
    """name -> names of the candidates that dominate it (empty: on the front)."""
    return {c.name: sorted(o.name for o in cands if o is not c and dominates(o, c)) for c in cands}


def _weighted(cands: list[Candidate], weights: dict[str, float]) -> dict[str, float]:
    """Min-max normalise each axis to [0, 1] (0 best) and take the weighted sum."""
    def norm(values: dict[str, float], higher_better: bool) -> dict[str, float]:
        lo, hi = min(values.values()), max(values.values())
        span = hi - lo or 1.0
        return {k: ((hi - v) if higher_better else (v - lo)) / span for k, v in values.items()}

    axes = {"co2e": norm({c.name: c.co2e_g_per_item for c in cands}, False),
            "latency": norm({c.name: c.latency_s for c in cands}, False)}
    if all(c.accuracy is not None for c in cands):
        axes["accuracy"] = norm({c.name: c.accuracy for c in cands}, True)  # type: ignore[misc]
    return {c.name: sum(weights.get(a, 0.0) * axes[a][c.name] for a in axes) for c in cands}


def rank(cands: list[Candidate], objective: str = "co2e", *, max_latency_s: float | None = None,
         min_accuracy: float | None = None, weights: dict[str, float] | None = None) -> list[Ranked]:
    if objective not in OBJECTIVES:
        raise UsageError(f"{param('objective')} '{objective}': expected one of {', '.join(OBJECTIVES)}")
    names = [c.name for c in cands]
    if len(set(names)) != len(names):
        raise UsageError(f"candidate names must be unique: {sorted({n for n in names if names.count(n) > 1})}")
    w = weights or {"co2e": 1.0, "latency": 1.0, "accuracy": 1.0}
    score = (_weighted(cands, w) if objective == "weighted" else
             {c.name: {"co2e": c.co2e_g_per_item, "energy": c.energy_j_per_item, "latency": c.latency_s}[objective] for c in cands})
    rows = []
    for c in sorted(cands, key=lambda c: (score[c.name], c.name)):
        why = ""
        if max_latency_s is not None and c.latency_s > max_latency_s:
            why = f"latency {c.latency_s * 1e3:.3g} ms > {max_latency_s * 1e3:.3g} ms"
        elif min_accuracy is not None and (c.accuracy is None or c.accuracy < min_accuracy):
            why = "accuracy unknown" if c.accuracy is None else f"accuracy {c.accuracy:g} < {min_accuracy:g}"
        rows.append((c, why))
    # the front of the candidates that meet the constraints: an excluded one is on no front (and dominates none)
    dom = pareto([c for c, why in rows if not why])
    out, r = [], 0
    for c, why in rows:
        if not why:
            r += 1
        out.append(Ranked(None if why else r, c, score[c.name], not why and not dom[c.name], dom.get(c.name, []), why))
    return out
