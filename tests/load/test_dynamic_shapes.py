"""Dims that ONNX shape inference loses (shapes computed at run time) are resolved from the bound input dims;
the shape evaluators agree with ONNX's reference implementation; value-dependent sizes are named, never a
generated unk__N; --assume-upper-bound costs the largest case."""

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto as T
from onnx import helper
from onnx import numpy_helper as nh
from onnx.reference import ReferenceEvaluator

from analyzer import profile_onnx
from analyzer.errors import ShapeError, UnboundDimError
from analyzer.load._shape_ops import EVALUATORS
from cli_helpers import cli


def const(name, v, dtype=np.int64):
    return helper.make_node("Constant", [], [name], value=nh.from_array(np.array(v, dtype=dtype), name))


def save(tmp_path, nodes, inputs, inits=(), name="m.onnx", opset=17):
    g = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", T.FLOAT, None)], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    path = tmp_path / name
    onnx.save(m, str(path))
    return path


def heads_reshape_model(tmp_path):
    """The TorchScript exporter's multi-head reshape: [b, s, 64] -> [b, s, 4, 64 / 4] with the head dim
    computed by Div at run time, then a MatMul: ONNX inference names the head dim unk__0."""
    nodes = [helper.make_node("Shape", ["x"], ["sh"]), const("i0", 0), const("i1", 1), const("i2", 2), const("four", 4),
             const("ax0", [0]),
             helper.make_node("Gather", ["sh", "i0"], ["b"], axis=0), helper.make_node("Gather", ["sh", "i1"], ["s"], axis=0),
             helper.make_node("Gather", ["sh", "i2"], ["d"], axis=0), helper.make_node("Div", ["d", "four"], ["hd"]),
             helper.make_node("Unsqueeze", ["b", "ax0"], ["bu"]), helper.make_node("Unsqueeze", ["s", "ax0"], ["su"]),
             helper.make_node("Unsqueeze", ["four", "ax0"], ["fu"]), helper.make_node("Unsqueeze", ["hd", "ax0"], ["hu"]),
             helper.make_node("Concat", ["bu", "su", "fu", "hu"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])]
    w = nh.from_array(np.ones((16, 8), np.float32), "w")
    return save(tmp_path, nodes, [helper.make_tensor_value_info("x", T.FLOAT, ["batch", "seq", 64])], [w])


def test_onnx_alone_loses_the_head_dim(tmp_path):
    path = heads_reshape_model(tmp_path)
    inferred = onnx.shape_inference.infer_shapes(onnx.load(str(path)), data_prop=True)
    r = next(vi for vi in inferred.graph.value_info if vi.name == "r")
    assert not r.type.tensor_type.shape.dim[3].HasField("dim_value")  # the case this module exists for


@pytest.mark.parametrize("b, s", [(1, 1), (2, 10), (3, 128)])
def test_computed_reshape_resolves_from_the_input_dims(tmp_path, b, s):
    p = profile_onnx(heads_reshape_model(tmp_path), dims={"batch": b, "seq": s}, scan_sparsity=False)
    assert p.macs == b * s * 4 * 16 * 8
    assert not any("lower bound" in n for n in p.notes)


def test_unbound_input_dims_are_named_and_generated_ones_never(tmp_path):
    path = heads_reshape_model(tmp_path)
    with pytest.raises(UnboundDimError, match="bind with dim seq=N") as e:  # the library names its parameter
        profile_onnx(path, dims={"batch": 1}, scan_sparsity=False)
    assert "unk__" not in str(e.value) and e.value.params() == ["dim", "batch"]
    r = cli("profile", path, "--dim", "batch=1")
    assert r.exit_code == 1 and "unk__" not in r.stderr and "--dim seq=N" in r.stderr


