"""A decoder served as vLLM-like engines serve it, projected per output token and per request.

The engine (vLLM V1's scheduler) keeps up to `max_num_seqs` requests running. Every step runs one forward over
all of them: each decoding request contributes its one new token, and prompts are prefilled in chunks that fill the
step's token budget (`max_num_batched_tokens`) left after the decode tokens (chunked prefill, decode first). When a
request finishes, the next one is admitted at once (continuous batching), so the running set stays full and a
finished prompt's first token comes out of the step that completes its prefill. Keys and values live in a paged
cache of `block_size`-token blocks allocated as sequences grow; the blocks that fit in the memory left by the
weights and the engine's working memory bound how many requests can run: the concurrency is the smaller of
`max_num_seqs` and that capacity over a running request's mean cache (a note says which bound).

The steady state (`serve`):
- A running request is seen at a uniform point of its decode, so the mean context a decode token attends to is
  length-biased: sum over requests of the (o - 1) contexts p + 1 ... p + o - 1, over sum (o - 1).
- Requests finish, and new ones arrive, at lambda = B / mean(o) per step (B running). Steps are simulated in order:
  arrivals are Poisson(lambda) (seeded), their prompts drawn from the workload; each step decodes every running
  request whose prefill is done and serves the prompt queue in order with the budget left, in chunks; a chunk of c
  tokens at offset s attends c s + c (c + 1) / 2 query-key pairs (causal) and reads the cache once per 128 queries.
- Each step's forward is timed and its energy drawn by the kernel roofline (serving_kernels.py) on the target.
  Per output token: the window's device energy over the tokens it produced; time per output token: the mean step;
  time to first token: from a request's admission to the end of the step that completes its prefill.
Nothing here is fitted: the kernels' rates, floors and energies are the hardware profile's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..count.decoder_graph import (AGGREGATES, QUERY_TILE, Dtypes, experts_touched, graph, kv_bytes_per_token, params as count_params,
                                   tensor_shard)
from ..dist import Z90, band
from ..errors import AnalyzerError, UsageError, param
from ..profiles import defaults
from ..records import DecoderSpec
from ..target.records import Serving
from ..units import BYTES_PER_GIB, DTYPE_BYTES
from .params import Params
from .serving_kernels import step_times

WORKLOAD_SAMPLES = 4096  # requests drawn from a parametric length distribution (seeded)
MIN_ARRIVALS = 256  # requests the simulated window admits (at least), so the prompt mix is represented
MIN_STEPS, MAX_STEPS = 256, 4096
# the most requests a window admits (besides MIN_BUSY_STEPS): the simulation's time and memory grow with them, and a
# window of 65,536 one-token requests a step (the options' limits) is steady from its first steps
MAX_ARRIVALS, MIN_BUSY_STEPS = 1 << 20, 32


@dataclass(frozen=True)
class Workload:
    """Request lengths: prompt tokens and output tokens (>= 1) per request."""

    prompt: np.ndarray
    output: np.ndarray
    label: str


def workload(kind: str, prompt_mean: float, output_mean: float, pairs: tuple[tuple[int, int], ...] = (),
             max_len: int | None = None, seed: int = 0) -> Workload:
    """'fixed' lengths; 'pareto-exp': prompts Pareto (shape a, profiles/defaults.toml [llm_serving] pareto_shape: 2.5)
    and outputs exponential about the means, as the ML.ENERGY benchmark's LengthControl workload draws them
    (mlenergy/benchmark/llm/datasets.py, ParetoExpDistributionDataset), capped at `max_len` (default: [llm_serving]
    max_len_tokens, 32,768); 'pairs': the given (prompt, output) pairs."""
    if kind == "pairs":
        a = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        return Workload(a[:, 0], np.maximum(a[:, 1], 1), f"{len(a):,} (prompt, output) pairs")
    if kind == "fixed":
        return Workload(np.array([int(prompt_mean)]), np.array([max(int(output_mean), 1)]),
                        f"fixed: {int(prompt_mean)} prompt, {int(output_mean)} output tokens")
    d = defaults()["llm_serving"]
    max_len = int(d["max_len_tokens"].value) if max_len is None else max_len
    rng = np.random.default_rng(seed)
    a = float(d["pareto_shape"].value)
    prompt = np.minimum(np.floor(prompt_mean * (a - 1) / a * (1.0 + rng.pareto(a, WORKLOAD_SAMPLES))), max_len)
    output = np.clip(np.rint(rng.exponential(output_mean, WORKLOAD_SAMPLES)), 1, max_len)
    return Workload(prompt.astype(np.int64), output.astype(np.int64),
                    f"Pareto({a:g}) prompts of mean {prompt_mean:g}, exponential outputs of mean {output_mean:g} tokens "
                    f"({WORKLOAD_SAMPLES:,} seeded draws)")


def decode_context(w: Workload, window: int = 0) -> float:
    """Mean keys a decode token attends to (the cache including itself), over the decode tokens of the workload:
    request (p, o) decodes o - 1 tokens with contexts p + 1 ... p + o - 1; with a window, capped at it."""
    p, o = w.prompt.astype(float), w.output.astype(float)
    n = o - 1
    if n.sum() <= 0:
        return float(p.mean() + 1)
    if not window:
        return float((n * p + n * (n + 1) / 2).sum() / n.sum())
    # contexts p + j for j = 1..n: those below the window sum exactly, the rest count the window each
    below = np.clip(window - p, 0, n)
    s = below * p + below * (below + 1) / 2 + (n - below) * window
    return float(s.sum() / n.sum())


@dataclass
class ServingResult:
    """A decoder served on the target at a maximum concurrency: per output token and per request."""

    model: str
    hardware: str
    dtype: str
    kv_dtype: str
    runtime: str
    max_num_seqs: int
    concurrency: int  # requests running at once: max_num_seqs, or what the KV cache holds
    concurrency_bound: str  # max_num_seqs | kv_cache | token_budget
    energy_j_per_output_token: float
    energy_j_per_output_token_band: dict[str, float]
    energy_j_per_request: float
    energy_j_per_request_band: dict[str, float]
    energy_log_sigma: float
    energy_log_sigma_model: float
    energy_log_sigma_shared: float
    time_to_first_token_s: float  # mean, admission to first token
    time_to_first_token_p90_s: float
    time_per_output_token_s: float  # mean step time: each running request gains one token per step
    inter_token_latency_p50_s: float
    request_latency_s: float
    output_tokens_per_s: float
    requests_per_s: float
    # 90% bands of the times and the rate (the energy's error model: a step's time and energy err alike)
    time_to_first_token_band_s: dict[str, float]
    time_per_output_token_band_s: dict[str, float]
    output_tokens_per_s_band: dict[str, float]
    mean_power_w: float
    prefill_token_share: float  # of the tokens the steps process, the share that are prompt tokens
    kv_cache_capacity_tokens: float
    kv_cache_bytes_per_token: float  # the whole model's (every GPU's share)
    weight_bytes: float  # the whole model's
    tensor_parallel: int  # GPUs one replica spans; energy and power are of all of them
    params: int
    active_params: int
    macs_per_output_token: float
    flops_per_output_token: float
    bytes_per_output_token: float
    kernels_per_step: int
    steps: int
    bound: dict[str, float]  # share of busy time in compute-, memory- and floor-bound kernels
    workload: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def serve(spec: DecoderSpec, hw: Any, params: Params, dtype: str, runtime: str, engine: Serving, w: Workload,
          seed: int = 0) -> ServingResult:
    """Project serving `spec` on `hw` (see the module docstring)."""
    notes: list[str] = list(spec.notes)  # what reading the config assumed (hf_config)
    kv_dtype = dtype if engine.kv_dtype == "auto" else engine.kv_dtype
    act = 4.0 if dtype in ("fp32", "tf32") else 2.0
    dt = Dtypes(weight=DTYPE_BYTES[dtype], act=act, kv=DTYPE_BYTES["bf16" if kv_dtype in ("fp32", "tf32") else kv_dtype])
    if spec.weight_dtype != dtype:
        notes.append(f"the checkpoint is {spec.weight_dtype}; its weights are served in {dtype} (a converted copy)")
    total, active = count_params(spec)
    tp = engine.tensor_parallel
    shard = tensor_shard(spec, tp)  # what one GPU holds and runs
    weight_bytes = count_params(shard)[0] * dt.weight
    kv_tok = kv_bytes_per_token(shard, dt.kv)
    ops = graph(shard, dt)
    capacity, reserve = _kv_capacity(shard, hw, engine, weight_bytes, dt)
    if tp > 1:
        notes.append(f"{tp}-way tensor parallel: each GPU holds {weight_bytes / 1e9:.1f} GB of weights and {shard.num_heads} query and "
                     f"{shard.num_kv_heads} key/value heads, and all-reduces {2 * spec.num_layers + 1} activations a step over "
                     f"{hw.interconnect_gbps.value if hw.interconnect_gbps else 0:g} GB/s ({_comm_source(hw)}); energy, power "
                     "and memory are of all its GPUs")
    ctx = decode_context(w)
    ctx_win = decode_context(w, spec.sliding_window) if spec.window_layers else 0.0
    # a running request holds its cache, rounded up to whole blocks (half a block wasted on average)
    held = (ctx * (spec.num_layers - spec.window_layers) + min(ctx, spec.sliding_window or ctx) * spec.window_layers) / spec.num_layers
    fit = int(capacity / (held + engine.block_size / 2))
    b, bound = engine.max_num_seqs, "max_num_seqs"
    if fit < b:
        b, bound = fit, "kv_cache"
        notes.append(f"the KV cache holds {capacity:,.0f} tokens ({capacity * kv_tok / 1e9:.1f} GB in {kv_dtype} after "
                     f"{weight_bytes / 1e9:.1f} GB of weights and {reserve / 1e9:.1f} GB of working memory at "
                     f"gpu_memory_utilization {engine.gpu_memory_utilization:g}): {fit:,} requests of {held + engine.block_size / 2:,.0f} "
                     f"cached tokens on average fit, fewer than max_num_seqs {engine.max_num_seqs:,}; the engine runs {fit:,} "
                     "(it preempts a request when the blocks run out)")
    if b > engine.max_num_batched_tokens:
        b, bound = engine.max_num_batched_tokens, "token_budget"
        notes.append(f"each running request needs a token of the step budget: at most {b:,} run")
    if b < 1:
        raise AnalyzerError(f"{spec.name}: does not fit on {hw.name}{f' x {tp}' if tp > 1 else ''}: {weight_bytes / 1e9:.1f} GB of "
                            f"weights a GPU in {dtype} and {reserve / 1e9:.1f} GB of working memory leave room for {max(capacity, 0):,.0f} "
                            f"cached tokens, less than one request's {held:,.0f} (give {param('dtype')} fp8, "
                            f"{param('tensor_parallel')}, a larger GPU, or shorter requests)")
    _check_prefill_fits(w, engine.max_num_batched_tokens)
    rows, produced, done_steps, arrivals, completions = _steady_steps(spec, w, b, engine.max_num_batched_tokens, ctx, ctx_win, seed)
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    st = step_times(ops, uniq, params, weight_bytes)
    inverse = inverse.ravel()
    comm = _allreduce_s(spec, tp, uniq[:, AGGREGATES.index("tokens")], hw, dt)
    # while the GPUs exchange activations they are busy and draw their active power; clocks drop above the power limit
    e_gpu = st.energy_j + (params.static_power_w + params.active_power_w) * comm
    lat_gpu = np.maximum(st.latency_s + comm, e_gpu / params.power_cap_w)
    latency, energy = lat_gpu[inverse], tp * e_gpu[inverse]
    warm = min(len(latency) // 8, 64)
    win = slice(warm, None)
    t_total, e_total, tokens = float(latency[win].sum()), float(energy[win].sum()), float(produced[win].sum())
    if tokens <= 0:  # _check_prefill_fits keeps this from happening; a guard, not a figure
        raise UsageError(f"{param('max_batched_tokens')} {engine.max_num_batched_tokens:,}: no request finished its prefill "
                         f"in the {len(latency):,} simulated steps; give a larger step budget")
    e_tok = e_total / tokens
    mean_o = float(w.output.mean())
    ttft = _ttft(latency, arrivals, completions, warm)
    sigma_model, sigma_shared = params.energy_log_sigma_model, params.energy_log_sigma_shared
    sigma = math.hypot(sigma_model, sigma_shared)
    busy = {k: float((getattr(st, f"{k}_bound_s")[inverse][win]).sum()) for k in ("compute", "memory", "latency")}
    busy_total = sum(busy.values()) or 1.0
    totals_tok = uniq[inverse][win].sum(axis=0)
    macs = tp * sum(op.repeat * totals_tok @ op.macs for op in ops) / tokens  # every GPU's
    flops = tp * sum(op.repeat * totals_tok @ op.flops for op in ops) / tokens
    nbytes = tp * sum(op.repeat * totals_tok @ op.bytes for op in ops) / tokens
    prefill_tokens = float(rows[win, AGGREGATES.index("tokens")].sum() - (rows[win, AGGREGATES.index("logits")].sum() - done_steps[win].sum()))
    share = prefill_tokens / max(float(rows[win, AGGREGATES.index("tokens")].sum()), 1.0)
    if st.streams_weights:
        notes.append(f"weights ({weight_bytes / 1e9:.1f} GB in {dtype}) stream from memory every step, at most at "
                     f"{params.stream_bandwidth_bytes_per_s / 1e12:.2f} TB/s")
    notes.append(f"{len(latency):,} steps simulated at {b:,} running requests ({warm} warm-up steps left out); prompts chunked "
                 f"into a budget of {engine.max_num_batched_tokens:,} tokens a step; decode tokens attend {ctx:,.0f} cached "
                 "positions on average")
    if spec.num_experts:
        notes.append(f"MoE: {spec.experts_per_token} of {spec.num_experts} experts per token ({active / 1e9:.2f} B of {total / 1e9:.2f} B "
                     "parameters active); a step reads the weights of every expert its tokens route to (routing taken as uniform)")
    if runtime == "graph":
        notes.append("steps replay CUDA graphs; the scheduler's host work overlaps the GPU (asynchronous scheduling)")
    tpot = t_total / max(len(latency) - warm, 1)
    return ServingResult(
        model=spec.name, hardware=hw.name, dtype=dtype, kv_dtype=kv_dtype, runtime=runtime, max_num_seqs=engine.max_num_seqs,
        concurrency=b, concurrency_bound=bound, energy_j_per_output_token=e_tok, energy_j_per_output_token_band=band(e_tok, sigma),
        energy_j_per_request=e_tok * mean_o, energy_j_per_request_band=band(e_tok * mean_o, sigma), energy_log_sigma=sigma,
        energy_log_sigma_model=sigma_model, energy_log_sigma_shared=sigma_shared, time_to_first_token_s=ttft[0],
        time_to_first_token_p90_s=ttft[1], time_per_output_token_s=tpot, inter_token_latency_p50_s=float(np.median(latency[win])),
        request_latency_s=ttft[0] + (mean_o - 1) * tpot, output_tokens_per_s=tokens / t_total, requests_per_s=tokens / t_total / mean_o,
        time_to_first_token_band_s=band(ttft[0], sigma), time_per_output_token_band_s=band(tpot, sigma),
        output_tokens_per_s_band={"low": tokens / t_total / math.exp(Z90 * sigma), "high": tokens / t_total * math.exp(Z90 * sigma)},
        mean_power_w=e_total / t_total, prefill_token_share=share, kv_cache_capacity_tokens=capacity,
        kv_cache_bytes_per_token=kv_bytes_per_token(spec, dt.kv), weight_bytes=total * dt.weight, tensor_parallel=tp, params=total, active_params=active, macs_per_output_token=macs, flops_per_output_token=flops,
        bytes_per_output_token=nbytes, kernels_per_step=st.kernels, steps=len(latency),
        bound={k: v / busy_total for k, v in busy.items()},
        workload={"label": w.label, "prompt_tokens_mean": float(w.prompt.mean()), "output_tokens_mean": mean_o,
                  "decode_context_mean": ctx}, notes=notes)


def _check_prefill_fits(w: Workload, budget: int) -> None:
    """The simulated window (at most MAX_STEPS steps, its first eighth a warm-up) must see prompts prefilled: a mean
    prompt may take at most MAX_STEPS / 4 steps of `budget` tokens, else the step budget is refused (a 32k-token prompt
    in 8-token steps would take 4,000 steps, and the window would produce no token to price)."""
    mean_p = float(w.prompt.mean())
    most = MAX_STEPS // 4
    if math.ceil(mean_p / budget) > most:
        raise UsageError(f"{param('max_batched_tokens')} {budget:,}: a mean prompt of {mean_p:,.0f} tokens takes "
                         f"{math.ceil(mean_p / budget):,} steps to prefill at that budget, more than the {most:,} the "
                         f"simulated window allows; give at least {math.ceil(mean_p / most):,} tokens a step")


def _allreduce_s(spec: DecoderSpec, tp: int, tokens: np.ndarray, hw: Any, dt: Dtypes) -> np.ndarray:
    """Seconds a step spends in tensor parallelism's all-reduces: two a layer (after attention, after the MLP) and one
    after the vocabulary-split embedding, each a ring all-reduce of the step's hidden states, 2 (n - 1) / n of them
    through each GPU's link, plus a latency however small (profiles/projection-defaults.toml allreduce_latency_s)."""
    if tp == 1:
        return np.zeros_like(tokens, dtype=float)
    if hw.interconnect_gbps is None:
        raise UsageError(f"hardware '{hw.name}' has no interconnect bandwidth in its profile: {param('tensor_parallel')} needs one")
    from ..profiles import projection_defaults

    alpha = projection_defaults()[hw.category]["allreduce_latency_s"].value
    nbytes = tokens * spec.hidden_size * dt.act
    return (2 * spec.num_layers + 1) * (alpha + 2 * (tp - 1) / tp * nbytes / (hw.interconnect_gbps.value * 1e9))


