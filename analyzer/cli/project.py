"""Command `project`: parsing and rendering only; the evaluation is the engine's."""

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from .base import (HardwaresOpt, RegionsOpt, AssumeUpperOpt, BatchNormOpt, MemoryFormatOpt, EmbodiedBoundaryOpt, PowerBoundaryOpt, BatchOpt, DatacenterOpt, DtypeOpt, FormatOpt, GridOpt, HardwareOpt, MemoryLimitOpt, NetOpt,
                   OptimizerOpt, OutFormat, OutputTokensOpt, PhaseOpt, ProfilesOpt, PromptOpt, PueOpt, QuietOpt, RegionOpt, RuntimeOpt,
                   StoreOpt, NoStoreOpt, TimeoutOpt, UtilizationOpt, WideOpt, app, command, console, load, parse_dims, print_json, report_failed)
from .serving import KvDtypeOpt, LengthsOpt, MaxBatchedTokensOpt, MaxConcurrencyOpt, TensorParallelOpt, serving_options


def target_label(target, with_site: bool = False) -> str:
    """A target named in a row: its hardware, and its region and year where several sites are compared
    ('h100-sxm-calibrated', 'a100-40gb @ fra@2023')."""
    region = target.site.label.partition(", ")[2]
    return target.hardware.name + (f" @ {region}" if with_site and region else "")


@app.command()
@command
def project(
    models: Annotated[list[Path], typer.Argument(help="ONNX files, decoder config.json files (with --phase serving), or folders (a manifest.toml's models, else *.onnx, else *.json).")],
    hardware: HardwaresOpt = None,
    dtype: DtypeOpt = None,
    batch: BatchOpt = None,
    runtime: RuntimeOpt = None,
    dim: Annotated[Optional[list[str]], typer.Option("--dim", help="Bind a symbolic input dim: NAME=VALUE (repeatable).")] = None,
    pue: PueOpt = None,
    datacenter: DatacenterOpt = None,
    grid: GridOpt = None,
    region: RegionsOpt = None,
    net: NetOpt = False,
    utilization: UtilizationOpt = None,
    power_boundary: PowerBoundaryOpt = None,
    embodied_boundary: EmbodiedBoundaryOpt = None,
    per_kernel: Annotated[bool, typer.Option("--per-kernel", help="List every kernel the runtime launches: class, unit, time, bound, energy.")] = False,
    assume_upper_bound: AssumeUpperOpt = False,
    batch_norm: BatchNormOpt = "auto",
    memory_format: MemoryFormatOpt = "nchw",
    timeout: TimeoutOpt = 60.0,
    memory_limit: MemoryLimitOpt = 2048.0,
    phase: PhaseOpt = None,
    prompt_tokens: PromptOpt = None,
    output_tokens: OutputTokensOpt = None,
    optimizer: OptimizerOpt = None,
    max_concurrency: MaxConcurrencyOpt = None,
    lengths: LengthsOpt = None,
    kv_dtype: KvDtypeOpt = None,
    max_batched_tokens: MaxBatchedTokensOpt = None,
    tensor_parallel: TensorParallelOpt = None,
    profiles: ProfilesOpt = None, wide: WideOpt = False, store: StoreOpt = None, no_store: NoStoreOpt = False,
    fmt: FormatOpt = OutFormat.table, quiet: QuietOpt = False,
) -> None:
    """Project latency, energy and CO2e per item onto target hardware: the graph becomes the kernels the
    runtime launches (host-side shape work and views launch nothing; fusions per runtime), each kernel is
    timed by its class's saturating roofline, the host issues operators on a timeline, and energy is static
    and active power over time plus energy per FLOP and per byte, then x PUE and x the grid's intensity. Says
    whether datasheet, achievable or calibrated numbers were used, and gives the 90% band of the profile's
    error model. With --phase: a decoder's prefill, decode step or whole response, or a training step; or, from a
    decoder's config.json alone, serving: J, CO2e, time to first token and per output token, tokens/s, per output
    token and per request, at a maximum concurrency the KV cache must hold."""
    from ..engine import evaluate
    from ..load.manifest import expand_model_args
    from ..target import resolve_target, TargetRequest

    from .flags import split_list

    ps = load(profiles)
    targets = [resolve_target(ps, TargetRequest(hw, dtype=dtype, runtime=runtime, batch=batch, phase=phase, prompt_tokens=prompt_tokens,
                              output_tokens=output_tokens, optimizer=optimizer, dims=parse_dims(dim or []),
                              assume_upper_bound=assume_upper_bound, per_kernel=per_kernel, pue=pue, datacenter=datacenter,
                              grid=grid, region=reg, net=net, utilization=utilization, batch_norm=batch_norm, memory_format=memory_format,
                              power_boundary=power_boundary, embodied_boundary=embodied_boundary,
                              serving=serving_options(max_concurrency, lengths, kv_dtype, max_batched_tokens, tensor_parallel)))
               for hw in split_list(hardware) for reg in split_list(region)]
    paths = expand_model_args(models)
    several, sites = len(targets) > 1, len(split_list(region)) > 1
    results, label = [], {}
    for target in targets:  # a row per (candidate, target)
        for e in evaluate(paths, target):
            results.append(e)
            label[id(e)] = target_label(target, sites)
    ok = [e for e in results if e.ok]
    code = report_failed([e for e in results if not e.ok])
    from .runlog import record_run

    where = {t.site.label for t in targets}  # the datacenter and region (with its year), as `analyze` records it
    record_run("project", {"models": [str(m) for m in models], **targets[0].settings(),
                           **({"site": targets[0].site.label} if len(where) == 1 else {}),
                           **({"targets": [target_label(t, sites) for t in targets]} if several else {})},
               {"projected": len(ok), "failed": len(results) - len(ok),
                "co2e_g_per_item": {e.name + (f" on {label[id(e)]}" if several else ""): e.co2e_g_per_item for e in ok[:20]}},
               store, no_store)
    if ok and fmt is OutFormat.json:
        print_json([e.to_dict() for e in ok])
    elif ok:
        from ..report.projection_text import render_evaluations
        from ..report.text import site_line

        shown = [{**e.to_dict(), **({"target": label[id(e)]} if several else {})} for e in ok]
        t = {**targets[0].to_dict(), "notes": list(dict.fromkeys(n for x in targets for n in x.notes))}
        if quiet:  # the tables alone
            shown, t = [{**e, "notes": []} for e in shown], {**t, "notes": []}
        c = console(wide)
        render_evaluations(shown, t, c, wide)
        for line in dict.fromkeys(site_line(x.to_dict()) for x in targets):  # each site once
            c.print(escape(f"where: {line}"))
    raise typer.Exit(code)
