"""Read torch.profiler traces (Chrome trace JSON, optionally gzipped) into operators and their kernels, and
line them up with the kernel plan of the exported graph, so calibration can fit kernel classes on what
each operator's kernels really took. No torch import: traces are plain JSON.

A kernel belongs to the outermost CPU operator (aten::conv2d, aten::batch_norm, ...) whose time span holds
the runtime call (cudaLaunchKernel, cuLaunchKernel, cudaMemsetAsync) that launched it, matched through the
trace's correlation ids.
"""

from __future__ import annotations

import bisect
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import AnalyzerError

# aten operator -> the host family of analyzer.project.kernels
FAMILY = {
    **dict.fromkeys(("conv2d", "conv1d", "conv3d", "convolution", "_convolution", "conv_transpose2d", "conv_transpose1d"), "conv"),
    **dict.fromkeys(("batch_norm", "layer_norm", "group_norm", "instance_norm", "native_layer_norm", "rms_norm"), "norm"),
    **dict.fromkeys(("linear", "matmul", "addmm", "mm", "bmm", "baddbmm", "einsum"), "gemm"),
    **dict.fromkeys(("scaled_dot_product_attention", "_scaled_dot_product_flash_attention",
                     "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention"), "attention"),
    **dict.fromkeys(("add", "add_", "mul", "mul_", "sub", "div", "relu", "relu_", "hardswish", "hardswish_", "hardsigmoid",
                     "hardsigmoid_", "silu", "silu_", "gelu", "sigmoid", "tanh", "hardtanh", "hardtanh_", "clamp", "clamp_",
                     "neg", "exp", "erf", "where", "masked_fill", "pow", "sqrt", "rsqrt", "to", "_to_copy"), "elementwise"),
    **dict.fromkeys(("adaptive_avg_pool2d", "max_pool2d", "avg_pool2d", "mean", "sum", "softmax", "_softmax", "amax",
                     "max_pool2d_with_indices", "adaptive_max_pool2d"), "reduce"),
    **dict.fromkeys(("cat", "embedding", "copy_", "contiguous", "clone", "index_select", "gather", "constant_pad_nd",
                     "pad", "stack"), "layout"),
}


@dataclass(frozen=True)
class TraceOp:
    name: str  # aten::conv2d
    family: str  # conv | norm | ... | "" when unknown
    host_s: float  # the operator's CPU span (profiler overhead included)
    kernels: tuple[tuple[str, float], ...]  # (name, seconds) of the kernels and memsets it launched

    @property
    def kernel_s(self) -> float:
        return sum(d for _, d in self.kernels)


def read_trace(path: str | Path) -> list[TraceOp]:
    """Top-level operators in launch order, each with the device work it launched."""
    p = Path(path)
    try:
        opener = gzip.open if p.suffix == ".gz" else open
        with opener(p, "rt", encoding="utf-8") as f:  # type: ignore[operator]
            events = json.load(f)
        events = events["traceEvents"] if isinstance(events, dict) else events
    except (OSError, ValueError, KeyError, TypeError, EOFError) as e:
        raise AnalyzerError(f"{p}: not a readable torch.profiler trace ({type(e).__name__}: {e})") from None
    ops = sorted((e for e in events if e.get("cat") == "cpu_op" and "dur" in e), key=lambda e: (e.get("tid"), e["ts"], -e["dur"]))
    top, end_by_tid = [], {}
    for e in ops:
        tid = e.get("tid")
        if tid in end_by_tid and e["ts"] < end_by_tid[tid]:
            continue  # nested inside an operator already taken
        top.append(e)
        end_by_tid[tid] = e["ts"] + e["dur"]
    top.sort(key=lambda e: e["ts"])
    starts = [e["ts"] for e in top]
    launches = {e.get("args", {}).get("correlation"): e for e in events if e.get("cat") in ("cuda_runtime", "cuda_driver")}
    device = sorted((e for e in events if e.get("cat") in ("kernel", "gpu_memset", "gpu_memcpy") and "dur" in e), key=lambda e: e["ts"])
    owned: dict[int, list[tuple[str, float]]] = {}
    for k in device:
        launch = launches.get(k.get("args", {}).get("correlation"))
        if launch is None:
            continue
        i = bisect.bisect_right(starts, launch["ts"]) - 1
        if i >= 0 and top[i]["ts"] + top[i]["dur"] >= launch["ts"]:
            owned.setdefault(i, []).append((str(k.get("name", "")), k["dur"] * 1e-6))
    out = []
    for i, e in enumerate(top):
        if i not in owned:
            continue  # host-only operators (views, shape arithmetic): nothing on the device
        name = e["name"]
        out.append(TraceOp(name, FAMILY.get(name.split("::")[-1], ""), e["dur"] * 1e-6, tuple(owned[i])))
    return out


# Kernels of one operator that the plan models as separate kernels: cuDNN's layout transforms, PyTorch's
# bias add after a convolution, the helpers of half-precision BatchNormalization.
_ROLE = (("layout", ("ToNhwc", "ToNchw", "nchwTo", "nhwcTo")), ("aux", ("Memset", "calc_invstd", "direct_copy")),
         ("elementwise", ("elementwise_kernel",)))


def kernel_role(name: str, family: str) -> str:
    """'layout', 'aux', 'elementwise' for a traced kernel that is a helper of its operator, '' for the main one."""
    if family not in ("conv", "norm"):
        return ""
    for role, keys in _ROLE:
        if any(k in name for k in keys):
            return "" if (role == "elementwise" and family != "conv") else role
    return ""


def align(plan_ops: list[tuple[str, list]], trace_ops: list[TraceOp], lookahead: int = 4) -> list[tuple[list, TraceOp]]:
    """Pair the plan's operators (family, kernels) with traced operators of the same family, in order. An
    operator on either side without a partner within `lookahead` steps is skipped (e.g. aten::arange, which
    the exported graph computes on the host)."""
    pairs = []
    j = 0
    for family, kernels in plan_ops:
        for step in range(lookahead + 1):
            if j + step < len(trace_ops) and trace_ops[j + step].family == family:
                pairs.append((kernels, trace_ops[j + step]))
                j += step + 1
                break
    return pairs
