"""Each distinct segment of a population evaluated once (issue #38): the lookup tables of the hardware-aware NAS
literature (ProxylessNAS, FBNet, Once-for-All price a network as the sum of its layers' costs), kept exact.

A network our space builders describe as a chain of segments (load/nb201.py: stem, cells, reduction blocks, head)
is counted, planned and timed per distinct segment (count/parts.py, project/parts.py), remembered in this process
by the segment's signature (its kind, choices, channels and resolution; the batch; the target's projection
parameters, runtime and dtype; whether the model's weights stream from memory; under ONNX Runtime the class of the
kernel that wrote the segment's input), and the network's profile and projection are put together from them.

A segment that splits into pieces (a cell: its edges' layers and its sums, `pieces`) is put together from its
pieces' entries when no fusion pattern groups its nodes, which depends only on what the patterns see of it
(`fusion_class`, decided once per class by planning one whole cell of it; not under ONNX Runtime, whose fusions
also read kernel classes). So a population of NB201 cells pays per distinct layer (5 operations x 3 stages, the
sums, the stem, the two reduction blocks and the head) plus one cell plan per class of cells.

The result is the whole graph's profile and projection, number for number (tests/load/test_nb201_ir.py checks it bit
for bit against the ordinary chain, and a population against each candidate evaluated alone). Where a fusion
reaches across a segment's output the composition steps aside (None: the caller evaluates the whole graph). The
tables are bounded (least recently used entries dropped): memory stays flat however many candidates pass.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from ..count.parts import CountedPart, combine, count_part
from ..records import ModelProfile
from ..target import Target

MAX_ENTRIES = 4096  # per table: layers, fixed segments and the last candidates' cells of a few spaces and targets


class Memo:
    """Bounded least-recently-used tables of counted and timed segments; `hits` and `misses` say how they served."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self.counted: OrderedDict[Any, CountedPart] = OrderedDict()
        self.timed: OrderedDict[Any, Any] = OrderedDict()
        self.fusion: OrderedDict[Any, bool] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, table: OrderedDict, key: Any, make: Callable[[], Any]) -> Any:
        hit = table.get(key)
        if hit is not None:
            table.move_to_end(key)
            self.hits += 1
            return hit
        self.misses += 1
        value = table[key] = make()
        if len(table) > self.max_entries:
            table.popitem(last=False)
        return value

    def clear(self) -> None:
        self.counted.clear()
        self.timed.clear()
        self.fusion.clear()
        self.hits = self.misses = 0


MEMO = Memo()  # this process's: a pool worker keeps its own across the chunks it runs
ENABLED = [True]  # False: every candidate through its whole graph or file (the benchmarks' reference)


@dataclass(frozen=True)
class SegmentedNet:
    """A network as a chain of segments: `build(segment, batch)` -> its IR graph and initializers; `pieces(segment)`
    -> its pieces or None; `fusion_class(segment)` -> what decides whether its nodes fuse. `sha256`, `notes` and
    `sparsity` are the model's, as profiling its file would give them."""
    name: str
    segments: list[tuple]
    build: Callable[[tuple, Any], Any]
    pieces: Callable[[tuple], Any] | None = None
    fusion_class: Callable[[tuple], str] | None = None
    sha256: str = ""
    notes: tuple[str, ...] = ()
    sparsity: tuple[float | None, float | None] = (None, None)


