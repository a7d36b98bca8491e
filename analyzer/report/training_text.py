"""Terminal table for `project --phase train`: one training step per sample on the target (from Evaluation dicts
whose detail is the training step)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def render_training(evaluations: list[dict[str, Any]], console: Console) -> None:
    d0 = evaluations[0]["detail"]
    t = Table(title=escape(f"Training step on {d0['hardware']} ({d0['precision']}, {d0['optimizer']}, batch {d0['batch']}, "
                           f"{'compiled' if d0['runtime'] == 'graph' else 'eager'})"), title_justify="left")
    for col in ("model", "step ms", "samples/s", "J/sample", "band", "gCO2e/sample", "x inference", "kernels"):
        t.add_column(col, justify="left" if col == "model" else "right")
    for e in evaluations:
        d = e["detail"]
        t.add_row(escape(Path(e["model"]).name), f"{d['step_s'] * 1e3:.2f}", f"{d['samples_per_s']:,.0f}",
                  f"{e['energy_j_per_item']:.4g}", f"{e['energy_range_j']['low']:.3g}-{e['energy_range_j']['high']:.3g}",
                  f"{e['co2e_g_per_item']:.3g}", f"{d['training_to_inference_energy']:.2f}",
                  f"{d['forward_kernels']}+{d['backward_kernels']}+{d['optimizer_kernels']}")
    console.print(t)
