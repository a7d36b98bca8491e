"""The command line: the typer app (app.py) and one module per command group; each parses flags, calls the
library and renders records. No arithmetic here."""

from . import profile_cmd, project, measure, carbon, decide, analyze, store  # noqa: F401,I001  register the commands, in help order
from .app import app, main

__all__ = ["app", "main"]
