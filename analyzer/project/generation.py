"""Generation with a KV cache: the cost of a response is not one forward pass at full length.

A decoder exported with its cache (Hugging Face optimum's decoder_with_past, torch exports of the same
signature) takes input_ids [batch, seq], an attention mask [batch, past + seq], position ids and
past_key_values.N.key/value [batch, heads, past, head_dim]. Generating T tokens after a prompt of P tokens
runs one prefill forward (seq = P, past = 0: compute-heavy) and T - 1 decode forwards (seq = 1, past = P,
P + 1, ..., P + T - 2), each reading every weight once and the whole cache so far: bound by memory.

Roles are found from the signature, not from dim names (dynamo names them s0, s1, ...): the leading axis of
every input is the batch; input_ids' second axis is the new tokens; the symbolic axes of the cache inputs
other than the leading one are the past length; an attention mask's second axis, when it is not already an
expression of those (optimum writes 'past_sequence_length + sequence_length'), is past + seq.

Per response: MACs and bytes exactly, as polynomials in the past length summed over the decode steps
(symbolic.py's interpolation); energy and latency from projections at up to 9 cache lengths across the
response, linear between them (a decode step's time is a sum of kernel rooflines, each linear in the past
length where its bound does not change).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

from ..errors import UsageError
from ..load import dim_expr
from ..load.onnx_graph import input_signature
from ..count.poly import interpolate_1d
from .projection import BYTES_SCALE, Z90, Projection
from ..records import ModelProfile

PHASES = ("prefill", "decode")
MAX_SAMPLES = 9
_CACHE_NAME = re.compile(r"(^|[._/])(past|cache)", re.IGNORECASE)
_IDS_NAMES = ("input_ids", "ids", "tokens", "input")


@dataclass(frozen=True)
class DecoderRoles:
    tokens_input: str
    seq: tuple[str, ...]  # dim names of the new tokens' axis
    past: tuple[str, ...]  # dim names of the cache's length axis
    total: tuple[str, ...]  # attention-mask lengths to bind to past + seq
    batch: tuple[str, ...]
    cache_inputs: tuple[str, ...]
    cache_bytes_per_token: int  # all layers' keys and values for one position of one sequence, as exported

    def bindings(self, seq: int, past: int) -> dict[str, int]:
        dims = {n: seq for n in self.seq} | {n: past for n in self.past} | {n: past + seq for n in self.total}
        return dims


def decoder_roles(path: Path) -> DecoderRoles:
    """The generation roles of the model's input dims; a UsageError names what is missing."""
    sig = input_signature(path)
    cache = [s for s in sig if _CACHE_NAME.search(s.name) and s.dims is not None and len(s.dims) >= 3]
    if not cache:
        raise UsageError(f"{path}: no past key/value inputs (looked for past_key_values.N.key/value or past_*/cache_* "
                         "inputs of rank >= 3): --phase decode needs a decoder exported with its KV cache "
                         "(optimum's decoder_with_past); a model without one reruns the whole sequence per token")
    by_name = {s.name: s for s in sig}
    ids = next((by_name[n] for n in _IDS_NAMES if n in by_name), None)
    if ids is None:
        ids = next((s for s in sig if s not in cache and s.dims is not None and len(s.dims) == 2 and s.dtype.startswith("int")), None)
    if ids is None or ids.dims is None or len(ids.dims) < 2 or not isinstance(ids.dims[1], str):
        raise UsageError(f"{path}: no token input with a symbolic length (input_ids [batch, sequence])")
    seq = set(dim_expr.names(ids.dims[1]))
    batch: set[str] = set()
    past: set[str] = set()
    bytes_per_pos = 0
    for c in cache:
        dims = c.dims or ()
        if isinstance(dims[0], str):
            batch |= dim_expr.names(dims[0])
        sym = [d for d in dims[1:] if isinstance(d, str)]
        if len(sym) != 1:
            raise UsageError(f"{path}: cache input '{c.name}' has {len(sym)} symbolic axes besides the batch; expected one "
                             "(the past length)")
        past |= dim_expr.names(sym[0])
        per_pos = 1
        for d in dims[1:]:
            if isinstance(d, int):
                per_pos *= d
        bytes_per_pos += int(per_pos * c.itemsize)
    for s in sig:
        if s.dims and isinstance(s.dims[0], str):
            batch |= dim_expr.names(s.dims[0])
    total: set[str] = set()
    for s in sig:
        if s in cache or s is ids or not s.dims:
            continue
        for axis, d in enumerate(s.dims):
            if not isinstance(d, str) or axis == 0:
                continue
            names = dim_expr.names(d)
            if names <= seq | past:
                continue  # an expression of the roles already bound, or one of them
            if "mask" in s.name.lower() and axis == len(s.dims) - 1:
                total |= names
            elif "position" in s.name.lower():
                seq |= names
            else:
                raise UsageError(f"{path}: input '{s.name}' axis {axis} ('{d}') has no role in generation; bind it with --dim")
    return DecoderRoles(ids.name, tuple(sorted(seq)), tuple(sorted(past)), tuple(sorted(total)), tuple(sorted(batch)),
                        tuple(c.name for c in cache), bytes_per_pos)


