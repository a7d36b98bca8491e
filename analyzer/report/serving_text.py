"""Terminal tables for `project --phase serving`: a decoder served at a maximum concurrency, per output token, per
1,000 tokens and per request, with time to first token, time per output token and throughput (from Evaluation dicts
whose detail is the serving record)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape


def _band(x: float, b: dict[str, float], scale: float = 1.0) -> str:
    from .text import num

    return f"{num(x * scale)} ({num(b['low'] * scale)}-{num(b['high'] * scale)})"


def render_serving(evaluations: list[dict[str, Any]], console: Console, wide: bool = False) -> None:
    """One row per served decoder; 100 columns: energy per output token with its band, per request, latency and
    throughput; --wide adds every band, the power and the parameters."""
    from .text import cell, fold_name, header, num, table, unit_for

    hws = {e["hardware"] for e in evaluations}
    one_hw = len(hws) == 1 and not wide  # one hardware: named in the title, not in a column
    at_max = {e["detail"]["max_num_seqs"] for e in evaluations}
    t = table("Served (continuous batching, chunked prefill, paged KV cache)" + (f" on {next(iter(hws))}" if one_hw else "")
              + (f", {next(iter(at_max))} requests running" if len(at_max) == 1 and all(
                  e["detail"]["concurrency_bound"] == "max_num_seqs" for e in evaluations) and not wide else "")
              + ": per output token and per request", tight=True)
    # the running requests only where one is below its maximum (or --wide): else every row runs at the maximum
    full = all(e["detail"]["concurrency_bound"] == "max_num_seqs" for e in evaluations) and not wide
    cm, cu = unit_for((e["detail"]["per_request"]["co2e_g"] for e in evaluations), ((1e3, "mgCO2e"), (1.0, "gCO2e"), (1e-3, "kgCO2e")))
    cols = [("model", 11)] + ([] if one_hw else [("hardware", 10)]) + [("dtype/KV", 9)] + ([] if full else [("running", 7)]) + [
        ("mJ/token (90%)", 8), ("J per request", 7), (f"{cu} per request", 7),
        ("TTFT ms", 5), ("ms per token", 6), ("tokens per s", 6)] + ([("W", 4), ("params (active)", 8)] if wide else [])
    for col, width in cols:  # names fold at their separators; numbers never break
        t.add_column(header(col, 1000 if wide else width), justify="left" if col in ("model", "hardware", "dtype/KV") else "right",
                     no_wrap=True)
    starred = False
    for e in evaluations:
        s = e["detail"]
        starred = starred or s["concurrency_bound"] != "max_num_seqs"
        running = f"{s['concurrency']:,}/{s['max_num_seqs']:,}" + ("*" if s["concurrency_bound"] != "max_num_seqs" else "")
        params = f"{s['params'] / 1e9:.3g} B" + (f" ({s['active_params'] / 1e9:.3g} B)" if s["active_params"] != s["params"] else "")
        per_req = _band(s["energy_j_per_request"], s["energy_j_per_request_band"]) if wide else f"{s['energy_j_per_request']:.3g}"
        ttft = _band(s["time_to_first_token_s"], s["time_to_first_token_band_s"], 1e3) if wide else num(s["time_to_first_token_s"] * 1e3)
        tpot = _band(s["time_per_output_token_s"], s["time_per_output_token_band_s"], 1e3) if wide else num(s["time_per_output_token_s"] * 1e3)
        row = [cell(fold_name(Path(e["model"]).stem, 1000 if wide else 11))] + (
            [] if one_hw else [cell(fold_name(e["hardware"], 1000 if wide else 10))]) + [f"{e['dtype']}/{s['kv_dtype']}"] + (
            [] if full else [running]) + [
               _band(e["energy_j_per_item"], e["energy_range_j"], 1e3), per_req, num(s['per_request']['co2e_g'] * cm), ttft, tpot,
               f"{s['output_tokens_per_s']:,.0f}"]
        if wide:
            row += [f"{s['mean_power_w']:.0f}", params]
        t.add_row(*row)
    console.print(t)
    # each model's request mix (its own lengths: a model's context may cut them), once per distinct mix
    mixes: dict[str, list[str]] = {}
    for e in evaluations:
        w = e["detail"]["workload"]
        mix = (f"{w['label']}; a request: {w['prompt_tokens_mean']:,.0f} prompt and {w['output_tokens_mean']:,.0f} output "
               "tokens on average")
        mixes.setdefault(mix, []).append(Path(e["model"]).stem)
    for mix, names in mixes.items():
        who = "" if len(mixes) == 1 else f" ({', '.join(names)})"
        console.print(escape(f"requests{who}: {mix}"), style="dim")
    console.print(f"[dim]{'* fewer running than the maximum (see the notes); ' if starred else ''}"
                  "bands: the profile's error model, 90%; device energy, facility energy and CO2e with the site's PUE and grid[/]")
