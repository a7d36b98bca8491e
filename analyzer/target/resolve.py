"""The one resolver: options and profiles -> a frozen `Target` (and the `Site` of a search). The only module that
reads a datacenter's PUE or a region's grid intensity from the profiles; every default it takes comes from
profiles/defaults.toml and is said in the target's notes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..checks import check_bool, check_dims, check_instance, check_int, check_keys, check_number, check_text
from ..errors import UsageError, echo, param
from ..profiles import DEFAULT_DTYPE_ORDER, HardwareProfile, NasPreset, ProfileSet, default_dtype, defaults
from ..taxonomy import (BATCH_NORM_POLICIES, EMBODIED_BOUNDARIES, KV_DTYPES, LENGTH_DISTRIBUTIONS, MEMORY_FORMATS, OPTIMIZERS, PHASES,
                        POWER_BOUNDARIES, RUNTIMES, TRAINING_PRECISIONS)
from ..units import MAX_BATCH, MAX_DIM
from .records import EMBODIED_POLICIES, Phase, Serving, Site, SiteRequest, Target, TargetRequest

MAX_TOKENS = 1 << 20  # a prompt, a response, a serving step's token budget
MAX_CONCURRENCY = 1 << 16  # requests a served decoder runs at once
SERVING_KEYS = ("max_concurrency", "max_batched_tokens", "kv_dtype", "lengths", "tensor_parallel")
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


def resolve_site(ps: ProfileSet, request: SiteRequest = SiteRequest(), *, utilization: float | None = None,
                 embodied: str = "lifetime-share", prefix: str = "", who: str = "",
                 fallback: tuple[str | None, str | None] = (None, None)) -> Site:
    """PUE from `request.pue` or a datacenter profile, intensity from `request.grid` or a region (NAME[@YEAR], gross
    or CFE-net), the hardware's busy share (`utilization`) and the accounting boundaries (account/boundary.py), the
    stated defaults (profiles/defaults.toml) where one is not given, with a note saying so; `fallback` is the
    (datacenter, region) to assume before those defaults. `prefix` names the parameters in errors (a search's
    site: 'nas_')."""
    check_instance("ps", ps, ProfileSet, "a ProfileSet, as load_profiles() returns")
    check_instance("request", request, SiteRequest, "a SiteRequest(pue=..., grid=...)")
    pue, datacenter, grid, region, net = request.pue, request.datacenter, request.grid, request.region, request.net
    power_boundary, embodied_boundary = request.power_boundary, request.embodied_boundary
    default_datacenter, default_region = fallback
    check_text(prefix + "datacenter", datacenter, optional=True)
    check_text(prefix + "region", region, optional=True)
    check_bool(prefix + "net", net)
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
    if utilization is None:
        d = defaults()["serving"]["utilization"]
        u, u_src, u_kind = float(d.value), f"default: {d.why}", "estimated"
        notes.append(f"{lead}no utilisation given: the hardware is busy {u:.0%} of the time, idle the rest (idle power and "
                     "embodied share charged per item)")
    else:
        u, u_src, u_kind = check_number("utilization", utilization, 0.0, 1.0, low_open=True), "stated", "stated"
    check_text("embodied", embodied, EMBODIED_POLICIES)
    power_b, embodied_b = resolve_boundaries(power_boundary, embodied_boundary)
    inputs = (p_in, g_in, {"name": "utilization", "value": u, "unit": "", "kind": u_kind,
                           "source": f"{u_src} (the busy share: idle time and the embodied share are spread over it)"})
    return Site(p, g, inputs, tuple(notes), u, embodied, f"{p_label}, {g_label}", power_boundary=power_b,
                embodied_boundary=embodied_b)


def resolve_boundaries(power: str | None, embodied: str | None) -> tuple[str, str]:
    """The accounting boundaries (account/boundary.py): as given, else profiles/defaults.toml [boundary]."""
    d = defaults()["boundary"]
    p = power or str(d["power"].value)
    e = embodied or str(d["embodied"].value)
    check_text("power_boundary", p, POWER_BOUNDARIES)
    check_text("embodied_boundary", e, EMBODIED_BOUNDARIES)
    return p, e


def resolve_search_site(ps: ProfileSet, preset: NasPreset | None, given: SiteRequest = SiteRequest()) -> Site:
    """Where a search ran: the user's site if any part of it was given; else the preset's own accounting (its
    PUE and grid, where its publication gives them); else the stated defaults."""
    if any(v is not None for v in (given.pue, given.datacenter, given.grid, given.region)) or preset is None:
        site = resolve_site(ps, given, prefix="nas_", who="search", utilization=1.0)
        return replace(site, inputs=site.inputs[:2])  # PUE and grid: a search is charged by its chip-hours
    fallback = resolve_site(ps, SiteRequest(power_boundary=given.power_boundary, embodied_boundary=given.embodied_boundary),
                            prefix="nas_", who="search", utilization=1.0)
    p, p_in = (preset.site_pue.value, preset.site_pue.as_input("pue", "")) if preset.site_pue else (fallback.pue, fallback.inputs[0])
    if preset.site_grid_gco2e_per_kwh is not None:
        g, g_in = preset.site_grid_gco2e_per_kwh.value, preset.site_grid_gco2e_per_kwh.as_input("grid_gco2e_per_kwh", "gCO2e/kWh")
    else:
        g, g_in = fallback.grid_gco2e_per_kwh, fallback.inputs[1]
    notes = [n for n in fallback.notes if ("PUE" in n and not preset.site_pue) or ("grid" in n and not preset.site_grid_gco2e_per_kwh)]
    if preset.site_pue is not None or preset.site_grid_gco2e_per_kwh is not None:
        notes.insert(0, f"search sited as {preset.title} ran: PUE {p:g}, {g:g} gCO2e/kWh "
                        f"({preset.site_pue.kind if preset.site_pue else 'default'})")
    return Site(p, g, (p_in, g_in), tuple(notes), label=f"as {preset.name} ran", power_boundary=fallback.power_boundary,
                embodied_boundary=fallback.embodied_boundary,
                pue_range=preset.site_pue_range if preset.site_pue else None,
                grid_range=preset.site_grid_range if preset.site_grid_gco2e_per_kwh is not None else None)


def resolve_phase(phase: str | None, prompt_tokens: int | None = None, output_tokens: int | None = None,
                  optimizer: str | None = None, serving: dict[str, Any] | None = None) -> tuple[Phase, list[str]]:
    """The phase and its lengths; `decode` with output tokens is a whole response; `serving` takes the engine's
    settings (`serving`: max_concurrency, lengths, kv_dtype, max_batched_tokens). Notes say which defaults were
    taken."""
    kind = phase or "inference"
    check_text("phase", kind, PHASES)
    check_text("optimizer", optimizer, optional=True)
    for name, v in (("prompt_tokens", prompt_tokens), ("output_tokens", output_tokens)):
        if v is not None:
            check_int(name, v, 1, MAX_TOKENS)
    notes: list[str] = []
    given = {k: v for k, v in check_keys("serving", serving, SERVING_KEYS).items() if v is not None}
    if given and kind != "serving":
        raise UsageError(f"{param(next(iter(given)))} sets how a decoder is served: use it with {param('phase')} serving")
    if kind == "serving":
        return _serving_phase(prompt_tokens, output_tokens, optimizer, given)
    if kind in ("inference", "train") and (prompt_tokens is not None or output_tokens is not None):
        raise UsageError(f"{param('prompt_tokens')} and {param('output_tokens')} need {param('phase')} prefill, decode or serving")
    if kind != "train" and optimizer is not None:
        raise UsageError(f"{param('optimizer')} prices a training step: use it with {param('phase')} train")
    if kind == "train":
        opt = optimizer or "sgd-momentum"
        check_text("optimizer", opt, OPTIMIZERS)
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
    _check_lengths(prompt_tokens, output_tokens)
    if kind == "decode" and output_tokens is not None:
        kind = "response"
    return Phase(kind, prompt_tokens, output_tokens), notes


def _check_lengths(prompt_tokens: int | None, output_tokens: int | None) -> None:
    for name, v in (("prompt_tokens", prompt_tokens), ("output_tokens", output_tokens)):
        if v is not None and not 1 <= v <= MAX_TOKENS:
            raise UsageError(f"{param(name)} {v}: must be from 1 to {MAX_TOKENS:,}")


def _serving_phase(prompt_tokens: int | None, output_tokens: int | None, optimizer: str | None,
                   given: dict[str, Any]) -> tuple[Phase, list[str]]:
    """A decoder served by a vLLM-like engine: its settings (profiles/defaults.toml [llm_serving] where not given)
    and the requests' lengths (a JSON-lines file of pairs, or a distribution about the means)."""
    if optimizer is not None:
        raise UsageError(f"{param('optimizer')} prices a training step: use it with {param('phase')} train")
    d = defaults()["llm_serving"]
    notes: list[str] = []
    seqs = check_int("max_concurrency", given.get("max_concurrency", int(d["max_num_seqs"].value)), 1, MAX_CONCURRENCY)
    budget = check_int("max_batched_tokens", given.get("max_batched_tokens", int(d["max_num_batched_tokens"].value)), 1, MAX_TOKENS)
    kv = str(check_text("kv_dtype", given.get("kv_dtype", "auto"), KV_DTYPES))
    lengths = str(check_text("lengths", given.get("lengths", LENGTH_DISTRIBUTIONS[0])))
    pairs: tuple[tuple[int, int], ...] = ()
    source = ""
    if lengths not in LENGTH_DISTRIBUTIONS:
        if prompt_tokens is not None or output_tokens is not None:
            raise UsageError(f"give the request lengths either in a file ({param('lengths')}) or as means "
                             f"({param('prompt_tokens')}, {param('output_tokens')}), not both")
        from ..load.lengths import read_lengths

        pairs, source = read_lengths(lengths)
        lengths = "pairs"
    else:
        _check_lengths(prompt_tokens, output_tokens)
        for name, v in (("prompt_tokens", prompt_tokens), ("output_tokens", output_tokens)):
            if v is None:
                notes.append(f"no {name.replace('_', ' ')} given: a mean of {int(d[name].value)} assumed ({d[name].why})")
        prompt_tokens = prompt_tokens or int(d["prompt_tokens"].value)
        output_tokens = output_tokens or int(d["output_tokens"].value)
    if "max_concurrency" not in given:
        notes.append(f"no maximum concurrency given: {seqs} running requests at most ({d['max_num_seqs'].why})")
    if budget < seqs:
        raise UsageError(f"{param('max_batched_tokens')} {budget}: a step decodes one token of every running request, so it "
                         f"must be at least {param('max_concurrency')} ({seqs})")
    tp = check_int("tensor_parallel", given.get("tensor_parallel", 1), 1, 64)
    serving = Serving(seqs, budget, int(d["block_size"].value), float(d["gpu_memory_utilization"].value), kv, tp, lengths, pairs, source)
    return Phase("serving", prompt_tokens, output_tokens, serving=serving), notes


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


