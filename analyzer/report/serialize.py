"""JSON and CSV renderings of profiles, and machine-clean JSON of any record."""

from __future__ import annotations

import io
import json
import math
from typing import Any

from ..records import ModelProfile
from .safe import write_dict_csv

SUMMARY_FIELDS = ["model", "sha256", "opset", "batch", "params", "macs", "flops", "weight_bytes", "activation_bytes",
                  "weight_read_bytes", "bytes_moved", "arithmetic_intensity", "weight_sparsity", "nm_sparsity",
                  "coverage", "nodes", "unsupported_ops", "notes"]
NODE_FIELDS = ["model", "name", "op_type", "op_class", "macs", "flops", "bytes", "weight_bytes", "output_shapes", "supported"]


def to_json(profiles: list[ModelProfile]) -> str:
    return json.dumps([p.to_dict() for p in profiles], indent=2, allow_nan=False)


def to_csv(profiles: list[ModelProfile], per_op: bool = False) -> str:
    """Node, op and file names come from the model: every text cell goes through safe.csv_cell (CSV injection)."""
    buf = io.StringIO()
    if per_op:
        write_dict_csv(buf, NODE_FIELDS, ({"model": p.model, **{k: getattr(n, k) for k in NODE_FIELDS if k != "model"},
                                           "output_shapes": json.dumps(n.output_shapes)} for p in profiles for n in p.per_op or []))
    else:
        write_dict_csv(buf, SUMMARY_FIELDS, ({**p.to_dict(), "unsupported_ops": json.dumps(p.unsupported_ops),
                                              "notes": " | ".join(p.notes)} for p in profiles))
    return buf.getvalue()


def finite_json(obj: Any) -> tuple[str, list[str]]:
    """(JSON text with every non-finite float as null, the paths of those values)."""
    bad: list[str] = []
    return json.dumps(_finite(obj, "", bad), indent=2, allow_nan=False, default=str), bad


def _finite(x: Any, at: str, bad: list[str]) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        bad.append(at or "(value)")
        return None
    if isinstance(x, dict):
        return {k: _finite(v, f"{at}.{k}" if at else str(k), bad) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v, f"{at}[{i}]", bad) for i, v in enumerate(x)]
    return x
