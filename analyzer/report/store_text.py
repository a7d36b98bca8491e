"""The run history as a table with headers and ISO 8601 times."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .safe import SafeConsole


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def render_history(runs: list[dict[str, Any]], path: Path, console: Console | None = None) -> None:
    c = console or SafeConsole(highlight=False, emoji=False)
    if not runs:
        c.print(f"no runs recorded in {escape(str(path))}")
        return
    t = Table(title=f"Runs in {escape(str(path))}", title_justify="left")
    for col in ("id", "when (UTC)", "command", "summary"):
        t.add_column(col, overflow="fold")
    for r in runs:
        t.add_row(str(r["id"]), iso(r["created_at"]), escape(r["command"]), escape(json.dumps(r["summary"])[:160]))
    c.print(t)
