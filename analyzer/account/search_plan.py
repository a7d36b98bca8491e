"""A planned search's cost, before it runs (issue #18): how many candidates are trained, for how long, under
which schedule, then the final training of the chosen model, on a stated chip at a stated site.

Training per candidate is projected per sample (training steps evaluated by the engine, on a sample of the population's
candidates: the mean is used for every candidate, and its sampling error joins the band) or stated as
chip-hours per candidate (then it is exactly the run footprint of those chip-hours, `carbon.footprint`).

Schedules, with S the samples one candidate's full training sees and N candidates:
  full            N x S
  early-stop:F    N x F x S  (F: the mean fraction of the budget a candidate trains before it is stopped)
  halving:ETA     successive halving (Jamieson & Talwalkar, AISTATS 2016; the inner loop of Hyperband, Li et al.
                  JMLR 2018): rounds i = 0..K with K = floor(log_ETA N); round i trains floor(N / ETA^i)
                  candidates for S x ETA^(i-K) samples each, from scratch; for N = ETA^K the total is (K+1) x S.

A published search's own procedure (`preset_inputs`, from a NAS preset's [procedure]) is either candidates trained
one by one (N candidates, S samples each), or weight-sharing supernets (`supernet_samples`): R supernet trainings
of phases of E_i epochs over D samples, each training sample costing T_i training passes (forward and backward)
and F_i forward-only passes of a stand-in network, so that S = D x sum_i E_i x (T_i + F_i / 3) stand-in training
samples per supernet, and N = R. A forward-only pass (or a backward computing only input gradients) is counted as
a third of a training pass: a training pass runs three matrix passes of equal multiply-accumulates (forward, the
input gradient, the weight gradient; analyzer/project/training_kernels.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..dist import Z90, band
from ..errors import UsageError, param
from ..records import Evaluation
from ..target import Target
from ..units import SECONDS_PER_HOUR
from .step import DeviceCost, account

SCHEDULES = ("full", "early-stop:F", "halving:ETA")


def schedule_samples(schedule: str, candidates: int, samples_per_candidate: float) -> tuple[float, list[dict[str, float]]]:
    """(training samples over the whole search, its rounds) for a schedule (see the module docstring)."""
    if candidates < 1:
        raise UsageError(f"{param('population')} {candidates}: at least one candidate")
    kind, _, arg = schedule.partition(":")
    if kind == "full" and not arg:
        return candidates * samples_per_candidate, [{"candidates": candidates, "samples_each": samples_per_candidate}]
    try:
        value = float(arg)
    except ValueError:
        value = math.nan
    if kind == "early-stop" and 0 < value <= 1:
        return candidates * value * samples_per_candidate, [{"candidates": candidates, "samples_each": value * samples_per_candidate}]
    if kind == "halving" and value >= 2 and value.is_integer():
        eta = int(value)
        k = 0
        while eta ** (k + 1) <= candidates:
            k += 1
        rounds = [{"candidates": candidates // eta ** i, "samples_each": samples_per_candidate * float(eta) ** (i - k)}
                  for i in range(k + 1)]
        return sum(r["candidates"] * r["samples_each"] for r in rounds), rounds
    raise UsageError(f"{param('schedule')} '{schedule}': expected full, early-stop:F with 0 < F <= 1, or halving:ETA with an integer "
                     "ETA >= 2")


@dataclass
class Phase:
    samples: float
    energy_kwh: float  # facility
    co2e_kg: float  # median
    low_kg: float
    high_kg: float
    chip_hours: float
    log_sigma: float


@dataclass
class SearchPlan:
    population: int
    sampled: int
    samples_per_candidate: float
    schedule: str
    rounds: list[dict[str, float]]
    hardware: str
    precision: str
    optimizer: str
    batch: int
    pue: float
    grid_gco2e_per_kwh: float
    energy_j_per_sample: float  # at the site's power boundary (device, idle, host; before PUE), the mean over the sampled candidates
    step_s_per_sample: float
    search: Phase
    final: Phase | None
    total: Phase
    basis: str  # projected | stated chip-hours
    embodied_kg: float = 0.0
    inputs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "nas-analyzer search plan", **asdict(self)}


def _phase(samples: float, per_sample: DeviceCost, target: Target, sigma: float) -> tuple[Phase, float]:
    """(a phase of `samples` training samples at `per_sample`'s cost, its embodied kgCO2e) through the accounting step."""
    a = account(per_sample.scaled(samples), target.site, target.hardware)
    b = band(a.co2e_kg, sigma)
    return Phase(samples, a.facility_energy_kwh, a.co2e_kg, b["low"], b["high"], a.cost.busy_s / SECONDS_PER_HOUR,
                 sigma), a.embodied_co2e_kg or 0.0


def _per_sample(r: Evaluation, target: Target) -> DeviceCost:
    """An evaluated training step's cost per sample at the site's power boundary, as the engine accounted it: the
    device, its idle time and the host's share, busy its step time per sample."""
    busy = r.latency_s / r.batch
    return DeviceCost(r.energy_j_per_item, busy, busy / target.site.utilization, r.idle_j_per_item, r.host_j_per_item,
                      target.site.power_boundary)


def _mean(costs: list[DeviceCost]) -> DeviceCost:
    n = len(costs)
    return DeviceCost(*(sum(getattr(c, k) for c in costs) / n for k in ("dynamic_j", "busy_s", "held_s", "idle_j", "host_j")),
                      boundary=costs[0].boundary)


def _total(search: Phase, final: Phase | None) -> Phase:
    if final is None:
        return search
    kg = search.co2e_kg + final.co2e_kg
    # the two phases share the projection's error (the same chip and code): their bands add linearly
    return Phase(search.samples + final.samples, search.energy_kwh + final.energy_kwh, kg, search.low_kg + final.low_kg,
                 search.high_kg + final.high_kg, search.chip_hours + final.chip_hours,
                 math.log((search.high_kg + final.high_kg) / kg) / Z90 if kg > 0 else 0.0)


def plan_projected(evaluations: list[Evaluation], target: Target, population: int, samples_per_candidate: float,
                   schedule: str, final_samples: float | None, final: Evaluation | None) -> SearchPlan:
    """A plan from training steps of a sample of the candidates, evaluated on `target` (phase train): energy and
    time per training sample, at the target's site."""
    if not evaluations:
        raise UsageError("no candidate could be projected: nothing to plan from")
    n = len(evaluations)
    # at the site's power boundary, as the published cost and every other account: the chip's energy plus the host's
    # share and any idle time (the engine's accounting put them in each evaluation; a training step keeps its chips busy)
    costs = [_per_sample(r, target) for r in evaluations]
    mean = _mean(costs)
    mean_e = mean.energy_j
    cv = (math.sqrt(sum((c.energy_j - mean_e) ** 2 for c in costs) / (n - 1)) / mean_e) if n > 1 else 0.0
    r0 = evaluations[0]
    # the projection's error is shared by every candidate; the sample mean's error shrinks with the sample
    sigma = math.hypot(r0.energy_log_sigma, cv / math.sqrt(n) if population > n else 0.0)
    samples, rounds = schedule_samples(schedule, population, samples_per_candidate)
    search, embodied_kg = _phase(samples, mean, target, sigma)
    final_phase = None
    notes = [f"per-sample energy: the mean of {n} candidate(s) projected (coefficient of variation {cv:.1%}), used for "
             f"all {population:,}" + (f"; {mean.host_j / mean_e:.0%} of it the host's share at the server boundary" if mean.host_j else "")]
    if schedule.startswith("halving"):
        notes.append("search samples are counted as the schedule trains them (halving: each round from scratch)")
    if final_samples:
        final_phase, final_embodied = _phase(final_samples, _per_sample(final, target) if final else mean, target,
                                             (final or r0).energy_log_sigma)
        embodied_kg += final_embodied
        if final is None:
            notes.append("final training: no final model given, so the mean candidate's per-sample cost")
    from ..count.profile import SEEDED_NOTE  # here: profiling imports onnx, which reading a plan does not need

    # a plan projects, never measures: a skeleton's note that weights are generated when measured says nothing here
    notes += [n_ for n_ in dict.fromkeys(x for r in evaluations for x in r.notes)
              if not n_.startswith(SEEDED_NOTE)]
    return SearchPlan(population, n, samples_per_candidate, schedule, rounds, r0.hardware, r0.dtype, target.phase.optimizer or "",
                      r0.batch, target.pue, target.grid_gco2e_per_kwh, mean_e, mean.busy_s, search, final_phase,
                      _total(search, final_phase),
                      "projected", embodied_kg, list(r0.inputs), notes)


def plan_stated(footprint_of: Any, hardware: str, population: int, chip_hours_per_candidate: float, schedule: str,
                final_chip_hours: float | None) -> SearchPlan:
    """A plan from stated chip-hours per candidate: each phase is the footprint of its chip-hours
    (`footprint_of(hours)` -> carbon.Footprint on one chip at the plan's site), exactly."""
    hours, rounds = schedule_samples(schedule, population, chip_hours_per_candidate)
    fp = footprint_of(hours)
    search = Phase(hours, fp.energy_kwh, fp.co2e_kg, fp.co2e_kg, fp.co2e_kg, hours, 0.0)
    final = None
    embodied = fp.embodied_co2e_kg or 0.0
    if final_chip_hours:
        ffp = footprint_of(final_chip_hours)
        final = Phase(final_chip_hours, ffp.energy_kwh, ffp.co2e_kg, ffp.co2e_kg, ffp.co2e_kg, final_chip_hours, 0.0)
        embodied += ffp.embodied_co2e_kg or 0.0
    return SearchPlan(population, 0, chip_hours_per_candidate, schedule, rounds, hardware, "", "", 0, fp.pue,
                      fp.grid_gco2e_per_kwh, 0.0, 0.0, search, final, _total(search, final), "stated chip-hours", embodied,
                      list(fp.inputs), list(fp.notes) + ["samples are chip-hours here: the plan was stated per candidate"])


@dataclass
class PresetInputs:
    """What plan-search projects for a published search's procedure, and the published account beside it."""

    source: str  # the stand-in candidates, as a population source
    hardware: str
    dtype: str | None
    population: int
    samples_per_candidate: float
    site: Any  # target.Site: where the search ran, unless one is given
    published: dict[str, Any]
    procedure: dict[str, Any]
    notes: list[str]


def preset_inputs(ps: Any, name: str, *, hardware: str | None = None, dtype: str | None = None, pue: float | None = None,
                  datacenter: str | None = None, grid: float | None = None, region: str | None = None) -> PresetInputs:
    """A published search's procedure (load/search_plan_file.py) at its own site unless one is given (resolved
    once: the plan and the published cost beside it are priced at the same Site), with its published cost."""
    from ..load.search_plan_file import read_procedure
    from ..target import SiteRequest, resolve_search_site
    from .search_cost import cost_at_site

    pr = read_procedure(ps, name, hardware=hardware, dtype=dtype)
    p, proc = pr.preset, pr.preset.procedure
    site = resolve_search_site(ps, p, SiteRequest(pue, datacenter, grid, region))
    sc = cost_at_site(ps, site, preset=p)
    published = {"preset": p.name, "title": p.title, "chip_hours": p.chip_hours.value, "co2e_kg": sc.cost_kg,
                 "chip_hours_source": p.chip_hours.source, "procedure_source": proc["source"],
                 "stand_in": "the synthetic MobileNetV2-like space stands in for the search's own candidates"
                 if proc["stand_in"] == "space" else proc["stand_in"]}
    return PresetInputs(pr.source, pr.hardware, pr.dtype, pr.population, pr.samples_per_candidate, site, published,
                        pr.procedure, list(pr.notes))


def beside_published(plan: dict[str, Any], published: dict[str, Any]) -> dict[str, Any]:
    """The published account with this plan's ratios to it (chip-hours, kgCO2e)."""
    t = plan["total"]
    return {**published, "ratio_chip_hours": t["chip_hours"] / published["chip_hours"],
            "ratio_co2e": t["co2e_kg"] / published["co2e_kg"] if published["co2e_kg"] else None}



