"""Unstructured and 2:4 sparsity on weights with known patterns, inline and streamed from external data."""

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from analyzer.count import sparsity
from onnx_builders import init, model, one_node, profile_model, vi


def two_four(shape, axis, rng):
    """Random weights with exactly 2 zeros in every group of 4 along `axis`."""
    w = rng.standard_normal(shape).astype(np.float32)
    moved = np.moveaxis(w, axis, -1)
    groups = moved.reshape(*moved.shape[:-1], -1, 4)
    for idx in np.ndindex(groups.shape[:-1]):
        groups[idx][rng.choice(4, 2, replace=False)] = 0.0
    return np.moveaxis(groups.reshape(moved.shape), -1, axis).copy()


def test_conv_two_four_along_input_channels(tmp_path):
    rng = np.random.default_rng(0)
    w = two_four((8, 16, 3, 3), 1, rng)
    p = profile_model(one_node("Conv", {"x": [1, 16, 8, 8], "w": w}, {"y": None}, pads=[1, 1, 1, 1]), tmp_path)
    assert p.weight_sparsity == 0.5 and p.nm_sparsity == 1.0
    # the same zeros grouped along the wrong axis are not 2:4
    w_bad = np.ascontiguousarray(two_four((8, 16, 3, 3), 0, rng))
    p = profile_model(one_node("Conv", {"x": [1, 16, 8, 8], "w": w_bad}, {"y": None}, pads=[1, 1, 1, 1]), tmp_path)
    assert p.weight_sparsity == 0.5 and p.nm_sparsity < 0.9


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_two_four_follows_trans_b(tmp_path, trans_b):
    rng = np.random.default_rng(1)
    k, n = 32, 12
    w = two_four((n, k), 1, rng) if trans_b else two_four((k, n), 0, rng)
    p = profile_model(one_node("Gemm", {"a": [4, k], "b": w}, {"y": None}, transB=trans_b), tmp_path)
    assert p.nm_sparsity == 1.0 and p.weight_sparsity == 0.5


def test_partial_groups_and_negative_zero(tmp_path):
    w = np.ones((6, 3), np.float32)  # MatMul B [K=6, N=3]: one full group of 4 along K, 2 rows left over
    w[0, :] = 0.0
    w[1, :] = -0.0
    p = profile_model(one_node("MatMul", {"a": [2, 6], "b": w}, {"y": None}), tmp_path)
    assert p.weight_sparsity == 6 / 18
    assert p.nm_sparsity == 12 / 18  # 3 groups of 4 qualify; the 6 leftover weights are in no group


