"""Two exports of one network give one projection (issue #25): MobileNetV2 and DeiT-tiny exported by the
TorchScript exporter (batch norm folded; kept with training=PRESERVE) and by the dynamo exporter (with and without
its optimizer: static shapes that pin the batch, a zero bias computed at run time, ReduceMean for pooling, Gelu
as one op), projected on the calibrated H100 for serving (CUDA graphs, eager, ONNX Runtime) and for training."""

import sys
import warnings
from pathlib import Path

import pytest

from conftest import require_torch  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.slow]
torch = require_torch()

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models"))
import architectures  # noqa: E402

from analyzer import evaluate, load_profiles, resolve_target, TargetRequest  # noqa: E402

EXPORTERS = ("torchscript", "torchscript-preserve", "dynamo", "dynamo-raw")


def _export(name: str, exporter: str, path: Path) -> Path:
    m = architectures.randomise_(architectures.FACTORIES[name]())
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter.startswith("torchscript"):
            mode = torch.onnx.TrainingMode.PRESERVE if exporter.endswith("preserve") else torch.onnx.TrainingMode.EVAL
            torch.onnx.export(m, (x,), str(path), dynamo=False, opset_version=17, training=mode)
        else:
            torch.onnx.export(m, (x,), dynamo=True, optimize=exporter == "dynamo").save(str(path))
    return path


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    d = tmp_path_factory.mktemp("exports")
    return {(n, e): _export(n, e, d / f"{n}.{e}.onnx") for n in ("mobilenet_v2", "deit_tiny") for e in EXPORTERS}


@pytest.mark.parametrize("name", ["mobilenet_v2", "deit_tiny"])
def test_every_export_projects_alike(exports, name):
    ps = load_profiles()
    targets = {"graph b64": (resolve_target(ps, TargetRequest("h100", dtype="fp16", runtime="graph", batch=64, pue=1.1, grid=100.0)), 0.05),
               "eager b1": (resolve_target(ps, TargetRequest("h100", dtype="fp16", runtime="eager", batch=1, pue=1.1, grid=100.0)), 0.05),
               "ort b8": (resolve_target(ps, TargetRequest("h100", dtype="fp16", runtime="ort", batch=8, pue=1.1, grid=100.0)), 0.05),
               "train b64": (resolve_target(ps, TargetRequest("h100", dtype="bf16", batch=64, phase="train", pue=1.1, grid=100.0)), 0.10)}
    for label, (t, tolerance) in targets.items():
        e = {x: evaluate([exports[(name, x)]], t)[0] for x in EXPORTERS}
        assert all(v.ok for v in e.values()), [v.error for v in e.values()]
        energies = [v.energy_j_per_item for v in e.values()]
        assert max(energies) / min(energies) - 1 <= tolerance, (label, {x: v.energy_j_per_item for x, v in e.items()})
