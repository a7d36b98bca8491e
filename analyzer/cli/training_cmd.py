"""`project --phase train`: one training step per sample on the target (issue #18). Parsing and rendering."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import UsageError
from .base import OutFormat, console, per_model, print_json


def project_training_cmd(ps, models: list[Path], hardware: str, dtype: str | None, runtime: str | None, batch: int,
                         pue, datacenter, grid, region, net: bool, dims: dict[str, int], optimizer: str,
                         fmt: OutFormat) -> None:
    from ..load.manifest import expand_model_args
    from ..target.resolve import resolve_placement
    from ..project.training import OPTIMIZERS, training_record

    if optimizer not in OPTIMIZERS:
        raise UsageError(f"--optimizer '{optimizer}': expected one of {', '.join(OPTIMIZERS)}")
    if runtime not in (None, "eager"):
        raise UsageError(f"--runtime {runtime}: a training step is projected as eager PyTorch runs it (--runtime eager)")
    placement = resolve_placement(ps, hardware, dtype=dtype, runtime="eager", batch=batch, pue=pue, datacenter=datacenter,
                                  grid=grid, region=region, net=net)
    if placement.dtype not in ("fp32", "bf16", "fp16"):
        raise UsageError(f"--dtype {placement.dtype}: training is projected in fp32 or with bf16/fp16 autocast")
    results, code = per_model(expand_model_args(models), lambda path: training_record(path, placement, optimizer, dims))
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


def calibrate_training_cmd(hw, phase: str, measurements: Path | None, csv_path: Path | None, models_dir: Path | None,
                           out: Path, fmt: OutFormat) -> None:
    """calibrate --phase train: fit the training parameters to measured steps; write the hardware profile with
    a [training] table (same name: a --profiles folder holding it overrides the shipped one)."""
    import re

    from ..profiles import projection_defaults
    from ..project.projection import resolve_params
    from ..project.observations import read_training_rows, training_samples
    from ..project.training import fit_training

    if phase != "train":
        raise UsageError(f"--phase {phase}: calibrate fits forwards (no --phase) or training steps (--phase train)")
    rows = read_training_rows(measurements, csv_path)
    samples = training_samples(rows, models_dir)
    runtime = "graph" if hw.category == "tpu" else "eager"
    fit = fit_training(samples, lambda prec: resolve_params(hw, prec, runtime, projection_defaults()), hw.category == "gpu")
    v = fit["values"]
    where = str(measurements or csv_path)
    said = (f"calibrated on {fit['n']} training steps ({where}): step time median |error| "
            f"{fit['median_abs_error_before']:.1%} -> {fit['median_abs_error']:.1%}")
    text = re.sub(r"(?ms)^\[training\].*?(?=^\[|\Z)", "", Path(hw.file).read_text()).rstrip() + "\n\n[training]\n" + "".join(
        f'{k} = {{ value = {v[k]:.6g}, source = "{said}", year = 2026, kind = "calibrated" }}\n' for k in v)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror})") from None
    summary = {"profile": str(out), **fit}
    if fmt is OutFormat.json:
        print_json(summary)
        return
    em = fit["energy_median_abs_error"]
    print(f"autograd host {v['autograd_host_s'] * 1e6:.3g} us per backward operator, backward matrix kernels "
          f"x{v['backward_slowdown']:.3g}; {said}" + (f"; energy median |error| {em:.1%}" if em is not None else "")
          + f"; wrote {out}")
