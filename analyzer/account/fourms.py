"""The 4Ms (Patterson et al. 2022): explain an energy and CO2e reduction between two scenarios as the
product of Model (compute), Machine (performance per watt), Mechanization (PUE) and Map (grid intensity). The one
definition (`factors`), used by `fourm` and by the analysis's illustrative 4Ms (decide/analysis.py):

  device energy per unit of work  e = compute / (FLOP per device J);  facility E = e x PUE (account/step.py)
  energy factor  = E_base / E_new = Model x Machine x Mechanization
  CO2e factor    = energy factor x Map
with Model = compute_base / compute_new (FLOPs), Machine = (FLOP/J)_new / (FLOP/J)_base (throughput / power: a
datasheet or measured peak, a stated throughput, or, in the analysis, a projection's FLOPs per joule of each model
on its hardware), Mechanization = PUE_base / PUE_new, Map = intensity_base / intensity_new.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .boundary import power_at
from .carbon import choose_power, hardware_of, site_of
from ..checks import check_bool, check_instance, check_number, check_text
from ..errors import UsageError, param
from ..profiles import HardwareProfile, default_dtype
from ..target import Site
from .step import DeviceCost, account

TFLOPS = 1e12  # FLOP/s per TFLOP/s


@dataclass(frozen=True)
class Scenario:
    hardware: HardwareProfile  # or its name, resolved among the shipped profiles
    compute_flops: float | None = None  # absolute work, if known
    dtype: str | None = None  # None: the first of bf16, fp16, tf32, fp32 the profile has (said in the inputs)
    throughput_tflops: float | None = None  # stated per-chip throughput on this workload (TFLOP/s)
    achievable: bool = False  # use the profile's measured ceiling instead of the datasheet peak
    avg_power_w: float | None = None
    utilization: float | None = None
    site: Site | None = None  # where it runs (analyzer.target.resolve_site): PUE and grid intensity
    label: str = ""

    def __post_init__(self) -> None:
        """Checked as it is made: a hardware profile or its name; positive, finite compute, throughput and power."""
        object.__setattr__(self, "hardware", hardware_of("hardware", self.hardware))
        for name, high in (("compute_flops", 1e40), ("throughput_tflops", 1e9), ("avg_power_w", 1e5)):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), 0.0, high, low_open=True)
        if self.utilization is not None:
            check_number("utilization", self.utilization, 0.0, 1.0, low_open=True)
        check_text("dtype", self.dtype, optional=True)
        check_bool("achievable", self.achievable)
        check_text("label", self.label)
        if self.site is not None:
            site_of("site", self.site)


@dataclass(frozen=True)
class Side:
    label: str
    hardware: str
    throughput_tflops: float
    avg_power_w: float
    tflops_per_w: float
    pue: float
    grid_gco2e_per_kwh: float
    compute_flops: float | None
    energy_kwh: float | None
    co2e_kg: float | None


@dataclass(frozen=True)
class FourMs:
    model: float
    machine: float
    mechanization: float
    map: float
    energy: float
    co2e: float
    base: Side
    new: Side
    inputs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FourMs":
        d = dict(d)
        return cls(**{**d, "base": Side(**d["base"]), "new": Side(**d["new"])})


def _throughput(s: Scenario, side: str) -> tuple[float, dict]:
    hw = s.hardware
    if s.throughput_tflops is not None:
        if not s.throughput_tflops > 0:
            raise UsageError(f"{side} throughput must be > 0 TFLOP/s")
        return s.throughput_tflops, {"name": f"{side}.throughput_tflops", "value": s.throughput_tflops, "unit": "TFLOP/s",
                                     "source": "stated by the user", "kind": "stated"}
    table = hw.achievable_tflops if s.achievable else hw.peak_tflops
    dtype = s.dtype or default_dtype(table) or "bf16"
    if dtype not in table:
        which = "achievable (measured)" if s.achievable else "peak"
        raise UsageError(f"hardware '{hw.name}' has no {which} {dtype} throughput; it has: {', '.join(table) or 'none'}")
    v = table[dtype]
    return v.value, v.as_input(f"{side}.throughput_tflops ({dtype}, {'achievable' if s.achievable else 'datasheet peak'})", "TFLOP/s")


def _side(s: Scenario, side: str, compute: float | None) -> tuple[Side, list[dict], list[str]]:
    tput, t_in = _throughput(s, side)
    watts, w_in, w_note, measured_at = choose_power(s.hardware, s.avg_power_w, s.utilization)
    if s.site is None:
        raise UsageError(f"{side}: no site (PUE and grid intensity) given")
    # both sides at the site's power boundary (account/boundary.py): a chip's power against a system's is no Machine
    # factor; a stated power is taken at the boundary it is given for
    measured_at = measured_at or s.site.power_boundary
    watts, moved = power_at(s.hardware, watts, measured_at, s.site.power_boundary)
    if moved:
        w_in = w_in | {"value": watts, "boundary": s.site.power_boundary}
    pue, grid, (p_in, g_in) = s.site.pue, s.site.grid_gco2e_per_kwh, s.site.inputs[:2]
    if grid <= 0:
        raise UsageError(f"{side}: grid intensity is 0; the Map factor is undefined")
    p_in, g_in = p_in | {"name": f"{side}.pue"}, g_in | {"name": f"{side}.grid_gco2e_per_kwh"}
    a = None
    if compute is not None:  # the work's device energy at the site's boundary, through the accounting step
        busy_s = compute / (tput * TFLOPS)
        a = account(DeviceCost(busy_s * watts, busy_s, busy_s, boundary=s.site.power_boundary), s.site)
    out = Side(s.label or side, s.hardware.name, tput, watts, tput / watts, pue, grid, compute,
               None if a is None else a.facility_energy_kwh, None if a is None else a.co2e_kg)
    return out, [t_in, w_in | {"name": f"{side}.avg_power_w"}, p_in, g_in], ([f"{side}: {w_note}"] if w_note else []) + \
        [f"{side}: {n}" for n in moved]


def four_ms(base: Scenario, new: Scenario, model_ratio: float | None = None) -> FourMs:
    """Factors of the 4Ms between base and new. Model comes from compute_flops on both sides, or from a
    stated model_ratio (compute_base / compute_new)."""
    check_instance("base", base, Scenario, "a Scenario")
    check_instance("new", new, Scenario, "a Scenario")
    inputs: list[dict] = []
    if model_ratio is not None:
        check_number("model_ratio", model_ratio, 0.0, 1e12, low_open=True)
        model = model_ratio
        inputs.append({"name": "model_ratio", "value": model_ratio, "unit": "", "source": "stated by the user", "kind": "stated"})
        new_compute = None if base.compute_flops is None else base.compute_flops / model_ratio
        base_compute = base.compute_flops
    elif base.compute_flops and new.compute_flops:
        model = base.compute_flops / new.compute_flops
        base_compute, new_compute = base.compute_flops, new.compute_flops
    else:
        raise UsageError(f"Model factor: give compute (FLOPs or a profiled model) for both sides, or {param('model_ratio')}")
    b, b_in, b_notes = _side(base, "base", base_compute)
    n, n_in, n_notes = _side(new, "new", new_compute)
    f = factors(model, b.tflops_per_w, n.tflops_per_w, base.site, new.site)  # type: ignore[arg-type]
    notes = b_notes + n_notes
    if base_compute is None:
        notes.append("no absolute compute given: factors only (energy_kwh and co2e_kg are null)")
    return FourMs(f["model"], f["machine"], f["mechanization"], f["map"], f["energy"], f["co2e"], b, n, inputs + b_in + n_in,
                  notes)


def factors(model: float, base_flops_per_j: float, new_flops_per_j: float, base_site: Site, new_site: Site) -> dict[str, float]:
    """The 4Ms, defined once: Model = compute_base / compute_new (given); Machine = (FLOP/J)_new / (FLOP/J)_base (any one
    unit on both sides: TFLOP/s per W is FLOP per J x 1e12); Mechanization = PUE_base / PUE_new; Map = gCO2e/kWh base /
    new; energy = Model x Machine x Mechanization; CO2e = energy x Map."""
    machine = new_flops_per_j / base_flops_per_j
    mechanization = base_site.pue / new_site.pue
    map_ = base_site.grid_gco2e_per_kwh / new_site.grid_gco2e_per_kwh
    energy = model * machine * mechanization
    return {"model": model, "machine": machine, "mechanization": mechanization, "map": map_, "energy": energy,
            "co2e": energy * map_}
