"""The one resolver: options and profiles -> a frozen `Target` (and the `Site` of a search). The only module that
reads a datacenter's PUE or a region's grid intensity from the profiles; every default it takes comes from
profiles/defaults.toml and is said in the target's notes.
"""

from __future__ import annotations

from typing import Any

from ..checks import check_number
from ..errors import UsageError, param
from ..profiles import DEFAULT_DTYPE_ORDER, HardwareProfile, NasPreset, ProfileSet, default_dtype, defaults
from ..taxonomy import BATCH_NORM_POLICIES, OPTIMIZERS, PHASES, RUNTIMES, TRAINING_PRECISIONS
from ..units import MAX_BATCH, MAX_DIM
from .records import EMBODIED_POLICIES, Phase, Site, Target

MAX_TOKENS = 1 << 20
PUE_RANGE = (1.0, 5.0)  # total facility power / IT power: 1 is the ideal, 5 beyond any surveyed datacenter
GRID_RANGE = (0.0, 2000.0)  # gCO2e/kWh: 0 (all carbon-free) to above the dirtiest grid (coal, about 1,100)


def _stated(name: str, value: float, unit: str) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "source": "stated by the user", "kind": "stated"}


def _pue(ps: ProfileSet, pue: float | None, datacenter: str | None, prefix: str) -> tuple[float, dict[str, Any], str]:
    if pue is not None:
        p = check_number(prefix + "pue", pue, *PUE_RANGE)
        return p, _stated("pue", p, ""), f"PUE {p:g}"
    dc = ps.get("datacenter", datacenter)
    return dc.pue.value, dc.pue.as_input("pue", "") | {"source": f"{dc.name}: {dc.pue.source}"}, dc.name


def region_intensity(ps: ProfileSet, region: str, net: bool, prefix: str = "") -> tuple[float, dict[str, Any], str, list[str]]:
    """(gCO2e/kWh, its input, label, notes) of a region NAME[@YEAR]: gross (location-based), or with `net` the
    carbon-free-energy-net intensity gross x (1 - CFE share)."""
    reg, row = ps.region_at(region)
    label = f"{reg.name}@{row.year}"
    notes = [f"region {reg.name}: latest year {row.year} used (NAME@YEAR picks another)"] \
        if "@" not in region and len(reg.years) > 1 else []
    if not net:
        return row.grid_gco2e_per_kwh, {"name": "grid_gco2e_per_kwh", "value": row.grid_gco2e_per_kwh, "unit": "gCO2e/kWh",
                                        "source": f"{label} gross: {row.source}", "kind": row.kind}, label, notes
    if row.cfe_fraction is None:
        raise UsageError(f"region {label} has no carbon-free-energy share; {param(prefix + 'net')} needs one "
                         "(Google Cloud regions have it)")
    g = row.grid_gco2e_per_kwh * (1 - row.cfe_fraction)
    return g, {"name": "grid_gco2e_per_kwh", "value": g, "unit": "gCO2e/kWh", "kind": row.kind,
               "source": f"{label} CFE-net: {row.grid_gco2e_per_kwh:g} x (1 - {row.cfe_fraction:g}); {row.source}"}, \
        f"{label} CFE-net", notes


def resolve_site(ps: ProfileSet, *, pue: float | None = None, datacenter: str | None = None, grid: float | None = None,
                 region: str | None = None, net: bool = False, utilization: float = 1.0, embodied: str = "lifetime-share",
                 prefix: str = "", who: str = "", default_datacenter: str | None = None,
                 default_region: str | None = None) -> Site:
    """PUE from `pue` or a datacenter profile, intensity from `grid` or a region (NAME[@YEAR], gross or CFE-net),
    the stated defaults (profiles/defaults.toml) where neither is given, with a note saying so. `prefix` names
    the parameters in errors (a search's site: 'nas_')."""
    if pue is not None and datacenter is not None:
        raise UsageError(f"give one of {param(prefix + 'pue')} and {param(prefix + 'datacenter')}, not both")
    if grid is not None and region is not None:
        raise UsageError(f"give one of {param(prefix + 'grid')} and {param(prefix + 'region')}, not both")
    lead = f"{who}: " if who else ""
    stated = defaults()["site"]
    notes: list[str] = []
    if pue is None and datacenter is None:
        datacenter = default_datacenter or str(stated["datacenter"].value)
        dc = ps.get("datacenter", datacenter)
        notes.append(f"{lead}no PUE or datacenter given: assumed {dc.name} (PUE {dc.pue.value:g})")
    p, p_in, p_label = _pue(ps, pue, datacenter, prefix)
    if grid is not None:
        if net:
            raise UsageError(f"{param(prefix + 'net')} needs {param(prefix + 'region')} (a stated intensity is used as given)")
        g = check_number(prefix + "grid", grid, *GRID_RANGE)
        g_in, g_label = _stated("grid_gco2e_per_kwh", g, "gCO2e/kWh"), f"{g:g} gCO2e/kWh"
    else:
        given = region is not None
        if region is None:
            region = default_region or str(stated["region"].value)
            reg, row = ps.region_at(region)
            notes.append(f"{lead}no grid intensity or region given: assumed {reg.name} ({row.grid_gco2e_per_kwh:g} gCO2e/kWh)")
        g, g_in, g_label, more = region_intensity(ps, region, net, prefix)
        notes += [f"{lead}{n}" for n in more if given]
    u = check_number("utilization", utilization, 0.0, 1.0, low_open=True)
    if embodied not in EMBODIED_POLICIES:
        raise UsageError(f"{param('embodied')} '{embodied}': expected one of {', '.join(EMBODIED_POLICIES)}")
    inputs = (p_in, g_in, {"name": "utilization", "value": u, "unit": "",
                           "source": "stated (embodied share assumes this busy fraction)", "kind": "stated"})
    return Site(p, g, inputs, tuple(notes), u, embodied, f"{p_label}, {g_label}")


