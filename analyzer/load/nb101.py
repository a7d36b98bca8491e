"""NAS-Bench-101 cells (Ying et al., "NAS-Bench-101: Towards Reproducible Neural Architecture Search", ICML 2019)
built straight into our IR (load/ir_net.py): no TensorFlow, no torch, no ONNX round trip.

A cell is an upper-triangular adjacency matrix of at most 7 vertices and their ops (input, then conv3x3-bn-relu,
conv1x1-bn-relu or maxpool3x3, then output), at most 9 edges once pruned. As google-research/nasbench builds it
(nasbench/lib/model_spec.py, model_builder.py, base_ops.py, config.py), in inference form with its batch norms:

- pruning: vertices not on a path from input to output are removed (`ModelSpec._prune`);
- channels (`compute_vertex_channels`): the cell's output channels C are split over the vertices feeding the output
  (C // n each, the first C % n of them one more); every other interior vertex takes the largest channels of the
  interior vertices it feeds;
- vertex t: the sum of its interior inputs (each sliced to t's channels when wider, `truncate`) then, when the
  input vertex feeds it, a projection of the cell's input (Conv 1x1, BN, ReLU) added last; then its op: Conv kxk
  (pad same, no bias), BN, ReLU, or MaxPool 3x3 stride 1 pad 1;
- output: the concat of the vertices feeding it (one: itself), plus a projection of the input to C when the input
  vertex feeds the output; the input alone feeding the output is its projection;
- network: stem Conv 3x3 to 128 channels, BN, ReLU; 3 stacks of 3 cells, a MaxPool 2x2 stride 2 before stacks 2
  and 3 doubling the channels (128, 256, 512 at 32, 16, 8 pixels); global average pooling; a dense layer to 10.

NB101's own code sums a vertex's inputs with `tf.add_n` and ops with TF's `padding='same'`; for the odd-free sizes
here (stride 1, or 2x2 windows of stride 2 on even sizes) that is a symmetric pad, as in the torch port the tests
export. Its graph hash (`graph_util.hash_module`, the key of NB101's dataset) names a candidate.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import UsageError, param
from ..files import parse_json, read_lines
from ..ir import Graph, TensorInfo
from .ir_net import Net

INPUT, OUTPUT = "input", "output"
OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")  # config.py's available_ops, in its (canonical) order
MAX_VERTICES, MAX_EDGES = 7, 9
STEM_CHANNELS, STACKS, CELLS_PER_STACK, CLASSES, RESOLUTION = 128, 3, 3, 10, 32
MAX_DRAW = 100_000  # distinct cells drawn by rejection; NB101 has 423,624
MAX_FILE_BYTES = 64 * 1024 * 1024  # a JSON-lines file of cells; NB101's 423,624 cells are about 90 MB as such lines


@dataclass(frozen=True)
class Cell:
    """A pruned NB101 cell: its adjacency matrix (rows feed columns) and its ops, input first and output last."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    @property
    def vertices(self) -> int:
        return len(self.ops)

    def edges(self) -> int:
        return sum(map(sum, self.matrix))

    def name(self) -> str:
        """nb101_ and the first 12 hex digits of NB101's graph hash: one cell, one name, whatever its source."""
        return f"nb101_{self.hash()[:12]}"

    def to_json(self) -> str:
        """Canonical text: what a candidate's identity hashes and its task carries."""
        return json.dumps({"matrix": [list(r) for r in self.matrix], "ops": list(self.ops)}, separators=(",", ":"))

    def hash(self) -> str:
        """NB101's isomorphism-invariant graph hash (graph_util.hash_module, ops labelled by OPS's order): the key
        of a cell in the NB101 dataset."""
        n = self.vertices
        m = self.matrix
        labels = [-1] + [OPS.index(op) for op in self.ops[1:-1]] + [-2]
        ins = [sum(m[i][v] for i in range(n)) for v in range(n)]
        outs = [sum(m[v]) for v in range(n)]
        hashes = [_md5(str((outs[v], ins[v], labels[v]))) for v in range(n)]
        for _ in range(n):
            hashes = [_md5("".join(sorted(hashes[w] for w in range(n) if m[w][v])) + "|"
                       + "".join(sorted(hashes[w] for w in range(n) if m[v][w])) + "|" + hashes[v])
                      for v in range(n)]
        return _md5(str(sorted(hashes)))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()  # NB101's fingerprint, not a secret


