"""Training steps projected on the inference kernel model (issue #18): the backward and optimizer kernels
counted by hand on a small network, and the held-out H100 training measurements (never fitted on)."""

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from analyzer import profile_onnx
from analyzer.profiles import load_profiles, projection_defaults
from analyzer.project import resolve_params
from analyzer.project.training import StepForm, project_training
from analyzer.project.training_kernels import parameter_tensors, training_plan
from cli_helpers import cli
from onnx_builders import init, model, vi

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """x[64, 256] -> Gemm(256x512, bias) -> Relu -> Gemm(512x10, bias)."""
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1)]
    inits = [init("w1", np.ones((512, 256), np.float32)), init("b1", np.ones(512, np.float32)),
             init("w2", np.ones((10, 512), np.float32)), init("b2", np.ones(10, np.float32))]
    path = tmp_path_factory.mktemp("mlp") / "mlp.onnx"
    onnx.save(model(nodes, [vi("x", [64, 256])], [vi("y", None)], inits), str(path))
    return profile_onnx(path, per_op=True)


def test_backward_and_optimizer_kernels_as_counted_by_hand(mlp):
    plan, n_fwd, n_bwd, n_opt, tensors = training_plan(mlp, "fp32", "sgd-momentum", gpu=True, bytes_scale=1.0)
    fwd = plan.kernels[:n_fwd]
    bwd = plan.kernels[n_fwd:n_fwd + n_bwd]
    assert tensors == 4 and n_opt == 3  # w1, b1, w2, b2; 3 foreach passes in one launch each
    gemms = [k for k in fwd if k.kclass == "gemm"]
    assert len(gemms) == 2
    # reverse order: Gemm2 dgrad + wgrad, Relu's gradient, Gemm1 wgrad only (its input is the model's)
    assert [k.op_type.split(":")[-1] for k in bwd] == ["dgrad", "wgrad", "grad", "wgrad"]
    assert bwd[0].flops == bwd[1].flops == gemms[1].flops and bwd[3].flops == gemms[0].flops
    opt = plan.kernels[n_fwd + n_bwd:]
    params = 512 * 256 + 512 + 10 * 512 + 10
    assert mlp.params == params
    assert sum(k.bytes for k in opt) == pytest.approx(24 * params)  # SGD momentum: read w, g, m; write w, m
    adam = training_plan(mlp, "fp32", "adam", gpu=True, bytes_scale=1.0)[0].kernels[-7:]
    assert sum(k.bytes for k in adam) == pytest.approx(3 * 24 * params)  # 72 bytes a parameter
    half, n_fwd16, n_bwd16, _, _ = training_plan(mlp, "bf16", "sgd-momentum", gpu=True, bytes_scale=0.5)
    casts = [k for k in half.kernels if k.op_type.startswith("cast:weight") or k.op_type.startswith("cast:grad")]
    assert len(casts) == 2 * tensors  # a weight cast per tensor forward, a gradient cast back
    assert [k.op_type for k in half.kernels].count("cast:activation") == 1  # the fp32 input x, cast once
    # fp32 bytes stay fp32 after the projection's 16-bit scaling: 6 bytes a parameter each way
    assert sum(k.bytes for k in casts) * 0.5 == pytest.approx(12 * params)


def test_parameters_and_autocast_casts_of_resnet18():
    """torchvision's ResNet-18 has 11,689,512 parameters in 62 tensors: 20 convolution weights, the classifier's
    weight and bias, and 20 batch norms' scale and shift (their running statistics are buffers). Autocast casts
    only the 22 convolution and linear tensors; a batch norm keeps its fp32 parameters."""
    prof = profile_onnx(ROOT / "models" / "resnet18.onnx", batch=8, per_op=True)
    params, cast = parameter_tensors(prof)
    assert len(params) == 62 and sum(params) == prof.params == 11_689_512
    assert len(cast) == 22 and sum(cast) == 11_689_512 - 2 * 4800  # 4,800 channels of batch norm, 2 tensors each
    plan = training_plan(prof, "bf16", "sgd-momentum", gpu=True, bytes_scale=0.5)[0]
    assert sum(k.op_type == "cast:weight->16" for k in plan.kernels) == sum(k.op_type == "cast:grad->32" for k in plan.kernels) == 22


