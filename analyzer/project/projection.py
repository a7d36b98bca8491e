"""One forward projected onto the hardware: the kernel plan timed by the roofline and scheduled on the
timeline (roofline.py) with one resolution's parameters (params.py), into a `Projection` record: latency and
device energy per item with their 90% bands, where the time goes, and every parameter's provenance. The model
is described in analyzer/project/__init__.py."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..dist import Z90, band
from ..errors import UsageError
from ..profiles import HardwareProfile
from ..profiles.transfer import transfer_note
from ..records import ModelProfile
from ..taxonomy import KERNEL_CLASSES, TENSOR_CLASSES
from .canonical import as_run
from .kernels import KernelPlan, nchwc_block, plan_kernels
from .params import Params
from .roofline import KernelTime, host_indices, kernel_times, runs_winograd, schedule_indexed, streams_weights


@dataclass(frozen=True)
class Projection:
    """One forward on the hardware: time and device energy per item with their 90% bands, where the time goes,
    and every parameter's provenance. Facility energy and CO2e are the accounting's (analyzer/account)."""

    model: str
    hardware: str
    dtype: str
    runtime: str
    batch: int
    latency_s: float
    throughput_per_s: float
    energy_j_per_item: float  # device energy
    range: dict[str, float]  # energy_j_per_item low/high: the 90% band of the error model
    latency_range_s: dict[str, float]
    bound: dict[str, float]  # share of latency in compute-, memory-, latency-bound kernels and overhead (device idle)
    basis: str  # datasheet | achievable | transferred | calibrated
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


def project(profile: ModelProfile, hw: HardwareProfile, params: Params, runtime: str, dtype: str, *,
            per_kernel: bool = False, batch_norm: str = "auto", memory_format: str = "nchw") -> Projection:
    """Project one profiled model (at its batch) onto `hw`; see analyzer/project/__init__.py for the model. The
    graph is first made what `runtime` runs (project/canonical.py: full-batch shapes; for PyTorch, batch norms an
    export folded, unless `batch_norm` is 'as-exported'). `memory_format`: "nchw" (PyTorch's default) or "channels-last"
    (kernels/__init__.py, MEMORY_FORMATS: no layout transforms, NHWC batch norms)."""
    if profile.per_op is None:
        raise UsageError("projection needs the per-op profile (profile_onnx(..., per_op=True))")
    profile, unfolded = as_run(profile, runtime, batch_norm)
    plan = plan_kernels(profile, runtime, dtype, gpu=hw.category == "gpu", nchwc_block=nchwc_block(hw),
                        memory_format=memory_format)
    times = kernel_times(plan, params, profile.nm_sparsity or 0.0)
    largest = max((n.bytes for n in profile.per_op or []), default=0)
    return finish(profile, TimedPlan(plan, times, largest, unfolded), hw, params, dtype, per_kernel)


@dataclass(frozen=True)
class TimedPlan:
    """A kernel plan with its kernels' times, ready to finish into a projection: the largest node's bytes (for the
    memory-fit note), the notes on the batch norms unfolded, and the kernels' columns (kernel_columns) when they were
    put together from memoised parts (else computed from `times`)."""

    plan: KernelPlan
    times: list[KernelTime]
    largest_node_bytes: int
    unfolded: list[str] | tuple[str, ...] = ()
    arrays: tuple[np.ndarray, ...] | None = None


def finish(profile: ModelProfile, timed: TimedPlan, hw: HardwareProfile, params: Params, dtype: str,
           per_kernel: bool = False) -> Projection:
    """The projection of a timed kernel plan: the timeline, the shares, the notes. Reads the profile's totals only
    (not its per-op records), so a plan put together from memoised parts (project/parts.py) ends here too, with
    `arrays` (kernel_columns) put together from theirs."""
    plan, times, largest_node_bytes, unfolded, arrays = timed.plan, timed.times, timed.largest_node_bytes, timed.unfolded, timed.arrays
    runtime = plan.runtime
    if arrays is None:
        arrays = kernel_columns(times)
    host, time_s, energy_j, kclass, bound = arrays
    tl = schedule_indexed(host, time_s, energy_j, params)
    batch = profile.batch or 1
    latency = tl.latency_s
    if not times or latency <= 0:
        raise UsageError(f"{profile.model}: nothing to project (no kernels: every node is a view, host-side or unsupported)")
    # each sum accumulated in the kernels' order, as a Python loop adds them (np.cumsum adds in order; the zeros of the
    # kernels a sum leaves out change nothing)
    by_bound = _ordered_sums(np.where(bound == np.arange(len(BOUNDS))[:, None], time_s, 0.0))
    shares = {b: float(by_bound[i]) / latency for i, b in enumerate(BOUNDS)}
    shares["overhead"] = max(0.0, 1.0 - sum(shares.values()))
    gemm_time = _ordered_sum(np.where((bound == 0) & _TENSOR[kclass], time_s, 0.0))
    e_item = tl.energy_j / batch
    notes = list(profile.notes) + list(unfolded) + ([transfer_note(hw)] if hw.transfer and params.basis == "transferred" else [])
    if tl.power_limited:
        notes.append(power_note(tl, hw.name))
    notes += winograd_note(plan.kernels, params)
    potential = (profile.weight_sparsity or 0.0) * gemm_time / latency
    if potential > 0:
        notes.append(f"{profile.weight_sparsity:.1%} of weights are zero: up to {potential:.1%} of the time could be saved by "
                     "sparse kernels, not realised by dense kernels (not applied)")
    if hw.memory_gb is not None:
        need = profile.weight_bytes * params.bytes_scale + largest_node_bytes * params.bytes_scale
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
    kernel_energy = _ordered_sum(energy_j) or 1.0
    classes, first = np.unique(kclass, return_index=True)
    classes = classes[np.argsort(first)]  # in the order the classes first appear
    mine = kclass == classes[:, None]  # one row per class: every class's sums in one pass, each row added in order
    time_shares = _ordered_sums(np.where(mine, time_s / latency, 0.0))
    energy_shares = _ordered_sums(np.where(mine, energy_j / kernel_energy, 0.0))
    counts = mine.sum(axis=1)
    for i, c in enumerate(classes):
        breakdown[KERNEL_CLASSES[c]] = {"time_share": 0.0 + float(time_shares[i]), "energy_share": 0.0 + float(energy_shares[i]),
                                        "kernels": int(counts[i])}
    inputs = list(params.inputs)
    # host-bound forwards inherit the variance of the host's speed: what the model of issue costs leaves per model
    # (sigma_host), and the session-to-session speed of the host, which moves every model of a session alike
    # (sigma_host_session: eager batch 1 differs by 30-100% between sessions on one H100)
    sigma_model = math.hypot(params.energy_log_sigma_model, shares["overhead"] * params.energy_log_sigma_host)
    sigma_shared = math.hypot(params.energy_log_sigma_shared, shares["overhead"] * params.energy_log_sigma_host_session)
    sigma = math.hypot(sigma_model, sigma_shared)
    rows = None
    if per_kernel:
        wino = runs_winograd(params)
        rows = [{"op": t.kernel.op, "kernel": t.kernel.op_type + (":winograd" if wino and t.kernel.winograd else ""), "class": t.kernel.kclass, "unit": params.classes[t.kernel.kclass].unit,
                 "dtype": dtype, "flops": t.kernel.flops, "bytes": t.kernel.bytes * params.bytes_scale, "time_s": t.time_s,
                 "bound": t.bound, "energy_j": t.energy_j + (params.static_power_w + params.active_power_w) * t.time_s}
                for t in times]
    return Projection(
        model=profile.model, hardware=hw.name, dtype=dtype, runtime=runtime, batch=batch, latency_s=latency,
        throughput_per_s=batch / latency, energy_j_per_item=e_item, range=band(e_item, sigma),
        latency_range_s=band(latency, sigma), bound=shares, basis=params.basis, potential_unstructured_savings=potential, macs=profile.macs, flops=profile.flops, breakdown=breakdown,
        inputs=inputs, notes=notes, kernels=len(plan.kernels), host_ops=plan.ops,
        energy_log_sigma_model=sigma_model, energy_log_sigma_shared=sigma_shared,
        per_kernel=rows)


def winograd_note(kernels, params: Params) -> list[str]:
    from .roofline import runs_winograd

    n = sum(1 for k in kernels if k.winograd) if runs_winograd(params) else 0
    return [f"{n} 3x3 stride-1 convolutions on the FP32 FMA units projected as cuDNN's Winograd F(2x2,3x3): 16 multiplies "
            "per 2x2 output tile where the direct convolution does 36 (Lavin & Gray, CVPR 2016)"] if n else []


def power_note(tl, name: str) -> str:
    """What a projection says when the board's power limit binds (roofline.power_limited)."""
    return (f"power-limited: at full clocks {name} would draw more than its {tl.power_cap_w:g} W limit; its clocks drop and "
            f"the work takes longer, at {tl.power_w:.0f} W (latency = energy / limit)")


BOUNDS = ("compute", "memory", "latency")
_TENSOR = np.array([c in TENSOR_CLASSES for c in KERNEL_CLASSES])


def kernel_columns(times: list[KernelTime] | tuple[KernelTime, ...]) -> tuple[np.ndarray, ...]:
    """What `finish` reads of each kernel, as columns: host-family index, time, energy, class index, bound index."""
    return (host_indices([t.kernel for t in times]), np.array([t.time_s for t in times], dtype=float),
            np.array([t.energy_j for t in times], dtype=float),
            np.array([KERNEL_CLASSES.index(t.kernel.kclass) for t in times], dtype=int),
            np.array([BOUNDS.index(t.bound) for t in times], dtype=int))


def _ordered_sums(rows: np.ndarray) -> np.ndarray:
    """_ordered_sum of each row of a 2-D array (np.cumsum along a row adds in order, as a Python loop does)."""
    return np.cumsum(rows, axis=1)[:, -1] if rows.shape[1] else np.zeros(rows.shape[0])


def _ordered_sum(x: np.ndarray) -> float:
    """x[0] + x[1] + ... added left to right (sum() over a list; numpy's sum adds pairwise), 0 for no elements."""
    return float(np.cumsum(x)[-1]) if len(x) else 0


def saving_band(baseline: Any, candidate: Any) -> dict[str, float]:
    """The per-item energy saving (baseline - candidate) with its 90% band. Both projections on the same
    hardware, dtype and runtime (projections or evaluations) share the systematic part of their error (a factor exp(s) on both), which
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
