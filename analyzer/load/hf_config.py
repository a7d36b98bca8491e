"""A decoder from its Hugging Face config.json, without weights, read as its family's configuration class reads it:
`model_type` (else `architectures`) picks the family (profiles/decoder-families.toml: Llama, Mistral, Mixtral, Qwen
1/2/3 and their MoE, Gemma 1/2/3, Phi 1/2/3/4, GPT-2, GPT-J, GPT-NeoX, Falcon, StarCoder2, GPTBigCode, Cohere, OLMo
1/2, InternLM 1/2, Baichuan, ChatGLM, DeepSeekMoE, StableLM), whose table gives the keys' names, the class's
defaults for keys a config leaves out (tied embeddings for Gemma, Cohere, StarCoder2), the MLP (gated or plain), the
block (sequential or parallel), the norms and biases, the positions, the windows and the experts. The result is a
`DecoderSpec`.

A config is checked as a model, not field by field: every count is a whole number in its range (the layer count
before anything is counted per layer), lists are bounded by the layer count before they are read, and the
fields agree with each other (heads a multiple of the key/value heads, at most as many experts per token as experts,
one layer_types entry per layer). Model types this tool does not model (multi-head latent attention, recurrent,
hybrid linear attention, encoders, encoder-decoders, vision) are refused by name with what to do instead. An unknown
model_type whose keys are Llama's is priced as Llama, with a note saying so. A config nested under text_config (a
multimodal model's language part) is read from there, with a note that the rest is not counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from ..records import DecoderSpec
from . import decoder_families
from .decoder_families import Family, Flag
from .small_files import read_bounded

MAX_CONFIG_BYTES = 4 << 20  # a config.json is a few kB; a larger file is not one
MAX_LAYERS = 10_000
_MAX = {"hidden_size": 1 << 20, "num_attention_heads": 16_384, "head_dim": 65_536,
        "intermediate_size": 1 << 24, "vocab_size": 1 << 24, "max_position_embeddings": 1 << 31}
_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32"}
_MLA = ("kv_lora_rank", "q_lora_rank")
_LLAMA_KEYS = ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "vocab_size")
_LAYER_KINDS = ("full_attention", "sliding_attention")
_SIZES = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size", "vocab_size")
_EXPERT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
_GATED_ACTS = ("silu", "swish", "swiglu")  # Llama's MLP: SiLU-gated; relu2, gelu, xielu MLPs are built otherwise
_RECURRENT_KEYS = ("time_step_rank", "conv_kernel", "ssm_cfg", "rescale_every")  # Mamba, RWKV: a state, not a cache
_HYBRID_KEYS = ("full_attention_interval", "linear_num_key_heads", "linear_num_value_heads", "attn_layer_period",
                "attn_layer_indices", "mamba_d_state", "ssm_state_size", "layers_block_type", "hybrid_override_pattern")


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
    from ..files import MAX_DEPTH, too_deep

    try:
        d = json.loads(text)
    except RecursionError:
        d = None
    except ValueError as e:  # JSONDecodeError, and Python's limit on the digits of an integer read from text
        why = e.msg if isinstance(e, json.JSONDecodeError) else "a number of more than 4,300 digits"
        raise ModelLoadError(f"{source}: not valid JSON ({why})") from None
    if d is None or too_deep(d):
        raise ModelLoadError(f"{source}: not valid JSON (nested too deeply: at most {MAX_DEPTH} levels)")
    if not isinstance(d, dict):
        raise ModelLoadError(f"{source}: a config.json holds a JSON object, not {type(d).__name__}")
    return spec_from_dict(d, name, source)


def spec_from_dict(d: dict[str, Any], name: str, source: str = "") -> DecoderSpec:
    """The decoder a config dict describes (see the module docstring)."""
    where = source or name
    if not isinstance(d, dict):
        raise ModelLoadError(f"{where}: a config holds a JSON object, not {type(d).__name__}")
    notes: list[str] = []
    nested = isinstance(d.get("text_config"), dict)
    if nested:
        outer = d.get("model_type")
        d = {**d["text_config"], "torch_dtype": d["text_config"].get("torch_dtype", d.get("torch_dtype"))}
        d.setdefault("model_type", outer)
        notes.append(f"read from text_config (the language model of a {_name(str(outer))} config): its vision or audio parts are "
                     "not counted")
    elif isinstance(d.get("vision_config"), dict):
        notes.append("its vision tower (vision_config) is not counted: the language model only")
    fam, mtype = _family_of(d, where, notes)
    r = _Reader(d, where, fam, nested)
    fields = _shape(r, fam)
    fields.update(_moe(r, fam, fields["num_layers"], fields["intermediate_size"]))
    fields.update(_windows(r, fam, fields["num_layers"]))
    if r.defaulted:
        cls = fam.source.split(",")[0]
        notes.append(f"{', '.join(sorted(r.defaulted))} not in the config: {cls}'s defaults used")
    return DecoderSpec(name=name, model_type=mtype or fam.name, weight_dtype=_dtype(d), source=source, family=fam.name,
                       notes=tuple(notes), **fields)


def _family_of(d: dict[str, Any], where: str, notes: list[str]) -> tuple[Family, str]:
    """The family a config belongs to, or a one-line refusal saying what it is and what to do instead."""
    fams = decoder_families.load()
    mtype = d.get("model_type")
    if mtype is not None and not isinstance(mtype, str):
        raise ModelLoadError(f"{where}: 'model_type' is {_show(mtype)}; expected a name (llama, qwen2, gemma2, ...)")
    mtype = mtype or ""
    archs = d.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else ""
    shown = _name(mtype or arch)
    refusal = fams.refused.get(mtype)
    if any(d.get(k) is not None for k in _MLA):
        refusal = refusal or next(r for r in fams.refused.values() if r.kind == "mla")
    if refusal is None and mtype not in fams.by_type:
        refusal = fams.refusal_by_architecture(arch) if arch else None
        for kind, keys in (("hybrid", _HYBRID_KEYS), ("recurrent", _RECURRENT_KEYS)):  # Qwen3-Next, Jamba; Mamba, RWKV
            if refusal is None and any(d.get(k) is not None for k in keys):
                refusal = next(r for r in fams.refused.values() if r.kind == kind)
    if refusal is not None:
        raise ModelLoadError(f"{where}: model_type {shown} is {refusal.what}: not priced from a config; {refusal.instead}")
    if mtype in fams.by_type:
        return fams.by_type[mtype], mtype
    by_arch = fams.by_architecture(arch) if arch else None
    said = f"model_type {_name(mtype)}" if mtype else "no model_type"
    if by_arch is not None:
        notes.append(f"{said}: read as {by_arch.name} by its architectures ({_name(arch)})")
        return by_arch, mtype
    experts = next((k for k in _EXPERT_KEYS if d.get(k)), None)
    if experts is not None:  # priced as a dense Llama it would be wrong by the experts' weights
        raise ModelLoadError(f"{where}: {said} has routed experts ('{experts}') but is not a family this tool knows, so where "
                             "its experts sit is unknown: give a known model_type (mixtral, qwen2_moe, qwen3_moe, deepseek)")
    act = next((d[k] for k in ("hidden_act", "hidden_activation", "activation_function") if d.get(k) is not None), "silu")
    if all(d.get(k) is not None for k in _LLAMA_KEYS) and act not in _GATED_ACTS:
        raise ModelLoadError(f"{where}: {said} is not a family this tool knows, and its MLP activation {_show(act)} is not "
                             "Llama's SiLU-gated one, so its MLP's shape is unknown: not priced from a config")
    if all(d.get(k) is not None for k in _LLAMA_KEYS):
        notes.append(f"{said} is not a family this tool knows; its keys are Llama's, so it is priced as Llama (a SwiGLU "
                     "MLP, RMSNorm, no biases, untied embeddings unless tie_word_embeddings says so): check its published size")
        return fams.by_type["llama"], mtype
    known = ", ".join(sorted({f.name for f in fams.by_type.values()}))
    raise ModelLoadError(f"{where}: {said} is not a decoder family this tool reads ({known}), and its keys are not "
                         "Llama's (hidden_size, num_attention_heads, num_hidden_layers, intermediate_size, vocab_size)")


class _Reader:
    """The config's values under the family's key names, with the family's defaults, each checked as it is read."""

    def __init__(self, d: dict[str, Any], where: str, fam: Family, nested: bool = False) -> None:
        self.d, self.where, self.fam = d, where, fam
        self.defaults = {**fam.text_defaults, **fam.defaults} if nested else fam.defaults
        self.defaulted: set[str] = set()  # sizes the class's defaults gave (said in a note)

    def _find(self, names: tuple[str, ...]) -> tuple[str, Any]:
        for k in names:
            if self.d.get(k) is not None:
                return k, self.d[k]
        for k in names:
            if self.defaults.get(k) is not None:
                if k in _SIZES:
                    self.defaulted.add(k)
                return k, self.defaults[k]
        return (names[0] if names else ""), None

    def int(self, key: str, default: int | None = None, lo: int = 1, hi: int = 1 << 31, canonical: bool = True) -> int:
        names = self.fam.names(key) if canonical else (key,)
        k, v = self._find(names)
        if v is None:
            if default is None:
                raise ModelLoadError(f"{self.where}: no '{k or key}' (a {self.fam.name} config.json gives it)")
            return default
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ModelLoadError(f"{self.where}: '{k}' is {_show(v)}; expected a whole number from {lo:,} to {hi:,}")
        return v

    def bool(self, key: str, default: bool) -> bool:
        v = self.d.get(key)
        if v is None:
            v = self.defaults.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ModelLoadError(f"{self.where}: '{key}' is {_show(v)}; expected true or false")
        return v

    def flag(self, f: Flag) -> bool:
        return f.default if not f.key else self.bool(f.key, f.default) != f.invert

    def layer_list(self, key: str, layers: int) -> set[int]:
        """A list of layer indices (mlp_only_layers), its length bounded by the layer count before it is read."""
        v = self.d.get(key)
        if v is None:
            return set()
        if not isinstance(v, list) or len(v) > layers:
            raise ModelLoadError(f"{self.where}: '{key}' must be a list of at most {layers:,} layer indices (one per layer), "
                                 f"not {_show(v) if not isinstance(v, list) else f'a list of {len(v):,}'}")
        bad = next((i for i in v if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < layers), None)
        if bad is not None or None in v:
            raise ModelLoadError(f"{self.where}: '{key}' holds {_show(bad)}; expected layer indices from 0 to {layers - 1}")
        return set(v)


