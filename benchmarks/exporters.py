"""The reference networks exported by both of PyTorch's ONNX exporters, for the exporter-invariance check of
issue #25: ResNet-50, MobileNetV2, EfficientNet-B0, ViT-B/16, BERT-base, GPT-2 small, ResNet-18 and DeiT-tiny
(models/architectures.py, seeded weights), each exported

  torchscript:          torch.onnx.export(dynamo=False), eval mode, constant folding on (so batch norm is folded
                        into the convolutions and scaled-dot-product attention is decomposed), opset 17;
  torchscript-preserve: the same with training=PRESERVE (batch norm kept, as models/build.py exports the samples);
  dynamo:               torch.onnx.export(dynamo=True) (torch.export + onnxscript's optimizer), its default opset;
  dynamo-raw:           the same with optimize=False (no constant folding: batch norm kept, shapes computed).

Cached in benchmarks/.cache/exporters/NAME.EXPORTER.onnx (needs the torch extra; idempotent).

    python benchmarks/exporters.py [--only NAME]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache" / "exporters"
sys.path.insert(0, str(ROOT / "models"))

# name -> (input shape, integer token ids?)
# (resnet18 and deit_tiny: the calibration model and the small transformer of the H100 training steps, so
# benchmarks/exporter_accuracy.py can project every row of train.csv from each exporter's file)
NETWORKS = {"resnet50": ((1, 3, 224, 224), False), "mobilenet_v2": ((1, 3, 224, 224), False),
            "efficientnet_b0": ((1, 3, 224, 224), False), "vit_b_16": ((1, 3, 224, 224), False),
            "bert_base": ((1, 128), True), "gpt2_small": ((1, 128), True),
            "resnet18": ((1, 3, 224, 224), False), "deit_tiny": ((1, 3, 224, 224), False)}
EXPORTERS = ("torchscript", "torchscript-preserve", "dynamo", "dynamo-raw")


def export(name: str, exporter: str) -> Path:
    """The network exported by `exporter` (cached)."""
    import torch

    import architectures

    path = CACHE / f"{name}.{exporter}.onnx"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    shape, ids = NETWORKS[name]
    model = architectures.randomise_(architectures.FACTORIES[name]())
    x = torch.randint(0, 1000, shape) if ids else torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    tmp = path.with_suffix(".tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter.startswith("torchscript"):
            mode = torch.onnx.TrainingMode.PRESERVE if exporter.endswith("preserve") else torch.onnx.TrainingMode.EVAL
            torch.onnx.export(model, (x,), str(tmp), dynamo=False, opset_version=17, do_constant_folding=True,
                              training=mode, input_names=["input"], output_names=["output"])
        else:
            prog = torch.onnx.export(model, (x,), dynamo=True, optimize=exporter == "dynamo", input_names=["input"],
                                     output_names=["output"])
            prog.save(str(tmp))
    tmp.replace(path)
    return path


def export_all(only: list[str] | None = None) -> dict[tuple[str, str], Path]:
    return {(n, e): export(n, e) for n in NETWORKS if not only or n in only for e in EXPORTERS}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args()
    for (n, e), p in export_all(args.only).items():
        print(f"{n:<16} {e:<12} {p} ({p.stat().st_size / 1e6:.1f} MB)")
