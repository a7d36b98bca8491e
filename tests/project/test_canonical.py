"""Two spellings of one network give one plan (issue #25): each canonicalisation on a small graph built both ways,
checked on the counts and the kernel plan the two give."""

import numpy as np
import pytest
from onnx import TensorProto, helper

from analyzer import load_profiles
from analyzer.profiles import projection_defaults
from analyzer.project import project, resolve_params
from analyzer.project.canonical import as_run, folded_batch_norms
from analyzer.project.kernels import plan_kernels
from onnx_builders import init, model, profile_model, vi

HW = load_profiles().get("hardware", "h100")


def _energy(prof, runtime="graph", dtype="fp16", **kw):
    return project(prof, HW, resolve_params(HW, dtype, runtime, projection_defaults()), runtime, dtype, **kw).energy_j_per_item


def _cnn(bn: bool, pinned: bool):
    """conv-[bn]-relu-pool-flatten-gemm at batch 1; `pinned` flattens with Reshape([1, 16]) as a static export does,
    else with Flatten; without `bn` the convolution carries the folded norm's bias."""
    rng = np.random.default_rng(0)
    inits = [init("w", rng.standard_normal((16, 3, 3, 3)).astype(np.float32)),
             init("fc", rng.standard_normal((10, 16)).astype(np.float32))]
    conv_in = ["x", "w"] if bn else ["x", "w", "b"]
    nodes = [helper.make_node("Conv", conv_in, ["c"], pads=[1, 1, 1, 1])]
    if bn:
        nodes.append(helper.make_node("BatchNormalization", ["c", "s", "t", "m", "v"], ["n"]))
        inits += [init(k, np.full(16, 1.0 + i * 0.1, np.float32)) for i, k in enumerate("stmv")]
    else:
        inits.append(init("b", rng.standard_normal(16).astype(np.float32)))
    nodes += [helper.make_node("Relu", ["n" if bn else "c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["p"])]
    if pinned:
        inits.append(init("shape", np.array([1, 16], np.int64)))
        nodes.append(helper.make_node("Reshape", ["p", "shape"], ["f"]))
    else:
        nodes.append(helper.make_node("Flatten", ["p"], ["f"]))
    nodes.append(helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1))
    return model(nodes, [vi("x", [1, 3, 32, 32])], [vi("y", [1, 10])], inits)


def test_a_constant_that_pins_the_batch_is_rewritten_to_follow_it(tmp_path):
    flat = profile_model(_cnn(True, False), tmp_path, "flat.onnx", batch=8, per_op=True)
    pinned = profile_model(_cnn(True, True), tmp_path, "pinned.onnx", batch=8, per_op=True)
    assert pinned.shape_scale == 1 and any("rewritten to follow the batch" in n for n in pinned.notes)
    assert (pinned.macs, pinned.flops, pinned.bytes_moved) == (flat.macs, flat.flops, flat.bytes_moved)
    gemm = next(n for n in pinned.per_op if n.op_type == "Gemm")
    assert gemm.input_shapes[0] == [8, 16]  # shapes of the whole batch, not of one item
    assert _energy(pinned) == pytest.approx(_energy(flat), rel=1e-12)


def test_batch_norms_an_export_folded_are_unfolded_where_pytorch_runs(tmp_path):
    kept = profile_model(_cnn(True, False), tmp_path, "kept.onnx", batch=64, per_op=True)
    folded = profile_model(_cnn(False, False), tmp_path, "folded.onnx", batch=64, per_op=True)
    assert folded_batch_norms(folded.per_op) == [0] and folded_batch_norms(kept.per_op) == []
    unfolded, notes = as_run(folded, "graph")
    assert [n.op_type for n in unfolded.per_op] == [n.op_type for n in kept.per_op] and "folded their batch norms" in notes[0]
    for runtime, dtype in (("graph", "fp16"), ("eager", "fp32"), ("ort", "fp16")):
        assert _energy(folded, runtime, dtype) == pytest.approx(_energy(kept, runtime, dtype), rel=1e-3), runtime
    # ONNX Runtime folds them itself: the folded graph is what it runs, unchanged
    assert as_run(folded, "ort")[1] == []
    assert _energy(folded, batch_norm="as-exported") < 0.95 * _energy(kept)
    # a 1 x 1 output (squeeze-and-excitation, a classifier as a convolution) never had a norm
    se = model([helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Conv", ["p", "w", "b"], ["y"])],
               [vi("x", [1, 8, 16, 16])], [vi("y", None)],
               [init("w", np.ones((4, 8, 1, 1), np.float32)), init("b", np.ones(4, np.float32))])
    assert folded_batch_norms(profile_model(se, tmp_path, "se.onnx", per_op=True).per_op) == []


def test_a_zero_bias_computed_in_the_graph_is_no_bias(tmp_path):
    """torch.onnx's dynamo exporter without its optimizer writes a bias-free convolution with a zero bias built at
    run time: Expand(CastLike(0, x), Shape(W)[0:1]); a stored bias of zeros stays an add."""
    w = init("w", np.ones((16, 3, 3, 3), np.float32))
    plain = model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], [vi("x", [1, 3, 32, 32])], [vi("y", None)], [w])
    nodes = [helper.make_node("Shape", ["w"], ["ws"], start=0, end=1),
             helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("z", TensorProto.FLOAT, [], [0.0])),
             helper.make_node("CastLike", ["zero", "x"], ["zero_like"]),
             helper.make_node("Expand", ["zero_like", "ws"], ["b"]),
             helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])]
    raw = model(nodes, [vi("x", [1, 3, 32, 32])], [vi("y", None)], [w])
    stored = model([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])], [vi("x", [1, 3, 32, 32])],
                   [vi("y", None)], [w, init("b", np.zeros(16, np.float32))])
    p, r, s = (profile_model(m, tmp_path, f"{k}.onnx", batch=4, per_op=True) for k, m in (("p", plain), ("r", raw), ("s", stored)))
    assert r.flops == p.flops < s.flops  # a stored zero bias is still an add
    for runtime in ("graph", "eager", "ort"):
        assert [k.op_type for k in plan_kernels(r, runtime, "fp16", True).kernels] == \
            [k.op_type for k in plan_kernels(p, runtime, "fp16", True).kernels]
    assert "bias add" in [k.op_type for k in plan_kernels(s, "eager", "fp16", True).kernels]


