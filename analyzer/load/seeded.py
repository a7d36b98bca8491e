"""Sample models that ship without their weights: the graph and every initializer's dims travel in a small
ONNX file; the weights are seeded random numbers, generated with numpy only when something must read them
(a measurement), and cached on disk.

A skeleton's large float initializers are external data in `<stem>.weights` next to it, a file that is not
shipped (materialize writes a complete copy with the weights inline into the cache instead). Its metadata (`nas_analyzer.seeded_weights`, JSON) holds the seed and the sparsity of the generated
weights, recorded when the skeleton was made, so a static profile needs no weight bytes at all. Generation
per tensor, deterministic in (seed, tensor name): BatchNorm running variances uniform in [0.5, 1.5];
other 1-D tensors named *weight uniform in [0.9, 1.1], other 1-D tensors normal(0, 0.01); tensors of rank
>= 2 normal(0, 1/sqrt(fan_in)), fan_in the product of all dims but the first. No value is exactly zero.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

from ..errors import ModelLoadError

META_KEY = "nas_analyzer.seeded_weights"
MIN_EXTERNAL_BYTES = 1024  # smaller tensors (shape constants, scalars) stay inline, as exported


def info(proto: onnx.ModelProto) -> dict[str, Any] | None:
    """The skeleton's record, or None for an ordinary model."""
    for p in proto.metadata_props:
        if p.key == META_KEY:
            try:
                d = json.loads(p.value)
            except ValueError:
                raise ModelLoadError(f"metadata {META_KEY} is not JSON") from None
            if not isinstance(d, dict) or "seed" not in d or "file" not in d:
                raise ModelLoadError(f"metadata {META_KEY} lacks seed/file")
            return d
    return None


def generate(name: str, dims: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng([int(seed), zlib.crc32(name.encode())])
    if len(dims) <= 1:
        if name.endswith("running_var"):
            return rng.uniform(0.5, 1.5, dims).astype(np.float32)
        if name.endswith("weight"):
            return rng.uniform(0.9, 1.1, dims).astype(np.float32)
        return rng.normal(0.0, 0.01, dims).astype(np.float32)
    fan_in = math.prod(dims[1:]) or 1
    w = rng.normal(0.0, 1.0 / np.sqrt(fan_in), dims).astype(np.float32)
    w[w == 0] = np.float32(1e-12)  # exact zeros would change the sparsity on record
    return w


def make_skeleton(full: onnx.ModelProto, out: Path, seed: int, sparsity: tuple[float, float]) -> None:
    """Write `out`: `full`'s graph with its large float initializers as external data in `<stem>.weights`
    (not written) and the seed and sparsity on record."""
    out.write_bytes(skeleton_proto(full, f"{out.stem}.weights", seed, sparsity).SerializeToString())


def skeleton_proto(full: onnx.ModelProto, weights_file: str, seed: int, sparsity: tuple[float, float],
                   min_external_bytes: int = MIN_EXTERNAL_BYTES) -> onnx.ModelProto:
    """`full` as a skeleton: its float initializers of min_external_bytes or more (data or only dims) external
    in `weights_file`."""
    model = onnx.ModelProto()
    model.CopyFrom(full)
    offset = 0
    for t in model.graph.initializer:
        nbytes = math.prod(t.dims) * 4
        if t.data_type != TensorProto.FLOAT or nbytes < min_external_bytes:
            continue
        offset = make_external(t, weights_file, offset)
    del model.metadata_props[:]
    record(model, seed, weights_file, offset, sparsity)
    return model


def make_external(t: onnx.TensorProto, weights_file: str, offset: int) -> int:
    """Make a float tensor's data external at `offset` of `weights_file` (never written); the next offset."""
    nbytes = math.prod(t.dims) * 4
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    del t.external_data[:]
    for k, v in (("location", weights_file), ("offset", str(offset)), ("length", str(nbytes))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return offset + nbytes


def record(model: onnx.ModelProto, seed: int, weights_file: str, nbytes: int, sparsity: tuple[float, float]) -> None:
    """Put the seed and the generated weights' sparsity on record in the model's metadata."""
    p = model.metadata_props.add()
    p.key = META_KEY
    p.value = json.dumps({"seed": seed, "file": weights_file, "bytes": nbytes, "weight_sparsity": sparsity[0],
                          "nm_sparsity": sparsity[1], "generator": "analyzer.load.seeded.generate (numpy)"})


def materialize(path: Path, cache: Path) -> Path:
    """A complete copy of a skeleton under `cache`, its generated weights inline (written once, atomically),
    returned as the path to run; an ordinary model is returned as it is."""
    data = path.read_bytes()
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as e:  # noqa: BLE001 - protobuf raises several types
        raise ModelLoadError(f"{path}: not a valid ONNX file ({type(e).__name__})") from None
    rec = info(proto)
    if rec is None:
        return path
    out = cache / f"{path.stem}-{zlib.crc32(data):08x}.onnx"
    if out.is_file():
        return out
    for t in proto.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            t.raw_data = generate(t.name, tuple(int(d) for d in t.dims), rec["seed"]).tobytes()
            del t.external_data[:]
            t.data_location = TensorProto.DEFAULT
    del proto.metadata_props[:]
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(proto.SerializeToString())
    tmp.replace(out)
    return out
