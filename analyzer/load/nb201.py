"""NAS-Bench-201 networks built straight into our IR (analyzer/ir.py): no torch, no ONNX round trip.

The network is NB201's `TinyNetwork` (D-X-Y/AutoDL-Projects lib/models/cell_infers/tiny_network.py; the arch
string and the macro skeleton are read by load/nb201_arch.py) as PyTorch runs it in eval mode and as the
TorchScript exporter writes it with its batch norms kept (tests/load/test_nb201_ir.py checks the two agree):

- stem: Conv 3x3 (3 -> C, pad 1, no bias), BatchNorm
- per stage s = 0, 1, 2 at C_s = C, 2C, 4C: before stages 1 and 2 a ResNet basic block of stride 2
  (ReLU, Conv 3x3 stride 2, BN; ReLU, Conv 3x3, BN; shortcut AvgPool 2x2 stride 2 then Conv 1x1; Add), then N
  cells. In a cell node i (1..3) is the sum of its incoming edges, added in the arch string's order:
  `none` is Mul(x, 0) (NB201's Zero: `x.mul(0.)`), `skip_connect` the tensor itself (no node),
  `nor_conv_kxk` ReLU -> Conv kxk (pad k // 2, no bias) -> BN, `avg_pool_3x3` AveragePool 3x3 stride 1 pad 1
  excluding padding. Every edge is computed, the ones whose result is multiplied by zero too: PyTorch runs them.
- head: BatchNorm, ReLU, GlobalAveragePool, Flatten, Gemm (Linear, transB=1) to the classes.

Attributes are written as the exporter writes them, with the operator schema's defaults the ONNX loader fills
in (load/to_ir.py), so the count handlers and the kernel planner see the same records either way. Weights are
float32 initializers with dims only: counting work reads no weight bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import AnalyzerError, UsageError, param, render
from ..files import read_lines
from ..ir import Graph, Node, TensorInfo
from .nb201_arch import MAX_ARCH_CHARS, NODES, Arch, Skeleton, parse

FLOAT, ITEMSIZE = "float32", 4.0
MAX_FILE_BYTES = 64 * 1024 * 1024  # a file of arch strings: the whole space (15,625 lines) is about 2 MB
BN_ATTRS = {"epsilon": 1e-05, "momentum": 0.9, "training_mode": 0}
GEMM_ATTRS = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 1}


@dataclass
class _Net:
    """Nodes and initializers of one network as they are appended (names unique by a running counter)."""

    batch: int | str
    nodes: list[Node]
    inits: list[TensorInfo]
    n: int = 0

    def _t(self, c: int, h: int, w: int) -> TensorInfo:
        self.n += 1
        return TensorInfo(f"t{self.n}", (self.batch, c, h, w), FLOAT, ITEMSIZE)

    def _w(self, name: str, dims: tuple[int, ...], const: tuple[float, ...] | None = None) -> TensorInfo:
        t = TensorInfo(name, dims, FLOAT, ITEMSIZE, True, const)
        self.inits.append(t)
        return t

    def _node(self, op: str, attrs: dict[str, Any], inputs: tuple[TensorInfo, ...], out: TensorInfo) -> TensorInfo:
        self.nodes.append(Node(f"{op}_{len(self.nodes)}", op, "", attrs, inputs, (out,)))
        return out

    def conv(self, x: TensorInfo, c_out: int, k: int, stride: int = 1) -> TensorInfo:
        _, c_in, h, w = x.shape  # type: ignore[misc]
        pad = k // 2
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        attrs = {"auto_pad": "NOTSET", "dilations": [1, 1], "group": 1, "kernel_shape": [k, k], "pads": [pad] * 4,
                 "strides": [stride, stride]}
        weight = self._w(f"w{len(self.nodes)}.weight", (c_out, c_in, k, k))
        return self._node("Conv", attrs, (x, weight), self._t(c_out, ho, wo))

    def bn(self, x: TensorInfo) -> TensorInfo:
        c = x.shape[1]  # type: ignore[index]
        stats = tuple(self._w(f"bn{len(self.nodes)}.{s}", (c,)) for s in ("weight", "bias", "running_mean", "running_var"))
        return self._node("BatchNormalization", dict(BN_ATTRS), (x, *stats), self._t(*x.shape[1:]))  # type: ignore[arg-type]

    def relu(self, x: TensorInfo) -> TensorInfo:
        return self._node("Relu", {}, (x,), self._t(*x.shape[1:]))  # type: ignore[arg-type]

    def add(self, a: TensorInfo, b: TensorInfo) -> TensorInfo:
        return self._node("Add", {}, (a, b), self._t(*a.shape[1:]))  # type: ignore[arg-type]

    def zero(self, x: TensorInfo) -> TensorInfo:
        z = self._w(f"zero{len(self.nodes)}", (), (0.0,))
        return self._node("Mul", {}, (x, z), self._t(*x.shape[1:]))  # type: ignore[arg-type]

    def avg_pool(self, x: TensorInfo, k: int, stride: int, pad: int) -> TensorInfo:
        _, c, h, w = x.shape  # type: ignore[misc]
        attrs = {"auto_pad": "NOTSET", "ceil_mode": 0, "count_include_pad": 0, "kernel_shape": [k, k], "pads": [pad] * 4,
                 "strides": [stride, stride]}
        return self._node("AveragePool", attrs, (x,), self._t(c, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1))

    def relu_conv_bn(self, x: TensorInfo, c_out: int, k: int, stride: int = 1) -> TensorInfo:
        return self.bn(self.conv(self.relu(x), c_out, k, stride))


def _edge(net: _Net, op: str, x: TensorInfo) -> TensorInfo:
    if op == "none":
        return net.zero(x)
    if op == "skip_connect":
        return x
    if op == "avg_pool_3x3":
        return net.avg_pool(x, 3, 1, 1)
    return net.relu_conv_bn(x, x.shape[1], 1 if op == "nor_conv_1x1" else 3)  # type: ignore[arg-type]


def _cell(net: _Net, arch: Arch, x: TensorInfo) -> TensorInfo:
    states = [x]
    for to in range(1, NODES):
        total: TensorInfo | None = None
        for t, frm, op in arch.edges():
            if t != to:
                continue
            y = _edge(net, op, states[frm])
            total = y if total is None else net.add(total, y)
        assert total is not None  # every node has at least one edge (Arch checks the edge count)
        states.append(total)
    return states[-1]


def _basic_block(net: _Net, x: TensorInfo, c_out: int) -> TensorInfo:
    a = net.relu_conv_bn(x, c_out, 3, 2)
    b = net.relu_conv_bn(a, c_out, 3, 1)
    shortcut = net.conv(net.avg_pool(x, 2, 2, 0), c_out, 1)
    return net.add(shortcut, b)


Segment = tuple  # ("stem", C, R) | ("block", C_in, C_out, R_in) | ("cell", arch string, C, R) | ("head", C, R, classes)


def segments(arch: Arch, skeleton: Skeleton = Skeleton()) -> list[Segment]:
    """The network as a chain of segments, each reading only the one before it (no tensor crosses two boundaries):
    what a population memoises (engine/memo.py), every cell of a stage being the same segment."""
    c, r = skeleton.channels, skeleton.resolution
    out: list[Segment] = [("stem", c, r)]
    text = arch.to_string()
    for stage in range(3):
        if stage:
            out.append(("block", c, 2 * c, r))
            c, r = 2 * c, (r - 2) // 2 + 1
        out += [("cell", text, c, r)] * skeleton.cells_per_stage
    out.append(("head", c, r, skeleton.num_classes))
    return out


@lru_cache(maxsize=1024)
def _arch(text: str) -> Arch:
    return parse(text)


def arch_of(text: str) -> Arch:
    """An arch string parsed, the last few thousand remembered (a population reads each several times)."""
    return _arch(text)


@lru_cache(maxsize=512)
def pieces(seg: Segment) -> tuple[Segment, ...] | None:
    """A cell as its nodes' pieces in the order the cell writes them: each edge that computes something
    ("edge", op, C, R) and each sum ("add", C, R). When no fusion pattern groups nodes of the cell, its kernels
    are its pieces' kernels in this order (engine/memo.py); None for the other segments."""
    if seg[0] != "cell":
        return None
    c, r = seg[2], seg[3]
    out: list[Segment] = []
    arch = _arch(seg[1])
    states = [0]  # which tensor each node's value is: a skip edge passes its source's on
    fresh = 0
    for to in range(1, NODES):
        total = None
        for t, frm, op in arch.edges():
            if t != to:
                continue
            if op == "skip_connect":
                y = states[frm]
            else:
                out.append(("edge", op, c, r))
                fresh += 1
                y = fresh
            if total is not None:  # a sum of one tensor with itself reads it once
                out.append(("add", c, r, total == y))
                fresh += 1
                y = fresh
            total = y
        states.append(total)
    return tuple(out)


