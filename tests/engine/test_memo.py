"""The segment memo's shortcuts (engine/memo.py, project/parts.py) give the numbers of the work they skip: a cell
whose op types no fusion pattern can group is fusion-free as planning it says, and results are the same with the
memo on and off (NB201 populations, the synthetic space, analyzer.cost)."""

import pytest

from analyzer.count.parts import count_part
from analyzer.engine import memo
from analyzer.engine.chain import evaluate_one
from analyzer.load import nb201, nb201_arch as nb
from analyzer.load.sources import read
from analyzer.profiles import load_profiles
from analyzer.project.parts import fusion_free, groups_nothing
from analyzer.target import TargetRequest, resolve_target


@pytest.fixture(scope="module")
def profiles():
    return load_profiles()


@pytest.mark.parametrize("runtime", ["eager", "graph"])
def test_cells_no_pattern_can_group_are_fusion_free_as_planned(profiles, runtime):
    hw = resolve_target(profiles, TargetRequest("h100")).hardware
    seen = set()
    for a in nb.sample(400, 3):
        seg = ("cell", a.to_string(), 16, 32)
        if nb201.fusion_class(seg) in seen:
            continue
        seen.add(nb201.fusion_class(seg))
        whole = count_part("c", *nb201.build_segment(seg, 2), 2).profile
        ops = {op for p in nb201.pieces(seg) for op in count_part("p", *nb201.build_segment(p, 2), 2).profile.op_type_totals}
        assert ops == set(whole.op_type_totals) - {"Identity"} or ops == set(whole.op_type_totals)
        assert groups_nothing(ops, runtime)
        assert fusion_free(whole, hw, runtime, "fp16")
    assert len(seen) > 200


def test_groups_nothing_says_nothing_where_a_pattern_may_group():
    assert not groups_nothing({"MatMul", "Add"}, "graph")  # linear_bias
    assert not groups_nothing({"Mul", "Sigmoid"}, "eager")  # a written-out SiLU
    assert not groups_nothing({"Softmax", "MatMul"}, "graph")  # attention
    assert not groups_nothing({"Conv", "Relu"}, "ort")  # ONNX Runtime's epilogues read kernel classes
    assert groups_nothing({"Conv", "BatchNormalization", "Relu", "Add", "Mul", "AveragePool"}, "graph")


def _plain(e):
    d = e.to_dict()
    d["detail"].pop("per_kernel", None)
    d["detail"].pop("model")  # the file path the reference wrote (the memo's names the candidate)
    return d


@pytest.mark.parametrize("spec, runtime, batch_norm", [("nb201:30:8", "graph", "auto"), ("nb201:30:8", "eager", "present"),
                                                       ("nb201:20:8", "ort", "auto"), ("nb201:12:8", "ort", "present"),
                                                       ("space:6:3", "graph", "auto"),
                                                       ("space:6:3", "eager", "present")])
def test_the_memo_changes_no_number(profiles, spec, runtime, batch_norm):
    tg = resolve_target(profiles, TargetRequest("h100", runtime=runtime, batch=8, pue=1.2, grid=300.0, batch_norm=batch_norm))
    tasks = list(read(spec))
    memo.MEMO.clear()
    on = [evaluate_one(t, tg) for t in tasks + tasks[:3]]  # the last three answered from the tables
    memo.ENABLED[0] = False
    try:
        off = [evaluate_one(t, tg) for t in tasks + tasks[:3]]
    finally:
        memo.ENABLED[0] = True
    assert all(e.ok for e in on), [e.error for e in on if not e.ok]
    assert [_plain(e) for e in on] == [_plain(e) for e in off]


def test_cost_with_and_without_the_memo(profiles):
    import analyzer
    from analyzer.engine import objective

    tg = resolve_target(profiles, TargetRequest("h100", runtime="graph", batch=4, pue=1.1, grid=100.0))
    archs = [a.to_string() for a in nb.sample(25, 11)]
    memo.MEMO.clear()
    objective._RESULTS.clear()
    on = [analyzer.cost(a, tg) for a in archs]
    memo.ENABLED[0] = False
    objective._RESULTS.clear()
    try:
        off = [analyzer.cost(a, tg) for a in archs]
    finally:
        memo.ENABLED[0] = True
    assert [_plain(e) for e in on] == [_plain(e) for e in off]


