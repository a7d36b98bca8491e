"""The shipped sample models: published parameter and MAC counts, golden profiles, invariants."""

import json
import os
from pathlib import Path

import pytest

from analyzer import profile_onnx

GOLDEN = Path(__file__).parents[1] / "golden"
# torchvision's published counts (parameters exact, GMACs to 3-4 digits; torchvision calls them GFLOPS)
PUBLISHED = {"resnet50": (25_557_032, 4.089e9), "mobilenet_v2": (3_504_872, 0.301e9), "efficientnet_b0": (5_288_548, 0.386e9)}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_params_and_macs(shipped, name):
    params, macs = PUBLISHED[name]
    p = profile_onnx(shipped[name])
    assert p.params == params
    assert abs(p.macs - macs) / macs < 0.005


def _golden_view(p):
    d = p.to_dict()
    return {k: d[k] for k in ("opset", "batch", "params", "macs", "flops", "weight_bytes", "activation_bytes",
                              "weight_read_bytes", "coverage", "nodes", "unsupported_ops", "op_type_totals", "notes")}


@pytest.mark.parametrize("name", ["resnet50", "resnet18", "mobilenet_v2", "mobilenet_v3_large", "mnasnet1_0",
                                  "efficientnet_b0", "deit_tiny"])
def test_golden_profile(shipped, name):
    p = profile_onnx(shipped[name])
    assert p.flops >= 2 * p.macs
    assert p.coverage == 1.0 and not p.unsupported_ops
    assert p.weight_sparsity == 0.0  # random normal weights have no exact zeros
    got = _golden_view(p)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text())


def test_manifest_matches_profiles(shipped):
    """Every manifest entry's published params equal what the graph stores (BatchNorm kept)."""
    import tomllib

    from analyzer.load.manifest import read_manifest

    entries = read_manifest(Path(__file__).parents[2] / "models" / "manifest.toml")
    for e in entries:
        p = profile_onnx(e.file, scan_sparsity=False)
        assert p.params == e.params_published, e.name
        assert abs(p.macs - e.macs_published) / e.macs_published < 0.04, e.name  # published to 2-3 digits
        assert e.top1_accuracy_pct and e.accuracy_source
    assert tomllib  # imported for the manifest reader's dependency


def test_batch_scales_work_linearly(shipped):
    one = profile_onnx(shipped["mobilenet_v2"], scan_sparsity=False)
    eight = profile_onnx(shipped["mobilenet_v2"], batch=8, scan_sparsity=False)
    assert eight.batch == 8
    assert eight.macs == 8 * one.macs and eight.flops == 8 * one.flops
    assert eight.weight_read_bytes == one.weight_read_bytes
    assert eight.activation_bytes == 8 * one.activation_bytes


def test_pinned_batch_detected_inside_the_graph(shipped):
    """DeiT-Ti exported at batch 1 reshapes attention to constant [1, 197, 3, 3, 64]: shape inference at
    batch 8 would count attention for one item only. The profile notices and scales one item instead."""
    one = profile_onnx(shipped["deit_tiny"], scan_sparsity=False)
    eight = profile_onnx(shipped["deit_tiny"], batch=8, scan_sparsity=False)
    assert eight.macs == 8 * one.macs and eight.weight_read_bytes == one.weight_read_bytes
    assert any("pin the batch" in n for n in eight.notes)
