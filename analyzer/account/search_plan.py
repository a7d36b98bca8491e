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

from ..checks import List, Num, Obj, Opt, TEXT, check
from ..dist import Z90, band
from ..errors import UsageError, param
from ..records import Evaluation
from ..target import Target
from ..units import J_PER_KWH

SCHEDULES = ("full", "early-stop:F", "halving:ETA")
FORWARD_PASS_SHARE = 1.0 / 3.0  # of a training pass: one of its three equal-MAC matrix passes (see the docstring)


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


def _phase(samples: float, j_per_sample: float, s_per_sample: float, pue: float, grid: float, sigma: float) -> Phase:
    kwh = samples * j_per_sample * pue / J_PER_KWH
    kg = kwh * grid / 1000
    b = band(kg, sigma)
    return Phase(samples, kwh, kg, b["low"], b["high"], samples * s_per_sample / 3600, sigma)


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
    # share and any idle time (account_item put them in each evaluation; a training step keeps its chips busy)
    e = [_at_boundary(r) for r in evaluations]
    s = [r.latency_s / r.batch for r in evaluations]
    mean_e, mean_s = sum(e) / n, sum(s) / n
    cv = (math.sqrt(sum((x - mean_e) ** 2 for x in e) / (n - 1)) / mean_e) if n > 1 else 0.0
    r0 = evaluations[0]
    pue, grid = target.pue, target.grid_gco2e_per_kwh
    # the projection's error is shared by every candidate; the sample mean's error shrinks with the sample
    sigma = math.hypot(r0.energy_log_sigma, cv / math.sqrt(n) if population > n else 0.0)
    samples, rounds = schedule_samples(schedule, population, samples_per_candidate)
    search = _phase(samples, mean_e, mean_s, pue, grid, sigma)
    final_phase = None
    host = sum(r.host_j_per_item for r in evaluations) / n
    notes = [f"per-sample energy: the mean of {n} candidate(s) projected (coefficient of variation {cv:.1%}), used for "
             f"all {population:,}" + (f"; {host / mean_e:.0%} of it the host's share at the server boundary" if host else "")]
    if schedule.startswith("halving"):
        notes.append("search samples are counted as the schedule trains them (halving: each round from scratch)")
    mean_embodied_g = sum(r.embodied_co2e_g_per_item or 0.0 for r in evaluations) / n
    embodied_kg = samples * mean_embodied_g / 1000
    if final_samples:
        fr = final or r0
        final_phase = _phase(final_samples, _at_boundary(fr) if final else mean_e, fr.latency_s / fr.batch if final else mean_s,
                             pue, grid, fr.energy_log_sigma)
        embodied_kg += final_samples * ((fr.embodied_co2e_g_per_item or 0.0) if final else mean_embodied_g) / 1000
        if final is None:
            notes.append("final training: no final model given, so the mean candidate's per-sample cost")
    from ..count.profile import SEEDED_NOTE  # here: profiling imports onnx, which reading a plan does not need

    # a plan projects, never measures: a skeleton's note that weights are generated when measured says nothing here
    notes += [n_ for n_ in dict.fromkeys(x for r in evaluations for x in r.notes)
              if not n_.startswith(SEEDED_NOTE)]
    return SearchPlan(population, n, samples_per_candidate, schedule, rounds, r0.hardware, r0.dtype, target.phase.optimizer or "",
                      r0.batch, pue, grid, mean_e, mean_s, search, final_phase, _total(search, final_phase),
                      "projected", embodied_kg, list(r0.inputs), notes)


def _at_boundary(r: Evaluation) -> float:
    """J per sample at the site's power boundary, before PUE: the device, its idle time and the host's share."""
    return r.energy_j_per_item + r.idle_j_per_item + r.host_j_per_item


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


