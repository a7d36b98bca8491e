"""Projection of latency, energy and CO2e per inference onto target hardware: a per-operator roofline
with per-kernel overhead and a per-op-class power model. Pure functions of a static profile (with
per-op records) and a hardware profile.

Per node (views cost nothing; nodes the runtime fuses cost nothing):
  compute_s  = flops / (peak x efficiency of the node's class)      (2:4 sparse GEMMs: / speedup^nm_share)
  memory_s   = bytes / (bandwidth x memory efficiency)
  time_s     = max(compute_s, memory_s) + overhead_s(runtime)
  bound      = overhead if overhead_s >= max(compute_s, memory_s), else compute or memory
  energy_j   = P(bound) x time_s, with P(compute) = busy power, P(memory) = memory-bound power,
               P(overhead) = idle + overhead_power_fraction x (busy - idle)
Bytes are those of the profiled model (fp32 tensors) scaled to the compute dtype (fp16/bf16: x 0.5,
int8/fp8: x 0.25), since the target stores activations and weights in that dtype.
Fusion rule (runtime 'ort' only, as ONNX Runtime's Conv/Gemm epilogue fusions do): an elementwise or
normalisation node whose first input is the single-consumer output of a GEMM/conv/attention node (or of
a node already fused into one) runs in that kernel: no memory pass, no launch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import UsageError
from .profiles import HardwareProfile, Sourced
from .records import ModelProfile
from .units import G_PER_KG, HOURS_PER_YEAR, J_PER_KWH

RUNTIMES = ("eager", "graph", "ort")
CLASS_OF = {
    "conv": "gemm", "gemm": "gemm", "conv_transpose": "gemm", "control_flow": "gemm",
    "depthwise_conv": "depthwise", "grouped_conv": "depthwise", "depthwise_conv_transpose": "depthwise",
    "grouped_conv_transpose": "depthwise", "attention": "attention",
    "elementwise": "vector", "normalization": "vector", "softmax": "vector", "pooling": "vector", "reduction": "vector",
    "movement": "movement",
}
_FUSABLE_PRODUCERS = {"gemm", "depthwise", "attention"}
_FUSABLE_CONSUMERS = {"elementwise", "normalization"}
# share of (busy - idle) drawn when memory-bound: H100 measured 528 W in copies, 700 W busy, 123 W idle
MEMORY_POWER_SHARE = Sourced((528 - 123) / (700 - 123), "estimated: H100 SXM measured copy 528 W, GEMM 700 W, idle 123 W "
                             "(../shared/data/h100_measured_ceilings.md)", 2026, "estimated")
RANGE_BY_BASIS = {"datasheet": 0.6, "achievable": 0.35}  # default +- fraction when not calibrated
# Tensors are stored in the compute dtype on the target: bytes scale from the profiled (fp32) model's.
BYTES_SCALE = {"fp64": 2.0, "fp32": 1.0, "tf32": 1.0, "fp16": 0.5, "bf16": 0.5, "fp8": 0.25, "int8": 0.25, "int4": 0.125}


@dataclass(frozen=True)
class Params:
    rates: dict[str, float]  # class -> FLOP/s
    bandwidth_bytes_per_s: float
    overhead_s: float
    sparse_2_4_speedup: float
    supports_2_4: bool
    power_w: dict[str, float]  # bound -> W
    idle_w: float
    basis: str  # datasheet | achievable | calibrated
    bytes_scale: float = 1.0  # compute dtype size / 4 bytes (profiles are of fp32 models)
    inputs: list[dict[str, Any]] = field(default_factory=list)


def _param(hw: HardwareProfile, defaults: dict[str, Sourced], key: str) -> Sourced:
    return hw.projection.get(key) or defaults[key]


def resolve_params(hw: HardwareProfile, dtype: str, runtime: str, defaults: dict[str, dict[str, Sourced]],
                   overrides: dict[str, float] | None = None) -> Params:
    """Numbers for one (hardware, dtype, runtime), each with its provenance. `overrides` replaces
    projection parameters by value (calibration's search uses it)."""
    if runtime not in RUNTIMES:
        raise UsageError(f"--runtime '{runtime}': expected one of {', '.join(RUNTIMES)}")
    if dtype not in hw.peak_tflops:
        raise UsageError(f"hardware '{hw.name}' has no {dtype} throughput; it has: {', '.join(hw.peak_tflops)}")
    d = defaults[hw.category]
    ov = overrides or {}
    inputs: list[dict[str, Any]] = []

    def p(key: str) -> float:
        if key in ov:
            return ov[key]
        s = _param(hw, d, key)
        inputs.append(s.as_input(key, "s" if key.endswith("_s") else ""))
        return s.value

    peak = hw.peak_tflops[dtype]
    inputs.append(peak.as_input(f"peak_tflops.{dtype}", "TFLOP/s"))
    vector_peak = hw.peak_tflops.get("fp32", peak)
    calibrated = any(s.kind == "calibrated" for s in hw.projection.values())
    achievable = hw.achievable_tflops.get(dtype)
    if "efficiency_gemm" not in ov and "efficiency_gemm" not in hw.projection and achievable is not None:
        gemm = achievable.value * 1e12
        inputs.append(achievable.as_input(f"achievable_tflops.{dtype}", "TFLOP/s"))
        basis = "achievable"
    else:
        gemm = peak.value * 1e12 * p("efficiency_gemm")
        basis = "calibrated" if calibrated or ov else "datasheet"
    rates = {"gemm": gemm, "attention": peak.value * 1e12 * p("efficiency_attention"),
             "depthwise": vector_peak.value * 1e12 * p("efficiency_depthwise"),
             "vector": vector_peak.value * 1e12 * p("efficiency_vector"), "movement": float("inf")}
    if hw.memory_bandwidth_gbps is None:
        raise UsageError(f"hardware '{hw.name}' has no memory bandwidth in its profile")
    ach_bw = hw.achievable_memory_bandwidth_gbps
    if "memory_efficiency" not in ov and "memory_efficiency" not in hw.projection and ach_bw is not None:
        bw = ach_bw.value * 1e9
        inputs.append(ach_bw.as_input("achievable_memory_bandwidth_gbps", "GB/s"))
        basis = "achievable" if basis == "datasheet" else basis
    else:
        bw = hw.memory_bandwidth_gbps.value * 1e9 * p("memory_efficiency")
        inputs.append(hw.memory_bandwidth_gbps.as_input("memory_bandwidth_gbps", "GB/s"))
    overhead = p(f"overhead_{runtime}_s")
    busy = hw.busy_power_w or hw.tdp_w
    if busy is None or hw.idle_w is None:
        raise UsageError(f"hardware '{hw.name}' has no published power (TDP/busy and idle): energy cannot be projected")
    inputs += [busy.as_input("busy_power_w" if hw.busy_power_w else "tdp_w (busy power)", "W"), hw.idle_w.as_input("idle_w", "W")]
    if hw.memory_bound_power_w is not None:
        mem_w = hw.memory_bound_power_w.value
        inputs.append(hw.memory_bound_power_w.as_input("memory_bound_power_w", "W"))
    else:
        mem_w = hw.idle_w.value + MEMORY_POWER_SHARE.value * (busy.value - hw.idle_w.value)
        inputs.append(MEMORY_POWER_SHARE.as_input("memory_bound_power_share", ""))
    ovh_w = hw.idle_w.value + p("overhead_power_fraction") * (busy.value - hw.idle_w.value)
    supports = dtype in hw.peak_tflops_sparse
    speedup = p("sparse_2_4_speedup") if supports else 1.0
    return Params(rates, bw, overhead, speedup, supports, {"compute": busy.value, "memory": mem_w, "overhead": ovh_w},
                  hw.idle_w.value, basis, BYTES_SCALE[dtype], inputs)


@dataclass(frozen=True)
class NodeTime:
    name: str
    op_class: str
    time_s: float
    energy_j: float
    bound: str  # compute | memory | overhead | fused | none


def fused_nodes(profile: ModelProfile) -> set[str]:
    """Names of nodes the 'ort' runtime runs inside their producer's kernel (see module docstring)."""
    nodes = profile.per_op or []
    consumers: dict[str, int] = {}
    for n in nodes:
        for t in n.inputs:
            if t:
                consumers[t] = consumers.get(t, 0) + 1
    producer_class: dict[str, str] = {}
    fused: set[str] = set()
    for n in nodes:
        cls = CLASS_OF.get(n.op_class, "none")
        src = n.inputs[0] if n.inputs else ""
        if (n.op_class in _FUSABLE_CONSUMERS and src and producer_class.get(src) in _FUSABLE_PRODUCERS
                and consumers.get(src, 0) == 1):
            fused.add(n.name)
            cls = producer_class[src]  # the fused node's output is still the GEMM kernel's output
        for out in n.outputs:
            if out:
                producer_class[out] = cls
    return fused


def node_times(profile: ModelProfile, params: Params, runtime: str) -> list[NodeTime]:
    if profile.per_op is None:
        raise UsageError("projection needs the per-op profile (profile_onnx(..., per_op=True))")
    fused = fused_nodes(profile) if runtime == "ort" else set()
    nm = profile.nm_sparsity or 0.0
    scale = params.bytes_scale
    out = []
    for n in profile.per_op:
        cls = CLASS_OF.get(n.op_class)
        if cls is None or n.name in fused:  # views, unsupported ops, fused epilogues
            out.append(NodeTime(n.name, n.op_class, 0.0, 0.0, "fused" if n.name in fused else "none"))
            continue
        compute = n.flops / params.rates[cls] if n.flops else 0.0
        if cls == "gemm" and params.supports_2_4 and nm > 0:
            compute /= params.sparse_2_4_speedup ** nm  # only the 2:4-structured share of weights speeds up
        memory = n.bytes * scale / params.bandwidth_bytes_per_s
        busy = max(compute, memory)
        bound = "overhead" if params.overhead_s >= busy else ("compute" if compute >= memory else "memory")
        t = busy + params.overhead_s
        out.append(NodeTime(n.name, n.op_class, t, params.power_w[bound] * t, bound))
    return out


@dataclass(frozen=True)
class Projection:
    model: str
    hardware: str
    dtype: str
    runtime: str
    batch: int
    latency_s: float
    throughput_per_s: float
    energy_j_per_item: float  # device energy
    facility_energy_j_per_item: float  # x PUE
    co2e_g_per_item: float
    co2e_kg_per_million: float
    embodied_co2e_g_per_item: float | None
    range: dict[str, float]  # energy_j_per_item low/high
    latency_range_s: dict[str, float]
    bound: dict[str, float]  # share of time compute-, memory-, overhead-bound
    basis: str  # datasheet | achievable | calibrated
    pue: float
    grid_gco2e_per_kwh: float
    utilization: float
    potential_unstructured_savings: float  # share of time in dense GEMMs that zeros could remove (not realised)
    macs: int = 0  # per batch
    flops: int = 0
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)  # op class -> time and energy shares
    inputs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Projection":
        return cls(**d)


