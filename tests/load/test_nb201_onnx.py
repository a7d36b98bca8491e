"""NB201 networks as ONNX (load/nb201_onnx.py) against NB201's own counts and its code's structure."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest

from analyzer import profile_onnx
from analyzer.load.nb201_arch import Skeleton, parse
from analyzer.load.nb201_onnx import build

ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
MIXED = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"


def _params(m: onnx.ModelProto) -> int:
    """Trainable parameters as PyTorch counts them (BatchNorm running statistics are buffers)."""
    return sum(int(np.prod(t.dims)) for t in m.graph.initializer if not t.name.endswith(("running_mean", "running_var"))
               and t.name != "zero")


def test_the_largest_cell_has_nb201s_parameters_and_macs(tmp_path):
    """NB201 (Dong & Yang 2020; its API's cost table) gives the all-3x3 cell on CIFAR-10 1.531546 M parameters and
    220.11 M FLOPs (its counter's multiply-accumulates)."""
    m = build(parse(ALL_CONV))
    assert _params(m) == 1_531_546
    onnx.save(m, str(tmp_path / "a.onnx"))
    prof = profile_onnx(tmp_path / "a.onnx", batch=1)
    assert prof.macs == pytest.approx(220.11e6, rel=1e-3)


def test_a_cell_is_built_as_nb201s_infer_cell(tmp_path):
    """15 cells: each `none` edge a Mul by 0, each avg-pool one AveragePool (count_include_pad 0), each conv edge
    ReLU-Conv-BN; a node sums its 1, 2 or 3 edges (0, 1, 2 Adds); 2 basic blocks add their shortcut."""
    m = build(parse(MIXED))
    ops = Counter(n.op_type for n in m.graph.node)
    cells = 3 * Skeleton().cells_per_stage
    assert ops["Mul"] == 2 * cells
    pools = [n for n in m.graph.node if n.op_type == "AveragePool"]
    assert len(pools) == cells + 2  # the cells' 3x3 and the basic blocks' 2x2 shortcut pools
    assert sum(1 for n in pools for a in n.attribute if a.name == "count_include_pad" and a.i == 0) == cells
    assert ops["Conv"] == 1 + 2 * cells + 2 * 3  # stem, two conv edges a cell, each basic block's three
    assert ops["BatchNormalization"] == 1 + 2 * cells + 2 * 2 + 1
    assert ops["Add"] == 3 * cells + 2
    onnx.save(m, str(tmp_path / "m.onnx"))
    prof = profile_onnx(tmp_path / "m.onnx", batch=4)
    assert prof.batch == 4 and prof.macs > 0


def test_the_network_runs_in_onnx_runtime_with_seeded_weights(tmp_path):
    from analyzer.measure.onnx_measure import OrtSettings, measure_onnx

    path = tmp_path / "n.onnx"
    onnx.save(build(parse(MIXED), Skeleton(channels=8, cells_per_stage=1)), str(path))
    m = measure_onnx(path, 2, meter=None, settings=OrtSettings(max_time_s=0.2))
    assert m.latency_s_median > 0 and any("seeded" in n for n in m.notes)
