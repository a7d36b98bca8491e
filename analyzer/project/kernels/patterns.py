"""Fusion patterns: groups of exported ONNX nodes that a runtime executes as one kernel.

Exporters decompose what a framework runs as one operator. Each pattern below recognises such a group in
the node graph (nodes in topological order, `Dataflow` facts from graph.py) and returns the node indices it
claims. Patterns are tried in the order given by the runtime's rules; a node belongs to at most one group.

- `attention`: MatMul(Q, K^T) [-> Mul/Div by a constant] [-> Add mask | Where] -> Softmax [-> Where(IsNaN(p),
  0, p), the guard torch writes with a boolean mask] -> MatMul(., V), with the constant pre-scaling Muls of Q
  and K that the exporters write for scaled_dot_product_attention.
  PyTorch runs it as one scaled-dot-product-attention kernel (flash or memory-efficient) whose traffic is
  Q, K, V and the output once: the score matrix never reaches memory.
- `recomposed`: a decomposed elementwise or normalisation operator (SiLU = x * sigmoid(x), erf and tanh
  GELU, LayerNorm written with ReduceMean/Sub/Pow/Sqrt/Div, ...): a connected set of elementwise and
  reduction nodes whose only run-time inputs are one tensor x, read by at least two of them, and the set's
  own results, with one result leaving the set. Eager PyTorch launched one kernel for it before export; its
  traffic is x and the result once. A group of plain arithmetic (Add, Sub, Mul, ...; no Sigmoid, Erf, Tanh,
  reduction, Sqrt, Div, Clip, ...) is the network's own code, not an exporter's decomposition: NAS-Bench-201's
  `x * 0 + y` is two kernels in eager PyTorch, in a CUDA graph and in ONNX Runtime alike.
- `linear_bias`: MatMul followed by an Add of a 1-D constant (torch.nn.Linear exported): one GEMM kernel
  with a bias epilogue (cuBLASLt), as PyTorch's addmm runs it.
- `epilogue`: (ONNX Runtime) an elementwise or normalisation node whose first input is the single-consumer
  output of a GEMM, convolution or attention kernel runs inside that kernel (Conv+BN folding, FusedConv
  with activation and residual Add, FusedMatMul/Gemm with activation); so does a recomposed operator all of
  whose reads of that output are its own (a written-out GELU: GeluFusion then BiasGelu).
- `parallel_slices`: (ONNX Runtime) Slice nodes, and Gathers of one constant index, that together cut one
  run-time tensor into pieces covering all of it: one Split kernel (GatherSliceToSplitFusion,
  onnxruntime/core/optimizer/gather_slice_fusion.h). The dynamo exporter writes `q, k, v = qkv.unbind(0)` as
  three Slices where the TorchScript exporter writes one Split.
"""

from __future__ import annotations


from ...records import NodeProfile
from ...units import FP32_BYTES
from .graph import Dataflow, numel

RECOMPOSABLE = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Neg", "Abs", "Exp", "Log", "Erf", "Tanh", "Sigmoid",
    "Relu", "Clip", "Min", "Max", "HardSigmoid", "HardSwish", "ReduceMean", "ReduceSum", "Where", "Softplus",
})
_SCALE_OPS = frozenset({"Mul", "Div"})
# what marks a group as one framework operator an exporter wrote out (SiLU's Sigmoid, GELU's Erf or Tanh, a
# LayerNorm's ReduceMean and Sqrt, HardSwish's Clip and Div, ...): a group of plain arithmetic only (Add, Sub, Mul,
# Neg, Relu, Min, Max, Abs) is the network's own code, one operator and one kernel each in eager PyTorch (NAS-Bench-
# 201's `none` edge, x * 0, added to another edge's output), and neither ONNX Runtime nor a CUDA graph merges it
_DECOMPOSED_MARKS = frozenset({"Div", "Pow", "Sqrt", "Reciprocal", "Exp", "Log", "Erf", "Tanh", "Sigmoid", "Clip",
                               "HardSigmoid", "HardSwish", "ReduceMean", "ReduceSum", "Where", "Softplus"})


