"""NAS-Bench-101 cells built straight into the IR (load/nb101.py): the channel rule against nasbench's own tests,
pruning and validation, the graph hash's invariance, the sources `nb101:N[:SEED]` and `nb101:FILE`, and the network
against a torch port of nasbench's model_builder.py exported to ONNX."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from analyzer.count.profile import profile_graph
from analyzer.errors import UsageError
from analyzer.load import nb101
from analyzer.load.sources import known_size, read

C3, C1, MP = nb101.OPS
# the README's Inception-like module of google-research/nasbench
INCEPTION = ([[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
              [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
             ["input", C1, C3, C3, C3, MP, "output"])
# interior vertices of unequal channels (a truncation), a projection into a vertex and into the output
# (128 channels over 3 vertices: 43, 43, 42, vertex 1 sliced into vertex 3)
TRUNCATING = ([[0, 1, 1, 1, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
              ["input", C3, MP, C1, "output"])


@pytest.mark.parametrize("c_in, c_out, matrix, expected", [
    # nasbench/tests/model_builder_test.py's cases of compute_vertex_channels
    (8, 16, [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], [8, 16, 16, 16]),
    (16, 8, [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], [16, 8, 8, 8, 8]),
    (8, 15, [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [8, 8, 7, 15]),
    (8, 8, [[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], [8, 3, 3, 2, 8]),
    (8, 9, [[0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], [8, 5, 5, 4, 9]),
    (8, 15, [[0, 1, 0, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], [8, 8, 7, 7, 15]),
    (1, 5, [[0, 1], [0, 0]], [1, 5]),
])
def test_vertex_channels_as_nasbench_tests_them(c_in, c_out, matrix, expected):
    assert nb101.vertex_channels(c_in, c_out, tuple(map(tuple, matrix))) == expected


def test_pruning_and_validation():
    m = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    c = nb101.cell(m, ["input", C3, C1, MP, "output"])  # vertices 2 and 3 lead nowhere: pruned
    assert c.matrix == ((0, 1, 0), (0, 0, 1), (0, 0, 0)) and c.ops == ("input", C3, "output")
    bad = [(m, ["input", C3, C1, MP]), (m, ["input", C3, "conv5x5", MP, "output"]), (m, [C3, C3, C1, MP, "output"]),
           ([[0, 1], [1, 0]], ["input", "output"]), ([[0, 2], [0, 0]], ["input", "output"]),
           ([[0, True], [0, 0]], ["input", "output"]), ([[0, 0], [0, 0]], ["input", "output"]),
           ([[0, 1.0], [0, 0]], ["input", "output"]), ([[1] * 7 if i == 0 else [0] * (i + 1) + [1] * (6 - i) for i in range(7)],
                                                        ["input"] + [C3] * 5 + ["output"])]
    for matrix, ops in bad:
        with pytest.raises(UsageError, match="^cell: "):
            nb101.cell(matrix, ops)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_the_hash_ignores_the_vertex_order(data):
    """NB101's hash is isomorphism-invariant: a relabelling of the interior vertices that keeps the matrix upper
    triangular (here: any cell against itself through a topological re-ordering) hashes alike."""
    c = nb101.sample(1, data.draw(st.integers(0, 10_000)))[0]
    n = c.vertices
    perm = [0] + data.draw(st.permutations(range(1, n - 1))) + [n - 1]
    m = [[c.matrix[perm[i]][perm[j]] for j in range(n)] for i in range(n)]
    if all(not m[i][j] for i in range(n) for j in range(i + 1)):
        assert nb101.cell(m, [c.ops[p] for p in perm]).hash() == c.hash()


def test_sources(tmp_path):
    cells = [t for t in read("nb101:30:4")]
    assert len(cells) == 30 == len({t.identity for t in cells}) == len({t.name for t in cells}) == known_size("nb101:30")
    assert [t.name for t in read("nb101:30:4")] == [t.name for t in cells]  # a pure function of N and SEED
    for t in cells:
        c = nb101.parse(t.ir_space[1])
        assert c.edges() <= 9 and c.vertices <= 7 and t.name == c.name() and t.arch == {"nb101": json.loads(c.to_json())}
    f = tmp_path / "cells.jsonl"
    f.write_text("# two cells\n" + json.dumps({"matrix": INCEPTION[0], "ops": INCEPTION[1]}) + "\n\n"
                 + json.dumps({"matrix": TRUNCATING[0], "ops": TRUNCATING[1]}) + "\n")
    names = [t.name for t in read(f"nb101:{f}")]
    assert names == [nb101.cell(*INCEPTION).name(), nb101.cell(*TRUNCATING).name()]
    f.write_text(json.dumps({"matrix": INCEPTION[0], "ops": INCEPTION[1]}) + "\n{\"matrix\": [[0]], \"ops\": []}\n")
    with pytest.raises(UsageError, match=r"cells.jsonl:2: 0 ops"):
        list(read(f"nb101:{f}"))
    for text, msg in (("[" * 100_000, "nests too deeply"), ("{", "not JSON"), ("[NaN]", "not a number"), ('{"matrix": 1}', "expected"), ("# none", "no NB101 cells")):
        f.write_text(text)
        with pytest.raises(UsageError, match=msg):
            list(read(f"nb101:{f}"))
    for spec in ("nb101:0", "nb101:100001", f"nb101:{tmp_path / 'missing'}", f"nb101:{tmp_path}"):
        with pytest.raises(UsageError):
            list(read(spec))


def _macs_by_hand(c: nb101.Cell) -> int:
    """Per image: the stem, each cell's convolutions and projections at its channels and resolution, the dense layer."""
    macs, ch, r = 9 * 3 * 128 * 32 * 32, 128, 32
    n = c.vertices
    for stack in range(3):
        if stack:
            ch, r = 2 * ch, r // 2
        for cell in range(3):
            c_in = ch if stack == 0 or cell else ch // 2
            vc = nb101.vertex_channels(c_in, ch, c.matrix)
            for t in range(1, n - 1):
                macs += c_in * vc[t] * r * r * c.matrix[0][t]
                macs += {C3: 9, C1: 1, MP: 0}[c.ops[t]] * vc[t] * vc[t] * r * r
            macs += c_in * ch * r * r * c.matrix[0][n - 1]
    return macs + 512 * 10


