"""Export the benchmark models (ResNet-50, ViT-B/16, BERT-base, GPT-2 small) to benchmarks/.cache/ with
torch.onnx.export (TorchScript exporter, opset 17, eval mode). Needs the torch extra. Idempotent."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"
sys.path.insert(0, str(ROOT / "models"))

# name -> (input shape, integer token ids?)
MODELS = {"resnet50": ((1, 3, 224, 224), False), "vit_b_16": ((1, 3, 224, 224), False),
          "bert_base": ((1, 128), True), "gpt2_small": ((1, 128), True)}


def export_all() -> dict[str, Path]:
    import torch

    import architectures

    CACHE.mkdir(exist_ok=True)
    out = {}
    for name, (shape, ids) in MODELS.items():
        path = CACHE / f"{name}.onnx"
        if not path.exists():
            model = architectures.randomise_(architectures.FACTORIES[name]())
            x = torch.randint(0, 1000, shape) if ids else torch.randn(*shape)
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (x,), str(path.with_suffix(".tmp")), dynamo=False, opset_version=17)
            path.with_suffix(".tmp").replace(path)
        out[name] = path
    return out


if __name__ == "__main__":
    for name, path in export_all().items():
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.0f} MB)")
