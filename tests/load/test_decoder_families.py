"""Every decoder family as its config defines it (issue #40): real config.json files of public decoders
(tests/data/decoder_configs/SOURCES.toml gives each one's source, licence and published size) give their published
parameter counts, total and active, and the KV cache per token of their published architecture; model types the
tool does not model are refused by name; class defaults, MLP kinds, blocks, norms and key names are read per family
(closed forms on small configs)."""

import json
import re
import tomllib
from pathlib import Path

import pytest

from analyzer.count.decoder_graph import graph, kv_bytes_per_token, params
from analyzer.errors import AnalyzerError
from analyzer.load.decoder_families import load
from analyzer.load.hf_config import read_config, spec_from_dict

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "decoder_configs"
SOURCES = tomllib.loads((DATA / "SOURCES.toml").read_text())


def _file(key: str, entry: dict) -> Path:
    if "path" in entry:
        return ROOT / entry["path"]
    return DATA / entry.get("file", f"{key}.json")


def _published(text: str) -> tuple[float, float]:
    """A published figure and half a unit of its last digit: '6.74B' -> (6.74e9, 0.005e9); '124,439,808' exact."""
    m = re.fullmatch(r"([\d.,]+)\s*([MB]?)", text)
    assert m, text
    digits, unit = m.group(1).replace(",", ""), {"": 1, "M": 1e6, "B": 1e9}[m.group(2)]
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return float(digits) * unit, (0.5 * 10.0 ** -decimals * unit if unit != 1 else 0.0)


def _agrees(ours: float, text: str, truncated: bool = False) -> bool:
    """Within 0.5% of the published figure, or, where the publisher rounds coarser than that, within its rounding
    (`truncated`: where it cuts the digits, from the figure up to one unit of its last digit)."""
    value, half_unit = _published(text)
    if truncated:
        return value <= ours < value + 2 * half_unit
    return abs(ours - value) <= max(0.005 * value, half_unit)


CONFIGS = sorted(SOURCES["config"].items())


@pytest.mark.parametrize("key, entry", CONFIGS, ids=[k for k, _ in CONFIGS])
def test_real_configs_give_their_published_sizes_and_cache(key, entry):
    spec = read_config(_file(key, entry))
    assert spec.family == entry["family"] and not spec.notes
    total, active = params(spec)
    pub = entry["published"]
    assert _agrees(total, pub["total"]), f"{key}: {total:,} against {pub['total']} ({entry['where']})"
    cut = entry.get("truncated", [])
    assert _agrees(active, pub.get("active", pub["total"]), "active" in cut), f"{key}: active {active:,} against {pub.get('active')}"
    if "non_embedding" in pub:
        embedding = spec.vocab_size * spec.hidden_size * (1 if spec.tie_embeddings else 2)
        assert _agrees(total - embedding, pub["non_embedding"]), f"{key}: non-embedding {total - embedding:,}"
    layers, kv_heads, head_dim = entry["kv"]
    assert kv_bytes_per_token(spec, 2) == 2 * 2 * layers * kv_heads * head_dim
    if "window" in entry:
        assert [spec.sliding_window, spec.window_layers] == entry["window"]


def test_the_real_configs_cover_the_families_of_the_issue():
    covered = {e["family"] for e in SOURCES["config"].values()}
    wanted = {"llama", "mistral", "mixtral", "qwen", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3",
              "phi-msft", "phi3", "gpt2", "gptj", "gpt_neox", "falcon", "starcoder2", "gpt_bigcode", "cohere", "olmo2",
              "internlm2", "baichuan", "chatglm", "deepseek", "stablelm"}
    assert wanted <= covered, wanted - covered
    for key, e in SOURCES["config"].items():  # every file says where it came from and under which licence
        assert e.get("where") and e.get("model_licence") and _file(key, e).is_file()


@pytest.mark.parametrize("key", sorted(SOURCES["refused"]))
def test_real_configs_of_other_kinds_are_refused_by_name(key):
    e = SOURCES["refused"][key]
    with pytest.raises(AnalyzerError) as err:
        read_config(DATA / f"{key}.json")
    msg = str(err.value)
    assert f"model_type '{e['model_type']}'" in msg and e["phrase"] in msg and "\n" not in msg