def test_external_streaming_matches_inline(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    w = two_four((64, 256), 0, rng)
    w[:, :10] = 0
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 64])], [vi("y", None)], [init("w", w)])
    inline = profile_model(m, tmp_path, "inline.onnx")
    monkeypatch.setattr(sparsity, "CHUNK_BYTES", 4096)  # force many chunks
    onnx.save(m, str(tmp_path / "ext.onnx"), save_as_external_data=True, location="ext.bin", size_threshold=0)
    from analyzer import profile_onnx

    ext = profile_onnx(tmp_path / "ext.onnx")
    assert (inline.weight_sparsity, inline.nm_sparsity) == (ext.weight_sparsity, ext.nm_sparsity)
    expected_zeros = np.count_nonzero(w == 0) / w.size
    assert ext.weight_sparsity == pytest.approx(expected_zeros)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 20), n=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_sparsity_matches_numpy(tmp_path_factory, k, n, seed):
    rng = np.random.default_rng(seed)
    w = (rng.random((k, n)) * (rng.random((k, n)) > 0.5)).astype(np.float32)
    tmp = tmp_path_factory.mktemp("sp")
    p = profile_model(one_node("MatMul", {"a": [2, k], "b": w}, {"y": None}), tmp)
    assert p.weight_sparsity == pytest.approx(np.count_nonzero(w == 0) / w.size)
    full = (k // 4) * 4
    groups = (w[:full].reshape(-1, 4, n) == 0).sum(axis=1) >= 2
    assert p.nm_sparsity == pytest.approx(4 * groups.sum() / w.size)


def test_the_threaded_scan_counts_what_the_serial_one_does(tmp_path, monkeypatch):
    """Large models are scanned a tensor per thread; the counts, and an error in any tensor, are the same."""
    from analyzer.errors import ModelLoadError
    from analyzer.load.onnx_graph import load_onnx

    rng = np.random.default_rng(3)
    ws = [two_four((32, 32), 0, rng), (rng.random((32, 32)) > 0.3).astype(np.float32) * rng.random((32, 32)).astype(np.float32),
          np.zeros((32, 32), np.float32)]
    nodes = [helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"h{i + 1}"]) for i in range(3)]
    m = model(nodes, [vi("h0", [1, 32])], [vi("h3", None)], [init(f"w{i}", w) for i, w in enumerate(ws)])
    path = tmp_path / "three.onnx"
    onnx.save(m, str(path))
    loaded = load_onnx(path, hash_file=False)
    serial = sparsity.scan(loaded.graph, loaded.initializers, loaded.weights)
    monkeypatch.setattr(sparsity, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(sparsity.os, "cpu_count", lambda: 2)
    threaded = sparsity.scan(loaded.graph, loaded.initializers, loaded.weights)
    assert threaded == serial
    assert serial.zero_params == sum(int(np.count_nonzero(w == 0)) for w in ws) and serial.params == 3 * 32 * 32
    m.graph.initializer[2].raw_data = m.graph.initializer[2].raw_data[:-8]  # the last tensor is short
    onnx.save(m, str(path))
    with pytest.raises(ModelLoadError, match="raw_data size"):  # small tensors stay in the graph: the checker sees it
        load_onnx(path, hash_file=False)
    from analyzer.load import binding, onnx_graph

    monkeypatch.setattr(binding, "check_model", lambda sk, path: None)  # as for a large tensor, stripped before the checker
    monkeypatch.setattr(onnx_graph.guard, "run_limited", lambda fn, *args, what: fn(*args))  # the patch applies in-process
    bad = load_onnx(path, hash_file=False)
    with pytest.raises(ModelLoadError, match="initializer 'w2' holds 4088 bytes"):
        sparsity.scan(bad.graph, bad.initializers, bad.weights)


@settings(max_examples=20, deadline=None)
@given(offset=st.integers(0, 70_000), length=st.integers(1, 50_000), chunk=st.integers(1, 9000), unit=st.sampled_from([0, 4, 12]))
def test_mapped_chunks_are_the_read_chunks(tmp_path_factory, offset, length, chunk, unit):
    """The memory-mapped scan sees the bytes the reading one does, chunk by chunk, at any offset (mappings start on
    the allocation granularity: the lead is skipped)."""
    from analyzer.load.external_data import ExternalRef, iter_file_range, iter_mapped_range

    f = tmp_path_factory.mktemp("mm") / "w.bin"
    f.write_bytes(np.random.default_rng(offset).integers(0, 256, offset + length + 3, dtype=np.uint8).tobytes())
    ref = ExternalRef(f, offset, length)
    read = [bytes(c) for c in iter_file_range(ref, chunk, unit)]
    assert [bytes(c) for c in iter_mapped_range(ref, chunk, unit, map_min_bytes=0)] == read  # mapped whatever the size


def test_zero_test_by_dtype():
    """float32/float64 compared as floats equal the sign-masked integer rule: +0 and -0 are zero; a denormal, NaN
    and infinity are not."""
    from analyzer.count.sparsity import _is_zero

    for dtype, bits in (("float32", np.uint32), ("float64", np.uint64)):
        x = np.array([0.0, -0.0, np.finfo(dtype).tiny / 4, np.nan, np.inf, 1.0, -2.5], dtype=dtype)
        masked = (x.view(bits) & bits((1 << (8 * x.itemsize - 1)) - 1)) == 0
        assert _is_zero(memoryview(x.tobytes()), x.itemsize, dtype).tolist() == masked.tolist() == \
            [True, True, False, False, False, False, False]
    h = np.array([0.0, -0.0, 1.0], np.float16)
    assert _is_zero(memoryview(h.tobytes()), 2, "float16").tolist() == [True, True, False]


def test_a_mapped_file_truncated_between_chunks_is_an_error_not_a_crash(tmp_path):
    """The size is checked before mapping and before each chunk: a file cut short while it is scanned is one
    ExternalDataError naming it (reading its lost pages would be a SIGBUS that ends the process)."""
    from analyzer.errors import ExternalDataError
    from analyzer.load.external_data import MAP_MIN_BYTES, ExternalRef, iter_mapped_range

    f = tmp_path / "w.bin"
    f.write_bytes(bytes(4 * MAP_MIN_BYTES))
    chunks = iter_mapped_range(ExternalRef(f, 0, 4 * MAP_MIN_BYTES), MAP_MIN_BYTES, 4)
    assert len(next(chunks)) == MAP_MIN_BYTES
    with open(f, "r+b") as h:
        h.truncate(MAP_MIN_BYTES)
    with pytest.raises(ExternalDataError, match="w.bin' is truncated"):
        next(chunks)
    with pytest.raises(ExternalDataError, match="truncated"):  # cut before it is mapped
        list(iter_mapped_range(ExternalRef(f, 0, 4 * MAP_MIN_BYTES), MAP_MIN_BYTES, 4))
    small = tmp_path / "s.bin"  # under MAP_MIN_BYTES: read plainly, the same bytes
    small.write_bytes(np.arange(1000, dtype=np.float32).tobytes())
    assert b"".join(bytes(c) for c in iter_mapped_range(ExternalRef(small, 8, 400), 64, 4)) == small.read_bytes()[8:408]


_ONNX_TYPE = {"float32": 1, "float16": 10, "float64": 11, "int8": 3, "bfloat16": 16}


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 13), min_size=1, max_size=3), dtype=st.sampled_from(sorted(_ONNX_TYPE)),
       axis=st.sampled_from([None, 0, -1, -2]), external=st.booleans(), job=st.integers(1, 400), seed=st.integers(0, 2**16))
