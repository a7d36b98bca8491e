"""ONNX model file -> our IR. The only module (with load/contrib_shapes.py) that imports onnx.

Weights are never loaded to count work: large initializers are stripped to their dims before shape
inference, and their bytes are only located (inline slice or external file range) for the sparsity scan.
"""

from __future__ import annotations

import hashlib
import math
import mmap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import onnx
from google.protobuf.message import DecodeError
from onnx import helper, shape_inference

from ..errors import ModelLoadError, ShapeError, UnboundDimError, UsageError
from ..ir import Dim, Graph, Node, TensorInfo
from ..units import dtype_itemsize, dtype_name
from . import contrib_shapes, dim_expr, hash_cache, seeded, shape_fold
from .external_data import ExternalRef, resolve
from ..errors import WireError
from .wire import strip_weights

PINNED_NOTE = ("constants in the graph pin the batch; profiled one item and scaled per-item work and activation "
               "traffic by {batch} (weights counted once)")
_STRIP_BYTES = 4096  # initializers larger than this lose their data in the inference skeleton
_CONST_MAX_ELEMS = 16  # small constants keep their values (trip counts, scales)


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
        with open(path, "rb") as f:
            if path.stat().st_size == 0:
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
        raise ModelLoadError(f"{path}: not a valid ONNX file (truncated or not protobuf: {first})") from None
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
                g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        else:
            g.initializer.append(t)
    return sk


def _weights(proto: onnx.ModelProto, model_dir: Path, mapped: memoryview,
             stripped: dict[str, tuple[int, int]], seeded_file: str | None = None) -> dict[str, WeightData]:
    out: dict[str, WeightData] = {}
    for t in proto.graph.initializer:
        dims = tuple(int(d) for d in t.dims)
        if t.name in stripped:
            offset, length = stripped[t.name]
            out[t.name] = WeightData(t.name, t.data_type, dims, raw=mapped[offset : offset + length])
        elif t.data_location == onnx.TensorProto.EXTERNAL:
            entries = {e.key: e.value for e in t.external_data}
            if seeded_file is not None and entries.get("location") == seeded_file and not (model_dir / seeded_file).is_file():
                out[t.name] = WeightData(t.name, t.data_type, dims, seeded=True)  # a sample's generated weight
                continue
            out[t.name] = WeightData(t.name, t.data_type, dims, external=resolve(model_dir, t.name, entries))
        elif t.raw_data:
            out[t.name] = WeightData(t.name, t.data_type, dims, raw=t.raw_data)
        else:  # typed fields (float_data, int32_data, ...): small in practice
            try:
                arr = onnx.numpy_helper.to_array(t)
            except Exception as e:  # noqa: BLE001 - onnx raises bare exceptions for malformed tensors
                raise ModelLoadError(f"initializer '{t.name}' is malformed ({e})") from None
            out[t.name] = WeightData(t.name, t.data_type, dims, raw=arr.tobytes())
    return out


def _check(sk: onnx.ModelProto, path: Path) -> None:
    try:
        onnx.checker.check_model(sk)
    except onnx.checker.ValidationError as e:
        first = str(e).strip().splitlines()[0]
        if "Field 'shape' of 'type' is required" in first:
            return  # outputs declared without a shape: ONNX Runtime accepts these, and so do we
        raise ModelLoadError(f"{path}: invalid ONNX graph: {first}") from None


def _set_dim(dim: onnx.TensorShapeProto.Dimension, value: int) -> None:
    dim.Clear()
    dim.dim_value = value


def _bind_inputs(sk: onnx.ModelProto, dims: dict[str, int], batch: int | None, inits: set[str]) -> set[str]:
    """Bind symbolic input dims in place; with batch, set the leading dim of every graph input
    (initializers excluded). Returns the dim names that were found."""
    found: set[str] = set()
    for vi in sk.graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
            continue
        shape = vi.type.tensor_type.shape.dim
        for i, d in enumerate(shape):
            if d.HasField("dim_param"):
                names = dim_expr.names(d.dim_param)
                found.update(names)
                value = dim_expr.evaluate(d.dim_param, dims)
                if value is not None:
                    _set_dim(d, value)
            if i == 0 and batch is not None:
                _set_dim(d, batch)
    if batch is not None:
        # Exporters also declare the traced batch on outputs and intermediate values; left in place those
        # would contradict the new batch, so outputs' leading dims become free and value_info is re-inferred.
        for vi in sk.graph.output:
            dims_out = vi.type.tensor_type.shape.dim if vi.type.HasField("tensor_type") else []
            if dims_out:
                dims_out[0].Clear()
        del sk.graph.value_info[:]
    return found