def test_a_weight_computed_from_weights_is_read_once_per_forward(tmp_path):
    """A tied LM head written as MatMul(x, Transpose(E)) moves the bytes of MatMul(x, E^T) stored: E^T is a
    constant the runtime folds at load, so its bytes are weights, not per-item activations."""
    e = np.random.default_rng(0).standard_normal((50, 32)).astype(np.float32)
    stored = model([helper.make_node("MatMul", ["x", "et"], ["y"])], [vi("x", [1, 8, 32])], [vi("y", None)], [init("et", e.T.copy())])
    tied = model([helper.make_node("Transpose", ["e"], ["et"], perm=[1, 0]), helper.make_node("MatMul", ["x", "et"], ["y"])],
                 [vi("x", [1, 8, 32])], [vi("y", None)], [init("e", e)])
    s, t = (profile_model(m, tmp_path, f"{k}.onnx", batch=16, per_op=True) for k, m in (("s", stored), ("t", tied)))
    mm_s, mm_t = (next(n for n in p.per_op if n.op_type == "MatMul") for p in (s, t))
    assert mm_t.weight_bytes == mm_s.weight_bytes == e.nbytes and mm_t.bytes == mm_s.bytes and mm_t.initializer_inputs[1]
    assert _energy(t) == pytest.approx(_energy(s), rel=1e-12)


def test_a_reduce_mean_over_the_spatial_axes_trains_as_global_pooling(tmp_path):
    """opset 18 passes ReduceMean's axes as an int64 input: that is no fp32 parameter, so under autocast the mean
    runs in its input's 16-bit type, as GlobalAveragePool does, and casts nothing after it."""
    from analyzer.project.training_kernels import autocast_activations

    def squeeze(op):
        nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1])]
        if op == "gap":
            nodes.append(helper.make_node("GlobalAveragePool", ["c"], ["p"], name="pool"))
        else:
            nodes.append(helper.make_node("ReduceMean", ["c", "axes"], ["p"], keepdims=1, name="pool"))
        nodes.append(helper.make_node("Mul", ["c", "p"], ["y"], name="gate"))
        inits = [init("w", np.ones((8, 8, 3, 3), np.float32)), init("axes", np.array([2, 3], np.int64))]
        return model(nodes, [vi("x", [1, 8, 16, 16])], [vi("y", None)], inits if op != "gap" else inits[:1], opset=18)

    casts = {}
    for op in ("gap", "mean"):
        prof = profile_model(squeeze(op), tmp_path, f"{op}.onnx", batch=32, per_op=True)
        casts[op] = autocast_activations(prof)
    assert casts["mean"]["pool"] == casts["gap"]["pool"] == (False, [])  # in 16 bits, nothing cast
    assert casts["mean"]["gate"] == casts["gap"]["gate"] == (False, [])


