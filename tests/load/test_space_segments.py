"""The NB101, OFA and FBNet populations put together from remembered segments (engine/memo.py via load/nb101.py,
ofa.py and fbnet.py's `segments`) against the whole graph through the ordinary chain, every field of the Evaluation equal
bit for bit, as tests/load/test_nb201_ir.py checks NB201; and the segments adding up to the whole graph's profile."""

import pytest

from analyzer.count.profile import profile_graph
from analyzer.engine import memo
from analyzer.engine.chain import evaluate_one
from analyzer.load import fbnet, ir_spaces, nb101, ofa
from analyzer.load.sources import read
from analyzer.profiles import load_profiles
from analyzer.target import TargetRequest, resolve_target


from test_nb101 import INCEPTION, TRUNCATING  # noqa: E402


@pytest.fixture(scope="module")
def profiles():
    return load_profiles()


def _tasks():
    fixed = [ir_spaces.task("fbnet", fbnet.Choice(fbnet.FBNET[k][0]).to_json(), f"fbnet-{k}") for k in "bc"]
    fixed.append(ir_spaces.task("ofa", ofa.Subnet((7,) * 20, (6,) * 20, (4,) * 5, 224).to_json(), "ofa-largest"))
    fixed += [ir_spaces.task("nb101", nb101.cell(*c).to_json(), f"nb101-{i}") for i, c in enumerate((INCEPTION, TRUNCATING))]
    return list(read("ofa:12:1")) + list(read("fbnet:12:1")) + list(read("nb101:12:1")) + fixed


@pytest.mark.parametrize("space, item", [("ofa", ofa.Subnet((3, 5, 7, 5) * 5, (4, 6, 3, 3) * 5, (3, 2, 4, 3, 2), 160)),
                                         ("fbnet", fbnet.Choice(fbnet.FBNET["a"][0])),
                                         ("nb101", nb101.cell(*TRUNCATING))])
def test_segments_add_up_to_the_whole_graph(space, item):
    mod = {"ofa": ofa, "fbnet": fbnet, "nb101": nb101}[space]
    whole = profile_graph("w", "", *mod.build(item, 4), 4)
    parts = [profile_graph("s", "", *mod.build_segment(s, 4), 4) for s in mod.segments(item)]
    for k in ("macs", "flops", "params", "bytes_moved", "weight_bytes", "activation_bytes", "nodes"):
        assert sum(getattr(p, k) for p in parts) == getattr(whole, k), k


def _plain(e):
    d = e.to_dict()
    d.pop("name"), d.pop("model")
    d["detail"].pop("per_kernel", None)
    return d


@pytest.mark.parametrize("runtime, hardware", [("eager", "h100"), ("graph", "h100"), ("ort", "h100"), ("ort", "xeon-8380")])
def test_memoised_segments_equal_the_whole_graph_bit_for_bit(profiles, runtime, hardware):
    tg = resolve_target(profiles, TargetRequest(hardware, runtime=runtime, batch=8, pue=1.2, grid=300.0))
    whole = resolve_target(profiles, TargetRequest(hardware, runtime=runtime, batch=8, pue=1.2, grid=300.0, per_kernel=True))
    memo.MEMO.clear()
    tasks = _tasks()
    for t in tasks + tasks:  # the second time every segment is remembered
        e = evaluate_one(t, tg)
        assert e.ok, e.error
        assert _plain(e) == _plain(evaluate_one(t, whole)), t.name
    if hardware == "xeon-8380" and runtime == "ort":  # MLAS's blocked layout spans segments: evaluated whole
        assert memo.MEMO.hits == 0
    else:
        assert memo.MEMO.hits > 0
