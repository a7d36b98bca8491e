"""Terminal tables for `project --phase decode --output-tokens`: a response's energy, per token and in total
(from Evaluation dicts whose detail is the response's generation cost)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _j(x: float) -> str:
    return f"{x:.4g}"


def render_generation(evaluations: list[dict[str, Any]], console: Console) -> None:
    t = Table(title="Generation: one response per sequence (prefill, then one decode step per further token)", title_justify="left")
    for col in ("model", "hardware", "dtype", "runtime", "batch", "prompt", "output", "prefill J", "decode J/token (first-last)",
                "J/response (90% band)", "gCO2e/response", "TTFT ms", "ms/token"):
        t.add_column(col, justify="left" if col in ("model", "hardware", "dtype", "runtime") else "right")
    for e in evaluations:
        g = e["detail"]
        first, last = g["samples"][0]["energy_j_per_token"], g["samples"][-1]["energy_j_per_token"]
        band = e["energy_range_j"]
        t.add_row(escape(Path(e["model"]).name), escape(e["hardware"]), e["dtype"], e["runtime"], str(e["batch"]), str(g["prompt_tokens"]),
                  str(g["output_tokens"]), _j(g["prefill"]["energy_j_per_item"]), f"{_j(first)}-{_j(last)}",
                  f"{_j(e['energy_j_per_item'])} ({_j(band['low'])}-{_j(band['high'])})", f"{e['co2e_g_per_item']:.3g}",
                  f"{g['time_to_first_token_s'] * 1e3:.3g}", f"{g['time_per_output_token_s'] * 1e3:.3g}")
    console.print(t)
    for e in evaluations:
        g, name = e["detail"], escape(Path(e["model"]).name)
        console.print(f"note {name}: {g['macs_per_response']:,.0f} MACs per response; "
                      f"{g['energy_j_per_output_token']:.4g} J per generated token on average", highlight=False)
        console.print(f"note {name}: decode bound: {escape(g['decode_bound'])}", highlight=False)