def _cells(biased: int, normed: int, bn_after_add: bool, batch: int = 8):
    """`biased` convolutions with a bias into a Relu (their norms folded), `normed` bias-free ones each into a
    BatchNormalization and a Relu, all summed; with `bn_after_add` a norm after the sum (one no export can fold)."""
    rng = np.random.default_rng(0)
    nodes, inits, outs = [], [], []
    for i in range(biased + normed):
        w = f"w{i}"
        inits.append(init(w, rng.standard_normal((8, 8, 3, 3)).astype(np.float32)))
        if i < biased:
            inits.append(init(f"b{i}", rng.standard_normal(8).astype(np.float32)))
            nodes += [helper.make_node("Conv", ["x", w, f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                      helper.make_node("Relu", [f"c{i}"], [f"o{i}"])]
        else:
            names = [f"{k}{i}" for k in "stmv"]
            inits += [init(k, np.full(8, 1.0, np.float32)) for k in names]
            nodes += [helper.make_node("Conv", ["x", w], [f"c{i}"], pads=[1, 1, 1, 1]),
                      helper.make_node("BatchNormalization", [f"c{i}", *names], [f"n{i}"]),
                      helper.make_node("Relu", [f"n{i}"], [f"o{i}"])]
        outs.append(f"o{i}")
    acc = outs[0]
    for i, o in enumerate(outs[1:]):
        nodes.append(helper.make_node("Add", [acc, o], [f"sum{i}"]))
        acc = f"sum{i}"
    if bn_after_add:
        inits += [init(k, np.full(8, 1.0, np.float32)) for k in ("as", "at", "am", "av")]
        nodes.append(helper.make_node("BatchNormalization", [acc, "as", "at", "am", "av"], ["y"]))
    else:
        nodes.append(helper.make_node("Relu", [acc], ["y"]))
    return model(nodes, [vi("x", [batch, 8, 16, 16])], [vi("y", None)], inits)


def test_batch_norms_folded_in_part_are_restored_where_they_were_folded(tmp_path):
    """NAS-Bench-201's export keeps the norm after an add and folds the others: those are restored."""
    prof = profile_model(_cells(3, 0, True), tmp_path, "part.onnx", per_op=True)
    convs = [i for i, n in enumerate(prof.per_op) if n.op_type == "Conv"]
    assert folded_batch_norms(prof.per_op) == convs
    run, notes = as_run(prof, "eager")
    assert [n.op_type for n in run.per_op].count("BatchNormalization") == 4 and "beside batch norms the export kept" in notes[0]
    assert as_run(prof, "ort") == (prof, [])  # ONNX Runtime folds them itself
    # the same network exported with every norm kept projects alike once restored
    kept = profile_model(_cells(0, 3, True), tmp_path, "kept.onnx", per_op=True)
    assert _energy(prof, "eager", "fp32") == pytest.approx(_energy(kept, "eager", "fp32"), rel=0.02)


def test_a_few_biased_convolutions_beside_normed_ones_keep_their_bias(tmp_path):
    prof = profile_model(_cells(1, 3, False), tmp_path, "head.onnx", per_op=True)
    assert folded_batch_norms(prof.per_op) == [] and as_run(prof, "eager")[1] == []


def test_norms_an_untrained_export_erased_are_said_and_can_be_stated(tmp_path):
    """A fresh norm folds into a zero bias, which the dynamo exporter's optimizer drops: bias-free convolutions and
    no normalisation. The projection says so; batch_norm 'present' states the norms."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w0"], ["c0"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("Conv", ["r0", "w1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["y"])]
    inits = [init(f"w{i}", rng.standard_normal((8, 8, 3, 3)).astype(np.float32)) for i in range(2)]
    prof = profile_model(model(nodes, [vi("x", [8, 8, 16, 16])], [vi("y", None)], inits), tmp_path, "erased.onnx", per_op=True)
    run, notes = as_run(prof, "eager")
    assert [n.op_type for n in run.per_op] == [n.op_type for n in prof.per_op]
    assert len(notes) == 1 and "2 convolutions over feature maps carry no bias" in notes[0] and "'present'" in notes[0]
    stated, said = as_run(prof, "eager", "present")
    assert [n.op_type for n in stated.per_op] == ["Conv", "BatchNormalization", "Relu", "Conv", "BatchNormalization", "Relu"]
    assert "'present'" in said[0]
    bn = next(n for n in stated.per_op if n.op_type == "BatchNormalization")
    assert bn.flops == 2 * 8 * 8 * 16 * 16  # inference form: a scale and a shift per element
    conv = next(n for n in stated.per_op if n.op_type == "Conv")
    assert conv.flops == prof.per_op[0].flops  # no bias to take out
    assert _energy(prof, "eager", "fp32", batch_norm="present") > _energy(prof, "eager", "fp32")
