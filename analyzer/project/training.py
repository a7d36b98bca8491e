"""A training step projected on the same kernel model as inference (issue #18): the step's kernels
(`analyzer.project.training_kernels`, as eager PyTorch launches them) timed and scheduled as a forward's are, with
the autograd engine's host cost and the backward's matrix-kernel slowdown that `calibrate --phase train`
fits; the record `project --phase train` and `plan-search` print."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..profiles import HardwareProfile
from .params import Params
from ..records import ModelProfile
from .kernels import TENSOR_CLASSES
from .training_kernels import OPTIMIZERS, PRECISIONS, normalisation_folded, training_plan

__all__ = ["OPTIMIZERS", "PRECISIONS", "TrainingStep", "TrainingParams", "project_training", "step_record", "training_runtime",
           "TrainingSample", "fit_training", "training_plan"]


@dataclass(frozen=True)
class TrainingStep:
    """One training step's time and energy per sample on the target (device energy; CO2e by the caller)."""

    model: str
    batch: int
    precision: str
    optimizer: str
    step_s: float
    energy_j_per_sample: float
    forward_kernels: int
    backward_kernels: int
    optimizer_kernels: int
    param_tensors: int
    params: int
    flops: float  # per step
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class TrainingParams:
    """What a training step adds to the inference model, fitted by `calibrate --phase train` (defaults: none):
    host seconds the autograd engine spends per backward operator, and how much slower the backward's
    matrix kernels (dgrad, wgrad) run than the forward's model of them."""

    autograd_host_s: float = 0.0
    backward_slowdown: float = 1.0

    @classmethod
    def of(cls, hw: Any) -> "TrainingParams":
        t = getattr(hw, "training", {}) or {}
        return cls(*(t[k].value if k in t else getattr(cls, k) for k in ("autograd_host_s", "backward_slowdown")))


@dataclass(frozen=True)
class _Prepared:
    """A step's kernels timed once; TrainingParams only rescale and reschedule them (fast: calibration)."""

    arrays: Any
    times: Any  # seconds per kernel
    energy: Any  # joules per kernel (its FLOPs and bytes)
    backward_matrix: Any  # backward dgrad/wgrad kernels: slowed by backward_slowdown
    backward_issued: Any  # backward operators' first kernels: the autograd engine's host cost before each
    counts: tuple[int, int, int, int]  # forward, backward, optimizer kernels, parameter tensors
    flops: float
    small_grid_kernels: int = 0  # kernels whose grid is sized by channels, not by the work (Kernel.grid_threads)


def _prepare(profile: ModelProfile, params: Params, precision: str, optimizer: str, gpu: bool, compiled: bool = False,
             memory_format: str = "nchw") -> _Prepared:
    import numpy as np

    from .roofline import KernelArrays, kernel_arrays_times

    if profile.per_op is None:
        raise UsageError("a training projection needs the per-op profile (profile_onnx(..., per_op=True))")
    plan, n_fwd, n_bwd, n_opt, tensors = training_plan(profile, precision, optimizer, gpu, params.bytes_scale, memory_format)
    if compiled:  # XLA (TPU): one program, its elementwise work fused (project/xla.py)
        from .xla import compiled as xla_compiled

        plan, n_fwd, n_bwd, n_opt = xla_compiled(plan, n_fwd, n_bwd, optimizer, profile.params, params.bytes_scale)
    a = KernelArrays(plan)
    t, _, _, energy = kernel_arrays_times(a, params, 0.0)
    backward = np.zeros(len(plan.kernels), dtype=bool)
    backward[n_fwd:n_fwd + n_bwd] = True
    matrix = np.array([k.kclass in TENSOR_CLASSES or k.kclass == "depthwise" for k in plan.kernels], dtype=bool)
    issued = np.array([bool(k.host) for k in plan.kernels], dtype=bool)
    return _Prepared(a, t, energy, backward & matrix, backward & issued, (n_fwd, n_bwd, n_opt, tensors),
                     float(sum(k.flops for k in plan.kernels)), sum(1 for k in plan.kernels if k.grid_threads))


def _timeline(p: _Prepared, params: Params, tp: TrainingParams) -> Any:
    import numpy as np

    from .roofline import schedule_arrays

    t = np.where(p.backward_matrix, p.times * tp.backward_slowdown, p.times)
    return schedule_arrays(p.arrays, t, p.energy, params, np.where(p.backward_issued, tp.autograd_host_s, 0.0))


