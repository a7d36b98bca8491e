"""Terminal table for `project --phase train`: one training step per sample on the target (from Evaluation dicts
whose detail is the training step)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text


def render_training(evaluations: list[dict[str, Any]], console: Console) -> None:
    """One row per model, in the compact style and units of the other tables: chip energy per sample with its band,
    CO2e per 1k samples at the site's boundary, the step's kernels (forward + backward + optimizer)."""
    from .text import CO2E_PER_ITEM, num, table, unit_for

    d0 = evaluations[0]["detail"]
    t = table(f"Training step on {d0['hardware']} ({d0['precision']}, {d0['optimizer']}, batch {d0['batch']}, "
              f"{'compiled' if d0['runtime'] == 'graph' else 'eager'})")
    cm, cu = unit_for((e["co2e_g_per_item"] for e in evaluations), CO2E_PER_ITEM)
    cu = cu.replace("items", "samples")
    for col in ("model", "step\nms", "samples\nper s", "chip J per\nsample", "90% band", cu.replace(" per", "\nper", 1),
                "x\ninference", "kernels\nf+b+o"):
        t.add_column(Text(col), justify="left" if col == "model" else "right", no_wrap=col != "model",
                     overflow="fold" if col == "model" else "ellipsis")
    for e in evaluations:
        d = e["detail"]
        t.add_row(escape(Path(e["model"]).stem), f"{d['step_s'] * 1e3:.2f}", f"{d['samples_per_s']:,.0f}",
                  f"{e['energy_j_per_item']:.4g}", f"{e['energy_range_j']['low']:.3g}..{e['energy_range_j']['high']:.3g}",
                  num(e["co2e_g_per_item"] * cm), f"{d['training_to_inference_energy']:.2f}",
                  f"{d['forward_kernels']}+{d['backward_kernels']}+{d['optimizer_kernels']}")
    console.print(t)