def test_batch_norm_runs_where_pytorch_dispatches_it():
    """PyTorch's `_select_batch_norm_backend`: bf16 input -> its own kernels (statistics, update, normalise;
    one fused backward), the statistics and backward with one 512-thread block per channel; fp32, and fp16
    under autocast (fp32 weights) -> cuDNN (one forward kernel, a reduction and an elementwise backward)."""
    from analyzer.project.training_kernels import batch_norm_backend

    assert [batch_norm_backend(p) for p in ("fp32", "fp16", "bf16")] == ["cudnn", "cudnn", "native"]
    prof = profile_onnx(ROOT / "models" / "resnet18.onnx", batch=8, per_op=True)
    bn = next(n for n in prof.per_op if n.op_type == "BatchNormalization")
    channels, elements = bn.output_shapes[0][1], math.prod(bn.output_shapes[0])
    for precision in ("fp32", "fp16", "bf16"):
        plan, n_fwd, n_bwd, _, _ = training_plan(prof, precision, "sgd-momentum", gpu=True, bytes_scale=1.0)
        mine = [(i < n_fwd, k) for i, k in enumerate(plan.kernels) if k.op == bn.name]
        kinds = [(fwd, k.op_type) for fwd, k in mine]
        if precision == "bf16":
            assert kinds == [(True, "bn:stats"), (True, "bn:update-invstd"), (True, "bn:transform"), (False, "bn:backward")]
            stats, back = mine[0][1], mine[3][1]
            assert stats.grid_threads == back.grid_threads == channels * 512
            assert stats.bytes == 4 * elements and back.bytes == 20 * elements  # x read; x, dy read twice, dx written
        else:
            assert kinds == [(True, "BatchNormalization"), (False, "BatchNormalization:grad-reduce"),
                             (False, "BatchNormalization:grad")]
            assert all(k.grid_threads == 0 for _, k in mine)


def test_autograd_backward_of_binary_operators(tmp_path):
    """a = Relu(x[2,8,4,4]); g = GlobalAveragePool(a) [2,8,1,1]; m = Mul(a, g); s = Add(m, a); y = Sub(s, a).
    Backward, as derivatives.yaml and autograd's sum_to_size run it: Sub negates its second operand's gradient
    (read and write 256 elements), Add passes its gradient on (no kernel), Mul computes each operand's gradient
    at full size (dy x g, dy x a) and sums g's over the pixels it was broadcast to."""
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu"), helper.make_node("GlobalAveragePool", ["a"], ["g"], name="gap"),
             helper.make_node("Mul", ["a", "g"], ["m"], name="mul"), helper.make_node("Add", ["m", "a"], ["s"], name="add"),
             helper.make_node("Sub", ["s", "a"], ["y"], name="sub")]
    path = tmp_path / "binary.onnx"
    onnx.save(model(nodes, [vi("x", [2, 8, 4, 4])], [vi("y", None)], []), str(path))
    prof = profile_onnx(path, per_op=True)
    plan, n_fwd, n_bwd, _, _ = training_plan(prof, "fp32", "sgd", gpu=True, bytes_scale=1.0)
    back = {}
    for k in plan.kernels[n_fwd:n_fwd + n_bwd]:
        back.setdefault(k.op, []).append((k.op_type, k.kclass, k.bytes))
    e, g = 256, 16
    assert back["sub"] == [("Sub:grad1", "elementwise", 8 * e)]
    assert "add" not in back
    assert back["mul"] == [("Mul:grad0", "elementwise", 4 * (2 * e + g)), ("Mul:grad1", "elementwise", 4 * (3 * e)),
                           ("Mul:grad1-reduce", "reduce", 4 * (e + g))]


