"""Choosing a meter: a spec names one, or `auto` tries those the provider can use in order and keeps the first
that reads, recording why each one before it could not (the measurement's notes say which was picked and why).

auto, by provider:
  CUDA / TensorRT      Jetson power rails (an integrated GPU has no NVML energy counter), then NVML
  ROCm / MIGraphX      rocm-smi's energy counter
  CoreML               powermetrics (Apple silicon, root)
  OpenVINO             an Intel GPU's hwmon energy counter, then the CPU chain
  CPU and the rest     RAPL, hwmon CPU sockets (amd_energy), powermetrics, Jetson rails, then the estimate
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from ..errors import MeterUnavailable, UsageError, param
from .meters import EnergyMeter, NvmlMeter, RaplMeter, ReplayMeter

SPECS = ("auto", "rapl", "nvml", "rocm-smi", "powermetrics", "jetson", "tegrastats", "hwmon", "hwmon:CHIP", "estimate",
         "none", "replay:FILE.csv")


def nvml_meter(device: int, env=None, nvml=None) -> EnergyMeter:
    """NVML on the NVML GPU behind the run's CUDA device (CUDA_VISIBLE_DEVICES / SLURM), narrowed to a MIG instance's
    slices or, when other processes compute on the GPU, to this process's share of SM utilisation."""
    from .attribution import MigMeter, SharedGpuMeter, mig_share, other_compute_pids, physical_gpus

    phys, how = physical_gpus([device], env)
    meter = NvmlMeter(phys, nvml=nvml)
    mig = next((mig_share(n) for n in meter.mig_names if n), None)
    if mig:
        out: EnergyMeter = MigMeter(meter, *mig)
    elif other_compute_pids(meter, {os.getpid()}):
        out = SharedGpuMeter(meter)
    else:
        meter.attribution = "whole GPU: no other process had a compute context on it when the meter started"
        out = meter
    out.attribution = f"{how}; {out.attribution}"
    return out


def estimate_meter() -> EnergyMeter:
    from ..profiles.estimates import estimate_coefficients
    from .estimate import EstimateMeter
    from .record import cpu_model

    return EstimateMeter(estimate_coefficients(), cpu_model())


def _named(spec: str, device: int) -> Callable[[], EnergyMeter]:
    from . import sysfs, tools

    table: dict[str, Callable[[], EnergyMeter]] = {
        "rapl": RaplMeter, "nvml": lambda: nvml_meter(device), "rocm-smi": lambda: tools.RocmSmiMeter((device,)),
        "powermetrics": tools.powermetrics_meter, "tegrastats": tools.tegrastats_meter, "jetson": sysfs.jetson_meter,
        "hwmon": sysfs.hwmon_meter, "estimate": estimate_meter}
    if spec.startswith("hwmon:"):
        return lambda: sysfs.hwmon_meter(spec.removeprefix("hwmon:"))
    if spec.startswith("replay:"):
        return lambda: ReplayMeter.from_csv(spec.removeprefix("replay:"))
    if spec not in table:
        raise UsageError(f"{param('meter')} '{spec}': expected one of {', '.join(SPECS)}")
    return table[spec]


def auto_order(provider: str) -> list[str]:
    p = provider.lower()
    if "cuda" in p or "tensorrt" in p:
        return ["jetson", "nvml"]
    if "rocm" in p or "migraphx" in p:
        return ["rocm-smi"]
    if "coreml" in p:
        return ["powermetrics"]
    cpu = ["rapl", "hwmon:amd_energy", *(["powermetrics"] if sys.platform == "darwin" else []), "jetson", "estimate"]
    return (["hwmon:i915", "hwmon:xe"] if "openvino" in p else []) + cpu


def auto_meter(provider: str, device: int = 0) -> EnergyMeter:
    """The first meter of auto_order that reads; its `selection` says which were tried and why they could not."""
    tried = []
    for spec in auto_order(provider):
        try:
            meter = _named(spec, device)()
        except MeterUnavailable as e:
            tried.append(f"{spec}: {e}")
            continue
        meter.selection = f"meter auto picked {spec}" + (f" (unavailable before it: {'; '.join(tried)})" if tried else "")
        return meter
    raise MeterUnavailable("no meter for this provider: " + "; ".join(tried))


def meter_from_spec(spec: str, provider: str, device: int | None = None) -> EnergyMeter | MeterUnavailable | None:
    """A meter, or the MeterUnavailable that says why there is none (reported as energy_source)."""
    device = device or 0
    if spec == "none":
        return None
    try:
        if spec == "auto":
            return auto_meter(provider, device)
        return _named(spec, device)()
    except MeterUnavailable as e:
        return e
