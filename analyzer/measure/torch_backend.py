"""Time a torch.nn.Module on CPU or CUDA (CUDA events; optionally CUDA graphs) and meter its energy
(NVML on CUDA, RAPL on CPU). Imports torch lazily: only with the torch extra installed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import AnalyzerError, UsageError
from ..errors import MeterUnavailable
from .meters import EnergyMeter, energy_fields, measure_energy
from .select import auto_meter
from .record import Measurement, cpu_model, now_utc
from .timing import measure_latency
from ..load.torch_fvcore import module_sha256


def _torch():
    try:
        import torch
    except ImportError:
        raise UsageError("the PyTorch backend needs the torch extra: pip install torch==2.13.0 && pip install -e '.[torch]'") from None
    return torch


TRAIN_OPTIMIZERS = ("sgd-momentum", "adam")


@dataclass(frozen=True)
class TorchRun:
    """How measure_torch runs and times a module: `phase` inference (eager, or CUDA graph replay with `cuda_graphs`)
    or train (a step with `optimizer` under `precision` autocast); `threads` torch's intra-op threads (None: torch's
    default); the timing loop stops at `max_time_s` or when the 95% CI is within `target_ci` of the median."""
    phase: str = "inference"
    cuda_graphs: bool = False
    optimizer: str = "sgd-momentum"
    precision: str = "fp32"
    threads: int | None = None
    max_time_s: float = 30.0
    target_ci: float = 0.02

    @property
    def opt_level(self) -> str:
        """The Measurement's opt_level: eager, cuda-graph, or train:<optimizer>:<precision>."""
        if self.phase == "train":
            return f"train:{self.optimizer}:{self.precision}"
        return "cuda-graph" if self.cuda_graphs else "eager"


def measure_torch(module: Any, example_inputs: Sequence[Any], *, device: str = "cpu",
                  meter: EnergyMeter | MeterUnavailable | str | None = "auto", name: str | None = None,
                  settings: TorchRun = TorchRun()) -> Measurement:
    """Median latency (95% CI) per forward of `module(*example_inputs)` and, where a meter reads, J/item.
    The batch is the leading dim of the first input. meter='auto' picks NVML on CUDA and RAPL on CPU.
    settings=TorchRun(phase='train') measures a training step instead (see _train_step): J per sample, opt_level 'train:...'."""
    if settings.phase == "train":
        return _measure_train(module, example_inputs, device=device, meter=meter, name=name, cfg=settings)
    if settings.phase != "inference":
        raise UsageError(f"phase '{settings.phase}': expected inference or train")
    cuda_graphs, threads = settings.cuda_graphs, settings.threads
    torch = _torch()
    dev = _device(torch, device, threads)
    if cuda_graphs and dev.type != "cuda":
        raise UsageError("CUDA graphs need a CUDA device")
    module = module.to(dev).eval()
    inputs, batch = _inputs(example_inputs, dev)
    notes: list[str] = []
    try:
        with torch.inference_mode():
            module(*inputs)
    except Exception as e:  # noqa: BLE001 - any failure of the user's module is reported in one line
        raise AnalyzerError(f"the module fails on these inputs: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None

    if dev.type == "cuda":
        sync = torch.cuda.synchronize
        if cuda_graphs:
            static_in = inputs
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream), torch.inference_mode():
                for _ in range(3):
                    module(*static_in)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph), torch.inference_mode():
                module(*static_in)
            forward = graph.replay
            notes.append("CUDA graph replay: launch overhead removed")
        else:
            def forward():
                with torch.inference_mode():
                    module(*inputs)
        sample = _cuda_sampler(torch, forward)

        def run() -> None:
            forward()
            sync()
    else:
        def run() -> None:
            with torch.inference_mode():
                module(*inputs)
        sample = None

    return _measured(dev, module, name, (run, sample), batch, notes, meter, settings)


def _device(torch: Any, device: str, threads: int | None) -> Any:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' requested but torch sees no CUDA device")
    if threads is not None:
        torch.set_num_threads(threads)
    return dev


def _inputs(example_inputs: Sequence[Any], dev: Any) -> tuple[tuple, int]:
    """The inputs on the device, and the batch: the leading dim of the first input."""
    inputs = tuple(x.to(dev) if hasattr(x, "to") else x for x in example_inputs)
    batch = int(inputs[0].shape[0]) if inputs and hasattr(inputs[0], "shape") and len(inputs[0].shape) else 1
    return inputs, batch


