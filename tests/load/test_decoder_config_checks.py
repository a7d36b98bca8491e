"""A decoder's config.json checked as a model, not field by field (issue #35): every count through the typed reader
and in its range, lists bounded by the layer count before they are read, the layer count checked before anything is
counted per layer, and the fields consistent with each other. Each case is a one-line error naming the file and the
key, fast, never a traceback or a wrong number with exit 0."""

import json
import time

import pytest

from analyzer.errors import AnalyzerError
from analyzer.load.hf_config import read_config, spec_from_dict, spec_from_text

LLAMA = dict(model_type="llama", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
             num_key_value_heads=8, vocab_size=128256)
QWEN_MOE = dict(model_type="qwen3_moe", hidden_size=2048, num_hidden_layers=48, num_attention_heads=32, num_key_value_heads=4,
                head_dim=128, vocab_size=151936, num_experts=128, num_experts_per_tok=8, moe_intermediate_size=768)
DEEPSEEK = dict(model_type="deepseek", hidden_size=2048, num_hidden_layers=28, num_attention_heads=16, intermediate_size=10944,
                vocab_size=102400, n_routed_experts=64, n_shared_experts=2, num_experts_per_tok=6, moe_intermediate_size=1408,
                first_k_dense_replace=1)
QWEN2 = dict(model_type="qwen2", hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
             num_key_value_heads=4, vocab_size=152064, use_sliding_window=True, sliding_window=4096, max_window_layers=28)
HUGE_LIST = list(range(1_500_000))


def refused(cfg: dict, *phrases: str) -> str:
    t0 = time.perf_counter()
    with pytest.raises(AnalyzerError) as e:
        spec_from_dict(cfg, "bad", "bad.json")
    msg = str(e.value)
    assert time.perf_counter() - t0 < 1.0, "a hostile config must be refused at once"
    assert msg.startswith("bad.json: ") and "\n" not in msg and len(msg) < 700, msg
    for p in phrases:
        assert p in msg, msg
    return msg


@pytest.mark.parametrize("key", ["num_key_value_heads", "num_hidden_layers", "head_dim", "num_attention_heads", "hidden_size",
                                 "vocab_size"])
def test_zero_counts_are_refused_naming_the_key(key):
    refused({**LLAMA, "head_dim": 128, key: 0}, f"'{key}' is 0")


@pytest.mark.parametrize("cfg, key", [
    ({**QWEN2, "max_window_layers": "28"}, "max_window_layers"),
    ({**QWEN2, "max_window_layers": [28]}, "max_window_layers"),
    ({**QWEN2, "max_window_layers": float("inf")}, "max_window_layers"),
    ({**QWEN2, "max_window_layers": -4}, "max_window_layers"),  # would give more sliding layers than layers
    ({**DEEPSEEK, "first_k_dense_replace": "1"}, "first_k_dense_replace"),
    ({**DEEPSEEK, "first_k_dense_replace": [1]}, "first_k_dense_replace"),
    ({**DEEPSEEK, "first_k_dense_replace": float("inf")}, "first_k_dense_replace"),
    ({**DEEPSEEK, "moe_layer_freq": 0}, "moe_layer_freq"),
    ({**QWEN_MOE, "mlp_only_layers": "0,1"}, "mlp_only_layers"),
    ({**QWEN_MOE, "mlp_only_layers": float("inf")}, "mlp_only_layers"),
    ({**QWEN_MOE, "mlp_only_layers": [0, "1"]}, "mlp_only_layers"),
    ({**QWEN_MOE, "mlp_only_layers": [48]}, "mlp_only_layers"),
    ({**QWEN_MOE, "mlp_only_layers": HUGE_LIST}, "mlp_only_layers"),  # bounded by the layers before it is read
    ({**QWEN_MOE, "decoder_sparse_step": 0}, "decoder_sparse_step"),
    ({**LLAMA, "sliding_window": -1}, "sliding_window"),
    ({**LLAMA, "sliding_window": "4096"}, "sliding_window"),
])
def test_every_field_goes_through_the_typed_reader(cfg, key):
    refused(cfg, f"'{key}'")


def test_the_layer_limit_comes_before_anything_is_counted_per_layer():
    refused({**QWEN_MOE, "num_hidden_layers": 2 ** 31}, "'num_hidden_layers' is 2147483648", "10,000")
    refused({**QWEN_MOE, "num_hidden_layers": 2 ** 31, "mlp_only_layers": HUGE_LIST}, "'num_hidden_layers'")
    refused({**LLAMA, "num_hidden_layers": 2 ** 40, "layer_types": HUGE_LIST}, "'num_hidden_layers'")


