"""A decoder's cost graph from its config alone (no weights, no export): the operators one forward runs, each with
its multiply-accumulates, FLOPs, bytes and outputs as linear forms in what the forward processes (`AGGREGATES`):

  one        1 (a weight read once per forward)
  tokens     new tokens through the layers (a prefill chunk's tokens, one per decoding sequence)
  logits     rows through the LM head (a serving engine computes them only where a token is sampled)
  pairs      query-key pairs attended in a full-attention layer: sum over new tokens of the keys each sees
  pairs_win  the same in a sliding-window layer (keys capped at the window)
  kv_read    cached positions read per full-attention layer (each sequence's cache once per query tile)
  kv_read_win  the same for a sliding-window layer
  experts    distinct routed experts a forward activates in an MoE layer (their weights are read)

so the same graph counts one static forward (an ONNX export's batch x sequence over a past: `static_aggregates`)
and times every step of a serving engine (project/serving_kernels.py). Operators are those a serving engine
launches (vLLM: a fused residual-add RMSNorm, one QKV GEMM, rotary embedding, the cache write, one attention kernel,
the output projection, a gate-up GEMM and a SiLU-and-mul, the down projection; routed experts as two grouped GEMMs),
each repeated over the layers of its kind.

Conventions as everywhere in the tool: MACs are the matrix products' multiply-accumulates (the linear layers, the
LM head and attention's two products: 2 x heads x head_dim per query-key pair); FLOPs are 2 x MACs plus the other
arithmetic (RMSNorm 4 per element, LayerNorm 7, SiLU-and-mul 6, tanh GELU 8, rotary 3, softmax 5 per element);
bytes are what each kernel reads and writes, weights in the checkpoint's dtype, activations in the compute dtype,
the KV cache in its own dtype, logits in fp32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import UsageError, param
from ..records import DecoderSpec

AGGREGATES = ("one", "tokens", "logits", "pairs", "pairs_win", "kv_read", "kv_read_win", "experts")
_IDX = {a: i for i, a in enumerate(AGGREGATES)}
_NORM_PARAMS = {"rms": 1, "layer": 2, "layer_nobias": 1, "none": 0}  # per hidden unit
LOGIT_BYTES = 4  # fp32 logits, as vLLM's sampler reads them
QUERY_TILE = 128  # FlashAttention's query block: a prefill chunk reads the cache once per 128 queries


def _vec(**coeffs: float) -> np.ndarray:
    v = np.zeros(len(AGGREGATES))
    for k, c in coeffs.items():
        v[_IDX[k]] = c
    return v


@dataclass(frozen=True)
class DecoderOp:
    """One operator of a forward, run `repeat` times (once per layer of its kind)."""

    name: str
    kclass: str  # the kernel class that times it (taxonomy.KERNEL_CLASSES)
    host: str  # the host family that issues it (taxonomy.HOST_FAMILIES)
    repeat: int
    macs: np.ndarray  # coefficients over AGGREGATES
    flops: np.ndarray
    bytes: np.ndarray
    outputs: np.ndarray
    weights: bool = False  # a GEMM reading weights


@dataclass(frozen=True)
class Dtypes:
    """Bytes per element: weights, activations (the compute dtype) and the KV cache."""

    weight: float = 2.0
    act: float = 2.0
    kv: float = 2.0


def norm_weights(spec: DecoderSpec) -> int:
    """Parameters of one norm over the hidden state: RMSNorm a weight, LayerNorm a weight and a bias, OLMo's none."""
    return spec.hidden_size * _NORM_PARAMS.get(spec.norm, 1)


def qk_norm_weights(spec: DecoderSpec) -> int:
    """Parameters of a layer's query and key norms: one over head_dim shared by the heads (Qwen3, Gemma-3: a weight;
    Phi's LayerNorm: a weight and a bias), or one over all query and all key/value heads (OLMo-2, Cohere, StableLM)."""
    if spec.qk_norm == "head":
        return 2 * spec.head_dim * (2 if spec.norm == "layer" else 1)
    return (spec.num_heads + spec.num_kv_heads) * spec.head_dim if spec.qk_norm == "full" else 0