def nonzero_model(tmp_path):
    """Rows of a table picked by the nonzero entries of an input mask: the row count depends on its values."""
    nodes = [helper.make_node("NonZero", ["mask"], ["nz"]), const("i1", 1),
             helper.make_node("Gather", ["nz", "i1"], ["cols"], axis=0),
             helper.make_node("Gather", ["table", "cols"], ["rows"], axis=0),
             helper.make_node("MatMul", ["rows", "w"], ["y"])]
    table = nh.from_array(np.ones((100, 16), np.float32), "table")
    w = nh.from_array(np.ones((16, 8), np.float32), "w")
    return save(tmp_path, nodes, [helper.make_tensor_value_info("mask", T.INT64, [1, "seq"])], [table, w])


def test_a_value_dependent_size_is_named_with_its_input(tmp_path):
    path = nonzero_model(tmp_path)
    with pytest.raises(ShapeError, match=r"NonZero at node .* depends on the values of input 'mask'.*with assume_upper_bound"):
        profile_onnx(path, dims={"seq": 12}, scan_sparsity=False)


def test_upper_bound_assumption_costs_every_element_and_says_so(tmp_path):
    path = nonzero_model(tmp_path)
    p = profile_onnx(path, dims={"seq": 12}, scan_sparsity=False, assume_upper_bound=True)
    assert p.macs == 12 * 16 * 8
    assert any("assumed the upper bound for NonZero" in n for n in p.notes)
    r = cli("profile", path, "--dim", "seq=12", "--assume-upper-bound", "--format", "json")
    assert r.exit_code == 0, r.output


# ---- the evaluators against ONNX's reference implementation -----------------------------------------------


def reference(op, inputs, attrs, opset=17, n_out=1):
    names = [f"i{k}" if v is not None else "" for k, v in enumerate(inputs)]
    node = helper.make_node(op, names, [f"o{k}" for k in range(n_out)], **attrs)
    vis = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
           for n, v in zip(names, inputs) if n]
    outs = [helper.make_tensor_value_info(f"o{k}", T.UNDEFINED, None) for k in range(n_out)]
    m = helper.make_model(helper.make_graph([node], "r", vis, outs), opset_imports=[helper.make_opsetid("", opset)])
    return ReferenceEvaluator(m).run(None, {n: v for n, v in zip(names, inputs) if n})


def ours(op, inputs, attrs, opset=17):
    return EVALUATORS[op](list(inputs), dict(attrs), opset)


ints = st.lists(st.integers(-40, 40), min_size=1, max_size=6).map(lambda v: np.array(v, np.int64))


@settings(max_examples=60, deadline=None)
@given(a=ints, b=st.integers(-7, 7).filter(lambda x: x != 0), op=st.sampled_from(["Div", "Mod", "Add", "Sub", "Mul", "Max", "Min", "Equal", "Less"]))
def test_binary_evaluators_match_the_reference(a, b, op):
    bb = np.array(b, np.int64)
    expected = reference(op, [a, bb], {})[0]
    got = ours(op, [a, bb], {})[0]
    assert got.dtype == expected.dtype and np.array_equal(got, expected), (op, a, b, got, expected)


@settings(max_examples=60, deadline=None)
@given(data=st.lists(st.integers(0, 99), min_size=1, max_size=8), start=st.integers(-10, 10), end=st.integers(-10, 10),
       step=st.integers(-3, 3).filter(lambda x: x != 0))
def test_slice_matches_the_reference(data, start, end, step):
    x = np.array(data, np.int64)
    args = [x, np.array([start], np.int64), np.array([end], np.int64), np.array([0], np.int64), np.array([step], np.int64)]
    assert np.array_equal(ours("Slice", args, {})[0], reference("Slice", args, {})[0])


@settings(max_examples=40, deadline=None)
@given(start=st.integers(-20, 20), limit=st.integers(-20, 20), delta=st.integers(-4, 4).filter(lambda x: x != 0))
def test_range_matches_the_reference(start, limit, delta):
    args = [np.array(start, np.int64), np.array(limit, np.int64), np.array(delta, np.int64)]
    assert np.array_equal(ours("Range", args, {})[0], reference("Range", args, {})[0])


