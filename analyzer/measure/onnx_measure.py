"""Measure an ONNX model with ONNX Runtime: latency (adaptive) and, where a meter reads, energy per item."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import UsageError, param
from ..load.onnx_graph import rebatched_model_bytes
from ..count import load_at_batch
from .inputs import from_npz, synthesise
from ..errors import MeterUnavailable
from .meters import EnergyMeter, energy_fields, measure_energy
from .ort_runner import create_session, make_runner, runtime_version
from .record import Measurement, cpu_model, now_utc
from .timing import measure_latency


@dataclass(frozen=True)
class OrtSettings:
    """How ONNX Runtime runs and times a model: `provider` (already resolved: ort_runner.resolve_provider), `threads`
    (intra-op; None: ONNX Runtime's default), graph `opt_level`; the timing loop stops at `max_time_s` or when the
    95% CI is within `target_ci` of the median."""
    provider: str = "CPUExecutionProvider"
    threads: int | None = None
    opt_level: str = "all"
    max_time_s: float = 30.0
    target_ci: float = 0.02

    @classmethod
    def take(cls, job: dict[str, Any]) -> "OrtSettings":
        """The settings named in a JSON job (measure/processes.py, engine/fleet.py), popped from it; absent: default."""
        return cls(**{f.name: job.pop(f.name) for f in fields(cls) if f.name in job})


def measure_onnx(path: Path, batch: int, *, dims: dict[str, int] | None = None, inputs_npz: Path | None = None,
                 meter: EnergyMeter | MeterUnavailable | None = None, settings: OrtSettings = OrtSettings()) -> Measurement:
    """`settings`: provider, threads, opt_level and the timing loop's limits (OrtSettings). `meter` is a meter, or the
    MeterUnavailable that says why there is none."""
    provider, threads, opt_level = settings.provider, settings.threads, settings.opt_level
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
    timing = measure_latency(run, max_time_s=settings.max_time_s, target_ci=settings.target_ci)
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
