"""The kernel model: which nodes launch kernels, the fusion patterns per runtime, several kernels per node,
and fused traffic never above the unfused one."""

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from analyzer import profile_onnx
from analyzer.project import project
from analyzer.project.kernels import plan_kernels
from onnx_builders import init, model, vi


def _prof(tmp_path, nodes, inputs, inits=(), name="m.onnx", opset=17, **kw):
    path = tmp_path / name
    outs = [vi(nodes[-1].output[0], None)]
    onnx.save(model(nodes, inputs, outs, list(inits), opset=opset), str(path))
    return profile_onnx(path, per_op=True, scan_sparsity=False, **kw)


def _classes(plan):
    return [k.kclass for k in plan.kernels]


def test_shape_arithmetic_and_views_launch_nothing(tmp_path):
    # x.reshape(x.shape[0], -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape, then a Relu
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["flat"]),
             helper.make_node("Relu", ["flat"], ["y"])]
    inits = [init("zero", np.array(0, np.int64)), init("ax", np.array([0], np.int64)), init("minus1", np.array([-1], np.int64))]
    prof = _prof(tmp_path, nodes, [vi("x", [2, 3, 4])], inits)
    for runtime in ("eager", "graph", "ort"):
        plan = plan_kernels(prof, runtime, "fp32", gpu=True)
        assert [k.op_type for k in plan.kernels] == ["Relu"]  # Gather/Concat on shape values: host-side
        assert plan.host_nodes == 2 and plan.view_nodes == 3  # Gather, Concat; Shape, Unsqueeze and Reshape


def _attention_nodes(scale_on_scores: bool):
    """MatMul(Q, K^T) -> scale -> Softmax -> MatMul(., V), as the TorchScript exporter writes SDPA (scales on
    Q and K) or as hand-written attention does (one scale on the scores)."""
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2])]
    if scale_on_scores:
        nodes += [helper.make_node("MatMul", ["q", "kt"], ["s0"]), helper.make_node("Mul", ["s0", "c"], ["s"])]
    else:
        nodes += [helper.make_node("Mul", ["q", "c"], ["qs"]), helper.make_node("Mul", ["kt", "c"], ["ks"]),
                  helper.make_node("MatMul", ["qs", "ks"], ["s"])]
    nodes += [helper.make_node("Softmax", ["s"], ["p"], axis=-1), helper.make_node("MatMul", ["p", "v"], ["y"])]
    return nodes


@pytest.mark.parametrize("scale_on_scores", [True, False])
def test_attention_is_one_kernel_with_flash_traffic(tmp_path, scale_on_scores):
    b, h, n, d = 2, 4, 128, 64
    inputs = [vi("q", [b, h, n, d]), vi("k", [b, h, n, d]), vi("v", [b, h, n, d])]
    prof = _prof(tmp_path, _attention_nodes(scale_on_scores), inputs, [init("c", np.array(0.35, np.float32))])
    plan = plan_kernels(prof, "eager", "fp16", gpu=True)
    att = [k for k in plan.kernels if k.kclass == "attention"]
    assert len(plan.kernels) == 1 and len(att) == 1  # the transpose of K is a view in eager PyTorch
    assert att[0].bytes == 4.0 * 4 * b * h * n * d  # Q, K, V and the output once, at fp32 size
    unfused = sum(x.bytes for x in prof.per_op if x.op_type != "Transpose")
    assert att[0].bytes < unfused  # the n x n scores never reach memory
    assert att[0].flops == sum(x.flops for x in prof.per_op if x.op_type != "Transpose")
    assert att[0].outputs == b * h * n * d
    ort = plan_kernels(prof, "ort", "fp16", gpu=True)
    assert [k.kclass for k in ort.kernels] == ["layout", "attention"]  # ONNX Runtime materialises the transpose


