"""Weight sparsity: unstructured zeros and N:M (2:4) structure along the reduction axis.

Reads weights in bounded chunks (external data is streamed, never loaded whole). Zero tests use the
integer view of each element with the sign bit masked, so +0 and -0 count and any float format works.
"""

from __future__ import annotations

import math

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import ModelLoadError
from ..ir import Graph, TensorInfo
from ..load.external_data import ExternalRef, iter_mapped_range
from ..load.onnx_graph import WeightData
from ..units import FLOAT_DTYPES

CHUNK_BYTES = 16 * 1024 * 1024
PARALLEL_BYTES = 64 * 1024 * 1024  # below this a thread pool costs more than it saves
N, M = 2, 4  # 2:4 structured sparsity: at least N zeros in every group of M

# BatchNormalization inputs 3 and 4 are running statistics (buffers), not parameters.
_BUFFER_INPUTS = {"BatchNormalization": (3, 4)}


@dataclass(frozen=True, slots=True)
class SparsityResult:
    params: int
    zero_params: int
    nm_eligible: int  # elements of Conv/MatMul/Gemm weights
    nm_in_groups: int  # of those, elements in groups of M with at least N zeros

    @property
    def weight_sparsity(self) -> float | None:
        return self.zero_params / self.params if self.params else None

    @property
    def nm_sparsity(self) -> float | None:
        return self.nm_in_groups / self.nm_eligible if self.nm_eligible else None


def _through_identity(graph: Graph) -> dict[str, str]:
    """Map outputs of Identity nodes back to their source tensor name."""
    alias: dict[str, str] = {}
    for n in graph.nodes:
        if n.op_type == "Identity" and n.inputs and n.inputs[0] is not None and n.outputs[0] is not None:
            src = n.inputs[0].name
            alias[n.outputs[0].name] = alias.get(src, src)
    return alias


def weight_roles(graph: Graph, initializers: tuple[TensorInfo, ...]) -> tuple[set[str], dict[str, int]]:
    """Return (parameter names, {weight name: reduction axis}) for the initializers.

    A float initializer is a parameter unless every use is as a BatchNormalization running statistic,
    or it is a rank-0 scalar (exporters store constants such as Clip bounds, scales and eps that way).
    Reduction axes: Conv W [M, C/g, k...] -> 1; ConvTranspose W [C, M/g, k...] -> 0; MatMul B -> -2
    (A -> -1); Gemm B -> 1 if transB else 0 (A -> 0 if transA else 1)."""
    alias = _through_identity(graph)
    init_names = {t.name for t in initializers}
    uses: dict[str, list[bool]] = {}
    axes: dict[str, int] = {}
    for n in graph.nodes:
        buffers = _BUFFER_INPUTS.get(n.op_type, ()) if n.domain in ("", "ai.onnx") else ()
        for i, t in enumerate(n.inputs):
            if t is None:
                continue
            name = alias.get(t.name, t.name)
            if name not in init_names or n.op_type == "Identity":
                continue
            uses.setdefault(name, []).append(i in buffers)
            axis = _reduction_axis(n.op_type, i, n.attrs)
            if axis is not None:
                axes.setdefault(name, axis)
    params = {t.name for t in initializers
              if t.dtype in FLOAT_DTYPES and t.shape != () and not all(uses.get(t.name, [False]))}
    return params, axes


def _reduction_axis(op: str, i: int, attrs) -> int | None:
    if op in ("Conv", "ConvInteger") and i == 1 or op == "QLinearConv" and i == 3:
        return 1
    if op == "ConvTranspose" and i == 1:
        return 0
    if op in ("MatMul", "MatMulInteger", "FusedMatMul"):
        return -2 if i == 1 else (-1 if i == 0 else None)
    if op == "Gemm":
        if i == 1:
            return 1 if attrs.get("transB", 0) else 0
        if i == 0:
            return 0 if attrs.get("transA", 0) else 1
    return None


