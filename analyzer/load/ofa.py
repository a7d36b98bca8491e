"""Once-for-All MobileNetV3 subnets (Cai et al., "Once-for-All: Train One Network and Specialize it for Efficient
Deployment", ICLR 2020) built straight into our IR (load/ir_net.py): no torch, no ONNX round trip.

A subnet is OFA's `set_active_subnet(ks, e, d)` of `OFAMobileNetV3(width_mult=1.0)` at an input resolution r: a
kernel size (3, 5, 7) and an expand ratio (3, 4, 6) for each of the 20 elastic blocks, a depth (2, 3, 4) for each of
the 5 stages (a stage runs its first d blocks; the choices of the others are carried but unused), and r (OFA's
accuracy predictor is trained at 128, 160, 192 and 224; any multiple of 4 from 128 to 224 is read). As
mit-han-lab/once-for-all builds the active subnet (ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py,
networks/mobilenet_v3.py, utils/layers.py, utils/pytorch_modules.py) in eval mode:

- first conv: Conv 3x3 stride 2 to 16 (no bias), BN, Hswish;
- first block: MBConv 16 -> 16, expand 1 (no inverted bottleneck): depthwise 3x3, BN, ReLU; 1x1 conv, BN; + identity;
- 5 stages of widths 24, 40, 80, 112, 160, strides 2, 2, 2, 1, 2, activations ReLU, ReLU, Hswish, Hswish, Hswish,
  squeeze-and-excitation in stages 2, 4 and 5; a block: 1x1 conv to mid = make_divisible(round(C_in e), 8), BN, act;
  depthwise k x k (pad k // 2, the stage's stride on its first block), BN, act; SE (mean over W then H, 1x1 conv to
  make_divisible(mid // 4, 8) with bias, ReLU, 1x1 conv back with bias, Hsigmoid, times its input); 1x1 conv to the
  stage's width, BN; plus the input when the stride is 1 and the widths agree;
- final expand: 1x1 conv to 960, BN, Hswish; mean over W then H; feature mix: 1x1 conv to 1280 (no bias, no BN),
  Hswish; flatten; Linear to 1,000 classes (dropout is the identity in eval).

OFA's Hswish and Hsigmoid modules are written out (`x * relu6(x + 3) / 6`, four elementwise kernels as PyTorch
runs them), not torch's fused nn.Hardswish.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import UsageError
from ..files import parse_json, read_lines
from ..ir import Graph, TensorInfo
from .ir_net import Net

KS, ES, DS = (3, 5, 7), (3, 4, 6), (2, 3, 4)
STAGES = 5
MAX_DEPTH = 4
BLOCKS = STAGES * MAX_DEPTH
RESOLUTIONS = tuple(range(128, 225, 4))  # read; drawn from OFA's accuracy-predictor sizes:
DRAW_RESOLUTIONS = (128, 160, 192, 224)  # ofa/nas/accuracy_predictor/acc_dataset.py
WIDTHS = (24, 40, 80, 112, 160)
STRIDES = (2, 2, 2, 1, 2)
ACTS = ("relu", "relu", "hswish", "hswish", "hswish")
SE = (False, True, False, True, True)
FIRST, FINAL_EXPAND, LAST, CLASSES = 16, 960, 1280, 1000
MAX_DRAW = 1_000_000  # distinct candidates drawn lazily; the set that keeps them distinct grows with N
MAX_FILE_BYTES = 64 * 1024 * 1024


def make_divisible(v: float, divisor: int = 8) -> int:
    """OFA's (and TF slim's) make_divisible: the nearest multiple of `divisor` at least `divisor`, never more than
    10% below v."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


@dataclass(frozen=True)
class Subnet:
    """An OFA MobileNetV3 subnet: 20 kernel sizes, 20 expand ratios, 5 depths, a resolution."""

    ks: tuple[int, ...]
    e: tuple[int, ...]
    d: tuple[int, ...]
    r: int

    def active(self) -> list[tuple[int, int, int]]:
        """(stage, kernel, expand) of each block that runs, in order."""
        return [(s, self.ks[s * MAX_DEPTH + j], self.e[s * MAX_DEPTH + j]) for s in range(STAGES) for j in range(self.d[s])]

    def to_json(self) -> str:
        return json.dumps({"ks": list(self.ks), "e": list(self.e), "d": list(self.d), "r": self.r}, separators=(",", ":"))

    def name(self) -> str:
        import hashlib

        return f"ofa_{hashlib.sha256(self.to_json().encode()).hexdigest()[:12]}"


def _choices(v: Any, key: str, n: int, allowed: tuple[int, ...], where: str) -> tuple[int, ...]:
    if not isinstance(v, list) or len(v) != n or any(type(x) is not int or x not in allowed for x in v):
        raise UsageError(f"{where}: '{key}' must be a list of {n} integers, each one of {', '.join(map(str, allowed))}")
    return tuple(v)


def subnet(d: Any, where: str = "subnet") -> Subnet:
    """A subnet from its JSON value {"ks": [20], "e": [20], "d": [5], "r": R}, checked; one-line errors."""
    if not isinstance(d, dict) or set(d) != {"ks", "e", "d", "r"}:
        raise UsageError(f'{where}: expected {{"ks": [{BLOCKS} kernel sizes], "e": [{BLOCKS} expand ratios], '
                         f'"d": [{STAGES} depths], "r": resolution}}')
    if type(d["r"]) is not int or d["r"] not in RESOLUTIONS:
        raise UsageError(f"{where}: 'r' must be a multiple of 4 from 128 to 224, got {json.dumps(d['r'])[:40]}")
    return Subnet(_choices(d["ks"], "ks", BLOCKS, KS, where), _choices(d["e"], "e", BLOCKS, ES, where),
                  _choices(d["d"], "d", STAGES, DS, where), d["r"])