# op types without one of which no pattern outside ONNX Runtime groups nodes: attention needs its Softmax,
# linear_bias its MatMul, recomposed one of _DECOMPOSED_MARKS (project/parts.py decides cells by it without planning)
GROUP_ANCHORS = frozenset({"Softmax", "MatMul"}) | _DECOMPOSED_MARKS


def _only_dynamic(node: NodeProfile, flow: Dataflow) -> list[str]:
    return [t for t in node.inputs if flow.is_dynamic(t)]


def _scores_input(node: NodeProfile, flow: Dataflow) -> str | None:
    """The run-time input of a mask/scale node that carries the scores: the largest produced one (masks
    broadcast over heads and queries, so they are smaller)."""
    cands = [(numel(shape), t) for t, shape in zip(node.inputs, node.input_shapes) if flow.is_dynamic(t) and t in flow.producer]
    return max(cands)[1] if cands else None


def attention(nodes: list[NodeProfile], flow: Dataflow, claimed: set[int], i: int) -> list[int] | None:
    """Claim the attention group whose Softmax is node i."""
    s = nodes[i]
    if s.op_type != "Softmax" or not s.inputs or not flow.is_dynamic(s.inputs[0]):
        return None
    group = [i]
    t: str | None = s.inputs[0]
    qk = None
    for _ in range(4):  # at most scale, mask and a second scale between the scores and the Softmax
        j = flow.producer.get(t) if t else None
        if j is None or j in claimed or flow.single_consumer(t) is None:  # type: ignore[arg-type]
            return None
        op = nodes[j].op_type
        if op == "MatMul":
            qk = j
            break
        if op not in ("Add", "Where", "Mul", "Div") or (op in _SCALE_OPS and len(_only_dynamic(nodes[j], flow)) != 1
                                                          and op == "Div"):
            return None
        group.append(j)
        t = _scores_input(nodes[j], flow)
    if qk is None or len(_only_dynamic(nodes[qk], flow)) != 2:
        return None
    probs = s.outputs[0] if s.outputs else None
    guard = _nan_guard(nodes, flow, claimed, probs) if probs else None
    if guard is not None:  # Where(IsNaN(p), 0, p): SDPA with a boolean mask, exported; inside the kernel
        group += guard
        probs = nodes[guard[-1]].outputs[0]
    out = flow.single_consumer(probs) if probs else None
    if out is None or nodes[out].op_type != "MatMul" or nodes[out].inputs[0] != probs or out in claimed:
        return None
    group += [qk, out]
    for t in nodes[qk].inputs:  # constant pre-scaling of Q and K (sqrt of the scale on each)
        p = flow.producer.get(t)
        if p is not None and p not in claimed and nodes[p].op_type in _SCALE_OPS and len(_only_dynamic(nodes[p], flow)) == 1 \
                and flow.single_consumer(t) == qk:
            group.append(p)
    return sorted(group)


def _nan_guard(nodes: list[NodeProfile], flow: Dataflow, claimed: set[int], probs: str) -> list[int] | None:
    """[IsNaN, Where] when the probabilities feed only Where(IsNaN(p), constant, p), as torch exports
    scaled_dot_product_attention with a boolean mask (fully masked rows would be NaN)."""
    users = flow.consumers.get(probs, [])
    if len(users) != 2:
        return None
    isnan = next((k for k in users if nodes[k].op_type == "IsNaN"), None)
    where = next((k for k in users if nodes[k].op_type == "Where"), None)
    if isnan is None or where is None or isnan in claimed or where in claimed:
        return None
    w = nodes[where]
    if len(w.inputs) != 3 or w.inputs[0] != nodes[isnan].outputs[0] or w.inputs[2] != probs or flow.is_dynamic(w.inputs[1]):
        return None
    return [isnan, where]


