"""The run history: every command that produces a result (profile, project, measure, analyze, population,
plan-search) adds one row to the results store's `runs` table, read by `history` and `export --kind run`. Apart from
cli/store.py so a command records its run without registering the store's commands."""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from .base import err, message

RUN_COMMANDS = ("profile", "project", "measure", "analyze", "population", "plan-search", "track")


def record_run(command: str, args: dict, summary: dict, store: Path | None = None, disabled: bool = False) -> None:
    """Add a run to the results store's history (`history`, `export --kind run`); a store that cannot be used is one
    warning and the run's result stands."""
    if disabled:
        return
    from ..engine.store import Store, default_path

    try:
        db = Store.open(store or default_path())
        try:
            db.log_run(command, args, summary)
        finally:
            db.close()
    except StoreError as e:
        err.print(f"warning: {message(e)}; the run is not in the history")