def parse(text: str, where: str = "subnet") -> Subnet:
    return subnet(parse_json(text, UsageError, where, depth=4), where)


def sample(n: int, seed: int = 0) -> Iterator[Subnet]:
    """n distinct subnets, a pure function of (n, seed), each choice uniform as OFA's sample_active_subnet draws it
    (the resolution from DRAW_RESOLUTIONS)."""
    rng = random.Random(f"ofa:{seed}")
    seen: set[int] = set()
    while len(seen) < n:
        s = Subnet(tuple(rng.choice(KS) for _ in range(BLOCKS)), tuple(rng.choice(ES) for _ in range(BLOCKS)),
                   tuple(rng.choice(DS) for _ in range(STAGES)), rng.choice(DRAW_RESOLUTIONS))
        h = 0  # the draw as one exact integer (its choices' indices as digits), so the set stays small
        for v, choices in [*((k, KS) for k in s.ks), *((e, ES) for e in s.e), *((d, DS) for d in s.d), (s.r, DRAW_RESOLUTIONS)]:
            h = h * len(choices) + choices.index(v)
        if h not in seen:
            seen.add(h)
            yield s


def _act(net: Net, x: TensorInfo, act: str) -> TensorInfo:
    return net.relu(x) if act == "relu" else net.hswish_composed(x)


def _se(net: Net, x: TensorInfo) -> TensorInfo:
    mid = make_divisible(x.shape[1] // 4)  # type: ignore[index,operator]
    y = net.reduce_mean(net.reduce_mean(x, 3), 2)
    y = net.relu(net.conv(y, mid, 1, bias=True))
    y = net.hsigmoid_composed(net.conv(y, x.shape[1], 1, bias=True))  # type: ignore[arg-type]
    return net.mul(x, y)


def mbconv(net: Net, x: TensorInfo, c_out: int, k: int, e: int, stride: int, act: str, se: bool) -> TensorInfo:
    """OFA's MBConvLayer inside its ResidualBlock (the identity added when stride 1 and the widths agree)."""
    c_in = x.shape[1]
    mid = make_divisible(round(c_in * e))  # type: ignore[operator]
    h = x if e == 1 else _act(net, net.bn(net.conv(x, mid, 1)), act)
    h = _act(net, net.bn(net.conv(h, mid, k, stride, group=mid)), act)
    if se:
        h = _se(net, h)
    y = net.bn(net.conv(h, c_out, 1))
    return net.add(y, x) if stride == 1 and c_in == c_out else y


Segment = tuple  # ("ofa-stem", r) | ("ofa-block", c_in, c_out, k, e, stride, act, se, res) | ("ofa-head", c, res)


def segments(s: Subnet) -> list[Segment]:
    """The subnet as a chain of segments, each reading only the one before it (engine/memo.py evaluates each distinct
    one once): the stem with the fixed first block, each active block, the head."""
    res = (s.r + 2 - 3) // 2 + 1
    out: list[Segment] = [("ofa-stem", s.r)]
    c, first = FIRST, [True] * STAGES
    for stage, k, e in s.active():
        stride = STRIDES[stage] if first[stage] else 1
        first[stage] = False
        out.append(("ofa-block", c, WIDTHS[stage], k, e, stride, ACTS[stage], SE[stage], res))
        c, res = WIDTHS[stage], (res + 2 * (k // 2) - k) // stride + 1
    out.append(("ofa-head", c, res))
    return out


def _segment(net: Net, seg: Segment, x: TensorInfo) -> TensorInfo:
    if seg[0] == "ofa-stem":
        x = net.hswish_composed(net.bn(net.conv(x, FIRST, 3, 2)))
        return mbconv(net, x, FIRST, 3, 1, 1, "relu", False)
    if seg[0] == "ofa-block":
        return mbconv(net, x, *seg[2:8])
    x = net.hswish_composed(net.bn(net.conv(x, FINAL_EXPAND, 1)))
    x = net.reduce_mean(net.reduce_mean(x, 3), 2)
    x = net.hswish_composed(net.conv(x, LAST, 1))
    return net.linear(net.flatten(x), CLASSES)


def _input(net: Net, seg: Segment) -> TensorInfo:
    return net.input(3, seg[1], seg[1]) if seg[0] == "ofa-stem" else net.input(seg[1], seg[-1], seg[-1])


def build_segment(seg: Segment, batch: int | str = "batch") -> tuple[Graph, tuple[TensorInfo, ...]]:
    """One segment alone, its input named 'input'; the stem declares the shared scalars (Hswish's 3 and 6)."""
    net = Net(batch, declare_shared=seg[0] == "ofa-stem")
    x = _input(net, seg)
    return net.graph(seg[0], (x,), (_segment(net, seg, x),))


def build(s: Subnet, batch: int | str = "batch") -> tuple[Graph, tuple[TensorInfo, ...]]:
    """The subnet as one IR graph and its initializers, at `batch` (images of s.r x s.r)."""
    return Net(batch).chain("ofa_mbv3", segments(s), _input, _segment)


def read_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> list[Subnet]:
    """The subnets of a JSON-lines file, one {"ks": [...], "e": [...], "d": [...], "r": R} a line (blank lines and
    lines starting with # skipped), through the one reader of user files; an error names the file and the line."""
    out = read_lines(path, parse, UsageError, max_bytes)
    if not out:
        raise UsageError(f'{path}: no OFA subnets (one a line, as {{"ks": [...20], "e": [...20], "d": [...5], "r": 224}})')
    return out