def _comm_source(hw: Any) -> str:
    return f"{hw.interconnect_gbps.kind}" if hw.interconnect_gbps else "none"


def _kv_capacity(spec: DecoderSpec, hw: Any, engine: Serving, weight_bytes: float, dt: Dtypes) -> tuple[float, float]:
    """Tokens the paged cache holds: gpu_memory_utilization x memory (GPU memory is binary: an 80 GB part holds
    80 GiB), less the weights and the working memory vLLM profiles with a dummy forward of the token budget (its
    largest activations, the MLP's inner ones, twice) and its sampler (fp32 logits of max_num_seqs rows, twice)."""
    if hw.memory_gb is None:
        raise UsageError(f"hardware '{hw.name}' has no memory size in its profile: the KV cache's capacity is unknown")
    inner = max(2 * spec.intermediate_size if spec.gated_mlp else spec.intermediate_size,
                spec.experts_per_token * 2 * spec.moe_intermediate_size)
    # vLLM's working memory besides weights and cache (profiles/defaults.toml [llm_serving] engine_overhead_gib)
    reserve = defaults()["llm_serving"]["engine_overhead_gib"].value * BYTES_PER_GIB + 2 * engine.max_num_batched_tokens * (spec.hidden_size + inner) * dt.act + \
        2 * engine.max_num_seqs * spec.vocab_size * 4
    free = engine.gpu_memory_utilization * hw.memory_gb.value * BYTES_PER_GIB - weight_bytes - reserve
    per_token = kv_bytes_per_token(spec, dt.kv)
    if not per_token > 0:  # a config the reader let through with no key/value heads or dims: no cache to size
        raise AnalyzerError(f"{spec.name}: its key/value cache holds {per_token:g} bytes a token (head_dim, num_key_value_heads "
                            "or num_hidden_layers is 0): not a decoder that can be served")
    return max(free, 0.0) / per_token, reserve