def _infer(sk: onnx.ModelProto, path: Path, strict: bool) -> onnx.ModelProto:
    try:
        inferred = shape_inference.infer_shapes(sk, check_type=False, strict_mode=strict, data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ShapeError(f"{path}: shape inference failed: {first}") from None
    return contrib_shapes.complete(inferred, lambda m: shape_inference.infer_shapes(
        m, check_type=False, strict_mode=False, data_prop=True))


def _outputs_keep_batch(model: onnx.ModelProto, batch: int) -> bool:
    for vi in model.graph.output:
        shape = vi.type.tensor_type.shape.dim if vi.type.HasField("tensor_type") else []
        if shape and shape[0].HasField("dim_value") and shape[0].dim_value != batch:
            return False
    return True


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
        shape, elem = _shape(vi.type)
        out.append(InputSignature(vi.name, tuple(d if isinstance(d, int) and d > 0 or isinstance(d, str) else "?"
                                                  for d in shape) if shape is not None else None, dtype_name(elem),
                                  dtype_itemsize(elem)))
    return out


def load_onnx(path: Path, dims: dict[str, int] | None = None, batch: int | None = None,
              hash_file: bool = True, assume_upper_bound: bool = False) -> LoadedModel:
    dims = dict(dims or {})
    mapped = map_model_file(path)
    with ThreadPoolExecutor(1) as pool:
        # hashlib releases the GIL: the file is hashed while its graph is parsed and analysed
        cached = hash_cache.lookup(path) if hash_file else ""
        sha_future = pool.submit(lambda: cached if cached is not None else hashlib.sha256(mapped).hexdigest())
        try:
            light, stripped = strip_weights(mapped, _STRIP_BYTES)
        except WireError as e:
            sha_future.result()
            raise ModelLoadError(f"{path}: not a valid ONNX file ({e})") from None
        proto = parse_model(path, light)
        opset = _default_opset(proto)
        rec = seeded.info(proto)
        weights = _weights(proto, path.parent, memoryview(mapped), stripped, rec["file"] if rec else None)
        loaded = _analyse(path, proto, stripped, weights, opset, dims, batch, assume_upper_bound)
        digest = sha_future.result()
        if hash_file and cached is None:
            hash_cache.remember(path, digest)
        return replace(loaded, sha256=digest, seeded=rec if rec and any(w.seeded for w in weights.values()) else None)


def _analyse(path: Path, proto: onnx.ModelProto, stripped: dict[str, tuple[int, int]], weights: dict[str, WeightData],
             opset: int, dims: dict[str, int], batch: int | None, assume_upper_bound: bool = False) -> LoadedModel:
    sk = _skeleton(proto, stripped)
    inits = {t.name for t in proto.graph.initializer}
    _check(sk, path)
    notes: list[str] = []
    scale = 1

    bound = onnx.ModelProto()
    bound.CopyFrom(sk)
    found = _bind_inputs(bound, dims, batch, inits)
    try:
        inferred = _infer(bound, path, strict=True)
        pinned = batch is not None and not _outputs_keep_batch(inferred, batch)
    except ShapeError as e:
        if batch is None:
            inferred = _infer(bound, path, strict=False)
            notes.append(f"{str(e).removeprefix(f'{path}: ')}; shapes inferred leniently")
        pinned = batch is not None
    if pinned:
        # Constants in the graph fix the batch (e.g. Reshape to [1, ...]): profile one item and scale.
        bound = onnx.ModelProto()
        bound.CopyFrom(sk)
        _bind_inputs(bound, dims, None, inits)
        _bind_leading_to_one(bound, inits)
        inferred = _infer(bound, path, strict=False)
        scale = batch  # type: ignore[assignment]
        notes.append(PINNED_NOTE.format(batch=batch))
    for name in sorted(set(dims) - found):
        notes.append(f"--dim {name} does not name a symbolic input dim of this model; ignored")
    _require_bound(inferred, inits)
    inferred, assumed = shape_fold.resolve(bound, inferred, lambda m: _infer(m, path, strict=False), assume_upper_bound)
    notes += assumed
    if shape_fold.unknown_dims(inferred):
        _explain_data_dependence(inferred, path)
    opsets = {("" if o.domain == "ai.onnx" else o.domain): int(o.version) for o in proto.opset_import}
    init_infos = {t.name: _tensor_info(t.name, tuple(int(d) for d in t.dims), t.data_type, True, _const_values(t))
                  for t in proto.graph.initializer}
    graph, _ = to_ir(inferred.graph, init_infos, opsets)
    initializers = tuple(init_infos.values())
    native_batch = batch if batch is not None else _leading_dim(inferred, inits)
    return LoadedModel(path, "", opset, graph, initializers, weights, native_batch, scale,
                       {k: v for k, v in dims.items() if k in found}, tuple(notes))


def _explain_data_dependence(model: onnx.ModelProto, path: Path) -> None:
    """Raise a ShapeError naming the node whose output size depends on input values, if there is one."""
    found = shape_fold.data_dependent(model)
    if found is None:
        return  # left for the cost handlers to name where a count needs the unknown dim
    node, op, out, inputs = found
    on = f"the values of input {', '.join(repr(i) for i in inputs)}" if inputs else "values computed in the graph"
    raise ShapeError(f"{path}: the size of '{out}' ({op} at node '{node}') depends on {on}, not on the input dims; "
                     "cost the largest case with --assume-upper-bound")


def _bind_leading_to_one(sk: onnx.ModelProto, inits: set[str]) -> None:
    for vi in sk.graph.input:
        if vi.name not in inits and vi.type.tensor_type.shape.dim:
            d = vi.type.tensor_type.shape.dim[0]
            if d.HasField("dim_param") or not d.HasField("dim_value"):
                _set_dim(d, 1)


def _leading_dim(model: onnx.ModelProto, inits: set[str]) -> int | None:
    for vi in model.graph.input:
        if vi.name not in inits and vi.type.tensor_type.shape.dim:
            d = vi.type.tensor_type.shape.dim[0]
            return int(d.dim_value) if d.HasField("dim_value") else None
    return None


def _require_bound(model: onnx.ModelProto, inits: set[str]) -> None:
    unbound: list[str] = []
    for vi in model.graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type"):
            continue
        for d in vi.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                unbound.append(d.dim_param or f"?({vi.name})")
    if unbound:
        raise UnboundDimError(unbound, "model inputs")


# ---- protobuf -> IR -------------------------------------------------------------------------------


def _shape(t: onnx.TypeProto) -> tuple[tuple[Dim, ...] | None, int]:
    if not t.HasField("tensor_type"):
        return None, 0
    tt = t.tensor_type
    if not tt.HasField("shape"):
        return None, tt.elem_type
    dims: list[Dim] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or "?")
    return tuple(dims), tt.elem_type


