"""Cost formulas: exact interpolation (poly.py) and `profile --symbolic` on hand-built graphs whose costs are
known in closed form."""

import json
from fractions import Fraction

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto as T
from onnx import helper
from onnx import numpy_helper as nh

from analyzer import profile_onnx
from analyzer.errors import UsageError
from analyzer.count.poly import Poly, interpolate, interpolate_1d, lowest_degree
from analyzer.count.symbolic import cost_formulas
from cli_helpers import cli
from load.test_dynamic_shapes import heads_reshape_model  # tests/load/ (tests/ is on sys.path)

coeff = st.integers(-1000, 1000).map(Fraction)


@settings(max_examples=50, deadline=None)
@given(cs=st.lists(coeff, min_size=1, max_size=5), start=st.integers(-5, 50), step=st.integers(1, 64))
def test_interpolation_recovers_a_polynomial_exactly(cs, start, step):
    xs = [start + step * i for i in range(len(cs))]
    ys = [sum(c * Fraction(x) ** i for i, c in enumerate(cs)) for x in xs]
    assert interpolate_1d(xs, ys) == cs


@settings(max_examples=30, deadline=None)
@given(c=st.dictionaries(st.tuples(st.integers(0, 1), st.integers(0, 2)), coeff, min_size=1, max_size=6))
def test_two_variable_interpolation_on_a_tensor_grid(c):
    truth = Poly.of(("b", "s"), c)
    grids = [[1, 2], [32, 64, 96]]
    values = {(b, s): truth((b, s)) for b in grids[0] for s in grids[1]}
    got = interpolate(("b", "s"), grids, values)
    assert got == truth


def test_lowest_degree_needs_one_point_more():
    xs = [1, 2, 3, 4]
    assert lowest_degree(xs, [Fraction(5 * x * x + 1) for x in xs], 4) == 2
    assert lowest_degree(xs[:3], [Fraction(5 * x * x + 1) for x in xs[:3]], 4) is None  # not confirmed yet
    assert lowest_degree(xs, [Fraction(7)] * 4, 4) == 0


def test_formula_text_and_json():
    p = Poly.of(("batch", "seq"), {(1, 2): Fraction(18432), (1, 1): Fraction(84934656), (1, 0): Fraction(589824),
                                   (0, 0): Fraction(-3, 2)})
    assert p.text() == "18,432·batch·seq² + 84,934,656·batch·seq + 589,824·batch - 3/2"
    d = p.to_dict()
    assert d["terms"][0] == {"coefficient": 18432, "powers": {"batch": 1, "seq": 2}}
    assert d["terms"][-1] == {"coefficient": -1.5, "coefficient_exact": "-3/2", "powers": {}}


