"""Terminal tables for `project --phase serving`: a decoder served at a maximum concurrency, per output token, per
1,000 tokens and per request, with time to first token, time per output token and throughput (from Evaluation dicts
whose detail is the serving record)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text


def _band(x: float, b: dict[str, float], scale: float = 1.0) -> str:
    from .text import num

    return f"{num(x * scale)} ({num(b['low'] * scale)}..{num(b['high'] * scale)})"


def render_serving(evaluations: list[dict[str, Any]], console: Console, wide: bool = False) -> None:
    """One row per served decoder; 100 columns: energy per output token with its band, per request, latency and
    throughput; --wide adds every band, the power and the parameters."""
    from .text import num, table

    t = table("Served (continuous batching, chunked prefill, paged KV cache): per output token and per request")
    cols = ["model", "hardware", "dtype/KV", "running", "mJ/token\n(90%)", "J per\nrequest", "gCO2e per\nrequest", "TTFT\nms",
            "ms per\ntoken", "tokens\nper s"] + (["W", "params\n(active)"] if wide else [])
    for col in cols:  # names fold within their column; numbers never break
        text = col in ("model", "hardware")
        t.add_column(Text(col), justify="left" if col in ("model", "hardware", "dtype/KV") else "right",
                     overflow="fold" if text else "ellipsis", no_wrap=not text)
    starred = False
    for e in evaluations:
        s = e["detail"]
        starred = starred or s["concurrency_bound"] != "max_num_seqs"
        running = f"{s['concurrency']:,}/{s['max_num_seqs']:,}" + ("*" if s["concurrency_bound"] != "max_num_seqs" else "")
        params = f"{s['params'] / 1e9:.3g} B" + (f" ({s['active_params'] / 1e9:.3g} B)" if s["active_params"] != s["params"] else "")
        per_req = _band(s["energy_j_per_request"], s["energy_j_per_request_band"]) if wide else f"{s['energy_j_per_request']:.3g}"
        ttft = _band(s["time_to_first_token_s"], s["time_to_first_token_band_s"], 1e3) if wide else num(s["time_to_first_token_s"] * 1e3)
        tpot = _band(s["time_per_output_token_s"], s["time_per_output_token_band_s"], 1e3) if wide else num(s["time_per_output_token_s"] * 1e3)
        row = [escape(Path(e["model"]).stem), escape(e["hardware"]), f"{e['dtype']}/{s['kv_dtype']}", running,
               _band(e["energy_j_per_item"], e["energy_range_j"], 1e3), per_req, f"{s['per_request']['co2e_g']:.3g}", ttft, tpot,
               f"{s['output_tokens_per_s']:,.0f}"]
        if wide:
            row += [f"{s['mean_power_w']:.0f}", params]
        t.add_row(*row)
    console.print(t)
    w = evaluations[0]["detail"]["workload"]
    console.print(f"[dim]requests: {escape(w['label'])}; a request: {w['prompt_tokens_mean']:,.0f} prompt and "
                  f"{w['output_tokens_mean']:,.0f} output tokens on average; "
                  f"{'* fewer running than the maximum (see the notes); ' if starred else ''}"
                  "bands: the profile's error model, 90%; device energy, facility energy and CO2e with the site's PUE and grid[/]")
