"""A tracked run's log (measure/track.py) summed and accounted: energy per meter, per span (measure/spans.py's
rule) and idle, the run's account at its site (measured_run.account_run), and each span's share of it.

A span's facility energy, CO2e and embodied share are the run's in proportion to its device energy (so overlapping
spans never count the host's share or the embodied share twice, and the spans plus idle sum to the run). A run whose
log has no `end` record is `incomplete` (killed, or its machine lost): its energy is that of the last flushed reading.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import StoreError
from ..measure.spans import Span, attribute, spans_from
from ..profiles import HardwareProfile
from ..target import Site
from .measured_run import RunAccount, account_run


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    name: str
    status: str  # complete | incomplete | running
    exit_status: Any  # the command's exit code, "ok", or the exception's type; None while not ended
    start_t: float
    end_t: float  # the last reading's time
    seconds: float
    meters: dict[str, dict[str, Any]]
    energy_j: dict[str, float]  # by meter
    parts_j: dict[str, dict[str, float]]  # by meter, by component, where the meter splits them
    idle_j: dict[str, float]  # by meter: no span active
    account: RunAccount
    spans: list[dict[str, Any]]
    meter_errors: list[dict[str, Any]]
    readings: int
    tracker: dict[str, Any]  # the tracker's own cost: CPU s, late ticks, RSS
    site: dict[str, Any]
    hardware: str
    chips: float  # GPUs the run held (else 1): chip-hours and power per chip
    command: list[str] | None
    log: str
    notes: list[str] = field(default_factory=list)

    @property
    def total_energy_j(self) -> float:
        return sum(self.energy_j.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["account"] = self.account.to_dict()
        d["total_energy_j"] = self.total_energy_j
        return d


def site_from_dict(d: dict[str, Any]) -> Site:
    """The Site a run's start record saved (Site.to_dict)."""
    try:
        return Site(float(d["pue"]), float(d["grid_gco2e_per_kwh"]), tuple(d.get("inputs") or ()), tuple(d.get("notes") or ()),
                    float(d.get("utilization", 1.0)), str(d.get("embodied", "lifetime-share")), str(d.get("label", "")),
                    power_boundary=str(d.get("power_boundary", "server")),
                    embodied_boundary=str(d.get("embodied_boundary", "server")))
    except (KeyError, TypeError, ValueError) as e:
        raise StoreError(f"the run log's site is not readable ({e})") from None


def summarise(records: list[dict[str, Any]], log: str, hw: HardwareProfile | None = None, site: Site | None = None,
              running: bool = False) -> TrackedRun:
    start = next((r for r in records if r["k"] == "start"), None)
    if start is None:
        raise StoreError(f"{log}: not a run log (no start record)")
    site = site or site_from_dict(start.get("site") or {})
    meters: dict[str, dict[str, Any]] = dict(start.get("meters") or {})
    names = list(meters)
    times: list[float] = []
    cumulative: dict[str, list[float]] = {m: [] for m in names}
    parts: dict[str, dict[str, float]] = {}
    for r in records:
        if r["k"] != "r" or not isinstance(r.get("t"), (int, float)) or not isinstance(r.get("j"), dict):
            continue
        if times and r["t"] < times[-1]:
            continue  # a clock step backwards: the reading is not placed in time
        times.append(float(r["t"]))
        for m in names:  # a failed meter's total stays where its last reading left it
            v = r["j"].get(m)
            cumulative[m].append(float(v) if isinstance(v, (int, float)) else (cumulative[m][-1] if cumulative[m] else 0.0))
        parts.update(r.get("p") or {})
    end = next((r for r in reversed(records) if r["k"] == "end"), None)
    status = "complete" if end else ("running" if running else "incomplete")
    spans = spans_from(records)
    idle = attribute(times, cumulative, spans)
    energy = {m: (c[-1] - c[0]) if c else 0.0 for m, c in cumulative.items()}
    seconds = times[-1] - times[0] if len(times) > 1 else 0.0
    bands = {m: tuple(d["band"]) if d.get("band") else None for m, d in meters.items()}
    chips = float(start.get("chips") or 1.0)
    acct = account_run(energy, bands, seconds, site, hw, chips)  # type: ignore[arg-type]
    total = sum(energy.values())
    notes = list(start.get("notes") or []) + [n for r in records if r["k"] == "note" for n in r.get("notes") or []]
    notes += list(acct.notes)
    if status == "incomplete":
        notes.append(f"incomplete: the run has no end record (killed, or its machine lost); its energy is that of the last "
                     f"reading flushed ({len(times)} readings, {seconds:.4g} s)")
    if end and end.get("log_error"):
        notes.append(str(end["log_error"]))
    errors = [{"meter": r.get("meter"), "t": r.get("t"), "error": r.get("error")} for r in records if r["k"] == "err"]
    notes += [f"meter {e['meter']} failed {e['t'] - times[0] if times else 0:.3g} s into the run and was dropped: "
              f"{e['error']}" for e in errors]
    return TrackedRun(
        str(start.get("run_id", "")), str(start.get("name", "")), status, end.get("exit_status") if end else None,
        float(start.get("t", times[0] if times else 0.0)), times[-1] if times else 0.0, seconds, meters, energy, parts,
        idle, acct, [_span_row(s, acct, total) for s in spans], errors, len(times),
        {k: end.get(k) for k in ("tracker_cpu_s", "late_ticks", "ticks", "tracker_rss_bytes", "rss_note")} if end else {},
        site.to_dict(), str(start.get("hardware") or ""), chips, start.get("command"), log, notes)