def params(spec: DecoderSpec) -> tuple[int, int]:
    """(total, active) parameters: every weight, and those one token meets (k of the routed experts; the embedding
    table counts in both, as published counts do). Per layer: the attention's projections (and their biases), its
    q/k norms, `norms_per_layer` norms and the MLP or the experts; then the final norm, the embedding table, the LM
    head unless tied (and its bias) and a learned position table."""
    h, hd = spec.hidden_size, spec.head_dim
    q, kv = spec.num_heads * hd, spec.num_kv_heads * hd
    norm = norm_weights(spec)
    attn = h * (q + 2 * kv) + q * h + (q + 2 * kv if spec.qkv_bias else 0) + (h if spec.o_bias else 0)
    attn += qk_norm_weights(spec)
    dense = _mlp_params(spec, spec.intermediate_size)
    per_expert = _mlp_params(spec, spec.moe_intermediate_size) if spec.num_experts else 0
    shared = _mlp_params(spec, spec.shared_expert_intermediate_size) + \
        (h if spec.shared_expert_intermediate_size and spec.shared_expert_gate else 0)
    moe_common = h * spec.num_experts + shared  # router (and the shared expert, with its gate where it has one)
    n_moe, n_dense = spec.moe_layers, spec.num_layers - spec.moe_layers
    base = spec.num_layers * (attn + spec.norms_per_layer * norm) + n_dense * dense + n_moe * moe_common + norm
    base += spec.vocab_size * h * (1 if spec.tie_embeddings else 2) + spec.learned_positions * h
    base += spec.vocab_size if spec.lm_head_bias else 0
    return base + n_moe * spec.num_experts * per_expert, base + n_moe * spec.experts_per_token * per_expert


def _mlp_params(spec: DecoderSpec, inner: int) -> int:
    if inner == 0:
        return 0
    h = spec.hidden_size
    if spec.gated_mlp:
        return 3 * h * inner + (2 * inner + h if spec.mlp_bias else 0)
    return 2 * h * inner + (inner + h if spec.mlp_bias else 0)


def tensor_shard(spec: DecoderSpec, n: int) -> DecoderSpec:
    """One GPU's part of `spec` under n-way tensor parallelism, as Megatron-style serving engines split a decoder
    (vLLM): query heads, the MLP's and the experts' inner widths and the vocabulary (embedding and LM head) split n
    ways; key/value heads split too, or replicated on every GPU when there are fewer than n; norms replicated. Each
    layer then all-reduces its attention and MLP outputs (project/serving.py)."""
    if n == 1:
        return spec
    if spec.num_heads % n:
        raise UsageError(f"{param('tensor_parallel')} {n}: {spec.name}'s {spec.num_heads} attention heads do not split {n} ways")
    kv = spec.num_kv_heads
    if kv >= n and kv % n:
        raise UsageError(f"{param('tensor_parallel')} {n}: {spec.name}'s {kv} key/value heads do not split {n} ways")
    return replace(spec, num_heads=spec.num_heads // n, num_kv_heads=max(kv // n, 1),
                   intermediate_size=math.ceil(spec.intermediate_size / n), moe_intermediate_size=math.ceil(spec.moe_intermediate_size / n),
                   shared_expert_intermediate_size=math.ceil(spec.shared_expert_intermediate_size / n),
                   vocab_size=math.ceil(spec.vocab_size / n))


def kv_bytes_per_token(spec: DecoderSpec, kv_bytes: float) -> float:
    """KV cache bytes one position of one sequence holds, over all layers (keys and values of the KV heads)."""
    return spec.num_layers * 2 * spec.num_kv_heads * spec.head_dim * kv_bytes


