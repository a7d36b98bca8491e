"""FBNet layer choices (Wu et al., "FBNet: Hardware-Aware Efficient ConvNet Design via Differentiable Neural
Architecture Search", CVPR 2019) built straight into our IR (load/ir_net.py): no torch, no ONNX round trip.

The macro architecture is the paper's Table 1: a 3x3 conv to 16 (stride 2), 22 searched layers (TBS) in stages of
(channels, layers, stride) (16, 1, 1), (24, 4, 2), (32, 4, 2), (64, 4, 2), (112, 4, 1), (184, 4, 2), (352, 1, 1), a
1x1 conv to 1984, global average pooling and a 1000-way classifier. Each layer is one of the 9 blocks of Table 2:
k3_e1, k3_e1_g2, k3_e3, k3_e6, k5_e1, k5_e1_g2, k5_e3, k5_e6 and skip. The blocks are written as
facebookresearch/mobile-vision builds FBNet-A/B/C (mobile_cv/arch/fbnet_v2/fbnet_modeldef_cls_fbnet.py,
irf_block.py, basic_blocks.py, blocks_factory.py; model_zoo/models/fbnet_v2.py), in eval mode:

- kK_eE: mid = E x C_in (multiples of 8 here); a 1x1 conv to mid with bias, BN, ReLU (left out when mid = C_in, as
  for e1); a depthwise K x K conv (pad K // 2, the layer's stride) with bias, BN, ReLU; a 1x1 conv to C_out with bias,
  BN; plus the input when the stride is 1 and C_in = C_out;
- kK_e1_g2: the same with 2 groups in the 1x1 convs, and a channel shuffle of 2 groups before the depthwise conv;
- skip: the identity, or where the layer changes channels or strides a 1x1 conv (no bias), BN, ReLU;
- the stem and the last 1x1 conv: conv with bias, BN, ReLU; the classifier: a 1x1 conv with bias after the pooling.

FBNet-A (`FBNET["a"]`) ends in a 1x1 conv to 1504, B and C in 1984 (mobile-vision's definitions; the paper's Table 1
shows both numbers).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import UsageError
from ..files import parse_json, read_lines
from ..ir import Graph, TensorInfo
from .ir_net import Net

BLOCKS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
STAGES = ((16, 1, 1), (24, 4, 2), (32, 4, 2), (64, 4, 2), (112, 4, 1), (184, 4, 2), (352, 1, 1))
LAYERS = sum(n for _, n, _ in STAGES)  # 22
STEM, LAST, CLASSES, RESOLUTION = 16, 1984, 1000, 224
MAX_DRAW = 1_000_000  # distinct candidates drawn lazily; the set that keeps them distinct grows with N
MAX_FILE_BYTES = 64 * 1024 * 1024
_A = "skip k3_e3 k3_e1 skip skip k5_e6 k3_e3 k5_e1 k3_e3 k5_e6 k5_e3 k5_e1_g2 k5_e6 k3_e6 k5_e1_g2 k5_e3 k3_e1_g2 k5_e6 " \
     "k5_e6 k5_e3 k5_e6 k5_e6"
_B = "k3_e1 k3_e6 k5_e1 k3_e1 k3_e1 k5_e6 k5_e3 k3_e6 k5_e6 k5_e6 k5_e6 skip k5_e3 k5_e6 k3_e1 k5_e1 k5_e3 k5_e6 k5_e1 " \
     "k5_e6 k5_e6 k3_e6"
_C = "k3_e1 k3_e6 skip k3_e1 k3_e1 k5_e6 k5_e3 k5_e6 k3_e6 k5_e6 k5_e3 k5_e6 k5_e6 k5_e6 k5_e6 k5_e6 k5_e3 k5_e6 k5_e6 " \
     "k5_e6 k5_e6 k3_e6"
FBNET = {"a": (tuple(_A.split()), 1504), "b": (tuple(_B.split()), LAST), "c": (tuple(_C.split()), LAST)}


@dataclass(frozen=True)
class Choice:
    """One block per searched layer (22, in order)."""

    blocks: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps({"blocks": list(self.blocks)}, separators=(",", ":"))

    def name(self) -> str:
        return f"fbnet_{hashlib.sha256(self.to_json().encode()).hexdigest()[:12]}"


def choice(d: Any, where: str = "choice") -> Choice:
    """A choice from its JSON value {"blocks": [22 block names]}, checked; one-line errors."""
    if not isinstance(d, dict) or set(d) != {"blocks"} or not isinstance(d["blocks"], list):
        raise UsageError(f'{where}: expected {{"blocks": [{LAYERS} block names]}}')
    b = d["blocks"]
    if len(b) != LAYERS:
        raise UsageError(f"{where}: {len(b)} blocks; FBNet's space searches {LAYERS} layers")
    bad = [x for x in b if x not in BLOCKS]
    if bad:
        raise UsageError(f"{where}: block {json.dumps(bad[0])[:40]} is not one of {', '.join(BLOCKS)}")
    return Choice(tuple(b))


def parse(text: str, where: str = "choice") -> Choice:
    return choice(parse_json(text, UsageError, where, depth=3), where)


def sample(n: int, seed: int = 0) -> Iterator[Choice]:
    """n distinct choices, a pure function of (n, seed), each layer's block uniform over the 9."""
    rng = random.Random(f"fbnet:{seed}")
    seen: set[int] = set()
    while len(seen) < n:
        c = Choice(tuple(rng.choice(BLOCKS) for _ in range(LAYERS)))
        h = 0  # the draw as one exact integer (its blocks' indices as base-9 digits), so the set stays small
        for b in c.blocks:
            h = h * len(BLOCKS) + BLOCKS.index(b)
        if h not in seen:
            seen.add(h)
            yield c


