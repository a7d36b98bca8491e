"""CLI commands `history` and `export`, and the store options the other commands share."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import app, err
from .errors import AnalyzerError, UsageError

StoreOpt = Annotated[Optional[Path], typer.Option("--store", help="Results store (SQLite; default: the user cache).")]
NoStoreOpt = Annotated[bool, typer.Option("--no-store", help="Neither read nor write the results store.")]


def open_store(path: Path | None, disabled: bool):
    """The store, or None (disabled, or unusable: then a one-line warning and the run goes on)."""
    if disabled:
        return None, ""
    from .profiles import SHIPPED
    from .store import Store, StoreError, default_path, profiles_version

    try:
        return Store.open(path or default_path()), profiles_version(SHIPPED)
    except StoreError as e:
        err.print(f"warning: {e}; continuing without the store", markup=False)
        return None, ""


class ExportFormat(str, Enum):
    csv = "csv"
    json = "json"
    parquet = "parquet"


def _flat(row: dict) -> dict:
    out = {k: v for k, v in row.items() if k != "payload" and k != "settings"}
    out.update({f"setting.{k}": v for k, v in row["settings"].items()})
    for k, v in row["payload"].items():
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = v
    return out


@app.command()
def history(store: StoreOpt = None, limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
            fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table") -> None:
    """List past runs recorded in the results store."""
    from .store import Store, StoreError, default_path

    try:
        s = Store.open(store or default_path())
    except StoreError as e:
        err.print(f"error: {e}", markup=False)
        raise typer.Exit(1) from None
    runs = s.runs(limit)
    if fmt == "json":
        print(json.dumps(runs, indent=2))
        return
    if not runs:
        print(f"no runs recorded in {s.path}")
    for r in runs:
        when = datetime.fromtimestamp(r["created_at"]).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{r['id']:>5}  {when}  {r['command']:<8} {json.dumps(r['summary'])[:120]}")


@app.command()
def export(
    fmt: Annotated[ExportFormat, typer.Option("--format", help="csv, json or parquet (parquet needs pyarrow).")] = ExportFormat.json,
    kind: Annotated[Optional[str], typer.Option("--kind", help="profile, projection or measurement (default: all).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="File to write (default: stdout; parquet needs --out).")] = None,
    store: StoreOpt = None,
) -> None:
    """Export stored results: one row per result, settings and scalar fields flattened (csv/parquet)."""
    from .store import Store, StoreError, default_path

    try:
        s = Store.open(store or default_path())
        rows = list(s.results(kind))
        if fmt is ExportFormat.json:
            text = json.dumps(rows, indent=2)
        elif fmt is ExportFormat.csv:
            flat = [_flat(r) for r in rows]
            cols = sorted({k for r in flat for k in r})
            buf = io.StringIO()
            w = csv.DictWriter(buf, cols, lineterminator="\n")
            w.writeheader()
            w.writerows(flat)
            text = buf.getvalue()
        else:
            if out is None:
                raise UsageError("--format parquet needs --out FILE")
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError:
                raise UsageError("parquet export needs pyarrow: pip install pyarrow") from None
            pq.write_table(pa.Table.from_pylist([_flat(r) for r in rows]), str(out))
            print(f"wrote {len(rows)} rows to {out}")
            return
        if out is None:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        else:
            out.write_text(text)
            print(f"wrote {len(rows)} rows to {out}")
    except StoreError as e:
        err.print(f"error: {e}", markup=False)
        raise typer.Exit(1) from None
    except AnalyzerError as e:
        err.print(f"error: {e}", markup=False)
        raise typer.Exit(e.exit_code) from None