def test_decomposed_layernorm_gelu_silu_and_linear(tmp_path):
    x = [vi("x", [8, 16, 64])]
    ln = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1]), helper.make_node("Sub", ["x", "m"], ["d"]),
          helper.make_node("Pow", ["d", "two"], ["d2"]), helper.make_node("ReduceMean", ["d2"], ["v"], axes=[-1]),
          helper.make_node("Add", ["v", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
          helper.make_node("Div", ["d", "sd"], ["nrm"]), helper.make_node("Mul", ["nrm", "g"], ["sc"]),
          helper.make_node("Add", ["sc", "bta"], ["ln"])]
    lin = [helper.make_node("MatMul", ["ln", "w"], ["h0"]), helper.make_node("Add", ["h0", "bias"], ["h"])]
    gelu = [helper.make_node("Div", ["h", "sqrt2"], ["g0"]), helper.make_node("Erf", ["g0"], ["g1"]),
            helper.make_node("Add", ["g1", "one"], ["g2"]), helper.make_node("Mul", ["h", "g2"], ["g3"]),
            helper.make_node("Mul", ["g3", "half"], ["ge"])]
    silu = [helper.make_node("MatMul", ["ge", "w2"], ["z"]), helper.make_node("Sigmoid", ["z"], ["sg"]),
            helper.make_node("Mul", ["z", "sg"], ["y"])]
    inits = [init("two", np.array(2.0, np.float32)), init("eps", np.array(1e-5, np.float32)),
             init("g", np.ones(64, np.float32)), init("bta", np.zeros(64, np.float32)), init("w", np.ones((64, 32), np.float32)),
             init("bias", np.zeros(32, np.float32)), init("sqrt2", np.array(1.41421, np.float32)),
             init("one", np.array(1.0, np.float32)), init("half", np.array(0.5, np.float32)),
             init("w2", np.ones((32, 32), np.float32))]
    prof = _prof(tmp_path, ln + lin + gelu + silu, x, inits, opset=17)
    plan = plan_kernels(prof, "eager", "fp32", gpu=True)
    assert _classes(plan) == ["norm", "gemm", "elementwise", "gemm", "elementwise"]
    assert plan.ops == 5 and plan.fused_nodes == 8 + 1 + 4 + 1
    norm, gemm, ge, _, si = plan.kernels
    assert norm.bytes == 4.0 * (8 * 16 * 64 * 2 + 128)  # x and the result once, plus scale and shift
    linear = [n for n in prof.per_op if n.outputs[0] in ("h0", "h")]
    assert gemm.op_type == "MatMul+bias" and gemm.flops == sum(n.flops for n in linear) and gemm.outputs == 8 * 16 * 32
    assert ge.bytes == si.bytes == 4.0 * 2 * 8 * 16 * 32
    assert sum(k.bytes for k in plan.kernels) < sum(n.bytes for n in prof.per_op)
    assert plan_kernels(prof, "eager", "fp32", gpu=True).rules == ("recomposed x3", "linear_bias x1")


def test_separate_elementwise_ops_are_not_fused(tmp_path):
    # relu(x) + x is two PyTorch ops: the set reads x twice but its Relu is a real op, not a decomposition
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "x"], ["y"])]
    prof = _prof(tmp_path, nodes, [vi("x", [4, 1024])])
    plan = plan_kernels(prof, "eager", "fp32", gpu=True)
    assert [k.op_type for k in plan.kernels] == ["Relu", "Add"]  # plain arithmetic: launched as written
    se = [helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Sigmoid", ["p"], ["s"]),
          helper.make_node("Mul", ["x", "s"], ["y"])]  # squeeze-excite gate: x * sigmoid(pool(x)) is 3 kernels
    prof = _prof(tmp_path, se, [vi("x", [2, 8, 16, 16])], name="se.onnx")
    assert len(plan_kernels(prof, "eager", "fp32", gpu=True).kernels) == 3