def block(net: Net, x: TensorInfo, name: str, c_out: int, stride: int) -> TensorInfo:
    """One searched layer (see the module docstring)."""
    c_in = x.shape[1]
    if name == "skip":
        if c_in == c_out and stride == 1:
            return x
        return net.relu(net.bn(net.conv(x, c_out, 1, stride)))
    k, e, g = int(name[1]), int(name.split("_")[1][1:]), 2 if name.endswith("_g2") else 1
    mid = c_in * e  # type: ignore[operator]
    y = x if mid == c_in else net.relu(net.bn(net.conv(x, mid, 1, group=g, bias=True)))
    if g > 1:
        y = net.channel_shuffle(y, g)
    y = net.relu(net.bn(net.conv(y, mid, k, stride, group=mid, bias=True)))
    y = net.bn(net.conv(y, c_out, 1, group=g, bias=True))
    return net.add(y, x) if stride == 1 and c_in == c_out else y


Segment = tuple  # ("fbnet-stem",) | ("fbnet-block", name, c_in, c_out, stride, res) | ("fbnet-head", c, last, res)


def segments(c: Choice, last: int = LAST) -> list[Segment]:
    """The network as a chain of segments, each reading only the one before it (engine/memo.py evaluates each
    distinct one once): the stem, each layer that computes something (an identity skip is none), the head."""
    out: list[Segment] = [("fbnet-stem",)]
    ch, res, names = STEM, RESOLUTION // 2, iter(c.blocks)
    for width, n, stride in STAGES:
        for j in range(n):
            s, name = stride if j == 0 else 1, next(names)
            if not (name == "skip" and s == 1 and ch == width):
                out.append(("fbnet-block", name, ch, width, s, res))
            ch, res = width, (res - 1) // s + 1
    out.append(("fbnet-head", ch, last, res))
    return out


def _segment(net: Net, seg: Segment, x: TensorInfo) -> TensorInfo:
    if seg[0] == "fbnet-stem":
        return net.relu(net.bn(net.conv(x, STEM, 3, 2, bias=True)))
    if seg[0] == "fbnet-block":
        return block(net, x, seg[1], seg[3], seg[4])
    x = net.relu(net.bn(net.conv(x, seg[2], 1, bias=True)))
    return net.flatten(net.conv(net.global_pool(x), CLASSES, 1, bias=True))


def _input(net: Net, seg: Segment) -> TensorInfo:
    if seg[0] == "fbnet-stem":
        return net.input(3, RESOLUTION, RESOLUTION)
    c = seg[2] if seg[0] == "fbnet-block" else seg[1]
    return net.input(c, seg[-1], seg[-1])


def build_segment(seg: Segment, batch: int | str = "batch") -> tuple[Graph, tuple[TensorInfo, ...]]:
    """One segment alone, its input named 'input'."""
    net = Net(batch)
    x = _input(net, seg)
    return net.graph(seg[0], (x,), (_segment(net, seg, x),))


def build(c: Choice, batch: int | str = "batch", last: int = LAST) -> tuple[Graph, tuple[TensorInfo, ...]]:
    """The network of choice `c` as one IR graph and its initializers, at `batch` (224 x 224 images)."""
    return Net(batch).chain("fbnet", segments(c, last), _input, _segment)


def read_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> list[Choice]:
    """The choices of a JSON-lines file, one {"blocks": [...22]} a line (blank lines and # lines skipped), through
    the one reader of user files; an error names the file and the line."""
    out = read_lines(path, parse, UsageError, max_bytes)
    if not out:
        raise UsageError(f'{path}: no FBNet choices (one a line, as {{"blocks": [...{LAYERS} names]}})')
    return out
