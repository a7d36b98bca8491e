"""Stored results as CSV or Parquet: one row per result, settings and scalar fields as columns."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..errors import UsageError, param
from .safe import write_dict_csv


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("payload", "settings") and not isinstance(v, (dict, list))}
    out.update({f"setting.{k}": v for k, v in (row.get("settings") or {}).items()})
    for part in ("args", "summary"):  # a run of the history: its arguments and summary, scalars as columns
        out.update({f"{part}.{k}": v for k, v in (row.get(part) or {}).items() if isinstance(v, (int, float, str, bool)) or v is None})
    for k, v in (row.get("payload") or {}).items():
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = v
    return out


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    flat = [flatten(r) for r in rows]
    cols = sorted({k for r in flat for k in r})
    buf = io.StringIO()
    write_dict_csv(buf, cols, flat)  # names, and column names from stored keys, through safe.csv_cell
    return buf.getvalue()


def rows_to_parquet(rows: list[dict[str, Any]], out: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError("parquet export needs pyarrow: pip install 'nas-analyzer[parquet]'") from None
    from ..files import atomic_path

    table = pa.Table.from_pylist([flatten(r) for r in rows])
    with atomic_path(out, UsageError, f"{param('out')} {out}") as tmp:  # a failed write leaves the old file whole
        try:
            pq.write_table(table, str(tmp))
        except pa.ArrowException as e:
            raise UsageError(f"{param('out')} {out}: cannot write ({e})") from None