def test_a_tensor_cut_into_spans_counts_what_it_counts_whole(tmp_path_factory, shape, dtype, axis, external, job, seed):
    """The threaded scan cuts a tensor into spans of whole 2:4 units (sparsity.JOB_BYTES); the sums over the spans
    are the whole tensor's counts and numpy's, for odd sizes, fp16, bf16, fp64 and int8, inline and external
    (the spans of an external tensor are mapped at any offset)."""
    from analyzer.load.external_data import ExternalRef
    from analyzer.load.onnx_graph import WeightData
    from analyzer.load.to_ir import tensor_info

    rng = np.random.default_rng(seed)
    width = {"float32": 4, "float16": 2, "float64": 8, "int8": 1, "bfloat16": 2}[dtype]
    bits = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[width]
    u = rng.integers(1, 2 ** (8 * width - 1), size=shape, dtype=np.uint64).astype(bits)
    u[rng.random(shape) < 0.4] = 0
    if dtype != "int8":  # -0.0: the sign bit alone
        u[rng.random(shape) < 0.1] = bits(1 << (8 * width - 1))
    data = u.tobytes()
    is_zero = (u == 0) | ((u == bits(1 << (8 * width - 1))) & (dtype != "int8"))
    if external:
        f = tmp_path_factory.mktemp("span") / "w.bin"
        f.write_bytes(b"\x01" * 5 + data)
        w = WeightData("w", _ONNX_TYPE[dtype], tuple(shape), external=ExternalRef(f, 5, len(data)))
    else:
        w = WeightData("w", _ONNX_TYPE[dtype], tuple(shape), raw=data)
    t = tensor_info("w", tuple(shape), _ONNX_TYPE[dtype], True)
    plan = sparsity._plan(t, w, axis if len(shape) >= 2 else None)
    whole = sparsity._scan_span(plan, 0, plan.nbytes)
    old_job = sparsity.JOB_BYTES
    try:
        sparsity.JOB_BYTES = job
        spans = sparsity._spans(plan)
        cut = [sparsity._scan_span(plan, lo, hi) for lo, hi in spans]
    finally:
        sparsity.JOB_BYTES = old_job
    assert spans[0][0] == 0 and spans[-1][1] == plan.nbytes and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert tuple(map(sum, zip(*cut))) == whole
    assert whole[0] == int(is_zero.sum()) and whole[2] == u.size
    if plan.structured:
        moved = np.moveaxis(is_zero, axis % len(shape), -1)
        full = (moved.shape[-1] // 4) * 4
        groups = moved[..., :full].reshape(*moved.shape[:-1], -1, 4).sum(axis=-1) >= 2
        assert whole[1] == 4 * int(groups.sum())


def test_the_span_scan_of_an_export_equals_the_serial_scan(tmp_path, monkeypatch):
    """A model over PARALLEL_BYTES is scanned in spans on threads: the same SparsityResult as tensor by tensor in
    line, with tensors larger than a span (an embedding) cut across threads, and a short external tensor still
    named before any span is read."""
    from analyzer.errors import ModelLoadError
    from analyzer.load.onnx_graph import load_onnx

    rng = np.random.default_rng(5)
    ws = [two_four((64, 48), 0, rng), (rng.random((48, 40)) > 0.5).astype(np.float16), rng.random((7, 40)).astype(np.float32)]
    ws[2][::2] = 0
    nodes = [helper.make_node("MatMul", ["h0", "w0"], ["h1"]), helper.make_node("Cast", ["h1"], ["c1"], to=10),
             helper.make_node("MatMul", ["c1", "w1"], ["h2"]), helper.make_node("Cast", ["h2"], ["h2c"], to=1),
             helper.make_node("Gemm", ["w2", "h2c"], ["h3"], transB=1)]
    m = model(nodes, [vi("h0", [1, 64])], [vi("h3", None)], [init(f"w{i}", w) for i, w in enumerate(ws)])
    path = tmp_path / "ext.onnx"
    onnx.save(m, str(path), save_as_external_data=True, location="w.bin", size_threshold=0)
    loaded = load_onnx(path, hash_file=False)
    serial = sparsity.scan(loaded.graph, loaded.initializers, loaded.weights)
    monkeypatch.setattr(sparsity, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(sparsity, "JOB_BYTES", 1000)
    monkeypatch.setattr(sparsity.os, "cpu_count", lambda: 2)
    assert sparsity.scan(loaded.graph, loaded.initializers, loaded.weights) == serial
    assert serial.zero_params == sum(int(np.count_nonzero(w == 0)) for w in ws)
    with open(tmp_path / "w.bin", "r+b") as f:
        f.truncate(f.seek(0, 2) - 6)
    with pytest.raises(ModelLoadError):
        sparsity.scan(loaded.graph, loaded.initializers, loaded.weights)
