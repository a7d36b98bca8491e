"""NAS-Bench-201 architectures as their arch strings write them (Dong & Yang, ICLR 2020), parsed into a frozen
record: the one reader of the space's strings, shared by the IR builder, the ONNX builder and the benchmarks.

The search space (NAS-Bench-201 Sec. 2.1; D-X-Y/AutoDL-Projects `lib/models/cell_searchs/genotypes.py` and
`lib/models/cell_infers/`): a cell is a DAG of 4 nodes; node i (1..3) is the sum of one operation applied to
each earlier node j < i, so a cell has 6 edges, each one of 5 operations:

- `none`          the edge contributes zeros (NB201's Zero op: `x.mul(0.)`)
- `skip_connect`  identity
- `nor_conv_1x1`  ReLU -> Conv 1x1 -> BatchNorm
- `nor_conv_3x3`  ReLU -> Conv 3x3 (pad 1) -> BatchNorm
- `avg_pool_3x3`  AvgPool 3x3, stride 1, pad 1, padding excluded from the average

5^6 = 15,625 cells. An arch string lists the nodes' incoming edges as `op~j`, nodes joined by `+`:
`|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|`.

The macro skeleton (the `TinyNetwork` of cell_infers/tiny_network.py), for CIFAR-10 at 32x32: a stem (Conv 3x3
to C=16, BatchNorm), three stages of N=5 cells at C, 2C and 4C channels, a ResNet basic block of stride 2 between
stages (ReLUConvBN 3x3 stride 2, ReLUConvBN 3x3, shortcut AvgPool 2x2 then Conv 1x1), then BatchNorm, ReLU,
global average pooling and a linear classifier (10 classes for CIFAR-10).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import AnalyzerError, param

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NODES = 4  # node 0 is the cell's input; nodes 1..3 sum their incoming edges; node 3 is the output
EDGES = tuple((i, j) for i in range(1, NODES) for j in range(i))  # (to, from) in the order an arch string lists them
SPACE_SIZE = len(OPS) ** len(EDGES)  # 15,625
MAX_ARCH_CHARS = 512  # the longest valid string is ~130 characters; anything far longer is not an arch string

_EDGE = re.compile(r"^([a-z0-9_]+)~([0-9])$")


@dataclass(frozen=True)
class Skeleton:
    """The macro network around the cells (NB201's CIFAR settings by default)."""

    channels: int = 16  # C: the first stage's width; 2C and 4C after each reduction
    cells_per_stage: int = 5  # N
    num_classes: int = 10
    resolution: int = 32


@dataclass(frozen=True)
class Arch:
    """One NB201 cell: `ops[k]` is the operation on edge `EDGES[k]` = (to node, from node)."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != len(EDGES) or any(op not in OPS for op in self.ops):
            raise AnalyzerError(f"an NB201 cell has {len(EDGES)} edges, each one of {', '.join(OPS)}; got {self.ops!r}")

    def edges(self) -> tuple[tuple[int, int, str], ...]:
        """(to, from, op) for every edge, in arch-string order."""
        return _edges(self.ops)

    def to_string(self) -> str:
        """The canonical arch string (NB201's `Structure.tostr()`)."""
        return _text(self.ops)

    def index(self) -> int:
        """Position in the space's enumeration order (edge 0 most significant): 0 .. 15,624."""
        i = 0
        for op in self.ops:
            i = i * len(OPS) + OPS.index(op)
        return i

    def live_edges(self) -> tuple[tuple[int, int, str], ...]:
        """The edges whose result reaches the cell's output (node 3) through edges that are not `none`."""
        reaches = {NODES - 1}
        for to, frm, op in sorted(self.edges(), key=lambda e: -e[0]):
            if to in reaches and op != "none":
                reaches.add(frm)
        return tuple(e for e in self.edges() if e[0] in reaches and e[2] != "none" and e[1] in reaches)


# pure functions of a cell's operations, the last cells' remembered: evaluating a cell reads its edges and string
# several times (a bounded table: a population's driver and workers stay flat in memory however many cells pass)
@lru_cache(maxsize=1024)
def _edges(ops: tuple[str, ...]) -> tuple[tuple[int, int, str], ...]:
    return tuple((to, frm, op) for (to, frm), op in zip(EDGES, ops))


@lru_cache(maxsize=1024)
def _text(ops: tuple[str, ...]) -> str:
    edges = _edges(ops)
    return "+".join("|" + "|".join(f"{op}~{frm}" for (t, frm, op) in edges if t == to) + "|" for to in range(1, NODES))


def parse(text: str, name: str = "arch") -> Arch:
    """An arch string as NB201 writes it, or an AnalyzerError naming `name` and what is wrong."""
    if not isinstance(text, str):
        raise AnalyzerError(f"{param(name)}: an NB201 arch string is text, got {type(text).__name__}")
    s = text.strip()
    if len(s) > MAX_ARCH_CHARS:
        raise AnalyzerError(f"{param(name)}: {len(s):,} characters is not an NB201 arch string (at most {MAX_ARCH_CHARS})")
    nodes = s.split("+")
    if len(nodes) != NODES - 1:
        raise AnalyzerError(f"{param(name)} {s[:80]!r}: an NB201 arch string has {NODES - 1} nodes joined by '+', got {len(nodes)}")
    ops: dict[tuple[int, int], str] = {}
    for to, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")):
            raise AnalyzerError(f"{param(name)} {s[:80]!r}: node {to} must be written |op~j|...|")
        edges = node[1:-1].split("|")
        if len(edges) != to:
            raise AnalyzerError(f"{param(name)} {s[:80]!r}: node {to} takes {to} edge(s) (from nodes 0..{to - 1}), got {len(edges)}")
        for edge in edges:
            m = _EDGE.match(edge)
            if not m or m.group(1) not in OPS:
                raise AnalyzerError(f"{param(name)} {s[:80]!r}: edge {edge[:40]!r} is not op~j with op one of {', '.join(OPS)}")
            frm = int(m.group(2))
            if frm >= to or (to, frm) in ops:
                raise AnalyzerError(f"{param(name)} {s[:80]!r}: node {to} takes one edge from each of nodes 0..{to - 1}; got {edge!r}")
            ops[(to, frm)] = m.group(1)
    return Arch(tuple(ops[e] for e in EDGES))


def from_index(i: int) -> Arch:
    """The cell at position `i` of the enumeration (see `Arch.index`)."""
    if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < SPACE_SIZE:
        raise AnalyzerError(f"{param('index')} {i!r}: an NB201 cell index is an integer in 0..{SPACE_SIZE - 1}")
    ops = []
    for _ in EDGES:
        i, r = divmod(i, len(OPS))
        ops.append(OPS[r])
    return Arch(tuple(reversed(ops)))


def sample(n: int, seed: int = 0) -> list[Arch]:
    """`n` distinct cells drawn uniformly without replacement; a pure function of (n, seed)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= SPACE_SIZE:
        raise AnalyzerError(f"{param('n')} {n!r}: between 1 and {SPACE_SIZE:,} NB201 cells")
    return [from_index(i) for i in sample_indices(n, seed)]


def sample_indices(n: int, seed: int = 0) -> list[int]:
    """The indices of `sample(n, seed)`'s cells, in its order (a population builds each cell as it goes)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= SPACE_SIZE:
        raise AnalyzerError(f"{param('n')} {n!r}: between 1 and {SPACE_SIZE:,} NB201 cells")
    return random.Random(seed).sample(range(SPACE_SIZE), n)