@pytest.mark.parametrize("cfg, phrases", [
    ({**LLAMA, "layer_types": ["sliding_attention"] * 33, "sliding_window": 512}, ("'layer_types'", "one entry per layer (32)", "33")),
    ({**LLAMA, "layer_types": ["sliding_attention"] * 31, "sliding_window": 512}, ("'layer_types'", "(32)")),
    ({**LLAMA, "layer_types": HUGE_LIST, "sliding_window": 512}, ("'layer_types'", "1,500,000")),
    ({**LLAMA, "layer_types": ["full_attention", "banana"] * 16}, ("'layer_types'", "'banana'")),
    ({**LLAMA, "layer_types": ["linear_attention", "full_attention"] * 16}, ("linear-attention", "not model")),
    ({**LLAMA, "layer_types": ["sliding_attention"] * 32}, ("no sliding_window",)),
    ({**QWEN_MOE, "num_experts_per_tok": 0}, ("num_experts_per_tok is 0",)),
    ({**QWEN_MOE, "num_experts_per_tok": 129}, ("num_experts_per_tok 129 is more than the 128 experts",)),
    ({**DEEPSEEK, "num_experts_per_tok": 65}, ("more than the 64 experts",)),
    ({**QWEN_MOE, "num_experts": 0}, ("'num_experts' is 0",)),
    ({**LLAMA, "vocab_size": 0}, ("'vocab_size' is 0",)),
    ({**LLAMA, "num_key_value_heads": 5}, ("num_attention_heads 32 is not a multiple of num_key_value_heads 5",)),
    ({**LLAMA, "num_key_value_heads": 64}, ("'num_key_value_heads' is 64",)),  # more than the query heads
    ({**LLAMA, "hidden_size": 4100}, ("hidden_size 4100 is not a multiple of the 32 attention heads",)),
    # families whose class derives head_dim from hidden_size / heads: a head_dim that disagrees is refused
    ({**LLAMA, "model_type": "phi3", "head_dim": 96}, ("'head_dim' is 96", "phi3 derives it", "= 128")),
    ({**LLAMA, "model_type": "qwen2", "head_dim": 64}, ("'head_dim' is 64", "qwen2 derives it")),
    ({**LLAMA, "model_type": "qwen", "intermediate_size": 11007}, ("intermediate_size 11007 is odd",)),
    ({**LLAMA, "model_type": "chatglm", "num_layers": 28, "multi_query_attention": True, "multi_query_group_num": 3,
      "kv_channels": 128, "ffn_hidden_size": 13696, "padded_vocab_size": 65024}, ("not a multiple of num_key_value_heads 3",)),
    ({**LLAMA, "tie_word_embeddings": "yes"}, ("'tie_word_embeddings' is 'yes'",)),
    ({**LLAMA, "model_type": ["llama"]}, ("'model_type'",)),
    ({**LLAMA, "hidden_size": "x" * 5_000_000}, ("'hidden_size' is 'xxxx",)),  # a huge value is not echoed back whole
])
def test_cross_field_rules(cfg, phrases):
    refused(cfg, *phrases)


def test_a_head_dim_the_family_allows_is_kept():
    assert spec_from_dict({**LLAMA, "head_dim": 96}, "l").head_dim == 96  # Llama's class takes head_dim as given
    assert spec_from_dict({**LLAMA, "model_type": "phi3", "head_dim": 128}, "p").head_dim == 128  # agrees with 4096 / 32


def test_max_window_layers_beyond_the_layers_means_no_sliding_layers():
    assert spec_from_dict({**QWEN2, "max_window_layers": 40}, "q").window_layers == 0  # as transformers reads it
    assert spec_from_dict({**QWEN2, "max_window_layers": 20}, "q").window_layers == 8


@pytest.mark.parametrize("text, phrase", [
    ('{"hidden_size": ' + "9" * 5000 + "}", "more than 4,300 digits"),
    ("[" * 100_000, "nested too deeply"),
    ("{" + '"a":' * 0 + '"x": ' + "[" * 80 + "]" * 80 + "}", "nested too deeply"),
    ("{nope", "not valid JSON"),
    ('{"hidden_size": NaN}', ""),
])
def test_texts_that_are_not_configs(text, phrase):
    with pytest.raises(AnalyzerError) as e:
        spec_from_text(text, "c", "c.json")
    msg = str(e.value)
    assert phrase in msg and "\n" not in msg and msg.startswith("c.json")


def test_a_5000_digit_integer_in_a_file(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps(LLAMA)[:-1] + ', "rope_theta": ' + "1" * 5000 + "}")
    with pytest.raises(AnalyzerError, match="4,300 digits"):
        read_config(p)


# ---- any value in any key of a real config: a spec or one line, never a traceback ------------------------------------

from pathlib import Path  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from analyzer.count.decoder_graph import graph, params  # noqa: E402

REAL = sorted((Path(__file__).resolve().parents[1] / "data" / "decoder_configs").glob("*.json"))
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 40, 2 ** 40), st.sampled_from([0, 1, 2, 3, 2 ** 31, 2 ** 63]),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.lists(st.integers(-3, 60), max_size=70),
                   st.sampled_from([["sliding_attention"] * 3, ["linear_attention"], {"a": 1}, [], "llama", "gemma2"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL), st.data())
def test_any_value_in_any_key_is_a_spec_or_one_line(path, data):
    cfg = json.loads(path.read_text())
    keys = sorted(cfg) + ["num_key_value_heads", "head_dim", "layer_types", "sliding_window", "mlp_only_layers",
                          "first_k_dense_replace", "max_window_layers", "num_experts", "n_routed_experts", "text_config"]
    for _ in range(data.draw(st.integers(1, 3))):
        cfg[data.draw(st.sampled_from(keys))] = data.draw(VALUES)
    try:
        spec = spec_from_dict(cfg, "m", "m.json")
    except AnalyzerError as e:
        assert "\n" not in str(e) and str(e).startswith("m.json") and len(str(e)) < 800
        return
    total, active = params(spec)
    assert 0 < active <= total and spec.window_layers <= spec.num_layers and spec.moe_layers <= spec.num_layers
    assert 1 <= spec.experts_per_token <= spec.num_experts or spec.num_experts == 0
    assert graph(spec)


def test_names_from_the_config_are_shown_escaped_and_short():
    evil = "\x1b]0;owned\x07\n" + "x" * 10_000
    s = spec_from_dict({**LLAMA, "model_type": evil}, "m", "m.json")  # Llama-shaped: priced, with a note
    assert s.notes and all(n.isprintable() and len(n) < 400 for n in s.notes)
    msg = refused({"model_type": evil, "n_embd": 8}, "not a decoder family")
    assert msg.isprintable()
