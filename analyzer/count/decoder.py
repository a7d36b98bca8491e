"""A decoder exported with its KV cache, as the count stage sees it: the roles of its input dims, the bindings of
one forward of a phase (the prompt's prefill, or one decode step over a cache), that forward's profile, and a
response's MACs exactly.

A decoder exported with its cache (Hugging Face optimum's decoder_with_past, torch exports of the same
signature) takes input_ids [batch, seq], an attention mask [batch, past + seq], position ids and
past_key_values.N.key/value [batch, heads, past, head_dim]. Generating T tokens after a prompt of P tokens
runs one prefill forward (seq = P, past = 0) and T - 1 decode forwards (seq = 1, past = P, P + 1, ...,
P + T - 2).

Roles are found from the signature, not from dim names (dynamo names them s0, s1, ...): the leading axis of
every input is the batch; input_ids' second axis is the new tokens; the symbolic axes of the cache inputs
other than the leading one are the past length; an attention mask's second axis, when it is not already an
expression of those (optimum writes 'past_sequence_length + sequence_length'), is past + seq. A response's
MACs are exact: a decode step's MACs are a polynomial in the past length, summed in closed form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

from ..errors import UsageError, param
from ..load import dim_expr
from ..load.onnx_graph import input_signature
from ..records import ModelProfile
from .poly import interpolate_1d

PHASES = ("prefill", "decode")


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
                         f"inputs of rank >= 3): {param('phase')} decode needs a decoder exported with its KV cache "
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
                raise UsageError(f"{path}: input '{s.name}' axis {axis} ('{d}') has no role in generation; bind it with {param('dim')}")
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

def phase_profile(path: Path, phase: str, prompt_tokens: int, past: int | None, batch: int, dims: dict[str, int] | None,
                  profile: Callable[..., ModelProfile], **kwargs: Any) -> ModelProfile:
    """The profile of one forward of `phase`, with a note saying what it binds."""
    if phase not in PHASES:
        raise UsageError(f"{param('phase')} '{phase}': expected prefill or decode")
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
