"""CIFAR-10 cell networks (issue #26): the candidates and the supernet of the cell-based searches that ran on
CIFAR-10 (NASNet, AmoebaNet, DARTS), built with onnx.helper in their training form (a batch norm after every
convolution), so that plan-search can price a published search's own procedure.

The macro-architecture is NASNet's for CIFAR-10 (Zoph et al., CVPR 2018, Fig. 2) as DARTS's search code builds it
(quark0/darts cnn/model_search.py): a 3x3 convolution stem to 3C channels, then N normal cells, a reduction cell,
N normal cells, a reduction cell and N normal cells (3N + 2 cells; C doubles at each reduction), global average
pooling and a 10-way classifier. A cell takes the outputs of the two cells before it, each brought to C channels
by ReLU, 1x1 convolution, batch norm (a factorised reduction, two 1x1 convolutions of stride 2 concatenated, where
the output two cells back has twice the resolution).

Two kinds of cell:
- `sample` / `build`: a cell of NASNet's discrete space (Sec. 3: B = 5 blocks, each adding two operations applied
  to two earlier hidden states; the hidden states no block used are concatenated into the output; in a reduction
  cell the operations on the cell's two inputs have stride 2), normal and reduction cell drawn uniformly, their
  operations from one of OPS (nasnet: the 13 of NASNet Sec. 3; amoeba: the 8 of AmoebaNet's Methods Details). A
  block combines by addition (NASNet also allows concatenation; additions keep every cell's width).
- `supernet`: DARTS's search network (Liu et al., ICLR 2019, Sect. 2.2, 3.1.1 and A.1.1): 4 intermediate nodes
  per cell, each joined to every earlier node by a mixed operation that applies all 8 of DARTS's operations
  ('zero' included, a multiplication by 0) and sums their outputs weighted by the softmax of the architecture
  parameters (constants here: their values do not change the work); the cell's output is its 4 nodes concatenated.

Operations as DARTS's operations.py writes them: ReLU, convolution, batch norm; a separable convolution (depthwise
then pointwise) applied twice, a dilated separable convolution once (dilation 2); 3x3 pooling with padding 1 (the
average excluding padding), followed by a batch norm in DARTS's search network; identity, or a factorised
reduction where it has stride 2. Weights are seeded (load/seeded.py): a network is a few hundred KB of graph.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from . import seeded

OPS = {
    "nasnet": ("identity", "conv_1x3_3x1", "conv_1x7_7x1", "dil_conv_3x3", "avg_pool_3x3", "max_pool_3x3", "max_pool_5x5",
               "max_pool_7x7", "conv_1x1", "conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7"),
    "amoeba": ("identity", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "avg_pool_3x3", "max_pool_3x3",
               "dil_sep_conv_3x3", "conv_1x7_7x1"),
}
DARTS_OPS = ("zero", "max_pool_3x3", "avg_pool_3x3", "identity", "sep_conv_3x3", "sep_conv_5x5", "dil_sep_conv_3x3",
             "dil_sep_conv_5x5")
BLOCKS, NODES, CLASSES, RESOLUTION, STEM_MULTIPLIER = 5, 4, 10, 32, 3
Block = tuple[int, str, int, str]  # (first input, its operation, second input, its operation)


@dataclass(frozen=True)
class CellArch:
    """A sampled candidate: its operation list and the blocks of its normal and reduction cells."""

    ops: str
    normal: tuple[Block, ...]
    reduce: tuple[Block, ...]

    def name(self, index: int) -> str:
        return f"cell{index:06d}"


def sample(ops: str, seed: int, index: int) -> CellArch:
    """Candidate `index` of the population drawn with `seed`: every choice uniform (NASNet's random search)."""
    if ops not in OPS:
        raise ValueError(f"operation list '{ops}': expected one of {', '.join(OPS)}")
    rng = random.Random(f"cells:{ops}:{seed}:{index}")

    def cell() -> tuple[Block, ...]:
        return tuple((rng.randrange(2 + b), rng.choice(OPS[ops]), rng.randrange(2 + b), rng.choice(OPS[ops]))
                     for b in range(BLOCKS))

    return CellArch(ops, cell(), cell())


class _Graph:
    WEIGHTS = "cells.weights"

    def __init__(self, name: str):
        self.model = onnx.ModelProto(ir_version=8, producer_name="nas-analyzer cells")
        self.model.opset_import.add(domain="", version=17)
        self.g = self.model.graph
        self.g.name = name
        self.n = 0
        self.offset = 0

    def _out(self, op: str, inputs: list[str], **attrs: object) -> str:
        self.n += 1
        y = f"{op.lower()}{self.n}"
        self.g.node.append(helper.make_node(op, inputs, [y], name=f"{op}_{self.n}", **attrs))
        return y

    def _weight(self, dims: tuple[int, ...], what: str) -> str:
        t = self.g.initializer.add(name=f"w{self.n}.{what}", data_type=TensorProto.FLOAT)
        t.dims.extend(dims)
        self.offset = seeded.make_external(t, self.WEIGHTS, self.offset)
        return t.name

    def conv(self, x: str, c_in: int, c_out: int, k: tuple[int, int], stride: tuple[int, int] = (1, 1), dilation: int = 1,
             group: int = 1) -> str:
        self.n += 1
        w = self._weight((c_out, c_in // group, *k), "weight")
        pads = [dilation * (k[0] // 2), dilation * (k[1] // 2)] * 2
        return self._out("Conv", [x, w], kernel_shape=list(k), strides=list(stride), pads=pads, dilations=[dilation] * 2,
                         group=group)

    def bn(self, x: str, c: int) -> str:
        self.n += 1
        stats = [self._weight((c,), t) for t in ("weight", "bias", "running_mean", "running_var")]
        return self._out("BatchNormalization", [x, *stats])

    def relu(self, x: str) -> str:
        return self._out("Relu", [x])

    def rcb(self, x: str, c_in: int, c_out: int, k: tuple[int, int] = (1, 1), stride: int = 1, dilation: int = 1) -> str:
        """ReLU, convolution, batch norm."""
        return self.bn(self.conv(self.relu(x), c_in, c_out, k, (stride, stride), dilation), c_out)

    def reduce(self, x: str, c_in: int, c_out: int) -> str:
        """DARTS's FactorizedReduce: two 1x1 convolutions of stride 2 (the second of the input shifted by one
        pixel, here the same input: the same work) to half the channels each, concatenated, batch norm."""
        r = self.relu(x)
        halves = [self.conv(r, c_in, c_out // 2, (1, 1), (2, 2)) for _ in range(2)]
        return self.bn(self._out("Concat", halves, axis=1), c_out)

    def pool(self, kind: str, x: str, k: int, stride: int) -> str:
        extra = {"count_include_pad": 0} if kind == "AveragePool" else {}
        return self._out(kind, [x], kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4, **extra)

    def scalar(self, value: float) -> str:
        name = f"c{len(self.g.initializer)}"
        self.g.initializer.append(onnx.numpy_helper.from_array(np.array([value], np.float32), name))
        return name


def _apply(g: _Graph, op: str, x: str, c: int, stride: int, pool_bn: bool) -> str:
    """Operation `op` on `x` (c channels in and out)."""
    if op == "identity":
        return x if stride == 1 else g.reduce(x, c, c)
    if op == "zero":  # DARTS's Zero: x[:, :, ::stride, ::stride].mul(0.)
        strided = x if stride == 1 else g.pool("MaxPool", x, 1, stride)
        return g._out("Mul", [strided, g.scalar(0.0)])
    kind, _, rest = op.rpartition("_")
    k = int(rest.split("x")[0])
    if kind in ("avg_pool", "max_pool"):
        y = g.pool("AveragePool" if kind == "avg_pool" else "MaxPool", x, k, stride)
        return g.bn(y, c) if pool_bn else y
    if kind == "sep_conv":  # ReLU, depthwise, pointwise, BN, twice; the first has the stride
        for s in (stride, 1):
            x = g.bn(g.conv(g.conv(g.relu(x), c, c, (k, k), (s, s), group=c), c, c, (1, 1)), c)
        return x
    if kind == "dil_sep_conv":
        return g.bn(g.conv(g.conv(g.relu(x), c, c, (k, k), (stride, stride), 2, c), c, c, (1, 1)), c)
    if kind == "dil_conv":  # NASNet's 3x3 dilated convolution (a full one)
        return g.rcb(x, c, c, (k, k), stride, 2)
    if kind in ("conv_1x7", "conv_1x3"):  # 1xk then kx1
        m = int(kind[-1])
        y = g.conv(g.conv(g.relu(x), c, c, (1, m), (1, stride)), c, c, (m, 1), (stride, 1))
        return g.bn(y, c)
    if kind == "conv":
        return g.rcb(x, c, c, (k, k), stride)
    raise ValueError(f"operation '{op}' is not built here")


def _network(g: _Graph, cells: int, c: int, cell) -> onnx.ModelProto:
    """The macro-architecture around `cell(g, s0, s1, channels, reduction) -> (output, channel multiplier)`."""
    stem = STEM_MULTIPLIER * c
    x = g.bn(g.conv("input", 3, stem, (3, 3)), stem)
    s0, s1, c_pp, c_p, reduced_prev = x, x, stem, stem, False
    for i in range(cells):
        reduction = i in (cells // 3, 2 * cells // 3)
        c = 2 * c if reduction else c
        p0 = g.reduce(s0, c_pp, c) if reduced_prev else g.rcb(s0, c_pp, c)
        out, multiplier = cell(g, p0, g.rcb(s1, c_p, c), c, reduction)
        s0, s1, c_pp, c_p, reduced_prev = s1, out, c_p, multiplier * c, reduction
    flat = g._out("Flatten", [g._out("GlobalAveragePool", [s1])], axis=1)
    g.n += 1
    logits = g._out("Gemm", [flat, g._weight((CLASSES, c_p), "weight"), g._weight((CLASSES,), "bias")], transB=1)
    g.g.input.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, RESOLUTION, RESOLUTION]))
    g.g.output.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["batch", CLASSES]))
    seeded.record(g.model, 0, _Graph.WEIGHTS, g.offset, (0.0, 0.0))
    return g.model


def build(arch: CellArch, repeats: int, filters: int) -> onnx.ModelProto:
    """The candidate with N = `repeats` normal cells per stack and F = `filters` initial channels."""

    def cell(g: _Graph, p0: str, p1: str, c: int, reduction: bool) -> tuple[str, int]:
        states, used = [p0, p1], set()
        for i1, o1, i2, o2 in arch.reduce if reduction else arch.normal:
            h = [_apply(g, o, states[i], c, 2 if reduction and i < 2 else 1, False) for i, o in ((i1, o1), (i2, o2))]
            states.append(g._out("Add", h))
            used |= {i1, i2}
        unused = [s for j, s in enumerate(states) if j >= 2 and j not in used]
        return (g._out("Concat", unused, axis=1) if len(unused) > 1 else unused[0]), len(unused)

    return _network(_Graph("cifar_cells"), 3 * repeats + 2, filters, cell)


def supernet(cells: int = 8, channels: int = 16) -> onnx.ModelProto:
    """DARTS's search network: `cells` cells (A.1.1: 8), `channels` initial channels (16), every operation of
    DARTS_OPS on every edge."""
    weight = 1.0 / len(DARTS_OPS)  # softmax of DARTS's zero-initialised architecture parameters

    def cell(g: _Graph, p0: str, p1: str, c: int, reduction: bool) -> tuple[str, int]:
        states = [p0, p1]
        for _ in range(NODES):
            terms = [g._out("Mul", [_apply(g, op, h, c, 2 if reduction and j < 2 else 1, True), g.scalar(weight)])
                     for j, h in enumerate(states) for op in DARTS_OPS]
            states.append(g._out("Sum", terms))
        return g._out("Concat", states[2:], axis=1), NODES

    return _network(_Graph("darts_supernet"), cells, channels, cell)
