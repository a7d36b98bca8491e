"""Terminal table of latency and energy measurements."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def render_measurements(results, console: Console, quiet: bool = False) -> None:
    t = Table(title="Measured", title_justify="left")
    for col in ("model", "batch", "median ms", "95% CI", "p10-p90 ms", "iters", "items/s", "J/item", "dyn J/item", "energy source"):
        t.add_column(col, justify="left" if col in ("model", "energy source") else "right", overflow="fold")
    for m in results:
        j = "n/a" if m.energy_j_per_item is None else f"{m.energy_j_per_item:.4g}"
        dj = "n/a" if m.dynamic_energy_j_per_item is None else f"{m.dynamic_energy_j_per_item:.4g}"
        ci = f"+-{m.ci_rel:.1%}" + ("" if m.converged else " (!)")
        t.add_row(escape(Path(m.model).name), str(m.batch), f"{m.latency_s_median * 1e3:.4g}", ci,
                  f"{m.latency_s_p10 * 1e3:.4g}-{m.latency_s_p90 * 1e3:.4g}", str(m.iterations), f"{m.throughput_per_s:.4g}",
                  j, dj, escape(m.energy_source))
    console.print(t)
    if results:
        m = results[0]
        console.print(f"{escape(m.runtime_version)}, provider {escape(m.provider)}, threads {m.threads or 'default'}, "
                      f"opt level {m.opt_level}, CPU {escape(m.cpu_model)}")
    for m in [] if quiet else results:
        for n in m.notes:
            console.print(f"[yellow]note[/] {escape(Path(m.model).name)} batch {m.batch}: {escape(n)}")