def project(profile: ModelProfile, hw: HardwareProfile, params: Params, runtime: str, dtype: str, *,
            pue: float, grid_gco2e_per_kwh: float, utilization: float = 1.0,
            place_inputs: list[dict[str, Any]] | None = None) -> Projection:
    """Project one profiled model (at its batch) onto `hw`; see the module docstring for the model."""
    if not 0 < utilization <= 1:
        raise UsageError(f"--utilization {utilization}: must be in (0, 1]")
    times = node_times(profile, params, runtime)
    batch = profile.batch or 1
    latency = sum(t.time_s for t in times)
    if latency <= 0:
        raise UsageError(f"{profile.model}: nothing to project (no supported nodes)")
    energy = sum(t.energy_j for t in times)
    shares = {b: sum(t.time_s for t in times if t.bound == b) / latency for b in ("compute", "memory", "overhead")}
    e_item = energy / batch
    facility = e_item * pue
    co2e_g = facility / J_PER_KWH * grid_gco2e_per_kwh
    embodied = None
    notes = list(profile.notes)
    if hw.embodied_co2e_kg is not None and hw.lifetime_years is not None:
        life_s = hw.lifetime_years.value * HOURS_PER_YEAR * 3600 * utilization
        embodied = hw.embodied_co2e_kg.value * G_PER_KG * (latency / batch) / life_s
    u = float(hw.calibration.get("p90_abs_error", 0.25)) if params.basis == "calibrated" else RANGE_BY_BASIS[params.basis]
    gemm_time = sum(t.time_s for t in times if CLASS_OF.get(t.op_class) == "gemm" and t.bound == "compute")
    potential = (profile.weight_sparsity or 0.0) * gemm_time / latency
    if potential > 0:
        notes.append(f"{profile.weight_sparsity:.1%} of weights are zero: up to {potential:.1%} of the time could be saved by "
                     "sparse kernels, not realised by dense kernels (not applied)")
    if hw.memory_gb is not None:
        need = profile.weight_bytes + max((n.bytes for n in profile.per_op or []), default=0)
        if need > hw.memory_gb.value * 1e9:
            notes.append(f"batch {batch} needs about {need / 1e9:.1f} GB (weights {profile.weight_bytes / 1e9:.1f} GB + the largest "
                         f"node's tensors) but {hw.name} has {hw.memory_gb.value:g} GB: it will not fit")
    unsupported = sum(profile.unsupported_ops.values())
    if unsupported:
        notes.append(f"{unsupported} unsupported node(s) are not in the projection")
    breakdown: dict[str, dict[str, float]] = {}
    for t in times:
        if t.time_s > 0:
            b = breakdown.setdefault(t.op_class, {"time_share": 0.0, "energy_share": 0.0})
            b["time_share"] += t.time_s / latency
            b["energy_share"] += t.energy_j / energy if energy else 0.0
    inputs = params.inputs + (place_inputs or []) + [
        {"name": "utilization", "value": utilization, "unit": "", "source": "stated (embodied share assumes this busy fraction)",
         "kind": "stated"}]
    return Projection(
        model=profile.model, hardware=hw.name, dtype=dtype, runtime=runtime, batch=batch, latency_s=latency,
        throughput_per_s=batch / latency, energy_j_per_item=e_item, facility_energy_j_per_item=facility,
        co2e_g_per_item=co2e_g, co2e_kg_per_million=co2e_g * 1e6 / G_PER_KG, embodied_co2e_g_per_item=embodied,
        range={"low": e_item / (1 + u), "high": e_item * (1 + u)},
        latency_range_s={"low": latency / (1 + u), "high": latency * (1 + u)}, bound=shares, basis=params.basis,
        pue=pue, grid_gco2e_per_kwh=grid_gco2e_per_kwh, utilization=utilization,
        potential_unstructured_savings=potential, macs=profile.macs, flops=profile.flops, breakdown=breakdown,
        inputs=inputs, notes=notes)
