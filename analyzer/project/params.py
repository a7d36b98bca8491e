"""The numbers one projection uses, resolved for one (hardware, dtype, runtime): each kernel class's rate,
bandwidth, floor, fill and tile depth, the host's issue costs, the powers and energies per FLOP and per byte,
and the error model, from the hardware profile's [projection] values where it has them (measured or
calibrated) and the category's defaults (profiles/projection-defaults.toml) elsewhere; every value with its
provenance (`Params.inputs`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError, param
from ..profiles import HardwareProfile, Sourced
from ..taxonomy import FILL_CLASSES, HOST_FAMILIES, KERNEL_CLASSES, RUNTIMES, TENSOR_CLASSES
from ..units import bytes_scale

@dataclass(frozen=True)
class ClassRate:
    rate_flops_per_s: float
    bandwidth_bytes_per_s: float
    t0_s: float
    unit: str  # the peak it runs on: a dtype (tensor classes) or "fp32" (vector classes)
    fill: float = 0.0  # output elements at which a kernel of this class keeps half the chip busy
    kdepth: float = 0.0  # multiply-accumulates per output that a tile's prologue and epilogue cost


@dataclass(frozen=True)
class Params:
    """Every number one projection uses, resolved for one (hardware, dtype, runtime), with provenance."""

    classes: dict[str, ClassRate]
    host_s: dict[str, float]  # operator family -> host time to issue it (eager, ort); empty for graph
    gap_s: float  # device idle between consecutive kernels
    forward_s: float  # once per forward: synchronisation, graph launch
    async_device: bool  # GPU/TPU: the device runs behind the host; CPU: one thread does both
    static_power_w: float
    active_power_w: float
    energy_per_flop_j: dict[str, float]  # unit -> J/FLOP
    energy_per_byte_j: float
    sparse_2_4_speedup: float
    supports_2_4: bool
    basis: str  # datasheet | achievable | transferred | calibrated
    bytes_scale: float = 1.0
    energy_log_sigma_model: float = 0.0  # log-error of one model's energy that is its own
    energy_log_sigma_shared: float = 0.0  # log-error shared by every model on this hardware (cancels in ratios)
    energy_log_sigma_host: float = 0.0  # extra log-error per unit of host-bound share (the host's speed varies)
    energy_log_sigma_host_session: float = 0.0  # the same, shared by a session's models (measured run to run)
    power_cap_w: float = math.inf  # the board's power limit: beyond it clocks drop and the forward takes longer
    busy_power_w: float = 0.0  # board power in a large GEMM: eps_flop = (busy - static - active) / GEMM rate
    l2_bytes: float = math.inf  # on-chip cache: weights beyond it are streamed from memory on every forward
    resident_threads: float = math.inf  # threads the chip holds at once (SMs x threads per SM)
    stream_bandwidth_bytes_per_s: float = math.inf  # what streaming from memory reaches (a large copy)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    # energy of a byte streamed from memory (a large copy's power over its bandwidth); energy_per_byte_j may be
    # calibrated on cache-resident working sets instead
    stream_energy_per_byte_j: float = 0.0
    # a kernel whose bytes fit l2_bytes streams this many times faster than from DRAM (the profile's cache-resident
    # bandwidth over its memory bandwidth, both measured: a CPU core's L2); 1 where the profile states none
    cache_speedup: float = 1.0


def _unit(cls: str, dtype: str, runtime: str, hw: HardwareProfile) -> str:
    if cls not in TENSOR_CLASSES:
        return "fp32" if "fp32" in hw.peak_tflops else dtype
    if dtype == "fp32" and hw.category == "gpu" and "tf32" in hw.peak_tflops:
        if cls in ("conv", "conv1x1") or runtime == "ort":
            return "tf32"
    return dtype


def resolve_params(hw: HardwareProfile, dtype: str, runtime: str, defaults: dict[str, dict[str, Sourced]],
                   overrides: dict[str, float] | None = None) -> Params:
    """Numbers for one (hardware, dtype, runtime): the hardware profile's [projection] values where it
    has them (measured or calibrated), else the category's defaults (profiles/projection-defaults.toml).
    `overrides` replaces projection parameters by value (calibration's search uses it)."""
    if runtime not in RUNTIMES:
        raise UsageError(f"{param('runtime')} '{runtime}': expected one of {', '.join(RUNTIMES)}")
    if dtype not in hw.peak_tflops:
        raise UsageError(f"hardware '{hw.name}' has no {dtype} throughput; it has: {', '.join(hw.peak_tflops)}")
    if hw.memory_bandwidth_gbps is None:
        raise UsageError(f"hardware '{hw.name}' has no memory bandwidth in its profile")
    busy = hw.busy_power_w or hw.tdp_w
    if busy is None or hw.idle_w is None:
        raise UsageError(f"hardware '{hw.name}' has no published power (TDP/busy and idle): energy cannot be projected")
    d = defaults[hw.category]
    ov = overrides or {}
    inputs: list[dict[str, Any]] = []
    seen: set[str] = set()

    def p(key: str) -> float:
        if key in ov:
            return ov[key]
        s = hw.projection.get(key) or d.get(key)
        if s is None:
            raise UsageError(f"no value for projection parameter '{key}' in {hw.name} or the {hw.category} defaults")
        if key not in seen:
            seen.add(key)
            inputs.append(s.as_input(key, "s" if key.endswith("_s") else ("W" if key.endswith("_w") else "")))
        return s.value

    def opt(key: str) -> Sourced | None:
        return Sourced(ov[key], "calibration search", 0, "calibrated") if key in ov else hw.projection.get(key)

    bw = hw.memory_bandwidth_gbps.value * 1e9
    inputs.append(hw.memory_bandwidth_gbps.as_input("memory_bandwidth_gbps", "GB/s"))
    units = {c: _unit(c, dtype, runtime, hw) for c in KERNEL_CLASSES if c != "aux"}
    for u in sorted(set(units.values())):
        if u not in hw.peak_tflops:
            units = {c: (dtype if v == u else v) for c, v in units.items()}
    for u in sorted(set(units.values())):
        inputs.append(hw.peak_tflops[u].as_input(f"peak_tflops.{u}", "TFLOP/s"))
    # kdepth is stated in MACs at the chip's 16-bit tensor rate: a tile's load/store time is about fixed, so
    # on a slower unit (TF32, FP32 FMA) it is worth proportionally fewer MACs
    ref = max((hw.peak_tflops[d].value for d in ("fp16", "bf16") if d in hw.peak_tflops), default=None)
    def eff(c: str) -> float:
        """A tensor class on the FP32 FMA units takes its family's value for that path where the profile has one
        (profiles/families.toml: Turing's FP32 convolutions are not an H100's TF32 tensor-core ones)."""
        simt = f"efficiency_simt_{c}"
        if units[c] in ("fp32", "fp64") and c in TENSOR_CLASSES and (simt in ov or simt in hw.projection):
            return p(simt)
        return p(f"efficiency_{c}")

    classes = {c: ClassRate(hw.peak_tflops[units[c]].value * 1e12 * eff(c), bw * p(f"memory_efficiency_{c}"),
                            p(f"t0_{c}_s"), units[c], p(f"fill_{c}") if c in FILL_CLASSES else 0.0,
                            p(f"kdepth_{c}") * (hw.peak_tflops[units[c]].value / ref if ref else 1.0) if c in FILL_CLASSES else 0.0)
               for c in units}
    classes["aux"] = ClassRate(math.inf, math.inf, p("t0_aux_s"), "fp32")
    async_device = hw.category != "cpu"
    if runtime == "graph":
        host: dict[str, float] = {}
        gap, forward = p("graph_gap_s"), p("graph_launch_s")
    elif runtime == "ort":
        host = {f: p("host_ort_s") for f in HOST_FAMILIES}
        gap, forward = p("gap_s"), p("forward_s")
    else:
        host = {f: p(f"host_eager_{f}_s") for f in HOST_FAMILIES}
        gap, forward = p("gap_s"), p("forward_s")
    # power: explicit (measured / calibrated) values first, else derived from the profile's powers
    static = opt("static_power_w") or hw.idle_w
    inputs.append(static.as_input("static_power_w", "W"))
    active_s = opt("active_power_w")
    active = active_s.value if active_s else 0.0
    if active_s:
        inputs.append(active_s.as_input("active_power_w", "W"))
    inputs.append(busy.as_input("busy_power_w" if hw.busy_power_w else "tdp_w (busy power)", "W"))
    scale = opt("flop_energy_scale")
    flop_scale = scale.value if scale else 1.0
    eff_gemm = p("efficiency_gemm")
    eps_flop: dict[str, float] = {}
    basis = "datasheet"
    for u in sorted(set(units.values())):
        ach = hw.achievable_tflops.get(u)
        rate = ach.value * 1e12 if ach else hw.peak_tflops[u].value * 1e12 * eff_gemm
        if ach:
            inputs.append(ach.as_input(f"achievable_tflops.{u}", "TFLOP/s"))
            basis = "achievable"
        eps_flop[u] = max(busy.value - static.value - active, 0.0) / rate * flop_scale
    # a byte streamed from memory: the measured (or estimated) power of a large copy over its bandwidth
    mem_w = hw.memory_bound_power_w.value if hw.memory_bound_power_w else \
        hw.idle_w.value + d["memory_bound_power_share"].value * (busy.value - hw.idle_w.value)
    ach_bw = hw.achievable_memory_bandwidth_gbps
    stream_eps = max(mem_w - static.value - active, 0.0) / (ach_bw.value * 1e9 if ach_bw else bw * p("memory_efficiency_layout"))
    eps_b = opt("energy_per_byte_pj")
    if eps_b is not None:
        eps_byte = eps_b.value * 1e-12
        inputs.append(eps_b.as_input("energy_per_byte_pj", "pJ/B"))
    else:
        if hw.memory_bound_power_w:
            inputs.append(hw.memory_bound_power_w.as_input("memory_bound_power_w", "W"))
        else:
            inputs.append(d["memory_bound_power_share"].as_input("memory_bound_power_share", ""))
        eps_byte = stream_eps
    calibrated = any(s.kind == "calibrated" for s in hw.projection.values()) or bool(ov)
    if calibrated:
        basis = "calibrated"
    elif hw.transfer:
        basis = "transferred"
    sigma_model, sigma_shared, sigma_host = _sigmas(hw, d, basis)
    session = float((hw.transfer if basis == "transferred" else hw.calibration if basis == "calibrated" else {})
                    .get("energy_log_sigma_host_session", 0.0))
    supports = dtype in hw.peak_tflops_sparse
    cap = hw.tdp_w.value if hw.tdp_w is not None else math.inf
    l2 = math.inf
    stream = math.inf
    resident = math.inf
    if hw.sm_count is not None and hw.max_threads_per_sm is not None:
        resident = hw.sm_count.value * hw.max_threads_per_sm.value
        inputs += [hw.sm_count.as_input("sm_count", ""), hw.max_threads_per_sm.as_input("max_threads_per_sm", "")]
    if hw.l2_cache_mb is not None:
        l2 = hw.l2_cache_mb.value * 1e6
        inputs.append(hw.l2_cache_mb.as_input("l2_cache_mb", "MB"))
        if hw.achievable_memory_bandwidth_gbps is not None:
            stream = hw.achievable_memory_bandwidth_gbps.value * 1e9
            inputs.append(hw.achievable_memory_bandwidth_gbps.as_input("achievable_memory_bandwidth_gbps (streaming)", "GB/s"))
        else:
            stream = bw * min(p("memory_efficiency_layout"), 1.0)  # copies: the layout class's bandwidth
    cache_speedup = 1.0
    if hw.cache_bandwidth_gbps is not None and math.isfinite(l2):
        cache_speedup = hw.cache_bandwidth_gbps.value * 1e9 / bw
        inputs.append(hw.cache_bandwidth_gbps.as_input("cache_bandwidth_gbps", "GB/s"))
    return Params(classes=classes, host_s=host, gap_s=gap, forward_s=forward, async_device=async_device,
                  static_power_w=static.value, active_power_w=active, energy_per_flop_j=eps_flop, energy_per_byte_j=eps_byte,
                  sparse_2_4_speedup=p("sparse_2_4_speedup") if supports else 1.0, supports_2_4=supports, basis=basis,
                  bytes_scale=bytes_scale(dtype), energy_log_sigma_model=sigma_model, energy_log_sigma_shared=sigma_shared,
                  energy_log_sigma_host=sigma_host, energy_log_sigma_host_session=session, power_cap_w=cap,
                  busy_power_w=busy.value, l2_bytes=l2, resident_threads=resident, stream_bandwidth_bytes_per_s=stream,
                  inputs=inputs, stream_energy_per_byte_j=stream_eps, cache_speedup=cache_speedup)


def _sigmas(hw: HardwareProfile, d: dict[str, Sourced], basis: str) -> tuple[float, float, float]:
    """The projection's error model in log space: calibrated profiles carry theirs (from out-of-sample
    residuals); a transferred one carries its donor's, with each step away adding to the shared (systematic) part:
    a part projected from another part's curves is off alike for every model; others take the category default
    for their basis."""
    if basis == "transferred":
        t = hw.transfer
        if t["steps"] == 1:
            return t["energy_log_sigma_model"], math.hypot(t["energy_log_sigma_shared"], t["sigma_step"]), t["energy_log_sigma_host"]
        # another family's curves are what the category defaults hold already: a datasheet profile's knowledge and
        # error model (blind on published V100/T4/A100 figures the transfer is off by a median 27%)
        return (max(t["energy_log_sigma_model"], d["energy_log_sigma_model_datasheet"].value),
                max(math.hypot(t["energy_log_sigma_shared"], math.sqrt(t["steps"]) * t["sigma_step"]),
                    d["energy_log_sigma_shared_datasheet"].value), t["energy_log_sigma_host"])
    cal = hw.calibration
    if basis == "calibrated" and "energy_log_sigma_model" in cal:
        return (float(cal["energy_log_sigma_model"]), float(cal.get("energy_log_sigma_shared", 0.0)),
                float(cal.get("energy_log_sigma_host", 0.0)))
    key = "achievable" if basis == "achievable" else "datasheet"
    return d[f"energy_log_sigma_model_{key}"].value, d[f"energy_log_sigma_shared_{key}"].value, d["energy_log_sigma_host"].value