@dataclass
class _Layout:
    """What the family's rules may change, as they read their own keys (see _RULES)."""

    heads: int
    kv: int
    parallel: bool
    norms: int
    norm: str
    qk_norm: str
    positions: str
    inter: int


def _multi_query(r: _Reader, x: _Layout) -> None:  # GPTBigCode: one key/value head unless multi_query is false
    x.kv = 1 if r.bool("multi_query", True) else x.heads


def _falcon(r: _Reader, x: _Layout) -> None:
    """Falcon: parallel_attn with one LayerNorm; new_decoder_architecture: num_kv_heads groups and two LayerNorms
    (num_ln_in_parallel_attn); otherwise multi_query (one key/value head, the default) or as many as the heads."""
    x.parallel = r.bool("parallel_attn", True)
    if r.bool("new_decoder_architecture", False):
        kv_key = "num_kv_heads" if r.d.get("num_kv_heads") is not None else "n_head_kv"
        x.kv = r.int(kv_key, x.heads, hi=x.heads, canonical=False)
        x.norms = r.int("num_ln_in_parallel_attn", 2, hi=2, canonical=False) if x.parallel else 2
    else:
        x.kv = 1 if r.bool("multi_query", True) else x.heads
        x.norms = 1 if x.parallel else 2
    x.positions = "alibi" if r.bool("alibi", False) else "rotary"


