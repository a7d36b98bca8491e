"""A decoder from its Hugging Face config.json, without weights: the fields that shape its cost (widths, depth,
query and key/value heads, MLP, vocabulary, tied embeddings, MoE experts and top-k, sliding windows, the
checkpoint's dtype) read into a `DecoderSpec`. Keys follow transformers' configuration classes:

  llama, mistral, qwen2, qwen3, gemma, phi3 and others of the Llama shape: hidden_size, num_hidden_layers,
      num_attention_heads, num_key_value_heads (absent: = heads), head_dim (absent: hidden / heads),
      intermediate_size, vocab_size, tie_word_embeddings, SwiGLU MLP and RMSNorm
  qwen2_moe, qwen3_moe: num_experts, num_experts_per_tok, moe_intermediate_size, shared_expert_intermediate_size,
      decoder_sparse_step and mlp_only_layers (which layers are dense)
  mixtral: num_local_experts, num_experts_per_tok, experts of intermediate_size
  gpt2: n_embd, n_layer, n_head, n_inner (absent: 4 x n_embd), n_positions (a learned position table), LayerNorm,
      a GELU MLP and biases everywhere
  sliding windows: layer_types ("sliding_attention"), else sliding_window on every layer (mistral) or, with
      use_sliding_window, on layers from max_window_layers up (qwen2)

A config nested under text_config (a multimodal model's language part) is read from there. Multi-head latent
attention (DeepSeek-V2/V3) caches a compressed latent, not keys and values: refused, not approximated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from ..records import DecoderSpec
from .small_files import read_bounded

MAX_CONFIG_BYTES = 4 << 20  # a config.json is a few kB; a larger file is not one
_LIMITS = {"hidden_size": 1 << 20, "num_layers": 10_000, "num_heads": 16_384, "num_kv_heads": 16_384, "head_dim": 65_536,
           "intermediate_size": 1 << 24, "vocab_size": 1 << 24, "num_experts": 65_536, "experts_per_token": 65_536,
           "moe_intermediate_size": 1 << 24, "shared_expert_intermediate_size": 1 << 24, "sliding_window": 1 << 31,
           "max_position_embeddings": 1 << 31, "learned_positions": 1 << 31}
_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32"}
_MLA = ("kv_lora_rank", "q_lora_rank")


def is_config(path: Path | str) -> bool:
    """A candidate file that is a decoder's config (by name: .json), not an ONNX model."""
    return str(path).lower().endswith(".json")


def read_config(path: Path | str) -> DecoderSpec:
    """The decoder that `path` (a config.json) describes; a one-line error naming the file and the key if not."""
    p = Path(path)
    try:
        text = read_bounded(p, MAX_CONFIG_BYTES, "decoder's config.json", ModelLoadError).decode("utf-8")
    except UnicodeDecodeError:
        raise ModelLoadError(f"{p}: not UTF-8 text (a config.json is JSON)") from None
    return spec_from_text(text, p.stem if p.name != "config.json" else p.parent.name or "config", str(p))


def spec_from_text(text: str, name: str, source: str) -> DecoderSpec:
    try:
        d = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ModelLoadError(f"{source}: not valid JSON ({getattr(e, 'msg', 'nested too deeply')})") from None
    if not isinstance(d, dict):
        raise ModelLoadError(f"{source}: a config.json holds a JSON object, not {type(d).__name__}")
    return spec_from_dict(d, name, source)


