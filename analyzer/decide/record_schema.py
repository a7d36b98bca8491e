"""The schema of a saved analysis (analysis.json, schema_version 2), as `report` reads it back: every field the
report renders, with its type and range, and the relations it relies on (the pair's models are among the ranked
ones). `check_analysis` names the first wrong field in one line (`ranking[1].co2e_g_per_item -1.0: must be a number
from 0 to 1e+40`), so a damaged or hand-edited file is refused before anything is drawn. Fields the report does not
read are left as they are (a newer tool may add some). Booleans are not numbers.
"""

from __future__ import annotations

from typing import Any

from ..checks import ANY, BIG, BOOL, TEXT, List, Map, Num, Obj, Opt, check, wrong
from ..errors import UsageError
from ..units import MAX_BATCH

NN = Num(0.0)
SHARE = Num(0.0, 1.0)
# what the report reads of an input (report/html.py provenance): its name and value, and where present its unit, kind and source
INPUT = Obj({"name": TEXT, "value": ANY}, {"unit": Opt(TEXT), "kind": Opt(TEXT), "source": Opt(TEXT)})
PROJECTION = Obj({"name": TEXT, "energy_j_per_item": NN, "energy_range_j": Obj({"low": NN, "high": NN}), "co2e_g_per_item": NN,
                  "co2e_kg_per_million": NN, "embodied_co2e_g_per_item": Opt(NN), "basis": TEXT, "inputs": List(INPUT),
                  "detail": Obj({})})
SCHEMA = Obj({
    "request": Obj({}),
    "target": Obj({"hardware": TEXT, "dtype": TEXT, "runtime": TEXT, "batch": Num(1, MAX_BATCH, integer=True),
                   "pue": Num(1.0, 5.0), "grid_gco2e_per_kwh": Num(0.0, 2000.0)}),
    "scenario": Obj({"items_per_day_per_deployment": TEXT, "deployments": TEXT, "horizon_years": TEXT}),
    "ranking": List(Obj({"name": TEXT, "role": TEXT, "accuracy": Opt(Num(0.0, 100.0)), "co2e_g_per_item": NN,
                         "energy_j_per_item": NN, "latency_s": NN, "rank": Opt(Num(1, BIG, integer=True)), "pareto": BOOL,
                         "dominated_by": List(TEXT), "excluded": TEXT})),
    "projections": List(PROJECTION),
    "pair": Obj({"baseline": TEXT, "nas": TEXT, "how": TEXT, "matched": BOOL, "accuracy_gap_points": Opt(Num(-100.0, 100.0))}),
    "search": Obj({"description": TEXT, "cost_kg": NN, "inputs": List(INPUT)}),
    "saving": Obj({}),
    "amortization": Obj({"spent_kg": NN, "items_over_horizon": NN, "break_even_items": Opt(NN), "net_savings_kg": Opt(Num()),
                         "intensity_g_per_item": Obj({"operational (SCI for AI: training excluded)": NN})},
                        # the break-even table's percentiles (report/html.py), where the analysis drew them
                        {"uncertainty": Opt(Map(Obj({}, {q: Opt(Num()) for q in ("p5", "p50", "p95")})))}),
    "verdict": Obj({"outcome": TEXT, "p_net_saving": Opt(SHARE), "text": TEXT}),  # None: no probability (not the same job)
    "sensitivities": List(Obj({"name": TEXT, "param": TEXT, "base": TEXT, "flip": Opt(TEXT), "tried": TEXT, "low": TEXT,
                               "high": TEXT, "net_low_kg": Num(), "net_high_kg": Num(), "swing_kg": NN})),
    "fourms": Opt(Obj({"model": Num(1e-12), "machine": Num(1e-12), "mechanization": Num(1e-12), "map": Num(1e-12)})),
    "notes": List(TEXT),
    "errors": List(TEXT),
})
DETAIL = Obj({})  # a projection's detail: its breakdown by kernel class and its bound shares, where present
BREAKDOWN = Map(Obj({"time_share": SHARE, "energy_share": SHARE}))
BOUND = Map(SHARE)


def check_analysis(d: Any) -> None:
    """The whole record (see the module docstring); the first wrong field is the error."""
    if not isinstance(d, dict):
        raise UsageError(f"not an analysis: a JSON {type(d).__name__}, not an object")
    check({"notes": [], "errors": [], **d}, SCHEMA, "")
    for i, p in enumerate(d["projections"]):
        detail = p["detail"]
        if "breakdown" in detail:
            check(detail["breakdown"], BREAKDOWN, f"projections[{i}].detail.breakdown")
        if "bound" in detail:
            check(detail["bound"], BOUND, f"projections[{i}].detail.bound")
        if "kernels" in p:
            check(p["kernels"], Num(0, BIG, integer=True), f"projections[{i}].kernels")
    names = {r["name"] for r in d["ranking"]}
    for role in ("baseline", "nas"):
        if d["pair"][role] not in names:
            raise wrong(f"pair.{role}", d["pair"][role], "is not among the ranked candidates")


def check_request(req: Any) -> None:
    """An AnalysisRequest checked as it is made, each field by its name (the CLI's flags have the same names): text
    where text belongs (a folder or plan may be a Path), numbers finite and in range, counts whole; a reuse figure
    may be a number (written as its text)."""
    from ..checks import check_bool, check_int, check_number, check_path, check_text
    from .amortize import MAX_SAMPLES

    for name in ("folder", "search_plan"):
        v = getattr(req, name)
        if v is not None or name == "folder":
            object.__setattr__(req, name, str(check_path(name, v)))
    for name in ("baseline", "nas_model", "hardware", "dtype", "runtime", "datacenter", "region", "power_boundary",
                 "embodied_boundary", "nas_preset", "nas_datacenter", "nas_region", "budget_hardware"):
        check_text(name, getattr(req, name), optional=True)
    check_text("batch_norm", req.batch_norm)
    check_text("objective", req.objective)
    for name in ("items_per_day", "deployments", "horizon_years", "growth", "per_deployment_cost_kg", "retrains"):
        v = getattr(req, name)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            object.__setattr__(req, name, repr(check_number(name, v, -BIG, BIG)))
        else:
            check_text(name, v)
    for name, low, high in (("accuracy_tolerance", 0.0, 100.0), ("pue", 1.0, 5.0), ("grid", 0.0, 2000.0),
                            ("utilization", 0.0, 1.0), ("nas_cost_kg", 0.0, 1e12), ("nas_pue", 1.0, 5.0),
                            ("nas_grid", 0.0, 2000.0), ("max_latency_ms", 0.0, 1e9), ("min_accuracy", 0.0, 100.0)):
        v = getattr(req, name)
        if v is not None or name == "accuracy_tolerance":
            check_number(name, v, low, high)
    if req.batch is not None:
        check_int("batch", req.batch, 1, MAX_BATCH)
    check_int("samples", req.samples, 100, MAX_SAMPLES)
    check_int("seed", req.seed, 0, 2 ** 63 - 1)
    check_bool("net", req.net)
    check_bool("sensitivity", req.sensitivity)