def _tensor_info(name: str, shape: tuple[Dim, ...] | None, elem: int, init: bool = False,
                 const: tuple[float, ...] | None = None) -> TensorInfo:
    return TensorInfo(name, shape, dtype_name(elem), dtype_itemsize(elem), init, const)


def _const_values(t: onnx.TensorProto) -> tuple[float, ...] | None:
    n = math.prod(t.dims) if t.dims else 1
    if n > _CONST_MAX_ELEMS or t.data_location == onnx.TensorProto.EXTERNAL or t.data_type in (8, 14, 15):
        return None
    try:
        return tuple(float(v) for v in onnx.numpy_helper.to_array(t).reshape(-1))
    except Exception:  # noqa: BLE001 - malformed constant: just no value
        return None


@lru_cache(maxsize=None)
def _attr_defaults(op_type: str, domain: str, opset: int) -> dict[str, Any]:
    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return {}
    out = {}
    for name, a in schema.attributes.items():
        if a.default_value.name:
            v = helper.get_attribute_value(a.default_value)
            out[name] = v.decode() if isinstance(v, bytes) else v
    return out


def to_ir(g: onnx.GraphProto, outer: dict[str, TensorInfo], opsets: dict[str, int] | None = None
          ) -> tuple[Graph, tuple[TensorInfo, ...]]:
    values = dict(outer)
    inits: list[TensorInfo] = []
    for t in g.initializer:
        ti = _tensor_info(t.name, tuple(int(d) for d in t.dims), t.data_type, True, _const_values(t))
        values[t.name] = ti
        inits.append(ti)
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.name in values and values[vi.name].is_initializer:
            continue
        shape, elem = _shape(vi.type)
        if vi.name not in values or values[vi.name].shape is None:
            values[vi.name] = _tensor_info(vi.name, shape, elem)
    nodes = []
    for i, n in enumerate(g.node):
        attrs: dict[str, Any] = dict(_attr_defaults(n.op_type, n.domain, (opsets or {}).get(n.domain, 10**6)))
        subgraphs: dict[str, Graph] = {}
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                subgraphs[a.name] = to_ir(a.g, values, opsets)[0]
            elif a.type in (onnx.AttributeProto.TENSOR, onnx.AttributeProto.SPARSE_TENSOR):
                attrs[a.name] = None
                if n.op_type == "Constant" and a.type == onnx.AttributeProto.TENSOR and n.output:
                    shape = tuple(int(d) for d in a.t.dims)
                    values[n.output[0]] = _tensor_info(n.output[0], shape, a.t.data_type, True, _const_values(a.t))  # a constant: read like a weight
            elif a.type != onnx.AttributeProto.GRAPHS:
                v = helper.get_attribute_value(a)
                attrs[a.name] = v.decode(errors="replace") if isinstance(v, bytes) else v
        ins = tuple(values.get(x, _tensor_info(x, None, 0)) if x else None for x in n.input)
        outs = tuple(values.get(x, _tensor_info(x, None, 0)) if x else None for x in n.output)
        nodes.append(Node(n.name or f"{n.op_type}_{i}", n.op_type, n.domain, attrs, ins, outs, subgraphs))
    graph = Graph(g.name, tuple(nodes), tuple(values[v.name] for v in g.input if v.name in values and not values[v.name].is_initializer),
                  tuple(values[v.name] for v in g.output if v.name in values))
    return graph, tuple(inits)


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