def _prune(matrix: list[list[int]], ops: list[str]) -> tuple[list[list[int]], list[str]] | None:
    """ModelSpec._prune: keep the vertices on a path from input to output; None when input does not reach output."""
    n = len(ops)
    fwd, stack = {0}, [0]
    while stack:
        top = stack.pop()
        for v in range(top + 1, n):
            if matrix[top][v] and v not in fwd:
                fwd.add(v)
                stack.append(v)
    back, stack = {n - 1}, [n - 1]
    while stack:
        top = stack.pop()
        for v in range(top):
            if matrix[v][top] and v not in back:
                back.add(v)
                stack.append(v)
    keep = sorted(fwd & back)
    if len(keep) < 2 or keep[0] != 0 or keep[-1] != n - 1:
        return None
    return [[matrix[i][j] for j in keep] for i in keep], [ops[i] for i in keep]


def cell(matrix: Any, ops: Any, where: str = "cell") -> Cell:
    """A cell from its matrix and ops as NB101 writes them (lists), checked as NB101's api does (`_check_spec`) and
    pruned; an error names `where` and what is wrong in one line."""
    if not isinstance(ops, (list, tuple)) or not all(isinstance(o, str) for o in ops):
        raise UsageError(f"{where}: {param('ops')} must be a list of op names")
    n = len(ops)
    if not 2 <= n <= MAX_VERTICES:
        raise UsageError(f"{where}: {n} ops; a cell has 2 to {MAX_VERTICES} vertices, input and output included")
    if not isinstance(matrix, (list, tuple)) or len(matrix) != n or \
            any(not isinstance(r, (list, tuple)) or len(r) != n for r in matrix):
        raise UsageError(f"{where}: {param('matrix')} must be a {n}x{n} list of rows (one a vertex, as ops)")
    if any(type(v) is not int or v not in (0, 1) for r in matrix for v in r):
        raise UsageError(f"{where}: {param('matrix')} entries must be 0 or 1")
    if any(matrix[i][j] for i in range(n) for j in range(i + 1)):
        raise UsageError(f"{where}: {param('matrix')} must be strictly upper triangular (vertex i feeds only j > i)")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise UsageError(f"{where}: the first op must be '{INPUT}' and the last '{OUTPUT}'")
    bad = [o for o in ops[1:-1] if o not in OPS]
    if bad:
        raise UsageError(f"{where}: op {bad[0]!r} is not one of {', '.join(OPS)}")
    pruned = _prune([[int(v) for v in r] for r in matrix], list(ops))
    if pruned is None:
        raise UsageError(f"{where}: the input does not reach the output")
    c = Cell(tuple(tuple(r) for r in pruned[0]), tuple(pruned[1]))
    if c.edges() > MAX_EDGES:
        raise UsageError(f"{where}: {c.edges()} edges once pruned; NB101 allows at most {MAX_EDGES}")
    return c


def parse(text: str, where: str = "cell") -> Cell:
    """A cell from its JSON text {"matrix": [[...]], "ops": [...]}."""
    d = parse_json(text, UsageError, where, depth=4)
    if not isinstance(d, dict) or set(d) - {"matrix", "ops"} or "matrix" not in d or "ops" not in d:
        raise UsageError(f'{where}: expected {{"matrix": [[...]], "ops": [...]}}')
    return cell(d["matrix"], d["ops"], where)


def sample(n: int, seed: int = 0) -> list[Cell]:
    """n distinct cells (by NB101's graph hash), a pure function of (n, seed): each a random 7-vertex upper
    triangular matrix (every entry 1 with probability 1/2) and interior ops drawn uniformly, pruned, kept when the
    input reaches the output within 9 edges (NB101's api.random_spec draws the same way)."""
    rng = random.Random(f"nb101:{seed}")
    seen: set[str] = set()
    out: list[Cell] = []
    while len(out) < n:
        m = [[int(j > i and rng.random() < 0.5) for j in range(MAX_VERTICES)] for i in range(MAX_VERTICES)]
        ops = [INPUT] + [rng.choice(OPS) for _ in range(MAX_VERTICES - 2)] + [OUTPUT]
        pruned = _prune(m, ops)
        if pruned is None or sum(map(sum, pruned[0])) > MAX_EDGES:
            continue
        c = Cell(tuple(tuple(r) for r in pruned[0]), tuple(pruned[1]))
        h = c.hash()
        if h not in seen:
            seen.add(h)
            out.append(c)
    return out