def attention_bytes(nodes: list[NodeProfile], group: list[int]) -> float:
    """Flash-style traffic, in fp32 bytes: Q, K, V read once and the output written once."""
    mm = [k for k in group if nodes[k].op_type == "MatMul"]
    qk, pv = nodes[mm[0]], nodes[mm[-1]]
    elems = numel(qk.input_shapes[0]) + numel(qk.input_shapes[1]) + numel(pv.input_shapes[1]) + numel(pv.output_shapes[0])
    return FP32_BYTES * elems


def recomposed(nodes: list[NodeProfile], flow: Dataflow, claimed: set[int], i: int) -> list[int] | None:
    """Claim a decomposed operator rooted at the tensor x that node i reads first: the nodes whose run-time
    inputs are x or results of the group, grown as far as they go, when x is read by at least two of them and
    exactly one result leaves the group. Two decomposed operators back to back (GELU straight into SiLU)
    merge into one kernel: rare in real networks, where a GEMM or convolution sits between them."""
    n = nodes[i]
    if n.op_type not in RECOMPOSABLE or not n.inputs or not flow.is_dynamic(n.inputs[0]):
        return None
    x = n.inputs[0]
    group: set[int] = set()
    inside: set[str] = {x}

    def fits(k: int) -> bool:
        return (k not in claimed and k not in group and nodes[k].op_type in RECOMPOSABLE
                and all(t in inside for t in _only_dynamic(nodes[k], flow)))

    frontier = [k for k in flow.consumers.get(x, []) if k not in claimed and nodes[k].op_type in RECOMPOSABLE]
    while frontier and len(group) < _MAX_RECOMPOSED:
        k = frontier.pop()
        if not fits(k):
            continue
        group.add(k)
        inside.update(t for t in nodes[k].outputs if t)
        for t in nodes[k].outputs:
            frontier += [c for c in flow.consumers.get(t, []) if fits(c)]
    leaving = _leaving(nodes, flow, group)
    # a reduction (or any node) that only reads the result is the next operator, not part of this one: an
    # exporter that writes global pooling as ReduceMean puts it right after a decomposed SiLU
    while len(leaving) > 1:
        tails = [k for k in group if all(c not in group for t in nodes[k].outputs for c in flow.consumers.get(t, []))]
        if not tails:
            break
        group.discard(max(tails))
        leaving = _leaving(nodes, flow, group)
    # a reduction whose result leaves the group is the next operator (global pooling written as ReduceMean after
    # the last SiLU), even when it is the only result leaving: a decomposed normalisation ends in elementwise ops
    while len(group) > 2:
        tails = [k for k in group if nodes[k].op_type.startswith("Reduce")
                 and all(c not in group for t in nodes[k].outputs for c in flow.consumers.get(t, []))]
        if not tails:
            break
        group.discard(max(tails))
        leaving = _leaving(nodes, flow, group)
    if len(group) < 2 or len(leaving) != 1 or sum(1 for k in flow.consumers.get(x, []) if k in group) < 2:
        return None
    if not any(nodes[k].op_type in _DECOMPOSED_MARKS for k in group):
        return None  # the network's own arithmetic, launched as written (_DECOMPOSED_MARKS)
    return sorted(group)


def _leaving(nodes: list[NodeProfile], flow: Dataflow, group: set[int]) -> list[str]:
    """The group's results that something outside it reads (or that the graph returns)."""
    return [t for k in group for t in nodes[k].outputs
            if t and (t in flow.graph_outputs or any(c not in group for c in flow.consumers.get(t, [])))]


_MAX_RECOMPOSED = 32


