"""Project: a profiled model -> the kernels a runtime launches (kernels/) -> time and device energy on the target
hardware (roofline.py, projection.py), for a forward, a decoder's prefill, decode steps and responses
(generation.py) and a training step (training_kernels.py, training.py); calibration of the parameters on
measurements reuses the same code (calibrate.py, observations.py). Facility energy and CO2e are the
accounting's (analyzer/account).

The graph is first turned into the kernels the runtime launches (`analyzer.project.kernels`). Then, per kernel k
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

from .params import ClassRate, Params, resolve_params
from .projection import Projection, project, saving_band
from .roofline import KernelArrays, KernelTime, Timeline, kernel_arrays_times, kernel_times, schedule, schedule_arrays, streams_weights

__all__ = ["ClassRate", "Params", "resolve_params", "Projection", "project", "saving_band", "KernelArrays", "KernelTime", "Timeline",
           "kernel_arrays_times", "kernel_times", "schedule", "schedule_arrays", "streams_weights"]
