"""Commands `history` and `export`, and opening the store for the commands that cache results."""

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import StoreError, UsageError
from .base import NoStoreOpt, StoreOpt, app, command, err, message, print_json
from .runlog import RUN_COMMANDS

KINDS = ("evaluation", "measurement", "run", "search-run")  # the engine's evaluations (results store), `measure`'s records, the run history, `track`'s runs


def open_store(path: Path | None, disabled: bool):
    """The store and the shipped profiles' fingerprint, or (None, '') when disabled or unusable (then a
    one-line warning and the run goes on)."""
    if disabled:
        return None, ""
    from ..profiles import SHIPPED
    from ..engine.store import Store, default_path, profiles_version

    try:
        return Store.open(path or default_path()), profiles_version(SHIPPED)
    except StoreError as e:
        err.print(f"warning: {message(e)}; continuing without the store")
        return None, ""


def finish_store(db, command: str, args: dict, summary: dict) -> None:
    """Record the run in the store, unless a read or write failed during it: then say so (one line), once."""
    if db is None:
        return
    if db.broken is None:
        try:
            db.log_run(command, args, summary)
        except StoreError:
            pass  # marked broken: said below
    if db.broken is not None:
        err.print(f"warning: {message(db.broken)}; the run went on without the store")


class ExportFormat(str, Enum):
    csv = "csv"
    json = "json"
    parquet = "parquet"
    codecarbon = "codecarbon"


@app.command()
@command
def history(store: StoreOpt = None, limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="How many runs, newest first.")] = 20,
            fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table") -> None:
    """List past runs recorded in the results store (read-only)."""
    from ..report.store_text import render_history
    from ..engine.store import Store, default_path

    if fmt not in ("table", "json"):
        raise UsageError(f"--format '{fmt}': expected table or json")
    s = Store.open_readonly(store or default_path())
    runs = s.runs(limit)
    print_json(runs) if fmt == "json" else render_history(runs, s.path)


@app.command()
@command
def export(
    fmt: Annotated[ExportFormat, typer.Option("--format", help="csv, json, parquet (needs pyarrow) or codecarbon (measurements as CodeCarbon's emissions.csv, one row per measured forward).")] = ExportFormat.json,
    kind: Annotated[Optional[str], typer.Option("--kind", help="evaluation, measurement, run (the history of every command), search-run (`track`'s measured runs), or a command's runs: profile, project, measure, analyze, population, plan-search, track (default: every kind).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="File to write (default: stdout; parquet needs --out).")] = None,
    store: StoreOpt = None,
    measurements: Annotated[Optional[Path], typer.Option("--measurements", help="The measurements file (default: the user cache).")] = None,
    no_store: NoStoreOpt = False,
    grid: Annotated[Optional[float], typer.Option("--grid-gco2e-per-kwh", min=0, max=5000, help="With --format codecarbon: the grid intensity for its emissions column (empty without).")] = None,
) -> None:
    """Export stored results, every kind or one: the results store's evaluations, the measurements `measure`
    appended, and the run history (every profile, project, measure, analyze, population and plan-search run).
    csv/parquet flatten settings, arguments and scalar fields into columns; codecarbon writes the measurements in
    CodeCarbon's emissions.csv columns (energies in kWh)."""
    from ..measure import store as mstore
    from ..report.export import rows_to_csv, rows_to_parquet
    from ..report.safe import terminal, terminal_lines
    from ..engine.store import Store, default_path

    if kind is not None and kind not in KINDS + RUN_COMMANDS:
        raise UsageError(f"--kind '{kind}': expected one of {', '.join(KINDS + RUN_COMMANDS)}")
    if out is not None:  # before anything is read or written: `export --store s.sqlite --out s.sqlite` keeps the store
        from ..files import refuse_inputs

        db_path = store or default_path()  # and SQLite's files beside it: replacing its WAL would lose its rows
        refuse_inputs(out, [db_path, *(f"{db_path}{side}" for side in ("-wal", "-shm", "-journal")),
                            measurements or mstore.default_path()], UsageError, f"--out {out}")
    if fmt is ExportFormat.codecarbon:
        from ..measure.interchange import codecarbon_rows, write_codecarbon

        cc = codecarbon_rows(mstore.read(measurements or mstore.default_path(), _door(measurements)), grid)
        _emit(write_codecarbon(cc), out, len(cc))
        return
    rows: list[dict] = []
    if kind not in (None, "measurement") and no_store:
        raise UsageError(f"--kind {kind} is read from the results store: drop --no-store")
    path = store or default_path()
    # the default store not made yet is no error; a special file is (the store refuses it)
    if kind not in ("measurement",) and not no_store and (path.exists() or kind is not None):
        db = Store.open_readonly(path)
        if kind in (None, "evaluation", "search-run"):
            rows += list(db.results(kind))
        if kind not in ("evaluation", "search-run"):
            rows += [{"kind": "run", **r} for r in db.runs(None) if kind in (None, "run") or r["command"] == kind]
    if kind in (None, "measurement"):
        rows += [{"kind": "measurement", **m.to_dict()} for m in mstore.read(measurements or mstore.default_path(), _door(measurements))]
    if fmt is ExportFormat.parquet:
        if out is None:
            raise UsageError("--format parquet needs --out FILE")
        rows_to_parquet(rows, out)
        print(terminal(f"wrote {len(rows)} rows to {out}"))
        return
    text = rows_to_csv(rows) if fmt is ExportFormat.csv else None
    if out is None and text is None:
        print_json(rows)
        return
    if out is None and text is not None and sys.stdout.isatty():
        text = terminal_lines(text)  # control characters in names are escaped on a terminal
    import json

    _emit(text if text is not None else json.dumps(rows, indent=2, allow_nan=False) + "\n", out, len(rows))


def _door(measurements: Path | None) -> str:
    from ..measure import store as mstore

    return f"--measurements {measurements}" if measurements else f"measurements {mstore.default_path()}"


def _emit(text: str, out: Path | None, n: int) -> None:
    from ..report.safe import terminal

    from ..files import write_atomic

    if out is None:
        sys.stdout.write(text)
        return
    write_atomic(out, text, UsageError, f"--out {out}")  # a failed write leaves the file that was there whole
    print(terminal(f"wrote {n} rows to {out}"))


@app.command("import-codecarbon")
@command
def import_codecarbon(
    path: Annotated[Path, typer.Argument(help="A CodeCarbon emissions.csv.")],
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Read a CodeCarbon emissions.csv in this tool's units (joules, seconds, watts) beside how CodeCarbon got each
    run (tracking mode, CPU and GPU), to compare with `measure` on the same models or to carry the runs over."""
    from dataclasses import asdict

    from ..measure.interchange import read_codecarbon
    from ..report.measure_text import render_codecarbon

    if fmt not in ("table", "json"):
        raise UsageError(f"--format '{fmt}': expected table or json")
    runs = read_codecarbon(path)
    print_json([asdict(r) for r in runs]) if fmt == "json" else render_codecarbon(runs)
