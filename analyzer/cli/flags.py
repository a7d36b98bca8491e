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


def repeated_options(command: Any, args: list[str]) -> list[tuple[str, list[str]]]:
    """(flag, its values) for each single-valued option of `command` given more than once in `args` (click keeps
    the last silently): a second --hardware must not quietly replace the first."""
    single = {}
    for p in getattr(command, "params", []):
        # typer may vendor click: an option is known by its class's name, not by click.Option
        is_option = any(c.__name__.endswith("Option") for c in type(p).__mro__)
        if is_option and not p.multiple and not p.is_flag and not getattr(p, "count", False):
            for o in p.opts:
                single[o] = p.opts[0]
    seen: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            break
        name, eq, value = a.partition("=")
        if name in single:
            if not eq:
                i += 1
                value = args[i] if i < len(args) else ""
            seen.setdefault(single[name], []).append(value)
        i += 1
    return [(f, v) for f, v in seen.items() if len(v) > 1]


def once_group():
    """typer's command group, refusing a single-valued option given twice (one line, exit 2): the values are
    named, and where the option takes a list (--hardware a,b,c) the message says so."""
    from typer.core import TyperGroup

    from .click_errors import _CLICK_USAGE_ERROR

    class OnceGroup(TyperGroup):
        def resolve_command(self, ctx, args):  # type: ignore[override]
            name, cmd, rest = super().resolve_command(ctx, args)
            for flag, values in repeated_options(cmd, rest) if cmd is not None else []:
                raise _CLICK_USAGE_ERROR(f"{flag} given {len(values)} times ({', '.join(values)}): give it once"
                                       + (f" (several targets: {flag} {','.join(values)})"
                                          if flag in LIST_FLAGS and name in LIST_COMMANDS else ""), ctx)
            return name, cmd, rest
    return OnceGroup


LIST_FLAGS = {"--hardware", "--region"}  # options project and rank read as comma-separated lists (several targets)
LIST_COMMANDS = {"project", "rank"}


def split_list(value: str | None) -> list[str | None]:
    """'h100, a100,l4' -> ['h100', 'a100', 'l4']; None -> [None] (the default); names once each, in order."""
    if value is None:
        return [None]
    items = [v.strip() for v in value.split(",")]
    if not all(items):
        from ..errors import UsageError

        raise UsageError(f"'{value}': an empty name in the list (expected NAME[,NAME...])")
    return list(dict.fromkeys(items))
