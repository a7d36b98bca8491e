"""Projection of latency, energy and CO2e per inference onto target hardware (issue #11).

The graph is first turned into the kernels the runtime launches (`analyzer.kernels`). Then, per kernel k
of class c (conv, conv1x1, depthwise, gemm, attention, elementwise, norm, reduce, layout, aux):

  t_k = t0_c + max((flops_k + 2 kdepth_c outputs_k) / rate_c x (1 + fill_c / outputs_k), bytes_k x scale / bandwidth_c)
  rate_c = peak(unit of c) x efficiency_c, bandwidth_c = datasheet bandwidth x memory_efficiency_c
  (2:4-sparse weights: the compute term / speedup^(2:4 share))

A kernel whose grid is too small to fill the chip (`grid_threads` below the SMs' resident threads,
sm_count x max_threads_per_sm) runs both terms at the share of the chip it occupies: each resident thread
keeps the same loads in flight whatever the others do, so a kernel's bandwidth grows with its threads
until the memory saturates (Little's law).

t0_c is the time a kernel of that class takes however little it does (launch latency on the device, ramp-up
and tail of its waves). fill_c (tensor-core classes) is the number of output elements at which a kernel's
tiles occupy half the chip: a GEMM or convolution with few outputs runs on few SMs whatever its FLOPs;
kdepth_c the multiply-accumulates per output that a tile spends loading and storing (stated at the chip's
16-bit tensor rate, scaled to the unit's): a 1x1 convolution over 16 channels (a GEMM with K = 16) is far
from the peak however many outputs it has.
With both, the efficiency a class reaches grows with the work per kernel, a saturating curve rather than
a constant. The unit of a tensor-core class is
the compute dtype's peak, except that "fp32" on a GPU runs convolutions in TF32 where the chip has it
(cuDNN's default in PyTorch, `torch.backends.cudnn.allow_tf32`), while PyTorch's matmuls stay in full FP32
(`torch.backends.cuda.matmul.allow_tf32` is False by default); ONNX Runtime's CUDA provider uses TF32 for
both (its `use_tf32` option). Vector classes use the fp32 peak.

Timeline (`schedule`): on a GPU the host issues operators while the device runs the kernels already queued,
so the device idles whenever the host is slower. Operator i becomes available at the sum of host costs
up to i; kernel k starts at max(end of the previous kernel + gap, time its operator was issued):
  eager: host cost per operator family (conv, norm, gemm, attention, elementwise, reduce, layout);
  graph: a CUDA-graph replay issues nothing per operator, only `graph_gap_s` between kernels and
         `graph_launch_s` per forward;
  ort:   one host cost per kernel (ONNX Runtime's dispatch).
On a CPU the same thread dispatches and computes: latency = sum of host costs and kernel times.

A board that would draw more than its power limit (tdp_w) lowers its clocks: the latency stretches to
energy / limit, the energy stays.

Energy (the energy roofline of Choi et al., IPDPS 2013, plus the power a busy device draws whatever it
computes):
  E = P_static x latency + P_active x busy + sum_k (eps_flop(unit_k) x flops_k + eps_byte x bytes_k)
P_static is the board power of an awake device with nothing to run (launch gaps are drawn at it),
P_active the extra power while any kernel runs, eps_flop the energy of one FLOP on the unit (measured GEMM
power above P_static over its measured throughput), eps_byte of one byte of DRAM traffic (measured copy
power above P_static over its bandwidth). E is continuous in every input, so energy per item is continuous
in batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError
from .kernels import KERNEL_CLASSES, RUNTIMES, TENSOR_CLASSES, Kernel, KernelPlan, plan_kernels
from ..profiles import HardwareProfile, Sourced
from ..records import ModelProfile
from ..dist import Z90  # re-exported: generation.py and the band below
from ..units import G_PER_KG, HOURS_PER_YEAR, J_PER_KWH

VECTOR_CLASSES = tuple(c for c in KERNEL_CLASSES if c not in TENSOR_CLASSES and c != "aux")
HOST_FAMILIES = ("conv", "norm", "gemm", "attention", "elementwise", "reduce", "layout")
# share of (busy - idle) drawn when memory-bound, where a profile has no memory-bound power: H100 measured
MEMORY_POWER_SHARE = Sourced((528 - 123) / (700 - 123), "estimated: H100 SXM measured copy 528 W, GEMM 700 W, idle 123 W "
                             "(profiles/measurements/h100-sxm-ceilings.md)", 2026, "estimated")
# Tensors are stored in the compute dtype on the target: bytes scale from the profiled (fp32) model's.
BYTES_SCALE = {"fp64": 2.0, "fp32": 1.0, "tf32": 1.0, "fp16": 0.5, "bf16": 0.5, "fp8": 0.25, "int8": 0.25, "int4": 0.125}


FILL_CLASSES = ("conv", "conv1x1", "depthwise", "gemm", "attention")


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
    basis: str  # datasheet | achievable | calibrated
    bytes_scale: float = 1.0
    energy_log_sigma_model: float = 0.0  # log-error of one model's energy that is its own
    energy_log_sigma_shared: float = 0.0  # log-error shared by every model on this hardware (cancels in ratios)
    energy_log_sigma_host: float = 0.0  # extra log-error per unit of host-bound share (the host's speed varies)
    power_cap_w: float = math.inf  # the board's power limit: beyond it clocks drop and the forward takes longer
    busy_power_w: float = 0.0  # board power in a large GEMM: eps_flop = (busy - static - active) / GEMM rate
    l2_bytes: float = math.inf  # on-chip cache: weights beyond it are streamed from memory on every forward
    resident_threads: float = math.inf  # threads the chip holds at once (SMs x threads per SM)
    stream_bandwidth_bytes_per_s: float = math.inf  # what streaming from memory reaches (a large copy)
    inputs: list[dict[str, Any]] = field(default_factory=list)


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
        raise UsageError(f"--runtime '{runtime}': expected one of {', '.join(RUNTIMES)}")
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
    classes = {c: ClassRate(hw.peak_tflops[units[c]].value * 1e12 * p(f"efficiency_{c}"), bw * p(f"memory_efficiency_{c}"),
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
    eps_b = opt("energy_per_byte_pj")
    if eps_b is not None:
        eps_byte = eps_b.value * 1e-12
        inputs.append(eps_b.as_input("energy_per_byte_pj", "pJ/B"))
    else:
        mem_w = hw.memory_bound_power_w.value if hw.memory_bound_power_w else \
            hw.idle_w.value + MEMORY_POWER_SHARE.value * (busy.value - hw.idle_w.value)
        if hw.memory_bound_power_w:
            inputs.append(hw.memory_bound_power_w.as_input("memory_bound_power_w", "W"))
        else:
            inputs.append(MEMORY_POWER_SHARE.as_input("memory_bound_power_share", ""))
        ach_bw = hw.achievable_memory_bandwidth_gbps
        eps_byte = max(mem_w - static.value - active, 0.0) / (ach_bw.value * 1e9 if ach_bw else bw * p("memory_efficiency_layout"))
    calibrated = any(s.kind == "calibrated" for s in hw.projection.values()) or bool(ov)
    if calibrated:
        basis = "calibrated"
    sigma_model, sigma_shared, sigma_host = _sigmas(hw, d, basis)
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
    return Params(classes, host, gap, forward, async_device, static.value, active, eps_flop, eps_byte,
                  p("sparse_2_4_speedup") if supports else 1.0, supports, basis, BYTES_SCALE[dtype], sigma_model,
                  sigma_shared, sigma_host, cap, busy.value, l2, resident, stream, inputs)


def _sigmas(hw: HardwareProfile, d: dict[str, Sourced], basis: str) -> tuple[float, float, float]:
    """The projection's error model in log space: calibrated profiles carry theirs (from out-of-sample
    residuals); others take the category default for their basis."""
    cal = hw.calibration
    if basis == "calibrated" and "energy_log_sigma_model" in cal:
        return (float(cal["energy_log_sigma_model"]), float(cal.get("energy_log_sigma_shared", 0.0)),
                float(cal.get("energy_log_sigma_host", 0.0)))
    key = "achievable" if basis == "achievable" else "datasheet"
    return d[f"energy_log_sigma_model_{key}"].value, d[f"energy_log_sigma_shared_{key}"].value, d["energy_log_sigma_host"].value


@dataclass(frozen=True)
class KernelTime:
    kernel: Kernel
    time_s: float
    compute_s: float
    memory_s: float
    energy_j: float  # the kernel's own energy: flops and bytes (static and active power are per timeline)
    bound: str  # compute | memory | latency (t0 dominates)


class KernelArrays:
    """A plan as arrays, so a projection (and each step of a calibration search) is a few vector operations."""

    def __init__(self, plan: KernelPlan) -> None:
        ks = plan.kernels
        self.kernels = ks
        self.cls = np.array([KERNEL_CLASSES.index(k.kclass) for k in ks], dtype=int)
        self.flops = np.array([k.flops for k in ks], dtype=float)
        self.bytes = np.array([k.bytes for k in ks], dtype=float)
        self.weights = np.array([k.weights for k in ks], dtype=bool)
        self.host = np.array([HOST_FAMILIES.index(k.host) if k.host else -1 for k in ks], dtype=int)
        self.outputs = np.array([k.outputs for k in ks], dtype=float)
        self.grid_threads = np.array([k.grid_threads for k in ks], dtype=float)  # 0: sized to the work
        self.weight_bytes = plan.weight_bytes


def kernel_arrays_times(a: KernelArrays, params: Params, nm_sparsity: float = 0.0) -> tuple[np.ndarray, ...]:
    """(time, compute, memory, energy) per kernel: t = t0 + max(flops / rate, bytes x scale / bandwidth)."""
    cl = [params.classes[c] for c in KERNEL_CLASSES]
    rate = np.array([c.rate_flops_per_s for c in cl])[a.cls]
    bw = np.array([c.bandwidth_bytes_per_s for c in cl])[a.cls]
    t0 = np.array([c.t0_s for c in cl])[a.cls]
    eps = np.array([params.energy_per_flop_j.get(c.unit, 0.0) for c in cl])[a.cls]
    fill = np.array([c.fill for c in cl])[a.cls]
    kdepth = np.array([c.kdepth for c in cl])[a.cls]
    out = np.maximum(a.outputs, 1.0)
    # a kernel with fewer output tiles than the chip has units runs on part of it (rate x out / (out + fill));
    # each output's reduction of depth K costs K + kdepth steps (tile prologue and epilogue)
    compute = np.where(a.flops > 0, (a.flops + 2.0 * kdepth * out) / rate * (1.0 + fill / out), 0.0)
    if params.supports_2_4 and nm_sparsity > 0:  # only the 2:4-structured share of the weights speeds up
        compute = np.where(a.weights, compute / params.sparse_2_4_speedup ** nm_sparsity, compute)
    nbytes = a.bytes * params.bytes_scale
    if streams_weights(a.weight_bytes, params):
        # the calibrated memory efficiencies hold for cache-resident working sets (kernels timed back to back);
        # weights larger than the last-level cache come from memory on every forward, at most at copy speed
        bw = np.minimum(bw, params.stream_bandwidth_bytes_per_s)
    memory = np.where(nbytes > 0, nbytes / bw, 0.0)
    # the share of the chip a small grid occupies (1 for grids sized to the work, or where the SMs are unknown)
    if math.isfinite(params.resident_threads) and a.grid_threads.any():
        share = np.where(a.grid_threads > 0, np.minimum(a.grid_threads / params.resident_threads, 1.0), 1.0)
        compute, memory = compute / share, memory / share
    t = t0 + np.maximum(compute, memory)
    energy = eps * a.flops + params.energy_per_byte_j * nbytes
    return t, compute, memory, energy


def streams_weights(weight_bytes: float, params: Params) -> bool:
    return weight_bytes * params.bytes_scale > params.l2_bytes


def kernel_times(plan: KernelPlan, params: Params, nm_sparsity: float = 0.0) -> list[KernelTime]:
    a = KernelArrays(plan)
    t, compute, memory, energy = kernel_arrays_times(a, params, nm_sparsity)
    t0 = np.array([params.classes[k.kclass].t0_s for k in plan.kernels])
    out = []
    for i, k in enumerate(plan.kernels):
        busy = max(compute[i], memory[i])
        bound = "latency" if t0[i] >= busy else ("compute" if compute[i] >= memory[i] else "memory")
        out.append(KernelTime(k, float(t[i]), float(compute[i]), float(memory[i]), float(energy[i]), bound))
    return out


@dataclass(frozen=True)
class Timeline:
    latency_s: float
    busy_s: float  # device time running kernels
    host_s: float  # host time issuing operators
    energy_j: float


def schedule_arrays(a: KernelArrays, t: np.ndarray, energy: np.ndarray, params: Params,
                    extra_host: np.ndarray | None = None) -> Timeline:
    """Latency and energy of one forward (see the module docstring). On an asynchronous device kernel i
    ends at d_i = max(d_(i-1) + gap, issued_i) + t_i, issued_i the host time when its operator was issued;
    unrolled, d_n = S_n + gap n + max over j <= n of (issued_j - S_(j-1) - gap j), S the running sum of t.
    `extra_host`: host seconds added before each kernel (a training step's autograd engine)."""
    host_cost = np.array([params.host_s.get(f, 0.0) for f in HOST_FAMILIES] + [0.0])[a.host]
    if extra_host is not None:
        host_cost = host_cost + extra_host
    host_total = float(host_cost.sum())
    busy = float(t.sum())
    n = len(t)
    if n == 0:
        latency = params.forward_s + host_total
    elif params.async_device:
        issued = np.cumsum(host_cost)
        s = np.cumsum(t)
        idx = np.arange(n)
        start_term = issued - (s - t) - params.gap_s * idx
        device = s + params.gap_s * idx + np.maximum.accumulate(start_term)
        latency = max(float(device[-1]), float(issued[-1])) + params.forward_s
    else:
        latency = host_total + busy + params.gap_s * n + params.forward_s
    e = params.static_power_w * latency + params.active_power_w * busy + float(energy.sum())
    if e > params.power_cap_w * latency:  # power-limited: the board lowers its clocks, the same work takes longer
        latency = e / params.power_cap_w
    return Timeline(latency, busy, host_total, e)


def schedule(times: list[KernelTime], params: Params, extra_host: np.ndarray | None = None) -> Timeline:
    plan_like = KernelPlan("", tuple(t.kernel for t in times), 0, 0, 0, 0)
    return schedule_arrays(KernelArrays(plan_like), np.array([t.time_s for t in times]),
                           np.array([t.energy_j for t in times]), params, extra_host)


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
    range: dict[str, float]  # energy_j_per_item low/high: the 90% band of the error model
    latency_range_s: dict[str, float]
    bound: dict[str, float]  # share of latency in compute-, memory-, latency-bound kernels and overhead (device idle)
    basis: str  # datasheet | achievable | calibrated
    pue: float
    grid_gco2e_per_kwh: float
    utilization: float
    potential_unstructured_savings: float  # share of time in dense GEMM-class kernels that zeros could remove
    macs: int = 0  # per batch
    flops: int = 0
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)  # kernel class -> time and energy shares
    inputs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kernels: int = 0  # estimated kernels per forward
    host_ops: int = 0  # operators the runtime dispatches per forward
    energy_log_sigma_model: float = 0.0
    energy_log_sigma_shared: float = 0.0
    per_kernel: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Projection":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def band(value: float, sigma: float) -> dict[str, float]:
    f = math.exp(Z90 * sigma)
    return {"low": value / f, "high": value * f}


