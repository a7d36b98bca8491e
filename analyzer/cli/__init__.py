"""The command line: the typer app (base.py) and one module per command group; each parses flags into a request,
calls the library (a use case of decide/, or the engine) and renders records. No arithmetic here, and no import of
project/ or account/ (tests/whole/test_layers.py).

A module registers its commands when imported. `main` imports only the module of the command asked for, so typer
turns one command's signature into click parameters rather than fifteen (about 40 ms of every start, issue #14);
`--help`, no command or an unknown one imports them all, in help order. `analyzer.cli.app` is the whole app."""

from __future__ import annotations

import importlib
import sys
from typing import Any

# command or group name -> the module that registers it (a test checks this against the registered app)
COMMAND_MODULES = {
    "profile": "profile_cmd",
    "project": "project", "calibrate": "calibrate_cmd",
    "measure": "measure",
    "footprint": "carbon", "fourm": "carbon", "profiles": "profiles_cmd",
    "amortize": "decide", "strategies": "decide", "rank": "decide",
    "analyze": "analyze", "report": "analyze",
    "history": "store", "export": "store", "import-codecarbon": "store",
    "population": "population",
    "plan-search": "plan",
    "track": "track",
}
HELP_ORDER = ("profile_cmd", "project", "calibrate_cmd", "measure", "profiles_cmd", "carbon", "decide", "analyze", "population", "plan", "track", "store")


def register(command: str | None = None) -> Any:
    """Import the module that registers `command` (all of them for None or an unknown name); return the app."""
    modules = (COMMAND_MODULES[command],) if command in COMMAND_MODULES else HELP_ORDER
    for module in modules:
        importlib.import_module(f"{__name__}.{module}")
    from .base import app

    return app


def main() -> None:
    register(sys.argv[1] if len(sys.argv) > 1 else None)
    _run()


def _run() -> None:
    """The app, with what escapes a command's own error handling turned into one line and an exit code."""
    import typer

    from .base import app, err

    # typer vendors click in some versions: its base exception, found where typer's own subclass has it
    click_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    try:
        code = app(standalone_mode=False)
    except click_error as e:  # a usage error click found: it quotes the user's text, shown escaped (report/safe.py)
        from ..report.safe import terminal

        if type(e).__name__ != "NoArgsIsHelpError":  # that one's message is our own help text, lines and all
            from ..errors import shorten

            e.message = terminal(shorten(e.message))
        e.show()
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except MemoryError:
        err.print("error: out of memory")
        sys.exit(1)
    except RecursionError:
        err.print("error: the input nests too deeply to analyse (a model's subgraphs, or a file's arrays and objects)")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def __getattr__(name: str) -> Any:
    if name == "app":
        return register()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "main", "register", "COMMAND_MODULES"]