def vertex_channels(c_in: int, c_out: int, m: tuple[tuple[int, ...], ...]) -> list[int]:
    """model_builder.compute_vertex_channels: channels of every vertex of a pruned cell."""
    n = len(m)
    ch = [0] * n
    ch[0], ch[-1] = c_in, c_out
    if n == 2:
        return ch
    fan_in = sum(m[v][n - 1] for v in range(1, n - 1))
    each, extra = divmod(c_out, fan_in)
    for v in range(1, n - 1):
        if m[v][n - 1]:
            ch[v] = each + (1 if extra else 0)
            extra -= 1 if extra else 0
    for v in range(n - 3, 0, -1):
        if not m[v][n - 1]:
            for dst in range(v + 1, n - 1):
                if m[v][dst]:
                    ch[v] = max(ch[v], ch[dst])
    return ch


def _cbr(net: Net, x: TensorInfo, c: int, k: int) -> TensorInfo:
    return net.relu(net.bn(net.conv(x, c, k)))


def _cell(net: Net, c: Cell, x: TensorInfo, channels: int) -> TensorInfo:
    n, m = c.vertices, c.matrix
    ch = vertex_channels(x.shape[1], channels, m)  # type: ignore[arg-type]
    tensors = [x]
    concat: list[TensorInfo] = []
    for t in range(1, n - 1):
        add_in = [tensors[s] if tensors[s].shape[1] == ch[t] else net.slice_channels(tensors[s], ch[t])  # type: ignore[index]
                  for s in range(1, t) if m[s][t]]
        if m[0][t]:
            add_in.append(_cbr(net, x, ch[t], 1))
        y = add_in[0]
        for other in add_in[1:]:
            y = net.add(y, other)
        op = c.ops[t]
        y = net.pool(y, "max", 3, 1, 1) if op == "maxpool3x3" else _cbr(net, y, ch[t], 3 if op == "conv3x3-bn-relu" else 1)
        tensors.append(y)
        if m[t][n - 1]:
            concat.append(y)
    if not concat:
        return _cbr(net, x, channels, 1)
    out = concat[0] if len(concat) == 1 else net.concat(concat)
    if m[0][n - 1]:
        out = net.add(out, _cbr(net, x, channels, 1))
    return out


Segment = tuple  # ("nb101-stem",) | ("nb101-cell", cell JSON, c_in, c_out, res) | ("nb101-pool", c, res) | ("nb101-head", c, res)


def segments(c: Cell) -> list[Segment]:
    """The network as a chain of segments, each reading only the one before it (engine/memo.py evaluates each
    distinct one once): the stem, each cell, each downsampling pool, the head."""
    out: list[Segment] = [("nb101-stem",)]
    ch, res, text = STEM_CHANNELS, RESOLUTION, c.to_json()
    for stack in range(STACKS):
        c_in = ch
        if stack:
            out.append(("nb101-pool", ch, res))
            ch, res = 2 * ch, res // 2
        for _ in range(CELLS_PER_STACK):
            out.append(("nb101-cell", text, c_in, ch, res))
            c_in = ch
    out.append(("nb101-head", ch, res))
    return out


def pieces(seg: Segment) -> tuple[Segment, ...] | None:
    """A cell as its nodes' pieces in the order `_cell` writes them (engine/memo.py): ("nb101-slice", C_in, C, R),
    ("nb101-cbr", C_in, C_out, k, R) (Conv kxk, BN, ReLU: a convolution's norm in its piece), ("nb101-maxpool", C, R),
    ("nb101-add", C, R) and ("nb101-concat", (C, ...), R), so a population counts and times each distinct layer once,
    not each cell. None for the other segments. Their kernels are the cell's where no fusion pattern groups the
    cell's nodes (none outside ONNX Runtime can: project/parts.py groups_nothing; memo.py decides it)."""
    return _pieces(seg[1:]) if seg[0] == "nb101-cell" else None


@lru_cache(maxsize=4096)
def _pieces(cell_seg: tuple) -> tuple[Segment, ...]:
    text, c_in, channels, res = cell_seg
    c = _parsed(text)
    n, m = c.vertices, c.matrix
    ch = vertex_channels(c_in, channels, m)
    out: list[Segment] = []
    concat: list[int] = []
    for t in range(1, n - 1):
        summed = 0
        for s in range(1, t):
            if m[s][t]:
                if ch[s] != ch[t]:
                    out.append(("nb101-slice", ch[s], ch[t], res))
                summed += 1
        if m[0][t]:
            out.append(("nb101-cbr", c_in, ch[t], 1, res))
            summed += 1
        out += [("nb101-add", ch[t], res)] * (summed - 1)
        op = c.ops[t]
        out.append(("nb101-maxpool", ch[t], res) if op == "maxpool3x3" else
                   ("nb101-cbr", ch[t], ch[t], 3 if op == "conv3x3-bn-relu" else 1, res))
        if m[t][n - 1]:
            concat.append(ch[t])
    if not concat:
        return (*out, ("nb101-cbr", c_in, channels, 1, res))
    if len(concat) > 1:
        out.append(("nb101-concat", tuple(concat), res))
    if m[0][n - 1]:
        out += [("nb101-cbr", c_in, channels, 1, res), ("nb101-add", channels, res)]
    return tuple(out)


