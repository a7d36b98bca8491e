"""`project --phase train`: one training step per sample on the target (issue #18). Parsing and rendering."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import AnalyzerError, UsageError
from .base import OutFormat, console, err, print_json


def project_training_cmd(ps, models: list[Path], hardware: str, dtype: str | None, runtime: str | None, batch: int,
                         pue, datacenter, grid, region, net: bool, dims: dict[str, int], optimizer: str,
                         fmt: OutFormat) -> None:
    from ..manifest import expand_model_args
    from ..place import resolve_placement
    from ..training import OPTIMIZERS, training_record

    if optimizer not in OPTIMIZERS:
        raise UsageError(f"--optimizer '{optimizer}': expected one of {', '.join(OPTIMIZERS)}")
    if runtime not in (None, "eager"):
        raise UsageError(f"--runtime {runtime}: a training step is projected as eager PyTorch runs it (--runtime eager)")
    placement = resolve_placement(ps, hardware, dtype=dtype, runtime="eager", batch=batch, pue=pue, datacenter=datacenter,
                                  grid=grid, region=region, net=net)
    if placement.dtype not in ("fp32", "bf16", "fp16"):
        raise UsageError(f"--dtype {placement.dtype}: training is projected in fp32 or with bf16/fp16 autocast")
    results, code = [], 0
    for path in expand_model_args(models):
        try:
            results.append(training_record(path, placement, optimizer, dims))
        except AnalyzerError as e:
            msg = str(e)
            err.print(f"error: {msg if msg.startswith(str(path)) else f'{path}: {msg}'}")
            code = max(code, e.exit_code)
    if results:
        if fmt is OutFormat.json:
            print_json(results)
        else:
            _render(results)
    raise typer.Exit(code)


def _render(results: list[dict]) -> None:
    c = console()
    r0 = results[0]
    t = Table(title=escape(f"Training step on {r0['hardware']} ({r0['precision']}, {r0['optimizer']}, batch {r0['batch']}, "
                           f"eager)"), title_justify="left")
    for col in ("model", "step ms", "samples/s", "J/sample", "band", "gCO2e/sample", "x inference", "kernels"):
        t.add_column(col, justify="left" if col == "model" else "right")
    for r in results:
        t.add_row(escape(Path(r["model"]).name), f"{r['step_s'] * 1e3:.2f}", f"{r['samples_per_s']:,.0f}",
                  f"{r['energy_j_per_sample']:.4g}", f"{r['range']['low']:.3g}-{r['range']['high']:.3g}",
                  f"{r['co2e_g_per_sample']:.3g}", f"{r['training_to_inference_energy']:.2f}",
                  f"{r['forward_kernels']}+{r['backward_kernels']}+{r['optimizer_kernels']}")
    c.print(t)
    for n in dict.fromkeys(n for r in results for n in r["notes"]):
        c.print(f"[yellow]note[/] {escape(n)}")