def spec_from_dict(d: dict[str, Any], name: str, source: str = "") -> DecoderSpec:
    """The decoder a config dict describes (see the module docstring)."""
    where = source or name
    if isinstance(d.get("text_config"), dict):
        d = {**d["text_config"], "torch_dtype": d["text_config"].get("torch_dtype", d.get("torch_dtype"))}
    mtype = str(d.get("model_type", ""))
    if any(k in d and d[k] is not None for k in _MLA):
        raise ModelLoadError(f"{where}: model_type '{mtype}' uses multi-head latent attention (kv_lora_rank), which this "
                             "tool does not model; give a config with query and key/value heads")
    r = _Reader(d, where)
    if mtype == "gpt2" or ("n_embd" in d and "hidden_size" not in d):
        hidden, heads = r.int("n_embd"), r.int("n_head")
        layers = r.int("n_layer")
        fields = dict(hidden_size=hidden, num_layers=layers, num_heads=heads, num_kv_heads=heads, head_dim=r.head_dim(hidden, heads),
                      intermediate_size=r.int("n_inner", 4 * hidden), vocab_size=r.int("vocab_size"),
                      tie_embeddings=r.bool("tie_word_embeddings", True), gated_mlp=False, norm="layer", qkv_bias=True,
                      linear_bias=True, learned_positions=r.int("n_positions", 1024), max_position_embeddings=r.int("n_positions", 1024))
    else:
        hidden, heads = r.int("hidden_size"), r.int("num_attention_heads")
        layers = r.int("num_hidden_layers")
        kv = r.int("num_key_value_heads", heads)
        experts = r.int("num_local_experts", 0) if "num_local_experts" in d else r.int("num_experts", 0)
        moe_inter = r.int("moe_intermediate_size", 0)
        if mtype.startswith("mixtral") and experts:
            moe_inter = moe_inter or r.int("intermediate_size")
        fields = dict(hidden_size=hidden, num_layers=layers, num_heads=heads, num_kv_heads=kv, head_dim=r.head_dim(hidden, heads),
                      intermediate_size=r.int("intermediate_size", moe_inter if experts else None), vocab_size=r.int("vocab_size"),
                      tie_embeddings=r.bool("tie_word_embeddings", False),
                      qkv_bias=r.bool("attention_bias", mtype in ("qwen2", "qwen2_moe")) or r.bool("qkv_bias", False),
                      linear_bias=r.bool("mlp_bias", False), qk_norm=mtype.startswith("qwen3") or r.bool("use_qk_norm", False),
                      max_position_embeddings=r.int("max_position_embeddings", 0))
        if experts:
            top_k = r.int("num_experts_per_tok")
            if top_k > experts:
                raise ModelLoadError(f"{where}: num_experts_per_tok {top_k} is more than the {experts} experts")
            fields.update(num_experts=experts, experts_per_token=top_k, moe_intermediate_size=moe_inter or r.int("moe_intermediate_size"),
                          shared_expert_intermediate_size=r.int("shared_expert_intermediate_size", 0),
                          moe_layers=_moe_layers(d, layers, where))
        window, window_layers = _windows(d, mtype, layers, where)
        fields.update(sliding_window=window, window_layers=window_layers)
        if heads % fields["num_kv_heads"]:
            raise ModelLoadError(f"{where}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}")
    spec = DecoderSpec(name=name, model_type=mtype or "llama", weight_dtype=_dtype(d), source=source, **fields)
    for key, limit in _LIMITS.items():
        v = getattr(spec, key)
        if not 0 <= v <= limit:
            raise ModelLoadError(f"{where}: {key} {v} is out of range (0 to {limit:,})")
    return spec


class _Reader:
    def __init__(self, d: dict[str, Any], where: str) -> None:
        self.d, self.where = d, where

    def int(self, key: str, default: int | None = None) -> int:
        v = self.d.get(key)
        if v is None:
            if default is None:
                raise ModelLoadError(f"{self.where}: no '{key}' (a decoder's config.json gives it)")
            return default
        if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 1 << 31:
            raise ModelLoadError(f"{self.where}: '{key}' is {v!r}; expected a whole number from 0 to 2^31")
        return v

    def bool(self, key: str, default: bool) -> bool:
        v = self.d.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ModelLoadError(f"{self.where}: '{key}' is {v!r}; expected true or false")
        return v

    def head_dim(self, hidden: int, heads: int) -> int:
        if heads == 0 or hidden == 0:
            raise ModelLoadError(f"{self.where}: the hidden size and the number of attention heads must be at least 1")
        explicit = self.d.get("head_dim")
        if explicit is not None:
            return self.int("head_dim")
        if hidden % heads:
            raise ModelLoadError(f"{self.where}: hidden size {hidden} is not a multiple of the {heads} attention heads (and no head_dim)")
        return hidden // heads


def _moe_layers(d: dict[str, Any], layers: int, where: str) -> int:
    """Layers with routed experts: every decoder_sparse_step-th one (Qwen-MoE), except mlp_only_layers; the first
    first_k_dense_replace are dense where a config says so."""
    step = d.get("decoder_sparse_step", 1) or 1
    dense = d.get("mlp_only_layers") or []
    if not isinstance(step, int) or isinstance(step, bool) or step < 1 or not isinstance(dense, list):
        raise ModelLoadError(f"{where}: decoder_sparse_step must be a whole number >= 1 and mlp_only_layers a list")
    first_dense = d.get("first_k_dense_replace", 0) or 0
    return sum(1 for i in range(layers) if (i + 1) % step == 0 and i not in dense and i >= first_dense)


def _windows(d: dict[str, Any], mtype: str, layers: int, where: str) -> tuple[int, int]:
    window = d.get("sliding_window")
    types = d.get("layer_types")
    if isinstance(types, list):
        n = sum(1 for t in types if t == "sliding_attention")
        if n and not (isinstance(window, int) and window > 0):
            raise ModelLoadError(f"{where}: layer_types has sliding layers but no sliding_window")
        return (window, n) if n else (0, 0)
    if not isinstance(window, int) or isinstance(window, bool) or window <= 0:
        return 0, 0
    if "use_sliding_window" in d:  # qwen2: off unless asked, then from max_window_layers up
        if not d.get("use_sliding_window"):
            return 0, 0
        start = d.get("max_window_layers", 0) or 0
        return window, max(0, layers - int(start))
    return (window, layers) if mtype.startswith("mistral") or mtype.startswith("mixtral") else (0, 0)


def _dtype(d: dict[str, Any]) -> str:
    q = d.get("quantization_config")
    if isinstance(q, dict) and "fp8" in str(q.get("quant_method", "")).lower():
        return "fp8"
    return _DTYPES.get(str(d.get("torch_dtype") or d.get("dtype") or "bfloat16"), "bf16")