def _span_row(s: Span, acct: RunAccount, total_j: float) -> dict[str, Any]:
    j = sum(s.energy_j.values())
    share = j / total_j if total_j > 0 else 0.0
    return {"id": s.id, "name": s.name, "kind": s.kind, "parent": s.parent, "identity": s.identity, "params": s.params,
            "start_t": s.start, "end_t": s.end, "status": s.status, "pid": s.pid,
            "seconds": (s.end - s.start) if s.end is not None else None, "energy_j": j, "self_energy_j": sum(s.self_j.values()),
            "energy_j_by_meter": dict(s.energy_j), "facility_energy_kwh": acct.facility_energy_kwh * share,
            "co2e_kg": acct.co2e_kg * share, "embodied_co2e_kg": acct.embodied_co2e_kg * share if acct.embodied_co2e_kg is not None else None}


def measured_search_cost(run: TrackedRun) -> Any:
    """The run as a search's cost (account/search_cost.py's record): its operational CO2e with the meters' band
    (log-uniform between its ends when a meter estimated), its facility kWh and embodied share, at its own site."""
    from .search_cost import SearchCost
    from .step import kg_per_facility_kwh

    a = run.account
    hours = run.seconds / 3600
    chips = run.chips
    notes = [n for n in run.notes if not n.startswith("no hardware named")]
    if run.status != "complete":
        notes.append(f"search run {run.run_id} is {run.status}: its cost is what was measured up to its last reading, a lower bound")
    desc = (f"measured search run {run.run_id} ({run.status}; {run.seconds:,.4g} s, {run.total_energy_j:,.4g} J device, "
            f"{len(run.spans)} span(s), meters {', '.join(k + ' ' + v['provenance'] for k, v in run.meters.items())})")
    inputs = [{"name": "search_run", "value": run.run_id, "unit": "", "kind": "measured" if a.co2e_low_kg == a.co2e_high_kg
               else "estimated", "source": f"nas-analyzer track, log {run.log}"}, *a.inputs]
    site = site_from_dict(run.site)
    return SearchCost(a.co2e_kg, a.co2e_low_kg, a.co2e_high_kg, a.facility_energy_kwh, a.embodied_co2e_kg or 0.0, desc,
                      run.hardware, kg_per_facility_kwh(site),
                      a.facility_energy_kwh / (hours * chips) if hours > 0 else None, site, inputs, notes)


def by_identity(run: TrackedRun) -> dict[str, dict[str, float]]:
    """The run's measured training per candidate (top-level spans with an identity, summed over its trials): the key
    an Evaluation carries (its `identity`, an arch string, or 'sha256:' + its file's `sha256`), so measured training
    joins projected serving."""
    out: dict[str, dict[str, float]] = {}
    for s in run.spans:
        if s["parent"] or not s["identity"]:
            continue
        row = out.setdefault(s["identity"], {"trials": 0, "energy_j": 0.0, "seconds": 0.0, "co2e_kg": 0.0})
        row["trials"] += 1
        row["energy_j"] += s["energy_j"]
        row["seconds"] += s["seconds"] or 0.0
        row["co2e_kg"] += s["co2e_kg"]
    return out


def evaluation_key(identity: str, sha256: str) -> str:
    """The key by_identity uses for an evaluated candidate: its identity where it has one, else its file's hash."""
    return identity or (f"sha256:{sha256}" if sha256 else "")