def _cuda_sampler(torch: Any, step: Any) -> Any:
    """One timed `step` between CUDA events, in seconds."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def sample() -> float:
        start.record()
        step()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3  # ms -> s
    return sample


def _measured(dev: Any, module: Any, name: str | None, timed: tuple[Any, Any], batch: int, notes: list[str], meter: Any,
              cfg: TorchRun) -> Measurement:
    """Time `run` of `timed` = (run, sample) (`sample` where CUDA events time it, else None), meter its energy, and
    record it."""
    torch = _torch()
    run, sample = timed
    timing = measure_latency(run, max_time_s=cfg.max_time_s, target_ci=cfg.target_ci, sample=sample)
    if timing.note:
        notes.append(timing.note)
    if meter == "auto":
        try:
            meter = auto_meter("cuda" if dev.type == "cuda" else "cpu", dev.index or 0)
        except MeterUnavailable as e:
            meter = e
    energy = None
    if isinstance(meter, EnergyMeter):
        try:
            energy = measure_energy(run, meter, batch, timing.median_s)
        except MeterUnavailable as e:  # an implausible window (check_window): the latency stands, the energy is refused
            meter = e
    if energy and meter.selection:
        notes.append(meter.selection)
    source = energy.source if energy else (f"unavailable: {meter}" if meter is not None else "unavailable: no meter requested")
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else ""
    return Measurement(
        model=name or type(module).__name__, sha256=module_sha256(module), backend="torch", batch=batch,
        provider=f"cuda:{dev.index or 0} ({gpu})" if gpu else "cpu", threads=cfg.threads or torch.get_num_threads(),
        opt_level=cfg.opt_level, runtime_version=f"torch {torch.__version__}", cpu_model=cpu_model(),
        session_creation_s=0.0, latency_s_median=timing.median_s, latency_s_p10=timing.p10_s, latency_s_p90=timing.p90_s,
        latency_s_ci95=timing.ci95_s, ci_rel=timing.ci_rel, converged=timing.converged, iterations=len(timing.samples_s),
        warmup_iterations=timing.warmup_iterations, throughput_per_s=batch / timing.median_s,
        energy_j_per_item=energy.energy_j_per_item if energy else None,
        dynamic_energy_j_per_item=energy.dynamic_energy_j_per_item if energy else None,
        idle_power_w=energy.idle_power_w if energy else None, avg_power_w=energy.avg_power_w if energy else None,
        energy_source=source, notes=notes, measured_at=now_utc(), **energy_fields(energy))


def _train_step(torch: Any, module: Any, inputs: tuple, opt: Any, autocast: Any) -> None:
    """One step as a training loop runs it: gradients reset (set to None), forward under autocast, a loss
    (the output's mean: the data's loss is not the model's cost), backward, the optimizer's step."""
    opt.zero_grad(set_to_none=True)
    with autocast():
        out = module(*inputs)
        out = out[0] if isinstance(out, (tuple, list)) else out
    out.float().mean().backward()
    opt.step()


def _measure_train(module: Any, example_inputs: Sequence[Any], *, device: str, meter: Any, name: str | None,
                   cfg: TorchRun) -> Measurement:
    """A training step of `module` (train mode): SGD with momentum 0.9 or Adam (PyTorch's defaults otherwise,
    foreach on CUDA), fp32 or bf16/fp16 autocast with fp32 master weights, timed with CUDA events on a GPU."""
    import contextlib

    torch = _torch()
    optimizer, precision, threads = cfg.optimizer, cfg.precision, cfg.threads
    if optimizer not in TRAIN_OPTIMIZERS:
        raise UsageError(f"optimizer '{optimizer}': expected one of {', '.join(TRAIN_OPTIMIZERS)}")
    if precision not in ("fp32", "bf16", "fp16"):
        raise UsageError(f"precision '{precision}': expected fp32, bf16 or fp16 (autocast)")
    dev = _device(torch, device, threads)
    if precision == "fp16" and dev.type != "cuda":
        raise UsageError("fp16 autocast needs a CUDA device (bf16 runs on CPUs)")
    module = module.to(dev).train()
    inputs, batch = _inputs(example_inputs, dev)
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise UsageError("the module has no trainable parameters: nothing to train")
    opt = (torch.optim.SGD(params, lr=1e-3, momentum=0.9) if optimizer == "sgd-momentum"
           else torch.optim.Adam(params, lr=1e-4))
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    autocast = (lambda: torch.autocast(dev.type, dtype=dtype)) if dtype is not None else contextlib.nullcontext
    try:
        _train_step(torch, module, inputs, opt, autocast)
    except Exception as e:  # noqa: BLE001 - any failure of the user's module is reported in one line
        raise AnalyzerError(f"a training step fails on these inputs: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}") from None

    def step() -> None:
        _train_step(torch, module, inputs, opt, autocast)

    def run() -> None:
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()

    sample = _cuda_sampler(torch, step) if dev.type == "cuda" else None
    notes = [f"training step: {optimizer}, {precision}{' autocast (fp32 master weights)' if dtype else ''}, loss = output mean"]
    return _measured(dev, module, name, (run, sample), batch, notes, meter, cfg)
