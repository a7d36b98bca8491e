"""Channels-last (NHWC) runs on cuDNN (analyzer/project/kernels: MEMORY_FORMATS): no layout transforms, batch norms as
one streaming NHWC kernel, the same traffic; and NVIDIA's published channels-last ResNet-50 rows projected blind."""

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from analyzer import profile_onnx
from analyzer.errors import AnalyzerError
from analyzer.project.kernels import plan_kernels
from analyzer.project.training_kernels import NORM_BACKWARD_BYTES, NORM_FORWARD_BYTES, training_plan
from onnx_builders import init, model, vi


def _conv_bn_relu(tmp_path, k=3):
    w = init("w", np.ones((16, 16, k, k), np.float32))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[k // 2] * 4),
             helper.make_node("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["n"]),
             helper.make_node("Relu", ["n"], ["y"])]
    inits = [w] + [init(n, np.ones(16, np.float32)) for n in ("s", "bb", "mu", "var")]
    path = tmp_path / "m.onnx"
    onnx.save(model(nodes, [vi("x", [8, 16, 32, 32])], [vi("y", None)], inits), str(path))
    return profile_onnx(path, per_op=True, scan_sparsity=False)


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_channels_last_drops_layout_transforms_and_streams_batch_norm(tmp_path, dtype):
    prof = _conv_bn_relu(tmp_path)
    nchw = plan_kernels(prof, "eager", dtype, gpu=True)
    nhwc = plan_kernels(prof, "eager", dtype, gpu=True, memory_format="channels-last")
    assert any(k.kclass == "layout" for k in nchw.kernels)
    assert [(k.op_type, k.kclass) for k in nhwc.kernels] == [("Conv", "conv"), ("bn:nhwc", "elementwise"), ("Relu", "elementwise")]
    bn = next(n for n in prof.per_op if n.op_type == "BatchNormalization")
    assert nhwc.kernels[1].bytes == bn.bytes and nhwc.kernels[1].flops == bn.flops  # the same traffic, one kernel
    assert nhwc.ops == nchw.ops == 3
    # a CPU or ONNX Runtime plan does not change
    assert plan_kernels(prof, "eager", dtype, gpu=False, memory_format="channels-last") == plan_kernels(prof, "eager", dtype, gpu=False)
    assert plan_kernels(prof, "ort", dtype, gpu=True, memory_format="channels-last").kernels == plan_kernels(prof, "ort", dtype, gpu=True).kernels


def test_channels_last_training_batch_norm_keeps_the_nchw_traffic(tmp_path):
    prof = _conv_bn_relu(tmp_path)
    bn = next(n for n in prof.per_op if n.op_type == "BatchNormalization")
    plan = training_plan(prof, "fp16", "sgd", True, 0.5, "channels-last")[0]
    ks = [k for k in plan.kernels if k.op == bn.name]
    assert [k.op_type for k in ks] == ["bn:nhwc", "bn:nhwc:grad-reduce", "bn:nhwc:grad"]
    assert {k.kclass for k in ks} == {"elementwise"}
    assert ks[0].bytes == pytest.approx(NORM_FORWARD_BYTES * bn.bytes)
    assert ks[1].bytes + ks[2].bytes == pytest.approx(NORM_BACKWARD_BYTES * bn.bytes)
    assert not any(k.kclass == "layout" for k in plan.kernels)
    nchw = [k for k in training_plan(prof, "fp16", "sgd", True, 0.5)[0].kernels if k.op == bn.name]
    assert sum(k.bytes for k in nchw) == pytest.approx(sum(k.bytes for k in ks))  # same traffic, other kernels


def test_unknown_memory_format_is_one_line(tmp_path):
    with pytest.raises(AnalyzerError, match="memory_format.*'nhwc'.*nchw, channels-last"):
        plan_kernels(_conv_bn_relu(tmp_path), "eager", "fp16", gpu=True, memory_format="nhwc")


def test_published_resnet50_rows_blind_within_the_issue_targets():
    """Issue #34 target on NVIDIA's DeepLearningExamples ResNet-50 rows (V100, T4, A100; nothing fitted to them):
    median |error| <= 20%, each <= 30%; the channels-last rows projected as they ran."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import gpu_transfer

    s = gpu_transfer.check(verbose=False)
    assert s["all"]["n"] == 12 and s["all"]["median_abs"] <= 0.20 and s["all"]["max_abs"] <= 0.30


def _cli_json(*args):
    import json

    from cli_helpers import cli

    r = cli(*args, "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    return (d["results"] if isinstance(d, dict) and "results" in d else d)[0]


def test_cli_memory_format_reaches_the_projection_and_the_training_step(tmp_path):
    """`--memory-format channels-last` on the command line gives what the library gives (project(...,
    memory_format=...)): on a GPU a channels-last network launches no layout transforms, so it has fewer kernels and
    is no slower; the setting is in the target's settings (store keys), and absent there when it is the default."""
    from analyzer.profiles import load_profiles, projection_defaults
    from analyzer.project import project, resolve_params
    from analyzer.target import TargetRequest, resolve_target

    src = Path(__file__).resolve().parents[2] / "models" / "resnet50.onnx"
    base = ("project", src, "--hardware", "a100", "--dtype", "fp16", "--batch", "64", "--no-store")
    nchw, nhwc = _cli_json(*base), _cli_json(*base, "--memory-format", "channels-last")
    assert nhwc["kernels"] < nchw["kernels"] and nhwc["latency_s"] < nchw["latency_s"]
    prof = profile_onnx(src, batch=64, per_op=True, scan_sparsity=False)
    hw = load_profiles().get("hardware", "a100")
    lib = project(prof, hw, resolve_params(hw, "fp16", "graph", projection_defaults()), "graph", "fp16",
                  memory_format="channels-last")
    assert nhwc["latency_s"] == pytest.approx(lib.latency_s, rel=1e-9)
    assert nhwc["energy_j_per_item"] == pytest.approx(lib.energy_j_per_item, rel=1e-9)
    train = ("project", src, "--hardware", "a100", "--dtype", "fp16", "--batch", "64", "--phase", "train", "--no-store")
    assert _cli_json(*train, "--memory-format", "channels-last")["latency_s"] < _cli_json(*train)["latency_s"]
    ps = load_profiles()
    assert "memory_format" not in resolve_target(ps, TargetRequest("a100")).settings()
    assert resolve_target(ps, TargetRequest("a100", memory_format="channels-last")).settings()["memory_format"] == "channels-last"


@pytest.mark.parametrize("args,phrase", [
    (("--hardware", "ci-cpu-2vcpu"), "ci-cpu-2vcpu with runtime ort"),
    (("--hardware", "a100", "--runtime", "ort"), "a100-40gb with runtime ort"),
    (("--hardware", "a100", "--memory-format", "nhwc"), "expected one of nchw, channels-last"),
])
def test_cli_memory_format_refused_where_it_does_not_apply(args, phrase):
    from cli_helpers import cli, one_line_error

    src = Path(__file__).resolve().parents[2] / "models" / "resnet50.onnx"
    extra = () if "--memory-format" in args else ("--memory-format", "channels-last")
    one_line_error(cli("project", src, *args, *extra, "--no-store"), 2, phrase)