@pytest.mark.parametrize("op, inputs, attrs", [
    ("Gather", [np.arange(12, dtype=np.int64).reshape(3, 4), np.array([-1, 0], np.int64)], {"axis": 1}),
    ("Unsqueeze", [np.arange(3, dtype=np.int64), np.array([0, -1], np.int64)], {}),
    ("Squeeze", [np.arange(3, dtype=np.int64).reshape(1, 3, 1), np.array([2], np.int64)], {}),
    ("Concat", [np.array([1], np.int64), np.array([2, 3], np.int64)], {"axis": 0}),
    ("Reshape", [np.arange(12, dtype=np.int64).reshape(3, 4), np.array([0, 2, -1], np.int64)], {}),
    ("Expand", [np.array([[1], [2]], np.int64), np.array([2, 3], np.int64)], {}),
    ("Where", [np.array([True, False]), np.array([1, 2], np.int64), np.array([5, 6], np.int64)], {}),
    ("ReduceProd", [np.array([2, 3, 4], np.int64)], {"keepdims": 0}),
    ("ReduceSum", [np.array([[2, 3], [4, 5]], np.int64), np.array([1], np.int64)], {"keepdims": 1}),
    ("ConstantOfShape", [np.array([2, 3], np.int64)], {"value": nh.from_array(np.array([7], np.int64))}),
    ("Tile", [np.array([1, 2], np.int64), np.array([3], np.int64)], {}),
    ("Cast", [np.array([1.7, -2.2], np.float32)], {"to": T.INT64}),
    ("Transpose", [np.arange(6, dtype=np.int64).reshape(2, 3)], {"perm": [1, 0]}),
    ("Clip", [np.array([-5, 0, 5], np.int64), np.array(-1, np.int64), np.array(2, np.int64)], {}),
])
def test_evaluators_match_the_reference(op, inputs, attrs):
    expected = reference(op, inputs, attrs)[0]
    got = ours(op, inputs, attrs)[0]
    assert got.dtype == expected.dtype and np.array_equal(got, expected), (got, expected)


def test_shape_with_start_and_end():
    got = EVALUATORS["Shape"]([None], {"_shape": [2, 3, 5, 7], "start": 1, "end": -1}, 17)[0]
    assert got.tolist() == [3, 5]


def test_dim_expressions_as_exporters_write_them():
    from analyzer.load import dim_expr

    dims = {"past_sequence_length": 7, "sequence_length": 1, "s3": 5}
    assert dim_expr.evaluate("past_sequence_length + sequence_length", dims) == 8
    assert dim_expr.evaluate("2*s3 - 1", dims) == 9
    assert dim_expr.evaluate("s3//2", dims) == 2
    assert dim_expr.evaluate("sequence_length", dims) == 1
    assert dim_expr.evaluate("unbound + 1", dims) is None
    assert dim_expr.evaluate("__import__('os').getcwd()", dims) is None
    assert dim_expr.evaluate("s3 ** 400", dims) is None
    assert dim_expr.names("past_sequence_length + sequence_length") == {"past_sequence_length", "sequence_length"}
    assert dim_expr.names("batch/size") == {"batch/size"}


def test_an_attention_mask_sized_past_plus_seq_binds_from_its_parts(tmp_path):
    """optimum names a decoder's attention-mask length 'past_sequence_length + sequence_length'."""
    nodes = [helper.make_node("Cast", ["mask"], ["mf"], to=T.FLOAT), helper.make_node("MatMul", ["mf", "w"], ["y"])]
    w = nh.from_array(np.ones((11, 3), np.float32), "w")
    path = save(tmp_path, nodes, [helper.make_tensor_value_info("mask", T.INT64, ["batch", "past_sequence_length + sequence_length"])], [w])
    p = profile_onnx(path, dims={"batch": 2, "past_sequence_length": 10, "sequence_length": 1}, scan_sparsity=False)
    assert p.macs == 2 * 11 * 3
    assert not any("does not name" in n for n in p.notes)
