"""The in-loop objective (issue #38): `cost(candidate, target) -> Evaluation`, one candidate at a time, for a search
that calls a cost model inside its loop (an Optuna study, an evolutionary search).

The same chain as `population` (engine/chain.py; the same numbers), with what a loop repeats kept in this process:
the target resolved once (give a Target, or a hardware name resolved on the first call and remembered), the
network's distinct segments counted and timed once (engine/memo.py), and the last evaluations remembered by the
candidate's identity and the target (a search that proposes a candidate again is answered at once).

A candidate is an NB201 arch string (`|nor_conv_3x3~0|+|...|`) or its nb201_arch.Arch, a CandidateTask, or the path
of a model file (ONNX, a decoder's config.json).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import AnalyzerError, UsageError, param
from ..load.sources import CandidateTask, from_path, nb201_task
from ..records import Evaluation
from ..target import Target

MAX_REMEMBERED = 4096  # evaluations kept (about 2 KB each with their detail)
_TARGETS: dict[str, Target] = {}
_RESULTS: OrderedDict[tuple, tuple[Target, Evaluation]] = OrderedDict()


def target_of(target: Target | str) -> Target:
    """A Target as given, or the serving default's target on the named hardware, resolved once per process."""
    if isinstance(target, Target):
        return target
    if not isinstance(target, str) or not target:
        raise UsageError(f"{param('target')}: a Target (analyzer.resolve_target) or a hardware name, got {type(target).__name__}")
    hit = _TARGETS.get(target)
    if hit is None:
        from ..profiles import load_profiles
        from ..target import resolve_target, TargetRequest

        hit = _TARGETS[target] = resolve_target(load_profiles(), TargetRequest(target))
    return hit


def task_of(candidate: Any) -> CandidateTask:
    if isinstance(candidate, CandidateTask):
        return candidate
    from ..load import nb201_arch

    if isinstance(candidate, nb201_arch.Arch):
        return nb201_task(candidate, f"nb201_{candidate.index():05d}")
    if isinstance(candidate, str) and candidate.lstrip().startswith("|"):
        from ..load import nb201

        try:
            a = nb201.arch_of(candidate)  # parsed once: the evaluation reads the same cell from this table
        except AnalyzerError:
            nb201_arch.parse(candidate, "candidate")  # the error naming the parameter
            raise
        return nb201_task(a, f"nb201_{a.index():05d}")
    if isinstance(candidate, (str, Path)):
        if not Path(candidate).is_file():
            raise UsageError(f"{param('candidate')} {str(candidate)[:80]!r}: neither an NB201 arch string nor a model file")
        return from_path(candidate)
    raise UsageError(f"{param('candidate')}: an NB201 arch string or Arch, a CandidateTask or a model path, "
                     f"got {type(candidate).__name__}")


def cost(candidate: Any, target: Target | str) -> Evaluation:
    """The candidate's Evaluation on `target` (MACs, latency, energy and CO2e per item with their bands and
    provenance), as `population` evaluates it. A candidate that cannot be evaluated raises its AnalyzerError."""
    from .chain import evaluate_one

    tg = target_of(target)
    task = task_of(candidate)
    key = (task.identity, id(tg)) if task.identity else None
    hit = _RESULTS.get(key) if key else None
    if hit is not None and hit[0] is tg:
        _RESULTS.move_to_end(key)
        return replace(hit[1], name=task.name)
    e = evaluate_one(task, tg)
    if not e.ok:
        from ..errors import AnalyzerError

        err = AnalyzerError(e.error or "")
        err.exit_code = e.exit_code
        raise err
    if key:
        _RESULTS[key] = (tg, e)
        if len(_RESULTS) > MAX_REMEMBERED:
            _RESULTS.popitem(last=False)
    return e