def project(profile: ModelProfile, hw: HardwareProfile, params: Params, runtime: str, dtype: str, *,
            pue: float, grid_gco2e_per_kwh: float, utilization: float = 1.0,
            place_inputs: list[dict[str, Any]] | None = None, per_kernel: bool = False) -> Projection:
    """Project one profiled model (at its batch) onto `hw`; see the module docstring for the model."""
    if not 0 < utilization <= 1:
        raise UsageError(f"--utilization {utilization}: must be in (0, 1]")
    if profile.per_op is None:
        raise UsageError("projection needs the per-op profile (profile_onnx(..., per_op=True))")
    plan = plan_kernels(profile, runtime, dtype, gpu=hw.category == "gpu")
    times = kernel_times(plan, params, profile.nm_sparsity or 0.0)
    tl = schedule(times, params)
    batch = profile.batch or 1
    latency = tl.latency_s
    if not times or latency <= 0:
        raise UsageError(f"{profile.model}: nothing to project (no kernels: every node is a view, host-side or unsupported)")
    shares = {b: sum(t.time_s for t in times if t.bound == b) / latency for b in ("compute", "memory", "latency")}
    shares["overhead"] = max(0.0, 1.0 - sum(shares.values()))
    e_item = tl.energy_j / batch
    facility = e_item * pue
    co2e_g = facility / J_PER_KWH * grid_gco2e_per_kwh
    embodied = None
    notes = list(profile.notes)
    if hw.embodied_co2e_kg is not None and hw.lifetime_years is not None:
        life_s = hw.lifetime_years.value * HOURS_PER_YEAR * 3600 * utilization
        embodied = hw.embodied_co2e_kg.value * G_PER_KG * (latency / batch) / life_s
    gemm_time = sum(t.time_s for t in times if t.kernel.kclass in TENSOR_CLASSES and t.bound == "compute")
    potential = (profile.weight_sparsity or 0.0) * gemm_time / latency
    if potential > 0:
        notes.append(f"{profile.weight_sparsity:.1%} of weights are zero: up to {potential:.1%} of the time could be saved by "
                     "sparse kernels, not realised by dense kernels (not applied)")
    if hw.memory_gb is not None:
        need = profile.weight_bytes * params.bytes_scale + max((n.bytes for n in profile.per_op or []), default=0) * params.bytes_scale
        if need > hw.memory_gb.value * 1e9:
            notes.append(f"batch {batch} needs about {need / 1e9:.1f} GB (weights {profile.weight_bytes * params.bytes_scale / 1e9:.1f} GB "
                         f"+ the largest node's tensors) but {hw.name} has {hw.memory_gb.value:g} GB: it will not fit")
    if streams_weights(plan.weight_bytes, params):
        notes.append(f"weights ({plan.weight_bytes * params.bytes_scale / 1e6:,.0f} MB at {dtype}) exceed the "
                     f"{params.l2_bytes / 1e6:g} MB on-chip cache: every forward streams them from memory at up to "
                     f"{params.stream_bandwidth_bytes_per_s / 1e12:.2f} TB/s")
    if plan.unsupported_nodes:
        notes.append(f"{plan.unsupported_nodes} unsupported node(s) are not in the projection")
    breakdown: dict[str, dict[str, float]] = {}
    kernel_energy = sum(t.energy_j for t in times) or 1.0
    for t in times:
        b = breakdown.setdefault(t.kernel.kclass, {"time_share": 0.0, "energy_share": 0.0, "kernels": 0})
        b["time_share"] += t.time_s / latency
        b["energy_share"] += t.energy_j / kernel_energy
        b["kernels"] += 1
    inputs = params.inputs + (place_inputs or []) + [
        {"name": "utilization", "value": utilization, "unit": "", "source": "stated (embodied share assumes this busy fraction)",
         "kind": "stated"}]
    # host-bound forwards inherit the variance of the host's speed (eager batch 1 varies 30% between sessions)
    sigma_model = math.hypot(params.energy_log_sigma_model, shares["overhead"] * params.energy_log_sigma_host)
    sigma = math.hypot(sigma_model, params.energy_log_sigma_shared)
    rows = None
    if per_kernel:
        rows = [{"op": t.kernel.op, "kernel": t.kernel.op_type, "class": t.kernel.kclass, "unit": params.classes[t.kernel.kclass].unit,
                 "dtype": dtype, "flops": t.kernel.flops, "bytes": t.kernel.bytes * params.bytes_scale, "time_s": t.time_s,
                 "bound": t.bound, "energy_j": t.energy_j + (params.static_power_w + params.active_power_w) * t.time_s}
                for t in times]
    return Projection(
        model=profile.model, hardware=hw.name, dtype=dtype, runtime=runtime, batch=batch, latency_s=latency,
        throughput_per_s=batch / latency, energy_j_per_item=e_item, facility_energy_j_per_item=facility,
        co2e_g_per_item=co2e_g, co2e_kg_per_million=co2e_g * 1e6 / G_PER_KG, embodied_co2e_g_per_item=embodied,
        range=band(e_item, sigma), latency_range_s=band(latency, sigma), bound=shares, basis=params.basis,
        pue=pue, grid_gco2e_per_kwh=grid_gco2e_per_kwh, utilization=utilization,
        potential_unstructured_savings=potential, macs=profile.macs, flops=profile.flops, breakdown=breakdown,
        inputs=inputs, notes=notes, kernels=len(plan.kernels), host_ops=plan.ops,
        energy_log_sigma_model=sigma_model, energy_log_sigma_shared=params.energy_log_sigma_shared,
        per_kernel=rows)