def _conv_model(tmp_path, k, bias, group=1, cin=16, name="c.onnx"):
    ins = ["x", "w"] + (["b"] if bias else [])
    inits = [init("w", np.ones((16, cin // group, k, k), np.float32))] + ([init("b", np.zeros(16, np.float32))] if bias else [])
    nodes = [helper.make_node("Conv", ins, ["c"], pads=[k // 2] * 4, group=group),
             helper.make_node("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["n"]),
             helper.make_node("Relu", ["n"], ["y"])]
    inits += [init(n, np.ones(16, np.float32)) for n in ("s", "bb", "mu", "var")]
    return _prof(tmp_path, nodes, [vi("x", [8, cin, 32, 32])], inits, name=name)


def test_convolution_kernels_per_runtime(tmp_path):
    dense = _conv_model(tmp_path, 3, bias=True)
    eager = plan_kernels(dense, "eager", "fp32", gpu=True)
    assert [k.op_type for k in eager.kernels] == ["layout:NCHW->NHWC", "layout:weights->NHWC", "Conv", "layout:NHWC->NCHW",
                                                  "bias add", "BatchNormalization", "Relu"]
    assert eager.ops == 3 and [k.host for k in eager.kernels][:5] == ["conv", "", "", "", ""]
    half = plan_kernels(dense, "eager", "fp16", gpu=True)
    assert [k.kclass for k in half.kernels][5:] == ["aux", "aux", "bn", "elementwise"]  # PyTorch's half BN: 3 kernels
    cpu = plan_kernels(dense, "eager", "fp32", gpu=False)
    assert [k.op_type for k in cpu.kernels] == ["Conv", "bias add", "BatchNormalization", "Relu"]
    ort = plan_kernels(dense, "ort", "fp32", gpu=True)
    assert [k.kclass for k in ort.kernels] == ["layout", "layout", "conv", "layout"] and ort.fused_nodes == 2  # BN folded, Relu fused
    pw = plan_kernels(_conv_model(tmp_path, 1, bias=False, name="p.onnx"), "eager", "fp32", gpu=True)
    assert [k.kclass for k in pw.kernels] == ["conv1x1", "bn", "elementwise"]
    dw = plan_kernels(_conv_model(tmp_path, 3, bias=False, group=16, name="d.onnx"), "eager", "fp32", gpu=True)
    assert [k.kclass for k in dw.kernels] == ["depthwise", "bn", "elementwise"]


def test_shipped_kernel_counts_match_measured(shipped):
    """Kernels per eager forward measured on an H100 (torch.profiler, profiles/measurements/h100-sxm-2026-11-27)."""
    measured = {("mobilenet_v3_large", "fp16"): 296, ("mobilenet_v3_large", "fp32"): 204, ("resnet50", "fp32"): 225,
                ("mnasnet1_0", "fp16"): 260, ("mobilenet_v2", "fp32"): 155, ("deit_tiny", "fp16"): 127}
    for (name, dtype), n in measured.items():
        prof = profile_onnx(shipped[name], per_op=True, scan_sparsity=False)
        k = len(plan_kernels(prof, "eager", dtype, gpu=True).kernels)
        assert abs(k / n - 1) <= 0.15, (name, dtype, k, n)
    prof = profile_onnx(shipped["mobilenet_v3_large"], per_op=True, scan_sparsity=False)
    assert len(plan_kernels(prof, "eager", "fp16", gpu=True).kernels) == 296


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 4), h=st.integers(1, 8), n=st.integers(2, 300), d=st.sampled_from([16, 32, 64, 128]),
       scale_on_scores=st.booleans())
def test_fused_traffic_never_exceeds_unfused(tmp_path_factory, b, h, n, d, scale_on_scores):
    tmp = tmp_path_factory.mktemp("att")
    inputs = [vi("q", [b, h, n, d]), vi("k", [b, h, n, d]), vi("v", [b, h, n, d])]
    prof = _prof(tmp, _attention_nodes(scale_on_scores), inputs, [init("c", np.array(0.35, np.float32))])
    for runtime in ("eager", "ort"):
        plan = plan_kernels(prof, runtime, "fp32", gpu=True)
        assert sum(k.bytes for k in plan.kernels) <= sum(x.bytes for x in prof.per_op)
        assert sum(k.flops for k in plan.kernels) == sum(x.flops for x in prof.per_op)


def _slices_model(tmp_path, ends, name):
    """q, k, v = qkv.unbind(0) as the dynamo exporter writes it: Slices of one tensor along axis 0, each squeezed,
    then summed so every piece is used."""
    nodes, pieces = [], []
    for i, (a, b) in enumerate(ends):
        nodes.append(helper.make_node("Slice", ["x", f"s{i}", f"e{i}", "ax"], [f"p{i}"]))
        nodes.append(helper.make_node("Squeeze", [f"p{i}", "ax"], [f"q{i}"]))
        pieces.append(f"q{i}")
    acc = pieces[0]
    for i, p in enumerate(pieces[1:]):
        nodes.append(helper.make_node("Add", [acc, p], [f"sum{i}"]))
        acc = f"sum{i}"
    inits = [init("ax", np.array([0], np.int64))]
    inits += [init(f"s{i}", np.array([a], np.int64)) for i, (a, _) in enumerate(ends)]
    inits += [init(f"e{i}", np.array([b], np.int64)) for i, (_, b) in enumerate(ends)]
    return _prof(tmp_path, nodes, [vi("x", [3, 8, 64])], inits, name=name)


def test_ort_runs_slices_that_cut_a_tensor_whole_as_one_split(tmp_path):
    whole = _slices_model(tmp_path, [(0, 1), (1, 2), (2, 3)], "whole.onnx")
    ort = plan_kernels(whole, "ort", "fp32", gpu=True)
    splits = [k for k in ort.kernels if k.op_type == "Split"]
    assert len(splits) == 1 and splits[0].bytes == 2 * 4 * 3 * 8 * 64  # the tensor read once, its pieces written once
    assert "split x1" in ort.rules and not any(k.op_type == "Slice" for k in ort.kernels)
    assert not any(k.op_type in ("Slice", "Split") for k in plan_kernels(whole, "eager", "fp32", gpu=True).kernels)  # views
    part = _slices_model(tmp_path, [(0, 1), (1, 2)], "part.onnx")  # two of three pieces: ORT's fusion does not apply
    assert [k.op_type for k in plan_kernels(part, "ort", "fp32", gpu=True).kernels].count("Slice") == 2


def test_plain_arithmetic_is_launched_as_written(tmp_path):
    """NAS-Bench-201's `none` edge (x * 0) added to a skip edge (x): the network's own arithmetic, two kernels in
    eager PyTorch, a CUDA graph and ONNX Runtime alike; SiLU written out (x * sigmoid(x)) stays one kernel."""
    zero = [helper.make_node("Mul", ["x", "zero"], ["z"]), helper.make_node("Add", ["x", "z"], ["y"])]
    prof = _prof(tmp_path, zero, [vi("x", [8, 16, 32, 32])], [init("zero", np.array(0.0, np.float32))])
    for runtime in ("eager", "graph", "ort"):
        assert [k.op_type for k in plan_kernels(prof, runtime, "fp32", gpu=True).kernels] == ["Mul", "Add"], runtime
    silu = [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["y"])]
    prof = _prof(tmp_path, silu, [vi("x", [8, 16, 32, 32])], name="silu.onnx")
    assert len(plan_kernels(prof, "eager", "fp32", gpu=True).kernels) == 1


@pytest.mark.parametrize("channels, stride, eligible", [(64, 1, True), (64, 2, False), (16, 1, False)])
def test_winograd_where_cudnn_picks_it(tmp_path, channels, stride, eligible):
    """A 3x3 stride-1 convolution with enough channels, on the FP32 FMA units, is cuDNN's Winograd F(2x2,3x3): 16
    multiplies per 2x2 output tile for the direct convolution's 36 (Lavin & Gray 2016); tensor-core paths stay direct."""
    from analyzer.profiles import load_profiles, projection_defaults
    from analyzer.project import kernel_times, resolve_params

    w = init("w", np.ones((channels, channels, 3, 3), np.float32))
    conv = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], strides=[stride, stride])]
    prof = _prof(tmp_path, conv, [vi("x", [8, channels, 32, 32])], [w])
    plan = plan_kernels(prof, "eager", "fp32", gpu=True)
    main = next(k for k in plan.kernels if k.kclass == "conv")
    assert main.flops == prof.per_op[0].flops and main.winograd == eligible
    assert not any(k.winograd for k in plan_kernels(prof, "eager", "fp32", gpu=False).kernels)  # no cuDNN
    ps, d = load_profiles(), projection_defaults()
    t4, a100 = ps.get("hardware", "t4"), ps.get("hardware", "a100-80gb")
    for hw, dtype, used in ((t4, "fp32", eligible), (t4, "fp16", False), (a100, "fp32", False)):  # a100 fp32: TF32
        params = resolve_params(hw, dtype, "eager", d)
        t = next(x for x in kernel_times(plan, params) if x.kernel.kclass == "conv")
        c = params.classes["conv"]
        direct = (main.flops + 2 * c.kdepth * main.outputs) / c.rate_flops_per_s * (1 + c.fill / main.outputs)
        wino = (main.flops * 16 / 36 + 2 * c.kdepth * main.outputs) / c.rate_flops_per_s * (1 + c.fill / main.outputs)
        assert t.compute_s == pytest.approx(wino if used else direct), (hw.name, dtype)
        p = project(prof, hw, params, "eager", dtype, per_kernel=True)
        assert any("Winograd" in n for n in p.notes) == used, (hw.name, dtype)
        assert any(r["kernel"] == "Conv:winograd" for r in p.per_kernel) == used
