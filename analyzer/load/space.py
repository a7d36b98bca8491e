"""A synthetic MobileNet-like search space (issue #17), for tests and benchmarks: candidates of a real
NAS space's shape, built with onnx.helper in milliseconds.

The space is MobileNetV2's macro-architecture (Sandler et al., CVPR 2018) with the per-block choices of
ProxylessNAS / MnasNet-style searches: a stem (3x3 conv, stride 2), seven stages of inverted-residual blocks
(1x1 expand, kxk depthwise, 1x1 project; a residual Add where shapes allow), a 1x1 head to 1280 channels,
global pooling and a 1000-way classifier. Choices: a width multiplier for the whole net, and per stage a
depth, and per block a kernel size and an expansion ratio. Convolutions carry a bias (BatchNorm folded, as
ONNX exporters emit inference graphs) and ReLU6 is Clip(0, 6). The training form (`batch_norm=True`, what
plan-search trains) keeps each convolution's BatchNormalization, bias-free as the network is trained.

Candidates are seeded skeletons (load/seeded.py): every dim is in the file, the weights are seeded random
numbers generated only if something measures the model, so a candidate is a few KB and profiles without
reading any weight bytes. The choices are a pure function of (seed, index): candidate i of a population is
the same on every machine.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper

from . import seeded
from .space_arch import (ARCH_KEY, CLASSES, EXPANSIONS, HEAD, KERNELS, RESOLUTION, STAGES, STEM,  # noqa: F401
                         WIDTHS, Arch, _channels, full, sample)  # re-exported: the space's choices and its draw


def _node(op: str, inputs: list[str], outputs: list[str], name: str, **attrs: int | list[int]) -> onnx.NodeProto:
    """A NodeProto built directly (onnx.helper.make_node costs several times more, and a candidate has ~100)."""
    n = onnx.NodeProto(op_type=op, name=name)
    n.input.extend(inputs)
    n.output.extend(outputs)
    for key, value in attrs.items():
        a = n.attribute.add()
        a.name = key
        if isinstance(value, int):
            a.type, a.i = onnx.AttributeProto.INT, value
        else:
            a.type = onnx.AttributeProto.INTS
            a.ints.extend(value)
    return n


class _Builder:
    WEIGHTS = "candidate.weights"

    def __init__(self, graph: onnx.GraphProto, batch_norm: bool = False):
        self.g = graph
        self.n = 0
        self.offset = 0
        self.batch_norm = batch_norm

    def _weight(self, name: str, dims: tuple[int, ...]) -> str:
        """A float weight with dims only: seeded external data (load/seeded.py) generated if measured."""
        t = self.g.initializer.add(name=name, data_type=TensorProto.FLOAT)
        t.dims.extend(dims)
        self.offset = seeded.make_external(t, self.WEIGHTS, self.offset)
        return name

    def conv(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1, group: int = 1, act: bool = True) -> str:
        self.n += 1
        i = self.n
        w = self._weight(f"conv{i}.weight", (c_out, c_in // group, k, k))
        y = f"conv{i}"
        inputs = [x, w] if self.batch_norm else [x, w, self._weight(f"conv{i}.bias", (c_out,))]
        self.g.node.append(_node("Conv", inputs, [y], f"Conv_{i}", kernel_shape=[k, k], strides=[stride, stride],
                                 pads=[k // 2] * 4, group=group))
        if self.batch_norm:
            stats = [self._weight(f"bn{i}.{t}", (c_out,)) for t in ("weight", "bias", "running_mean", "running_var")]
            self.g.node.append(_node("BatchNormalization", [y, *stats], [f"bn{i}"], f"BatchNormalization_{i}"))
            y = f"bn{i}"
        if not act:
            return y
        self.g.node.append(_node("Clip", [y, "zero", "six"], [f"relu6_{i}"], f"Clip_{i}"))
        return f"relu6_{i}"


def build(arch: Arch, seed: int = 0, batch_norm: bool = False) -> onnx.ModelProto:
    """The candidate as an ONNX skeleton (opset 17), batch dim named 'batch'; with `batch_norm`, its
    training form (a BatchNormalization after every convolution)."""
    model = onnx.ModelProto(ir_version=8, producer_name="nas-analyzer space")
    model.opset_import.add(domain="", version=17)
    g = model.graph
    g.name = "mobile_space"
    b = _Builder(g, batch_norm)
    g.initializer.append(onnx.numpy_helper.from_array(np.array(0, np.float32), "zero"))
    g.initializer.append(onnx.numpy_helper.from_array(np.array(6, np.float32), "six"))
    c = _channels(STEM, arch.width)
    x = b.conv("input", 3, c, 3, stride=2)
    for s, (base, stride, _) in enumerate(STAGES):
        c_out = _channels(base, arch.width)
        for j in range(arch.depths[s]):
            hidden = c * arch.expansions[s][j]
            h = b.conv(x, c, hidden, 1) if hidden != c else x
            h = b.conv(h, hidden, hidden, arch.kernels[s][j], stride=stride if j == 0 else 1, group=hidden)
            h = b.conv(h, hidden, c_out, 1, act=False)
            if j > 0 or (stride == 1 and c == c_out):
                g.node.append(_node("Add", [x, h], [f"{h}_res"], f"Add_{b.n}"))
                h = f"{h}_res"
            x, c = h, c_out
    head = max(HEAD, _channels(HEAD, arch.width))
    x = b.conv(x, c, head, 1)
    g.node.append(_node("GlobalAveragePool", [x], ["pool"], "GlobalAveragePool"))
    g.node.append(_node("Flatten", ["pool"], ["flat"], "Flatten", axis=1))
    fc_w = b._weight("classifier.weight", (CLASSES, head))
    fc_b = b._weight("classifier.bias", (CLASSES,))
    g.node.append(_node("Gemm", ["flat", fc_w, fc_b], ["logits"], "Gemm", transB=1))
    g.input.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, RESOLUTION, RESOLUTION]))
    g.output.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES]))
    seeded.record(model, seed, _Builder.WEIGHTS, b.offset, (0.0, 0.0))
    p = model.metadata_props.add()
    p.key, p.value = ARCH_KEY, json.dumps(arch.to_dict())
    return model


def candidate(seed: int, index: int) -> tuple[str, bytes, Arch]:
    """(name, ONNX bytes, choices) of candidate `index`."""
    arch = sample(seed, index)
    return arch.name(index), build(arch, seed).SerializeToString(), arch
