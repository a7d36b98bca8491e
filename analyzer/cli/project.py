"""Commands `project` and `calibrate`: parsing and rendering only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .base import (OptimizerOpt, AssumeUpperOpt, BatchOpt, MemoryLimitOpt, OutputTokensOpt, PhaseOpt, PromptOpt, TimeoutOpt, DatacenterOpt, DtypeOpt, FormatOpt, GridOpt, HardwareOpt, NetOpt, OutFormat, ProfilesOpt, PueOpt, RegionOpt,
                  RuntimeOpt, UtilizationOpt, app, command, console, load, parse_dims, per_model, print_json)


@app.command()
@command
def project(
    models: Annotated[list[Path], typer.Argument(help="ONNX files, or folders (a manifest.toml's models, else *.onnx).")],
    hardware: HardwareOpt,
    dtype: DtypeOpt = None,
    batch: BatchOpt = 1,
    runtime: RuntimeOpt = None,
    dim: Annotated[Optional[list[str]], typer.Option("--dim", help="Bind a symbolic input dim: NAME=VALUE (repeatable).")] = None,
    pue: PueOpt = None,
    datacenter: DatacenterOpt = None,
    grid: GridOpt = None,
    region: RegionOpt = None,
    net: NetOpt = False,
    utilization: UtilizationOpt = 1.0,
    per_kernel: Annotated[bool, typer.Option("--per-kernel", help="List every kernel the runtime launches: class, unit, time, bound, energy.")] = False,
    assume_upper_bound: AssumeUpperOpt = False,
    timeout: TimeoutOpt = 60.0,
    memory_limit: MemoryLimitOpt = 2048.0,
    phase: PhaseOpt = None,
    prompt_tokens: PromptOpt = None,
    output_tokens: OutputTokensOpt = None,
    optimizer: OptimizerOpt = "sgd-momentum",
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Project latency, energy and CO2e per inference onto target hardware: the graph becomes the kernels the
    runtime launches (host-side shape work and views launch nothing; fusions per runtime), each kernel is
    timed by its class's saturating roofline, the host issues operators on a timeline, and energy is static
    and active power over time plus energy per FLOP and per byte. Says whether datasheet, achievable or
    calibrated numbers were used, and gives the 90% band of the profile's error model."""
    from ..load.manifest import expand_model_args
    from ..target.resolve import resolve_placement
    from ..count.profile import profile_onnx
    from ..profiles import projection_defaults
    from ..project.projection import project as run_projection
    from ..project.projection import resolve_params

    ps = load(profiles)
    if phase == "train":
        from .training_cmd import project_training_cmd

        project_training_cmd(ps, models, hardware, dtype, runtime, batch, pue, datacenter, grid, region, net, parse_dims(dim or []),
                             optimizer, fmt)
    placement = resolve_placement(ps, hardware, dtype=dtype, runtime=runtime, batch=batch, pue=pue, datacenter=datacenter,
                                  grid=grid, region=region, net=net, utilization=utilization)
    params = resolve_params(placement.hardware, placement.dtype, placement.runtime, projection_defaults())
    paths = expand_model_args(models)
    dims = parse_dims(dim or [])
    from .phases import phase_args

    phase, prompt, out_tokens, phase_notes = phase_args(phase, prompt_tokens, output_tokens)
    if phase == "decode" and out_tokens is not None:
        _responses(paths, placement, params, prompt, out_tokens, dims, phase_notes, assume_upper_bound, fmt)
    def one(path: Path):
        kw = dict(per_op=True, assume_upper_bound=assume_upper_bound)
        if phase is None:
            prof = profile_onnx(path, dims, placement.batch, **kw)
        else:
            from ..project.generation import phase_profile

            prof = phase_profile(path, phase, prompt, None, placement.batch, dims, profile_onnx, **kw)
            prof.notes[:0] = phase_notes
        r = run_projection(prof, placement.hardware, params, placement.runtime, placement.dtype, pue=placement.pue,
                           grid_gco2e_per_kwh=placement.grid_gco2e_per_kwh, utilization=placement.utilization,
                           place_inputs=list(placement.site.inputs), per_kernel=per_kernel)
        r.notes[:0] = list(placement.notes)
        return r

    results, code = per_model(paths, one)
    if results:
        if fmt is OutFormat.json:
            print_json([r.to_dict() for r in results])
        else:
            from ..report.projection_text import render_per_kernel, render_projections

            c = console()
            render_projections(results, c)
            for r in results if per_kernel else []:
                render_per_kernel(r, c)
    raise typer.Exit(code)