@pytest.mark.parametrize("cfg, phrase", [
    ({"model_type": "t5", "d_model": 512, "num_layers": 6, "vocab_size": 32128}, "an encoder-decoder"),
    ({"model_type": "bart", "d_model": 768, "encoder_layers": 6}, "an encoder-decoder"),
    ({"model_type": "roberta", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
      "vocab_size": 50265}, "an encoder"),
    ({"model_type": "vit", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12}, "a vision model"),
    ({"model_type": "clip", "text_config": {}, "vision_config": {}}, "a vision model"),
    ({"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24, "vocab_size": 50280}, "a recurrent model"),
    ({"model_type": "qwen3_next", "hidden_size": 2048, "num_hidden_layers": 48, "num_attention_heads": 16}, "hybrid"),
    ({"model_type": "deepseek_v3", "hidden_size": 7168, "kv_lora_rank": 512}, "multi-head latent attention"),
    ({"architectures": ["BertForMaskedLM"], "hidden_size": 768}, "an encoder"),
    ({"model_type": "mystery", "n_embd": 768, "n_layer": 12}, "not a decoder family this tool reads"),
    ({"model_type": "mystery_next", "hidden_size": 2048, "num_hidden_layers": 48, "num_attention_heads": 16, "intermediate_size": 5120,
      "vocab_size": 151936, "full_attention_interval": 4, "linear_num_value_heads": 32}, "hybrid"),
    ({"model_type": "minicpm", "hidden_size": 2304, "num_hidden_layers": 40, "num_attention_heads": 36, "intermediate_size": 5760,
      "vocab_size": 122753, "num_experts": 8, "num_experts_per_tok": 2}, "has routed experts ('num_experts')"),
])
def test_other_model_kinds_are_refused_by_name_with_what_to_do(cfg, phrase):
    with pytest.raises(AnalyzerError) as e:
        spec_from_dict(cfg, "m", "m.json")
    msg = str(e.value)
    assert phrase in msg and "\n" not in msg and msg.startswith("m.json")
    if "encoder" in phrase or "vision" in phrase:
        assert "ONNX" in msg


LLAMA = dict(model_type="llama", hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=100)
H, I, L, V, KV = 64, 96, 3, 100, 2 * 16  # kv width: 2 heads of 16


def _layer(attn: int, mlp: int, norms: int) -> int:
    return L * (attn + mlp + norms)


@pytest.mark.parametrize("cfg, expected", [
    # Llama: q, k, v, o; SwiGLU; two RMSNorms; final norm; untied head
    (LLAMA, _layer(H * (H + 2 * KV) + H * H, 3 * H * I, 2 * H) + H + 2 * V * H),
    # an unknown type with Llama's keys: the same count, with a note
    ({**LLAMA, "model_type": "my_llama"}, _layer(H * (H + 2 * KV) + H * H, 3 * H * I, 2 * H) + H + 2 * V * H),
    # Gemma: the class ties the embeddings; Gemma-2: four norms a layer
    ({**LLAMA, "model_type": "gemma", "head_dim": 16}, _layer(H * (H + 2 * KV) + H * H, 3 * H * I, 2 * H) + H + V * H),
    ({**LLAMA, "model_type": "gemma2", "head_dim": 16}, _layer(H * (H + 2 * KV) + H * H, 3 * H * I, 4 * H) + H + V * H),
    # StarCoder2: plain GELU MLP, biases everywhere, LayerNorm (weight and bias), tied
    ({**LLAMA, "model_type": "starcoder2"}, _layer(H * (H + 2 * KV) + (H + 2 * KV) + H * H + H, 2 * H * I + I + H, 4 * H) + 2 * H + V * H),
    # Cohere: parallel block with one bias-free LayerNorm, tied
    ({**LLAMA, "model_type": "cohere"}, _layer(H * (H + 2 * KV) + H * H, 3 * H * I, H) + H + V * H),
    # OLMo: a LayerNorm without parameters
    ({**LLAMA, "model_type": "olmo"}, _layer(H * (H + 2 * KV) + H * H, 3 * H * I, 0) + 2 * V * H),
    # Qwen2: q, k and v biases
    ({**LLAMA, "model_type": "qwen2"}, _layer(H * (H + 2 * KV) + (H + 2 * KV) + H * H, 3 * H * I, 2 * H) + H + 2 * V * H),
    # Qwen-1: intermediate_size is twice the gated width; c_attn's bias; no key/value grouping
    ({**LLAMA, "model_type": "qwen", "num_key_value_heads": None, "intermediate_size": 2 * I},
     _layer(H * 3 * H + 3 * H + H * H, 3 * H * I, 2 * H) + H + 2 * V * H),
    # GPT-J: no attention biases, MLP biases, one LayerNorm, LM head bias, untied; n_inner absent: 4 x n_embd
    ({"model_type": "gptj", "n_embd": H, "n_layer": L, "n_head": 4, "vocab_size": V},
     _layer(4 * H * H, 2 * H * 4 * H + 4 * H + H, 2 * H) + 2 * H + 2 * V * H + V),
    # GPTBigCode: multi_query (one key/value head) by default, learned positions, tied
    ({"model_type": "gpt_bigcode", "n_embd": H, "n_layer": L, "n_head": 4, "vocab_size": V, "n_positions": 32},
     _layer(H * (H + 2 * 16) + (H + 2 * 16) + H * H + H, 2 * H * 4 * H + 4 * H + H, 4 * H) + 2 * H + V * H + 32 * H),
    # Falcon (RW): multi_query, parallel_attn with one LayerNorm, no biases, tied, 4 x hidden MLP
    ({"model_type": "RefinedWebModel", "hidden_size": H, "n_layer": L, "n_head": 4, "vocab_size": V},
     _layer(H * (H + 2 * 16) + H * H, 2 * H * 4 * H, 2 * H) + 2 * H + V * H),
    # ChatGLM: num_layers, ffn_hidden_size (gated), kv_channels, multi_query_group_num, padded_vocab_size
    ({"model_type": "chatglm", "hidden_size": H, "num_layers": L, "num_attention_heads": 4, "kv_channels": 16, "ffn_hidden_size": I,
      "multi_query_attention": True, "multi_query_group_num": 2, "padded_vocab_size": V, "add_qkv_bias": True},
     _layer(H * (H + 2 * KV) + (H + 2 * KV) + H * H, 3 * H * I, 2 * H) + H + 2 * V * H),
])
def test_family_structures_in_closed_form(cfg, expected):
    spec = spec_from_dict(cfg, "m", "m.json")
    assert params(spec) == (expected, expected)
    assert bool(spec.notes) == (cfg.get("model_type") == "my_llama")


def test_deepseek_moe_keys_shared_experts_and_dense_first_layers():
    cfg = {**LLAMA, "model_type": "deepseek", "num_key_value_heads": 4, "n_routed_experts": 8, "n_shared_experts": 2,
           "num_experts_per_tok": 2, "moe_intermediate_size": 24, "first_k_dense_replace": 1, "moe_layer_freq": 1}
    s = spec_from_dict(cfg, "d")
    assert (s.num_experts, s.experts_per_token, s.moe_layers, s.shared_expert_intermediate_size) == (8, 2, 2, 48)
    attn, norms = H * 3 * H + H * H, 2 * H
    moe_common = H * 8 + 3 * H * 48  # router, two shared experts as one MLP of twice the width, no gate
    base = L * (attn + norms) + 3 * H * I + 2 * moe_common + H + 2 * V * H
    assert params(s) == (base + 2 * 8 * 3 * H * 24, base + 2 * 2 * 3 * H * 24)
    assert not any(op.name == "shared_expert_gate" for op in graph(s))


def test_window_patterns_per_family():
    g2 = spec_from_dict({**LLAMA, "model_type": "gemma2", "num_hidden_layers": 5, "head_dim": 16}, "g")
    assert (g2.sliding_window, g2.window_layers) == (4096, 3)  # layers 0, 2, 4
    g3 = spec_from_dict({**LLAMA, "model_type": "gemma3_text", "num_hidden_layers": 13, "head_dim": 16, "sliding_window": 512,
                         "sliding_window_pattern": 6}, "g")
    assert (g3.sliding_window, g3.window_layers) == (512, 11)  # layers 5 and 11 full
    m = spec_from_dict({**LLAMA, "model_type": "mistral"}, "m")  # MistralConfig's default window
    assert (m.sliding_window, m.window_layers) == (4096, L)
    assert spec_from_dict({**LLAMA, "model_type": "mistral", "sliding_window": None}, "m").window_layers == 0
    q = spec_from_dict({**LLAMA, "model_type": "qwen2", "use_sliding_window": True, "sliding_window": 64, "max_window_layers": 1}, "q")
    assert (q.sliding_window, q.window_layers) == (64, 2)
    assert spec_from_dict({**LLAMA, "model_type": "qwen2", "sliding_window": 64, "max_window_layers": 1}, "q").window_layers == 0


def test_the_family_table_names_each_default_s_source():
    fams = load()
    for f in {f.name: f for f in fams.by_type.values()}.values():
        assert "Config" in f.source and ("configuration_" in f.source), f.name
    assert fams.by_type["gemma2"].tie_word_embeddings and fams.by_type["cohere"].tie_word_embeddings
    assert fams.by_type["starcoder2"].tie_word_embeddings and not fams.by_type["llama"].tie_word_embeddings
    assert fams.by_architecture("Qwen2ForCausalLM").name == "qwen2" and fams.by_architecture("GPT2LMHeadModel").name == "gpt2"


def test_a_config_without_model_type_is_read_by_its_architecture_with_a_note():
    cfg = {k: v for k, v in LLAMA.items() if k != "model_type"} | {"architectures": ["Gemma2ForCausalLM"], "head_dim": 16}
    s = spec_from_dict(cfg, "g")
    assert s.family == "gemma2" and "architectures" in s.notes[0]


def test_a_multimodal_config_is_read_from_its_text_config_with_a_note(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"model_type": "llava", "text_config": LLAMA, "vision_config": {"model_type": "clip_vision_model"}}))
    s = read_config(p)
    assert s.family == "llama" and "not counted" in s.notes[0]