def test_autocast_casts_activations_and_runs_its_fp32_list_in_fp32(tmp_path):
    """x[4,8] (fp32 input) -> MatMul(W1) -> Add(b1, 1-D: the linear's bias) -> LayerNormalization -> Add(.., the
    linear's output) -> MatMul(W2). Under autocast: the first MatMul casts x to 16 bits; the bias stays inside
    it (16-bit); layer_norm is on the fp32 list, so its input is cast up and it runs in fp32; the residual Add
    promotes to fp32 (one operand fp32); the second MatMul casts its input down. Each cast of an activation
    that needs a gradient casts the gradient back in the backward; the graph's input needs none."""
    from analyzer.project.training_kernels import autocast_activations

    nodes = [helper.make_node("MatMul", ["x", "w1"], ["m1"], name="m1"), helper.make_node("Add", ["m1", "b1"], ["a1"], name="a1"),
             helper.make_node("LayerNormalization", ["a1", "g", "b"], ["ln"], name="ln", axis=-1),
             helper.make_node("Add", ["ln", "a1"], ["r"], name="r"), helper.make_node("MatMul", ["r", "w2"], ["y"], name="m2")]
    inits = [init("w1", np.ones((8, 8), np.float32)), init("b1", np.ones(8, np.float32)), init("g", np.ones(8, np.float32)),
             init("b", np.zeros(8, np.float32)), init("w2", np.ones((8, 8), np.float32))]
    path = tmp_path / "block.onnx"
    onnx.save(model(nodes, [vi("x", [4, 8])], [vi("y", None)], inits), str(path))
    prof = profile_onnx(path, per_op=True)
    assert autocast_activations(prof) == {"m1": (False, [(32, False)]), "a1": (False, []), "ln": (True, [(32, True)]),
                                          "r": (True, []), "m2": (False, [(32, True)])}
    plan, n_fwd, n_bwd, _, _ = training_plan(prof, "bf16", "sgd", gpu=True, bytes_scale=0.5)
    fwd, bwd = plan.kernels[:n_fwd], plan.kernels[n_fwd:n_fwd + n_bwd]
    assert sum(k.op_type == "cast:activation" for k in fwd) == 3
    assert sum(k.op_type == "cast:activation-grad" for k in bwd) == 2
    # the fp32 operators move 4-byte elements: their stated bytes are doubled against the projection's 0.5
    ln16 = next(k for k in training_plan(prof, "fp32", "sgd", gpu=True, bytes_scale=1.0)[0].kernels if k.op == "ln")
    assert next(k for k in fwd if k.op == "ln" and k.kclass == "norm").bytes == 2 * ln16.bytes
    assert training_plan(prof, "fp32", "sgd", gpu=True, bytes_scale=1.0)[0].kernels[0].op_type != "cast:activation"


def test_pytorchs_depthwise_backward():
    """fp32 and bf16 depthwise convolutions run PyTorch's conv_depthwise2d kernels: the input's gradient at the
    forward's cost, the weights' gradient at twice its loads (an input and a gradient element per output element
    and tap) in channels x taps blocks of min(32 x batch, 256) threads; fp16 runs cuDNN's."""
    from analyzer.project.training_kernels import depthwise_backend

    assert [depthwise_backend(p) for p in ("fp32", "bf16", "fp16")] == ["native", "native", "cudnn"]
    prof = profile_onnx(ROOT / "models" / "mobilenet_v2.onnx", batch=4, per_op=True)
    dw = next(n for n in prof.per_op if n.op_class == "depthwise_conv")
    channels = dw.input_shapes[1][0]
    for precision in ("fp32", "bf16", "fp16"):
        plan, n_fwd, _, _, _ = training_plan(prof, precision, "sgd", gpu=True, bytes_scale=1.0)
        fwd = next(k for k in plan.kernels[:n_fwd] if k.op == dw.name)
        dgrad, wgrad = (next(k for k in plan.kernels[n_fwd:] if k.op == dw.name and k.op_type.endswith(s))
                        for s in (":dgrad", ":wgrad"))
        assert (dgrad.flops, dgrad.bytes, dgrad.grid_threads) == (fwd.flops, fwd.bytes, 0)
        if precision == "fp16":
            assert (wgrad.flops, wgrad.bytes, wgrad.grid_threads) == (fwd.flops, fwd.bytes, 0)
        else:
            assert (wgrad.flops, wgrad.bytes, wgrad.grid_threads) == (2 * fwd.flops, 2 * fwd.bytes, channels * 9 * 128)