def attention_model(tmp_path):
    """Self-attention scores and values over a sequence: x [batch, seq, 32] -> q, k, v (MatMul 32x32) ->
    softmax(q k^T) v: MACs 3 b s 32 32 + 2 b s^2 32."""
    rng = np.random.default_rng(0)
    inits = [nh.from_array(rng.standard_normal((32, 32)).astype(np.float32), n) for n in ("Wq", "Wk", "Wv")]
    nodes = [helper.make_node("MatMul", ["x", "Wq"], ["q"]), helper.make_node("MatMul", ["x", "Wk"], ["k"]),
             helper.make_node("MatMul", ["x", "Wv"], ["v"]), helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Softmax", ["s"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["y"])]
    g = helper.make_graph(nodes, "attn", [helper.make_tensor_value_info("x", T.FLOAT, ["batch", "seq", 32])],
                          [helper.make_tensor_value_info("y", T.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "attn.onnx"
    onnx.save(m, str(path))
    return path


def test_attention_formula_is_exact(tmp_path):
    s = cost_formulas(attention_model(tmp_path))
    assert s.variables == ("batch", "seq")
    assert s.totals["macs"] == Poly.of(("batch", "seq"), {(1, 1): Fraction(3 * 32 * 32), (1, 2): Fraction(2 * 32)})
    assert s.totals["macs"].degree("seq") == 2 and s.totals["macs"].degree("batch") == 1
    # softmax reads and writes the b x s x s scores
    assert s.op_types["Softmax"]["bytes"] == Poly.of(("batch", "seq"), {(1, 2): Fraction(8)})
    for b, n in ((3, 77), (1, 500), (5, 13)):  # against fresh numeric profiles, off the sampling lattice
        p = profile_onnx(attention_model(tmp_path), dims={"batch": b, "seq": n}, scan_sparsity=False)
        assert s.totals["macs"]({"batch": b, "seq": n}) == p.macs
        assert s.totals["flops"]({"batch": b, "seq": n}) == p.flops
        assert s.totals["bytes_moved"]({"batch": b, "seq": n}) == p.bytes_moved
    assert not s.lattice_only


def test_a_bound_dim_leaves_a_formula_in_the_others(tmp_path):
    s = cost_formulas(attention_model(tmp_path), dims={"batch": 4})
    assert s.variables == ("seq",) and s.bound == {"batch": 4}
    assert s.totals["macs"] == Poly.of(("seq",), {(1,): Fraction(4 * 3 * 32 * 32), (2,): Fraction(4 * 2 * 32)})


def test_computed_shapes_symbolic(tmp_path):
    s = cost_formulas(heads_reshape_model(tmp_path))
    assert s.totals["macs"] == Poly.of(("batch", "seq"), {(1, 1): Fraction(4 * 16 * 8)})


def strided_conv_model(tmp_path):
    """A 3x3 stride-2 convolution over a free height: output rows floor((H - 1) / 2) + 1, exact only on even H."""
    w = nh.from_array(np.ones((8, 3, 3, 3), np.float32), "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1])], "c",
                          [helper.make_tensor_value_info("x", T.FLOAT, [1, 3, "height", 64])],
                          [helper.make_tensor_value_info("y", T.FLOAT, None)], [w])
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_floors_make_a_formula_exact_on_the_lattice_only_and_it_says_so(tmp_path):
    s = cost_formulas(strided_conv_model(tmp_path))
    assert s.lattice_only == ("height",) and "multiple of 32" in s.notes[0]
    assert s.totals["macs"] == Poly.of(("height",), {(1,): Fraction(8 * 27 * 32 // 2)})  # (H/2) x 32 x 8 x 27
    p = profile_onnx(strided_conv_model(tmp_path), dims={"height": 96}, scan_sparsity=False)
    assert s.totals["macs"]({"height": 96}) == p.macs


def test_no_free_dim_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no free input dim"):
        cost_formulas(attention_model(tmp_path), dims={"batch": 1, "seq": 8})
    with pytest.raises(UsageError, match="not a free input dim"):
        cost_formulas(attention_model(tmp_path), variables=["width"])


def test_cli_symbolic(tmp_path):
    path = attention_model(tmp_path)
    r = cli("profile", path, "--symbolic")
    assert r.exit_code == 0, r.output
    assert "3,072·batch·seq + 64·batch·seq²" in r.stdout.replace("\n", "") or "64·batch·seq² + 3,072·batch·seq" in r.stdout
    r = cli("profile", path, "--symbolic", "--format", "json", "--dim", "batch=2")
    d = json.loads(r.stdout)[0]
    assert d["variables"] == ["seq"] and d["totals"]["macs"]["terms"][0] == {"coefficient": 128, "powers": {"seq": 2}}
    assert cli("profile", path, "--symbolic", "--format", "csv").exit_code == 2


def test_an_embedding_lookup_is_not_a_polynomial_and_the_error_says_why():
    """The docs' tiny decoder: its Gathers read at most their tables (50 and 64 rows), so their bytes bend once
    batch x 32 tokens pass 50; the error names the count, its values and what to bind, and the decode step
    (batch 1, one new token) is 4 x 16^2 + 2 x 2 x (p + 1) x 8 + 50 x 16 = 32 p + 1,856 MACs in the cache's length p."""
    from pathlib import Path

    from analyzer.count.symbolic import NotPolynomialError

    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "tiny_decoder.onnx"
    with pytest.raises(NotPolynomialError, match=r"Gather bytes is not a polynomial .* in batch_size "
                                                 r"\(at batch_size = 1, 2, 3, .*reads at most its whole table"):
        cost_formulas(path)
    f = cost_formulas(path, dims={"batch_size": 1, "sequence_length": 1})
    assert f.variables == ("past_sequence_length",)
    assert f.totals["macs"].terms == (((1,), Fraction(32)), ((0,), Fraction(1856)))