@dataclass(frozen=True)
class StepForm:
    """How a training step's graph is run: `batch_norm` (an inference export's folded batch norms are trained as the
    network trains them, project/canonical.py, unless 'as-exported'), `compiled` (XLA, project/xla.py) and
    `memory_format` ("nchw" or "channels-last", kernels/__init__.py MEMORY_FORMATS)."""

    batch_norm: str = "auto"
    compiled: bool = False
    memory_format: str = "nchw"


def project_training(profile: ModelProfile, params: Params, precision: str, optimizer: str, gpu: bool,
                     tp: TrainingParams = TrainingParams(), form: StepForm = StepForm()) -> TrainingStep:
    """Time and device energy of one training step at the profile's batch, per sample, run as `form` says."""
    from .canonical import as_run

    batch_norm, compiled, memory_format = form.batch_norm, form.compiled, form.memory_format

    profile, unfolded = as_run(profile, "train", batch_norm)
    p = _prepare(profile, params, precision, optimizer, gpu, compiled, memory_format)
    tl = _timeline(p, params, tp)
    n_fwd, n_bwd, n_opt, tensors = p.counts
    batch = profile.batch or 1
    notes = (("backward operators issued at the forward operator's eager host cost (the autograd engine's own "
              "cost is not calibrated)",) if params.host_s else ()) + (
        f"optimizer {optimizer}: " + ("one fused XLA update, fp32 state" if compiled else "PyTorch's foreach implementation, fp32 state"),
    ) + (("XLA-compiled step: elementwise, layout and cast work fused into the matrix and reduction kernels "
          "(analyzer/project/xla.py)",) if compiled else ()) + tuple(unfolded)
    from .projection import power_note, winograd_note

    notes += tuple(winograd_note(p.arrays.kernels, params))
    if tl.power_limited:
        notes += (power_note(tl, "the board"),)
    if p.small_grid_kernels:
        what = (f"{p.small_grid_kernels} kernels of PyTorch's own (batch norm's statistics and backward in bf16, "
                "depthwise weight gradients) launch a block per channel or filter tap")
        notes += ((f"{what}: projected at the share of the chip they occupy",) if math.isfinite(params.resident_threads)
                  else (f"{what}; the hardware profile has no sm_count/max_threads_per_sm, so they are projected as if "
                        "they filled the chip (too fast)",))
    return TrainingStep(profile.model, batch, precision, optimizer, tl.latency_s, tl.energy_j / batch, n_fwd, n_bwd, n_opt,
                        tensors, profile.params, p.flops, notes)


def training_runtime(hw: HardwareProfile) -> str:
    """A GPU or CPU runs the step as eager PyTorch issues it; a TPU runs it XLA-compiled (no per-operator host cost)."""
    return "graph" if hw.category == "tpu" else "eager"


def step_record(profile: ModelProfile, hw: HardwareProfile, params: Params, precision: str, optimizer: str,
                training_log_sigma: float, batch_norm: str = "auto", memory_format: str = "nchw") -> dict[str, Any]:
    """One training step at the profile's batch on `hw` (device energy and time per sample, its 90% band, the ratio
    to an inference of the same batch, the step's kernels), with its notes. The band adds `training_log_sigma`
    (an assumption, profiles/projection-defaults.toml) to the inference error model's."""
    from ..dist import band
    from .projection import project

    runtime = training_runtime(hw)
    tp = TrainingParams.of(hw)
    step = project_training(profile, params, precision, optimizer, gpu=hw.category == "gpu", tp=tp,
                            form=StepForm(batch_norm, compiled=runtime == "graph" and hw.category == "tpu",
                                          memory_format=memory_format))
    inference = project(profile, hw, params, runtime, precision, batch_norm=batch_norm, memory_format=memory_format)
    sigma = math.sqrt(params.energy_log_sigma_model ** 2 + params.energy_log_sigma_shared ** 2 + training_log_sigma ** 2)
    notes = list(profile.notes) + list(step.notes) + (
        [f"training parameters calibrated on this hardware: autograd host {tp.autograd_host_s * 1e6:.3g} us per backward "
         f"operator, backward matrix kernels x{tp.backward_slowdown:.3g}"] if hw.training else []) + [
        f"the band adds a log-error of {training_log_sigma} for training to the inference error model's"]
    if runtime == "graph":
        notes.append(f"{hw.name}: the step is projected compiled (XLA), without per-operator host cost")
    if batch_norm == "as-exported" and normalisation_folded(profile):
        notes.append(f"{Path(profile.model).name} has no normalisation layers: if it trains with batch norm (folded into "
                     "its convolutions by an inference export), the step leaves that cost out")
    return {"model": profile.model, "hardware": hw.name, "precision": precision, "optimizer": optimizer, "runtime": runtime,
            "batch": step.batch, "step_s": step.step_s, "samples_per_s": step.batch / step.step_s,
            "energy_j_per_sample": step.energy_j_per_sample, "range": band(step.energy_j_per_sample, sigma),
            "latency_range_s": band(step.step_s, sigma), "energy_log_sigma": sigma,
            "energy_log_sigma_model": math.hypot(params.energy_log_sigma_model, training_log_sigma),
            "energy_log_sigma_shared": params.energy_log_sigma_shared, "basis": params.basis,
            "inference_energy_j_per_item": inference.energy_j_per_item,
            "training_to_inference_energy": step.energy_j_per_sample / inference.energy_j_per_item,
            "forward_kernels": step.forward_kernels, "backward_kernels": step.backward_kernels,
            "optimizer_kernels": step.optimizer_kernels, "param_tensors": step.param_tensors, "params": step.params,
            "flops_per_step": step.flops, "notes": notes}


