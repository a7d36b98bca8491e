"""The synthetic space (load/space.py) built straight into the IR as segments (load/space_ir.py), each distinct block
evaluated once (engine/memo.py): every number equal to the ONNX file's path, bit for bit, sha256 included."""

import pytest

from analyzer.count.parts import combine, count_part
from analyzer.count.profile import ReadOptions, profile_onnx
from analyzer.engine import memo
from analyzer.engine.chain import evaluate_one
from analyzer.load import space, space_ir
from analyzer.load.sources import read
from analyzer.profiles import load_profiles


@pytest.fixture(scope="module")
def profiles():
    return load_profiles()


def test_segments_are_the_files_nodes(tmp_path):
    for i in range(3):
        a = space.sample(4, i)
        f = tmp_path / f"c{i}.onnx"
        f.write_bytes(space.build(a, 4).SerializeToString())
        whole = profile_onnx(f, batch=8, per_op=True, reading=ReadOptions(trusted=True))
        parts = [count_part(s[0], *space_ir.build_segment(s, 8), 8) for s in space_ir.segments(a)]
        c = combine("x", "", parts, 8)
        for k in ("macs", "flops", "params", "bytes_moved", "weight_bytes", "activation_bytes", "nodes", "op_type_totals"):
            assert getattr(c, k) == getattr(whole, k), k

        def plain(nodes):
            return [(n.op_type, n.macs, n.flops, n.bytes, n.weight_bytes, n.output_shapes, n.input_shapes, n.initializer_inputs,
                     n.attrs, n.input_dtypes) for n in nodes]

        assert plain(n for p in parts for n in p.profile.per_op) == plain(whole.per_op)


@pytest.mark.parametrize("kw", [{}, {"runtime": "eager", "batch": 1}, {"runtime": "ort", "batch": 16},
                                {"hardware": "xeon-8380", "runtime": "ort"}, {"batch_norm": "as-exported", "runtime": "eager"}])
def test_evaluations_equal_the_files_bit_for_bit(profiles, kw):
    """The memoised path against the ONNX file's (a per-kernel target takes it), with the batch norms an inference
    export folded unfolded per block for PyTorch's runtimes, as the whole graph unfolds them."""
    from analyzer.target import resolve_target, TargetRequest

    kw = dict(kw)
    hw = kw.pop("hardware", "h100")
    fast = resolve_target(profiles, TargetRequest(hw, pue=1.2, grid=250.0, **kw))
    whole = resolve_target(profiles, TargetRequest(hw, pue=1.2, grid=250.0, per_kernel=True, **kw))
    memo.MEMO.clear()
    for t in read("space:8:3"):
        a, b = evaluate_one(t, fast).to_dict(), evaluate_one(t, whole).to_dict()
        for d in (a, b):
            d["detail"].pop("per_kernel"), d["detail"].pop("model")
        assert a == b
    # blocks repeat across candidates; ONNX Runtime on an x86 CPU (MLAS's blocked layout spans segments) goes whole
    assert bool(memo.MEMO.hits) == (kw.get("runtime") != "ort" or hw != "xeon-8380")