@pytest.mark.parametrize("edit, phrase", [
    (lambda t: t.replace('mlp = "plain"', 'mlp = "swish"', 1), "mlp 'swish' is not one of"),
    (lambda t: t.replace('model_types = ["mistral"]', 'model_types = ["llama"]'), "model_type 'llama' is also in family"),
    (lambda t: t.replace('tie_word_embeddings = true', 'tie_word_embeddings = 1', 1), "tie_word_embeddings must be true or false"),
    (lambda t: t.replace('rules = ["chatglm"]', 'rules = ["chatglm", "magic"]'), "rules ['magic'] unknown"),
])
def test_a_broken_family_table_is_one_line_naming_the_file(tmp_path, edit, phrase):
    text = (ROOT / "profiles" / "decoder-families.toml").read_text()
    (tmp_path / "decoder-families.toml").write_text(edit(text))
    with pytest.raises(AnalyzerError) as e:
        load(str(tmp_path))
    assert phrase in str(e.value) and "decoder-families.toml" in str(e.value) and "\n" not in str(e.value)


def test_a_multimodal_gemma3_reads_its_text_config_with_the_class_defaults_named():
    """Gemma-3-4B's published config leaves heads and vocabulary in text_config to Gemma3TextConfig's defaults; the
    language model is the Gemma 3 report's 675M embedding + 3,209M non-embedding (Table 1), the vision tower not."""
    cfg = {"model_type": "gemma3", "vision_config": {"model_type": "siglip_vision_model"},
           "text_config": {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 34,
                           "sliding_window": 1024}}
    s = spec_from_dict(cfg, "gemma-3-4b")
    assert _agrees(params(s)[0], "3884M") and (s.num_heads, s.num_kv_heads, s.vocab_size) == (8, 4, 262208)
    assert (s.sliding_window, s.window_layers) == (1024, 34 - 34 // 6)
    assert "not counted" in s.notes[0] and "num_attention_heads, num_key_value_heads, vocab_size not in the config" in s.notes[1]


def test_phi_3_5_moe_and_command_r7b_shapes():
    """Phi-3.5-MoE (the published config's sizes): 41.9B total, 6.6B active (model card microsoft/Phi-3.5-MoE-instruct)."""
    pm = dict(model_type="phimoe", hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
              intermediate_size=6400, vocab_size=32064, num_local_experts=16, num_experts_per_tok=2, attention_bias=True,
              lm_head_bias=True, sliding_window=131072)
    total, active = params(spec_from_dict(pm, "phi-3.5-moe"))
    assert _agrees(total, "41.9B") and _agrees(active, "6.6B")
    c2 = spec_from_dict({**LLAMA, "model_type": "cohere2", "num_hidden_layers": 8}, "c")
    assert (c2.sliding_window, c2.window_layers, c2.norms_per_layer, c2.tie_embeddings) == (4096, 6, 1, True)


def test_a_real_llava_config_is_its_language_model_with_llama_s_class_sizes():
    e = SOURCES["multimodal"]["llava-1_5-7b"]
    s = read_config(DATA / e["file"])
    base, _ = _published(SOURCES["config"][e["language_model"]]["published"]["total"])
    assert params(s)[0] == 6_738_415_616 + 2 * 64 * 4096 and abs(params(s)[0] - base) < 0.005 * base
    assert "vision or audio parts are not counted" in s.notes[0] and "LlamaConfig's defaults used" in s.notes[1]
    with pytest.raises(AnalyzerError, match="no 'vocab_size'"):  # a top-level config gives its sizes
        spec_from_dict({"model_type": "gemma3_text", "hidden_size": 1152, "num_hidden_layers": 26, "num_attention_heads": 4,
                        "intermediate_size": 6912}, "g", "g.json")


@pytest.mark.parametrize("cfg, published", [
    # Phi-2 in transformers' own format (model_type phi): HF page microsoft/phi-2, 2.78B
    (dict(model_type="phi", hidden_size=2560, intermediate_size=10240, num_hidden_layers=32, num_attention_heads=32,
          num_key_value_heads=32, vocab_size=51200, partial_rotary_factor=0.4), "2,779,683,840"),
    # Pythia-2.8B (GPT-NeoX): the Pythia model card's table of total parameters
    (dict(model_type="gpt_neox", hidden_size=2560, intermediate_size=10240, num_hidden_layers=32, num_attention_heads=32,
          vocab_size=50304), "2,775,208,960"),
    # GPT-NeoX-20B: Black et al. 2022, 'GPT-NeoX-20B', 20,554,567,680 parameters
    (dict(model_type="gpt_neox", hidden_size=6144, intermediate_size=24576, num_hidden_layers=44, num_attention_heads=64,
          vocab_size=50432), "20,554,567,680"),
])
def test_published_architectures_of_families_without_a_stored_config(cfg, published):
    assert params(spec_from_dict(cfg, "m"))[0] == _published(published)[0]


@pytest.mark.extras  # CI's second phase installs the hf extra and runs it
def test_the_table_s_defaults_are_transformers_own():
    """Where transformers is installed (the `hf` extra), each family whose class it ships agrees with the table: the
    tied-embeddings default, every default the table gives that the class still has, and the bias and block keys'
    defaults. Remote-code families (Qwen-1, ChatGLM, Baichuan, InternLM 1/2, DeepSeekMoE, the old Phi and Falcon
    configs) are not in transformers and not checked here."""
    transformers = pytest.importorskip("transformers")
    checked = []
    for mt, fam in sorted(load().by_type.items()):
        try:
            cls = transformers.AutoConfig.for_model(mt)
        except ValueError:
            continue
        c = getattr(cls, "text_config", None) if mt == "gemma3" else cls
        assert c.tie_word_embeddings == fam.tie_word_embeddings, mt
        for key, value in {**fam.defaults, **fam.text_defaults}.items():
            if key in ("sliding_window_pattern",) or not hasattr(c, key):
                continue  # transformers 5 derives layer_types from the pattern; see the table's header
            assert getattr(c, key) == value or (value == 0 and getattr(c, key) is None), (mt, key, getattr(c, key), value)
        for flag in (fam.qkv_bias, fam.o_bias, fam.mlp_bias, fam.lm_head_bias, fam.block):
            if flag.key and hasattr(c, flag.key) and getattr(c, flag.key) is not None:
                assert bool(getattr(c, flag.key)) == flag.default, (mt, flag.key)
        checked.append(mt)
    assert len(checked) >= 25, checked


def test_every_rule_the_table_may_name_has_its_reader():
    from analyzer.load import decoder_families, hf_config

    assert set(decoder_families.RULES) == set(hf_config._RULES)