def phase_dims(roles: DecoderRoles, phase: str, prompt_tokens: int, past: int | None = None) -> dict[str, int]:
    """Dims of one forward: prefill of the prompt (empty cache), or one decode step with `past` cached."""
    if phase == "prefill":
        return roles.bindings(prompt_tokens, 0)
    return roles.bindings(1, prompt_tokens if past is None else past)


def check_lengths(prompt_tokens: int, output_tokens: int) -> None:
    for flag, v, lo in (("--prompt-tokens", prompt_tokens, 1), ("--output-tokens", output_tokens, 1)):
        if not lo <= v <= 1 << 20:
            raise UsageError(f"{flag} {v}: must be from {lo} to 1,048,576")


def decode_lengths(prompt_tokens: int, output_tokens: int) -> list[int]:
    """Cache lengths of the decode steps: the prefill yields the first token, each step one more."""
    return list(range(prompt_tokens, prompt_tokens + output_tokens - 1))


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


def polynomial_sum(values: dict[int, int], lo: int, hi: int) -> int:
    """Σ_{L=lo}^{hi} f(L) for a polynomial f given exactly at consecutive lengths lo, lo+1, ... (degree + 1 of
    them or more); the partial sums are a polynomial one degree higher, interpolated exactly."""
    if hi < lo:
        return 0
    xs = sorted(values)
    partial, acc = [], Fraction(0)
    for x in xs:
        acc += values[x]
        partial.append(acc)
    ms = [x - lo + 1 for x in xs]
    coeffs = interpolate_1d([0] + ms, [Fraction(0)] + partial)
    m = hi - lo + 1
    total = sum(c * Fraction(m) ** i for i, c in enumerate(coeffs))
    return int(total) if total.denominator == 1 else round(float(total))


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
    facility_energy_j_per_response: float
    co2e_g_per_response: float
    energy_j_per_response_band: dict[str, float]
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


def generation_cost(path: Path, prompt_tokens: int, output_tokens: int, batch: int,
                    profile_at: Callable[[dict[str, int]], ModelProfile],
                    project_one: Callable[[ModelProfile], Projection], extra_dims: dict[str, int] | None = None) -> GenerationCost:
    """Price one response of `output_tokens` after `prompt_tokens`, each sequence of a batch of `batch`."""
    check_lengths(prompt_tokens, output_tokens)
    roles = decoder_roles(path)
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
    pue, grid = prefill.pue, prefill.grid_gco2e_per_kwh
    facility = e_response * pue
    # the steps share the model's and the hardware's error: one factor moves them together
    sigma = max(p.energy_log_sigma_model ** 2 + p.energy_log_sigma_shared ** 2 for p in [prefill, *projections.values()]) ** 0.5
    f = math.exp(Z90 * sigma)
    # MACs exactly: per-step MACs are a polynomial in the cache length, known at consecutive lengths
    macs_steps = {L: (profiles[L] if L in profiles else profile_at(base | phase_dims(roles, "decode", prompt_tokens, L))).macs
                  for L in steps[:4]}
    macs_response = (prefill_prof.macs + (polynomial_sum(macs_steps, steps[0], steps[-1]) if steps else 0)) / batch
    first, last = projections[sampled[0]], projections[sampled[-1]]
    scale = BYTES_SCALE.get(first.dtype, 1.0)  # tensors are held in the compute dtype on the target
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
        model=str(path), hardware=prefill.hardware, dtype=prefill.dtype, runtime=prefill.runtime, batch=batch,
        prompt_tokens=prompt_tokens, output_tokens=output_tokens, prefill=prefill.to_dict(), decode_first=first.to_dict(),
        decode_last=last.to_dict(), samples=[{"past": L, "energy_j_per_token": projections[L].energy_j_per_item,
                                              "latency_s": projections[L].latency_s} for L in sampled],
        energy_j_per_response=e_response, facility_energy_j_per_response=facility,
        co2e_g_per_response=facility / 3.6e6 * grid, energy_j_per_response_band={"low": e_response / f, "high": e_response * f},
        energy_j_per_output_token=e_response / n_out, decode_energy_j_per_token_mean=decode_energy / len(steps) if steps else 0.0,
        time_to_first_token_s=prefill.latency_s, time_per_output_token_s=decode_time / len(steps) if steps else 0.0,
        response_latency_s=prefill.latency_s + decode_time, macs_per_response=macs_response,
        decode_bytes_per_token={"weights": weights_b / batch, "kv_cache_first": cache_first / batch, "kv_cache_last": cache_last / batch},
        decode_bound=bound, notes=notes)


