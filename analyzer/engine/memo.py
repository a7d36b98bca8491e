"""Each distinct segment of a population evaluated once (issue #38): the lookup tables of the hardware-aware NAS
literature (ProxylessNAS, FBNet, Once-for-All price a network as the sum of its layers' measured costs), kept
exact. A network our space builders describe as a chain of segments (load/nb201.py) is counted, planned and timed
per distinct segment (count/parts.py, project/parts.py), remembered in this process by the segment's signature
(its kind, choices, channels and resolution; the batch; the target's projection parameters, runtime, dtype; and
whether the model's weights stream from memory), and the whole network's profile and projection are put together
from them: the same numbers as profiling and projecting the whole graph (tests/test_nb201_ir.py), at the cost of
its distinct segments. A population of NB201 cells pays for 3 cells (one per stage) of each candidate and for the
stem, the two reduction blocks and the head once per worker.

The tables are bounded (least recently used entries dropped), so memory stays flat however many candidates pass.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

from ..count.parts import CountedPart, combine, count_part
from ..records import ModelProfile
from ..target import Target

MAX_ENTRIES = 2048  # per table: the fixed segments of a few spaces and targets, and the last candidates' cells


class Memo:
    """Bounded least-recently-used tables of counted and timed segments; `hits` and `misses` say how they served."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self.counted: OrderedDict[Any, CountedPart] = OrderedDict()
        self.timed: OrderedDict[Any, Any] = OrderedDict()
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
        self.hits = self.misses = 0


MEMO = Memo()  # this process's: a pool worker keeps its own across the chunks it runs


def evaluate_segments(name: str, identity: str, segments: list[tuple], build: Callable[[tuple, int], Any], target: Target,
                      params: Any, memo: Memo | None = None) -> tuple[ModelProfile, Any] | None:
    """(profile, projection) of the network whose chain of segments is `segments` (`build(segment, batch)` -> its IR
    graph and initializers), each distinct segment counted and timed once; None when a segment cannot be combined
    (a note, a folded batch norm): the caller then profiles the whole graph."""
    from ..project.parts import composable, project_parts, streams, time_part

    memo = memo if memo is not None else MEMO
    batch = target.batch
    counted: list[CountedPart] = []
    for seg in segments:
        part = memo.get(memo.counted, (seg, batch), lambda s=seg: count_part(f"{s[0]}", *build(s, batch), batch))
        if not part.combinable or not composable(part.profile):
            return None
        counted.append(part)
    profile = combine(name, identity, counted, batch)
    hw = target.hardware
    flows = streams(profile.weight_bytes, params)
    timed = []
    before = ""  # the class of the kernel that wrote the segment's input (ONNX Runtime fuses epilogues into it)
    for seg, part in zip(segments, counted):
        key = (seg, batch, id(params), target.runtime, target.dtype, hw.name, flows, before)
        hit = memo.get(memo.timed, key, lambda p=part, b=before: (params, time_part(
            p.profile, hw, params, target.runtime, target.dtype, profile.weight_bytes, b)))
        if hit[0] is not params:  # another parameter object under a reused id: time it afresh
            hit = memo.timed[key] = (params, time_part(part.profile, hw, params, target.runtime, target.dtype,
                                                       profile.weight_bytes, before))
        if not hit[1].sealed:
            return None
        timed.append(hit[1])
        before = hit[1].output_class if target.runtime == "ort" else ""  # only ONNX Runtime's fusions read it
    largest = max(p.largest_node_bytes for p in counted)
    return profile, project_parts(profile, timed, largest, hw, params, target.runtime, target.dtype)
