"""Kernel classes fitted on profiler traces: per class c, (efficiency_c, memory_efficiency_c, t0_c, and for tiled
classes fill_c and kdepth_c) so that each traced operator's kernel time matches the sum of t_k over the kernels the
plan gives it, through the projection's own kernel_arrays_times (never a copy). Classes are fitted in turn
(coordinate descent, `rounds` passes), each by the bounded fit of project/fit.py inside calibrate_bounds' limits,
with the profile's values as the prior. `traced_samples` pairs a plan's operators with a profiler trace's (the pairing
benchmarks/h100_fit.py used to hold), splitting an operator into its kernels' roles where the trace names them."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import UsageError
from ..profiles import HardwareProfile, Sourced
from ..taxonomy import FILL_CLASSES, KERNEL_CLASSES
from .calibrate_bounds import group, zero_floor
from .fit import fit_bounded, identifiable, sensitivity
from .kernels import Kernel, KernelPlan
from .params import resolve_params
from .roofline import KernelArrays, kernel_arrays_times

TRACE_LOG_SIGMA = 0.05  # a traced operator's time varies about 5% run to run


@dataclass(frozen=True)
class OpSample:
    """One traced operator: the kernels the plan gives it and what they took on the device."""

    kernels: tuple[Kernel, ...]
    measured_s: float
    dtype: str
    runtime: str


def current(hw: HardwareProfile, defaults: dict[str, dict[str, Sourced]], key: str) -> float:
    s = hw.projection.get(key) or defaults[hw.category].get(key)
    if s is None:
        raise UsageError(f"no value for '{key}' in {hw.name} or the {hw.category} defaults")
    return s.value


def class_keys(c: str) -> tuple[str, ...]:
    if c == "aux":
        return ("t0_aux_s",)
    keys = (f"efficiency_{c}", f"memory_efficiency_{c}", f"t0_{c}_s")
    return keys + (f"fill_{c}", f"kdepth_{c}") if c in FILL_CLASSES else keys


def fit_kernel_classes(samples: list[OpSample], hw: HardwareProfile, defaults: dict[str, dict[str, Sourced]],
                       start: dict[str, float] | None = None, rounds: int = 3,
                       fixed: dict[str, float] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Per-class parameters from traced operators (module docstring); `fixed` values are held. Returns the values of
    every present class's keys and the median |error| of each class's operators after the fit."""
    if not samples:
        raise UsageError("no traced operators to fit kernel classes on")
    values = {**(start or {}), **(fixed or {})}
    for c in KERNEL_CLASSES:
        for key in class_keys(c):
            values.setdefault(key, current(hw, defaults, key))
    groups: dict[tuple[str, str], list[OpSample]] = {}
    for s in samples:
        groups.setdefault((s.dtype, s.runtime), []).append(s)
    arrays = []
    for (dtype, runtime), ss in groups.items():
        kernels = tuple(k for s in ss for k in s.kernels)
        owner = np.array([i for i, s in enumerate(ss) for _ in s.kernels], dtype=int)
        ka = KernelArrays(KernelPlan(runtime, kernels, 0, 0, 0, 0))
        arrays.append((dtype, runtime, ka, owner, np.array([s.measured_s for s in ss]),
                       [set(k.kclass for k in s.kernels) for s in ss]))

    def predict(vals: dict[str, float]) -> list[np.ndarray]:
        out = []
        for dtype, runtime, ka, owner, meas, _ in arrays:
            t = kernel_arrays_times(ka, resolve_params(hw, dtype, runtime, defaults, overrides=vals))[0]
            out.append(np.bincount(owner, weights=t, minlength=len(meas)))
        return out

    present = {k.kclass for s in samples for k in s.kernels}
    for _ in range(rounds):
        for c in (c for c in KERNEL_CLASSES if c in present):
            masks = [np.array([c in s for s in cl]) for *_, cl in arrays]
            measured = np.concatenate([meas[m] for (*_, meas, _), m in zip(arrays, masks)])
            keys = [k for k in class_keys(c) if k not in (fixed or {})]
            kernels_c = [k for s in samples for k in s.kernels if k.kclass == c]
            resident = hw.l2_cache_mb is not None and max(k.bytes for k in kernels_c) <= hw.l2_cache_mb.value * 1e6
            params = []
            for k in keys:
                if values[k] <= 0:  # no prior to speak of: start at the floor with a flat prior
                    values[k] = zero_floor(k, hw)
                    params.append(replace(group(k, (k,), values, hw, resident), prior_log_sigma=30.0))
                else:
                    params.append(group(k, (k,), values, hw, resident))

            def pred(scales: dict[str, float], c=c, masks=masks) -> np.ndarray:
                trial = {**values, **{k: values[k] * v for k, v in scales.items()}}
                return np.concatenate([p[m] for p, m in zip(predict(trial), masks)])

            sigma = np.full(len(measured), TRACE_LOG_SIGMA)
            # many traced operators per parameter identify every key of the class; few: only what they pin
            free = range(len(params)) if len(measured) >= 5 * len(params) else \
                identifiable(sensitivity(pred, sigma, params), len(measured) - 1)
            chosen = [params[j] for j in sorted(free)]
            res = fit_bounded(pred, measured, sigma, chosen, explore=True)
            values.update({k: values[k] * v for k, v in res.values.items()})
    preds = predict(values)
    per_class: dict[str, float] = {}
    for c in sorted(present):
        e = [np.abs(p[m] / meas[m] - 1) for p, (*_, meas, cl) in zip(preds, arrays) for m in [np.array([c in s for s in cl])] if m.any()]
        per_class[c] = float(np.median(np.concatenate(e)))
    return {k: values[k] for c in sorted(present) for k in class_keys(c)}, per_class


def plan_operators(plan: KernelPlan) -> list[tuple[str, list[Kernel]]]:
    """The plan's kernels grouped by the operator that issues them: (host family, kernels), in issue order."""
    ops: list[tuple[str, list[Kernel]]] = []
    for k in plan.kernels:
        if k.host:
            ops.append((k.host, [k]))
        elif ops:
            ops[-1][1].append(k)
    return ops


def split_op(kernels: list[Kernel], traced, dtype: str, runtime: str = "eager") -> list[OpSample]:
    """One sample per role (main kernel, layout transforms, bias add, helpers) where the trace names them, so the
    classes are fitted on their own kernels rather than on an operator's sum; the operator's sum where the runtime
    chose otherwise (an implicit-GEMM convolution)."""
    from ..measure.torch_trace import kernel_role

    plan_role = {"layout": "layout", "aux": "aux"}
    measured: dict[str, float] = {}
    for name, d in traced.kernels:
        r = kernel_role(name, traced.family)
        measured[r] = measured.get(r, 0.0) + d
    planned: dict[str, list[Kernel]] = {}
    for k in kernels:
        planned.setdefault(plan_role.get(k.kclass, "elementwise" if k.op_type == "bias add" else ""), []).append(k)
    if set(planned) != set(measured):
        return [OpSample(tuple(kernels), traced.kernel_s, dtype, runtime)]
    return [OpSample(tuple(planned[r]), measured[r], dtype, runtime) for r in planned]


def traced_samples(plan: KernelPlan, trace_file, dtype: str) -> list[OpSample]:
    """The operators of an eager `plan` paired with those of a torch.profiler trace (measure/torch_trace.py)."""
    from ..measure.torch_trace import align, read_trace

    out: list[OpSample] = []
    for kernels, traced in align(plan_operators(plan), read_trace(trace_file)):
        out += split_op(kernels, traced, dtype)
    return out
