"""The same architectures through torch.onnx.export's two exporters, with their default settings: both
fold BatchNorm into Conv in eval mode, which changes the stored parameter count but not the MACs."""

import os
import sys
import warnings
from pathlib import Path

import pytest

from conftest import require_torch  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.slow]
torch = require_torch()

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models"))
import architectures  # noqa: E402

from analyzer import profile_onnx  # noqa: E402

PUBLISHED_MACS = {"resnet50": 4.089e9, "mobilenet_v2": 0.301e9, "efficientnet_b0": 0.386e9}


def _export(name: str, path: Path, dynamo: bool) -> None:
    model = architectures.randomise_(architectures.FACTORIES[name]())
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        kw = {"opset_version": 18, "dynamo": True, "verbose": False} if dynamo else {"opset_version": 17, "dynamo": False}
        torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), str(path), **kw)


def _bn_params(name: str) -> int:
    model = architectures.FACTORIES[name]()
    return sum(m.weight.numel() + m.bias.numel() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("name", sorted(PUBLISHED_MACS))
def test_exported_macs_match_published(tmp_path, name, dynamo):
    path = tmp_path / f"{name}.onnx"
    _export(name, path, dynamo)
    p = profile_onnx(path)
    assert abs(p.macs - PUBLISHED_MACS[name]) / PUBLISHED_MACS[name] < 0.005
    assert p.coverage == 1.0 and p.flops >= 2 * p.macs
    # Folding BN into the preceding bias-free Conv drops BN's scale and shift (2C) and adds a conv bias (C).
    published_params = architectures.param_count(architectures.FACTORIES[name]())
    assert p.params == published_params - _bn_params(name) // 2
