"""numpy evaluators for the ONNX operators that compute shapes on the host (used by shape_fold.py).

Each takes the input values (None for an omitted optional input), the node's attributes and the default
opset, and returns the output values; ONNX semantics where they differ from numpy's (integer Div truncates
toward zero, Slice clamps, Reshape's 0 copies a dim). Only small values are folded: shapes, not data.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from onnx import helper

MAX_FOLD_ELEMS = 1 << 16
Values = list["np.ndarray | None"]
Evaluator = Callable[[Values, dict[str, Any], int], "list[np.ndarray] | None"]
EVALUATORS: dict[str, Evaluator] = {}


def op(*names: str) -> Callable[[Evaluator], Evaluator]:
    def register(fn: Evaluator) -> Evaluator:
        for n in names:
            EVALUATORS[n] = fn
        return fn
    return register


def _ints(v: np.ndarray | None) -> list[int]:
    return [] if v is None else [int(x) for x in np.asarray(v).reshape(-1)]


def _axes(ins: Values, attrs: dict[str, Any], opset: int, since: int) -> list[int] | None:
    """Axes as an attribute (before `since`) or the second input (from it)."""
    if opset >= since:
        return _ints(ins[1]) if len(ins) > 1 and ins[1] is not None else None
    return list(attrs["axes"]) if "axes" in attrs else None


@op("Constant")
def _constant(ins, attrs, opset):
    from onnx import numpy_helper

    if "value" in attrs:
        return [numpy_helper.to_array(attrs["value"])]
    for key, dtype in (("value_int", np.int64), ("value_float", np.float32)):
        if key in attrs:
            return [np.array(attrs[key], dtype=dtype)]
    for key, dtype in (("value_ints", np.int64), ("value_floats", np.float32)):
        if key in attrs:
            return [np.array(list(attrs[key]), dtype=dtype)]
    return None


@op("Shape")
def _shape(ins, attrs, opset):
    shape = list(attrs["_shape"])
    rank = len(shape)
    start, end = attrs.get("start", 0), attrs.get("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return [np.array(shape[start:end], dtype=np.int64)]


@op("Size")
def _size(ins, attrs, opset):
    return [np.array(int(np.prod(attrs["_shape"], dtype=np.int64)), dtype=np.int64)]


@op("Identity")
def _identity(ins, attrs, opset):
    return [ins[0]]


@op("Cast")
def _cast(ins, attrs, opset):
    return [ins[0].astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))]


@op("Gather")
def _gather(ins, attrs, opset):
    data, idx = ins[0], ins[1].astype(np.int64)
    axis = attrs.get("axis", 0) % max(data.ndim, 1)
    idx = np.where(idx < 0, idx + data.shape[axis], idx)
    return [np.take(data, idx, axis=axis)]


@op("Unsqueeze")
def _unsqueeze(ins, attrs, opset):
    axes = _axes(ins, attrs, opset, 13) or []
    x = ins[0]
    rank = x.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        x = np.expand_dims(x, a)
    return [x]


@op("Squeeze")
def _squeeze(ins, attrs, opset):
    axes = _axes(ins, attrs, opset, 13)
    x = ins[0]
    if axes is None:
        return [np.squeeze(x)]
    return [np.squeeze(x, axis=tuple(a % x.ndim for a in axes))]


@op("Concat")
def _concat(ins, attrs, opset):
    parts = [x for x in ins if x is not None]
    return [np.concatenate([np.atleast_1d(p) for p in parts], axis=attrs.get("axis", 0))]


@op("Slice")
def _slice(ins, attrs, opset):
    x = ins[0]
    if opset >= 10:
        starts, ends = _ints(ins[1]), _ints(ins[2])
        axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
        steps = _ints(ins[4]) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    else:
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes = list(attrs.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise ValueError("Slice step 0")
        index[a % x.ndim] = slice(s, e, st)  # Python slicing clamps as ONNX does
    return [x[tuple(index)]]


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.any(b == 0):
        raise ZeroDivisionError
    q = np.abs(a) // np.abs(b)
    return (q * np.sign(a) * np.sign(b)).astype(np.result_type(a, b))


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power, "Equal": np.equal, "Less": np.less,
    "Greater": np.greater, "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal, "And": np.logical_and,
    "Or": np.logical_or, "Xor": np.logical_xor, "BitShift": np.left_shift,
}


_LOGICAL = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"}


def _binary(name: str, f: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Evaluator:
    def run(ins: Values, attrs: dict[str, Any], opset: int) -> list[np.ndarray]:
        dtype = np.bool_ if name in _LOGICAL else np.result_type(ins[0], ins[1])
        return [np.asarray(f(ins[0], ins[1])).astype(dtype)]
    return run


for _name, _fn in _BINARY.items():
    EVALUATORS[_name] = _binary(_name, _fn)


@op("Div")
def _div(ins, attrs, opset):
    a, b = ins[0], ins[1]
    if np.issubdtype(a.dtype, np.integer):
        return [_int_div(a, b)]
    return [np.asarray(a / b).astype(a.dtype)]


@op("Mod")
def _mod(ins, attrs, opset):
    a, b = ins[0], ins[1]
    if np.any(b == 0):
        raise ZeroDivisionError
    return [np.fmod(a, b) if attrs.get("fmod", 0) else np.mod(a, b)]


_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Neg": np.negative, "Abs": np.abs, "Floor": np.floor, "Ceil": np.ceil, "Sqrt": np.sqrt, "Not": np.logical_not,
    "Sign": np.sign, "Reciprocal": np.reciprocal, "Round": np.round, "Exp": np.exp, "Log": np.log,
}
def _unary(name: str, f: Callable[[np.ndarray], np.ndarray]) -> Evaluator:
    def run(ins: Values, attrs: dict[str, Any], opset: int) -> list[np.ndarray]:
        return [np.asarray(f(ins[0])).astype(np.bool_ if name == "Not" else ins[0].dtype)]
    return run


def _variadic(f: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Evaluator:
    def run(ins: Values, attrs: dict[str, Any], opset: int) -> list[np.ndarray]:
        xs = [x for x in ins if x is not None]
        out = xs[0]
        for x in xs[1:]:
            out = f(out, x)
        return [np.asarray(out).astype(xs[0].dtype)]
    return run


for _name, _fn in _UNARY.items():
    EVALUATORS[_name] = _unary(_name, _fn)
for _name, _fn in (("Min", np.minimum), ("Max", np.maximum), ("Sum", np.add)):
    EVALUATORS[_name] = _variadic(_fn)


@op("Where")
def _where(ins, attrs, opset):
    return [np.where(ins[0], ins[1], ins[2]).astype(np.result_type(ins[1], ins[2]))]


@op("Range")
def _range(ins, attrs, opset):
    start, limit, delta = (np.asarray(x).reshape(()) for x in ins[:3])
    if delta == 0:
        raise ValueError("Range delta 0")
    n = max(int(np.ceil((limit - start) / delta)), 0)
    if n > MAX_FOLD_ELEMS:
        return None
    return [(start + delta * np.arange(n)).astype(start.dtype)]


@op("ConstantOfShape")
def _constant_of_shape(ins, attrs, opset):
    from onnx import numpy_helper

    shape = _ints(ins[0])
    if any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.int64)) > MAX_FOLD_ELEMS:
        return None
    value = numpy_helper.to_array(attrs["value"]).reshape(-1) if "value" in attrs else np.zeros(1, np.float32)
    return [np.full(shape, value[0], dtype=value.dtype)]


@op("Expand")
def _expand(ins, attrs, opset):
    shape = _ints(ins[1])
    x = ins[0]
    rank = max(x.ndim, len(shape))
    xs = [1] * (rank - x.ndim) + list(x.shape)
    ss = [1] * (rank - len(shape)) + shape
    target = [a if b == 1 else b for a, b in zip(xs, ss)]
    if int(np.prod(target, dtype=np.int64)) > MAX_FOLD_ELEMS:
        return None
    return [np.broadcast_to(x.reshape(xs), target).copy()]


@op("Reshape")
def _reshape(ins, attrs, opset):
    x, shape = ins[0], _ints(ins[1])
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [x.reshape(shape)]


@op("Tile")
def _tile(ins, attrs, opset):
    reps = _ints(ins[1])
    if int(np.prod(reps, dtype=np.int64)) * ins[0].size > MAX_FOLD_ELEMS:
        return None
    return [np.tile(ins[0], reps)]


@op("Transpose")
def _transpose(ins, attrs, opset):
    perm = attrs.get("perm")
    return [np.transpose(ins[0], perm)]


@op("Flatten")
def _flatten(ins, attrs, opset):
    x = ins[0]
    axis = attrs.get("axis", 1) % (x.ndim + 1) if x.ndim else 0
    return [x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)]


@op("Clip")
def _clip(ins, attrs, opset):
    lo = ins[1] if len(ins) > 1 and ins[1] is not None else attrs.get("min")
    hi = ins[2] if len(ins) > 2 and ins[2] is not None else attrs.get("max")
    return [np.clip(ins[0], lo, hi).astype(ins[0].dtype)]


_REDUCE = {"ReduceProd": np.prod, "ReduceSum": np.sum, "ReduceMax": np.max, "ReduceMin": np.min}


def _reduce(name: str, f: Callable[..., np.ndarray]) -> Evaluator:
    since = 13 if name == "ReduceSum" else 18  # axes moved from an attribute to an input

    def run(ins: Values, attrs: dict[str, Any], opset: int) -> list[np.ndarray]:
        axes = _axes(ins, attrs, opset, since)
        x = ins[0]
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return [x]
            axes = list(range(x.ndim))
        out = f(x, axis=tuple(a % x.ndim for a in axes), keepdims=bool(attrs.get("keepdims", 1)))
        return [np.asarray(out).astype(x.dtype)]
    return run


for _name, _fn in _REDUCE.items():
    EVALUATORS[_name] = _reduce(_name, _fn)
