"""Resolve the dims ONNX shape inference leaves unknown, as an expression of the bound input dims.

Exporters that trace shapes (torch.onnx's TorchScript exporter, tf2onnx, most Hugging Face exports) compute
target shapes at run time: Shape -> Gather -> Unsqueeze -> Concat -> Reshape, with Div and Mul for heads.
ONNX's inference (even with data propagation) loses the dims after a few such steps, and names them unk__N.
Once the user has bound the model's input dims, every such shape is a function of them: this module
evaluates the host-side shape computations with numpy (the values flowing from Shape, Size and constants,
never from the values of graph inputs), writes them back as Constant nodes and infers again, until every dim
is known or nothing changes. The original graph keeps its nodes; only the shapes found are merged back.

A dim that depends on the values of an input (NonZero of an attention mask, Unique, Compress, NMS) cannot be
resolved that way: `data_dependent` names the node and the input, and `assume_upper_bound` costs the largest
case (every element selected), which the caller states as an assumption.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ._shape_ops import EVALUATORS, MAX_FOLD_ELEMS

Infer = Callable[[onnx.ModelProto], onnx.ModelProto]
MAX_ROUNDS = 12
# ops whose output size depends on the values of their inputs, not on their shapes
DATA_DEPENDENT = {"NonZero", "Unique", "Compress", "NonMaxSuppression", "TopK", "Resize", "Upsample", "Reshape",
                  "Expand", "Tile", "Range", "ConstantOfShape", "Slice", "Pad", "OneHot", "Loop", "Scan", "If",
                  "StringSplit", "RegexFullMatch"}
# the largest output of a value-dependent selection: every element selected
_UPPER_BOUND = {"NonZero", "Unique", "Compress", "NonMaxSuppression"}


def unknown_dims(model: onnx.ModelProto) -> set[str]:
    """Value names whose inferred shape still has a dim without a value (graph inputs excluded)."""
    out = set()
    for vi in list(model.graph.value_info) + list(model.graph.output):
        tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if tt is not None and tt.HasField("shape") and any(not d.HasField("dim_value") for d in tt.shape.dim):
            out.add(vi.name)
    return out


def has_unknown_dims(model: onnx.ModelProto) -> bool:
    """Whether unknown_dims(model) is not empty, stopping at the first."""
    for vi in (*model.graph.value_info, *model.graph.output):
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.HasField("shape") and any(not d.HasField("dim_value") for d in tt.shape.dim):
            return True
    return False


def _shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    shapes: dict[str, list[int | None]] = {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            shapes[vi.name] = [int(d.dim_value) if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    for t in model.graph.initializer:
        shapes[t.name] = [int(d) for d in t.dims]
    return shapes


def _types(model: onnx.ModelProto) -> dict[str, int]:
    """Each tensor's element type where the graph declares or inference found it."""
    types = {vi.name: vi.type.tensor_type.elem_type for vi in list(model.graph.input) + list(model.graph.value_info)
             + list(model.graph.output) if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type}
    types.update({t.name: t.data_type for t in model.graph.initializer})
    return types


def _values(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {}
    for t in model.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL and np.prod(t.dims, dtype=np.int64) <= MAX_FOLD_ELEMS:
            try:
                values[t.name] = numpy_helper.to_array(t)
            except Exception:  # noqa: BLE001 - a malformed constant is simply not folded
                pass
    return values


def _fold_once(model: onnx.ModelProto, opset: int) -> tuple[onnx.ModelProto, int]:
    """Evaluate every shape computation whose inputs are known; return a copy with those nodes replaced by
    Constants, and how many were replaced."""
    shapes, values, types = _shapes(model), _values(model), _types(model)
    replaced: dict[int, list[np.ndarray]] = {}
    for i, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx"):
            continue
        fn = EVALUATORS.get("Cast" if node.op_type == "CastLike" else node.op_type)
        if fn is None:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "CastLike":  # a Cast to the type of its second input, whose values it never reads
            if len(node.input) < 2 or node.input[0] not in values or node.input[1] not in types:
                continue
            ins = [values[node.input[0]]]
            attrs = {"to": types[node.input[1]]}
        elif node.op_type in ("Shape", "Size"):
            shape = shapes.get(node.input[0])
            if shape is None or any(d is None for d in shape):
                continue
            ins: list[np.ndarray | None] = [np.zeros(0)]  # unused: the evaluator reads the shape
            attrs["_shape"] = shape
        else:
            if any(x and x not in values for x in node.input):
                continue
            ins = [values[x] if x else None for x in node.input]
        try:
            outs = fn(ins, attrs, opset)
        except Exception:  # noqa: BLE001 - values from an untrusted file: whatever fails is simply not folded
            continue  # ONNX inference keeps what it knows
        if outs is None or any(o is None or o.size > MAX_FOLD_ELEMS for o in outs):
            continue
        for name, v in zip(node.output, outs):
            values[name] = v
        if node.op_type != "Constant":
            replaced[i] = outs
    if not replaced:
        return model, 0
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    for i, node in enumerate(model.graph.node):
        if i in replaced:
            for name, v in zip(node.output, replaced[i]):
                if name:
                    out.graph.node.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(v, name)))
        else:
            out.graph.node.append(node)
    return out, len(replaced)


