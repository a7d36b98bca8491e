"""A planned search (plan-search's record) beside the search as it ran (a tracked run): per phase, energy, time and
chip-hours, planned and measured, with their ratio (measured / planned).

Phases of the run: `final` is the top-level spans of kind 'final' (run.trial('final', kind='final')) or named
'final...'; `search` every other top-level span; the run's idle time is its own line, counted in the total only.
A phase's time is the union of its spans' intervals (overlapping trials are not counted twice); its chip-hours are
that time x the chips the run held (its GPUs, else 1); its facility kWh and CO2e are the run's in proportion to its
device energy (account/tracked_run.py). The plan's time is its chip-hours / the same chips.
"""

from __future__ import annotations

from typing import Any

from .tracked_run import TrackedRun


def _union_s(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def _ratio(actual: float | None, planned: float | None) -> float | None:
    return actual / planned if actual is not None and planned else None


def compare(plan: dict[str, Any], run: TrackedRun) -> dict[str, Any]:
    chips = run.chips
    total_j = run.total_energy_j or 1e-300
    a = run.account
    top = [s for s in run.spans if not s["parent"]]
    final = [s for s in top if s["kind"] == "final" or s["name"].lower().startswith("final")]
    groups = {"search": [s for s in top if s not in final], "final": final}
    rows = []
    for name in ("search", "final", "idle", "total"):
        if name == "idle":
            j = sum(run.idle_j.values())
            seconds = None
        elif name == "total":
            j, seconds = run.total_energy_j, run.seconds
        else:
            spans = groups[name]
            j = sum(s["energy_j"] for s in spans)
            seconds = _union_s([(s["start_t"], s["end_t"] if s["end_t"] is not None else run.end_t) for s in spans])
        actual = {"energy_kwh": a.facility_energy_kwh * j / total_j, "co2e_kg": a.co2e_kg * j / total_j,
                  "hours": seconds / 3600 if seconds is not None else None,
                  "chip_hours": seconds / 3600 * chips if seconds is not None else None, "device_energy_j": j}
        p = plan.get(name) if name != "idle" else None
        planned = {"energy_kwh": p["energy_kwh"], "co2e_kg": p["co2e_kg"], "chip_hours": p["chip_hours"],
                   "hours": p["chip_hours"] / chips, "low_kg": p.get("low_kg"), "high_kg": p.get("high_kg")} if p else None
        ratio = {k: _ratio(actual[k], planned[k]) for k in ("energy_kwh", "co2e_kg", "hours", "chip_hours")} if planned else None
        rows.append({"phase": name, "planned": planned, "actual": actual, "ratio": ratio})
    notes = []
    if abs(float(plan.get("pue") or a.pue) - a.pue) > 1e-9 or abs(float(plan.get("grid_gco2e_per_kwh") or a.grid_gco2e_per_kwh)
                                                                   - a.grid_gco2e_per_kwh) > 1e-9:
        notes.append(f"the plan's site (PUE {plan.get('pue')}, {plan.get('grid_gco2e_per_kwh')} gCO2e/kWh) is not the run's "
                     f"(PUE {a.pue:g}, {a.grid_gco2e_per_kwh:g}): the energy and CO2e ratios include the difference")
    if plan.get("hardware") and plan.get("hardware") != run.hardware:
        notes.append(f"the plan is on {plan.get('hardware')}, the run on {run.hardware or 'hardware not named'} "
                     f"({', '.join(v['source'] for v in run.meters.values())})")
    if not final and plan.get("final"):
        notes.append("the run has no span of kind 'final': its final training, if any, is in the search phase")
    if run.status != "complete":
        notes.append(f"the run is {run.status}: measured up to its last reading")
    return {"run_id": run.run_id, "status": run.status, "chips": chips, "phases": rows, "notes": notes}