@dataclass(frozen=True)
class TrainingSample:
    """One measured training step, for calibration: the model's per-op profile at the measured batch."""

    profile: ModelProfile
    precision: str
    optimizer: str
    step_s: float
    energy_j_per_sample: float | None = None


def fit_training(samples: list[TrainingSample], params_of: Any, gpu: bool) -> dict[str, Any]:
    """TrainingParams that best explain measured steps (least squares in log step time; a grid over the
    autograd host cost, 0 to 300 us, and the backward slowdown, 0.5x to 5x, then a finer one around the best):
    {'values', 'median_abs_error' before and after, 'energy_median_abs_error' after, 'n'}.
    `params_of(precision)` gives the inference Params for a precision."""
    import numpy as np

    if len(samples) < 2:
        raise UsageError(f"calibrating training needs at least 2 measured steps (got {len(samples)})")
    params = {s.precision: params_of(s.precision) for s in samples}
    measured = np.log([s.step_s for s in samples])
    prepared = [_prepare(s.profile, params[s.precision], s.precision, s.optimizer, gpu) for s in samples]

    def steps(tp: TrainingParams) -> list[tuple[float, float]]:
        """(step seconds, J per sample) of every sample under tp."""
        out = []
        for s, p in zip(samples, prepared):
            tl = _timeline(p, params[s.precision], tp)
            out.append((tl.latency_s, tl.energy_j / (s.profile.batch or 1)))
        return out

    def loss(tp: TrainingParams) -> float:
        return float(np.sum((np.log([st for st, _ in steps(tp)]) - measured) ** 2))

    hosts, slows = np.linspace(0.0, 300e-6, 13), np.geomspace(0.5, 5.0, 13)
    best = min((TrainingParams(h, w) for h in hosts for w in slows), key=loss)
    dh, dw = 300e-6 / 12, (5.0 / 0.5) ** (1 / 12)
    fine = [TrainingParams(max(0.0, h), w) for h in np.linspace(best.autograd_host_s - dh, best.autograd_host_s + dh, 9)
            for w in np.geomspace(best.backward_slowdown / dw, best.backward_slowdown * dw, 9)]
    best = min(fine, key=loss)

    def errors(sts: list[tuple[float, float]]) -> tuple[float, float | None]:
        t = float(np.median([abs(st / s.step_s - 1) for (st, _), s in zip(sts, samples)]))
        e = [abs(ej / s.energy_j_per_sample - 1) for (_, ej), s in zip(sts, samples) if s.energy_j_per_sample]
        return t, (float(np.median(e)) if e else None)

    before, _ = errors(steps(TrainingParams()))
    after, energy_after = errors(steps(best))
    return {"values": {"autograd_host_s": best.autograd_host_s, "backward_slowdown": best.backward_slowdown},
            "median_abs_error_before": before, "median_abs_error": after, "energy_median_abs_error": energy_after,
            "n": len(samples)}
