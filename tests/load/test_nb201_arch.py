"""NAS-Bench-201 arch strings: parse, print, enumerate (analyzer/load/nb201_arch.py)."""

import pytest
from hypothesis import given, strategies as st

from analyzer.errors import AnalyzerError
from analyzer.load import nb201_arch as nb

# the best CIFAR-10 cell of NB201's Table 5 (ResNet-like) as the benchmark's API prints it
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_round_trip_and_edges():
    a = nb.parse(BEST)
    assert a.to_string() == BEST
    assert a.edges()[0] == (1, 0, "nor_conv_3x3")
    assert a.edges()[3] == (3, 0, "skip_connect")
    assert nb.SPACE_SIZE == 15625


@given(st.integers(0, nb.SPACE_SIZE - 1))
def test_index_is_a_bijection(i):
    a = nb.from_index(i)
    assert a.index() == i
    assert nb.parse(a.to_string()) == a


def test_live_edges():
    # node 3 takes only 'none' edges: nothing reaches the output
    dead = nb.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|")
    assert dead.live_edges() == ()
    # only 0 -> 3 reaches the output: the convolutions into nodes 1 and 2 are dead
    a = nb.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|")
    assert a.live_edges() == ((3, 0, "skip_connect"),)


def test_sample_is_seeded_and_distinct():
    s = nb.sample(100, seed=3)
    assert s == nb.sample(100, seed=3) and len(set(s)) == 100


@pytest.mark.parametrize("bad", ["", "|conv~0|+|a~0|b~1|+|c~0|d~1|e~2|", BEST.replace("~2|", "~3|"), BEST + "+|none~0|",
                                 "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~0|+|skip_connect~0|none~1|none~2|", "x" * 10_000])
def test_bad_strings_are_refused_by_name(bad):
    with pytest.raises(AnalyzerError, match="arch"):
        nb.parse(bad)
