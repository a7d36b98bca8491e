"""ONNX model file -> our IR. Only the load package imports onnx; shapes are bound and inferred in binding.py.

Weights are never loaded to count work: large initializers are stripped to their dims before shape
inference, and their bytes are only located (inline slice or external file range) for the sparsity scan.
"""

from __future__ import annotations

import hashlib
import math
import mmap
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from ..errors import ModelLoadError, UsageError, echo, param
from ..files import open_regular
from ..ir import Graph, TensorInfo
from ..units import MAX_BATCH, MAX_DIM, dtype_itemsize, dtype_name
from . import guard, hash_cache, seeded
from .hash_cache import INLINE_HASH_BYTES
from .external_data import ExternalRef, resolve
from ..errors import WireError
from .binding import PINNED_NOTE, bind_and_infer, leading_dim  # noqa: F401 (PINNED_NOTE re-exported)
from .to_ir import const_values, shape_of, tensor_info, to_ir
from .validate import check_dataflow, check_declared_dims, check_inferred_dims, reject_known_hazards, reject_unreadable
from .wire import strip_weights

_STRIP_BYTES = 4096  # initializers larger than this lose their data in the inference skeleton


@dataclass(frozen=True, slots=True)
class WeightData:
    """Where one initializer's bytes are: inline (raw bytes) or an external file range."""

    name: str
    onnx_type: int
    dims: tuple[int, ...]
    raw: bytes | memoryview | None = None
    external: ExternalRef | None = None
    seeded: bool = False  # a sample skeleton's weight, generated on demand (load/seeded.py), not stored


@dataclass(frozen=True)
class LoadedModel:
    path: Path
    sha256: str
    opset: int
    graph: Graph
    initializers: tuple[TensorInfo, ...]
    weights: dict[str, WeightData]
    batch: int | None
    batch_scale: int = 1  # > 1 when constants pin the batch: per-item counts are scaled by it
    dims: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    seeded: dict | None = None  # a sample skeleton's record (seed, sparsity on record): weights generated on demand


def map_model_file(path: Path) -> mmap.mmap:
    """Memory-map the model file read-only: weights' pages are read only if the sparsity scan asks."""
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory with no .onnx models")
    try:
        with open_regular(path, UsageError) as f:  # a FIFO or a device (/dev/zero) is refused, never read
            if os.fstat(f.fileno()).st_size == 0:
                raise ModelLoadError(f"{path}: not a valid ONNX file (empty)")
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise ModelLoadError(f"{path}: cannot read ({e.strerror})") from None


def parse_model(path: Path, data: bytes) -> onnx.ModelProto:
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        hint = ""
        if data[:1] == b"{" and data.rstrip()[-1:] == b"}":  # JSON: most likely a decoder's Hugging Face config.json
            hint = f"; a decoder's config.json is priced served: project {path} --phase serving"
        raise ModelLoadError(f"{path}: not a valid ONNX file (truncated or not protobuf: {first}){hint}") from None
    if proto.ir_version <= 0 or not proto.HasField("graph") or not proto.graph.node:
        raise ModelLoadError(f"{path}: not an ONNX model (no ir_version or empty graph)")
    return proto


def _default_opset(proto: onnx.ModelProto) -> int:
    for op in proto.opset_import:
        if op.domain in ("", "ai.onnx"):
            return int(op.version)
    raise ModelLoadError("model declares no default-domain opset")


def _skeleton(proto: onnx.ModelProto, stripped: dict[str, tuple[int, int]]) -> onnx.ModelProto:
    """A copy of the model without the data of large initializers. Those become typed graph inputs:
    the checker and shape inference need only their type and dims, and copying them would cost more
    than the whole analysis."""
    sk = onnx.ModelProto()
    sk.ir_version = proto.ir_version
    sk.opset_import.extend(proto.opset_import)
    sk.functions.extend(proto.functions)
    g, src = sk.graph, proto.graph
    g.name = src.name
    g.node.extend(src.node)
    g.input.extend(src.input)
    g.output.extend(src.output)
    g.value_info.extend(src.value_info)
    g.sparse_initializer.extend(src.sparse_initializer)
    declared = {vi.name for vi in src.input}
    for t in src.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL or t.name in stripped:
            if t.name not in declared:
                vi = g.input.add(name=t.name)  # as helper.make_tensor_value_info, built directly
                tt = vi.type.tensor_type
                tt.elem_type = t.data_type
                tt.shape.SetInParent()
                for d in t.dims:
                    tt.shape.dim.add(dim_value=d)
        else:
            g.initializer.append(t)
    return sk


def _check_raw_size(t: onnx.TensorProto, dims: tuple[int, ...], length: int, model_file: Path | None) -> None:
    """An initializer's raw bytes are not more than its dims x its element size (packed for sub-byte types): ONNX's
    checker refuses too few, but not too many (19 bytes for two int64s), which numpy then cannot read (rebatch.py)."""
    size = dtype_itemsize(t.data_type)
    if not size or any(d < 0 for d in dims):
        return  # strings and unknown types have no fixed size; negative dims are the checker's to refuse
    n = 1
    for d in dims:
        n *= d
    need = math.ceil(n * size)
    if length > need:  # too few bytes: the checker (small tensors) or the sparsity scan (stripped ones) says so
        where = f"{model_file}: " if model_file is not None else ""
        raise ModelLoadError(f"{where}initializer '{t.name[:80]}' holds {length} bytes of raw data; its dims {list(dims)[:8]} "
                             f"of {dtype_name(t.data_type)} need {need}")


