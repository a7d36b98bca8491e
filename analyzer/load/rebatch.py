"""Constant shapes that pin an export to its traced batch, made to follow the batch instead.

An exporter that traces a model at batch 1 with static shapes (torch.onnx.export(dynamo=True) by default) writes
the batch into constants: a Reshape of activations to [1, 1280] before the classifier, [1, 197, 12, 64] for the
attention heads, an Expand of the class token to [1, 1, 768]. Another exporter of the same network computes
those shapes at run time (Shape -> Gather -> Concat), so the two files describe one network at any batch, or at
batch 1 only. To profile a pinned export at batch N as the network runs at N:

- a Reshape of run-time data whose constant target starts with the traced batch gets the batch there;
- an Expand or ConstantOfShape whose constant shape starts with the traced batch, and whose result meets
  run-time data, gets the batch there.

- a constant with the traced batch as its leading dim, concatenated with run-time data along another axis (a
  class token that the exporter's optimizer folded from cls.expand(1, -1, -1)), is expanded to the batch.

A target of one dim is left alone: it is shape arithmetic, not a tensor with a batch axis.

The loader accepts the rewrite only when shape inference then keeps the batch on every output, and the count
stage only when the matrix work at batch N is N times that at batch 1 (count/profile.py); otherwise it profiles
one item and scales, as before.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

_SHAPE_INPUT = {"Reshape": 1, "Expand": 1, "ConstantOfShape": 0}


def traced_batch(sk: onnx.ModelProto, inits: set[str]) -> int | None:
    """The fixed leading dim of the graph's (non-initializer) inputs, when they agree on one."""
    seen = set()
    for vi in sk.graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type") or not vi.type.tensor_type.shape.dim:
            continue
        d = vi.type.tensor_type.shape.dim[0]
        seen.add(int(d.dim_value) if d.HasField("dim_value") else None)
    return next(iter(seen)) if len(seen) == 1 and None not in seen else None


def _constants(sk: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Small integer constants by tensor name: initializers, Constant nodes' values, and what the shape
    arithmetic computes from them alone (a flatten written as Reshape(x, Concat([1], [-1])))."""
    from onnx import helper

    from ._shape_ops import EVALUATORS, MAX_FOLD_ELEMS

    g = sk.graph
    opset = next((int(o.version) for o in sk.opset_import if o.domain in ("", "ai.onnx")), 1)
    out: dict[str, np.ndarray] = {}
    for t in g.initializer:
        if t.data_type == onnx.TensorProto.INT64 and len(t.dims) <= 1 and np.prod(t.dims, dtype=np.int64) <= MAX_FOLD_ELEMS:
            try:
                out[t.name] = numpy_helper.to_array(t)
            except ValueError:  # raw bytes no whole number of elements: the loader refuses such a file (onnx_graph.py)
                continue
    for n in g.node:
        fn = EVALUATORS.get(n.op_type)
        if fn is None or n.op_type in ("Shape", "Size") or any(x and x not in out for x in n.input):
            continue
        try:
            vals = fn([out[x] if x else None for x in n.input], {a.name: helper.get_attribute_value(a) for a in n.attribute},
                      opset)
        except Exception:  # noqa: BLE001 - values from an untrusted file: what fails is simply not folded
            continue
        for name, v in zip(n.output, vals or []):
            if v is not None and v.dtype == np.int64 and v.ndim <= 1 and v.size <= MAX_FOLD_ELEMS:
                out[name] = v
    return out


def rebatch(sk: onnx.ModelProto, inits: set[str], batch: int) -> int:
    """Rewrite, in place, the constant shapes that pin the traced batch (see the module docstring); the number
    of nodes rewritten (0: nothing pins it, or the inputs do not fix one batch)."""
    b0 = traced_batch(sk, inits)
    if b0 is None or b0 == batch:
        return 0
    g = sk.graph
    dynamic = {vi.name for vi in g.input if vi.name not in inits}
    for n in g.node:  # topological order
        if n.op_type not in ("Shape", "Size") and any(t in dynamic for t in n.input if t):
            dynamic.update(t for t in n.output if t)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for t in n.input:
            consumers.setdefault(t, []).append(n)
    consts = _constants(sk)
    rewritten = 0
    for n in g.node:
        pos = _SHAPE_INPUT.get(n.op_type)
        if pos is None or len(n.input) <= pos or n.input[pos] not in consts:
            continue
        shape = consts[n.input[pos]]
        # a one-dim target is shape arithmetic (expanding a shape vector), not a tensor with a batch axis
        if shape.ndim != 1 or len(shape) < 2 or int(shape[0]) != b0:
            continue
        if n.op_type == "Reshape":
            if n.input[0] not in dynamic:
                continue
        elif not any(t in dynamic for c in consumers.get(n.output[0], []) for t in c.input if t and t != n.output[0]):
            continue
        fixed = shape.copy()
        fixed[0] = batch
        name = f"{n.input[pos]}__rebatched_{rewritten}"
        g.initializer.append(numpy_helper.from_array(fixed.astype(np.int64), name))
        n.input[pos] = name
        rewritten += 1
    return rewritten + _expand_concatenated_constants(sk, inits, dynamic, b0, batch)


def _const_dims(sk: onnx.ModelProto, inits: set[str]) -> dict[str, list[int]]:
    """The static dims of the graph's constants: its initializers (or, stripped, their declared inputs)."""
    dims = {t.name: [int(d) for d in t.dims] for t in sk.graph.initializer}
    for vi in sk.graph.input:
        if vi.name in inits and vi.type.HasField("tensor_type"):
            dims[vi.name] = [int(d.dim_value) for d in vi.type.tensor_type.shape.dim]
    return dims


def _expand_concatenated_constants(sk: onnx.ModelProto, inits: set[str], dynamic: set[str], b0: int, batch: int) -> int:
    """Constants of leading dim b0 concatenated with run-time data along another axis, wrapped in an Expand to
    the batch (see the module docstring)."""
    from onnx import helper

    g = sk.graph
    dims = _const_dims(sk, inits)
    rewritten = 0
    nodes = list(g.node)
    del g.node[:]
    for n in nodes:
        if n.op_type == "Concat" and any(t in dynamic for t in n.input):
            axis = next((a.i for a in n.attribute if a.name == "axis"), 0)
            for i, t in enumerate(n.input):
                d = dims.get(t)
                if d is None or len(d) < 2 or d[0] != b0 or axis in (0, -len(d)):
                    continue
                shape_name, out = f"{t}__batch_shape_{rewritten}", f"{t}__rebatched_{rewritten}"
                g.initializer.append(numpy_helper.from_array(np.array([batch, *d[1:]], dtype=np.int64), shape_name))
                g.node.append(helper.make_node("Expand", [t, shape_name], [out], name=f"{n.name}__rebatch_{rewritten}"))
                n.input[i] = out
                rewritten += 1
        g.node.append(n)
    return rewritten
