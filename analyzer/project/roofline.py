"""The roofline of each kernel and the timeline of a forward: per kernel, t = t0 + max(compute, memory) with the
class's saturating efficiency and a small grid's share of the chip; per forward, the host issuing operators
while the device runs what is queued (see analyzer/project/__init__.py for the model). Pure functions over
arrays, so a projection and each step of a calibration search are a few vector operations."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..taxonomy import HOST_FAMILIES, KERNEL_CLASSES
from .kernels import WINOGRAD_MULTIPLY_RATIO, Kernel, KernelPlan
from .params import Params

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
        self.winograd = np.array([k.winograd for k in ks], dtype=bool)
        self.weight_bytes = plan.weight_bytes

    @classmethod
    def of(cls, kclass: np.ndarray, flops: np.ndarray, nbytes: np.ndarray, weights: np.ndarray, host: np.ndarray,
           outputs: np.ndarray, weight_bytes: float) -> "KernelArrays":
        """Kernels given as arrays (class and host-family indices), for plans built without Kernel records: a
        decoder's serving steps (project/serving_kernels.py), many steps at once."""
        a = cls.__new__(cls)
        a.kernels = ()
        a.cls, a.flops, a.bytes, a.weights, a.host, a.outputs = kclass, flops, nbytes, weights, host, outputs
        a.grid_threads = np.zeros_like(flops)
        a.winograd = np.zeros(flops.shape, dtype=bool)
        a.weight_bytes = weight_bytes
        return a


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
    flops = executed_flops(a, params)
    # a kernel with fewer output tiles than the chip has units runs on part of it (rate x out / (out + fill));
    # each output's reduction of depth K costs K + kdepth steps (tile prologue and epilogue)
    compute = np.where(flops > 0, (flops + 2.0 * kdepth * out) / rate * (1.0 + fill / out), 0.0)
    if params.supports_2_4 and nm_sparsity > 0:  # only the 2:4-structured share of the weights speeds up
        compute = np.where(a.weights, compute / params.sparse_2_4_speedup ** nm_sparsity, compute)
    nbytes = a.bytes * params.bytes_scale
    if params.cache_speedup != 1.0:
        # a working set inside the core's cache streams at the cache's bandwidth (the class's efficiency kept)
        bw = np.where(nbytes <= params.l2_bytes, bw * params.cache_speedup, bw)
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
    energy = eps * flops + params.energy_per_byte_j * nbytes
    return t, compute, memory, energy


def executed_flops(a: KernelArrays, params: Params) -> np.ndarray:
    """The FLOPs each kernel executes: as counted, except cuDNN's Winograd F(2x2, 3x3) where the convolution runs
    on the FP32 FMA units (16 multiplies for the direct convolution's 36)."""
    return np.where(a.winograd, a.flops * WINOGRAD_MULTIPLY_RATIO, a.flops) if runs_winograd(params) else a.flops


def runs_winograd(params: Params) -> bool:
    """Convolutions on the FP32 FMA units of a GPU (no tensor core for the dtype): where cuDNN picks Winograd for
    the 3 x 3 stride-1 ones (Kernel.winograd; analyzer/project/kernels: WINOGRAD_MULTIPLY_RATIO and its reference)."""
    return params.async_device and params.classes["conv"].unit == "fp32"


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
    power_cap_w: float = math.inf  # the board's limit the latency was held to (power_limited)

    @property
    def power_w(self) -> float:
        return self.energy_j / self.latency_s if self.latency_s > 0 else 0.0

    @property
    def power_limited(self) -> bool:
        """The board's limit binds: the clocks dropped and the latency is energy / limit."""
        return math.isfinite(self.power_cap_w) and self.power_w >= self.power_cap_w * (1 - 1e-9)


