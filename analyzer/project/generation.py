"""A response of a decoder with its KV cache, priced from projections: the cost of a response is not one forward
pass at full length but one prefill (the prompt, compute-heavy) and T - 1 decode steps, each reading every weight
and the whole cache so far (bound by memory). MACs and bytes are exact (count/decoder.py); energy and latency
come from projections at up to 9 cache lengths across the response, linear between them (a decode step's time is
a sum of kernel rooflines, each linear in the past length where its bound does not change)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..count.decoder import DecoderRoles, check_lengths, decode_lengths, phase_dims, polynomial_sum
from ..dist import Z90
from ..units import bytes_scale
from .projection import Projection
from ..records import ModelProfile

MAX_SAMPLES = 9


def sample_lengths(steps: list[int], k: int = MAX_SAMPLES) -> list[int]:
    if len(steps) <= k:
        return steps
    return sorted({steps[round(i * (len(steps) - 1) / (k - 1))] for i in range(k)})


def sum_linear(samples: list[tuple[int, float]], steps: list[int]) -> float:
    """Sum over `steps` of the piecewise-linear interpolant through `samples` (sorted by length)."""
    if not steps:
        return 0.0
    total = 0.0
    for L in steps:
        for (x0, y0), (x1, y1) in zip(samples, samples[1:]):
            if x0 <= L <= x1:
                total += y0 + (y1 - y0) * (L - x0) / (x1 - x0) if x1 > x0 else y0
                break
        else:
            total += samples[0][1] if len(samples) == 1 else samples[-1][1]
    return total


@dataclass
class GenerationCost:
    """What one response costs: prefill of the prompt, then the decode steps over a growing cache."""

    model: str
    hardware: str
    dtype: str
    runtime: str
    batch: int
    prompt_tokens: int
    output_tokens: int
    prefill: dict[str, Any]  # the prefill Projection
    decode_first: dict[str, Any]  # the first decode step's Projection (cache = the prompt)
    decode_last: dict[str, Any]
    samples: list[dict[str, float]]  # past, energy_j_per_token, latency_s at the projected cache lengths
    energy_j_per_response: float  # device energy per sequence
    energy_j_per_response_band: dict[str, float]
    energy_log_sigma: float  # the band's log-error: the steps share the model's and the hardware's error
    energy_j_per_output_token: float  # the response's energy / output tokens
    decode_energy_j_per_token_mean: float
    time_to_first_token_s: float
    time_per_output_token_s: float  # mean over the decode steps
    response_latency_s: float
    macs_per_response: float  # per sequence: the prefill's and every decode step's, exactly
    decode_bytes_per_token: dict[str, float]  # weights, KV cache at the first and last step, in the compute dtype
    decode_bound: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def generation_cost(model: str, roles: DecoderRoles, prompt_tokens: int, output_tokens: int, batch: int,
                    profile_at: Callable[[dict[str, int]], ModelProfile],
                    project_one: Callable[[ModelProfile], Projection], extra_dims: dict[str, int] | None = None) -> GenerationCost:
    """Price one response of `output_tokens` after `prompt_tokens`, each sequence of a batch of `batch`, of the
    decoder whose input roles are `roles`: `profile_at(dims)` profiles one forward, `project_one` projects it."""
    check_lengths(prompt_tokens, output_tokens)
    base = dict(extra_dims or {})
    prefill_prof = profile_at(base | phase_dims(roles, "prefill", prompt_tokens))
    prefill = project_one(prefill_prof)
    steps = decode_lengths(prompt_tokens, output_tokens)
    sampled = sample_lengths(steps) if steps else [prompt_tokens]
    projections: dict[int, Projection] = {}
    profiles: dict[int, ModelProfile] = {}
    for L in sampled:
        profiles[L] = profile_at(base | phase_dims(roles, "decode", prompt_tokens, L))
        projections[L] = project_one(profiles[L])
    energy = [(L, projections[L].energy_j_per_item) for L in sampled]
    latency = [(L, projections[L].latency_s) for L in sampled]
    decode_energy = sum_linear(energy, steps)
    decode_time = sum_linear(latency, steps)
    e_response = prefill.energy_j_per_item + decode_energy
    # the steps share the model's and the hardware's error: one factor moves them together
    sigma = max(p.energy_log_sigma_model ** 2 + p.energy_log_sigma_shared ** 2 for p in [prefill, *projections.values()]) ** 0.5
    f = math.exp(Z90 * sigma)
    # MACs exactly: per-step MACs are a polynomial in the cache length, known at consecutive lengths
    macs_steps = {L: (profiles[L] if L in profiles else profile_at(base | phase_dims(roles, "decode", prompt_tokens, L))).macs
                  for L in steps[:4]}
    macs_response = (prefill_prof.macs + (polynomial_sum(macs_steps, steps[0], steps[-1]) if steps else 0)) / batch
    first, last = projections[sampled[0]], projections[sampled[-1]]
    scale = bytes_scale(first.dtype)  # tensors are held in the compute dtype on the target
    weights_b = float(profiles[sampled[0]].weight_read_bytes) * scale
    cache_first = float(roles.cache_bytes_per_token * sampled[0] * batch) * scale
    cache_last = float(roles.cache_bytes_per_token * sampled[-1] * batch) * scale
    shares = first.bound
    bound = (f"the first step is {shares.get('compute', 0):.0%} compute-, {shares.get('memory', 0):.0%} memory- and "
             f"{shares.get('latency', 0):.0%} launch-latency-bound ({shares.get('overhead', 0):.0%} waiting on the host); "
             f"it reads {weights_b / 1e6:,.1f} MB of weights and {cache_first / 1e6:,.2f} MB of cache at {first.dtype} for "
             f"{batch} sequence(s); the last step {cache_last / 1e6:,.2f} MB of cache")
    notes = [f"decode energy summed over {len(steps)} steps from projections at {len(sampled)} cache lengths "
             f"({', '.join(str(L) for L in sampled)}), linear between them" if steps else "one output token: prefill only",
             "the cache grows by concatenation as exported (a copy of the cache per step, as Hugging Face's dynamic cache "
             "does); a preallocated or paged cache writes only the new entries",
             f"per sequence of a batch of {batch}: every decode step produces one token for each sequence"]
    n_out = output_tokens
    return GenerationCost(
        model=model, hardware=prefill.hardware, dtype=prefill.dtype, runtime=prefill.runtime, batch=batch,
        prompt_tokens=prompt_tokens, output_tokens=output_tokens, prefill=prefill.to_dict(), decode_first=first.to_dict(),
        decode_last=last.to_dict(), samples=[{"past": L, "energy_j_per_token": projections[L].energy_j_per_item,
                                              "latency_s": projections[L].latency_s} for L in sampled],
        energy_j_per_response=e_response, energy_j_per_response_band={"low": e_response / f, "high": e_response * f},
        energy_log_sigma=sigma,
        energy_j_per_output_token=e_response / n_out, decode_energy_j_per_token_mean=decode_energy / len(steps) if steps else 0.0,
        time_to_first_token_s=prefill.latency_s, time_per_output_token_s=decode_time / len(steps) if steps else 0.0,
        response_latency_s=prefill.latency_s + decode_time, macs_per_response=macs_response,
        decode_bytes_per_token={"weights": weights_b / batch, "kv_cache_first": cache_first / batch, "kv_cache_last": cache_last / batch},
        decode_bound=bound, notes=notes)