def fusion_class(seg: Segment) -> str:
    """What decides whether a cell's nodes fuse, were a pattern able to group them: the cell itself (never consulted
    outside ONNX Runtime, where no pattern groups a cell's op types; pieces are not used under it)."""
    return f"{seg[1]}|{seg[2]}|{seg[3]}"


_PIECE_INPUTS = ("input", "input_b", "input_c", "input_d", "input_e")  # a concat reads at most the 5 interior vertices


def _piece(net: Net, seg: Segment, x: TensorInfo) -> TensorInfo:
    kind = seg[0]
    if kind == "nb101-slice":
        return net.slice_channels(x, seg[2])
    if kind == "nb101-cbr":
        return _cbr(net, x, seg[2], seg[3])
    if kind == "nb101-maxpool":
        return net.pool(x, "max", 3, 1, 1)
    return net.add(x, net.input(seg[1], seg[2], seg[2], name="input_b"))  # nb101-add (a concat: build_segment)


def _segment(net: Net, seg: Segment, x: TensorInfo) -> TensorInfo:
    kind = seg[0]
    if kind in _PIECE_KINDS:
        return _piece(net, seg, x)
    if kind == "nb101-stem":
        return _cbr(net, x, STEM_CHANNELS, 3)
    if kind == "nb101-cell":
        return _cell(net, _parsed(seg[1]), x, seg[3])
    if kind == "nb101-pool":
        return net.pool(x, "max", 2, 2)
    return net.linear(net.flatten(net.global_pool(x)), CLASSES)


@lru_cache(maxsize=4096)
def _parsed(text: str) -> Cell:
    """A cell's canonical text parsed, the last few thousand remembered (a network reads its cell nine times)."""
    return parse(text)


_PIECE_KINDS = ("nb101-slice", "nb101-cbr", "nb101-maxpool", "nb101-add", "nb101-concat")


def _input(net: Net, seg: Segment) -> TensorInfo:
    if seg[0] == "nb101-stem":
        return net.input(3, RESOLUTION, RESOLUTION)
    if seg[0] == "nb101-concat":
        return net.input(seg[1][0], seg[2], seg[2])
    c = seg[2] if seg[0] == "nb101-cell" else seg[1]
    return net.input(c, seg[-1], seg[-1])


def build_segment(seg: Segment, batch: int | str = "batch") -> tuple[Graph, tuple[TensorInfo, ...]]:
    """One segment (or piece of a cell) alone, its input named 'input' (an add's second 'input_b', a concat's
    further inputs input_c, ...)."""
    net = Net(batch)
    x = _input(net, seg)
    if seg[0] == "nb101-concat":
        xs = tuple(net.input(c, seg[2], seg[2], name=name) for c, name in zip(seg[1], _PIECE_INPUTS))
        return net.graph(seg[0], xs, (net.concat(list(xs)),))
    y = _segment(net, seg, x)
    inputs = (x, net.input(seg[1], seg[2], seg[2], name="input_b")) if seg[0] == "nb101-add" else (x,)
    return net.graph(seg[0], inputs, (y,))


def build(c: Cell, batch: int | str = "batch") -> tuple[Graph, tuple[TensorInfo, ...]]:
    """The whole CIFAR-10 network of cell `c` as one IR graph and its initializers, at `batch`."""
    return Net(batch).chain("nb101", segments(c), _input, _segment)


def read_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> list[Cell]:
    """The cells of a JSON-lines file, one {"matrix": [[...]], "ops": [...]} a line (blank lines and lines starting
    with # skipped), through the one reader of user files; an error names the file and the line."""
    out = read_lines(path, parse, UsageError, max_bytes)
    if not out:
        raise UsageError(f'{path}: no NB101 cells (one a line, as {{"matrix": [[0,1],[0,0]], "ops": ["input","output"]}})')
    return out
