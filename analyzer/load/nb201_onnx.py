"""NAS-Bench-201 networks as ONNX, built with onnx.helper in the style of load/cells.py, with seeded weights
(load/seeded.py: the graph ships, the weights are generated when something runs it). Self-contained: another module
builds the same networks straight into the IR; this one writes what an exporter would give ONNX Runtime.

As NB201's code builds them (D-X-Y/AutoDL-Projects, lib/models/cell_infers/tiny_network.py and cells.py, and
cell_operations.py), in inference form (batch norms kept, not folded, as a plain export of an eval-mode model keeps
them):
- stem: Conv 3x3 (3 -> C, pad 1, no bias), BatchNorm;
- three stages of N cells at C, 2C, 4C, with a ResNet basic block of stride 2 between stages: ReLU-Conv3x3(stride 2)
  -BN, ReLU-Conv3x3-BN, plus a shortcut AvgPool 2x2 (stride 2) then Conv 1x1 (no bias), added;
- a cell (InferCell): node i (1..3) = the sum over j < i of op_ij(node j), every edge kept, `none` included (NB201's
  Zero is `x.mul(0.)`, a Mul by a constant 0); `skip_connect` is the identity; `nor_conv_kxk` is ReLU, Conv kxk (no
  bias, pad k//2), BatchNorm; `avg_pool_3x3` is AveragePool 3x3, stride 1, pad 1, count_include_pad 0;
- then BatchNorm, ReLU, GlobalAveragePool, Flatten and a Gemm classifier (with bias).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from . import seeded
from .nb201_arch import NODES, Arch, Skeleton

WEIGHTS = "nb201.weights"


class _Graph:
    def __init__(self, name: str):
        self.model = onnx.ModelProto(ir_version=8, producer_name="nas-analyzer nb201")
        self.model.opset_import.add(domain="", version=17)
        self.g = self.model.graph
        self.g.name = name
        self.n = 0
        self.offset = 0
        self.zero: str | None = None

    def out(self, op: str, inputs: list[str], **attrs: object) -> str:
        self.n += 1
        y = f"{op.lower()}{self.n}"
        self.g.node.append(helper.make_node(op, inputs, [y], name=f"{op}_{self.n}", **attrs))
        return y

    def weight(self, dims: tuple[int, ...], what: str) -> str:
        self.n += 1
        t = self.g.initializer.add(name=f"w{self.n}.{what}", data_type=TensorProto.FLOAT)
        t.dims.extend(dims)
        self.offset = seeded.make_external(t, WEIGHTS, self.offset)
        return t.name

    def conv(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1) -> str:
        w = self.weight((c_out, c_in, k, k), "weight")
        return self.out("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4)

    def bn(self, x: str, c: int) -> str:
        stats = [self.weight((c,), t) for t in ("weight", "bias", "running_mean", "running_var")]
        return self.out("BatchNormalization", [x, *stats])

    def rcb(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1) -> str:
        """NB201's ReLUConvBN."""
        return self.bn(self.conv(self.out("Relu", [x]), c_in, c_out, k, stride), c_out)

    def times_zero(self, x: str) -> str:
        if self.zero is None:
            self.zero = "zero"
            self.g.initializer.append(onnx.numpy_helper.from_array(np.array(0.0, np.float32), self.zero))
        return self.out("Mul", [x, self.zero])


def _edge(g: _Graph, op: str, x: str, c: int) -> str:
    if op == "none":
        return g.times_zero(x)
    if op == "skip_connect":
        return x
    if op == "avg_pool_3x3":
        return g.out("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)
    return g.rcb(x, c, c, 1 if op == "nor_conv_1x1" else 3)


def _cell(g: _Graph, arch: Arch, x: str, c: int) -> str:
    nodes = [x]
    for to in range(1, NODES):
        terms = [_edge(g, op, nodes[frm], c) for t, frm, op in arch.edges() if t == to]
        s = terms[0]
        for t in terms[1:]:
            s = g.out("Add", [s, t])
        nodes.append(s)
    return nodes[-1]


def _basic_block(g: _Graph, x: str, c_in: int, c_out: int) -> str:
    body = g.rcb(g.rcb(x, c_in, c_out, 3, 2), c_out, c_out, 3)
    pooled = g.out("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
    return g.out("Add", [g.conv(pooled, c_in, c_out, 1), body])


def build(arch: Arch, skeleton: Skeleton = Skeleton(), name: str = "nb201") -> onnx.ModelProto:
    """The NB201 network of `arch` (module docstring), its input `input` [batch, 3, R, R], its output logits."""
    g = _Graph(name)
    c = skeleton.channels
    x = g.bn(g.conv("input", 3, c, 3), c)
    for stage in range(3):
        if stage:
            x = _basic_block(g, x, c, 2 * c)
            c *= 2
        for _ in range(skeleton.cells_per_stage):
            x = _cell(g, arch, x, c)
    x = g.out("Relu", [g.bn(x, c)])
    flat = g.out("Flatten", [g.out("GlobalAveragePool", [x])], axis=1)
    logits = g.out("Gemm", [flat, g.weight((skeleton.num_classes, c), "weight"), g.weight((skeleton.num_classes,), "bias")],
                   transB=1)
    r = skeleton.resolution
    g.g.input.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, r, r]))
    g.g.output.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["batch", skeleton.num_classes]))
    seeded.record(g.model, 0, WEIGHTS, g.offset, (0.0, 0.0))
    return g.model
