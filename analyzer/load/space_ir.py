"""The synthetic MobileNet-like space (load/space.py) built straight into the IR as a chain of segments (the stem,
each inverted-residual block, the head), so a population counts, plans and times each distinct block once
(engine/memo.py) instead of building, writing, checking, inferring and parsing back an ONNX file per candidate.

The nodes, shapes and attributes are those the ONNX loader reads from `space.build`'s file (tests/load/test_space_ir.py
checks the profiles and evaluations equal): Conv with its bias and the schema's auto_pad, Clip(0, 6) reading the two
shared scalar initializers (declared by the stem segment, so their bytes count once), the residual Add where
`space.build` writes one, then GlobalAveragePool, Flatten and Gemm (transB). Inference form only (the training
form's batch norms are built through ONNX).
"""

from __future__ import annotations

from ..ir import Graph, Node, TensorInfo
from . import space

FLOAT, ITEMSIZE = "float32", 4.0
_ZERO = TensorInfo("zero", (), FLOAT, ITEMSIZE, True, (0.0,))
_SIX = TensorInfo("six", (), FLOAT, ITEMSIZE, True, (6.0,))
Segment = tuple  # ("stem", c) | ("block", c_in, c_out, hidden, k, stride, res_in, residual) | ("head", c, head, res)


def segments(arch: space.Arch) -> list[Segment]:
    """The candidate's chain of segments, each reading only the one before it."""
    c = space._channels(space.STEM, arch.width)
    res = (space.RESOLUTION + 2 * 1 - 3) // 2 + 1
    out: list[Segment] = [("stem", c)]
    for s, (base, stride, _) in enumerate(space.STAGES):
        c_out = space._channels(base, arch.width)
        for j in range(arch.depths[s]):
            st = stride if j == 0 else 1
            k = arch.kernels[s][j]
            out.append(("block", c, c_out, c * arch.expansions[s][j], k, st, res, j > 0 or (stride == 1 and c == c_out)))
            res = (res + 2 * (k // 2) - k) // st + 1
            c = c_out
    out.append(("head", c, max(space.HEAD, space._channels(space.HEAD, arch.width)), res))
    return out


class _Net:
    def __init__(self, batch: int):
        self.batch, self.nodes, self.inits, self.n = batch, [], [], 0

    def _w(self, name: str, dims: tuple[int, ...]) -> TensorInfo:
        t = TensorInfo(name, dims, FLOAT, ITEMSIZE, True)
        self.inits.append(t)
        return t

    def conv(self, x: TensorInfo, c_out: int, k: int, stride: int = 1, group: int = 1, act: bool = True) -> TensorInfo:
        self.n += 1
        i = self.n
        _, c_in, h, w = x.shape  # type: ignore[misc]
        p = k // 2
        y = TensorInfo(f"conv{i}", (self.batch, c_out, (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1), FLOAT, ITEMSIZE)
        attrs = {"auto_pad": "NOTSET", "kernel_shape": [k, k], "strides": [stride, stride], "pads": [p] * 4, "group": group}
        ins = (x, self._w(f"conv{i}.weight", (c_out, c_in // group, k, k)), self._w(f"conv{i}.bias", (c_out,)))
        self.nodes.append(Node(f"Conv_{i}", "Conv", "", attrs, ins, (y,)))
        if not act:
            return y
        out = TensorInfo(f"relu6_{i}", y.shape, FLOAT, ITEMSIZE)
        self.nodes.append(Node(f"Clip_{i}", "Clip", "", {}, (y, _ZERO, _SIX), (out,)))
        return out


def build_segment(seg: Segment, batch: int) -> tuple[Graph, tuple[TensorInfo, ...]]:
    """One segment alone, its input named 'input'."""
    net = _Net(batch)
    kind = seg[0]
    if kind == "stem":
        x = TensorInfo("input", (batch, 3, space.RESOLUTION, space.RESOLUTION), FLOAT, ITEMSIZE)
        y = net.conv(x, seg[1], 3, stride=2)
        net.inits[:0] = [_ZERO, _SIX]  # the shared scalars: declared once, by the stem
    elif kind == "block":
        _, c, c_out, hidden, k, stride, res, residual = seg
        x = TensorInfo("input", (batch, c, res, res), FLOAT, ITEMSIZE)
        h = net.conv(x, hidden, 1) if hidden != c else x
        h = net.conv(h, hidden, k, stride=stride, group=hidden)
        y = net.conv(h, c_out, 1, act=False)
        if residual:
            out = TensorInfo(f"{y.name}_res", y.shape, FLOAT, ITEMSIZE)
            net.nodes.append(Node(f"Add_{net.n}", "Add", "", {}, (x, y), (out,)))
            y = out
    else:
        _, c, head, res = seg
        x = TensorInfo("input", (batch, c, res, res), FLOAT, ITEMSIZE)
        h = net.conv(x, head, 1)
        pool = TensorInfo("pool", (batch, head, 1, 1), FLOAT, ITEMSIZE)
        flat = TensorInfo("flat", (batch, head), FLOAT, ITEMSIZE)
        logits = TensorInfo("logits", (batch, space.CLASSES), FLOAT, ITEMSIZE)
        w = net._w("classifier.weight", (space.CLASSES, head))
        b = net._w("classifier.bias", (space.CLASSES,))
        net.nodes += [Node("GlobalAveragePool", "GlobalAveragePool", "", {}, (h,), (pool,)),
                      Node("Flatten", "Flatten", "", {"axis": 1}, (pool,), (flat,)),
                      Node("Gemm", "Gemm", "", {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 1}, (flat, w, b), (logits,))]
        y = logits
    return Graph(f"space_{kind}", tuple(net.nodes), (x,), (y,)), tuple(net.inits)
