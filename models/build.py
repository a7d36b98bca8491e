"""Build the shipped sample candidates (models/manifest.toml), offline and reproducibly.

    python models/build.py [--force] [--only NAME]...

Needs the torch extra (`pip install -e '.[torch]'`); using the samples does not. Each model is defined layer
for layer in models/architectures.py, given seeded random weights, and exported with torch.onnx.export (the
TorchScript exporter, opset 17, training=PRESERVE on an eval-mode module so BatchNormalization nodes stay and
the stored parameters equal the published count) into models/onnx/ (not committed: the full exports, for
exporter cross-checks). From each export, the shipped sample is written to models/<name>.onnx: the same graph
and initializer dims, its large weights left as seeded random numbers that analyzer.load.seeded generates
with numpy when a measurement needs them, and their sparsity recorded (analyzer.load.seeded). A stamp beside
each sample records the inputs of the build, so an unchanged model is not rebuilt.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tomllib
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def build_stamp(name: str, torch_version: str) -> str:
    h = hashlib.sha256()
    for f in ("architectures.py", "build.py", "manifest.toml"):
        h.update((HERE / f).read_bytes())
    h.update(f"{name}:{torch_version}".encode())
    return h.hexdigest()


def export(name: str, shape: list[int], out: Path, opset: int = 17) -> None:
    import torch

    import architectures

    model = architectures.randomise_(architectures.FACTORIES[name]())
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".onnx.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(tmp), dynamo=False, opset_version=opset, input_names=["input"],
                          output_names=["logits"], training=torch.onnx.TrainingMode.PRESERVE)
    tmp.replace(out)  # atomic: a killed build never leaves a half-written model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--force", action="store_true", help="rebuild even if the stamp matches")
    ap.add_argument("--only", action="append", default=[], help="build only this model (repeatable)")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("models/build.py needs torch: pip install -e '.[torch]'", file=sys.stderr)
        return 2
    manifest = tomllib.loads((HERE / "manifest.toml").read_text())
    for entry in manifest["model"]:
        name = entry["name"]
        if args.only and name not in args.only:
            continue
        sample = HERE / entry["file"]
        full = HERE / "onnx" / f"{name}.onnx"
        stamp_file = sample.with_suffix(".stamp")
        stamp = build_stamp(name, torch.__version__)
        if not args.force and sample.exists() and full.exists() and stamp_file.exists() \
                and json.loads(stamp_file.read_text()).get("stamp") == stamp:
            print(f"{name}: up to date ({sample.relative_to(HERE.parent)})")
            continue
        export(name, entry["input_shape"], full)
        write_sample(full, sample)
        stamp_file.write_text(json.dumps({"stamp": stamp, "torch": torch.__version__}) + "\n")
        print(f"{name}: built {full.relative_to(HERE.parent)} ({full.stat().st_size / 1e6:.1f} MB) and the sample "
              f"{sample.relative_to(HERE.parent)} ({sample.stat().st_size / 1e3:.0f} kB)")
    return 0


def write_sample(full: Path, sample: Path, seed: int = 0) -> None:
    """The weight-less sample of a full export, with the sparsity of the weights it will generate on record."""
    import tempfile

    import onnx

    sys.path.insert(0, str(HERE.parent))
    from analyzer.load import seeded
    from analyzer.count.profile import profile_onnx

    proto = onnx.load(str(full))
    with tempfile.TemporaryDirectory() as tmp:
        skeleton = Path(tmp) / sample.name
        seeded.make_skeleton(proto, skeleton, seed, (0.0, 0.0))
        materialised = seeded.materialize(skeleton, Path(tmp) / "cache")
        p = profile_onnx(materialised, scan_sparsity=True, hash_file=False)
        seeded.make_skeleton(proto, sample.with_suffix(".onnx.tmp"), seed, (p.weight_sparsity or 0.0, p.nm_sparsity or 0.0))
    sample.with_suffix(".onnx.tmp").replace(sample)


if __name__ == "__main__":
    sys.exit(main())
