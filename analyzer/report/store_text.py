"""The run history as a table with headers and ISO 8601 times."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from .safe import SafeConsole


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def render_history(runs: list[dict[str, Any]], path: Path, console: Console | None = None) -> None:
    c = console or SafeConsole(highlight=False, emoji=False)
    if not runs:
        c.print(f"no runs recorded in {escape(str(path))}")
        return
    from .text import table

    t = table(f"Runs in {path}")
    for col in ("id", "when (UTC)", "command", "summary"):
        t.add_column(col, overflow="fold", no_wrap=col != "summary")
    for r in runs:
        t.add_row(str(r["id"]), iso(r["created_at"]), escape(r["command"]), escape(_brief(r["summary"])[:160]))
    c.print(t)


def _brief(summary: dict) -> str:
    """A run's summary for a person: key: value pairs, numbers to 4 significant figures (the JSON keeps them whole)."""
    def show(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {show(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(show(x) for x in v) + "]"
        return str(v)

    return "; ".join(f"{k}: {show(v)}" for k, v in summary.items())