def _weights(proto: onnx.ModelProto, model_dir: Path, mapped: memoryview,
             stripped: dict[str, tuple[int, int]], seeded_file: str | None = None,
             model_file: Path | None = None) -> dict[str, WeightData]:
    out: dict[str, WeightData] = {}
    generated = seeded_file is not None and not (model_dir / seeded_file).is_file()  # a sample's weights: generated
    located: dict[str, tuple[Path, int]] = {}  # each external file's location checked once (external_data.resolve)
    for t in proto.graph.initializer:
        dims = tuple(int(d) for d in t.dims)
        if t.name in stripped:
            offset, length = stripped[t.name]
            _check_raw_size(t, dims, length, model_file)
            out[t.name] = WeightData(t.name, t.data_type, dims, raw=mapped[offset : offset + length])
        elif t.data_location == onnx.TensorProto.EXTERNAL:
            entries = {e.key: e.value for e in t.external_data}
            if generated and entries.get("location") == seeded_file:
                out[t.name] = WeightData(t.name, t.data_type, dims, seeded=True)  # a sample's generated weight
                continue
            out[t.name] = WeightData(t.name, t.data_type, dims, external=resolve(model_dir, t.name, entries, model_file, located))
        elif t.raw_data:
            _check_raw_size(t, dims, len(t.raw_data), model_file)
            out[t.name] = WeightData(t.name, t.data_type, dims, raw=t.raw_data)
        else:  # typed fields (float_data, int32_data, ...): small in practice
            try:
                arr = onnx.numpy_helper.to_array(t)
            except Exception as e:  # noqa: BLE001 - onnx raises bare exceptions for malformed tensors
                raise ModelLoadError(f"initializer '{t.name}' is malformed ({e})") from None
            out[t.name] = WeightData(t.name, t.data_type, dims, raw=arr.tobytes())
    return out


def _check_bindings(dims: dict[str, int], batch: int | None) -> None:
    """The API's own edge: the CLI checks its flags, a library caller gets the same limits."""
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH):
        raise UsageError(f"{param('batch')} {echo(batch)}: must be an integer from 1 to {MAX_BATCH:,}")
    if not isinstance(dims, dict):
        raise UsageError(f"{param('dims')} {echo(dims)}: must be a dict of dim name -> integer")
    for name, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_DIM:
            raise UsageError(f"dim {echo(name)}={echo(v)}: must be an integer from 0 to {MAX_DIM:,}")


def stored_external_weights(path: Path) -> bool:
    """Whether the model keeps weights in external files (a seeded sample's generated weights do not count:
    they are made wherever the model is measured)."""
    try:
        light, _ = strip_weights(map_model_file(path), _STRIP_BYTES)
    except WireError as e:
        raise ModelLoadError(f"{path}: not a valid ONNX file ({e})") from None
    proto = parse_model(path, light)
    rec = seeded.info(proto)
    return any(t.data_location == onnx.TensorProto.EXTERNAL and not (rec and any(
        e.key == "location" and e.value == rec["file"] for e in t.external_data)) for t in proto.graph.initializer)


@dataclass(frozen=True, slots=True)
class InputSignature:
    """A graph input as declared: its name and dims (a value, or the exporter's name or expression)."""

    name: str
    dims: tuple[int | str, ...] | None
    dtype: str
    itemsize: float


def input_signature(path: Path) -> list[InputSignature]:
    """The model's inputs (initializers excluded), read without its weights."""
    mapped = map_model_file(path)
    try:
        light, _ = strip_weights(mapped, _STRIP_BYTES)
    except WireError as e:
        raise ModelLoadError(f"{path}: not a valid ONNX file ({e})") from None
    proto = parse_model(path, light)
    inits = {t.name for t in proto.graph.initializer}
    out = []
    for vi in proto.graph.input:
        if vi.name in inits:
            continue
        shape, elem = shape_of(vi.type)
        out.append(InputSignature(vi.name, tuple(d if isinstance(d, int) and d > 0 or isinstance(d, str) else "?"
                                                  for d in shape) if shape is not None else None, dtype_name(elem),
                                  dtype_itemsize(elem)))
    return out