def test_a_grid_smaller_than_the_chip_runs_at_its_share():
    """A kernel of 64 blocks x 512 threads on an H100 (132 SMs x 2,048 resident threads) occupies 32,768 of
    270,336 thread slots: its busy time is 270,336 / 32,768 = 8.25x that of the same work on a full grid."""
    from analyzer.project.kernels import Kernel, KernelPlan
    from analyzer.project import KernelArrays, kernel_arrays_times

    hw = load_profiles().get("hardware", "h100")
    params = resolve_params(hw, "bf16", "eager", projection_defaults())
    assert params.resident_threads == 132 * 2048
    k = Kernel("bn", "bn:stats", "bn", 2e6, 4e6, "norm")
    plan = KernelPlan("eager", (k, replace(k, grid_threads=64 * 512)), 0, 0, 0, 0)
    t, _, _, energy = kernel_arrays_times(KernelArrays(plan), params)
    t0 = params.classes["bn"].t0_s
    assert (t[1] - t0) / (t[0] - t0) == pytest.approx(132 * 2048 / (64 * 512))
    assert energy[0] == energy[1]  # the same bytes and FLOPs: the extra time is paid in static power
    full = replace(k, grid_threads=1e9)
    assert kernel_arrays_times(KernelArrays(KernelPlan("eager", (full,), 0, 0, 0, 0)), params)[0][0] == pytest.approx(t[0])


def test_training_costs_more_than_inference_and_adam_more_than_sgd(mlp):
    hw = load_profiles().get("hardware", "h100")
    for precision in ("fp32", "bf16"):
        params = resolve_params(hw, precision, "eager", projection_defaults())
        sgd = project_training(mlp, params, precision, "sgd-momentum", True)
        adam = project_training(mlp, params, precision, "adam", True)
        assert adam.energy_j_per_sample > sgd.energy_j_per_sample > 0 and adam.step_s > sgd.step_s
    with pytest.raises(Exception, match="expected one of"):
        project_training(mlp, params, "bf16", "lion", True)


def _rank(x):
    return np.argsort(np.argsort(x))


def test_held_out_h100_training_steps():
    """Five architectures x fp32/bf16 autocast x batch 64/256, SGD with momentum, eager PyTorch, NVML energy
    (profiles/measurements/h100-sxm-2026-11-27/train.csv; never fitted on). The issue asks a median |error|
    <= 30% and a rank correlation >= 0.9: 10.6% and 0.929 (20% and 0.87 before batch norm, depthwise
    convolutions and binary operators' gradients ran as PyTorch runs them)."""
    hw = load_profiles().get("hardware", "h100-sxm-calibrated")
    rows = list(csv.DictReader(open(ROOT / "profiles/measurements/h100-sxm-2026-11-27/train.csv")))
    pred, meas = [], []
    for r in rows:
        prof = profile_onnx(ROOT / "models" / f"{r['model']}.onnx", batch=int(r["batch"]), per_op=True)
        params = resolve_params(hw, r["precision"], "eager", projection_defaults())
        pred.append(project_training(prof, params, r["precision"], r["optimizer"], True).energy_j_per_sample)
        meas.append(float(r["energy_j_per_sample"]))
    err = np.abs(np.array(pred) / np.array(meas) - 1)
    rho = np.corrcoef(_rank(pred), _rank(meas))[0, 1]
    assert len(rows) == 17 and np.median(err) <= 0.30 and rho >= 0.9, (np.median(err), rho)


