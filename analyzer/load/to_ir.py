"""ONNX protobuf -> our IR (analyzer/ir.py): tensor infos with shapes and element types, small constants' values,
and nodes with their attributes decoded and the operator schema's defaults filled in, subgraphs included."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import onnx
from onnx import helper

from ..ir import Dim, Graph, Node, TensorInfo
from ..units import dtype_itemsize, dtype_name


_CONST_MAX_ELEMS = 16  # small constants keep their values (trip counts, scales)

def shape_of(t: onnx.TypeProto) -> tuple[tuple[Dim, ...] | None, int]:
    if not t.HasField("tensor_type"):
        return None, 0
    tt = t.tensor_type
    if not tt.HasField("shape"):
        return None, tt.elem_type
    dims: list[Dim] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or "?")
    return tuple(dims), tt.elem_type

def tensor_info(name: str, shape: tuple[Dim, ...] | None, elem: int, init: bool = False,
                 const: tuple[float, ...] | None = None) -> TensorInfo:
    return TensorInfo(name, shape, dtype_name(elem), dtype_itemsize(elem), init, const)

def const_values(t: onnx.TensorProto) -> tuple[float, ...] | None:
    n = math.prod(t.dims) if t.dims else 1
    if n > _CONST_MAX_ELEMS or t.data_location == onnx.TensorProto.EXTERNAL or t.data_type in (8, 14, 15):
        return None
    try:
        return tuple(float(v) for v in onnx.numpy_helper.to_array(t).reshape(-1))
    except Exception:  # noqa: BLE001 - malformed constant: just no value
        return None

@lru_cache(maxsize=None)
def _attr_defaults(op_type: str, domain: str, opset: int) -> dict[str, Any]:
    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return {}
    out = {}
    for name, a in schema.attributes.items():
        if a.default_value.name:
            v = helper.get_attribute_value(a.default_value)
            out[name] = v.decode() if isinstance(v, bytes) else v
    return out

def to_ir(g: onnx.GraphProto, outer: dict[str, TensorInfo], opsets: dict[str, int] | None = None
          ) -> tuple[Graph, tuple[TensorInfo, ...]]:
    values = dict(outer)
    inits: list[TensorInfo] = []
    for t in g.initializer:
        ti = tensor_info(t.name, tuple(int(d) for d in t.dims), t.data_type, True, const_values(t))
        values[t.name] = ti
        inits.append(ti)
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.name in values and values[vi.name].is_initializer:
            continue
        shape, elem = shape_of(vi.type)
        if vi.name not in values or values[vi.name].shape is None:
            values[vi.name] = tensor_info(vi.name, shape, elem)
    nodes = []
    for i, n in enumerate(g.node):
        attrs: dict[str, Any] = dict(_attr_defaults(n.op_type, n.domain, (opsets or {}).get(n.domain, 10**6)))
        subgraphs: dict[str, Graph] = {}
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                subgraphs[a.name] = to_ir(a.g, values, opsets)[0]
            elif a.type in (onnx.AttributeProto.TENSOR, onnx.AttributeProto.SPARSE_TENSOR):
                attrs[a.name] = None
                if n.op_type == "Constant" and a.type == onnx.AttributeProto.TENSOR and n.output:
                    shape = tuple(int(d) for d in a.t.dims)
                    values[n.output[0]] = tensor_info(n.output[0], shape, a.t.data_type, True, const_values(a.t))  # a constant: read like a weight
            elif a.type == onnx.AttributeProto.INT:  # the common kinds read directly (get_attribute_value is slower)
                attrs[a.name] = a.i
            elif a.type == onnx.AttributeProto.INTS:
                attrs[a.name] = list(a.ints)
            elif a.type != onnx.AttributeProto.GRAPHS:
                v = helper.get_attribute_value(a)
                attrs[a.name] = v.decode(errors="replace") if isinstance(v, bytes) else v
        ins = tuple((values.get(x) or tensor_info(x, None, 0)) if x else None for x in n.input)
        outs = tuple((values.get(x) or tensor_info(x, None, 0)) if x else None for x in n.output)
        nodes.append(Node(n.name or f"{n.op_type}_{i}", n.op_type, n.domain, attrs, ins, outs, subgraphs))
    graph = Graph(g.name, tuple(nodes), tuple(values[v.name] for v in g.input if v.name in values and not values[v.name].is_initializer),
                  tuple(values[v.name] for v in g.output if v.name in values))
    return graph, tuple(inits)
