"""Command `population`: a search's candidates at scale, on a process pool or a Ray cluster (issue #17)."""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.text import Text  # a header we wrap ourselves: our line break, not a user's control character

from ..errors import UsageError
from ..report.safe import write_dict_csv
from .base import (BatchNormOpt, MemoryFormatOpt, BatchOpt, DatacenterOpt, DtypeOpt, EmbodiedBoundaryOpt, FormatOpt, GridOpt, HardwareOpt, MemoryLimitOpt,
                   NoStoreOpt, OutFormat, PowerBoundaryOpt, ProfilesOpt, PueOpt, QuietOpt, RegionOpt,
                   RuntimeOpt, StoreOpt, TimeoutOpt, UtilizationOpt, WideOpt, app, command, console, load, print_json, report_errors,
                   report_failed)
from .serving import KvDtypeOpt, LengthsOpt, MaxBatchedTokensOpt, MaxConcurrencyOpt, TensorParallelOpt, serving_options

ServedPromptOpt = Annotated[Optional[int], typer.Option("--prompt-tokens", help="With --phase serving: the mean prompt (default 500).")]
ServedOutputOpt = Annotated[Optional[int], typer.Option("--output-tokens", help="With --phase serving: the mean output (default 300).")]


@app.command()
@command
def population(
    source: Annotated[str, typer.Argument(help="nb201:N[:SEED] (N distinct NAS-Bench-201 cells) or nb201:FILE (NB201 arch strings, one a line), nb101:N[:SEED] or nb101:FILE (NAS-Bench-101 cells, JSON lines), ofa:N[:SEED] or ofa:FILE (Once-for-All MobileNetV3 subnets, JSON lines), fbnet:N[:SEED] or fbnet:FILE (FBNet layer choices, JSON lines), layers:FILE (your own networks as JSON layer lists; see docs/spaces.md), space:N[:SEED] (the synthetic MobileNet-like space), decoders:N[:SEED] (synthetic decoder shapes, with --phase serving), FILE.py:NAME (a generator: runs FILE.py's top-level code, as python would; name only files you trust), a folder, a manifest.toml, an .onnx file or a decoder's config.json.")],
    hardware: HardwareOpt = None,
    dtype: DtypeOpt = None, batch: BatchOpt = None, runtime: RuntimeOpt = None, batch_norm: BatchNormOpt = "auto",
    memory_format: MemoryFormatOpt = "nchw",
    pue: PueOpt = None, datacenter: DatacenterOpt = None, grid: GridOpt = None, region: RegionOpt = None,
    utilization: UtilizationOpt = None, power_boundary: PowerBoundaryOpt = None, embodied_boundary: EmbodiedBoundaryOpt = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, max=1024, help="Local worker processes (default: one per core).")] = None,
    ray: Annotated[bool, typer.Option("--ray", help="Run the tasks on Ray (the ray extra): a local cluster, or --ray-address.")] = False,
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Join this Ray cluster ('auto', ray://HOST:PORT); implies --ray.")] = None,
    objective: Annotated[str, typer.Option("--objective", help="Order of the top list: co2e, energy, latency or macs.")] = "co2e",
    top_k: Annotated[int, typer.Option("--top", min=0, max=10_000, help="Candidates listed by the objective.")] = 10,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write every candidate's record here (.csv or .jsonl).")] = None,
    store: StoreOpt = None, no_store: NoStoreOpt = False, quiet: QuietOpt = False, profiles: ProfilesOpt = None,
    timeout: TimeoutOpt = 60.0, memory_limit: MemoryLimitOpt = 2048.0, wide: WideOpt = False,
    phase: Annotated[Optional[str], typer.Option("--phase", help="serving: the candidates are decoders' configs, served as vLLM serves them (per output token).")] = None,
    prompt_tokens: ServedPromptOpt = None, output_tokens: ServedOutputOpt = None, max_concurrency: MaxConcurrencyOpt = None,
    lengths: LengthsOpt = None, kv_dtype: KvDtypeOpt = None, max_batched_tokens: MaxBatchedTokensOpt = None,
    tensor_parallel: TensorParallelOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Profile, project and rank a search population: every candidate's MACs, latency, energy and CO2e per
    item on the target, the Pareto front (CO2e and latency, and accuracy where every candidate has one) and
    the best by the objective. Each result is stored as it finishes: a killed run resumes where it stopped and
    a repeated run reads the store."""
    from ..engine import LocalExecutor, RayExecutor
    from ..engine.population import pareto_front, run_population, top
    from ..load.sources import known_size, read
    from ..target import resolve_target, TargetRequest
    from ..report.progress import progress_bar
    from .store import finish_store, open_store

    if out is not None and out.suffix not in (".csv", ".jsonl"):
        raise UsageError(f"--out {out}: give a .csv or .jsonl file")
    if out is not None:
        from ..files import refuse_inputs

        refuse_inputs(out, [source, source.rsplit(":", 1)[0], lengths, store], UsageError, f"--out {out}")  # FILE.py:NAME
    ps = load(profiles)
    if phase not in (None, "serving"):
        raise UsageError(f"--phase {phase}: a population is priced per input, or with serving per output token of a decoder")
    target = resolve_target(ps, TargetRequest(hardware, dtype=dtype, runtime=runtime, batch=batch, pue=pue, datacenter=datacenter,
                            grid=grid, region=region, batch_norm=batch_norm, memory_format=memory_format, utilization=utilization,
                            power_boundary=power_boundary, embodied_boundary=embodied_boundary, phase=phase,
                            prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                            serving=serving_options(max_concurrency, lengths, kv_dtype, max_batched_tokens, tensor_parallel)))
    tasks = read(source)
    size = known_size(source)
    executor = RayExecutor(ray_address, workers) if (ray or ray_address) else LocalExecutor(workers)
    db, pver = open_store(store, no_store)
    with progress_bar("candidates", size or 0, quiet, rate=True) as advance:
        run = run_population(tasks, target, executor, db, pver, advance=lambda n: advance("", n), keep_arch=out is not None)
    axes = ("co2e_g_per_item", "latency_s") + (("accuracy",) if run.records and all(r["accuracy"] is not None for r in run.records) else ())
    front = [run.records[i] for i in pareto_front(run.records, axes)]
    from ..engine import target_inputs

    result = {"source": source, "target": target.to_dict(), "inputs": target_inputs(target), "candidates": len(run.records) + len(run.errors),
              "evaluated": run.evaluated, "from_store": run.from_store, "failed": len(run.errors), "seconds": round(run.seconds, 3),
              "executor": run.executor, "workers": run.workers, "front_axes": list(axes), "front": front,
              "top": top(run.records, objective, top_k), "objective": objective}
    if out is not None:
        _write(out, run.records)
    report_failed([e["evaluation"] for e in run.errors[:20]])
    if len(run.errors) > 20:
        report_errors([f"... and {len(run.errors) - 20} more failed"])
    finish_store(db, "population", {"source": source, **target.settings()},
                 {k: result[k] for k in ("candidates", "evaluated", "from_store", "failed", "seconds", "executor")})
    if fmt is OutFormat.json:
        print_json(result)
    else:
        _render(result, quiet, wide)
    raise typer.Exit(max((e["exit_code"] for e in run.errors), default=0))


def _write(out: Path, records: list[dict]) -> None:
    from ..files import atomic_open

    with atomic_open(out, "w", UsageError, f"--out {out}", newline="") as f:  # a failed write leaves the old file whole
        if out.suffix == ".jsonl":
            for r in records:
                f.write(json.dumps(r) + "\n")
        else:
            # MACs named per item (as the table shows them) and per batch (the record's), never one unnamed column
            rows = [{**r, "macs_per_batch": r["macs"], "macs_per_item": r["macs"] / (r.get("batch") or 1)} for r in records]
            write_dict_csv(f, ["name", "role", "accuracy", "batch", "macs_per_item", "macs_per_batch", "flops", "params",
                               "bytes_moved", "latency_s", "energy_j_per_item", "co2e_g_per_item", "kernels", "host"], rows)


_AXIS_WORDS = {"co2e_g_per_item": "lower CO2e per item", "energy_j_per_item": "lower energy per item",
               "latency_s": "lower latency", "macs": "fewer MACs", "accuracy": "higher accuracy"}


def _render(result: dict, quiet: bool, wide: bool) -> None:
    from ..report.text import CO2E_PER_ITEM, CHIP_ENERGY_PER_ITEM, notes, num, site_line, table, two_lines, unit_for

    c = console(wide)
    t = result["target"]
    batch = t["batch"]
    c.print(escape(f"{result['candidates']:,} candidates from {result['source']} on {t['hardware']} ({t['dtype']}, "
                   f"{t['runtime']}, batch {t['batch']}): {result['evaluated']:,} evaluated, {result['from_store']:,} from the "
                   f"store, {result['failed']:,} failed; {result['seconds']:.1f} s on {result['workers']} "
                   f"{result['executor']} worker(s)"))
    if isinstance(t.get("site"), dict):  # where, as resolved: datacenter and PUE, region with its year and intensity
        c.print(escape("where: " + site_line(t)))
    axes = ", ".join(_AXIS_WORDS.get(a, a) for a in result["front_axes"])
    for title, rows in ((f"Pareto front: {axes}", result["front"][:None if wide else 20]),
                        (f"Top {len(result['top'])} by {result['objective']}", result["top"])):
        em, eu = unit_for((r["energy_j_per_item"] for r in rows), CHIP_ENERGY_PER_ITEM)
        cm, cu = unit_for((r["co2e_g_per_item"] for r in rows), CO2E_PER_ITEM)
        head = title + ("" if len(rows) == len(result["front"]) or "Top" in title else f": {len(rows)} of {len(result['front'])}, --wide for all")
        tab = _table(head, rows, batch, (em, eu, cm, cu), wide, per_item=True)
        if not wide and c.measure(tab, options=c.options.update_width(1000)).maximum > c.width:  # latency per item only where the names still fit whole
            tab = _table(head, rows, batch, (em, eu, cm, cu), wide, per_item=False)
        c.print(tab)
    if not quiet:
        notes(result["target"]["notes"], c)


def _table(title: str, rows: list[dict], batch: int, units: tuple, wide: bool, per_item: bool):
    """A population table: latency per batch (the record's latency_s) and, with `per_item`, per item (/ batch)."""
    from ..report.text import num, table, two_lines

    em, eu, cm, cu = units
    tab = table(title, tight=True)
    cols = ("model", "top-1 %", "GMACs per item", "params M", "latency ms per batch") + (("latency ms per item",) if per_item else ()) + (eu, cu)
    for col in cols:
        if col == "model":  # a long (or hostile) name folds inside its column; the numbers keep theirs
            tab.add_column(col, justify="left", overflow="fold", max_width=None if wide else 40)
        else:
            tab.add_column(Text(two_lines(col)), justify="right", no_wrap=True)
    for r in rows:
        b = r.get("batch") or batch
        lat = (num(r["latency_s"] * 1e3),) + ((num(r["latency_s"] * 1e3 / b),) if per_item else ())
        tab.add_row(escape(r["name"]), "-" if r["accuracy"] is None else f"{r['accuracy']:.2f}", f"{r['macs'] / b / 1e9:.3f}",
                    f"{r['params'] / 1e6:.2f}", *lat, num(r["energy_j_per_item"] * em), num(r["co2e_g_per_item"] * cm))
    return tab