def _responses(paths, placement, params, prompt: int, out_tokens: int, dims: dict[str, int], notes: list[str],
               assume_upper_bound: bool, fmt: OutFormat) -> None:
    """project --phase decode --output-tokens: the energy of a response and of each generated token."""
    from ..project.generation import price_response
    from ..report.generation_text import render_generation

    def one(path: Path):
        g = price_response(path, placement, params, prompt, out_tokens, dims, assume_upper_bound)
        g.notes[:0] = list(placement.notes) + notes
        return g

    results, code = per_model(paths, one)
    if results and fmt is OutFormat.json:
        print_json([g.to_dict() for g in results])
    elif results:
        render_generation(results, console())
    raise typer.Exit(code)


@app.command()
@command
def calibrate(
    hardware: Annotated[str, typer.Option("--hardware", help="The hardware profile the measurements ran on.")],
    out: Annotated[Path, typer.Option("--out", help="Write the calibrated profile (TOML) here.")],
    measurements: Annotated[Optional[Path], typer.Option("--measurements", help="JSON-lines store written by `measure`.")] = None,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="CSV: model, batch, latency_s (or latency_ms_median)[, energy_j_per_item, dtype, runtime].")] = None,
    runtime: Annotated[str, typer.Option("--runtime", help="Runtime of rows that do not say: eager, graph, ort.")] = "ort",
    dtype: Annotated[str, typer.Option("--dtype", help="dtype of rows that do not say.")] = "fp32",
    models_dir: Annotated[Optional[Path], typer.Option("--models", help="Folder holding NAME.onnx for CSV rows that name a model instead of a path.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Name of the calibrated profile (default: HARDWARE-calibrated).")] = None,
    device_kind: Annotated[Optional[str], typer.Option("--device-kind", help="Only measurements a fleet took on this kind (`measure --on`), or whose device name contains it.")] = None,
    phase: Annotated[Optional[str], typer.Option("--phase", help="train: fit training steps (measure_torch phase='train', or a CSV model,precision,batch,optimizer,step_ms_median[,energy_j_per_sample]).")] = None,
    profiles: ProfilesOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Fit a hardware profile's projection to measured forwards: the host cost of issuing operators (eager,
    ONNX Runtime) or the gaps of CUDA-graph replay, scales on the kernel classes' efficiencies, bandwidth
    and floor, and with measured energy the static power, active power and energy per byte. Writes a
    calibrated profile that records every measurement it was fitted on, its prediction and error.
    (Kernel classes from profiler traces: benchmarks/gpu_calibration.py fit.)"""
    from ..project.calibrate import calibrate as fit
    from ..project.calibrate import calibrated_profile_toml, observations_summary
    from ..measure.record import cpu_model
    from ..project.observations import observations, read_observations
    from ..profiles import projection_defaults

    ps = load(profiles)
    hw = ps.get("hardware", hardware)
    if phase is not None:
        from .training_cmd import calibrate_training_cmd

        calibrate_training_cmd(hw, phase, measurements, csv_path, models_dir, out, fmt)
        return
    obs = observations(read_observations(measurements, csv_path, runtime, dtype, models_dir, device_kind))
    cal = fit(obs, hw, projection_defaults())
    text = calibrated_profile_toml(hw, cal, obs, name or f"{hw.name}-calibrated", cpu_model())
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror})") from None
    summary = {"profile": str(out), "values": {k: cal.values[k] for k in cal.fitted_keys}, "median_abs_error": cal.median_abs_error,
               "p90_abs_error": cal.p90_abs_error, "energy_median_abs_error": cal.energy_median_abs_error,
               "fitted_on": observations_summary(cal, obs)}
    if fmt is OutFormat.json:
        print_json(summary)
        return
    for row in summary["fitted_on"]:
        e = "" if row["energy_error"] is None else f"  energy error {row['energy_error']:+.1%}"
        print(f"{row['model']:<24} {row['dtype']:<5} {row['runtime']:<5} batch {row['batch']:>3}  measured "
              f"{row['measured_s'] * 1e3:9.3f} ms  fitted {row['predicted_s'] * 1e3:9.3f} ms  error {row['error']:+.1%}{e}")
    em = cal.energy_median_abs_error
    print(f"latency median |error| {cal.median_abs_error:.1%}, p90 {cal.p90_abs_error:.1%}"
          + (f"; energy median |error| {em:.1%}" if em is not None else "") + f"; wrote {out}")
