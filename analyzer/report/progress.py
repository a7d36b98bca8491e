"""Progress bars for steps over many models: on stderr, only when it is a terminal and not --quiet, so
piped, JSON and CI output stay machine-clean."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .safe import SafeConsole, terminal


@contextmanager
def progress_bar(label: str, total: int, quiet: bool = False, rate: bool = False) -> Iterator[Callable[..., None]]:
    """Yields advance(name, n=1): call as items finish. rate adds items per second and the time left."""
    console = SafeConsole(stderr=True)
    if quiet or not console.is_terminal or total < 2:
        yield lambda name, n=1: None
        return
    extra = (TextColumn("{task.fields[rate]}"), TimeRemainingColumn()) if rate else ()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), *extra,
                  TextColumn("{task.fields[item]}"), console=console, transient=True) as p:
        task = p.add_task(label, total=total, item="", rate="")

        def advance(name: str, n: int = 1) -> None:
            p.update(task, advance=n, item=escape(terminal(name)))  # a column renders markup, not through the console
            speed = p.tasks[0].speed
            if rate and speed:
                p.update(task, rate=f"{speed:,.0f}/s")

        yield advance