def test_project_phase_train_command():
    m = ROOT / "models" / "mobilenet_v2.onnx"
    r = cli("project", m, "--hardware", "h100", "--phase", "train", "--batch", "64", "--dtype", "bf16", "--optimizer", "adam",
            "--pue", "1.1", "--grid-gco2e-per-kwh", "100", "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)[0]
    step = d["detail"]
    assert d["dtype"] == step["precision"] == "bf16" and step["optimizer"] == "adam" and d["batch"] == 64
    assert d["item"] == "training sample" and d["energy_j_per_item"] == step["energy_j_per_sample"]
    assert d["energy_range_j"]["low"] < d["energy_j_per_item"] < d["energy_range_j"]["high"]
    assert d["co2e_g_per_item"] == pytest.approx((d["energy_j_per_item"] + d["idle_j_per_item"] + d["host_j_per_item"])
                                                 * 1.1 / 3.6e6 * 100)
    assert 2 < step["training_to_inference_energy"] < 10
    for args in (("--runtime", "graph"), ("--optimizer", "lion"), ("--dtype", "int8")):
        bad = cli("project", m, "--hardware", "h100", "--phase", "train", *args)
        assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1, (args, bad.output)


def test_calibrating_training_recovers_known_parameters(tmp_path):
    """Steps generated by the model itself with a known autograd host cost and backward slowdown: the fit finds
    them again, and `calibrate --phase train` writes a profile whose [training] table the projection uses."""
    from analyzer.project.training import TrainingParams, TrainingSample, fit_training

    hw = load_profiles().get("hardware", "h100")
    truth = TrainingParams(autograd_host_s=40e-6, backward_slowdown=1.7)
    rows, samples = [], []
    for name in ("resnet18", "mobilenet_v2"):
        for precision, batch in (("fp32", 2), ("fp32", 64), ("bf16", 2), ("bf16", 64)):
            prof = profile_onnx(ROOT / "models" / f"{name}.onnx", batch=batch, per_op=True)
            params = resolve_params(hw, precision, "eager", projection_defaults())
            st = project_training(prof, params, precision, "sgd-momentum", True, truth)
            samples.append(TrainingSample(prof, precision, "sgd-momentum", st.step_s, st.energy_j_per_sample))
            rows.append(f"{name},{precision},{batch},sgd-momentum,{st.step_s * 1e3!r},{st.energy_j_per_sample!r}")
    fit = fit_training(samples, lambda p: resolve_params(hw, p, "eager", projection_defaults()), True)
    assert fit["values"]["autograd_host_s"] == pytest.approx(40e-6, abs=8e-6)
    assert fit["values"]["backward_slowdown"] == pytest.approx(1.7, rel=0.08)
    assert fit["median_abs_error"] < 0.03 < fit["median_abs_error_before"]

    csv_path = tmp_path / "steps.csv"
    csv_path.write_text("model,precision,batch,optimizer,step_ms_median,energy_j_per_sample\n" + "\n".join(rows) + "\n")
    prof_dir = tmp_path / "profiles" / "hardware"
    r = cli("calibrate", "--phase", "train", "--hardware", "h100", "--csv", csv_path, "--models", ROOT / "models",
            "--out", prof_dir / "h100.toml", "--name", "h100-sxm-calibrated", "--shadow", "--format", "json")
    assert r.exit_code == 0, r.output
    written = (prof_dir / "h100.toml").read_text()
    assert "[training]" in written
    assert all(f"\n{k} = " in written for k in ("l2_cache_mb", "sm_count", "max_threads_per_sm"))  # the base's scalars
    args = ["project", ROOT / "models" / "resnet18.onnx", "--hardware", "h100", "--phase", "train", "--batch", "16",
            "--dtype", "fp32", "--format", "json"]
    plain = json.loads(cli(*args).stdout)[0]
    calibrated = json.loads(cli(*args, "--profiles", tmp_path / "profiles").stdout)[0]
    measured = next(s for s in samples if s.precision == "fp32" and "resnet18" in s.profile.model)
    assert abs(calibrated["latency_s"] / measured.step_s - 1) < 0.05 < abs(plain["latency_s"] / measured.step_s - 1)
    assert any("calibrated on this hardware" in n for n in calibrated["notes"])
    bad = cli("calibrate", "--phase", "train", "--hardware", "h100", "--csv", csv_path, "--out", tmp_path / "x.toml")
    assert bad.exit_code == 2 and "--models" in bad.stderr  # the CSV names models, not paths


def test_an_xla_step_fuses_its_elementwise_work_and_its_optimizer(mlp):
    """XLA (TPU): the Relu and its gradient and the bias work fuse into the GEMMs; the optimizer is one fused
    update reading parameter, gradient and momentum and writing parameter and momentum (20 bytes a parameter)."""
    from analyzer.project.xla import compiled

    plan, n_fwd, n_bwd, _, _ = training_plan(mlp, "fp32", "sgd-momentum", gpu=False, bytes_scale=1.0)
    fused, f, b, o = compiled(plan, n_fwd, n_bwd, "sgd-momentum", mlp.params, 1.0)
    assert {k.kclass for k in fused.kernels[:f + b]} <= {"gemm"} and f == 2  # no Relu, no bias add, no Relu gradient
    assert b == 3  # dgrad and wgrad of the second GEMM, wgrad of the first (the input needs no gradient)
    assert o == 1 and fused.kernels[-1].bytes == 20 * mlp.params
    assert sum(k.bytes for k in fused.kernels) < sum(k.bytes for k in plan.kernels)


def test_tpu_training_rates_held_out_of_the_one_row_fit(shipped):
    """The TPU matrix-unit efficiency was fitted on MLPerf v0.5's TPU v3-8 row alone; TPU v4-16 (MLPerf v0.7,
    3,478 images/s per chip at 256 per chip) and a TPU v2-8 (MLPerf v0.5, 1,118 at 256) were kept out."""
    ps, d = load_profiles(), projection_defaults()
    prof = profile_onnx(shipped["resnet50"], batch=256, per_op=True, scan_sparsity=False)
    for hw_name, published, tolerance in (("tpu-v4", 3478.1, 0.12), ("tpu-v2", 1118.2, 0.20), ("tpu-v3", 1865.0, 0.01)):
        hw = ps.get("hardware", hw_name)
        st = project_training(prof, resolve_params(hw, "bf16", "graph", d), "bf16", "sgd-momentum", False,
                              form=StepForm(compiled=True))
        assert abs(256 / st.step_s / published - 1) <= tolerance, (hw_name, 256 / st.step_s)


@pytest.mark.parametrize("optimizer, passes, bytes_per_param, flops_per_param", [
    # torch/optim/rmsprop.py _multi_tensor_rmsprop: mul_, addcmul_, sqrt, add_, addcdiv_ over v, g, p
    ("rmsprop", 5, 8 + 12 + 8 + 8 + 16, 1 + 3 + 1 + 1 + 3),
    # with momentum: the last pass becomes mul_(buf), addcdiv_(buf, g, avg), add_(p, buf)
    ("rmsprop-momentum", 7, 8 + 12 + 8 + 8 + 8 + 16 + 12, 1 + 3 + 1 + 1 + 1 + 3 + 2),
    # torch/optim/adagrad.py _multi_tensor_adagrad: addcmul_, sqrt, add_, mul, addcdiv_
    ("adagrad", 5, 12 + 8 + 8 + 8 + 16, 2 + 1 + 1 + 1 + 2)])
def test_rmsprop_and_adagrad_from_their_update_rules(mlp, optimizer, passes, bytes_per_param, flops_per_param):
    plan, n_fwd, n_bwd, n_opt, _ = training_plan(mlp, "fp32", optimizer, gpu=True, bytes_scale=1.0)
    opt = plan.kernels[n_fwd + n_bwd:]
    assert n_opt == passes and all(k.op_type.startswith(f"{optimizer}:pass") for k in opt)
    assert sum(k.bytes for k in opt) == pytest.approx(bytes_per_param * mlp.params)
    assert sum(k.flops for k in opt) == pytest.approx(flops_per_param * mlp.params)
    # in bf16 autocast the optimizer's state stays fp32: the same bytes after the projection's 16-bit scaling
    half = training_plan(mlp, "bf16", optimizer, gpu=True, bytes_scale=0.5)[0].kernels[-passes:]
    assert sum(k.bytes for k in half) * 0.5 == pytest.approx(bytes_per_param * mlp.params)


def test_rmsprop_costs_between_sgd_momentum_and_adam(mlp):
    hw = load_profiles().get("hardware", "h100-sxm-calibrated")
    p = resolve_params(hw, "fp32", "eager", projection_defaults())
    e = {o: project_training(mlp, p, "fp32", o, True).energy_j_per_sample for o in ("sgd-momentum", "rmsprop", "adam")}
    assert e["sgd-momentum"] < e["rmsprop"] < e["adam"]