def recomposed_bytes(nodes: list[NodeProfile], group: list[int], flow: Dataflow) -> float:
    """x and the result once (fp32 bytes), plus the constant parameters (LayerNorm scale and shift)."""
    first = nodes[group[0]]
    leaving = next(t for k in group for t in nodes[k].outputs if t and (t in flow.graph_outputs or any(
        c not in group for c in flow.consumers.get(t, []))))
    out_node = nodes[flow.producer[leaving]]
    params = sum(numel(s) for k in group for s, c in zip(nodes[k].input_shapes, nodes[k].initializer_inputs) if c)
    return FP32_BYTES * (numel(first.input_shapes[0]) + numel(out_node.output_shapes[0]) + params)


def linear_bias(nodes: list[NodeProfile], flow: Dataflow, claimed: set[int], i: int) -> list[int] | None:
    n = nodes[i]
    if n.op_type != "MatMul" or not n.outputs:
        return None
    k = flow.single_consumer(n.outputs[0])
    if k is None or k in claimed or nodes[k].op_type != "Add":
        return None
    add = nodes[k]
    other = [(s, c) for t, s, c in zip(add.inputs, add.input_shapes, add.initializer_inputs) if t != n.outputs[0]]
    if len(other) == 1 and other[0][1] and len([d for d in other[0][0] if d != 1]) <= 1:
        return [i, k]
    return None


def epilogue_fused(nodes: list[NodeProfile], flow: Dataflow, producer_class: dict[str, str], i: int) -> bool:
    """ONNX Runtime: does node i run inside the GEMM/conv/attention kernel that alone feeds it?"""
    n = nodes[i]
    if n.op_class not in ("elementwise", "normalization") or not n.inputs:
        return False
    src = n.inputs[0]
    return producer_class.get(src) in ("gemm", "conv", "conv1x1", "depthwise", "attention") and flow.single_consumer(src) == i


def group_epilogue_fused(nodes: list[NodeProfile], flow: Dataflow, producer_class: dict[str, str], group: list[int]) -> bool:
    """ONNX Runtime: does a recomposed GELU (erf or tanh, written out) run inside the GEMM,
    convolution or attention kernel whose output it alone reads? ORT recognises the written-out GELU (GeluFusion)
    and then fuses it with the GEMM's bias (BiasGelu, FusedMatMul), as it fuses a Gelu node an exporter wrote as
    one: two exports of one network then run the same kernels."""
    if not any(nodes[k].op_type in ("Erf", "Tanh") for k in group):  # a GELU (ORT fuses no written-out SiLU)
        return False
    x = nodes[group[0]].inputs[0]
    readers = flow.consumers.get(x, [])
    return (producer_class.get(x) in ("gemm", "conv", "conv1x1", "depthwise", "attention") and x not in flow.graph_outputs
            and bool(readers) and all(k in group for k in readers))


_CUTS = frozenset({"Slice", "Gather"})


def parallel_slices(nodes: list[NodeProfile], flow: Dataflow, claimed: set[int], i: int) -> list[int] | None:
    """Claim the Slices/Gathers that read the tensor node i cuts, when at least two of them cut it whole
    (their outputs add up to it: ORT's fusion requires contiguous pieces covering the axis)."""
    n = nodes[i]
    if n.op_type not in _CUTS or not n.inputs or not flow.is_dynamic(n.inputs[0]):
        return None
    x = n.inputs[0]

    def cut(k: int) -> bool:  # every input but the data is a constant (starts, ends, axes; a scalar index)
        m = nodes[k]
        return (k not in claimed and m.op_type in _CUTS and m.inputs[0] == x and m.output_shapes
                and not any(flow.is_dynamic(t) for t in m.inputs[1:])
                and (m.op_type == "Slice" or (len(m.input_shapes) > 1 and m.input_shapes[1] in ([], [1]))))

    group = [k for k in flow.consumers.get(x, []) if cut(k)]
    total = numel(n.input_shapes[0]) if n.input_shapes else 0
    if len(group) < 2 or not total or sum(numel(nodes[k].output_shapes[0]) for k in group) != total:
        return None
    return sorted(group)
