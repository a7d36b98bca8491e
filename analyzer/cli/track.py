"""Command `track`: run a command and measure it (issue #37). Parsing and rendering only; the tracker is
analyzer.engine.track."""

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .base import (DatacenterOpt, FormatOpt, GridOpt, OutFormat, PueOpt, QuietOpt, RegionOpt, StoreOpt, NoStoreOpt, WideOpt,
                   app, command, print_json)


def _start(argv: list[str]) -> subprocess.Popen:
    try:
        return subprocess.Popen(argv)
    except OSError as e:
        raise UsageError(f"cannot start {argv[0]!r}: {e.strerror}") from None


@app.command(context_settings={"allow_interspersed_args": False})
@command
def track(
    argv: Annotated[list[str], typer.Argument(metavar="-- COMMAND ...", help="The command to run and measure, after --.")],
    name: Annotated[Optional[str], typer.Option("--name", help="The run's name (default: the command's name).")] = None,
    meter: Annotated[str, typer.Option("--meter", help="CPU meter: auto (RAPL, hwmon, powermetrics, Jetson, then the estimate; GPUs by NVML), estimate, rapl, hwmon[:CHIP], replay:FILE.csv.")] = "auto",
    interval_s: Annotated[float, typer.Option("--interval", help="Seconds between readings (0.01 to 60).")] = 0.1,
    hardware: Annotated[Optional[str], typer.Option("--hardware", help="The hardware profile the run held (its host share and embodied carbon).")] = None,
    pue: PueOpt = None, datacenter: DatacenterOpt = None, grid: GridOpt = None, region: RegionOpt = None,
    emissions_csv: Annotated[Optional[Path], typer.Option("--emissions-csv", help="Also write the run as CodeCarbon's emissions.csv here.")] = None,
    log: Annotated[Optional[Path], typer.Option("--log", help="The run's log (JSON lines; default: the user cache's runs/).")] = None,
    store: StoreOpt = None, no_store: NoStoreOpt = False, quiet: QuietOpt = False, wide: WideOpt = False,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Run COMMAND and measure it: the meters of its process tree sampled at --interval into the run's log, the run
    accounted at the site and recorded in the results store (`analyze --search-run`, `plan-search --compare`). A
    process it starts opens spans with analyzer.child_span(...) (the log is in $NAS_ANALYZER_TRACK_LOG). Exits with
    the command's exit code; the run's summary goes to stderr (or --format json to stdout)."""
    from ..engine.track import TrackHooks, track as tracker
    from ..target import SiteRequest

    if not argv:
        raise UsageError("give the command to run after --, e.g. nas-analyzer track -- python train.py")
    if shutil.which(argv[0]) is None:
        raise UsageError(f"cannot start {argv[0]!r}: no such executable")
    rc: list[int] = []
    hooks = TrackHooks(interval_s=interval_s, emissions_csv=emissions_csv, command=list(argv),
                       exit_status=lambda: rc[0] if rc else "not started")
    with tracker(name or Path(argv[0]).name, site=SiteRequest(pue=pue, datacenter=datacenter, grid=grid, region=region),
                 hardware=hardware, meter=meter, store=False if no_store else store, log=log, hooks=hooks) as run:
        proc = _start(argv)
        # the tracker outlives the command: SIGTERM is passed on; Ctrl-C reaches the command from the terminal (one
        # process group), and the tracker waits for it to end rather than stop measuring first
        old_term = signal.signal(signal.SIGTERM, lambda sig, _frame: proc.send_signal(sig))
        old_int = signal.signal(signal.SIGINT, lambda sig, _frame: None)
        try:
            code = proc.wait()
        finally:
            signal.signal(signal.SIGTERM, old_term)
            signal.signal(signal.SIGINT, old_int)
        rc.append(code if code >= 0 else 128 - code)
    d = run.result.to_dict()
    from .runlog import record_run

    record_run("track", {"command": list(argv), "name": d["name"], "log": d["log"]},
               {"run_id": d["run_id"], "status": d["status"], "exit_status": d["exit_status"], "seconds": d["seconds"],
                "energy_j": d["total_energy_j"], "co2e_kg": d["account"]["co2e_kg"]}, store, no_store)
    if fmt is OutFormat.json:
        print_json(d)
    else:
        from ..report.track_text import render_run

        from ..report.safe import SafeConsole

        out = SafeConsole(stderr=True, highlight=False, emoji=False)  # stdout is the command's
        out.width = 1000 if wide else min(out.width, 100)
        render_run(d, out, quiet)
    raise typer.Exit(rc[0])
