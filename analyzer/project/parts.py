"""A projection put together from the timed kernel plans of a network's segments (count/parts.py), so a
population plans and times each distinct segment once (engine/memo.py).

The projection of the whole graph plans kernels over all its nodes, times each kernel on its own (roofline.py:
elementwise, so a kernel's time does not depend on its neighbours) and schedules the timeline over the kernel list.
A segment's plan is the whole graph's plan of the same nodes when no fusion pattern reaches across a segment
boundary and no batch norm is unfolded (tests/load/test_nb201_ir.py checks the two agree, bit for bit, over sampled
cells on every runtime); the one whole-model fact a kernel's time reads, whether the weights stream from memory,
is part of the segment's key. The list of kernel times concatenated in order then ends in `projection.finish`,
as the whole graph's does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import chain

import numpy as np

from ..profiles import HardwareProfile
from ..records import ModelProfile
from .canonical import as_run, folded_batch_norms, has_normalisation, present_note, unfold_note
from .kernels import Kernel, KernelPlan, nchwc_block, plan_kernels
from .params import Params
from .projection import Projection, TimedPlan, finish, kernel_columns
from .roofline import KernelTime, kernel_times, streams_weights


@dataclass(frozen=True, slots=True)
class TimedPart:
    kernels: tuple[Kernel, ...]
    times: tuple[KernelTime, ...]
    host_nodes: int
    view_nodes: int
    fused_nodes: int
    unsupported_nodes: int
    rules: tuple[str, ...]
    output_class: str  # the class of the kernel that wrote the segment's output ('' for none)
    sealed: bool  # no fusion group holds the node writing the output (one might reach into the next segment)
    columns: tuple[np.ndarray, ...]  # per kernel, what projection.finish reads (kernel_columns)
    unfolded: int = 0  # batch norms unfolded (project/canonical.py) in this segment
    largest_node_bytes: int = 0  # its largest node's tensors as run (unfolded), for the memory check


def unfolds(parts_op_types: list, runtime: str, batch_norm: str) -> str:
    """Which batch norms the whole graph's projection unfolds (project/canonical.as_run), as the policy each segment
    applies to its own nodes: 'present' (stated: a norm after every convolution over feature maps that feeds none, on
    every runtime), 'auto' for PyTorch's runtimes when no segment has a normalisation layer (each segment then
    unfolds its own biased convolutions), '' for none."""
    if batch_norm == "present":
        return "present"
    return "auto" if batch_norm == "auto" and runtime in ("eager", "graph", "train") and \
        not any(has_normalisation(ops) for ops in parts_op_types) else ""


def norm_reads_input(segment: ModelProfile) -> bool:
    """A batch norm of the segment reads its input: under 'present' a convolution writing that input in the segment
    before feeds a norm across the boundary, which only the whole graph sees (engine/memo.py checks the pair)."""
    return any(n.op_type == "BatchNormalization" and n.inputs and n.inputs[0] in ("input", "input_b") for n in segment.per_op or [])


def ends_in_feature_conv(segment: ModelProfile) -> bool:
    """The segment's output is written by a convolution over feature maps (one 'present' would give a norm)."""
    return bool(segment.per_op) and bool(folded_batch_norms((segment.per_op or [])[-1:], "present"))


def time_part(segment: ModelProfile, hw: HardwareProfile, params: Params, runtime: str, dtype: str,
              model_weight_bytes: int, input_class: str = "", unfold: str = "") -> TimedPart:
    """One segment's kernels on the target, timed as they are in the whole model (`model_weight_bytes`: the
    whole model's weights, which decide whether they stream from memory; `input_class`: the class of the kernel
    that wrote the segment's input, the previous segment's `output_class`; `unfold`: the batch-norm policy, see
    `unfolds`)."""
    folded = len(folded_batch_norms(segment.per_op or [], unfold)) if unfold else 0
    if folded:
        segment = as_run(segment, runtime, unfold)[0]
    nodes = segment.per_op or []
    x = next(t for t in nodes[0].inputs if t) if nodes else ""
    plan = plan_kernels(segment, runtime, dtype, gpu=hw.category == "gpu", nchwc_block=nchwc_block(hw),
                        input_classes={x: input_class} if input_class else None)
    plan = replace(plan, weight_bytes=float(model_weight_bytes))
    times = kernel_times(plan, params, 0.0)
    y = nodes[-1].outputs[0] if nodes else ""
    return TimedPart(plan.kernels, tuple(times), plan.host_nodes, plan.view_nodes, plan.fused_nodes, plan.unsupported_nodes,
                     plan.rules, plan.producer_class.get(y, ""), y not in plan.grouped_tensors, kernel_columns(times),
                     folded, max((n.bytes for n in nodes), default=0))