def graph(spec: DecoderSpec, dt: Dtypes = Dtypes()) -> list[DecoderOp]:
    """The operators of one forward (see the module docstring), head and tail included."""
    h, hd, nh, nkv = spec.hidden_size, spec.head_dim, spec.num_heads, spec.num_kv_heads
    a, w, kvb = dt.act, dt.weight, dt.kv
    layers, moe = spec.num_layers, spec.moe_layers
    win, full = spec.window_layers, spec.num_layers - spec.window_layers
    q, kv = nh * hd, nkv * hd
    ops: list[DecoderOp] = []

    def gemm(name: str, k: int, n: int, repeat: int, bias: bool, rows: str = "tokens") -> None:
        if repeat and k and n:
            wbytes = (k * n + (n if bias else 0)) * w
            ops.append(DecoderOp(name, "gemm", "gemm", repeat, _vec(**{rows: k * n}), _vec(**{rows: 2 * k * n + (n if bias else 0)}),
                                 _vec(one=wbytes, **{rows: (k + n) * a}), _vec(**{rows: n}), True))

    def vector(name: str, kind: str, repeat: int, elems: float, flops_per: float, reads: float = 1.0,
               writes: float = 1.0, const_bytes: float = 0.0) -> None:
        """A per-token vector kernel; `kind` is both its kernel class and its host class."""
        if repeat and elems:
            ops.append(DecoderOp(name, kind, kind, repeat, _vec(), _vec(tokens=flops_per * elems),
                                 _vec(one=const_bytes, tokens=(reads + writes) * elems * a), _vec(tokens=elems)))

    norm_flops = 4 if spec.norm == "rms" else 7
    norm_w = norm_weights(spec) * w
    qk_w = qk_norm_weights(spec) * w
    # embedding lookup: the rows read, the hidden state written (a learned position table: a second gather and an add)
    ops.append(DecoderOp("embedding", "layout", "layout", 1, _vec(), _vec(tokens=h if spec.learned_positions else 0),
                         _vec(tokens=h * (w + a) * (2 if spec.learned_positions else 1)), _vec(tokens=h)))
    # per layer: fused residual add + norm (x and the residual in and out), attention block, norm, MLP
    vector("input_norm", "norm", layers, h, norm_flops + 1, reads=2, writes=2, const_bytes=norm_w)  # OLMo's: no weight
    gemm("qkv_proj", h, q + 2 * kv, layers, spec.qkv_bias)
    if spec.qk_norm:
        vector("qk_norm", "norm", layers, q + kv, 4, const_bytes=qk_w)
    if not spec.learned_positions:
        vector("rotary", "elementwise", layers, q + kv, 3)
    # the new keys and values into the paged cache (read in the compute dtype, written in the cache's)
    ops.append(DecoderOp("kv_cache_write", "layout", "layout", layers, _vec(), _vec(), _vec(tokens=2 * kv * (a + kvb)),
                         _vec(tokens=2 * kv)))
    for name, repeat, pairs, read in (("attention", full, "pairs", "kv_read"), ("attention_window", win, "pairs_win", "kv_read_win")):
        if repeat:
            ops.append(DecoderOp(name, "attention", "attention", repeat, _vec(**{pairs: 2 * q}), _vec(**{pairs: 4 * q + 5 * nh}),
                                 _vec(tokens=2 * q * a, **{read: 2 * kv * kvb}), _vec(tokens=q)))
    gemm("o_proj", q, h, layers, spec.o_bias)
    # the norms after the first: before the MLP (sequential blocks), Gemma-2/3's post norms; none in a parallel block
    vector("post_attention_norm", "norm", layers * (spec.norms_per_layer - 1), h, norm_flops + 1, reads=2, writes=2,
           const_bytes=norm_w)
    _mlp(spec, ops, gemm, vector, "mlp", spec.intermediate_size, layers - moe)
    if moe:
        e, k, im = spec.num_experts, spec.experts_per_token, spec.moe_intermediate_size
        gemm("router", h, e, moe, False)
        vector("topk_softmax", "reduce", moe, e, 5)
        up = 2 * im if spec.gated_mlp else im
        # grouped GEMMs over the tokens' k experts each: the weights of every expert some token routes to are read
        for name, kin, nout in (("experts_gate_up", h, up), ("experts_down", im, h)):
            ops.append(DecoderOp(name, "gemm", "gemm", moe, _vec(tokens=k * kin * nout), _vec(tokens=2 * k * kin * nout),
                                 _vec(experts=kin * nout * w, tokens=k * (kin + nout) * a), _vec(tokens=k * nout), True))
        vector("experts_act", "elementwise", moe, k * im, 6 if spec.gated_mlp else 8,
               reads=(2 if spec.gated_mlp else 1))
        vector("experts_sum", "elementwise", moe, h, k, reads=k)
        if spec.shared_expert_intermediate_size:
            _mlp(spec, ops, gemm, vector, "shared_expert", spec.shared_expert_intermediate_size, moe)
            if spec.shared_expert_gate:
                gemm("shared_expert_gate", h, 1, moe, False)
    # tail: the final norm over every token, then the LM head and the sampler only where a token is sampled
    vector("final_norm", "norm", 1, h, norm_flops, const_bytes=norm_w)
    ops.append(DecoderOp("lm_head", "gemm", "gemm", 1, _vec(logits=h * spec.vocab_size), _vec(logits=2 * h * spec.vocab_size),
                         _vec(one=(h + spec.lm_head_bias) * spec.vocab_size * w, logits=h * a + spec.vocab_size * LOGIT_BYTES),
                         _vec(logits=spec.vocab_size), True))
    ops.append(DecoderOp("sampler", "reduce", "reduce", 1, _vec(), _vec(logits=5 * spec.vocab_size),
                         _vec(logits=2 * spec.vocab_size * LOGIT_BYTES), _vec(logits=spec.vocab_size)))
    return ops


