"""The use case `plan_search(request) -> PlanResult`: what a planned search will cost before it runs.

Candidates trained under a schedule, then the final training, on a chip at a site (account/search_plan.py
prices them); training per candidate projected per sample on a sample of the candidates (engine.evaluate), or
stated in chip-hours; a published search's own procedure (a NAS preset with a [procedure]) beside its published
cost; and, given a tracked run, the plan beside what it measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..checks import check_number
from ..errors import UsageError, param
from ..profiles import ProfileSet
from ..records import Evaluation
from ..target import TargetRequest, resolve_target


@dataclass(frozen=True)
class Training:
    """How much one candidate trains and the final model after: samples (or epochs x dataset samples), or stated
    chip-hours."""

    dataset_samples: float | None = None
    epochs: float | None = None
    samples_per_candidate: float | None = None
    candidate_chip_hours: float | None = None
    final_epochs: float | None = None
    final_chip_hours: float | None = None
    final_model: str | None = None


@dataclass(frozen=True)
class PlanRequest:
    """`plan-search`: the candidates (a source as `population` reads it, or a preset's own procedure), how many
    are trained and how many are sampled for the projection, the training, the schedule, and the target (its
    hardware, dtype, batch, optimizer and site; phase train). `compare`: a tracked run (id, name or log) to set
    the plan beside, read from `store` (False: no store)."""

    source: str | None = None
    preset: str | None = None
    population: int | None = None
    sample: int = 16
    training: Training = Training()
    schedule: str = "full"
    target: TargetRequest = TargetRequest()
    compare: str | None = None
    store: Any = None


@dataclass(frozen=True)
class PlanResult:
    """The plan as a record (SearchPlan.to_dict, with the procedure and the published cost for a preset, the
    comparison with a run), the target's settings, and the sampled candidates that failed (named, not planned)."""

    record: dict[str, Any]
    settings: dict[str, Any]
    failed: list[Evaluation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.record


def plan_search(ps: ProfileSet, req: PlanRequest) -> PlanResult:
    from ..account.search_plan import beside_published, plan_projected, plan_stated, preset_inputs

    t, tr, source, pre, population = req.target, req.training, req.source, None, req.population
    spc = tr.samples_per_candidate
    if req.preset is not None:
        if source is not None:
            raise UsageError(f"{param('preset')} plans the published procedure's own candidates: give no source")
        pre = preset_inputs(ps, req.preset, hardware=t.hardware, dtype=t.dtype, pue=t.pue, datacenter=t.datacenter,
                            grid=t.grid, region=t.region)
        source, population, spc = pre.source, pre.population, pre.samples_per_candidate
        # the preset's site holds the site options already (preset_inputs resolved them)
        t = TargetRequest(pre.hardware, dtype=pre.dtype, batch=t.batch, optimizer=t.optimizer, site=pre.site,
                          batch_norm=t.batch_norm, memory_format=t.memory_format)
    target = resolve_target(ps, replace(t, hardware=t.hardware or "h100", phase="train"))
    for name in ("dataset_samples", "epochs", "samples_per_candidate", "candidate_chip_hours", "final_epochs", "final_chip_hours"):
        v = spc if name == "samples_per_candidate" else getattr(tr, name)
        if v is not None:
            check_number(name, v, 0.0, 1e15, low_open=True)
    failed: list[Evaluation] = []
    if tr.candidate_chip_hours is not None:
        plan = _stated(ps, target, tr, spc, population, source, req.schedule)
    else:
        if source is None:
            raise UsageError(f"give the search's candidates (source), or state {param('candidate_chip_hours')}")
        if spc is None:
            if tr.epochs is None or tr.dataset_samples is None:
                raise UsageError(f"give {param('samples_per_candidate')}, or {param('epochs')} with {param('dataset_samples')}")
            spc = tr.epochs * tr.dataset_samples
        final_samples = None
        if tr.final_epochs is not None:
            if tr.dataset_samples is None:
                raise UsageError(f"{param('final_epochs')} needs {param('dataset_samples')}")
            final_samples = tr.final_epochs * tr.dataset_samples
        evaluations, total, failed = _projected(source, target, req.sample)
        final = None
        if tr.final_model is not None:
            from ..engine import evaluate
            from .amortize_case import failed_error

            final = evaluate([Path(tr.final_model)], target)[0]
            if not final.ok:
                raise failed_error(final)
        plan = plan_projected(evaluations, target, population or total, spc, req.schedule, final_samples, final)
    plan.notes = list(dict.fromkeys(list(target.notes) + (pre.notes if pre else []) + plan.notes))
    d = plan.to_dict()
    if pre is not None:
        d["procedure"], d["published"] = pre.procedure, beside_published(d, pre.published)
    if req.compare is not None:
        from ..account.plan_compare import compare as beside_run
        from ..engine.track import load_run

        d["compare"] = beside_run(d, load_run(req.compare, store=req.store))
    settings = {"source": source, "preset": req.preset, "schedule": req.schedule, **target.settings()}
    return PlanResult(d, settings, failed)


def _stated(ps: ProfileSet, target: Any, tr: Training, spc: float | None, population: int | None, source: str | None,
            schedule: str) -> Any:
    """A plan from the stated chip-hours of one candidate (and of the final training)."""
    from ..account.carbon import footprint
    from ..account.search_plan import plan_stated

    if tr.final_epochs is not None or spc is not None or tr.epochs is not None:
        raise UsageError(f"{param('candidate_chip_hours')} states the training: give {param('final_chip_hours')}, not epochs or samples")
    n = population or (_count(source) if source else None)
    if n is None:
        raise UsageError(f"{param('candidate_chip_hours')} needs {param('population')} (or a source to count)")
    hw = target.hardware
    return plan_stated(lambda h: footprint(hw, 1, h, target.site), hw.name, n, tr.candidate_chip_hours, schedule,
                       tr.final_chip_hours)


def _count(source: str) -> int:
    from ..load.sources import read

    return sum(1 for _ in read(source))


def _projected(source: str, target: Any, sample: int) -> tuple[list[Evaluation], int, list[Evaluation]]:
    """Training steps of the first `sample` candidates of the source that evaluate on the target, how many
    candidates the source has, and those sampled that failed."""
    from ..engine import evaluate
    from ..load.sources import read

    ok: list[Evaluation] = []
    failed: list[Evaluation] = []
    total = 0
    for task in read(source):
        total += 1
        if len(ok) < sample:
            e = evaluate([task], target)[0]
            (ok if e.ok else failed).append(e)
    return ok, total, failed

