"""A search's plan and procedure as files give them: a plan written by `plan-search --out` (read back by amortize
and analyze, checked against the ranges their own options allow) and a published search's procedure (a NAS
preset's [procedure]: candidates trained one by one, or weight-sharing supernets) as the samples plan-search
projects. Reading only: account/search_plan.py prices them.

A supernet training of phases of E_i epochs over D samples, each training sample costing T_i training passes and
F_i forward-only passes of a stand-in network, is S = D x sum_i E_i x (T_i + F_i / 3) stand-in training samples:
a forward-only pass is a third of a training pass (forward, input gradient, weight gradient: three matrix passes of
equal multiply-accumulates; analyzer/project/training_kernels.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..checks import List, Num, Obj, Opt, TEXT, check
from ..errors import UsageError, param

FORWARD_PASS_SHARE = 1.0 / 3.0  # of a training pass: one of its three equal-MAC matrix passes (see the docstring)


def supernet_samples(procedure: dict[str, Any]) -> tuple[float, list[dict[str, Any]]]:
    """(stand-in training samples one supernet training costs, per phase): D x sum_i E_i x (T_i + F_i / 3)."""
    d = float(procedure["dataset_samples"])
    phases = [{**ph, "passes": ph["train_passes"] + FORWARD_PASS_SHARE * ph["forward_passes"]} for ph in procedure["phases"]]
    for ph in phases:
        ph["samples"] = d * ph["epochs"] * ph["passes"]
    return sum(ph["samples"] for ph in phases), phases


@dataclass(frozen=True)
class Procedure:
    """What plan-search projects for a published search's procedure (its preset's [procedure])."""

    preset: Any  # the NAS preset (profiles' record)
    source: str  # the stand-in candidates, as a population source
    hardware: str
    dtype: str | None
    population: int
    samples_per_candidate: float
    procedure: dict[str, Any]
    notes: tuple[str, ...]


def read_procedure(ps: Any, name: str, *, hardware: str | None = None, dtype: str | None = None) -> Procedure:
    """A published search's procedure: on the search's own chip (or `hardware`, to price it on today's), in its stated
    dtype unless one is given."""
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
    procedure = {"kind": proc["kind"], "stand_in": stand_in, "phases": phases, "quotes": proc["quotes"],
                 "note": proc.get("note", "")}
    return Procedure(p, stand_in, chip, dtype or proc.get("dtype"), population, per, procedure, tuple(notes))


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