def evaluate_segments(net: SegmentedNet, target: Target, params: Any, memo: Memo | None = None) -> tuple[ModelProfile, Any] | None:
    """(profile, projection) of the network `net`, each distinct segment or piece counted and timed once; None when
    a segment cannot be combined (a note, a fusion across its output): the caller then evaluates the whole graph."""
    name, segments, build, pieces, fusion_class = net.name, net.segments, net.build, net.pieces, net.fusion_class
    sha256, notes, sparsity = net.sha256, net.notes, net.sparsity
    from ..project.kernels import nchwc_block
    from ..project.parts import (concat, ends_in_feature_conv, fusion_free, groups_nothing, norm_reads_input, project_parts,
                                  streams, time_part, unfolds)

    # The spaces built here are all-or-nothing for folded norms (NB201's convolutions are bias-free before their norms;
    # the synthetic space's inference form has no norm, its training form a norm after every bias-free convolution), so
    # canonical.folded_batch_norms' partly-folded rule never applies and `unfolds` below is the whole graph's decision.
    # Norms stated present (--batch-norm present) follow a rule of each convolution and its reader: each segment applies
    # it to its own nodes, and a convolution whose output a norm reads across a boundary sends the network whole.
    present = target.batch_norm == "present"
    memo = memo if memo is not None else MEMO
    batch, hw, runtime, dtype = target.batch, target.hardware, target.runtime, target.dtype
    ort = runtime == "ort"
    if ort and hw.category != "gpu" and nchwc_block(hw):
        # MLAS's blocked layout (project/kernels/ort_cpu.py) spans segments: the reorders ONNX Runtime inserts sit at the
        # region's ends, which a segment alone would misplace, so the network is evaluated whole
        return None

    def counted_piece(seg: tuple) -> CountedPart:
        return memo.get(memo.counted, (seg, batch), lambda: count_part(seg[0], *build(seg, batch), batch))

    def split(seg: tuple) -> tuple[Any, list[CountedPart]] | None:
        """The segment's pieces and their counts when they may stand for it: no pattern can group its nodes, or its
        fusion class does not fuse (decided once per class, by planning this segment whole)."""
        if pieces is None or fusion_class is None or ort:
            return None
        parts = pieces(seg)
        if parts is None:
            return None
        counted = [counted_piece(q) for q in parts]
        if present and any(norm_reads_input(c.profile) for c in counted):
            return None  # a piece's norm may read another piece's convolution: the segment whole decides
        if groups_nothing({op for c in counted for op in c.profile.op_type_totals}, runtime):
            return parts, counted  # no pattern can group its nodes: fusion-free without planning it
        key = (fusion_class(seg), batch, runtime, dtype, hw.name)
        free = memo.fusion.get(key)
        if free is None:
            free = memo.fusion[key] = fusion_free(counted_piece(seg).profile, hw, runtime, dtype)
            if len(memo.fusion) > 4 * memo.max_entries:
                memo.fusion.popitem(last=False)
        return (parts, counted) if free else None

    times: dict[tuple, int] = {}  # a network's repeated segments (NB201's 5 cells a stage) looked up once
    for seg in segments:
        times[seg] = times.get(seg, 0) + 1
    found: dict[tuple, tuple[Any, list[CountedPart]]] = {}  # segment -> (its pieces or None, their counts or its own)
    weights: dict[int, list] = {}  # id of a distinct counted part -> [part, how often it occurs in the network]
    for seg, k in times.items():
        hit = split(seg)
        if hit is None:
            hit = (None, [counted_piece(seg)])
        for part in hit[1]:
            if not part.combinable:
                return None
            w = weights.get(id(part))
            if w is None:
                weights[id(part)] = [part, k]
            else:
                w[1] += k
        found[seg] = hit
    # integer totals: the distinct segments' and pieces' totals times how often each occurs add up to the same numbers
    distinct = [w[0] for w in weights.values()]
    profile = combine(name, sha256, distinct, batch, notes, sparsity, [w[1] for w in weights.values()])
    flows = streams(profile.weight_bytes, params)
    unfold = unfolds([p.profile.op_type_totals for p in distinct], runtime, target.batch_norm)

    def timed_piece(seg: tuple, part: CountedPart, before: str) -> Any:
        key = (seg, batch, id(params), runtime, dtype, hw.name, flows, before, unfold)

        def make() -> Any:
            return params, time_part(part.profile, hw, params, runtime, dtype, profile.weight_bytes, before, unfold)

        hit = memo.get(memo.timed, key, make)
        if hit[0] is not params:  # another parameter object under a reused id: time it afresh
            hit = memo.timed[key] = make()
        return hit[1]

    timed = []
    before = ""  # the class of the kernel that wrote the segment's input (ONNX Runtime fuses epilogues into it)
    last: tuple = ((), "", None)
    for k, seg in enumerate(segments):
        parts, counted = found[seg]
        if present and k and any(norm_reads_input(c.profile) for c in counted) and \
                ends_in_feature_conv(found[segments[k - 1]][1][-1].profile):
            return None  # a norm reads the convolution before the boundary: only the whole graph sees the pair
        if (seg, before) == last[:2]:  # the same segment after itself: the same entry
            t = last[2]
        elif parts is not None:  # its pieces' entries joined (not kept: a population's cells are each new)
            t = concat([timed_piece(q, cq, "") for q, cq in zip(parts, counted)])
        else:
            t = timed_piece(seg, counted[0], before)
        if not t.sealed:
            return None
        timed.append(t)
        last = (seg, before, t)
        before = t.output_class if ort else ""  # only ONNX Runtime's fusions read it
    return profile, project_parts(profile, timed, hw, params, runtime, dtype, target.batch_norm)