def saving_band(baseline: Projection, candidate: Projection) -> dict[str, float]:
    """The per-item energy saving (baseline - candidate) with its 90% band. Both projections on the same
    hardware, dtype and runtime share the systematic part of their error (a factor exp(s) on both), which
    scales the saving; the model-specific parts are independent:
        var(saving) = saving^2 sigma_shared^2 + (E_b^2 + E_c^2) sigma_model^2     (first order in sigma)
    On different targets nothing is shared and the variances add."""
    eb, ec = baseline.energy_j_per_item, candidate.energy_j_per_item
    s = eb - ec
    same = (baseline.hardware, baseline.dtype, baseline.runtime) == (candidate.hardware, candidate.dtype, candidate.runtime)
    if same:
        var = (s * baseline.energy_log_sigma_shared) ** 2 + (eb * baseline.energy_log_sigma_model) ** 2 + \
            (ec * candidate.energy_log_sigma_model) ** 2
    else:
        var = sum((e * math.hypot(p.energy_log_sigma_model, p.energy_log_sigma_shared)) ** 2
                  for e, p in ((eb, baseline), (ec, candidate)))
    sd = math.sqrt(var)
    return {"saving_j_per_item": s, "sd_j_per_item": sd, "low": s - Z90 * sd, "high": s + Z90 * sd,
            "shared": float(same)}