def test_the_synthetic_spaces_draw_is_random_choices():
    """load/space.sample inlines random.Random.choice: the same candidates as drawing with it."""
    import random

    from analyzer.load import space

    def by_choice(seed, index):
        rng = random.Random(f"{seed}:{index}")
        depths = tuple(rng.choice(c) for _, _, c in space.STAGES)
        kernels = tuple(tuple(rng.choice(space.KERNELS) for _ in range(d)) for d in depths)
        expansions = tuple(tuple(1 if s == 0 else rng.choice(space.EXPANSIONS) for _ in range(d)) for s, d in enumerate(depths))
        return space.Arch(rng.choice(space.WIDTHS), depths, kernels, expansions)

    for seed in (0, 1, 7):
        for i in range(400):
            assert space.sample(seed, i) == by_choice(seed, i)


def test_the_two_axis_front_is_the_general_front():
    """engine/population._front_2d (one sweep) against the general front and brute force, ties and repeats included."""
    import numpy as np
    from hypothesis import given, settings, strategies as st

    from analyzer.engine.population import pareto_front

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=40))
    def check(points):
        recs = [{"co2e_g_per_item": float(a), "latency_s": float(b)} for a, b in points]
        got = pareto_front(recs)
        pts = np.array(points, dtype=float)
        want = [int(i) for i in np.lexsort(pts.T[::-1]) if not any(
            q[0] <= pts[i][0] and q[1] <= pts[i][1] and (q[0] < pts[i][0] or q[1] < pts[i][1]) for q in pts)]
        assert got == want

    check()


def test_present_norms_step_aside_where_a_norm_reads_across_a_boundary(profiles):
    """--batch-norm present states a norm after every convolution that feeds none: a segment ending in a convolution
    whose output the next segment's norm reads would be unfolded by the segment alone, so the memo steps aside."""
    from analyzer.engine.memo import Memo, SegmentedNet, evaluate_segments
    from analyzer.engine.chain import params_for
    from analyzer.ir import Graph
    from analyzer.load.nb201 import FLOAT, ITEMSIZE, _Net
    from analyzer.ir import TensorInfo

    def build(seg, batch):
        net = _Net(batch, [], [])
        x = TensorInfo("input", (batch, 8, 16, 16), FLOAT, ITEMSIZE)
        y = net.conv(x, 8, 3) if seg[0] == "conv" else net.relu(net.bn(x))
        return Graph(seg[0], tuple(net.nodes), (x,), (y,)), tuple(net.inits)

    for batch_norm, steps_aside in (("present", True), ("auto", False)):
        tg = resolve_target(profiles, TargetRequest("h100", runtime="graph", batch=2, batch_norm=batch_norm))
        got = evaluate_segments(SegmentedNet("m", [("conv",), ("bn",)], build), tg, params_for(tg), memo=Memo())
        assert (got is None) is steps_aside


def test_records_kept_as_columns_read_back_as_the_dicts_given():
    """engine/population.Records: rows with and without optional keys, ints beyond int64, a float column meeting an
    int, None: each row reads back equal, with its keys in order; the front and the top are the list's."""
    from analyzer.engine.population import Records, pareto_front, top

    rows = [{"name": "a", "macs": 3, "latency_s": 0.5, "co2e_g_per_item": 2.0, "energy_range_j": [1.0, 2.0], "accuracy": None},
            {"name": "b", "macs": 2**70, "latency_s": 1, "co2e_g_per_item": 1.0, "energy_range_j": [None, 2.0], "accuracy": 0.5,
             "host": "h"},
            {"name": "c", "macs": 5, "latency_s": 0.25, "co2e_g_per_item": 3.0, "energy_range_j": [1.0, 2.0], "accuracy": None,
             "arch": {"nb201": "x"}}]
    recs = Records()
    for r in rows:
        recs.append(dict(r))
    assert len(recs) == 3 and list(recs) == rows and [list(r) for r in recs] == [list(r) for r in rows]
    assert recs[-1] == rows[-1] and type(recs[1]["latency_s"]) is int and recs[0:2] == rows[0:2]
    assert pareto_front(recs) == pareto_front(rows) and top(recs, "co2e", 2) == top(rows, "co2e", 2)


def test_the_result_keyer_gives_result_keys():
    from analyzer.engine.store import result_key, result_keyer

    settings = {"hardware": "h100", "batch": 64, "pue": 1.1, "nested": {"b": [1, 2.5, None], "a": "é"}, "when": object}
    for pver in ("", "v1"):
        key_of = result_keyer("evaluation", settings, pver)
        for sha in ("ab" * 32, "", "x\"y"):
            assert key_of(sha) == result_key("evaluation", sha, settings, pver)
