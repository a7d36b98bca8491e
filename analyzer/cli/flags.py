"""A command's option flags, read from its signature, for messages that name the flag as the user typed it."""

from __future__ import annotations

from typing import Any, Callable


def option_flags(fn: Callable[..., Any]) -> dict[str, str]:
    """Parameter name -> the option's first flag, from the typer.Option in its annotation."""
    import typing

    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # noqa: BLE001 - an unresolvable annotation only costs the flag's exact spelling
        return {}
    out = {}
    for name, hint in hints.items():
        for meta in getattr(hint, "__metadata__", ()):
            # typer.Option("--flag", ...) inside Annotated: the first flag arrives as the default
            default = getattr(meta, "default", None)
            decls = ([default] if isinstance(default, str) and default.startswith("-") else []) + list(getattr(meta, "param_decls", ()) or ())
            if decls:
                out[name] = decls[0]
    return out
