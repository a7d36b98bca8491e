"""A training step as XLA compiles it for a TPU (issue #26): the same step as eager PyTorch launches it
(training_kernels.py), with XLA's operation fusion applied. XLA fuses elementwise operations into the
operations that produce or consume their operands, reductions with their producers (multi-output fusion), and
emits one loop per fusion (the XLA documentation, "XLA: Optimizing Compiler for Machine Learning", operation
fusion; on TPU a convolution fusion takes the elementwise work around it, Jouppi et al. 2020, "A Domain-
Specific Supercomputer for Training Deep Neural Networks", CACM 63(7): XLA "fuses" the vector work into the
matrix unit's pipeline). What remains in memory traffic:

- matrix work (convolutions, GEMMs, attention, their dgrad and wgrad) as planned;
- elementwise, layout and cast kernels: fused into a neighbour, no traffic of their own;
- a batch norm in training: its statistics are a reduction that reads its input once (forward); its backward
  a reduction that reads the input and the output's gradient once; applying either is fused;
- pooling and other reductions: as planned;
- the optimizer: one fused update per step reading each parameter, its gradient and its state and writing the
  parameter and state once (SGD 12 bytes a parameter, with momentum 20, Adam/AdamW 28; fp32 state).
"""

from __future__ import annotations

from dataclasses import replace

from .kernels import TENSOR_CLASSES, Kernel, KernelPlan

FUSED_OPTIMIZER_BYTES = {"sgd": 12, "sgd-momentum": 20, "adam": 28, "adamw": 28,
                         # weight read and written, gradient read, each state buffer read and written
                         "rmsprop": 20, "rmsprop-momentum": 28, "adagrad": 20}
_KEPT = TENSOR_CLASSES | {"depthwise", "attention", "reduce"}
_BN_FORWARD_READS = 1.0 / 3.0  # of a training batch norm's planned forward traffic (1.5 x read-and-write): one read
_BN_BACKWARD_READS = 2.0 / 3.0  # of its planned gradient reduction (as the forward's traffic): x and dy once


def compiled(plan: KernelPlan, n_fwd: int, n_bwd: int, optimizer: str, params: int, bytes_scale: float
             ) -> tuple[KernelPlan, int, int, int]:
    """(the fused step's kernels, forward, backward, optimizer kernel counts) from the eager step's plan."""
    def keep(ks: list[Kernel]) -> list[Kernel]:
        out = []
        for k in ks:
            # a fused statistics reduction streams its operands once: timed as streaming traffic (the elementwise
            # class's bandwidth), its few FLOPs hidden under the reads
            if k.kclass == "bn":
                out.append(replace(k, op_type=f"{k.op_type}:stats", kclass="elementwise", flops=0.0,
                                   bytes=k.bytes * _BN_FORWARD_READS))
            elif k.op_type.endswith(":grad-reduce"):
                out.append(replace(k, kclass="elementwise", flops=0.0, bytes=k.bytes * _BN_BACKWARD_READS))
            elif k.kclass in _KEPT:
                out.append(k)
        return out

    fwd = keep(list(plan.kernels[:n_fwd]))
    bwd = keep(list(plan.kernels[n_fwd:n_fwd + n_bwd]))
    opt = [Kernel("optimizer", f"{optimizer}:fused-update", "elementwise", 2.0 * params,
                  FUSED_OPTIMIZER_BYTES[optimizer] * params / bytes_scale, "elementwise")]
    kernels = tuple(fwd + bwd + opt)
    fused = plan.fused_nodes + (len(plan.kernels) - len(kernels))
    return replace(plan, runtime="xla", kernels=kernels, fused_nodes=fused,
                   rules=plan.rules + (f"xla fusion x{len(plan.kernels) - len(kernels)}",)), len(fwd), len(bwd), len(opt)