def _chatglm(r: _Reader, x: _Layout) -> None:  # key/value groups only with multi_query_attention; rmsnorm or LayerNorm
    if r.bool("multi_query_attention", False):
        x.kv = r.int("multi_query_group_num", hi=x.heads, canonical=False)
    x.norm = "rms" if r.bool("rmsnorm", True) else "layer"


def _stablelm(r: _Reader, x: _Layout) -> None:  # a parallel block keeps one norm; per-head q/k LayerNorms, no bias
    x.parallel = r.bool("use_parallel_residual", False)
    x.norms = 1 if x.parallel else 2
    x.qk_norm = "full" if r.bool("qk_layernorm", False) else ""


def _use_qk_norm(r: _Reader, x: _Layout) -> None:  # Cohere: LayerNorms over every query and key/value head
    x.qk_norm = "full" if r.bool("use_qk_norm", False) else x.qk_norm


def _qk_layernorm(r: _Reader, x: _Layout) -> None:  # Phi: one LayerNorm over head_dim for q and one for k
    x.qk_norm = "head" if r.bool("qk_layernorm", False) else x.qk_norm


def _qwen1_half_intermediate(r: _Reader, x: _Layout) -> None:  # Qwen-1 writes twice the gated width (w1, w2 each half)
    if x.inter % 2:
        raise ModelLoadError(f"{r.where}: intermediate_size {x.inter} is odd; Qwen-1 gives twice the gated MLP's width")
    x.inter //= 2