def _merge(original: onnx.ModelProto, resolved: onnx.ModelProto) -> onnx.ModelProto:
    """The original inferred graph with the shapes the folded copy found."""
    found = {vi.name: vi for vi in list(resolved.graph.value_info) + list(resolved.graph.output)}
    merged = onnx.ModelProto()
    merged.CopyFrom(original)
    seen = set()
    for vi in list(merged.graph.value_info) + list(merged.graph.output):
        seen.add(vi.name)
        better = found.get(vi.name)
        if better is not None and better.type.HasField("tensor_type") and better.type.tensor_type.HasField("shape"):
            vi.type.CopyFrom(better.type)
    declared = {vi.name for vi in merged.graph.input} | {t.name for t in merged.graph.initializer}
    for name, vi in found.items():
        if name not in seen and name not in declared:
            merged.graph.value_info.append(vi)
    return merged


def _opset(model: onnx.ModelProto) -> int:
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def resolve(bound: onnx.ModelProto, inferred: onnx.ModelProto, infer: Infer,
            assume_upper_bound: bool = False) -> tuple[onnx.ModelProto, list[str]]:
    """Shapes for every value whose dims follow from the bound input dims. Returns the inferred model with
    them merged in, and notes (what was assumed). Values still unknown are left for the caller to name."""
    if not has_unknown_dims(inferred):
        return inferred, []
    notes: list[str] = []
    opset = _opset(bound)
    work = inferred
    for _ in range(MAX_ROUNDS):  # each round turns at least one node into a Constant, or stops
        folded, n = _fold_once(work, opset)
        bounded = 0
        if assume_upper_bound:
            folded, bounded, assumed = _upper_bounds(folded)
            notes += assumed
        if not n and not bounded:
            break
        work = infer(_without_stale_shapes(folded))
        if not has_unknown_dims(work):
            break
    return _merge(inferred, work), notes


def _without_stale_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop value_info entries with unknown dims so inference is free to fill them from the new constants."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    keep = [vi for vi in out.graph.value_info
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape")
            and all(d.HasField("dim_value") for d in vi.type.tensor_type.shape.dim)]
    del out.graph.value_info[:]
    out.graph.value_info.extend(keep)
    return out


def data_dependent(model: onnx.ModelProto) -> tuple[str, str, str, list[str]] | None:
    """The first node whose output size is unknown although its inputs' shapes are all known: (node, op,
    output, graph inputs whose values it depends on), or None."""
    shapes = _shapes(model)
    graph_inputs = {vi.name for vi in model.graph.input} - {t.name for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}

    def sources(name: str, seen: set[str]) -> set[str]:
        if name in graph_inputs:
            return {name}
        if name in seen or name not in producer:
            return set()
        seen.add(name)
        n = producer[name]
        if n.op_type in ("Shape", "Size"):
            return set()  # reads the shape, not the values
        return set().union(*(sources(x, seen) for x in n.input if x)) if n.input else set()

    for n in model.graph.node:
        outs = [shapes.get(o) for o in n.output if o]
        ins_known = all(x == "" or (shapes.get(x) is not None and None not in shapes[x]) for x in n.input)
        if ins_known and any(s is None or None in s for s in outs) and n.op_type in DATA_DEPENDENT:
            src = sorted(sources(n.output[0], set()) & graph_inputs) if n.output else []
            return (n.name or n.op_type, n.op_type, n.output[0], src)
    return None


def _upper_bounds(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int, list[str]]:
    """Declare the largest output of value-dependent selections whose input shape is known."""
    shapes = _shapes(model)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    declared = {vi.name: vi for vi in out.graph.value_info}
    count, notes = 0, []
    for n in model.graph.node:
        if n.op_type not in _UPPER_BOUND or not n.output:
            continue
        shape = shapes.get(n.input[0])
        have = shapes.get(n.output[0])
        if shape is None or None in shape or (have is not None and None not in have):
            continue
        numel = int(np.prod(shape, dtype=np.int64))
        if n.op_type == "NonZero":
            bound = [len(shape), numel]
        elif n.op_type == "NonMaxSuppression":
            bound = [numel, 3]
        elif n.op_type == "Compress":
            axis = next((helper.get_attribute_value(a) for a in n.attribute if a.name == "axis"), None)
            bound = [numel] if axis is None else [d if i != axis % len(shape) else shape[axis % len(shape)] for i, d in enumerate(shape)]
        else:  # Unique: the flattened input, or along an axis
            bound = [numel]
        elem = onnx.TensorProto.INT64 if n.op_type in ("NonZero", "NonMaxSuppression") else _elem(model, n.input[0])
        vi = helper.make_tensor_value_info(n.output[0], elem, bound)
        if n.output[0] in declared:
            declared[n.output[0]].CopyFrom(vi)
        else:
            out.graph.value_info.append(vi)
        count += 1
        notes.append(f"assumed the upper bound for {n.op_type} at node '{n.name or n.output[0]}': every element selected, "
                     f"shape {bound}")
    return out, count, notes


def _elem(model: onnx.ModelProto, name: str) -> int:
    for vi in list(model.graph.input) + list(model.graph.value_info):
        if vi.name == name:
            return vi.type.tensor_type.elem_type
    for t in model.graph.initializer:
        if t.name == name:
            return t.data_type
    return onnx.TensorProto.FLOAT
