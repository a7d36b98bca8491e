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
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from . import seeded

WIDTHS = (0.75, 1.0, 1.25)
KERNELS = (3, 5, 7)
EXPANSIONS = (3, 4, 6)
# (base channels, first block's stride, depth choices) per stage, as MobileNetV2's table 2
STAGES = ((16, 1, (1,)), (24, 2, (2, 3, 4)), (32, 2, (2, 3, 4)), (64, 2, (2, 3, 4)), (96, 1, (2, 3, 4)),
          (160, 2, (2, 3, 4)), (320, 1, (1,)))
STEM, HEAD, CLASSES, RESOLUTION = 32, 1280, 1000, 224
ARCH_KEY = "nas_analyzer.arch"


@dataclass(frozen=True)
class Arch:
    """One candidate's choices: plain data, serialisable as JSON."""

    width: float
    depths: tuple[int, ...]
    kernels: tuple[tuple[int, ...], ...]
    expansions: tuple[tuple[int, ...], ...]

    def name(self, index: int) -> str:
        return f"cand{index:06d}"

    def to_dict(self) -> dict:
        """asdict's result (the tuples are immutable: no copy needed), without its recursion, which was half of a
        repeated population's time with --out."""
        return {"width": self.width, "depths": self.depths, "kernels": self.kernels, "expansions": self.expansions}


def sample(seed: int, index: int) -> Arch:
    """Candidate `index` of the population drawn with `seed` (uniform over the choices)."""
    bits = random.Random(f"{seed}:{index}").getrandbits

    def choice(seq: tuple) -> Any:
        """random.Random.choice's draw, inlined (its two calls a draw were a third of a repeated population): the
        fewest bits that cover the choices, drawn again while out of range (tests/engine/test_memo.py checks the two agree)."""
        n = len(seq)
        k = n.bit_length()
        r = bits(k)
        while r >= n:
            r = bits(k)
        return seq[r]

    depths = tuple(choice(choices) for _, _, choices in STAGES)
    kernels = tuple(tuple(choice(KERNELS) for _ in range(d)) for d in depths)
    expansions = tuple(tuple(1 if s == 0 else choice(EXPANSIONS) for _ in range(d)) for s, d in enumerate(depths))
    return Arch(choice(WIDTHS), depths, kernels, expansions)


def full(width: float = 1.0) -> Arch:
    """The space's full network at `width`: every stage at its deepest, every block with the largest kernel and
    expansion (the first stage's single block keeps expansion 1), as a weight-sharing search's supernet holds them
    (Once-for-All trains its space's full network first: Cai et al., ICLR 2020, Sec. 3.3)."""
    depths = tuple(max(choices) for _, _, choices in STAGES)
    return Arch(width, depths, tuple((max(KERNELS),) * d for d in depths),
                tuple(((1,) if s == 0 else (max(EXPANSIONS),)) * d for s, d in enumerate(depths)))


def _channels(base: int, width: float) -> int:
    """MobileNet's rounding: a multiple of 8, never below 90% of the scaled width."""
    scaled = base * width
    c = max(8, int(scaled + 4) // 8 * 8)
    return c + 8 if c < 0.9 * scaled else c


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
