"""Validation of an ONNX graph before and after shape inference: the checker, dataflow (each value written once,
no cycle), text fields UTF-8, declared and inferred dims within range, contradictions between declared and
inferred shapes, and inputs known to send ONNX's C++ inference into a loop. Errors name the model and the node."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import onnx
from ..errors import ModelLoadError, ShapeError, param
from ..units import MAX_DIM, MAX_ELEMENTS, ONNX_DTYPES
from . import shape_fold


_STRING, _MESSAGE = 9, 11  # FieldDescriptor.TYPE_STRING, TYPE_MESSAGE


_LEAVES: dict[Any, tuple[str, ...] | None] = {}


def check_model(sk: onnx.ModelProto, path: Path) -> None:
    # Outputs declared without a shape: ONNX Runtime accepts these, and so do we. The checker stops at the first
    # such value, so it checks a copy in which they have an (unknown-rank) shape, and sees the rest of the graph.
    checked = sk
    if any(not vi.type.tensor_type.HasField("shape") for vi in _declared(sk.graph) if vi.type.HasField("tensor_type")):
        checked = onnx.ModelProto()
        checked.CopyFrom(sk)
        for vi in _declared(checked.graph):
            if vi.type.HasField("tensor_type") and not vi.type.tensor_type.HasField("shape"):
                vi.type.tensor_type.shape.SetInParent()
    try:
        onnx.checker.check_model(checked)
    except (onnx.checker.ValidationError, ValueError, RuntimeError, TypeError) as e:
        lines = str(e).strip().splitlines()
        first = lines[0] if lines else type(e).__name__
        raise ModelLoadError(f"{path}: invalid ONNX graph: {first}") from None

def _declared(g: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    return [*g.input, *g.output, *g.value_info]

def check_dataflow(g: onnx.GraphProto, path: Path) -> None:
    """Each value written once, and no cycle: ONNX Runtime refuses both, and a cycle has no cost to count.
    (Nodes need not be listed in order; subgraphs read outer values by name, so only the main graph is walked.)"""
    written: dict[str, str] = {vi.name: "a graph input" for vi in g.input}
    written.update({t.name: "an initializer" for t in g.initializer if t.name not in written})
    for n in g.node:
        for o in n.output:
            if not o:
                continue
            if o in written:
                raise ModelLoadError(f"{path}: '{o}' is written by node '{n.name or n.op_type}' and by {written[o]}; "
                                     "each value has one producer")
            written[o] = f"node '{n.name or n.op_type}'"
    producer = {o: i for i, n in enumerate(g.node) for o in n.output if o}
    waiting = [sum(1 for x in set(n.input) if x in producer) for n in g.node]
    readers: dict[int, list[int]] = {}
    for i, n in enumerate(g.node):
        for x in set(n.input):
            if x in producer:
                readers.setdefault(producer[x], []).append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    done = 0
    while ready:
        i = ready.pop()
        done += 1
        for r in readers.get(i, ()):
            waiting[r] -= 1
            if waiting[r] == 0:
                ready.append(r)
    if done < len(g.node):
        stuck = next(n for i, n in enumerate(g.node) if waiting[i] > 0)
        raise ModelLoadError(f"{path}: the graph has a cycle through node '{stuck.name or stuck.op_type}' "
                             f"({stuck.op_type}); a model's graph is acyclic")

_EINSUM = re.compile(rb"^[A-Za-z ,.>\-]*$")

def reject_known_hazards(g: onnx.GraphProto, path: Path) -> None:
    """Inputs known to send ONNX's C++ inference into an endless loop, refused before it runs (the time limit
    would stop them too, after --timeout): an Einsum equation with bytes other than letters, commas, '->'
    and '...' (a NUL or a non-ASCII byte after '...')."""
    for n in g.node:
        for a in n.attribute:
            if n.op_type == "Einsum" and a.name == "equation" and not _EINSUM.match(a.s):
                raise ModelLoadError(f"{path}: Einsum at node '{n.name or n.output[0] if n.output else ''}': equation "
                                     f"{a.s.decode('latin-1')!r} is not an Einsum equation (letters, commas, '->', '...')")
            if a.type == onnx.AttributeProto.GRAPH:
                reject_known_hazards(a.g, path)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for sub in a.graphs:
                    reject_known_hazards(sub, path)

def reject_unreadable(proto: onnx.ModelProto, path: Path) -> None:
    """Text fields that are not UTF-8 (protobuf hands them over as bytes, and every later step would trip on
    them) and initializers with impossible dims or types, refused with the model's name first."""
    where = _non_utf8(proto, "model")
    if where is not None:
        raise ModelLoadError(f"{path}: {where} is not UTF-8 text")

    def graph(g: onnx.GraphProto) -> None:
        for n in g.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    graph(a.g)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for sub in a.graphs:
                        graph(sub)
        for t in g.initializer:
            if any(d < 0 for d in t.dims):
                raise ModelLoadError(f"{path}: initializer '{t.name}' has dims {list(t.dims)}; dims are 0 or more")
            if t.data_type not in ONNX_DTYPES:
                raise ModelLoadError(f"{path}: initializer '{t.name}' has data type {t.data_type}, which ONNX does not define")

    graph(proto.graph)