def _mlp(spec: DecoderSpec, ops: list[DecoderOp], gemm, vector, name: str, inner: int, repeat: int) -> None:
    if not (inner and repeat):
        return
    h = spec.hidden_size
    if spec.gated_mlp:
        gemm(f"{name}_gate_up", h, 2 * inner, repeat, spec.mlp_bias)
        vector(f"{name}_silu_and_mul", "elementwise", repeat, inner, 6, reads=2)
    else:
        gemm(f"{name}_up", h, inner, repeat, spec.mlp_bias)
        vector(f"{name}_gelu", "elementwise", repeat, inner, 8)
    gemm(f"{name}_down", inner, h, repeat, spec.mlp_bias)


def experts_touched(spec: DecoderSpec, tokens: np.ndarray | float) -> np.ndarray:
    """Distinct routed experts a forward of `tokens` activates per MoE layer, routing uniform and independent:
    E x (1 - (1 - k/E)^tokens). One token reads k experts; a large batch reads them all."""
    e, k = spec.num_experts, spec.experts_per_token
    if not e:
        return np.zeros_like(np.asarray(tokens, dtype=float))
    return e * (1.0 - (1.0 - k / e) ** np.asarray(tokens, dtype=float))


def static_aggregates(spec: DecoderSpec, batch: int, seq: int, past: int, causal: bool = False,
                      all_logits: bool = True) -> np.ndarray:
    """The aggregates of one static forward: `batch` sequences of `seq` new tokens over `past` cached ones. As an
    export computes it (`causal` False), every query scores every key, masked or not; a causal kernel skips the
    masked ones. An export computes logits for every new token (`all_logits`); a serving engine for the last."""
    total = past + seq
    pairs = batch * (seq * past + (seq * (seq + 1) // 2 if causal else seq * seq))
    w = spec.sliding_window
    if w and causal:
        pairs_win = batch * sum(min(past + i, w) for i in range(1, seq + 1)) if seq <= 4096 else \
            batch * seq * min(total, w)
    else:
        pairs_win = batch * seq * (min(total, w) if w else total)
    tiles = max(1, -(-seq // QUERY_TILE))
    row = {"one": 1, "tokens": batch * seq, "logits": batch * (seq if all_logits else 1), "pairs": pairs,
           "pairs_win": pairs_win, "kv_read": batch * total * tiles,
           "kv_read_win": batch * (min(total, w) if w else total) * tiles,
           "experts": float(experts_touched(spec, batch * seq))}
    return np.array([row[a] for a in AGGREGATES], dtype=float)


def totals(ops: list[DecoderOp], agg: np.ndarray) -> dict[str, float]:
    """MACs, FLOPs, bytes and kernels of a forward whose aggregates are `agg` (AGGREGATES; or rows of them)."""
    agg = np.asarray(agg, dtype=float)
    out = {"macs": 0.0, "flops": 0.0, "bytes": 0.0, "kernels": 0}
    for op in ops:
        out["macs"] += op.repeat * agg @ op.macs
        out["flops"] += op.repeat * agg @ op.flops
        out["bytes"] += op.repeat * agg @ op.bytes
        out["kernels"] += op.repeat
    return out


def summary(spec: DecoderSpec, dt: Dtypes = Dtypes()) -> dict[str, float]:
    """What a decoder is, in numbers: parameters (total and active), weight bytes, MACs a decoded token costs
    (its linear layers and LM head) and per cached position it attends to, KV cache bytes per token."""
    total, active = params(spec)
    ops = graph(spec, dt)
    per_token = sum(op.repeat * (op.macs[_IDX["tokens"]] + op.macs[_IDX["logits"]]) for op in ops)
    per_pair = sum(op.repeat * (op.macs[_IDX["pairs"]] + op.macs[_IDX["pairs_win"]]) for op in ops) / max(spec.num_layers, 1)
    return {"params": total, "active_params": active, "weight_bytes": total * dt.weight,
            "macs_per_token": per_token, "attention_macs_per_position_per_layer": per_pair,
            "kv_cache_bytes_per_token": kv_bytes_per_token(spec, dt.kv)}