def _chunks(w: WeightData, unit_bytes: int, lo: int = 0, hi: int | None = None) -> Iterator[memoryview]:
    """Bytes lo..hi of the tensor (all of it by default) in chunks of whole units."""
    if w.raw is not None:
        mv = memoryview(w.raw)[lo:hi]
        step = max(unit_bytes, (CHUNK_BYTES // unit_bytes) * unit_bytes) if unit_bytes else CHUNK_BYTES
        for start in range(0, len(mv), step):
            yield mv[start : start + step]
    elif w.external is not None:
        ref = w.external
        if lo or hi is not None:
            end = hi if hi is not None else _stored_bytes(w)
            ref = ExternalRef(ref.path, ref.offset + lo, end - lo)
        yield from iter_mapped_range(ref, CHUNK_BYTES, unit_bytes)


_IEEE = {"float32": np.float32, "float64": np.float64}


def _is_zero(buf: memoryview, itemsize: int, dtype: str) -> np.ndarray:
    """Which elements are zero, in one pass: float32/float64 compared as floats (+0.0 and -0.0 equal 0, nothing
    else does: a denormal is not zero), other floats by their integer view with the sign bit masked, integers as
    they are."""
    ieee = _IEEE.get(dtype)
    if ieee is not None:
        return np.frombuffer(buf, dtype=ieee) == 0
    u = np.frombuffer(buf, dtype={1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[itemsize])
    if dtype in FLOAT_DTYPES:  # mask the sign bit: -0.0 is zero
        u = u & np.array((1 << (8 * itemsize - 1)) - 1, dtype=u.dtype)
    return u == 0


def scan(graph: Graph, initializers: tuple[TensorInfo, ...], weights: dict[str, WeightData]) -> SparsityResult:
    """Count zeros and 2:4 groups over every parameter. With enough to read, the tensors are cut into spans of
    whole 2:4 units of about JOB_BYTES (a large embedding is many spans, not one thread's work) and the spans are
    counted on a thread per core: numpy's comparisons and counts and the file reads release the GIL. The counts
    are sums over spans, so they do not depend on the cut (tests/load/test_sparsity.py)."""
    params, axes = weight_roles(graph, initializers)
    plans = [_plan(t, weights[t.name], axes.get(t.name)) for t in initializers
             if t.name in params and t.name in weights and t.itemsize in (1, 2, 4, 8)]
    workers = min(os.cpu_count() or 1, 8) if sum(p.nbytes for p in plans) >= PARALLEL_BYTES else 1
    jobs = [(p, lo, hi) for p in plans for lo, hi in _spans(p)] if workers > 1 else [(p, 0, p.nbytes) for p in plans]
    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(min(workers, len(jobs))) as pool:
            parts = list(pool.map(lambda job: _scan_span(*job), jobs))
    else:
        parts = [_scan_span(*job) for job in jobs]
    seen: dict[int, int] = {}
    for (p, _, _), (_, _, elements) in zip(jobs, parts):
        seen[id(p)] = seen.get(id(p), 0) + elements
    for p in plans:
        if seen.get(id(p), 0) != p.numel:
            raise ModelLoadError(f"initializer '{p.t.name}' holds {seen.get(id(p), 0)} elements, its dims say {p.numel}")
    return SparsityResult(sum(p.numel for p in plans), sum(z for z, _, _ in parts),
                          sum(p.numel for p in plans if p.structured), sum(g for _, g, _ in parts))


JOB_BYTES = 16 * 1024 * 1024  # one thread's span of a tensor


@dataclass(frozen=True, slots=True)
class _Plan:
    """One tensor to scan: its weight bytes and how its 2:4 groups lie (length and post along the reduction axis;
    unit: the elements of whole groups, which a chunk or span never cuts)."""
    t: TensorInfo
    w: WeightData
    itemsize: int
    numel: int
    nbytes: int
    structured: bool
    length: int
    post: int
    full: int
    unit: int


def _plan(t: TensorInfo, w: WeightData, axis: int | None) -> _Plan:
    itemsize = int(t.itemsize)
    dims = w.dims
    numel = math.prod(dims)
    structured = axis is not None and len(dims) >= 2
    if structured:
        axis %= len(dims)
        length, post = dims[axis], math.prod(dims[axis + 1 :])
        full = (length // M) * M
        # One unit = whole groups: M rows of `post` (length divisible by M) or one full pre-row.
        unit = M * post if length % M == 0 else length * post
    else:
        unit, post, full, length = 0, 1, 0, 1
    stored = _stored_bytes(w)
    if stored is not None and stored != numel * itemsize:
        raise ModelLoadError(f"initializer '{t.name}' holds {stored} bytes, its dims {list(dims)} need {numel * itemsize}")
    return _Plan(t, w, itemsize, numel, numel * itemsize, structured, length, post, full, unit)


def _spans(p: _Plan) -> list[tuple[int, int]]:
    """The tensor's bytes cut into spans of about JOB_BYTES, each a whole number of units (of elements without
    a unit); at least one span, even for an empty tensor."""
    unit_bytes = (p.unit or 1) * p.itemsize
    step = max(unit_bytes, (JOB_BYTES // unit_bytes) * unit_bytes)
    return [(lo, min(lo + step, p.nbytes)) for lo in range(0, p.nbytes, step)] or [(0, 0)]


def _stored_bytes(w: WeightData) -> int | None:
    if w.raw is not None:
        return len(w.raw)
    if w.external is None:
        return None
    if w.external.length is not None:
        return w.external.length
    try:  # to the end of the file
        return w.external.path.stat().st_size - w.external.offset
    except OSError:
        return None


def _scan_span(p: _Plan, lo: int, hi: int) -> tuple[int, int, int]:
    """(zeros, elements in groups of M with at least N zeros, elements) of bytes lo..hi of one tensor, which
    start and end on whole units."""
    zeros = in_groups = seen = 0
    itemsize, length, post, full = p.itemsize, p.length, p.post, p.full
    whole = lo == 0 and hi == p.nbytes
    for buf in _chunks(p.w, p.unit * itemsize, *((0, None) if whole else (lo, hi))):
        if len(buf) % itemsize:
            raise ModelLoadError(f"initializer '{p.t.name}': {len(buf)} bytes are not whole {p.t.dtype} elements")
        is_zero = _is_zero(buf, itemsize, p.t.dtype)
        found = int(np.count_nonzero(is_zero))
        zeros += found
        if p.structured and full and found >= N:  # fewer zeros than N fill no group: dense weights skip the grouping
            if length % M == 0:
                g = is_zero.reshape(-1, M, post).sum(axis=1, dtype=np.uint8)
            else:
                g = is_zero.reshape(-1, length, post)[:, :full].reshape(-1, M, post).sum(axis=1, dtype=np.uint8)
            in_groups += M * int(np.count_nonzero(g >= N))
        seen += is_zero.size
    return zeros, in_groups, seen
