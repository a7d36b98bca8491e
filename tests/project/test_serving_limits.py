"""The serving options at their limits (issue #35): a step budget too small for the prompts is refused in one line
(it divided by zero), the simulation's work is bounded at the options' limits (65,536 requests, 2^20 tokens a step:
26 s and 670 MB before), and the vectorised scheduler serves exactly what the step-by-step one served."""

import math
from pathlib import Path

import numpy as np
import pytest

from analyzer.count.decoder_graph import AGGREGATES, QUERY_TILE
from analyzer.errors import UsageError
from analyzer.load.hf_config import read_config
from analyzer.profiles import load_profiles, projection_defaults
from analyzer.project.params import resolve_params
from analyzer.target.records import Serving
from analyzer.project.serving import MAX_ARRIVALS, MIN_BUSY_STEPS, _steady_steps, serve, workload
from cli_helpers import cli

DECODERS = Path(__file__).resolve().parents[2] / "models" / "decoders"


def reference_steps(spec, w, b, budget, ctx, ctx_win, seed):
    """The scheduler request by request (the loop the simulation ran before it was vectorised), on the same draws."""
    rng = np.random.default_rng(seed + 1)
    lam = b / float(w.output.mean())
    steps = int(min(4096, max(256, math.ceil(256 / lam))))
    counts = rng.poisson(lam, steps)
    prompts = np.maximum(w.prompt[rng.integers(0, len(w.prompt), int(counts.sum()))].astype(np.int64), 1)
    window = spec.sliding_window
    rows, completion = np.zeros((steps, len(AGGREGATES))), np.full(len(prompts), -1)
    head = offset = admitted = pending = 0
    for k in range(steps):
        admitted += int(counts[k])
        pending += int(counts[k])
        decoding = max(b - pending, 0)
        room = max(budget - decoding, 0)
        served = pairs = pairs_win = kv_read = kv_read_win = 0.0
        done = 0
        while room > 0 and head < admitted:
            c = min(int(prompts[head]) - offset, room)
            s = offset
            pairs += c * s + c * (c + 1) / 2
            tiles = -(-c // QUERY_TILE)
            kv_read += tiles * (s + c)
            if window:
                pairs_win += sum(min(s + i, window) for i in range(1, c + 1)) if c <= 64 else c * min(s + c / 2, window)
                kv_read_win += tiles * min(s + c, window)
            served, room, offset = served + c, room - c, offset + c
            if offset >= prompts[head]:
                completion[head] = k
                head, offset, done = head + 1, 0, done + 1
        pending -= done
        rows[k, :7] = (1.0, decoding + served, decoding + done, decoding * ctx + pairs, decoding * ctx_win + pairs_win,
                       decoding * ctx + kv_read, decoding * ctx_win + kv_read_win)
    return rows, completion


@pytest.mark.parametrize("kind, prompt, output, b, budget, window", [
    ("pareto-exp", 500, 300, 64, 8192, 0), ("pareto-exp", 2000, 50, 256, 512, 0), ("fixed", 100, 1, 8, 64, 0),
    ("pareto-exp", 500, 300, 128, 2048, 4096), ("pareto-exp", 30, 3, 300, 333, 40), ("fixed", 1000, 2, 16, 100, 90)])
def test_the_vectorised_scheduler_serves_what_the_loop_served(kind, prompt, output, b, budget, window):
    from dataclasses import replace

    spec = replace(read_config(DECODERS / "gpt2.json"), sliding_window=window)
    w = workload(kind, prompt, output)
    rows, _, _, _, completion = _steady_steps(spec, w, b, budget, 700.0, 350.0, seed=3)
    ref_rows, ref_completion = reference_steps(spec, w, b, budget, 700.0, 350.0, seed=3)
    assert rows.shape == ref_rows.shape
    np.testing.assert_allclose(rows[:, :7], ref_rows[:, :7], rtol=1e-12)
    assert (completion == ref_completion).all()


def test_the_options_limits_are_bounded_in_work():
    """65,536 one-token requests a step with a 2^20-token budget: the window admits about MAX_ARRIVALS requests (it
    admitted 16.7 million, 26 s and 670 MB) and is steady from its first steps."""
    spec = read_config(DECODERS / "gpt2.json")
    w = workload("fixed", 1, 1)
    rows, produced, _, arrival, _ = _steady_steps(spec, w, 1 << 16, 1 << 20, 1.0, 0.0, seed=0)
    assert rows.shape[0] == MIN_BUSY_STEPS and len(arrival) <= 1.1 * MIN_BUSY_STEPS * (1 << 16)
    assert MIN_BUSY_STEPS * (1 << 16) >= MAX_ARRIVALS  # the floor, not the cap, sets the window here
    # every request arrives, is prefilled (1 token) and emits its one token in the step it arrives
    assert np.allclose(produced[1:], 1 << 16, rtol=0.05)


def test_a_long_prompt_in_a_tiny_step_budget_is_refused_in_one_line():
    ps = load_profiles()
    hw = ps.get("hardware", "h100")
    params = resolve_params(hw, "bf16", "graph", projection_defaults())
    spec = read_config(DECODERS / "llama-3.1-8b.json")
    with pytest.raises(UsageError, match=r"max_batched_tokens 8: a mean prompt of 32,000 tokens takes 4,000 steps to "
                                         r"prefill .* give at least 32 tokens a step"):
        serve(spec, hw, params, "bf16", "graph", Serving(max_num_seqs=8, max_num_batched_tokens=8), workload("fixed", 32000, 1))
    # at the smallest budget it names, the window covers the prefills and prices a token
    r = serve(spec, hw, params, "bf16", "graph", Serving(max_num_seqs=8, max_num_batched_tokens=32), workload("fixed", 32000, 1))
    assert r.energy_j_per_output_token > 0 and math.isfinite(r.energy_j_per_output_token)


def test_the_cli_refuses_the_tiny_budget_and_echoes_no_huge_value():
    r = cli("project", DECODERS / "llama-3.1-8b.json", "--phase", "serving", "--prompt-tokens", "32000", "--output-tokens", "1",
            "--max-concurrency", "8", "--max-batched-tokens", "8")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "--max-batched-tokens 8" in r.stderr, r.output
    r = cli("project", DECODERS / "gpt2.json", "--phase", "serving", "--kv-dtype", "x" * 2_000_000)
    assert r.exit_code == 2 and len(r.stderr) < 300 and "2,000,000 characters" in r.stderr, r.stderr[:300]


def test_a_decoder_whose_cache_holds_nothing_is_refused_not_divided_by():
    """Found by fuzzing (issue #35): a config the reader let through with a zero head_dim made the KV cache's
    capacity a ZeroDivisionError inside serve; now one line naming the decoder."""
    from dataclasses import replace

    from analyzer.errors import AnalyzerError

    ps = load_profiles()
    hw = ps.get("hardware", "h100")
    params = resolve_params(hw, "bf16", "graph", projection_defaults())
    spec = replace(read_config(DECODERS / "gpt2.json"), head_dim=0)
    with pytest.raises(AnalyzerError, match="gpt2: its key/value cache holds 0 bytes a token"):
        serve(spec, hw, params, "bf16", "graph", Serving(max_num_seqs=8), workload("fixed", 100, 10))
