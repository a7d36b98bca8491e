"""Terminal table of latency and energy measurements."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.text import Text


def _joules(m, value) -> str:
    if value is None:
        return "n/a"
    return f"~{value:.4g}" if m.energy_provenance == "estimated" else f"{value:.4g}"


def energy_lines(m) -> list[str]:
    """How a measurement's energy was obtained: an estimate's value, band, parts and method; a measurement's
    attribution. Plain text (the caller escapes)."""
    out = []
    if m.energy_provenance == "estimated" and m.energy_j_per_item is not None:
        parts = ", ".join(f"{k} {v:.4g}" for k, v in m.energy_parts_j_per_item.items())
        band = m.energy_j_per_item_band
        band_text = f", band {band[0]:.3g}-{band[1]:.3g} J/item" if band else ""
        out.append(f"estimated CPU+DRAM energy (not measured): {m.energy_j_per_item:.4g} J/item{band_text}"
                   + (f" ({parts})" if parts else ""))
        out.append(f"method: {m.energy_method}")
    elif m.energy_method:
        out.append(f"method: {m.energy_method}")
    if m.energy_attribution:
        out.append(f"attribution: {m.energy_attribution}")
    return out


def render_measurements(results, console: Console, quiet: bool = False) -> None:
    """One row per model and batch, within 100 columns: names fold, numbers never break; how each energy was
    obtained follows the table."""
    from .text import table

    t = table("Measured")
    for col in ("model", "batch", "median\nms", "95% CI", "p10..p90\nms", "iters", "items\nper s", "J per\nitem",
                "dynamic J\nper item", "energy\nsource"):
        text = col in ("model", "energy\nsource")
        t.add_column(Text(col), justify="left" if text else "right", overflow="fold" if text else "ellipsis",
                     no_wrap=not text, min_width=12 if col == "model" else None)
    for m in results:
        ci = f"+-{m.ci_rel:.1%}" + ("" if m.converged else " (!)")
        t.add_row(escape(Path(m.model).stem), str(m.batch), f"{m.latency_s_median * 1e3:.4g}", ci,
                  f"{m.latency_s_p10 * 1e3:.4g}..{m.latency_s_p90 * 1e3:.4g}", str(m.iterations), f"{m.throughput_per_s:.4g}",
                  _joules(m, m.energy_j_per_item), _joules(m, m.dynamic_energy_j_per_item),
                  escape(m.energy_source.split(" (")[0]))  # the meter; its details are in the lines below
    console.print(t)
    if any(m.energy_provenance == "estimated" and m.energy_j_per_item is not None for m in results):
        console.print("~ estimated, not measured (est.): how, and its band, below")
    if results:
        m = results[0]
        console.print(f"{escape(m.runtime_version)}, provider {escape(m.provider)}, threads {m.threads or 'default'}, "
                      f"opt level {m.opt_level}, CPU {escape(m.cpu_model)}")
    for m in results:
        for line in energy_lines(m):
            console.print(f"[cyan]energy[/] {escape(Path(m.model).name)} batch {m.batch}: {escape(line)}")
    for m in [] if quiet else results:
        for n in m.notes:
            console.print(f"[yellow]note[/] {escape(Path(m.model).name)} batch {m.batch}: {escape(n)}")


def render_codecarbon(runs) -> None:
    """CodeCarbon runs in joules: one line each."""
    def j(v):
        return "n/a (empty in the file)" if v is None else f"{v:.4g} J"

    from .safe import terminal

    for r in runs:  # every text field is the file's: control characters shown escaped (safe.terminal)
        power = f", avg {r.energy_j / r.duration_s:.4g} W" if r.energy_j is not None and r.duration_s else ""
        kg = "" if r.emissions_kg is None else f", {r.emissions_kg:.4g} kg CO2e"
        print(terminal(f"{r.timestamp:<19} {r.project_name or '-'}/{r.experiment_id or r.run_id or '-'}: {r.duration_s:.4g} s, "
                       f"{j(r.energy_j)} (cpu {j(r.cpu_energy_j)}, gpu {j(r.gpu_energy_j)}, ram {j(r.ram_energy_j)})"
                       f"{power}{kg}; CodeCarbon {r.tracking_mode or '?'} mode on {r.cpu_model or '?'}"
                       + (f" + {r.gpu_model}" if r.gpu_model else "")))
