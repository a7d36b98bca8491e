"""The decoder families a config.json can name (profiles/decoder-families.toml): for each, the model_type values it
covers, its configuration class's defaults and the layer structure its model builds; and the model types refused by
kind (multi-head latent attention, recurrent, hybrid, encoder, encoder-decoder, vision) with what to do instead.
Validated once into frozen records; errors name the file and the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import AnalyzerError
from ..paths import _PKG, shipped_profiles

FILE = "decoder-families.toml"
MLP = ("gated", "plain")
NORMS = {"rms": 1, "layer": 2, "layer_nobias": 1, "none": 0}  # parameters per hidden unit of one norm
POSITIONS = ("rotary", "learned", "alibi")
QK_NORMS = ("", "head", "full")
HEAD_DIM = ("free", "derived")
WINDOWS = ("none", "all", "qwen", "alternate", "pattern")
MOE = ("", "qwen", "mixtral", "deepseek")
RULES = ("qwen1_half_intermediate", "inner_4x", "falcon", "multi_query", "chatglm", "stablelm", "use_qk_norm", "qk_layernorm")
CANONICAL = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "intermediate_size",
             "vocab_size", "max_position_embeddings")
_FLAGS = ("qkv_bias", "o_bias", "mlp_bias", "lm_head_bias", "block")


@dataclass(frozen=True)
class Flag:
    """A yes/no of the structure: fixed (`key` empty), or read from the config's `key` (absent: `default`), inverted
    where the key says the opposite (Qwen-1's no_bias)."""

    key: str = ""
    default: bool = False
    invert: bool = False


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    source: str
    tie_word_embeddings: bool
    mlp: str = "gated"
    block: Flag = Flag()  # True: parallel attention and MLP
    norm: str = "rms"
    norms_per_layer: int = 2
    positions: str = "rotary"
    qkv_bias: Flag = Flag()
    o_bias: Flag = Flag()
    mlp_bias: Flag = Flag()
    lm_head_bias: Flag = Flag()
    qk_norm: str = ""
    head_dim: str = "derived"
    windows: str = "none"
    moe: str = ""
    rules: tuple[str, ...] = ()
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    text_defaults: dict[str, Any] = field(default_factory=dict)  # sizes, inside a multimodal config's text_config only

    def names(self, canonical: str) -> tuple[str, ...]:
        """The config keys that give `canonical` (Llama's name), first present wins; () where the family has none."""
        return self.keys.get(canonical, (canonical,))


@dataclass(frozen=True)
class Refusal:
    kind: str
    what: str
    instead: str


@dataclass(frozen=True)
class Families:
    by_type: dict[str, Family]
    refused: dict[str, Refusal]
    suffixes: tuple[tuple[str, Refusal], ...]  # architectures[0] endings of refused kinds
    source: str

    def by_architecture(self, arch: str) -> Family | None:
        """The family of a class name (`Qwen2ForCausalLM`, `GPT2LMHeadModel`, `QWenLMHeadModel`): its prefix
        matched to a model_type with case, '_' and '-' ignored."""
        stem = arch
        for tail in ("ForCausalLM", "LMHeadModel", "Model"):
            if stem.endswith(tail):
                stem = stem[: -len(tail)]
                break
        key = _squash(stem)
        return next((f for t, f in self.by_type.items() if _squash(t) == key), None) if key else None

    def refusal_by_architecture(self, arch: str) -> Refusal | None:
        return next((r for suffix, r in self.suffixes if arch.endswith(suffix)), None)


def _squash(s: str) -> str:
    return s.lower().replace("_", "").replace("-", "")


@lru_cache(maxsize=4)
def load(folder: str = "") -> Families:
    """The families of `folder`/decoder-families.toml (default: the shipped profiles)."""
    from ..files import read_toml

    path = Path(folder or shipped_profiles()) / FILE
    if not folder and not path.is_file():  # a NAS_ANALYZER_PROFILES folder of hardware only: the package's own table
        path = next((p / FILE for p in (_PKG / "_profiles", _PKG.parent / "profiles") if (p / FILE).is_file()), path)
    data = read_toml(path, AnalyzerError)
    where = str(path)
    fams = data.get("family")
    if not isinstance(fams, dict) or not fams:
        raise AnalyzerError(f"{where}: no [family.*] tables")
    by_type: dict[str, Family] = {}
    for name, t in fams.items():
        fam = _family(name, t, f"{where} [family.{name}]")
        for mt in fam.model_types:
            if mt in by_type:
                raise AnalyzerError(f"{where} [family.{name}]: model_type '{mt}' is also in family '{by_type[mt].name}'")
            by_type[mt] = fam
    refused: dict[str, Refusal] = {}
    suffixes: list[tuple[str, Refusal]] = []
    kinds = data.get("refuse", {})
    for kind, t in kinds.items():
        if kind == "suffixes":
            continue
        r = Refusal(kind, _str(t, "what", f"{where} [refuse.{kind}]"), _str(t, "instead", f"{where} [refuse.{kind}]"))
        for mt in _strs(t, "model_types", f"{where} [refuse.{kind}]"):
            if mt in by_type or mt in refused:
                raise AnalyzerError(f"{where} [refuse.{kind}]: model_type '{mt}' is listed twice")
            refused[mt] = r
    for kind, ends in kinds.get("suffixes", {}).items():
        r = next((x for x in refused.values() if x.kind == kind), None)
        if r is None:
            raise AnalyzerError(f"{where} [refuse.suffixes]: '{kind}' is not a refused kind ({', '.join(sorted(kinds))})")
        suffixes += [(str(e), r) for e in ends]
    return Families(by_type, refused, tuple(suffixes), where)


def _family(name: str, t: dict[str, Any], where: str) -> Family:
    kw: dict[str, Any] = {"name": name, "model_types": tuple(_strs(t, "model_types", where)), "source": _str(t, "source", where)}
    tie = t.get("tie_word_embeddings")
    if not isinstance(tie, bool):
        raise AnalyzerError(f"{where}: tie_word_embeddings must be true or false (the configuration class's default)")
    kw["tie_word_embeddings"] = tie
    for key, choices in (("mlp", MLP), ("norm", tuple(NORMS)), ("positions", POSITIONS), ("qk_norm", QK_NORMS),
                         ("head_dim", HEAD_DIM), ("windows", WINDOWS), ("moe", MOE)):
        if key in t:
            if t[key] not in choices:
                raise AnalyzerError(f"{where}: {key} '{t[key]}' is not one of {', '.join(repr(c) for c in choices)}")
            kw[key] = t[key]
    if "norms_per_layer" in t:
        n = t["norms_per_layer"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 8:
            raise AnalyzerError(f"{where}: norms_per_layer must be a whole number from 1 to 8")
        kw["norms_per_layer"] = n
    for key in _FLAGS:
        if key in t:
            kw[key] = _flag(t[key], key, where)
    rules = tuple(_strs(t, "rules", where, required=False))
    bad = [r for r in rules if r not in RULES]
    if bad:
        raise AnalyzerError(f"{where}: rules {bad} unknown (known: {', '.join(RULES)})")
    kw["rules"] = rules
    keys = t.get("keys", {})
    for k, v in keys.items():
        if k not in CANONICAL or not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise AnalyzerError(f"{where}: keys.{k} must be one of {', '.join(CANONICAL)} with a list of config keys")
    kw["keys"] = {k: tuple(v) for k, v in keys.items()}
    for key in ("defaults", "text_defaults"):
        v = t.get(key, {})
        if not isinstance(v, dict):
            raise AnalyzerError(f"{where}: {key} must be a table of config keys and values")
        kw[key] = dict(v)
    return Family(**kw)


def _flag(v: Any, key: str, where: str) -> Flag:
    if isinstance(v, bool):
        return Flag(default=v)
    if v == "parallel" or v == "sequential":
        return Flag(default=v == "parallel")
    if isinstance(v, dict) and isinstance(v.get("key"), str) and isinstance(v.get("default"), bool):
        return Flag(v["key"], v["default"], bool(v.get("invert", False)))
    raise AnalyzerError(f"{where}: {key} must be true, false or {{key = \"...\", default = true|false}}")


def _str(t: dict[str, Any], key: str, where: str) -> str:
    v = t.get(key)
    if not isinstance(v, str) or not v:
        raise AnalyzerError(f"{where}: no '{key}' (text)")
    return v


def _strs(t: dict[str, Any], key: str, where: str, required: bool = True) -> list[str]:
    v = t.get(key, None if required else [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v) or (required and not v):
        raise AnalyzerError(f"{where}: '{key}' must be a list of names")
    return v