def supernet_samples(procedure: dict[str, Any]) -> tuple[float, list[dict[str, Any]]]:
    """(stand-in training samples one supernet training costs, per phase): D x sum_i E_i x (T_i + F_i / 3)."""
    d = float(procedure["dataset_samples"])
    phases = [{**ph, "passes": ph["train_passes"] + FORWARD_PASS_SHARE * ph["forward_passes"]} for ph in procedure["phases"]]
    for ph in phases:
        ph["samples"] = d * ph["epochs"] * ph["passes"]
    return sum(ph["samples"] for ph in phases), phases


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
    """A published search's procedure (its preset's [procedure]): on the search's own chip (or `hardware`, to price it
    on today's), at its own site unless one is given, in its stated dtype unless one is given."""
    from .search_cost import search_cost
    from ..target import resolve_search_site

    p = ps.get("nas", name)
    proc = p.procedure
    if proc is None:
        have = sorted(n for n, q in ps.nas.items() if q.procedure is not None)
        raise UsageError(f"{param('preset')} {name}: its paper's procedure is not in the profile; presets with one: {', '.join(have)}")
    own = p.hardware or proc.get("hardware", "")
    notes = []
    if not p.hardware and own and hardware is None:
        notes.append(f"{p.title} ran on {p.hardware_label or 'a chip'} with no hardware profile here: planned on {own} "
                     f"({proc['quotes'].get('hardware', '')})")
    if hardware is not None:
        notes.append(f"planned on {hardware}, not the search's own {p.hardware_label or own or 'chip'}: today's price of its procedure")
    chip = hardware or own
    if not chip:
        raise UsageError(f"{param('preset')} {name}: its chip has no hardware profile to project on; give {param('hardware')}")
    if proc["kind"] == "supernet":
        population, per, phases = int(proc["supernets"]), *supernet_samples(proc)
        notes.append(f"supernet: {population} training(s) of a weight-sharing network; a sample is a training pass of the "
                     f"stand-in ({proc['stand_in']}): {per / proc['dataset_samples']:,.4g} per training sample over the "
                     f"search (epochs x passes, a forward-only pass a third of one; the phases)")
    else:
        population, per, phases = int(proc["candidates"]), float(proc["samples_per_candidate"]), []
    stand_in = f"space:{population}" if proc["stand_in"] == "space" else proc["stand_in"]
    site = resolve_search_site(ps, p, pue=pue, datacenter=datacenter, grid=grid, region=region)
    sc = search_cost(ps, preset=name, pue=pue, datacenter=datacenter, grid=grid, region=region)
    published = {"preset": p.name, "title": p.title, "chip_hours": p.chip_hours.value, "co2e_kg": sc.cost_kg,
                 "chip_hours_source": p.chip_hours.source, "procedure_source": proc["source"],
                 "stand_in": "the synthetic MobileNetV2-like space stands in for the search's own candidates"
                 if proc["stand_in"] == "space" else proc["stand_in"]}
    procedure = {"kind": proc["kind"], "stand_in": stand_in, "phases": phases, "quotes": proc["quotes"],
                 "note": proc.get("note", "")}
    return PresetInputs(stand_in, chip, dtype or proc.get("dtype"), population, per, site, published, procedure, notes)


def beside_published(plan: dict[str, Any], published: dict[str, Any]) -> dict[str, Any]:
    """The published account with this plan's ratios to it (chip-hours, kgCO2e)."""
    t = plan["total"]
    return {**published, "ratio_chip_hours": t["chip_hours"] / published["chip_hours"],
            "ratio_co2e": t["co2e_kg"] / published["co2e_kg"] if published["co2e_kg"] else None}


PHASE = Obj({"co2e_kg": Num(0, 1e12), "low_kg": Num(0, 1e12), "high_kg": Num(0, 1e12), "energy_kwh": Num(0, 1e12),
              "chip_hours": Num(0, 1e16), "log_sigma": Opt(Num(0, 10))})
# what amortize and analyze read from a plan, capped as their own options are (nas_cost_kg and nas_cost_kwh at 1e12,
# a grid intensity at 2000 g/kWh): a plan file is no way around the command line's limits
PLAN = Obj({"kind": TEXT, "total": PHASE, "population": Opt(Num(0, 1e12, integer=True)), "schedule": Opt(TEXT),
            "hardware": Opt(TEXT), "basis": Opt(TEXT), "embodied_kg": Opt(Num(0, 1e12)), "grid_gco2e_per_kwh": Opt(Num(0, 2000)),
            "notes": Opt(List(TEXT))})


def read_plan(path: Any) -> dict[str, Any]:
    """A plan written by `plan-search --out`, checked: the fields amortize and analyze use, typed and in the ranges
    their options allow; the first wrong one is named."""
    from pathlib import Path

    from ..files import read_json

    p = Path(path)
    where = f"{param('search_plan')} {p}"
    d = read_json(p, UsageError, what=where)
    if not isinstance(d, dict) or d.get("kind") != "nas-analyzer search plan":
        raise UsageError(f"{where}: not a plan written by `plan-search {param('out')}`")
    try:
        check({k: d.get(k) for k in PLAN.fields}, PLAN, "")
    except UsageError as e:
        raise UsageError(f"{where}: {e.message}") from None
    t = d["total"]
    if not t["low_kg"] <= t["co2e_kg"] <= t["high_kg"]:
        raise UsageError(f"{where}: total: its CO2e is not ordered low_kg <= co2e_kg <= high_kg")
    return d