def _steady_steps(spec: DecoderSpec, w: Workload, b: int, budget: int, ctx: float, ctx_win: float, seed: int):
    """Rows of aggregates (AGGREGATES) of consecutive steps of the running engine, the tokens each produces, the
    prefills each completes, and each admitted request's arrival and completion steps (see the module docstring)."""
    rng = np.random.default_rng(seed + 1)
    mean_o = float(w.output.mean())
    lam = b / mean_o
    steps = int(min(MAX_STEPS, max(MIN_STEPS, math.ceil(MIN_ARRIVALS / lam))))
    if steps * lam > MAX_ARRIVALS:  # thousands of short requests a step: the steady state shows in fewer steps
        steps = max(MIN_BUSY_STEPS, int(MAX_ARRIVALS / lam))
    # and long enough to see a mean prompt prefilled four times over (_check_prefill_fits keeps that within MAX_STEPS)
    steps = max(steps, min(MAX_STEPS, 4 * math.ceil(float(w.prompt.mean()) / budget)))
    counts = rng.poisson(lam, steps)
    prompts = w.prompt[rng.integers(0, len(w.prompt), int(counts.sum()))].astype(np.int64)
    prompts = np.maximum(prompts, 1)
    window = spec.sliding_window
    rows = np.zeros((steps, len(AGGREGATES)))
    produced = np.zeros(steps)
    done_steps = np.zeros(steps)
    arrival = np.repeat(np.arange(steps), counts)
    completion = np.full(len(prompts), -1)
    ends = np.cumsum(prompts)  # the queue as one run of prompt tokens: request r's are [ends[r] - prompts[r], ends[r])
    starts = ends - prompts
    admitted_end = np.concatenate([[0], ends])[np.cumsum(counts)]  # the queue's last token admitted by each step
    head, pos, pending = 0, 0, 0  # the queue's front request, the next prompt token to serve, requests not yet prefilled
    for k in range(steps):
        pending += int(counts[k])
        decoding = max(b - pending, 0)
        room = max(budget - decoding, 0)
        stop = min(pos + room, int(admitted_end[k]))  # the step serves prompt tokens [pos, stop), in order, in chunks
        served = stop - pos
        pairs = pairs_win = kv_read = kv_read_win = 0.0
        done = 0
        if served > 0:
            last = int(np.searchsorted(starts, stop, side="left"))  # requests [head, last) hold a chunk of this step
            st, en = starts[head:last], ends[head:last]
            s = np.maximum(pos - st, 0).astype(float)  # each chunk's offset in its prompt
            c = (np.minimum(en, stop) - np.maximum(st, pos)).astype(float)  # and its tokens
            pairs = float((c * s + c * (c + 1) / 2).sum())
            tiles = np.ceil(c / QUERY_TILE)
            kv_read = float((tiles * (s + c)).sum())
            if window:
                m = np.clip(window - s, 0, c)  # the chunk's queries that see all their keys (exact for short chunks)
                exact = m * s + m * (m + 1) / 2 + (c - m) * window
                pairs_win = float(np.where(c <= 64, exact, c * np.minimum(s + c / 2, window)).sum())
                kv_read_win = float((tiles * np.minimum(s + c, window)).sum())
            finished = int(np.searchsorted(ends, stop, side="right"))  # requests [head, finished) complete their prefill
            completion[head:finished] = k
            done = finished - head
            head, pos = finished, stop
        pending -= done
        tokens = decoding + served
        rows[k] = (1.0, tokens, decoding + done, decoding * ctx + pairs, decoding * ctx_win + pairs_win,
                   decoding * ctx + kv_read, decoding * ctx_win + kv_read_win, 0.0)
        produced[k] = decoding + done
        done_steps[k] = done
    rows[:, AGGREGATES.index("experts")] = experts_touched(spec, rows[:, AGGREGATES.index("tokens")])
    if not spec.num_experts:
        rows[:, AGGREGATES.index("experts")] = 0.0
    return rows, produced, done_steps, arrival, completion


def _ttft(latency: np.ndarray, arrival: np.ndarray, completion: np.ndarray, warm: int) -> tuple[float, float]:
    """Mean and 90th percentile of admission -> first token over the requests admitted after the warm-up whose
    prefill completed in the window: the latencies of the steps from its arrival to its completion."""
    ends = np.cumsum(latency)
    ok = (completion >= 0) & (arrival >= warm)
    if not ok.any():
        return float(latency.mean()), float(latency.max())
    t = ends[completion[ok]] - ends[arrival[ok]] + latency[arrival[ok]]
    return float(t.mean()), float(np.percentile(t, 90))