# the family table's `rules`, each reading the keys only its family has; inner_4x is read with intermediate_size
_RULES = {"multi_query": _multi_query, "falcon": _falcon, "chatglm": _chatglm, "stablelm": _stablelm,
          "use_qk_norm": _use_qk_norm, "qk_layernorm": _qk_layernorm, "qwen1_half_intermediate": _qwen1_half_intermediate,
          "inner_4x": lambda r, x: None}


def _shape(r: _Reader, fam: Family) -> dict[str, Any]:
    """Widths, depth, heads, MLP, vocabulary, norms, biases and positions, with the family's rules applied."""
    hidden = r.int("hidden_size", hi=_MAX["hidden_size"])
    layers = r.int("num_hidden_layers", hi=MAX_LAYERS)  # first: everything per layer is bounded by it
    heads = r.int("num_attention_heads", hi=_MAX["num_attention_heads"])
    kv = r.int("num_key_value_heads", heads, hi=heads) if fam.names("num_key_value_heads") else heads
    inter = r.int("intermediate_size", 4 * hidden if "inner_4x" in fam.rules else (0 if fam.moe == "qwen" else None), lo=0,
                  hi=_MAX["intermediate_size"])
    x = _Layout(heads, kv, r.flag(fam.block), fam.norms_per_layer, fam.norm, fam.qk_norm, fam.positions, inter)
    for rule in fam.rules:
        _RULES[rule](r, x)
    if heads % x.kv:
        raise ModelLoadError(f"{r.where}: num_attention_heads {heads} is not a multiple of num_key_value_heads {x.kv}")
    learned = r.int("max_position_embeddings", hi=_MAX["max_position_embeddings"]) if x.positions == "learned" else 0
    return dict(hidden_size=hidden, num_layers=layers, num_heads=heads, num_kv_heads=x.kv, head_dim=_head_dim(r, fam, hidden, heads),
                intermediate_size=x.inter, vocab_size=r.int("vocab_size", hi=_MAX["vocab_size"]),
                tie_embeddings=r.bool("tie_word_embeddings", fam.tie_word_embeddings), gated_mlp=fam.mlp == "gated", norm=x.norm,
                norms_per_layer=x.norms, parallel_block=x.parallel, qkv_bias=r.flag(fam.qkv_bias), o_bias=r.flag(fam.o_bias),
                mlp_bias=r.flag(fam.mlp_bias), lm_head_bias=r.flag(fam.lm_head_bias), qk_norm=x.qk_norm, learned_positions=learned,
                max_position_embeddings=r.int("max_position_embeddings", 0, lo=0, hi=_MAX["max_position_embeddings"]))


def _head_dim(r: _Reader, fam: Family, hidden: int, heads: int) -> int:
    names = fam.names("head_dim")
    key, given = r._find(names)
    if fam.head_dim == "free" and given is not None:
        return r.int("head_dim", hi=_MAX["head_dim"])
    if hidden % heads:
        raise ModelLoadError(f"{r.where}: hidden_size {hidden} is not a multiple of the {heads} attention heads (and no head_dim)")
    if given is not None and given != hidden // heads:
        raise ModelLoadError(f"{r.where}: '{key}' is {_show(given)}, but {fam.name} derives it as hidden_size / num_attention_heads "
                             f"= {hidden // heads}")
    return hidden // heads


