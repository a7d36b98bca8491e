"""JSON and CSV renderings of profiles."""

from __future__ import annotations

import csv
import io
import json

from ..records import ModelProfile

SUMMARY_FIELDS = ["model", "sha256", "opset", "batch", "params", "macs", "flops", "weight_bytes", "activation_bytes",
                  "weight_read_bytes", "bytes_moved", "arithmetic_intensity", "weight_sparsity", "nm_sparsity",
                  "coverage", "nodes", "unsupported_ops", "notes"]
NODE_FIELDS = ["model", "name", "op_type", "op_class", "macs", "flops", "bytes", "weight_bytes", "output_shapes", "supported"]


def to_json(profiles: list[ModelProfile]) -> str:
    return json.dumps([p.to_dict() for p in profiles], indent=2, allow_nan=False)


def to_csv(profiles: list[ModelProfile], per_op: bool = False) -> str:
    buf = io.StringIO()
    if per_op:
        w = csv.DictWriter(buf, NODE_FIELDS, lineterminator="\n")
        w.writeheader()
        for p in profiles:
            for n in p.per_op or []:
                row = {k: getattr(n, k) for k in NODE_FIELDS if k != "model"}
                row["output_shapes"] = json.dumps(n.output_shapes)
                w.writerow({"model": p.model, **row})
    else:
        w = csv.DictWriter(buf, SUMMARY_FIELDS, lineterminator="\n")
        w.writeheader()
        for p in profiles:
            d = p.to_dict()
            row = {k: d[k] for k in SUMMARY_FIELDS}
            row["unsupported_ops"] = json.dumps(d["unsupported_ops"])
            row["notes"] = " | ".join(d["notes"])
            w.writerow(row)
    return buf.getvalue()
