"""A small builder of IR graphs (analyzer/ir.py) for networks written from a search space's choices, no torch and
no ONNX round trip: NAS-Bench-101 (load/nb101.py), Once-for-All (load/ofa.py), FBNet (load/fbnet.py) and the JSON
layer list (load/layers.py).

Each method appends the node that PyTorch's TorchScript exporter (opset 17) writes for the layer, with the
attributes the ONNX loader decodes (load/to_ir.py fills in the operator schema's defaults), so the count handlers and
the kernel planner see the same records either way; the tests check MACs, parameters and per-op totals against
torch exports. Weights are float32 initializers with dims only: counting reads no weight bytes. Images are NCHW.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import AnalyzerError, param
from ..ir import Graph, Node, TensorInfo

FLOAT, ITEMSIZE = "float32", 4.0
BN_ATTRS = {"epsilon": 1e-05, "momentum": 0.9, "training_mode": 0}
GEMM_ATTRS = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 1}
HARD_SIGMOID = {"alpha": 1.0 / 6.0, "beta": 0.5}  # torch's hardsigmoid: relu6(x + 3) / 6


def out_size(size: int, k: int, stride: int, pad: int, dilation: int = 1, ceil: bool = False) -> int:
    """Output length of a convolution or pooling window: floor((size + 2 pad - dilation (k - 1) - 1) / stride) + 1."""
    span = size + 2 * pad - dilation * (k - 1) - 1
    return (-(-span // stride) if ceil else span // stride) + 1


def check_batch(batch: int | str) -> None:
    if isinstance(batch, bool) or not (isinstance(batch, str) or (isinstance(batch, int) and batch >= 1)):
        raise AnalyzerError(f"{param('batch')} {batch!r}: a positive integer or a dim name")


class Net:
    """Nodes and initializers of one network as they are appended (names unique by a running counter)."""

    def __init__(self, batch: int | str, declare_shared: bool = True):
        """`declare_shared` False: the shared constants are read but not listed among the initializers (a segment of
        a network after the one that declares them, so a network put together from segments counts their bytes
        once, as the whole graph does)."""
        check_batch(batch)
        self.batch, self.declare_shared = batch, declare_shared
        self.nodes: list[Node] = []
        self.inits: list[TensorInfo] = []
        self._shared: dict[tuple, TensorInfo] = {}
        self.n = 0

    # -- tensors -------------------------------------------------------------------------------------------------
    def input(self, *dims: int, name: str = "input") -> TensorInfo:
        return TensorInfo(name, (self.batch, *dims), FLOAT, ITEMSIZE)

    def tensor(self, *dims: int) -> TensorInfo:
        self.n += 1
        return TensorInfo(f"t{self.n}", (self.batch, *dims), FLOAT, ITEMSIZE)

    def weight(self, what: str, dims: tuple[int, ...], const: tuple[float, ...] | None = None, dtype: str = FLOAT) -> TensorInfo:
        """An initializer of dims only (float32 weights; int64 for shapes and indices)."""
        t = TensorInfo(f"w{len(self.nodes)}_{len(self.inits)}.{what}", dims, dtype, ITEMSIZE if dtype == FLOAT else 8.0, True, const)
        self.inits.append(t)
        return t

    def scalar(self, value: float, dtype: str = FLOAT, itemsize: float = ITEMSIZE, dims: tuple[int, ...] = (),
               role: str = "") -> TensorInfo:
        """A constant the network reads in several places (Clip's bounds, Slice's indices): one initializer per value
        and role (a node reading one tensor twice reads its bytes once: Slice's axes and steps are two)."""
        key = (value, dtype, dims, role)
        if key not in self._shared:
            t = TensorInfo(f"const_{role}{value:g}_{dtype}_{len(dims)}", dims, dtype, itemsize, True, (float(value),))
            self._shared[key] = t
            if self.declare_shared:
                self.inits.append(t)
        return self._shared[key]

    def node(self, op: str, attrs: dict[str, Any], inputs: tuple[TensorInfo, ...], out: TensorInfo) -> TensorInfo:
        self.nodes.append(Node(f"{op}_{len(self.nodes)}", op, "", attrs, inputs, (out,)))
        return out

    def graph(self, name: str, inputs: tuple[TensorInfo, ...], outputs: tuple[TensorInfo, ...]) -> tuple[Graph, tuple[TensorInfo, ...]]:
        return Graph(name, tuple(self.nodes), inputs, outputs), tuple(self.inits)

    def chain(self, name: str, segments: list, first: Callable[["Net", Any], TensorInfo],
              segment: Callable[["Net", Any, TensorInfo], TensorInfo]) -> tuple[Graph, tuple[TensorInfo, ...]]:
        """A whole network from its segments in order: `first(net, segments[0])` declares the input, each
        `segment(net, seg, x)` adds its nodes to the running tensor; one graph from that input to the last output."""
        x = x_in = first(self, segments[0])
        for seg in segments:
            x = segment(self, seg, x)
        return self.graph(name, (x_in,), (x,))

    # -- layers --------------------------------------------------------------------------------------------------
    def conv(self, x: TensorInfo, c_out: int, k: int, stride: int = 1, group: int = 1, bias: bool = False,
             pad: int | None = None, dilation: int = 1) -> TensorInfo:
        """Conv2d (k x k, `pad` on every side, k // 2 by default): weight (c_out, c_in / group, k, k)."""
        _, c_in, h, w = x.shape  # type: ignore[misc]
        p = dilation * (k - 1) // 2 if pad is None else pad
        attrs = {"auto_pad": "NOTSET", "dilations": [dilation, dilation], "group": group, "kernel_shape": [k, k],
                 "pads": [p] * 4, "strides": [stride, stride]}
        ins = (x, self.weight("weight", (c_out, c_in // group, k, k)))
        if bias:
            ins += (self.weight("bias", (c_out,)),)
        y = self.tensor(c_out, out_size(h, k, stride, p, dilation), out_size(w, k, stride, p, dilation))
        return self.node("Conv", attrs, ins, y)

    def bn(self, x: TensorInfo) -> TensorInfo:
        c = x.shape[1]  # type: ignore[index]
        stats = tuple(self.weight(s, (c,)) for s in ("weight", "bias", "running_mean", "running_var"))
        return self.node("BatchNormalization", dict(BN_ATTRS), (x, *stats), self.tensor(*x.shape[1:]))  # type: ignore[arg-type]

    def _same(self, op: str, x: TensorInfo, attrs: dict[str, Any] | None = None, extra: tuple[TensorInfo, ...] = ()) -> TensorInfo:
        return self.node(op, attrs or {}, (x, *extra), self.tensor(*x.shape[1:]))  # type: ignore[arg-type]

    def relu(self, x: TensorInfo) -> TensorInfo:
        return self._same("Relu", x)

    def relu6(self, x: TensorInfo) -> TensorInfo:
        """torch's ReLU6 (hardtanh 0..6) as the exporter writes it: Clip reading two scalar bounds."""
        return self._same("Clip", x, extra=(self.scalar(0.0), self.scalar(6.0)))

    def hswish(self, x: TensorInfo) -> TensorInfo:
        return self._same("HardSwish", x)

    def hsigmoid(self, x: TensorInfo) -> TensorInfo:
        return self._same("HardSigmoid", x, dict(HARD_SIGMOID))

    def hsigmoid_composed(self, x: TensorInfo) -> TensorInfo:
        """relu6(x + 3) / 6 written out, as Once-for-All's Hsigmoid module computes it: Add, Clip, Div."""
        y = self._same("Add", x, extra=(self.scalar(3.0),))
        return self._same("Div", self.relu6(y), extra=(self.scalar(6.0),))

    def hswish_composed(self, x: TensorInfo) -> TensorInfo:
        """x * relu6(x + 3) / 6 written out, as Once-for-All's Hswish module computes it: Add, Clip, Mul, Div."""
        y = self.relu6(self._same("Add", x, extra=(self.scalar(3.0),)))
        return self._same("Div", self.mul(x, y), extra=(self.scalar(6.0),))

    def sigmoid(self, x: TensorInfo) -> TensorInfo:
        return self._same("Sigmoid", x)

    def act(self, x: TensorInfo, name: str) -> TensorInfo:
        """An activation by name: relu, relu6, hswish, hsigmoid, sigmoid, or none."""
        return x if name == "none" else getattr(self, name)(x)

    def add(self, a: TensorInfo, b: TensorInfo) -> TensorInfo:
        return self.node("Add", {}, (a, b), self.tensor(*a.shape[1:]))  # type: ignore[arg-type]

    def mul(self, a: TensorInfo, b: TensorInfo) -> TensorInfo:
        """Elementwise product, broadcasting b (an SE gate of shape N x C x 1 x 1) over a."""
        return self.node("Mul", {}, (a, b), self.tensor(*a.shape[1:]))  # type: ignore[arg-type]

    def pool(self, x: TensorInfo, kind: str, k: int, stride: int, pad: int = 0, ceil: bool = False,
             count_include_pad: bool = False) -> TensorInfo:
        """MaxPool or AveragePool (kind "max" or "avg") of a k x k window."""
        _, c, h, w = x.shape  # type: ignore[misc]
        attrs: dict[str, Any] = {"auto_pad": "NOTSET", "ceil_mode": int(ceil), "kernel_shape": [k, k], "pads": [pad] * 4,
                                 "strides": [stride, stride]}
        if kind == "max":
            attrs.update(dilations=[1, 1], storage_order=0)
        else:
            attrs["count_include_pad"] = int(count_include_pad)
        y = self.tensor(c, out_size(h, k, stride, pad, ceil=ceil), out_size(w, k, stride, pad, ceil=ceil))
        return self.node("MaxPool" if kind == "max" else "AveragePool", attrs, (x,), y)

    def global_pool(self, x: TensorInfo) -> TensorInfo:
        """AdaptiveAvgPool2d(1): GlobalAveragePool to N x C x 1 x 1."""
        return self.node("GlobalAveragePool", {}, (x,), self.tensor(x.shape[1], 1, 1))  # type: ignore[index]

    def reduce_mean(self, x: TensorInfo, axis: int) -> TensorInfo:
        """x.mean(axis, keepdim=True) (opset 17: axes an attribute)."""
        dims = list(x.shape[1:])  # type: ignore[index]
        dims[axis - 1] = 1
        return self.node("ReduceMean", {"axes": [axis], "keepdims": 1}, (x,), self.tensor(*dims))

    def flatten(self, x: TensorInfo) -> TensorInfo:
        import math

        return self.node("Flatten", {"axis": 1}, (x,), self.tensor(math.prod(x.shape[1:])))  # type: ignore[arg-type]

    def linear(self, x: TensorInfo, n_out: int, bias: bool = True) -> TensorInfo:
        """nn.Linear on N x C: Gemm with the weight transposed (transB = 1)."""
        ins = (x, self.weight("weight", (n_out, x.shape[1])))  # type: ignore[index]
        attrs = dict(GEMM_ATTRS)
        if bias:
            ins += (self.weight("bias", (n_out,)),)
        return self.node("Gemm", attrs, ins, self.tensor(n_out))

    def concat(self, xs: list[TensorInfo]) -> TensorInfo:
        _, _, h, w = xs[0].shape  # type: ignore[misc]
        return self.node("Concat", {"axis": 1}, tuple(xs), self.tensor(sum(x.shape[1] for x in xs), h, w))  # type: ignore[misc]

    def channel_shuffle(self, x: TensorInfo, groups: int) -> TensorInfo:
        """ShuffleNet's channel shuffle as view, permute, view: Reshape to N x g x C/g x H x W, Transpose (0 2 1 3 4),
        Reshape back (the shapes int64 initializers)."""
        _, c, h, w = x.shape  # type: ignore[misc]
        five = (groups, c // groups, h, w)  # type: ignore[operator]
        shape5, shape4 = self.weight("shape", (5,), dtype="int64"), self.weight("shape_back", (4,), dtype="int64")
        y = self.node("Reshape", {"allowzero": 0}, (x, shape5), self.tensor(*five))
        y = self.node("Transpose", {"perm": [0, 2, 1, 3, 4]}, (y,), self.tensor(five[1], five[0], h, w))
        return self.node("Reshape", {"allowzero": 0}, (y, shape4), self.tensor(c, h, w))

    def slice_channels(self, x: TensorInfo, c: int) -> TensorInfo:
        """x[:, :c]: Slice reading its own starts, ends, axes and steps (int64 vectors of one element, as the exporter
        writes a Constant for each)."""
        idx = tuple(self.weight(role, (1,), (float(v),), "int64") for v, role in ((0, "starts"), (c, "ends"), (1, "axes"), (1, "steps")))
        return self.node("Slice", {}, (x, *idx), self.tensor(c, *x.shape[2:]))  # type: ignore[misc]
