"""Writes the hostile-input corpus next to this file: each case a small file that once broke the tool or was
reported by the fuzzing campaign of issue #16, and in expected.toml its outcome: the exit code of
`nas-analyzer profile FILE` and a phrase of its one-line error. Rerun after changing a case:

    python tests/corpus/build.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper
from onnx import numpy_helper as nh

HERE = Path(__file__).resolve().parent
vi = helper.make_tensor_value_info


def model(nodes, inputs, inits=(), opset=17) -> onnx.ModelProto:
    m = helper.make_model(helper.make_graph(nodes, "g", inputs, [vi("y", T.FLOAT, None)], list(inits)),
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def einsum(eq: bytes) -> bytes:
    n = helper.make_node("Einsum", ["a", "b"], ["y"], equation="x")
    n.attribute[0].s = eq
    return model([n], [vi("a", T.FLOAT, [2, 3]), vi("b", T.FLOAT, [3, 4])]).SerializeToString()


def external(location: str) -> bytes:
    w = nh.from_array(np.ones((64, 8), np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = onnx.TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)
    return model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", T.FLOAT, [1, 64])], [w]).SerializeToString()


# found by fuzzing (the exception each raised before it was fixed): name -> (exit, phrase of the error now)
FOUND = {
    "fuzz_dim_param_not_utf8.onnx": (1, "is not UTF-8 text"),  # TypeError in the dim binder
    "fuzz_graph_name_not_utf8.onnx": (1, "is not UTF-8 text"),  # UnicodeDecodeError copying the graph
    "fuzz_fold_omitted_input.onnx": (1, "is marked single but has an empty string"),  # AttributeError folding
    "fuzz_inference_length_error.onnx": (1, "must be topologically sorted"),  # ValueError from ONNX's inference
    "fuzz_fold_none_ndim.onnx": (1, "has a cycle"),  # AttributeError folding an omitted input
}


def main() -> None:
    ok = model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", T.FLOAT, [1, 8])]).SerializeToString()
    cases: dict[str, tuple] = {
        # ONNX's C++ inference loops forever on these equations (a NUL; a non-ASCII byte after '...')
        "einsum_nul_equation.onnx": (einsum(b"i\x00j,jk->ik"), 1, "is not an Einsum equation"),
        "einsum_non_ascii_ellipsis.onnx": (einsum(b"...\xe9,jk->ik"), 1, "is not an Einsum equation"),
        "resize_negative_scale.onnx": (model([helper.make_node("Resize", ["x", "", "s"], ["y"], mode="nearest")],
                                             [vi("x", T.FLOAT, [1, 3, 8, 8])],
                                             [nh.from_array(np.array([1, 1, -2, 2], np.float32), "s")]).SerializeToString(),
                                       1, "would have dim -16"),
        "negative_declared_dim.onnx": (model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", T.FLOAT, [-7, 4])],
                                             [nh.from_array(np.ones((4, 4), np.float32), "w")]).SerializeToString(),
                                       1, "declares dim -7"),
        "external_is_the_model.onnx": (external("external_is_the_model.onnx"), 1, "is the model file itself"),
        "external_traversal.onnx": (external("../../etc/passwd"), 1, "escapes the model folder"),
        "external_nul_byte.onnx": (external("w\x00.bin"), 1, "cannot be used"),
        "external_name_too_long.onnx": (external("a" * 4000), 1, "cannot be used"),
        "truncated.onnx": (ok[: len(ok) // 2], 1, "not a valid ONNX file"),
        "contradicting_shapes.onnx": (model([helper.make_node("Add", ["a", "b"], ["y"])],
                                            [vi("a", T.FLOAT, [1, 3]), vi("b", T.FLOAT, [1, 4])]).SerializeToString(),
                                      1, "contradict each other"),
        "empty.onnx": (b"", 1, "empty"),
        "not_protobuf.onnx": (b"\xff" * 64, 1, "not a valid ONNX file"),
    }
    bad_type = onnx.ModelProto()
    bad_type.ParseFromString(external("w.bin"))
    t = bad_type.graph.initializer[0]
    t.data_location = onnx.TensorProto.DEFAULT
    del t.external_data[:]
    t.raw_data = np.ones((64, 8), np.float32).tobytes()
    t.data_type = 99
    cases["initializer_type_99.onnx"] = (bad_type.SerializeToString(), 1, "data type 99")
    neg_init = onnx.ModelProto()
    neg_init.CopyFrom(bad_type)
    neg_init.graph.initializer[0].data_type = 1
    neg_init.graph.initializer[0].dims[0] = -64
    cases["initializer_negative_dim.onnx"] = (neg_init.SerializeToString(), 1, "dims are 0 or more")
    # a node name that is not UTF-8: protobuf hands the field over as bytes
    raw = model([helper.make_node("Relu", ["x"], ["y"], name="RELU")], [vi("x", T.FLOAT, [1, 8])]).SerializeToString()
    cases["node_name_not_utf8.onnx"] = (raw.replace(b"RELU", b"R\xffLU"), 1, "not UTF-8")
    relu = [helper.make_node("Relu", ["x"], ["y"])]
    w4 = [nh.from_array(np.ones((4, 4), np.float32), "w")]
    matmul = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    cases.update({
        "cycle.onnx": (model([helper.make_node("Relu", ["z"], ["a"]), helper.make_node("Relu", ["a"], ["z"]),
                              helper.make_node("Add", ["x", "z"], ["y"])], [vi("x", T.FLOAT, [1, 4])]).SerializeToString(),
                       1, "has a cycle"),
        "self_loop.onnx": (model([helper.make_node("Relu", ["y"], ["y"])], [vi("x", T.FLOAT, [1, 4])]).SerializeToString(),
                           1, "has a cycle"),
        "two_producers.onnx": (model(relu + [helper.make_node("Neg", ["x"], ["y"])], [vi("x", T.FLOAT, [1, 4])]).SerializeToString(),
                               1, "each value has one producer"),
        "unknown_op_default_domain.onnx": (model([helper.make_node("Frobnicate", ["x"], ["y"])],
                                                 [vi("x", T.FLOAT, [1, 4])]).SerializeToString(), 1, "No Op registered"),
        "unknown_domain_not_imported.onnx": (model([helper.make_node("Foo", ["x"], ["y"], domain="com.evil")],
                                                   [vi("x", T.FLOAT, [1, 4])]).SerializeToString(), 1, "No opset import"),
        "unbound_dims.onnx": (model(matmul, [vi("x", T.FLOAT, ["n", "k"])], w4).SerializeToString(), 1, "unbound dims k, n"),
        "huge_declared_dim.onnx": (model(matmul, [vi("x", T.FLOAT, [1 << 62, 4])], w4).SerializeToString(),
                                   1, "the largest dim this tool profiles"),
        "reshape_overflow.onnx": (model([helper.make_node("Reshape", ["x", "s"], ["y"])], [vi("x", T.FLOAT, [1, 4])],
                                        [nh.from_array(np.array([1 << 40, 1 << 40], np.int64), "s")]).SerializeToString(),
                                  1, "larger than any tensor"),
        "expand_beyond_any_tensor.onnx": (model([helper.make_node("Expand", ["x", "s"], ["y"])], [vi("x", T.FLOAT, [1, 4])],
                                                [nh.from_array(np.array([1 << 50, 4], np.int64), "s")]).SerializeToString(),
                                          1, "more than this tool profiles"),
        "conv_group_mismatch.onnx": (model([helper.make_node("Conv", ["x", "w"], ["y"], group=1 << 40)],
                                           [vi("x", T.FLOAT, [1, 3, 8, 8])],
                                           [nh.from_array(np.ones((4, 3, 3, 3), np.float32), "w")]).SerializeToString(),
                                     1, "does not fit 3 input channels"),
        "duplicate_input.onnx": (model(relu, [vi("x", T.FLOAT, [1, 4]), vi("x", T.FLOAT, [1, 4])]).SerializeToString(),
                                 1, "single static assignment"),
        "external_missing.onnx": (external("missing.bin"), 1, "is missing"),
    })
    # raw bytes that are no whole number of int64s (19 for 2): numpy's ValueError inside the shape worker at --batch 8
    # (load/rebatch.py read the constant), found by benchmarks/fuzz.py (issue #35)
    pinned = model([helper.make_node("Reshape", ["x", "s"], ["r"]), helper.make_node("Relu", ["r"], ["y"])],
                   [vi("x", T.FLOAT, [1, 4])], [nh.from_array(np.array([1, 4], np.int64), "s"),
                                                nh.from_array(np.array([1, 4], np.int64), "junk")])
    pinned.graph.initializer[1].raw_data += b"\x00\x01\x02"
    cases["raw_data_not_whole_elements.onnx"] = (pinned.SerializeToString(), 1, "holds 19 bytes of raw data", ["--batch", "8"])
    lines = ['# tests/corpus/build.py writes this; tests/whole/test_fuzz.py checks each file: `nas-analyzer profile FILE ARGS`',
             '# exits with `exit` and its one-line error contains `says`. fuzz_* files are inputs benchmarks/fuzz.py found',
             '# (seeds 11, 12) that once escaped our error hierarchy; they are kept as found (the checker, which now sees',
             '# every graph, refuses some of them earlier than the fix made for each).', ""]
    for name, (data, code, says, *args) in sorted(cases.items()):
        (HERE / name).write_bytes(data)
        lines += [f'["{name}"]', f"exit = {code}", f"says = {says!r}".replace("'", '"')]
        lines += [f"args = {json.dumps(args[0])}", ""] if args else [""]
    for name, (code, says) in sorted(FOUND.items()):
        lines += [f'["{name}"]', f"exit = {code}", f"says = {says!r}".replace("'", '"'), 'args = ["--dim", "batch=2", "--dim", "seq=8"]', ""]
    (HERE / "expected.toml").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
