"""click's usage errors (an unknown option, a value out of its range, a missing argument) as one line."""

from __future__ import annotations

import sys
from typing import Any

import typer


def _usage_error_line(self: Any, file: Any = None) -> None:
    """A usage error click finds (an unknown option, a value out of its range, a missing argument) as one line, like
    every other error: click prints a usage block of three lines and "Error:", which a script cannot grep as ours."""
    from ..report.safe import terminal

    ctx = getattr(self, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    print(f"error: {terminal(self.format_message())}{hint}", file=file or sys.stderr)


# typer vendors click in some versions: its UsageError, found through typer's own subclass. NoArgsIsHelpError (a bare
# command: its help) keeps its own show.
_CLICK_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_CLICK_USAGE_ERROR.show = _usage_error_line
