"""A command's option flags, read from its signature, and the mapping of library parameters to them: the library's
errors name parameters (errors.param), the command line names the flags that set them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..errors import AnalyzerError


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


# Library parameters whose command-line option has another name (errors name parameters; the CLI, flags).
PARAM_FLAGS = {"items_per_day": "--inferences-per-day", "dims": "--dim", "grid": "--grid-gco2e-per-kwh",
               "nas_grid": "--nas-grid-gco2e-per-kwh", "base_grid": "--base-grid-gco2e-per-kwh", "new_grid": "--new-grid-gco2e-per-kwh"}
_COMMAND_FLAGS: list[Callable[[], dict[str, str]]] = []  # the running command's parameter -> flag


def flag_of(name: str) -> str:
    """The flag that sets library parameter `name` in the running command (its own option of that name, else the
    shared spelling)."""
    flags = _COMMAND_FLAGS[-1]() if _COMMAND_FLAGS else {}
    return flags.get(name) or PARAM_FLAGS.get(name) or f"--{name.replace('_', '-')}"


def message(e: AnalyzerError) -> str:
    """An error's one line as the command line says it: its parameters named by their flags."""
    return e.render(flag_of)
