"""Which two candidates a search is judged on: the baseline, and the NAS-found model that does the same job
for less. A search is justified by a model at comparable accuracy, not by the cheapest model found."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import UsageError, param
from .rank import Ranked

NAS_ROLE = "NAS-found"


@dataclass(frozen=True)
class Pair:
    baseline: str
    nas: str
    how: str  # one sentence: how the NAS-found model was chosen
    matched: bool  # the NAS-found model reaches the baseline's accuracy within the tolerance
    tolerance_points: float
    baseline_accuracy: float | None
    nas_accuracy: float | None
    accuracy_gap_points: float | None  # baseline - NAS model (positive: the NAS model is less accurate)
    nas_role: str = "NAS-found"  # the judged model's role in the manifest ('--nas-model' may name another)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_pair(rows: list[Ranked], baseline: str | None, nas_model: str | None, tolerance: float,
                recipe_of: dict[str, str] | None = None) -> Pair:
    """Baseline: `baseline`, else the candidate whose role is 'baseline'. NAS model: `nas_model`, else the
    NAS-found candidate within `tolerance` top-1 points of the baseline's accuracy that uses the least energy
    per item, preferring those whose accuracy was trained with the baseline's recipe (`recipe_of`); if none is,
    the best-ranked NAS-found candidate on the Pareto front, with the gap said."""
    by_name = {r.candidate.name: r for r in rows}
    base_name = baseline or next((r.candidate.name for r in rows if r.candidate.role == "baseline"), None)
    if base_name is None:
        raise UsageError(f"no baseline: give {param('baseline')} NAME (no candidate has role 'baseline' in the manifest)")
    if base_name not in by_name:
        raise UsageError(f"{param('baseline')} '{base_name}' is not among the candidates: {', '.join(sorted(by_name))}")
    base = by_name[base_name].candidate
    if nas_model is not None:
        if nas_model not in by_name:
            raise UsageError(f"{param('nas_model')} '{nas_model}' is not among the candidates: {', '.join(sorted(by_name))}")
        if nas_model == base_name:
            raise UsageError(f"{param('nas_model')} '{nas_model}' is the baseline: a model saves nothing over itself "
                             f"(give another candidate, or another {param('baseline')})")
        c = by_name[nas_model].candidate
        how = f"--nas-model {nas_model}" + ("" if c.role == NAS_ROLE else f", judged as if a search had found it (its role is "
                                                                       f"'{c.role or 'unknown'}')")
        return _pair(base, c, how, tolerance)
    nas = [r for r in rows if r.candidate.role == NAS_ROLE and r.rank is not None and r.candidate.name != base_name]
    if not nas:
        raise UsageError("no NAS-found candidate passes the constraints: nothing to amortise (roles come from the manifest)")
    if base.accuracy is not None:
        close = [r for r in nas if r.candidate.accuracy is not None and r.candidate.accuracy >= base.accuracy - tolerance]
        base_recipe = (recipe_of or {}).get(base_name, "")
        same = [r for r in close if base_recipe and (recipe_of or {}).get(r.candidate.name) == base_recipe]
        if close:
            best = min(same or close, key=lambda r: (r.candidate.energy_j_per_item, r.candidate.name))
            c = best.candidate
            return _pair(base, c, f"the NAS-found candidate using the least energy per item among those at most {tolerance:g} "
                                  f"top-1 points below the baseline ({base.accuracy:g}%)"
                                  + (", trained with the baseline's recipe" if same else "")
                                  + f"; {c.name} is {_relative(c.accuracy - base.accuracy)}", tolerance)
        front = [r for r in nas if r.pareto] or nas
        best = min(front, key=lambda r: (r.rank, r.candidate.name))
        return _pair(base, best.candidate, f"no NAS-found candidate reaches the baseline's {base.accuracy:g}% within "
                                           f"{tolerance:g} points: the best-ranked NAS-found one on the Pareto front", tolerance)
    best = min(nas, key=lambda r: (r.candidate.energy_j_per_item, r.candidate.name))
    return _pair(base, best.candidate, "the baseline's accuracy is unknown: the NAS-found candidate that uses the least "
                                       "energy per item (accuracy not compared)", tolerance)


def _relative(points: float) -> str:
    """'1.56 top-1 points above it', 'as accurate', '0.30 top-1 points below it'."""
    if abs(points) < 0.005:
        return "as accurate"
    return f"{abs(points):.2f} top-1 points {'above' if points > 0 else 'below'} it"


def _pair(base, nas, how: str, tolerance: float) -> Pair:
    gap = None if base.accuracy is None or nas.accuracy is None else base.accuracy - nas.accuracy
    matched = gap is not None and gap <= tolerance
    return Pair(base.name, nas.name, how, matched, tolerance, base.accuracy, nas.accuracy, gap, nas.role or "unknown")


def recipes(rows: list[Ranked], pair: Pair, baseline: str | None, nas_model: str | None, tolerance: float,
            recipe_of: dict[str, str], alternatives_of: dict[str, tuple[dict, ...]]) -> dict[str, Any]:
    """How the pair's accuracies were trained, and the pair again under each other recipe the manifest gives the
    baseline's architecture: a search is justified against the baseline trained as well as the NAS model was.
    {baseline_recipe, nas_recipe, same, note, alternatives: [{recipe, source, baseline_accuracy, pair}]}."""
    from dataclasses import replace

    b, n = recipe_of.get(pair.baseline, ""), recipe_of.get(pair.nas, "")
    out: dict[str, Any] = {"baseline_recipe": b, "nas_recipe": n, "same": bool(b) and b == n, "note": "", "alternatives": []}
    if not b or not n or b == n:
        return out
    out["note"] = (f"the accuracies were trained differently: {pair.baseline}'s {pair.baseline_accuracy}% with {b}, "
                   f"{pair.nas}'s {pair.nas_accuracy}% with {n}")
    for alt in alternatives_of.get(pair.baseline, ()):
        moved = [replace(r, candidate=replace(r.candidate, accuracy=float(alt["top1"])))
                 if r.candidate.name == pair.baseline else r for r in rows]
        try:
            again = choose_pair(moved, baseline, nas_model, tolerance, recipe_of)
        except UsageError:
            continue
        same_gap = None if pair.nas_accuracy is None else float(alt["top1"]) - pair.nas_accuracy
        out["alternatives"].append({"recipe": alt["recipe"], "source": alt["source"], "baseline_accuracy": float(alt["top1"]),
                                    "nas_gap_points": same_gap, "pair": again.to_dict()})
        said = "" if same_gap is None else (
            f"{pair.nas} is then {same_gap:.2f} points below it" + (" (not the same job)" if same_gap > tolerance else ""))
        out["note"] += (f"; with {alt['recipe']} {pair.baseline} reaches {alt['top1']}%: {said}"
                        + (f"; the pairing would take {again.nas}" + ("" if again.matched else " (unmatched)")
                           if again.nas != pair.nas else ""))
    return out