def load_onnx(path: Path, dims: dict[str, int] | None = None, batch: int | None = None,
              hash_file: bool = True, assume_upper_bound: bool = False, trusted: bool = False) -> LoadedModel:
    """The model file as our IR, every shape known. `trusted` is for models this tool built itself in this
    process (the synthetic search space): the checks for hostile files (text that is not UTF-8, cycles, two
    producers, hazardous Einsums) and the limited worker process are skipped; ONNX's checker and shape
    inference still run."""
    dims = dict(dims or {})
    _check_bindings(dims, batch)
    mapped = map_model_file(path)
    large = hash_file and len(mapped) >= INLINE_HASH_BYTES  # a small file is hashed in line and not remembered
    with hash_cache.hashing_pool(len(mapped) if hash_file else 0) as pool:
        # hashlib releases the GIL: a large file is hashed while its graph is parsed and analysed
        cached = hash_cache.lookup(path) if large else None if hash_file else ""
        sha_future = pool.submit(lambda: cached if cached is not None else hashlib.sha256(mapped).hexdigest())
        try:
            light, stripped = strip_weights(mapped, _STRIP_BYTES)
        except WireError as e:
            sha_future.result()
            raise ModelLoadError(f"{path}: not a valid ONNX file ({e})") from None
        proto = parse_model(path, light)
        _default_opset(proto)  # a model without a default-domain opset is refused before its weights are read
        rec = seeded.info(proto)
        if not trusted:
            reject_unreadable(proto, path)
        weights = _weights(proto, path.parent, memoryview(mapped), stripped, rec["file"] if rec else None, path)
        loaded = _analyse(path, proto, stripped, weights, dims, batch, assume_upper_bound, trusted)
        digest = sha_future.result()
        if large and cached is None:
            hash_cache.remember(path, digest)
        return replace(loaded, sha256=digest, seeded=rec if rec and any(w.seeded for w in weights.values()) else None)


def _analyse(path: Path, proto: onnx.ModelProto, stripped: dict[str, tuple[int, int]], weights: dict[str, WeightData],
             dims: dict[str, int], batch: int | None, assume_upper_bound: bool = False, trusted: bool = False) -> LoadedModel:
    opset = _default_opset(proto)
    sk = _skeleton(proto, stripped)
    inits = {t.name for t in proto.graph.initializer}
    if trusted:
        inferred, notes, scale, found = bind_and_infer(sk, path, dims, batch, inits, assume_upper_bound)
    else:
        check_declared_dims(sk, path)
        check_dataflow(sk.graph, path)
        reject_known_hazards(sk.graph, path)
        # ONNX's C++ checker and inference, and our folding, under the time and memory limits (guard.py)
        inferred_bytes, notes, scale, found = guard.run_limited(_shapes, sk, path, dims, batch, inits, assume_upper_bound,
                                                                what=str(path))
        if not guard.SUPPORTED:
            notes.append(guard.NO_LIMIT_NOTE)
        inferred = onnx.ModelProto()
        inferred.ParseFromString(inferred_bytes)
    check_inferred_dims(inferred, path)
    opsets = {("" if o.domain == "ai.onnx" else o.domain): int(o.version) for o in proto.opset_import}
    init_infos = {t.name: tensor_info(t.name, tuple(int(d) for d in t.dims), t.data_type, True, const_values(t))
                  for t in proto.graph.initializer}
    graph, _ = to_ir(inferred.graph, init_infos, opsets)
    initializers = tuple(init_infos.values())
    native_batch = batch if batch is not None else leading_dim(inferred, inits)
    return LoadedModel(path, "", opset, graph, initializers, weights, native_batch, scale,
                       {k: v for k, v in dims.items() if k in found}, tuple(notes))


def _shapes(sk: onnx.ModelProto, path: Path, dims: dict[str, int], batch: int | None, inits: set[str],
            assume_upper_bound: bool) -> tuple[bytes, list[str], int, set[str]]:
    """bind_and_infer with the inferred model as bytes, as the limited worker sends it back."""
    inferred, notes, scale, found = bind_and_infer(sk, path, dims, batch, inits, assume_upper_bound)
    return inferred.SerializeToString(), notes, scale, found


# ---- protobuf -> IR -------------------------------------------------------------------------------


def rebatched_model_bytes(path: Path, batch: int) -> bytes | None:
    """The model with the fixed leading dim of its inputs and outputs made symbolic ('batch'), so a runtime
    accepts `batch` items; None when no input fixes a different batch. Models with external data are
    refused (their weights cannot travel in one buffer)."""
    proto = onnx.load(str(path), load_external_data=False)
    inits = {t.name for t in proto.graph.initializer}
    fixed = [vi for vi in proto.graph.input if vi.name not in inits and vi.type.tensor_type.shape.dim
             and vi.type.tensor_type.shape.dim[0].HasField("dim_value") and vi.type.tensor_type.shape.dim[0].dim_value != batch]
    if not fixed:
        return None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise UsageError(f"{path}: inputs fix the batch to {fixed[0].type.tensor_type.shape.dim[0].dim_value} and the "
                         "weights are external; export with a dynamic batch axis to measure other batches")
    for vi in list(proto.graph.input) + list(proto.graph.output):
        if vi.name in inits or not vi.type.tensor_type.shape.dim:
            continue
        d = vi.type.tensor_type.shape.dim[0]
        d.Clear()
        d.dim_param = "batch"
    del proto.graph.value_info[:]  # stale intermediate shapes would contradict the new batch
    return proto.SerializeToString()