@pytest.mark.parametrize("cell", [INCEPTION, TRUNCATING])
def test_macs_by_hand(cell):
    c = nb101.cell(*cell)
    p = profile_graph("nb101", "", *nb101.build(c, 2), 2)
    assert p.macs == 2 * _macs_by_hand(c) and p.coverage == 1.0


# ---- against torch's export ---------------------------------------------------------------------------

def _torch_net(c: nb101.Cell, torch):
    """nasbench's model_builder.py written in torch, eval mode."""
    nn = torch.nn

    def cbr(ci, co, k):
        return nn.Sequential(nn.Conv2d(ci, co, k, padding=k // 2, bias=False), nn.BatchNorm2d(co), nn.ReLU())

    class Cell(nn.Module):
        def __init__(self, c_in, c_out):
            super().__init__()
            n = c.vertices
            self.ch = nb101.vertex_channels(c_in, c_out, c.matrix)
            self.ops = nn.ModuleList(nn.MaxPool2d(3, 1, 1) if op == MP else cbr(self.ch[t], self.ch[t], 3 if op == C3 else 1)
                                     for t, op in enumerate(c.ops[1:-1], start=1))
            self.proj = nn.ModuleList(cbr(c_in, self.ch[t] if t < n - 1 else c_out, 1) if c.matrix[0][t] else nn.Identity()
                                      for t in range(1, n))

        def forward(self, x):
            n, m, ch = c.vertices, c.matrix, self.ch
            tensors, concat = [x], []
            for t in range(1, n - 1):
                add_in = [tensors[s][:, :ch[t]] if tensors[s].shape[1] > ch[t] else tensors[s] for s in range(1, t) if m[s][t]]
                if m[0][t]:
                    add_in.append(self.proj[t - 1](x))
                y = add_in[0]
                for o in add_in[1:]:
                    y = y + o
                tensors.append(self.ops[t - 1](y))
                if m[t][n - 1]:
                    concat.append(tensors[t])
            if not concat:
                return self.proj[n - 2](x)
            out = concat[0] if len(concat) == 1 else torch.cat(concat, 1)
            return out + self.proj[n - 2](x) if m[0][n - 1] else out

    layers, ch = [cbr(3, 128, 3)], 128
    for stack in range(3):
        if stack:
            layers.append(nn.MaxPool2d(2, 2))
            ch *= 2
        layers += [Cell(ch if stack == 0 or i else ch // 2, ch) for i in range(3)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(ch, 10)]
    return nn.Sequential(*layers)


@pytest.mark.torch
@pytest.mark.parametrize("cell", [INCEPTION, TRUNCATING, ([[0, 1], [0, 0]], ["input", "output"])])
def test_the_ir_equals_torchs_export(tmp_path, cell):
    from conftest import require_torch
    from space_export import assert_export_equal

    torch = require_torch()
    c = nb101.cell(*cell)
    ours, _ = assert_export_equal(tmp_path, torch, _torch_net(c, torch), (2, 3, 32, 32), *nb101.build(c, 2))
    assert ours.op_type_totals["Conv"]["count"] == 1 + 9 * (sum(op != MP for op in c.ops[1:-1]) + sum(c.matrix[0][1:]))
    assert ("Slice" in ours.op_type_totals) == (cell is TRUNCATING) and ("Concat" in ours.op_type_totals) == (c.vertices > 2)


def test_population_command(tmp_path):
    from cli_helpers import cli

    r = cli("population", "nb101:5:1", "--hardware", "h100", "--no-store", "--workers", "1", "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["candidates"] == 5 and out["failed"] == 0


@pytest.mark.parametrize("cell", [INCEPTION, TRUNCATING, ([[0, 1], [0, 0]], ["input", "output"]),
                                  ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"])])
def test_a_cells_pieces_are_its_nodes_in_order(cell):
    """engine/memo.py puts a cell together from its pieces: their nodes, in order, are the cell's (op, MACs, bytes
    of each), and their totals add up to the cell's."""
    c = nb101.cell(*cell)
    for seg in nb101.segments(c):
        parts = nb101.pieces(seg)
        if seg[0] != "nb101-cell":
            assert parts is None
            continue
        whole = profile_graph("w", "", *nb101.build_segment(seg, 2), 2, per_op=True)
        profs = [profile_graph("p", "", *nb101.build_segment(q, 2), 2, per_op=True) for q in parts]
        ours = [(n.op_type, n.macs, n.bytes) for p in profs for n in p.per_op]
        assert ours == [(n.op_type, n.macs, n.bytes) for n in whole.per_op], seg
        for k in ("macs", "flops", "params", "bytes_moved", "weight_bytes", "activation_bytes", "nodes"):
            assert sum(getattr(p, k) for p in profs) == getattr(whole, k), (seg, k)
