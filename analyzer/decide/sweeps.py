"""The analysis's sensitivities (issue #36 gave them their own module and records): each assumption of the
amortisation moved alone, and the pair re-evaluated with the target changed in one setting (batch, runtime, dtype,
hardware), through the results store."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..dist import Dist
from ..errors import AnalyzerError
from ..profiles import defaults
from ..records import Evaluation
from ..target import Target, TargetRequest, resolve_target
from .amortize import AmortizeInputs
from .sensitivity import Scenario, Sensitivity, discrete, median_flip, scenario_sensitivities


@dataclass(frozen=True)
class Amortised:
    """The amortisation as the verdict read it: the search's cost (account/search_cost.py SearchCost), the reuse
    inputs and horizon, the per-item scale, and the verdict's medians (saving gCO2e/item, search kgCO2e), its
    break-even volume and its search band (p5, p95 kgCO2e)."""

    sc: Any
    inputs: AmortizeInputs
    years: Dist
    per: float = 1.0
    centre: tuple[float | None, float | None] = (None, None)
    break_even: dict | None = None
    search_band: tuple = (None, None)


@dataclass(frozen=True)
class Reevaluation:
    """How to evaluate the pair again: its model files, the in-memory cache, the results store and its profiles
    version."""

    paths: list[Path]
    cache: dict
    store: Any = None
    profiles_ver: str = ""


def pair_sensitivities(req, ps, target: Target, pair, base: Evaluation, nas: Evaluation, amortised: Amortised,
                       again: Reevaluation) -> list[Sensitivity]:
    """Each assumption moved alone, the others at their medians (the per-item saving and the search cost as the
    amortisation drew them: the values the verdict prints; the reuse inputs' medians are their points); the daily
    volume's flip is the verdict's median break-even volume, so the two print one value."""
    from ..engine import evaluate

    sc, inputs, years, per = amortised.sc, amortised.inputs, amortised.years, amortised.per
    centre, break_even, search_band = amortised.centre, amortised.break_even, amortised.search_band
    paths, cache, store, profiles_ver = again.paths, again.cache, again.store, again.profiles_ver

    saving_mid, search_mid = centre
    point = Scenario((base.co2e_g_per_item - nas.co2e_g_per_item) * per if saving_mid is None else saving_mid,
                     sc.cost_kg if search_mid is None else search_mid, inputs.items_per_day.point,
                     inputs.deployments.point, inputs.horizon_days.point, inputs.growth_per_year.point)
    dep = inputs.deployments
    ranges = {"items_per_day": (inputs.items_per_day.low, inputs.items_per_day.high),
              "deployments": (dep.low, dep.high) if dep.is_range else (max(dep.point / 3, 1.0), dep.point * 3),
              "horizon_years": (years.low, years.high) if years.is_range else (years.point / 3, years.point * 3),
              "search_kg": (sc.low_kg, sc.high_kg) if sc.low_kg < sc.high_kg else (sc.cost_kg / 3, sc.cost_kg * 3)}
    if None not in search_band and search_band[0] < search_band[1]:  # the band the verdict prints: the draws' 90%
        ranges["search_kg"] = search_band
    s_pue = sc.site.pue if sc.site else 1.0
    s_grid = sc.site.grid_gco2e_per_kwh if sc.site else 0.0
    out = [median_flip(x, break_even) if x.param == "inferences_per_day" and break_even else x
           for x in scenario_sensitivities(point, ranges, target.pue, target.grid_gco2e_per_kwh, s_pue, s_grid)]
    files = {p.stem: p for p in paths}

    def net_with(**over) -> float | None:
        """The net saving with the pair re-evaluated on the target changed in one setting (the same site)."""
        try:
            served = target.phase.serving
            n = int(over.get("batch", target.batch))  # a decoder's batch is its maximum concurrency
            t2 = resolve_target(ps, TargetRequest(over.get("hardware", target.hardware.name), dtype=over.get("dtype", target.dtype),
                                runtime=over.get("runtime", target.runtime), batch=n, site=target.site, batch_norm=target.batch_norm,
                                phase="serving" if served else None, serving={"max_concurrency": n} if served else None))
            if served:  # the same requests
                t2 = replace(t2, phase=replace(target.phase, serving=replace(served, max_num_seqs=n)))
            # through the results store: a repeated analyze reads the sweeps' evaluations back too
            evs = evaluate([files[pair.baseline], files[pair.nas]], t2, cache=cache, store=store, profiles_ver=profiles_ver)
            if not all(e.ok for e in evs):
                return None
            # the re-projected saving, scaled as the median saving is to the point one (the same draws' spread)
            shift = point.saving_g_per_item / ((base.co2e_g_per_item - nas.co2e_g_per_item) * per or 1.0)
            return point.net_kg(saving_g_per_item=(evs[0].co2e_g_per_item - evs[1].co2e_g_per_item) * per * shift)
        except AnalyzerError:
            return None

    hw = target.hardware
    hw_spec = req.hardware or str(defaults()["serving"]["hardware"].value)  # as named, so the sweep does not repeat it
    dtypes = [d for d in ("fp32", "tf32", "bf16", "fp16") if d in hw.peak_tflops]
    b = str(target.phase.serving.max_num_seqs if target.phase.serving else target.batch)
    sweep = defaults()["sweep"]  # profiles/defaults.toml [sweep]
    batches, hardware = (tuple(x.strip() for x in str(sweep[k].value).split(",")) for k in ("batches", "hardware"))
    sweeps = [("batch", "batch", b, sorted(set(batches) | {b}, key=int),
               lambda v: net_with(batch=int(v))),
              ("runtime", "runtime", target.runtime, ["eager", "graph", "ort"], lambda v: net_with(runtime=v)),
              ("dtype", "dtype", target.dtype, dtypes, lambda v: net_with(dtype=v)),
              ("hardware", "hardware", hw_spec, list(dict.fromkeys([hw_spec, *hardware])),
               lambda v: net_with(hardware=v, dtype=None if v != hw_spec else target.dtype))]
    for name, opt, base_v, values, fn in sweeps:
        s = discrete(name, opt, base_v, values, fn)
        if s is not None:
            out.append(s)
    return out