def resolve_target(ps: ProfileSet, request: TargetRequest | None = None) -> Target:
    """The target: hardware (name or alias), dtype, runtime, batch, phase and the site (or `site` as resolved
    already). What is not given is the serving default (profiles/defaults.toml [serving]: hardware, dtype,
    runtime, batch, datacenter and region), one place for every command, each default taken said in the notes.
    A training step runs as eager PyTorch launches it (compiled by XLA on a TPU), in the hardware's first of
    bf16, fp16, tf32, fp32 and batch 1 where not given, and at the run site's default ([site]). A served decoder
    (phase serving) runs as a vLLM-like engine runs it: CUDA graphs, the hardware's first 16-bit dtype, its batch
    the maximum concurrency."""
    check_instance("ps", ps, ProfileSet, "a ProfileSet, as load_profiles() returns")
    r = TargetRequest() if request is None else check_instance("request", request, TargetRequest, "a TargetRequest")
    hardware, dtype, runtime, batch, site, utilization = r.hardware, r.dtype, r.runtime, r.batch, r.site, r.utilization
    check_text("hardware", hardware, optional=True)
    check_text("dtype", dtype, optional=True)
    check_text("runtime", runtime, optional=True)
    if batch is not None:
        check_int("batch", batch, 1, MAX_BATCH)
    for name, flag in (("assume_upper_bound", r.assume_upper_bound), ("per_kernel", r.per_kernel), ("net", r.net)):
        check_bool(name, flag)
    if site is not None:
        check_instance("site", site, Site, "a Site, as resolve_site() returns")
    d_serving = defaults()["serving"]
    notes: list[str] = []
    if hardware is None:
        hardware = str(d_serving["hardware"].value)
        notes.append(f"no hardware given: the serving default, {hardware} ({d_serving['hardware'].why})")
    hw: HardwareProfile = ps.get("hardware", hardware)
    ph, phase_notes = resolve_phase(r.phase, r.prompt_tokens, r.output_tokens, r.optimizer, r.serving)
    rt = runtime or ""
    if ph.kind in ("train", "serving"):
        chosen = dtype or default_dtype(hw.peak_tflops)
        if dtype is None and chosen is not None:
            notes.append(f"no dtype given: {'a training step' if ph.kind == 'train' else 'served'} in {chosen}")
        if batch is None:
            batch = 1
            if ph.kind == "train":
                notes.append("no batch given: a training step of batch 1")
    else:
        chosen, rt, batch, taken = serving_defaults(hw, dtype, runtime, batch)
        notes += taken
    if chosen is None:
        raise UsageError(f"hardware '{hw.name}' has none of {', '.join(DEFAULT_DTYPE_ORDER)}; give {param('dtype')}")
    if chosen not in hw.peak_tflops:
        raise UsageError(f"hardware '{hw.name}' has no {echo(chosen)} throughput; it has: {', '.join(hw.peak_tflops)}")
    if ph.kind == "train":
        if chosen not in TRAINING_PRECISIONS:
            raise UsageError(f"{param('dtype')} {echo(chosen)}: training is projected in fp32 or with bf16/fp16 autocast")
        if runtime not in (None, "eager"):
            raise UsageError(f"{param('runtime')} {echo(runtime)}: a training step is projected as eager PyTorch runs it "
                             f"({param('runtime')} eager)")
        rt = "graph" if hw.category == "tpu" else "eager"
    elif ph.kind == "serving":  # a serving engine runs PyTorch, its steps replayed as CUDA graphs (vLLM's default)
        rt = runtime or "graph"
        if rt not in ("graph", "eager"):
            raise UsageError(f"{param('runtime')} {echo(rt)}: a served decoder runs in PyTorch: graph (CUDA graphs, vLLM's default) or "
                             "eager (vLLM's enforce_eager)")
        if runtime is None:
            notes.append("no runtime given: steps replayed as CUDA graphs, as vLLM runs them")
    elif rt not in RUNTIMES:
        check_text("runtime", rt, RUNTIMES)
    elif hw.category == "tpu" and rt != "graph":  # XLA compiles the whole graph; no host launches kernels one by one
        notes.append(f"runtime {rt} does not apply on {hw.name}: a TPU runs the graph as XLA compiles it (runtime graph)")
        rt = "graph"
    b = check_int("batch", batch, 1, MAX_BATCH)
    if ph.serving is not None:  # a served decoder's batch is the requests running at once, at most
        if b != 1 and b != ph.serving.max_num_seqs:
            raise UsageError(f"{param('batch')} {b}: a served decoder's batch is its concurrency: give {param('max_concurrency')}")
        b = ph.serving.max_num_seqs
    check_text("batch_norm", r.batch_norm, BATCH_NORM_POLICIES)
    check_text("memory_format", r.memory_format, MEMORY_FORMATS)
    if r.memory_format != "nchw" and (hw.category != "gpu" or rt == "ort" or ph.kind in ("prefill", "decode", "serving")):
        raise UsageError(f"{param('memory_format')} {r.memory_format}: a PyTorch layout of convolutions on a GPU (runtime eager or "
                         f"graph, or a training step); {hw.name} with runtime {rt}{' ' + ph.kind if ph.kind != 'inference' else ''} "
                         "is projected as it runs, NCHW")
    bound = tuple(sorted(check_dims("dims", r.dims, MAX_DIM).items()))
    if ph.kind == "train" and utilization is None:
        utilization = 1.0  # a training run keeps its chips busy: no idle share
    given_site = [n for n in ("pue", "datacenter", "grid", "region") if getattr(r, n) is not None]
    if site is not None and given_site:  # a resolved site already has its PUE and grid: one of them would be ignored
        raise UsageError(f"{', '.join(param(n) for n in given_site)} given with a resolved site: give the site, or its "
                         "settings, not both")
    if site is None:
        at = (None, None) if ph.kind == "train" else (str(d_serving["datacenter"].value), str(d_serving["region"].value))
        site = resolve_site(ps, SiteRequest(r.pue, r.datacenter, r.grid, r.region, r.net, r.power_boundary, r.embodied_boundary),
                            utilization=utilization, embodied=r.embodied, fallback=at)
    return Target(hw, chosen, rt, b, site, ph, bound, r.assume_upper_bound, r.per_kernel, r.batch_norm,
                  tuple(notes + phase_notes) + site.notes, r.memory_format)


def serving_target(ps: ProfileSet, request: TargetRequest, decoders: bool = False) -> tuple[Target, list[str]]:
    """`analyze`'s target: resolve_target's serving default where an option is not given; `decoders`: the candidates
    are decoders' configs, served (phase serving) with the batch (or the serving default's) as their maximum
    concurrency."""
    if decoders:
        b = request.batch if request.batch is not None else int(defaults()["serving"]["batch"].value)
        return resolve_target(ps, replace(request, batch=None, phase="serving", serving={"max_concurrency": b})), []
    return resolve_target(ps, request), []