def phase_profile(path: Path, phase: str, prompt_tokens: int, past: int | None, batch: int, dims: dict[str, int] | None,
                  profile: Callable[..., ModelProfile], **kwargs: Any) -> ModelProfile:
    """The profile of one forward of `phase`, with a note saying what it binds."""
    if phase not in PHASES:
        raise UsageError(f"--phase '{phase}': expected prefill or decode")
    roles = decoder_roles(path)
    bound = phase_dims(roles, phase, prompt_tokens, past)
    p = profile(path, dict(dims or {}) | bound, batch, **kwargs)
    what = (f"prefill of {prompt_tokens} prompt tokens (empty cache)" if phase == "prefill" else
            f"one decode step: 1 new token per sequence, {bound[roles.past[0]] if roles.past else prompt_tokens} cached")
    p.notes.append(f"{what}; dims {', '.join(f'{k}={v}' for k, v in sorted(bound.items()))}")
    return p


def response_macs(path: Path, prompt_tokens: int, output_tokens: int, batch: int, dims: dict[str, int] | None,
                  profile: Callable[..., ModelProfile], **kwargs: Any) -> dict[str, float]:
    """MACs of a response per sequence, exactly: the prefill's plus every decode step's (a polynomial in the
    cache length, summed in closed form), and the decode step's MACs at the first and last cache length."""
    check_lengths(prompt_tokens, output_tokens)
    roles = decoder_roles(path)
    base = dict(dims or {})

    def macs(phase: str, past: int | None = None) -> int:
        return profile(path, base | phase_dims(roles, phase, prompt_tokens, past), batch, **kwargs).macs

    steps = decode_lengths(prompt_tokens, output_tokens)
    pre = macs("prefill")
    known = {L: macs("decode", L) for L in steps[:4]}
    total = pre + (polynomial_sum(known, steps[0], steps[-1]) if steps else 0)
    last = macs("decode", steps[-1]) if steps else 0
    return {"prefill_macs": pre / batch, "decode_macs_first_step": (known[steps[0]] if steps else 0) / batch,
            "decode_macs_last_step": last / batch, "macs_per_response": total / batch,
            "cache_bytes_per_cached_token": float(roles.cache_bytes_per_token)}


def price_response(path: Path, placement: Any, params: Any, prompt_tokens: int, output_tokens: int,
                   dims: dict[str, int] | None = None, assume_upper_bound: bool = False) -> GenerationCost:
    """generation_cost with the profiler and the projection where `placement` puts the model."""
    from ..count.profile import profile_onnx
    from .projection import project

    def profile_at(d: dict[str, int]) -> ModelProfile:
        return profile_onnx(path, d, placement.batch, per_op=True, scan_sparsity=False, hash_file=False,
                            assume_upper_bound=assume_upper_bound)

    def project_one(p: ModelProfile) -> Projection:
        return project(p, placement.hardware, params, placement.runtime, placement.dtype, pue=placement.pue,
                       grid_gco2e_per_kwh=placement.grid_gco2e_per_kwh, utilization=placement.utilization,
                       place_inputs=list(placement.site.inputs))

    return generation_cost(path, prompt_tokens, output_tokens, placement.batch, profile_at, project_one, dims)