def resolve_search_site(ps: ProfileSet, preset: NasPreset | None, *, pue: float | None = None, datacenter: str | None = None,
                        grid: float | None = None, region: str | None = None, net: bool = False) -> Site:
    """Where a search ran: the user's site if any part of it was given; else the preset's own accounting (its
    PUE and grid, where its publication gives them); else the stated defaults."""
    from dataclasses import replace

    if any(v is not None for v in (pue, datacenter, grid, region)) or preset is None:
        site = resolve_site(ps, pue=pue, datacenter=datacenter, grid=grid, region=region, net=net, prefix="nas_", who="search")
        return replace(site, inputs=site.inputs[:2])  # PUE and grid: a search is charged by its chip-hours
    fallback = resolve_site(ps, prefix="nas_", who="search")
    p, p_in = (preset.site_pue.value, preset.site_pue.as_input("pue", "")) if preset.site_pue else (fallback.pue, fallback.inputs[0])
    if preset.site_grid_gco2e_per_kwh is not None:
        g, g_in = preset.site_grid_gco2e_per_kwh.value, preset.site_grid_gco2e_per_kwh.as_input("grid_gco2e_per_kwh", "gCO2e/kWh")
    else:
        g, g_in = fallback.grid_gco2e_per_kwh, fallback.inputs[1]
    notes = [n for n in fallback.notes if ("PUE" in n and not preset.site_pue) or ("grid" in n and not preset.site_grid_gco2e_per_kwh)]
    if preset.site_pue is not None or preset.site_grid_gco2e_per_kwh is not None:
        notes.insert(0, f"search sited as {preset.title} ran: PUE {p:g}, {g:g} gCO2e/kWh "
                        f"({preset.site_pue.kind if preset.site_pue else 'default'})")
    return Site(p, g, (p_in, g_in), tuple(notes), label=f"as {preset.name} ran")


def resolve_phase(phase: str | None, prompt_tokens: int | None = None, output_tokens: int | None = None,
                  optimizer: str | None = None) -> tuple[Phase, list[str]]:
    """The phase and its lengths; `decode` with output tokens is a whole response. Notes say which defaults were
    taken."""
    kind = phase or "inference"
    if kind not in PHASES:
        raise UsageError(f"{param('phase')} '{phase}': expected one of prefill, decode, train")
    notes: list[str] = []
    if kind in ("inference", "train") and (prompt_tokens is not None or output_tokens is not None):
        raise UsageError(f"{param('prompt_tokens')} and {param('output_tokens')} need {param('phase')} prefill or decode")
    if kind != "train" and optimizer is not None:
        raise UsageError(f"{param('optimizer')} prices a training step: use it with {param('phase')} train")
    if kind == "train":
        opt = optimizer or "sgd-momentum"
        if opt not in OPTIMIZERS:
            raise UsageError(f"{param('optimizer')} '{opt}': expected one of {', '.join(OPTIMIZERS)}")
        if optimizer is None:
            notes.append(f"no optimizer given: {opt} assumed")
        return Phase("train", optimizer=opt), notes
    if kind == "inference":
        return Phase(), notes
    if prompt_tokens is None:
        prompt_tokens = int(defaults()["target"]["prompt_tokens"].value)
        notes.append(f"no prompt length given: assumed {prompt_tokens} tokens")
    if kind == "prefill" and output_tokens is not None:
        raise UsageError(f"{param('output_tokens')} prices a response: use it with {param('phase')} decode")
    for name, v in (("prompt_tokens", prompt_tokens), ("output_tokens", output_tokens)):
        if v is not None and not 1 <= v <= MAX_TOKENS:
            raise UsageError(f"{param(name)} {v}: must be from 1 to {MAX_TOKENS:,}")
    if kind == "decode" and output_tokens is not None:
        kind = "response"
    return Phase(kind, prompt_tokens, output_tokens), notes


