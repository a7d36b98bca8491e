"""The registry of per-operator cost handlers, keyed by (domain, op_type).

Handlers register with an explicit decorator; duplicates are refused. Ops that truly cost nothing are
listed in ZERO_COST with the reason. Anything else without a handler is unsupported: counted and
reported, never treated as zero.
"""

from __future__ import annotations

from typing import Callable

from ...ir import Node
from ...records import OpCost

Handler = Callable[[Node], OpCost]
MS = "com.microsoft"

_HANDLERS: dict[tuple[str, str], Handler] = {}


def _norm(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


def register(*op_types: str, domain: str = "") -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for op in op_types:
            key = (_norm(domain), op)
            if key in _HANDLERS or key in ZERO_COST:
                raise RuntimeError(f"duplicate cost handler for {key}")
            _HANDLERS[key] = fn
        return fn

    return deco


# Metadata-only ops: no arithmetic and no tensor traffic in any runtime we target (views or constants
# materialised at load time). Ops that copy data (Transpose, Concat, Gather, ...) are NOT here: they have
# handlers in movement.py with zero flops but real bytes.
ZERO_COST: dict[tuple[str, str], str] = {
    ("", "Identity"): "returns its input; runtimes alias the buffer",
    ("", "Dropout"): "identity at inference (ratio ignored when training_mode is false)",
    ("", "Constant"): "value is materialised once at load time",
    ("", "Shape"): "reads tensor metadata only",
    ("", "Size"): "reads tensor metadata only",
    ("", "Reshape"): "view: same buffer, new shape",
    ("", "Flatten"): "view: same buffer, new shape",
    ("", "Squeeze"): "view: same buffer, new shape",
    ("", "Unsqueeze"): "view: same buffer, new shape",
    ("", "Optional"): "wraps a value without copying",
    ("", "OptionalGetElement"): "unwraps a value without copying",
    ("", "OptionalHasElement"): "reads metadata only",
}


def lookup(domain: str, op_type: str) -> Handler | None:
    return _HANDLERS.get((_norm(domain), op_type))


def zero_cost_reason(domain: str, op_type: str) -> str | None:
    return ZERO_COST.get((_norm(domain), op_type))


def registered_ops() -> list[tuple[str, str]]:
    return sorted(_HANDLERS) + sorted(ZERO_COST)
