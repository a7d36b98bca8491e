"""Terminal tables for `project --phase serving`: a decoder served at a maximum concurrency, per output token, per
1,000 tokens and per request, with time to first token, time per output token and throughput (from Evaluation dicts
whose detail is the serving record)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape


def _band(x: float, b: dict[str, float], scale: float = 1.0) -> str:
    return f"{x * scale:.3g} ({b['low'] * scale:.2g}-{b['high'] * scale:.2g})"


def render_serving(evaluations: list[dict[str, Any]], console: Console, wide: bool = False) -> None:
    """One row per served decoder; 100 columns: energy per output token with its band, per request, latency and
    throughput; --wide adds every band, the power and the parameters."""
    from .text import table

    t = table("Served (continuous batching, chunked prefill, paged KV cache): per output token and per request")
    cols = ["model", "hardware", "dtype/KV", "running", "mJ/token (90%)", "J/request", "gCO2e/req", "TTFT ms", "ms/token",
            "tokens/s"] + (["W", "params (active)"] if wide else [])
    for col in cols:
        t.add_column(col, justify="left" if col in ("model", "hardware", "dtype/KV") else "right", overflow="fold")
    for e in evaluations:
        s = e["detail"]
        running = f"{s['concurrency']:,}/{s['max_num_seqs']:,}" + ("*" if s["concurrency_bound"] != "max_num_seqs" else "")
        params = f"{s['params'] / 1e9:.3g} B" + (f" ({s['active_params'] / 1e9:.3g} B)" if s["active_params"] != s["params"] else "")
        per_req = _band(s["energy_j_per_request"], s["energy_j_per_request_band"]) if wide else f"{s['energy_j_per_request']:.3g}"
        ttft = _band(s["time_to_first_token_s"], s["time_to_first_token_band_s"], 1e3) if wide else f"{s['time_to_first_token_s'] * 1e3:.3g}"
        tpot = _band(s["time_per_output_token_s"], s["time_per_output_token_band_s"], 1e3) if wide else f"{s['time_per_output_token_s'] * 1e3:.3g}"
        row = [escape(Path(e["model"]).name), escape(e["hardware"]), f"{e['dtype']}/{s['kv_dtype']}", running,
               _band(e["energy_j_per_item"], e["energy_range_j"], 1e3), per_req, f"{s['per_request']['co2e_g']:.3g}", ttft, tpot,
               f"{s['output_tokens_per_s']:,.0f}"]
        if wide:
            row += [f"{s['mean_power_w']:.0f}", params]
        t.add_row(*row)
    console.print(t)
    w = evaluations[0]["detail"]["workload"]
    console.print(f"[dim]requests: {escape(w['label'])}; a request: {w['prompt_tokens_mean']:,.0f} prompt and "
                  f"{w['output_tokens_mean']:,.0f} output tokens on average; * fewer running than the maximum (see the notes); "
                  "bands: the profile's error model, 90%; device energy, facility energy and CO2e with the site's PUE and grid[/]")