def _non_utf8(msg: Any, at: str) -> str | None:
    """The first string field of `msg` (recursively) that holds bytes that are not UTF-8, named by its path.
    A fast pass finds whether there is one; only then is the path built (the walk visits every message)."""
    return _non_utf8_path(msg, at) if _has_non_utf8(msg) else None

def _leaf_strings(desc: Any) -> tuple[str, ...] | None:
    """For a message type with no message fields and no repeated strings (StringStringEntryProto,
    OperatorSetIdProto): its string fields, checked in line rather than by recursion. Else None."""
    if desc not in _LEAVES:
        leaf = all(f.type != _MESSAGE and not (f.type == _STRING and f.is_repeated) for f in desc.fields)
        _LEAVES[desc] = tuple(f.name for f in desc.fields if f.type == _STRING) if leaf else None
    return _LEAVES[desc]

def _has_non_utf8(msg: Any) -> bool:
    """The fast pass: no paths, repeated strings checked by one join (it raises on bytes), lists of leaf
    messages (external_data, metadata) checked in line."""
    for fd, value in msg.ListFields():
        t = fd.type
        if t == _STRING:
            if fd.is_repeated:
                try:
                    "".join(value)
                except TypeError:
                    return True
            elif type(value) is not str:
                return True
        elif t == _MESSAGE:
            if not fd.is_repeated:
                if _has_non_utf8(value):
                    return True
                continue
            leaf = _leaf_strings(fd.message_type)
            if leaf is not None:
                try:
                    "".join([getattr(v, name) for v in value for name in leaf])
                except TypeError:
                    return True
                continue
            for v in value:
                if _has_non_utf8(v):
                    return True
    return False

def _non_utf8_path(msg: Any, at: str) -> str | None:
    for fd, value in msg.ListFields():
        if fd.type == _STRING:
            single = isinstance(value, (str, bytes))
            for i, v in enumerate([value] if single else value):
                if not isinstance(v, str):
                    return f"{at}.{fd.name}" + ("" if single else f"[{i}]") + f" ({bytes(v)[:40]!r})"
        elif fd.type == _MESSAGE:
            single = hasattr(value, "ListFields")
            for i, v in enumerate([value] if single else value):
                found = _non_utf8_path(v, f"{at}.{fd.name}" + ("" if single else f"[{i}]"))
                if found:
                    return found
    return None

# strict inference errors that mean the graph contradicts itself (others, such as an op without a schema,
# leave the lenient pass to do what it can, with a note)
CONTRADICTIONS = ("Incompatible dimensions", "Inferred shape and existing shape differ", "Inferred elem type differs",
                   "Incompatible ranks", "rank mismatch")

def check_declared_dims(sk: onnx.ModelProto, path: Path) -> None:
    """Declared shapes with a negative dim (-1 is not 'unknown' in ONNX: that is a dim without a value)."""
    for vi in _declared(sk.graph):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            for d in vi.type.tensor_type.shape.dim:
                if d.HasField("dim_value") and d.dim_value < 0:
                    raise ModelLoadError(f"{path}: '{vi.name}' declares dim {d.dim_value}; dims are 0 or more "
                                         "(an unknown dim has a name or no value)")
                if d.HasField("dim_value") and d.dim_value > MAX_DIM:
                    raise ModelLoadError(f"{path}: '{vi.name}' declares dim {d.dim_value:,}; the largest dim this tool "
                                         f"profiles is {MAX_DIM:,}")

def check_inferred_dims(inferred: onnx.ModelProto, path: Path) -> None:
    """Shapes that inference computed negative: inputs that make no sense (a negative Resize scale, a Slice or
    Pad that removes more than there is)."""
    producer = {o: n for n in inferred.graph.node for o in n.output}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            n = producer.get(vi.name)
            at = f" at node '{n.name or n.op_type}' ({n.op_type})" if n is not None else ""
            values = [d.dim_value for d in vi.type.tensor_type.shape.dim if d.HasField("dim_value")]
            for v in values:
                if v < 0:
                    raise ShapeError(f"{path}: '{vi.name}' would have dim {v}{at}: its inputs or attributes "
                                     "make no sense (a negative scale, pad or size?)")
            if max(values, default=0) > MAX_DIM or math.prod(values) > MAX_ELEMENTS:
                raise ShapeError(f"{path}: '{vi.name}' would have shape {values}{at}, more than this tool profiles "
                                 f"(dims up to {MAX_DIM:,}, {MAX_ELEMENTS:,} elements a tensor)")

def explain_data_dependence(model: onnx.ModelProto, path: Path) -> None:
    """Raise a ShapeError naming the node whose output size depends on input values, if there is one."""
    found = shape_fold.data_dependent(model)
    if found is None:
        return  # left for the cost handlers to name where a count needs the unknown dim
    node, op, out, inputs = found
    on = f"the values of input {', '.join(repr(i) for i in inputs)}" if inputs else "values computed in the graph"
    raise ShapeError(f"{path}: the size of '{out}' ({op} at node '{node}') depends on {on}, not on the input dims; "
                     f"cost the largest case with {param('assume_upper_bound')}")
