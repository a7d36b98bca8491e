"""Search spaces as they are written (issue #38), each network built straight into the IR where it is evaluated:
the population sources `SPACE:N[:SEED]` (N distinct candidates drawn, a pure function of N and SEED) and
`SPACE:FILE` (the user's candidates, JSON lines), and how a task's choices become a graph (`build`).

  nb101   NAS-Bench-101 cells {"matrix": [[...]], "ops": [...]}       load/nb101.py
  ofa     Once-for-All MobileNetV3 subnets {"ks", "e", "d", "r"}       load/ofa.py
  fbnet   FBNet layer choices {"blocks": [...]}                        load/fbnet.py
  layers  a user's own network as a JSON layer list (FILE only)        load/layers.py

NB201 (load/nb201.py) has its own reader of arch strings (load/sources.py); its graphs are built here too. A task
carries its space's name and its choices as canonical text (`CandidateTask.ir_space`); its identity hashes the
space's version and that text, so a store keys a candidate by what it is, whatever its source.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterator

from ..errors import UsageError
from ..ir import Graph, TensorInfo
from .candidate import CandidateTask

SPACES = ("nb101", "ofa", "fbnet", "layers")
_DRAW = re.compile(r"^(nb101|ofa|fbnet):(\d+)(?::(\d+))?$")
VERSION = {"nb101": "nb101-v1", "ofa": "ofa-mbv3-v1", "fbnet": "fbnet-v1", "layers": "layers-v1"}


def known_size(spec: str) -> int | None:
    m = _DRAW.match(spec)
    return int(m.group(2)) if m else None


def task(space: str, choices: str, name: str, accuracy: float | None = None):
    """A candidate of `space` (its choices as canonical text) as a task, evaluated where it is built."""
    ident = hashlib.sha256(json.dumps([VERSION[space], choices]).encode()).hexdigest()
    return CandidateTask(name, ident, accuracy=accuracy, arch={space: json.loads(choices)}, ir_space=(space, choices))


def _module(space: str) -> Any:
    import importlib

    return importlib.import_module(f".{space}", __package__)


def read(spec: str) -> Iterator[Any]:
    """The candidates of `SPACE:N[:SEED]` or `SPACE:FILE`, checked before the first is yielded."""
    space, _, rest = spec.partition(":")
    mod = _module(space)
    m = _DRAW.match(spec)
    if m:
        n, seed = int(m.group(2)), int(m.group(3) or 0)
        if not 1 <= n <= mod.MAX_DRAW:
            raise UsageError(f"{spec}: draw from 1 to {mod.MAX_DRAW:,} {space} candidates")
        items = mod.sample(n, seed)
    elif space == "layers" or not rest.isdigit():
        if not rest:
            raise UsageError(f"{spec}: expected {space}:FILE" + ("" if space == "layers" else f" or {space}:N[:SEED]"))
        items = mod.read_file(Path(rest))
    else:
        raise UsageError(f"{spec}: expected {space}:N[:SEED] or {space}:FILE")
    return (task(space, it.to_json(), it.name()) for it in items)


def build(space: str, choices: str, batch: int | str) -> tuple[Graph, tuple[TensorInfo, ...]]:
    """The network of a task's (space, choices) as an IR graph and its initializers, at `batch`."""
    if space == "nb201":
        from . import nb201, nb201_arch

        return nb201.build(nb201_arch.parse(choices), batch)
    if space not in SPACES:
        raise UsageError(f"unknown space {space!r}; one of nb201, {', '.join(SPACES)}")
    mod = _module(space)
    return mod.build(mod.parse(choices), batch)


def segments(space: str, choices: str) -> tuple[list[tuple], Any]:
    """A chain-of-blocks space's candidate as its segments and the function that builds one (engine/memo.py)."""
    mod = _module(space)
    return mod.segments(mod.parse(choices)), mod.build_segment


def pieces(space: str) -> tuple[Any, Any]:
    """(pieces, fusion_class) of a space whose segments split into pieces (engine/memo.py), or (None, None)."""
    mod = _module(space)
    return getattr(mod, "pieces", None), getattr(mod, "fusion_class", None)
