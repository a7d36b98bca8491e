"""Output shapes of ONNX Runtime contrib ops (com.microsoft), which ONNX shape inference does not know.

ONNX inference keeps value_info given for outputs of ops it cannot infer and propagates from there, so
we add the contrib outputs' shapes and infer again until nothing changes.
"""

from __future__ import annotations

from typing import Callable

import onnx
from onnx import helper

Shape = list[int | str]
MS = "com.microsoft"


def _same(ins: list[Shape | None], node: onnx.NodeProto) -> list[Shape | None]:
    return [ins[0]] * len(node.output)


def _matmul(ins: list[Shape | None], node: onnx.NodeProto) -> list[Shape | None]:
    a, b = ins[0], ins[1]
    if a is None or b is None or len(a) < 2 or len(b) < 2:
        return [None]
    at = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    m = a[-1] if at.get("transA", 0) else a[-2]
    n = b[-2] if at.get("transB", 0) else b[-1]
    batch_a, batch_b = a[:-2], b[:-2]
    batch = batch_a if len(batch_a) >= len(batch_b) else batch_b
    return [list(batch) + [m, n]]


def _gemm(ins: list[Shape | None], node: onnx.NodeProto) -> list[Shape | None]:
    a, b = ins[0], ins[1]
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        return [None]
    at = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    return [[a[1] if at.get("transA", 0) else a[0], b[0] if at.get("transB", 0) else b[1]]]


def _skip_layer_norm(ins: list[Shape | None], node: onnx.NodeProto) -> list[Shape | None]:
    x = ins[0]
    if x is None:
        return [None] * len(node.output)
    stats = list(x[:-1]) + [1]
    return [x, stats, stats, x][: len(node.output)]


def _attention(ins: list[Shape | None], node: onnx.NodeProto) -> list[Shape | None]:
    x, w = ins[0], ins[1]
    if x is None or w is None:
        return [None] * len(node.output)
    at = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    sizes = list(at.get("qkv_hidden_sizes", [])) or [w[1] // 3] * 3 if isinstance(w[1], int) else None
    if sizes is None:
        return [None] * len(node.output)
    return [[x[0], x[1], sizes[2]]] + [None] * (len(node.output) - 1)


def _mha(ins: list[Shape | None], node: onnx.NodeProto) -> list[Shape | None]:
    q = ins[0]
    v = ins[2] if len(ins) > 2 else None
    if q is None:
        return [None] * len(node.output)
    if len(q) == 5:  # packed QKV [B, S, heads, 3, d]
        out = [q[0], q[1], q[2] * q[4]] if all(isinstance(d, int) for d in q[2:]) else None
    elif v is not None and len(v) == 4:
        out = [q[0], q[1], v[1] * v[3]] if isinstance(v[1], int) and isinstance(v[3], int) else None
    else:
        out = [q[0], q[1], v[2]] if v is not None else list(q)
    return [out] + [None] * (len(node.output) - 1)


def _embed_layer_norm(ins: list[Shape | None], node: onnx.NodeProto) -> list[Shape | None]:
    ids, word = ins[0], ins[2] if len(ins) > 2 else None
    if ids is None or word is None:
        return [None] * len(node.output)
    return [[ids[0], ids[1], word[1]], [ids[0]], [ids[0], ids[1], word[1]]][: len(node.output)]


RULES: dict[str, Callable[[list[Shape | None], onnx.NodeProto], list[Shape | None]]] = {
    "FusedMatMul": _matmul,
    "FusedGemm": _gemm,
    "SkipLayerNormalization": _skip_layer_norm,
    "SkipSimplifiedLayerNormalization": _skip_layer_norm,
    "Attention": _attention,
    "MultiHeadAttention": _mha,
    "EmbedLayerNormalization": _embed_layer_norm,
    **{op: _same for op in ("Gelu", "BiasGelu", "FastGelu", "QuickGelu", "BiasAdd", "BiasSplitGelu")},
}


def _known(model: onnx.ModelProto) -> dict[str, tuple[Shape, int]]:
    out: dict[str, tuple[Shape, int]] = {}
    for t in model.graph.initializer:
        out[t.name] = (list(t.dims), t.data_type)
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.HasField("shape"):
            out[vi.name] = ([d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim],
                            tt.elem_type)
    return out


def complete(model: onnx.ModelProto, infer: Callable[[onnx.ModelProto], onnx.ModelProto]) -> onnx.ModelProto:
    contrib = [n for n in model.graph.node if n.domain == MS and n.op_type in RULES]
    if not contrib:
        return model
    for _ in range(len(contrib) + 1):
        known = _known(model)
        added = 0
        for node in contrib:
            if node.output and node.output[0] in known:
                continue
            ins = [known.get(x, (None, 0))[0] if x else None for x in node.input]
            elem = known.get(node.input[0], (None, 1))[1] if node.input else 1
            for name, shape in zip(node.output, RULES[node.op_type](ins, node)):
                if name and shape is not None and name not in known:
                    model.graph.value_info.append(helper.make_tensor_value_info(name, elem or 1, shape))
                    added += 1
        if not added:
            break
        model = infer(model)
    return model
