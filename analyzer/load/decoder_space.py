"""A synthetic space of decoder shapes, as decoder architecture searches explore them (width, depth, grouped-query
attention, MLP ratio, mixture-of-experts, sliding windows): `decoders:N[:SEED]` names its first N candidates. Each is
a Hugging Face config dict (llama-style, or qwen3_moe-style with experts), a pure function of (seed, index), so a
population is reproducible and a candidate costs microseconds to make."""

from __future__ import annotations

import numpy as np

HIDDEN = (1024, 1536, 2048, 2560, 3072, 4096)
LAYERS = (8, 12, 16, 20, 24, 28, 32, 40)
HEAD_DIM = 128
KV_HEADS = (1, 2, 4, 8)  # and multi-head attention (as many as the query heads)
MLP_RATIO = (2.5, 3.0, 3.5, 4.0)
EXPERTS = (8, 16, 32, 64)
TOP_K = (1, 2, 4, 8)
VOCAB = 128256
MOE_SHARE, WINDOW_SHARE, WINDOW = 0.25, 0.2, 4096


def sample(seed: int, index: int) -> dict:
    """The config of candidate `index` of the space drawn with `seed`."""
    rng = np.random.default_rng([seed, index])
    hidden = int(rng.choice(HIDDEN))
    layers = int(rng.choice(LAYERS))
    heads = hidden // HEAD_DIM
    kv = [k for k in KV_HEADS if heads % k == 0] + [heads]
    cfg = {"model_type": "llama", "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
           "num_key_value_heads": int(rng.choice(kv)), "head_dim": HEAD_DIM,
           "intermediate_size": int(round(float(rng.choice(MLP_RATIO)) * hidden / 256) * 256), "vocab_size": VOCAB,
           "tie_word_embeddings": hidden <= 2048, "max_position_embeddings": 32768, "torch_dtype": "bfloat16"}
    if rng.random() < MOE_SHARE:
        experts = int(rng.choice(EXPERTS))
        cfg.update(model_type="qwen3_moe", num_experts=experts, num_experts_per_tok=int(min(rng.choice(TOP_K), experts)),
                   moe_intermediate_size=int(max(256, round(cfg["intermediate_size"] / 4 / 256) * 256)), decoder_sparse_step=1,
                   mlp_only_layers=[])
    if rng.random() < WINDOW_SHARE:
        cfg.update(sliding_window=WINDOW, layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)])
    return cfg


def name(cfg: dict, index: int) -> str:
    moe = f"-e{cfg['num_experts']}k{cfg['num_experts_per_tok']}" if "num_experts" in cfg else ""
    return f"dec{index:05d}-h{cfg['hidden_size']}-l{cfg['num_hidden_layers']}-kv{cfg['num_key_value_heads']}{moe}"