def concat(parts: list[TimedPart]) -> TimedPart:
    """Pieces of one segment, none of whose nodes a fusion pattern groups, as the segment's TimedPart: their kernels
    in order (the plan of the whole segment, whose nodes each launch their own kernels)."""
    return TimedPart(tuple(chain.from_iterable(p.kernels for p in parts)), tuple(chain.from_iterable(p.times for p in parts)),
                     sum(p.host_nodes for p in parts), sum(p.view_nodes for p in parts), 0, sum(p.unsupported_nodes for p in parts),
                     (), parts[-1].output_class if parts else "", True, _joined(parts), sum(p.unfolded for p in parts),
                     max((p.largest_node_bytes for p in parts), default=0))


def _joined(parts: list[TimedPart]) -> tuple[np.ndarray, ...]:
    if not parts:
        return kernel_columns([])
    return tuple(np.concatenate(column) for column in zip(*(p.columns for p in parts)))


def fusion_free(segment: ModelProfile, hw: HardwareProfile, runtime: str, dtype: str) -> bool:
    """No node of the segment runs inside another's kernel: its plan is its nodes' plans in order. (Planning reads
    shapes for the kernels' sizes only: which nodes fuse is a matter of the graph's operators and dataflow.)"""
    plan = plan_kernels(segment, runtime, dtype, gpu=hw.category == "gpu", nchwc_block=nchwc_block(hw))
    return plan.fused_nodes == 0 and not plan.rules


def groups_nothing(op_types: set[str], runtime: str) -> bool:
    """True when no fusion pattern can group nodes of these op types on `runtime` (outside ONNX Runtime every
    pattern needs one of kernels.patterns.GROUP_ANCHORS): such a segment is fusion_free without planning it.
    False says nothing (plan it: fusion_free)."""
    from .kernels.patterns import GROUP_ANCHORS

    return runtime != "ort" and GROUP_ANCHORS.isdisjoint(op_types)


def streams(model_weight_bytes: int, params: Params) -> bool:
    return streams_weights(float(model_weight_bytes), params)


def project_parts(profile: ModelProfile, parts: list[TimedPart], hw: HardwareProfile, params: Params, runtime: str,
                  dtype: str, batch_norm: str = "auto") -> Projection:
    """The projection of the whole network (`profile`: count/parts.combine's) from its segments' timed plans."""
    fired: dict[str, int] = {}
    for p in parts:
        for r in p.rules:
            name, _, n = r.rpartition(" x")
            fired[name] = fired.get(name, 0) + int(n)
    arrays = _joined(parts)
    plan = _JoinedPlan(runtime, tuple(chain.from_iterable(p.kernels for p in parts)), sum(p.host_nodes for p in parts),
                       sum(p.view_nodes for p in parts), sum(p.fused_nodes for p in parts),
                       sum(p.unsupported_nodes for p in parts), tuple(f"{k} x{v}" for k, v in fired.items()),
                       float(profile.weight_bytes), host_ops=int(np.count_nonzero(arrays[0] >= 0)))
    unfolded = sum(p.unfolded for p in parts)
    largest = max((p.largest_node_bytes for p in parts), default=0)
    said = (present_note(unfolded) if batch_norm == "present" else unfold_note(unfolded, runtime)) if unfolded else ""
    timed = TimedPlan(plan, list(chain.from_iterable(p.times for p in parts)), largest, [said] if said else [], arrays)
    return finish(profile, timed, hw, params, dtype)


@dataclass(frozen=True)
class _JoinedPlan(KernelPlan):
    """A plan put together from segments' plans, its host operators counted from the joined columns (a kernel with a
    host family: kernel_columns' index >= 0, as KernelPlan.ops counts kernels with `host`) instead of walking them."""

    host_ops: int = 0

    @property
    def ops(self) -> int:
        return self.host_ops