def serving_defaults(hw: HardwareProfile, dtype: str | None, runtime: str | None, batch: int | None) -> tuple[str | None, str, int, list[str]]:
    """The serving default (profiles/defaults.toml [serving]) for what is not given: dtype (the hardware's first of
    bf16, fp16, tf32, fp32 where it has not the default's), runtime (a CPU's own where it is a CPU) and batch; one
    note says which were taken."""
    d = defaults()["serving"]
    taken = []
    if dtype is None:
        dtype = str(d["dtype"].value)
        if dtype not in hw.peak_tflops:
            dtype = default_dtype(hw.peak_tflops)
            taken.append(f"dtype {dtype} ({hw.name} has no {d['dtype'].value})")
        else:
            taken.append(f"dtype {dtype}")
    if runtime is None:
        runtime = str(d["cpu_runtime" if hw.category == "cpu" else "runtime"].value)
        taken.append(f"runtime {runtime}")
    if batch is None:
        batch = int(d["batch"].value)
        taken.append(f"batch {batch}")
    notes = [f"serving default (profiles/defaults.toml): {', '.join(taken)}"] if taken else []
    return dtype, runtime, batch, notes


def resolve_target(ps: ProfileSet, hardware: str | None = None, *, dtype: str | None = None, runtime: str | None = None,
                   batch: int | None = None, phase: str | None = None, prompt_tokens: int | None = None,
                   output_tokens: int | None = None, optimizer: str | None = None, dims: dict[str, int] | None = None,
                   assume_upper_bound: bool = False, per_kernel: bool = False, pue: float | None = None,
                   datacenter: str | None = None, grid: float | None = None, region: str | None = None, net: bool = False,
                   utilization: float = 1.0, embodied: str = "lifetime-share", site: Site | None = None,
                   batch_norm: str = "auto") -> Target:
    """The target: hardware (name or alias), dtype, runtime, batch, phase and the site (or `site` as resolved
    already). What is not given is the serving default (profiles/defaults.toml [serving]: hardware, dtype,
    runtime, batch, datacenter and region), one place for every command, each default taken said in the notes.
    A training step runs as eager PyTorch launches it (compiled by XLA on a TPU), in the hardware's first of
    bf16, fp16, tf32, fp32 and batch 1 where not given, and at the run site's default ([site])."""
    serving = defaults()["serving"]
    notes: list[str] = []
    if hardware is None:
        hardware = str(serving["hardware"].value)
        notes.append(f"no hardware given: the serving default, {hardware} ({serving['hardware'].why})")
    hw: HardwareProfile = ps.get("hardware", hardware)
    ph, phase_notes = resolve_phase(phase, prompt_tokens, output_tokens, optimizer)
    if ph.kind == "train":
        chosen = dtype or default_dtype(hw.peak_tflops)
        if dtype is None and chosen is not None:
            notes.append(f"no dtype given: a training step in {chosen}")
        if batch is None:
            batch = 1
            notes.append("no batch given: a training step of batch 1")
    else:
        chosen, rt, batch, taken = serving_defaults(hw, dtype, runtime, batch)
        notes += taken
    if chosen is None:
        raise UsageError(f"hardware '{hw.name}' has none of {', '.join(DEFAULT_DTYPE_ORDER)}; give {param('dtype')}")
    if chosen not in hw.peak_tflops:
        raise UsageError(f"hardware '{hw.name}' has no {chosen} throughput; it has: {', '.join(hw.peak_tflops)}")
    if ph.kind == "train":
        if chosen not in TRAINING_PRECISIONS:
            raise UsageError(f"{param('dtype')} {chosen}: training is projected in fp32 or with bf16/fp16 autocast")
        if runtime not in (None, "eager"):
            raise UsageError(f"{param('runtime')} {runtime}: a training step is projected as eager PyTorch runs it "
                             f"({param('runtime')} eager)")
        rt = "graph" if hw.category == "tpu" else "eager"
    elif rt not in RUNTIMES:
        raise UsageError(f"{param('runtime')} '{rt}': expected one of {', '.join(RUNTIMES)}")
    b = int(check_number("batch", batch, 1, MAX_BATCH))
    if batch_norm not in BATCH_NORM_POLICIES:
        raise UsageError(f"{param('batch_norm')} '{batch_norm}': expected one of {', '.join(BATCH_NORM_POLICIES)}")
    bound = tuple(sorted((dims or {}).items()))
    for name, v in bound:
        check_number("dim", v, 0, MAX_DIM)
    if site is None:
        at = {} if ph.kind == "train" else {"default_datacenter": str(serving["datacenter"].value),
                                            "default_region": str(serving["region"].value)}
        site = resolve_site(ps, pue=pue, datacenter=datacenter, grid=grid, region=region, net=net, utilization=utilization,
                            embodied=embodied, **at)
    return Target(hw, chosen, rt, b, site, ph, bound, assume_upper_bound, per_kernel, batch_norm,
                  tuple(notes + phase_notes) + site.notes)