_KIND = {"none": "z", "skip_connect": "s", "nor_conv_1x1": "c", "nor_conv_3x3": "c", "avg_pool_3x3": "p"}


@lru_cache(maxsize=4096)
def fusion_class(seg: Segment) -> str:
    """What the fusion patterns can see of a cell: its topology and which edges are a multiplication by zero, an
    alias, a ReLU before a convolution (1x1 or 3x3: the same nodes) or a pooling. Cells of one class fuse alike
    outside ONNX Runtime (whose epilogue fusions also read the kernels' classes)."""
    return "".join(_KIND[op] for op in _arch(seg[1]).ops)


def _segment(net: _Net, seg: Segment, x: TensorInfo) -> TensorInfo:
    kind = seg[0]
    if kind == "edge":
        return _edge(net, seg[1], x)
    if kind == "add":
        return net.add(x, x if seg[3] else TensorInfo("input_b", x.shape, FLOAT, ITEMSIZE))
    if kind == "stem":
        return net.bn(net.conv(x, seg[1], 3))
    if kind == "block":
        return _basic_block(net, x, seg[2])
    if kind == "cell":
        return _cell(net, _arch(seg[1]), x)
    c, classes = seg[1], seg[3]
    x = net.relu(net.bn(x))
    pooled = net._node("GlobalAveragePool", {}, (x,), net._t(c, 1, 1))
    net.n += 1
    flat = net._node("Flatten", {"axis": 1}, (pooled,), TensorInfo(f"t{net.n}", (net.batch, c), FLOAT, ITEMSIZE))
    w = net._w("classifier.weight", (classes, c))
    b = net._w("classifier.bias", (classes,))
    return net._node("Gemm", dict(GEMM_ATTRS), (flat, w, b), TensorInfo("logits", (net.batch, classes), FLOAT, ITEMSIZE))


