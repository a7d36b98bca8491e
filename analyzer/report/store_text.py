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
    from .text import cell, fold_words, table

    width = max(c.width, 80)
    c.print(cell(fold_words(f"Runs in {path}", width)))  # above the table: its title would wrap at the table's width
    t = table("", tight=True)
    for col in ("id", "when (UTC)", "command", "target and options", "summary"):
        t.add_column(col, no_wrap=True)
    for r in runs:
        t.add_row(str(r["id"]), iso(r["created_at"])[:16] + "Z", escape(r["command"]),
                  cell(fold_words(target_and_options(r.get("args") or {}), 26 if width <= 80 else 40)),
                  cell(fold_words(_brief(r["summary"]), width - 3 - 16 - 11 - (26 if width <= 80 else 40) - 5)))
    c.print(t)


TARGET_KEYS = ("hardware", "dtype", "runtime", "batch", "pue", "grid_gco2e_per_kwh", "site", "targets")
_QUIET = {"phase", "dims", "assume_upper_bound", "batch_norm", "embodied", "utilization", "power_boundary",
          "embodied_boundary"}  # said only when not their defaults would need the defaults here: left to --format json


def target_and_options(args: dict[str, Any]) -> str:
    """A run's target as it was resolved (hardware, dtype, runtime, batch, PUE and grid, or every target of a run
    over several) and the options it was given (models, folder, reuse, search), so runs can be told apart."""
    if not isinstance(args, dict):
        return ""
    parts = []
    if args.get("targets"):
        parts.append("targets " + ", ".join(str(x) for x in args["targets"]))
    elif args.get("hardware"):
        parts.append(" ".join(str(args[k]) if k != "batch" else f"batch {args[k]}"
                              for k in ("hardware", "dtype", "runtime", "batch") if args.get(k) is not None))
    if args.get("site"):
        parts.append(str(args["site"]))
    elif args.get("targets"):  # targets on several sites: each label names its own; one PUE and grid would be the first's
        args = {k: v for k, v in args.items() if k not in ("pue", "grid_gco2e_per_kwh")}
    if args.get("pue") is not None:
        parts.append(f"PUE {args['pue']:g}")
    if args.get("grid_gco2e_per_kwh") is not None:
        parts.append(f"{args['grid_gco2e_per_kwh']:.4g} gCO2e/kWh")
    for k, v in args.items():
        if k in TARGET_KEYS or k in _QUIET or v in (None, "", [], {}):
            continue
        shown = ", ".join(Path(str(x)).name if k == "models" else str(x) for x in v) if isinstance(v, list) else str(v)
        parts.append(f"{k.replace('_', '-')} {shown}")
    return "; ".join(parts)


def _brief(summary: dict, limit: int = 160) -> str:
    """A run's summary for a person: key: value pairs, numbers to 4 significant figures (the JSON keeps them whole),
    CO2e per item in mgCO2e per 1k items as every table gives it; whole pairs up to `limit` characters, then how
    many more (`--format json` has them all), never a pair cut."""
    from .text import num

    def show(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {show(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(show(x) for x in v) + "]"
        return str(v)

    items: list[str] = []
    for k, v in (summary or {}).items() if isinstance(summary, dict) else ():
        if k == "co2e_g_per_item" and isinstance(v, dict):
            items += [f"{name}: {num(x * 1e6) if isinstance(x, (int, float)) else show(x)} mgCO2e per 1k items"
                      for name, x in v.items()]
        else:
            items.append(f"{k}: {show(v)}")
    shown: list[str] = []
    for i, item in enumerate(items):
        if shown and len("; ".join([*shown, item])) > limit:
            return "; ".join(shown) + f"; and {len(items) - i} more (--format json)"
        shown.append(item)
    return "; ".join(shown)
