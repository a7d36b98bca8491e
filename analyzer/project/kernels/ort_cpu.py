"""What ONNX Runtime's CPU execution provider runs of a graph after its session optimisations (ORT_ENABLE_ALL), as
read in the optimised graphs it writes (SessionOptions.optimized_model_filepath; onnxruntime 1.2x, MLAS) of
NAS-Bench-201 cells on an AVX-512 Xeon (tests/project/test_ort_cpu_plan.py compares the plan with them):

- CommonSubexpressionElimination: a node that repeats another's operator, attributes and inputs is dropped and its
  readers read the first (two edges of a cell applying ReLU, pooling or Mul-by-0 to the same node run once).
- ConvBNFusion: a BatchNormalization that alone reads a Conv's output is folded into the Conv's weights.
- ConvActivationFusion: an activation (Relu, Clip, Sigmoid, Tanh, LeakyRelu, HardSigmoid) that alone reads a
  Conv's output runs in the Conv. Nothing else does: a Mul or an Add after a Conv is a kernel of its own (unlike the
  CUDA provider's epilogues, patterns.epilogue_fused).
- NchwcTransformer, on x86-64, where MLAS has blocked kernels (block NCHWC_BLOCK channels: 8 with AVX2, 16 with
  AVX-512): a Conv whose output channels are a multiple of the block (and input channels too, or fewer than a block:
  it then reads the NCHW input) and MaxPool/AveragePool over such channels run on blocked tensors; a global pool
  does when its input is blocked already, and so does a BatchNormalization (as a depthwise 1x1 Conv, which takes
  an activation like any Conv). Activations, and Add/Sum/Mul whose inputs are all blocked, stay blocked.
  An Add that reads a blocked Conv's output (which nothing else reads) and another blocked tensor runs in that Conv
  (its Sum input), the activation after it too. Every other reader of a blocked tensor reads it through one
  ReorderOutput kernel (per tensor), every blocked operator reading an NCHW tensor through one ReorderInput.
So a NB201 cell whose `none` edges (Mul by 0) sit between convolutions runs about twice the kernels an
operator count gives: its layout changes are kernels, each with ORT's per-kernel cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...records import NodeProfile
from ...units import FP32_BYTES
from .graph import Dataflow, numel

ACTIVATIONS = frozenset({"Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid"})
_POOLS = frozenset({"MaxPool", "AveragePool"})
_GLOBAL_POOLS = frozenset({"GlobalMaxPool", "GlobalAveragePool"})
_BINARY = frozenset({"Add", "Sum", "Mul"})


@dataclass
class OrtCpuGraph:
    """The nodes ORT runs inside another node's kernel, and the reorder kernels it inserts: (before node i, what,
    bytes read and written)."""

    fused: set[int] = field(default_factory=set)
    eliminated: set[int] = field(default_factory=set)  # repeats of another node (common subexpressions)
    reorders: dict[int, list[tuple[str, float]]] = field(default_factory=dict)
    blocked_nodes: int = 0


def _channels(shape: list | None) -> int:
    return int(shape[1]) if shape and len(shape) > 1 and isinstance(shape[1], int) else 0


def _common_subexpressions(nodes: list[NodeProfile], flow: Dataflow, skip: set[int], g: OrtCpuGraph
                           ) -> tuple[dict[str, str], dict[str, list[int]]]:
    """(tensor -> the tensor it repeats, tensor -> the nodes that read it once repeats are dropped); the repeating
    nodes go to g.eliminated."""
    alias: dict[str, str] = {}
    seen: dict[tuple, int] = {}
    for i, n in enumerate(nodes):
        if not flow.device_node(n) or i in skip:
            continue
        key = (n.op_type, tuple(alias.get(t, t) for t in n.inputs), repr(sorted(n.attrs.items())))
        if key in seen:
            g.eliminated.add(i)
            alias.update((o, o0) for o, o0 in zip(n.outputs, nodes[seen[key]].outputs) if o)
        else:
            seen[key] = i
    readers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        if i not in g.eliminated:
            for t in dict.fromkeys(alias.get(t, t) for t in n.inputs if t):
                readers.setdefault(t, []).append(i)
    return alias, readers


def ort_cpu_graph(nodes: list[NodeProfile], flow: Dataflow, skip: set[int], block: int) -> OrtCpuGraph:
    """Walk the graph in order (module docstring). `skip`: nodes a fusion pattern claimed (read as NCHW operators).
    `block` 0: no NCHWc (not x86, or MLAS without it): only the Conv fusions apply."""
    g = OrtCpuGraph()
    alias, readers = _common_subexpressions(nodes, flow, skip, g)

    def r(t: str) -> str:
        return alias.get(t, t)

    def single(t: str, i: int) -> bool:
        return readers.get(t) == [i] and t not in flow.graph_outputs
    blocked: set[str] = set()
    conv_of: dict[str, int] = {}  # tensor -> the Conv (node index) whose kernel writes it, fusions included
    state: dict[int, set[str]] = {}  # Conv -> fusions it took ("act", "sum")
    out_done: set[str] = set()
    in_done: set[str] = set()

    def reorder(i: int, t: str, what: str) -> None:
        done = out_done if what == "ReorderOutput" else in_done
        if t in done:
            return
        done.add(t)
        k = flow.producer.get(t)
        shape = next((s for m in ([nodes[k]] if k is not None else []) for o, s in zip(m.outputs, m.output_shapes) if o == t), None)
        g.reorders.setdefault(i, []).append((what, 2.0 * FP32_BYTES * numel(shape)))

    def nchw(i: int, ins: list[str]) -> None:
        for t in ins:
            if t in blocked:
                reorder(i, t, "ReorderOutput")

    def inherit(i: int, n: NodeProfile, src: str) -> None:
        g.fused.add(i)
        for o in n.outputs:
            if o:
                conv_of[o] = conv_of[src]
                if src in blocked:
                    blocked.add(o)

    for i, n in enumerate(nodes):
        if not flow.device_node(n) or i in g.eliminated:
            continue
        ins = [r(t) for t in n.inputs if t and flow.is_dynamic(t)]
        if i in skip:
            nchw(i, ins)
            continue
        op, x = n.op_type, (r(n.inputs[0]) if n.inputs else "")
        alone = bool(x) and single(x, i)
        conv = conv_of.get(x)
        if op == "BatchNormalization" and conv is not None and alone and not state[conv]:
            inherit(i, n, x)
            continue
        if op in ACTIVATIONS and conv is not None and alone and "act" not in state[conv]:
            state[conv].add("act")
            inherit(i, n, x)
            continue
        out_c = _channels(n.output_shapes[0] if n.output_shapes else None)
        in_c = _channels(n.input_shapes[0] if n.input_shapes else None)
        if op in ("Add", "Sum") and block and len(ins) == 2 and all(t in blocked for t in ins):
            own = [t for t in ins if t in conv_of and t in blocked and single(t, i) and not state[conv_of[t]]]
            if own:
                state[conv_of[own[0]]].add("sum")
                inherit(i, n, own[0])
                continue
        runs_blocked = False
        if block and op == "Conv" and out_c and out_c % block == 0 and (in_c % block == 0 or in_c < block) \
                and int(n.attrs.get("group", 1)) in (1, in_c):
            runs_blocked = True
            if in_c >= block and x not in blocked:
                reorder(i, x, "ReorderInput")
            nchw(i, ins[1:])
        elif block and op in _POOLS and in_c and in_c % block == 0:
            runs_blocked = True
            if x not in blocked:
                reorder(i, x, "ReorderInput")
        elif block and ins and all(t in blocked for t in ins) and (
                op in _GLOBAL_POOLS or op in ACTIVATIONS or op == "BatchNormalization"
                or (op in _BINARY and len(ins) == len([t for t in n.inputs if t]))):
            runs_blocked = True
        else:
            nchw(i, ins)
        conv_like = op == "Conv" or (op == "BatchNormalization" and runs_blocked)  # a blocked BN runs as a 1x1 Conv
        if conv_like:
            state[i] = set()
        for o in n.outputs:
            if not o:
                continue
            if runs_blocked:
                blocked.add(o)
            if conv_like:
                conv_of[o] = i
        g.blocked_nodes += runs_blocked
    tail = len(nodes)
    for t in sorted(blocked & flow.graph_outputs):
        reorder(tail, t, "ReorderOutput")
    return g
