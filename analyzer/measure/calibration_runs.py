"""Measure a few models for calibration (`calibrate --measure`): in this process, or each in several fresh processes
(measure/processes.py). Apart from onnx_measure.py so that the worker processes' module does not import back into it."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError, param
from .meters import EnergyMeter
from .onnx_measure import OrtSettings, measure_onnx
from .record import Measurement

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
        return [measure_onnx(p, batch, meter=meter, settings=OrtSettings(provider=full, threads=threads, max_time_s=max_time_s)) for p in paths]
    finally:
        if isinstance(meter, EnergyMeter):
            meter.close()
