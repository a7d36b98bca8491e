"""Progress bars for steps over many models: on stderr, only when it is a terminal and not --quiet, so
piped, JSON and CI output stay machine-clean."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def progress_bar(label: str, total: int, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Yields advance(name): call once per finished item."""
    console = Console(stderr=True)
    if quiet or not console.is_terminal or total < 2:
        yield lambda name: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[item]}"), console=console, transient=True) as p:
        task = p.add_task(label, total=total, item="")
        yield lambda name: p.update(task, advance=1, item=name)
