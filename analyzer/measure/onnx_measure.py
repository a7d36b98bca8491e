"""Measure an ONNX model with ONNX Runtime: latency (adaptive) and, where a meter reads, energy per item."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError, param
from ..load.onnx_graph import rebatched_model_bytes
from ..count import load_at_batch
from .inputs import from_npz, synthesise
from ..errors import MeterUnavailable
from .meters import EnergyMeter, energy_fields, measure_energy
from .ort_runner import create_session, make_runner, runtime_version
from .record import Measurement, cpu_model, now_utc
from .timing import measure_latency


def measure_onnx(path: Path, batch: int, *, dims: dict[str, int] | None = None, provider: str = "CPUExecutionProvider",
                 threads: int | None = None, opt_level: str = "all", max_time_s: float = 30.0, target_ci: float = 0.02,
                 inputs_npz: Path | None = None, meter: EnergyMeter | MeterUnavailable | None = None) -> Measurement:
    """`provider` must already be resolved (ort_runner.resolve_provider). `meter` is a meter, or the
    MeterUnavailable that says why there is none."""
    if batch < 1:
        raise UsageError(f"{param('batch')} {batch}: must be >= 1")
    loaded = load_at_batch(path, dims, batch, hash_file=True)
    if loaded.batch_scale != 1:
        raise UsageError(f"{path}: constants in the graph pin the batch to 1, so it cannot run at batch {batch}; "
                         f"export it with a dynamic batch axis, or measure {param('batch')} 1")
    notes = list(loaded.notes)  # a pinned batch was refused above, so no scaling note can be here
    if inputs_npz is not None:
        feeds = from_npz(inputs_npz, loaded.graph)
        notes.append(f"inputs from {inputs_npz.name}")
    else:
        feeds, input_notes = synthesise(loaded.graph)
        notes += input_notes
    run_path = path
    if loaded.seeded is not None:  # a sample without stored weights: run a complete copy with generated ones
        from ..load.seeded import materialize
        from ..paths import cache_dir

        run_path = materialize(path, cache_dir() / "samples")
        notes.append("sample model: measured with seeded random weights generated on demand (cached)")
    model_bytes = rebatched_model_bytes(run_path, batch)
    if model_bytes is not None:
        notes.append(f"the model's inputs fix another batch; measured with the leading dim made symbolic (batch {batch})")
    sess, creation_s = create_session(run_path, provider, threads, opt_level, model_bytes)
    run = make_runner(sess, feeds)
    timing = measure_latency(run, max_time_s=max_time_s, target_ci=target_ci)
    if timing.note:
        notes.append(timing.note)
    energy = None
    if isinstance(meter, EnergyMeter):
        try:
            energy = measure_energy(run, meter, batch, timing.median_s)
            source = energy.source
        except MeterUnavailable as e:  # an implausible window (check_window): the latency stands, the energy is refused
            source = f"unavailable: {e}"
        if meter.selection:
            notes.append(meter.selection)
    else:
        source = f"unavailable: {meter}" if meter is not None else "unavailable: no meter requested (--meter none)"
    return Measurement(
        model=str(path), sha256=loaded.sha256, backend="onnxruntime", batch=batch, provider=provider, threads=threads,
        opt_level=opt_level, runtime_version=f"onnxruntime {runtime_version()}", cpu_model=cpu_model(),
        session_creation_s=creation_s, latency_s_median=timing.median_s, latency_s_p10=timing.p10_s,
        latency_s_p90=timing.p90_s, latency_s_ci95=timing.ci95_s, ci_rel=timing.ci_rel, converged=timing.converged,
        iterations=len(timing.samples_s), warmup_iterations=timing.warmup_iterations,
        throughput_per_s=batch / timing.median_s,
        energy_j_per_item=energy.energy_j_per_item if energy else None,
        dynamic_energy_j_per_item=energy.dynamic_energy_j_per_item if energy else None,
        idle_power_w=energy.idle_power_w if energy else None, avg_power_w=energy.avg_power_w if energy else None,
        energy_source=source, dims=dict(loaded.dims), notes=notes, measured_at=now_utc(), **energy_fields(energy))


MAX_CALIBRATION_MODELS = 5


def measure_for_calibration(paths: list[Path], batch: int, provider: str, meter_spec: str, device: int = 0,
                            max_time_s: float = 30.0, threads: int | None = None, processes: int = 1) -> list[Measurement]:
    """Measure up to MAX_CALIBRATION_MODELS models, one meter for all (chosen once, as `measure` does); with
    processes > 1, each in that many fresh processes (measure/processes.py), max_time_s split among them."""
    from .select import meter_from_spec
    from .ort_runner import resolve_provider

    if not 1 <= len(paths) <= MAX_CALIBRATION_MODELS:
        raise UsageError(f"{param('measure')}: {len(paths)} models; give 1 to {MAX_CALIBRATION_MODELS} (more belong in "
                         f"a measure run and its store)")
    full = resolve_provider(provider)
    if processes > 1:
        from .processes import measure_in_processes

        settings = {"provider": full, "threads": threads, "max_time_s": max_time_s / processes, "meter": meter_spec,
                    "device": device}
        return [measure_in_processes(p, batch, processes, settings, timeout_s=max_time_s / processes * 3 + 120) for p in paths]
    meter = meter_from_spec(meter_spec, full, device)
    try:
        return [measure_onnx(p, batch, provider=full, threads=threads, max_time_s=max_time_s, meter=meter) for p in paths]
    finally:
        if isinstance(meter, EnergyMeter):
            meter.close()
