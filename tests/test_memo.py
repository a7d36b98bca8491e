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
from analyzer.target import resolve_target


@pytest.fixture(scope="module")
def profiles():
    return load_profiles()


@pytest.mark.parametrize("runtime", ["eager", "graph"])
def test_cells_no_pattern_can_group_are_fusion_free_as_planned(profiles, runtime):
    hw = resolve_target(profiles, "h100").hardware
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
                                                       ("nb201:20:8", "ort", "auto"), ("space:6:3", "graph", "auto"),
                                                       ("space:6:3", "eager", "present")])
def test_the_memo_changes_no_number(profiles, spec, runtime, batch_norm):
    tg = resolve_target(profiles, "h100", runtime=runtime, batch=8, pue=1.2, grid=300.0, batch_norm=batch_norm)
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

    tg = resolve_target(profiles, "h100", runtime="graph", batch=4, pue=1.1, grid=100.0)
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
