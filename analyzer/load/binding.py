"""Binding a model's input dims and batch, then inferring every shape (the part that runs ONNX's C++ code).

A batch given on the command line replaces the leading dim of every graph input. Exports often fix the traced
batch in constants too (Reshape to [1, ...]): those are rewritten to follow the batch (rebatch.py); where that
does not give a consistent graph, one item is profiled and its work scaled, and the notes say which.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import shape_inference

from ..errors import ShapeError, UnboundDimError
from . import contrib_shapes, dim_expr, shape_fold
from .rebatch import rebatch
from .validate import CONTRADICTIONS, check_model, explain_data_dependence

PINNED_NOTE = ("constants in the graph pin the batch; profiled one item and scaled per-item work and activation "
               "traffic by {batch} (weights counted once)")


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


# ONNX's value propagation takes any 1-D integer tensor for a shape and builds a dim for each of its values (about
# 80 bytes and 0.1 us each: an int64 input of 2^31 values asked for 170 GB, and one of 2^24 took 1.3 GB and 1.2 s). A
# shape has a few values; an integer input larger than this is data (token ids, masks), so for such a graph ONNX
# infers without propagating values, and the shape computations it would have followed are evaluated by our own
# folding (shape_fold.py), which bounds what it evaluates.
MAX_PROPAGATED_INT_ELEMS = 1 << 20
_INT_TYPES = {onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.UINT64, onnx.TensorProto.UINT32}


def _propagates_values(sk: onnx.ModelProto) -> bool:
    """Whether ONNX may propagate values: no integer graph input (a stripped initializer is one) holds more than
    MAX_PROPAGATED_INT_ELEMS values."""
    for vi in sk.graph.input:
        tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if tt is None or tt.elem_type not in _INT_TYPES or not tt.HasField("shape"):
            continue
        n = 1
        for d in tt.shape.dim:
            n *= d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
        if n > MAX_PROPAGATED_INT_ELEMS:
            return False
    return True


def _infer(sk: onnx.ModelProto, path: Path, strict: bool) -> onnx.ModelProto:
    prop = _propagates_values(sk)
    try:
        inferred = shape_inference.infer_shapes(sk, check_type=False, strict_mode=strict, data_prop=prop)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError, ValueError, TypeError) as e:
        # ONNX's C++ code raises ValueError for std::length_error ("vector::reserve") and TypeError for bad bindings
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ShapeError(f"{path}: shape inference failed: {first}") from None
    return contrib_shapes.complete(inferred, lambda m: shape_inference.infer_shapes(
        m, check_type=False, strict_mode=False, data_prop=prop))


def _outputs_keep_batch(model: onnx.ModelProto, batch: int) -> bool:
    for vi in model.graph.output:
        shape = vi.type.tensor_type.shape.dim if vi.type.HasField("tensor_type") else []
        if shape and shape[0].HasField("dim_value") and shape[0].dim_value != batch:
            return False
    return True


def bind_and_infer(sk: onnx.ModelProto, path: Path, dims: dict[str, int], batch: int | None, inits: set[str],
                  assume_upper_bound: bool) -> tuple[onnx.ModelProto, list[str], int, set[str]]:
    """Check, bind and infer every shape (the part that runs ONNX's C++ code): (inferred model, notes,
    batch scale, the input dim names found)."""
    check_model(sk, path)
    notes: list[str] = []
    scale = 1
    bound = onnx.ModelProto()
    bound.CopyFrom(sk)
    found = _bind_inputs(bound, dims, batch, inits)
    try:
        inferred = _infer(bound, path, strict=True)
        pinned = batch is not None and not _outputs_keep_batch(inferred, batch)
    except ShapeError as e:
        if "overflow" in str(e):  # a Reshape or Expand to more elements than int64 counts
            raise ShapeError(f"{e}; a shape is larger than any tensor can be") from None
        if any(k in str(e) for k in CONTRADICTIONS) and (batch is None or _contradicts_unbatched(sk, path, dims, inits)):
            raise ShapeError(f"{e}; the graph's shapes contradict each other") from None  # ONNX Runtime refuses it too
        if batch is None:
            inferred = _infer(bound, path, strict=False)
            notes.append(f"{str(e).removeprefix(f'{path}: ')}; shapes inferred leniently")
        pinned = batch is not None
    if pinned:
        # Constants in the graph fix the batch (e.g. Reshape to [1, ...]): rewrite them to follow the batch
        # (load/rebatch.py), and where that does not give a consistent graph, profile one item and scale.
        attempt = _rebatched(sk, path, dims, batch, inits)
        if attempt is not None:
            bound, inferred, n = attempt
            pinned = False
            notes.append(f"the export fixes its traced batch in {n} constant shape(s) (Reshape/Expand targets): "
                         f"rewritten to follow the batch, {batch}")
    if pinned:
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
    if shape_fold.has_unknown_dims(inferred):  # dims that only shape computations determine
        inferred, assumed = shape_fold.resolve(bound, inferred, lambda m: _infer(m, path, strict=False), assume_upper_bound)
        notes += assumed
        if shape_fold.has_unknown_dims(inferred):
            explain_data_dependence(inferred, path)
    return inferred, notes, scale, found


def _rebatched(sk: onnx.ModelProto, path: Path, dims: dict[str, int], batch: int, inits: set[str]
               ) -> tuple[onnx.ModelProto, onnx.ModelProto, int] | None:
    """(bound model, inferred model, constants rewritten) with the batch-pinning constant shapes rewritten, when
    shape inference then keeps the batch on every output; None otherwise."""
    bound = onnx.ModelProto()
    bound.CopyFrom(sk)
    n = rebatch(bound, inits, batch)
    if not n:
        return None
    _bind_inputs(bound, dims, batch, inits)
    try:
        inferred = _infer(bound, path, strict=True)
    except ShapeError:
        return None
    return (bound, inferred, n) if _outputs_keep_batch(inferred, batch) else None


def _contradicts_unbatched(sk: onnx.ModelProto, path: Path, dims: dict[str, int], inits: set[str]) -> bool:
    """Whether the graph contradicts itself as declared. A contradiction that only --batch brings (an input
    whose leading dim is not the batch, e.g. a weight fed as an input) takes the pinned-batch path instead."""
    plain = onnx.ModelProto()
    plain.CopyFrom(sk)
    _bind_inputs(plain, dims, None, inits)
    try:
        _infer(plain, path, strict=True)
    except ShapeError as e:
        return any(k in str(e) for k in CONTRADICTIONS)
    return False


def _bind_leading_to_one(sk: onnx.ModelProto, inits: set[str]) -> None:
    for vi in sk.graph.input:
        if vi.name not in inits and vi.type.tensor_type.shape.dim:
            d = vi.type.tensor_type.shape.dim[0]
            if d.HasField("dim_param") or not d.HasField("dim_value"):
                _set_dim(d, 1)


def leading_dim(model: onnx.ModelProto, inits: set[str]) -> int | None:
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