def schedule_arrays(a: KernelArrays, t: np.ndarray, energy: np.ndarray, params: Params,
                    extra_host: np.ndarray | None = None) -> Timeline:
    """Latency and energy of one forward (see the module docstring). On an asynchronous device kernel i
    ends at d_i = max(d_(i-1) + gap, issued_i) + t_i, issued_i the host time when its operator was issued;
    unrolled, d_n = S_n + gap n + max over j <= n of (issued_j - S_(j-1) - gap j), S the running sum of t.
    `extra_host`: host seconds added before each kernel (a training step's autograd engine)."""
    latency, busy, host, e = schedule_rows(a, t[None, :], energy[None, :], params, extra_host)
    return Timeline(float(latency[0]), float(busy[0]), float(host), float(e[0]), power_cap_w=params.power_cap_w)


def schedule_rows(a: KernelArrays, t: np.ndarray, energy: np.ndarray, params: Params,
                  extra_host: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """schedule_arrays for many forwards of the same kernels at once: `t` and `energy` are (forwards, kernels);
    returns each forward's latency, busy time and energy, and the host time (the same for all)."""
    host_cost = np.array([params.host_s.get(f, 0.0) for f in HOST_FAMILIES] + [0.0])[a.host]
    if extra_host is not None:
        host_cost = host_cost + extra_host
    host_total = float(host_cost.sum())
    busy = t.sum(axis=-1)
    n = t.shape[-1]
    if n == 0:
        latency = np.full(t.shape[0], params.forward_s + host_total)
    elif params.async_device:
        issued = np.cumsum(host_cost)
        s = np.cumsum(t, axis=-1)
        idx = np.arange(n)
        start_term = issued - (s - t) - params.gap_s * idx
        device = s[:, -1] + params.gap_s * (n - 1) + np.max(start_term, axis=-1)
        latency = np.maximum(device, issued[-1]) + params.forward_s
    else:
        latency = host_total + busy + params.gap_s * n + params.forward_s
    e = params.static_power_w * latency + params.active_power_w * busy + energy.sum(axis=-1)
    latency, _ = power_limited(latency, e, params.power_cap_w)
    return latency, busy, host_total, e


def power_limited(latency_s: np.ndarray | float, energy_j: np.ndarray | float, power_cap_w: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A board that would draw more than its power limit lowers its clocks until it draws the limit (NVIDIA's
    power capping: the SMs' clock is stepped down while board power exceeds the enforced limit, nvidia-smi's
    "SW Power Cap" throttle reason). The work and, to first order, its energy stay; the time stretches:

        P = E / t;  t' = t                  if P <= P_cap
                    t' = E / P_cap          if P >  P_cap    (so P' = E / t' = P_cap)
        throttle = t' / t >= 1

    E in J, t in s, P_cap in W (the profile's tdp_w; infinite where none). Returns (t', throttle), elementwise."""
    t = np.asarray(latency_s, dtype=float)
    e = np.asarray(energy_j, dtype=float)
    capped = np.where(e > power_cap_w * t, e / power_cap_w, t)
    return capped, np.divide(capped, t, out=np.ones_like(capped), where=t > 0)


def host_indices(kernels: tuple[Kernel, ...] | list[Kernel]) -> np.ndarray:
    """Each kernel's host-work family as its index in HOST_FAMILIES (-1: none), as KernelArrays holds it."""
    return np.array([HOST_FAMILIES.index(k.host) if k.host else -1 for k in kernels], dtype=int)


class _HostOnly:
    """What scheduling reads of a plan: its kernels' host-family indices."""

    def __init__(self, host: np.ndarray):
        self.host = host


def schedule_indexed(host: np.ndarray, t: np.ndarray, energy: np.ndarray, params: Params) -> Timeline:
    """schedule_arrays from the kernels' host-family indices, times and energies (no Kernel records)."""
    return schedule_arrays(_HostOnly(host), t, energy, params)  # type: ignore[arg-type]


def schedule(times: list[KernelTime], params: Params, extra_host: np.ndarray | None = None) -> Timeline:
    plan_like = KernelPlan("", tuple(t.kernel for t in times), 0, 0, 0, 0)
    return schedule_arrays(KernelArrays(plan_like), np.array([t.time_s for t in times]),
                           np.array([t.energy_j for t in times]), params, extra_host)