def _moe(r: _Reader, fam: Family, layers: int, inter: int) -> dict[str, Any]:
    """Routed experts: how many, how many a token uses, their width, the shared expert and the layers that have them."""
    if fam.moe == "":
        return {}
    if fam.moe == "deepseek" and r.d.get("n_routed_experts") is None:
        return {}  # a DeepSeek config without routed experts is dense
    key = {"qwen": "num_experts", "mixtral": "num_local_experts", "deepseek": "n_routed_experts"}[fam.moe]
    experts = r.int(key, hi=65_536, canonical=False)
    top_k = r.int("num_experts_per_tok", lo=0, hi=1 << 31, canonical=False)
    if top_k > experts:
        raise ModelLoadError(f"{r.where}: num_experts_per_tok {top_k} is more than the {experts} experts")
    if top_k == 0:
        raise ModelLoadError(f"{r.where}: num_experts_per_tok is 0; a token is routed to 1 to {experts} experts")
    out: dict[str, Any] = dict(num_experts=experts, experts_per_token=top_k)
    if fam.moe == "mixtral":  # every layer routed, each expert an MLP of intermediate_size
        if inter == 0:
            raise ModelLoadError(f"{r.where}: intermediate_size is 0; Mixtral's experts are MLPs of that width")
        return out | dict(moe_intermediate_size=inter, moe_layers=layers)
    moe_inter = r.int("moe_intermediate_size", hi=_MAX["intermediate_size"], canonical=False)
    if fam.moe == "qwen":
        step = r.int("decoder_sparse_step", 1, canonical=False)
        dense = r.layer_list("mlp_only_layers", layers)
        moe_layers = sum(1 for i in range(layers) if (i + 1) % step == 0 and i not in dense)
        shared = r.int("shared_expert_intermediate_size", 0, lo=0, hi=_MAX["intermediate_size"], canonical=False)
        gate = True
    else:  # deepseek: the first first_k_dense_replace layers dense, then every moe_layer_freq-th routed
        first = r.int("first_k_dense_replace", 0, lo=0, canonical=False)
        freq = r.int("moe_layer_freq", 1, canonical=False)
        moe_layers = sum(1 for i in range(min(first, layers), layers) if i % freq == 0)
        shared = r.int("n_shared_experts", 0, lo=0, hi=65_536, canonical=False) * moe_inter
        gate = False
    if moe_layers < layers and inter == 0:
        raise ModelLoadError(f"{r.where}: {layers - moe_layers} dense layers but no intermediate_size for their MLP")
    return out | dict(moe_intermediate_size=moe_inter, shared_expert_intermediate_size=shared, shared_expert_gate=gate,
                      moe_layers=moe_layers)


def _windows(r: _Reader, fam: Family, layers: int) -> dict[str, int]:
    """The sliding window and the layers that use it: layer_types where given, else the family's pattern."""
    d = r.d
    present = "sliding_window" in d
    raw = d.get("sliding_window") if present else r.defaults.get("sliding_window")
    if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 1 << 31):
        raise ModelLoadError(f"{r.where}: 'sliding_window' is {_show(raw)}; expected a whole number of positions from 1 to "
                             "2^31, or null")
    window = raw or 0
    types = d.get("layer_types")
    if types is not None:
        if not isinstance(types, list) or len(types) != layers:
            got = f"a list of {len(types):,}" if isinstance(types, list) else _show(types)
            raise ModelLoadError(f"{r.where}: 'layer_types' must list one entry per layer ({layers:,}), not {got}")
        other = next((t for t in types if t not in _LAYER_KINDS), None)
        if other is not None:
            what = "a hybrid with linear-attention layers, which this tool does not model" if "linear" in str(other) else \
                "not modelled (full_attention and sliding_attention are)"
            raise ModelLoadError(f"{r.where}: 'layer_types' has {_show(other)} layers: {what}")
        n = sum(1 for t in types if t == "sliding_attention")
        if n and not window:
            raise ModelLoadError(f"{r.where}: layer_types has sliding layers but no sliding_window")
        return dict(sliding_window=window if n else 0, window_layers=n)
    if not window or fam.windows == "none":
        return dict(sliding_window=0, window_layers=0)
    if fam.windows == "all":
        n = layers
    elif fam.windows == "qwen":  # off unless use_sliding_window; then on the layers from max_window_layers up
        start = r.int("max_window_layers", 0, lo=0, canonical=False)
        n = layers - min(start, layers) if r.bool("use_sliding_window", False) else 0
    elif fam.windows == "alternate":  # Gemma-2: layers 0, 2, 4, ... slide
        n = (layers + 1) // 2
    else:  # Gemma-3: each sliding_window_pattern-th layer attends fully, the others slide
        n = layers - layers // r.int("sliding_window_pattern", lo=1, hi=MAX_LAYERS, canonical=False)
    return dict(sliding_window=window if n else 0, window_layers=n)


def _name(s: str) -> str:
    """A name from the config as a message shows it: quoted, printable, at most 40 characters."""
    return _show(s) if len(s) > 40 or not s.isprintable() else f"'{s}'"


def _show(v: Any) -> str:
    """A value as an error shows it: short, on one line."""
    text = repr(v) if not isinstance(v, (list, dict)) else f"a {type(v).__name__} of {len(v):,}"
    return text if len(text) <= 40 else text[:37] + "..."


def _dtype(d: dict[str, Any]) -> str:
    q = d.get("quantization_config")
    if isinstance(q, dict) and "fp8" in str(q.get("quant_method", "")).lower():
        return "fp8"
    return _DTYPES.get(str(d.get("torch_dtype") or d.get("dtype") or "bfloat16"), "bf16")