def _input(seg: Segment, batch: int | str) -> TensorInfo:
    kind = seg[0]
    c, r = (3, seg[2]) if kind == "stem" else (seg[1], seg[3]) if kind == "block" else \
        (seg[2], seg[3]) if kind in ("cell", "edge") else (seg[1], seg[2])
    return TensorInfo("input", (batch, c, r, r), FLOAT, ITEMSIZE)


def _check_batch(batch: int | str) -> None:
    if isinstance(batch, bool) or not (isinstance(batch, str) or (isinstance(batch, int) and batch >= 1)):
        raise AnalyzerError(f"{param('batch')} {batch!r}: a positive integer or a dim name")


def build_segment(seg: Segment, batch: int | str = "batch") -> tuple[Graph, tuple[TensorInfo, ...]]:
    """One segment alone, its input named 'input': what the memo counts and plans once."""
    _check_batch(batch)
    net = _Net(batch, [], [])
    x = _input(seg, batch)
    y = _segment(net, seg, x)
    inputs = (x, TensorInfo("input_b", x.shape, FLOAT, ITEMSIZE)) if seg[0] == "add" and not seg[3] else (x,)
    return Graph(f"nb201_{seg[0]}", tuple(net.nodes), inputs, (y,)), tuple(net.inits)


def build(arch: Arch, batch: int | str = "batch", skeleton: Skeleton = Skeleton()) -> tuple[Graph, tuple[TensorInfo, ...]]:
    """The whole network of `arch` as one IR graph and its initializers, at `batch` (an int, or a dim name)."""
    _check_batch(batch)
    net = _Net(batch, [], [])
    segs = segments(arch, skeleton)
    x_in = y = _input(segs[0], batch)
    for seg in segs:
        y = _segment(net, seg, y)
    return Graph("nb201", tuple(net.nodes), (x_in,), (y,)), tuple(net.inits)


def read_archs(path: Path, max_bytes: int = MAX_FILE_BYTES) -> list[Arch]:
    """The arch strings of a text file, one a line (blank lines and lines starting with # skipped), through the
    one reader of user files (a regular file, at most `max_bytes`); an error names the file and the line."""
    def line(s: str, where: str) -> Arch:
        if len(s) > MAX_ARCH_CHARS:
            raise UsageError(f"{where}: {len(s):,} characters is not an NB201 arch string")
        try:
            return parse(s)
        except AnalyzerError as e:
            raise UsageError(f"{where}: {render(e.message)}") from None

    archs = read_lines(path, line, UsageError, max_bytes)
    if not archs:
        raise UsageError(f"{path}: no NB201 arch strings (one a line, as |op~0|+|op~0|op~1|+|op~0|op~1|op~2|)")
    return archs
