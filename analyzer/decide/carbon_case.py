"""The use cases `footprint(request)` and `fourms(request)`: a run's energy and CO2e, and the 4Ms between two
settings, from their requests (the accounting is account/carbon.py's and account/fourms.py's)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checks import check_number
from ..errors import UsageError, param
from ..profiles import ProfileSet
from ..target import SiteRequest as SiteGiven, resolve_site
from ..units import HOURS_PER_DAY


@dataclass(frozen=True)
class SiteRequest:
    """Where something runs, as given: PUE or a datacenter, a grid intensity or a region NAME[@YEAR] (CFE-net with
    `net`); None: the stated default, said in the notes."""

    pue: float | None = None
    datacenter: str | None = None
    grid: float | None = None
    region: str | None = None
    net: bool = False


@dataclass(frozen=True)
class FootprintRequest:
    """`footprint`: chips of a hardware for hours (or days), at a measured average power or TDP x utilization, at a
    site, within the accounting boundaries."""

    hardware: str
    count: float = 1
    hours: float | None = None
    days: float | None = None
    avg_power_w: float | None = None
    utilization: float | None = None
    site: SiteRequest = SiteRequest()
    power_boundary: str | None = None
    embodied_boundary: str | None = None


def footprint(ps: ProfileSet, req: FootprintRequest) -> Any:
    """The run's footprint record (account/carbon.py), the site's notes first."""
    from ..account.carbon import footprint as compute

    if (req.hours is None) == (req.days is None):
        raise UsageError(f"give exactly one of {param('hours')} and {param('days')}")
    length = check_number("hours" if req.hours is not None else "days", req.hours if req.hours is not None else req.days, 0, 1e7,
                          low_open=True)
    s = req.site
    # the run's chips are busy for its hours (no idle share); utilization here scales their power from TDP
    site = resolve_site(ps, SiteGiven(s.pue, s.datacenter, s.grid, s.region, s.net, req.power_boundary, req.embodied_boundary),
                        utilization=1.0)
    result = compute(ps.get("hardware", req.hardware), req.count, length if req.hours is not None else length * HOURS_PER_DAY,
                     site, avg_power_w=req.avg_power_w, utilization=req.utilization)
    result.notes[:0] = list(site.notes)
    return result


@dataclass(frozen=True)
class FourmSide:
    """One side of the 4Ms: its hardware, its compute (stated FLOPs or a model file's), the dtype of its peak, a
    stated throughput (TFLOP/s) and power (W) per chip, and its site."""

    hardware: str
    model: str | None = None
    flops: float | None = None
    dtype: str | None = None
    tflops: float | None = None
    power_w: float | None = None
    site: SiteRequest = SiteRequest()


@dataclass(frozen=True)
class FourmRequest:
    base: FourmSide
    new: FourmSide
    model_ratio: float | None = None
    achievable: bool = False


def _compute(model: str | None, flops: float | None, side: str) -> float | None:
    if model is not None and flops is not None:
        raise UsageError(f"give {param(side + '_model')} or {param(side + '_flops')}, not both")
    if model is not None:
        from ..count import profile_onnx

        return float(profile_onnx(Path(model), scan_sparsity=False).flops)
    if flops is not None:
        return check_number(f"{side}_flops", flops, 0, 1e30, low_open=True)
    return None


def fourms(ps: ProfileSet, req: FourmRequest) -> Any:
    """The 4Ms record (account/fourms.py), the sites' notes first."""
    from ..account.fourms import Scenario, four_ms

    notes: list[str] = []
    sides = []
    for label, x in (("base", req.base), ("new", req.new)):
        s = x.site
        site = resolve_site(ps, SiteGiven(s.pue, s.datacenter, s.grid, s.region, s.net), prefix=f"{label}_", who=label)
        notes += site.notes
        for name, v in ((f"{label}_tflops", x.tflops), (f"{label}_power_w", x.power_w)):
            if v is not None:
                check_number(name, v, 0, 1e7, low_open=True)
        sides.append(Scenario(ps.get("hardware", x.hardware), _compute(x.model, x.flops, label), x.dtype, x.tflops,
                              req.achievable, x.power_w, None, site=site, label=label))
    if req.model_ratio is not None:
        check_number("model_ratio", req.model_ratio, 0, 1e12, low_open=True)
    result = four_ms(sides[0], sides[1], req.model_ratio)
    result.notes[:0] = notes
    return result
