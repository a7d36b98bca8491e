"""A decoder from its config.json: published parameter counts (total and active), the KV cache per token, one-line
errors for configs that are not decoders, and the config's cost graph against an ONNX export of the same shape
(a Llama-style grouped-query decoder with its cache, built here): MACs, weights and cache bytes agree exactly."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper
from onnx import numpy_helper as nh

from analyzer.count.decoder import decoder_roles, phase_dims
from analyzer.count.decoder_graph import Dtypes, graph, kv_bytes_per_token, params, static_aggregates, summary, totals
from analyzer.count.profile import profile_onnx
from analyzer.errors import AnalyzerError
from analyzer.load.hf_config import read_config, spec_from_dict

DECODERS = Path(__file__).resolve().parents[2] / "models" / "decoders"

LLAMA_8B = dict(model_type="llama", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=False, torch_dtype="bfloat16")
MIXTRAL = dict(model_type="mixtral", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=32000, num_local_experts=8, num_experts_per_tok=2, sliding_window=None)


@pytest.mark.parametrize("cfg, total, active", [
    (LLAMA_8B, 8_030_261_248, 8_030_261_248),  # Meta: 8.03 B
    (dict(model_type="gpt2", n_embd=768, n_layer=12, n_head=12, n_positions=1024, vocab_size=50257), 124_439_808, 124_439_808),
    (MIXTRAL, 46_702_792_704, 12_879_925_248),  # Mistral AI: 46.7 B total, 12.9 B active
])
def test_published_parameter_counts(cfg, total, active):
    assert params(spec_from_dict(cfg, "m")) == (total, active)


def test_sample_configs_match_their_published_sizes():
    got = {p.stem: params(read_config(p)) for p in DECODERS.glob("*.json")}
    assert got["llama-3.1-8b"] == (8_030_261_248, 8_030_261_248)
    assert got["llama-3.1-70b"][0] == 70_553_706_496  # Meta: 70.6 B
    total, active = got["qwen3-30b-a3b"]
    assert round(total / 1e9, 1) == 30.5 and 3.3e9 <= active < 3.4e9  # Qwen: 30.5 B total, 3.3 B activated
    assert got["gpt2"] == (124_439_808, 124_439_808)


def test_kv_cache_per_token_follows_the_kv_heads():
    llama = spec_from_dict(LLAMA_8B, "l")
    assert kv_bytes_per_token(llama, 2) == 32 * 2 * 8 * 128 * 2 == 131_072  # GQA: 8 KV heads, not 32
    mha = spec_from_dict({**LLAMA_8B, "num_key_value_heads": 32}, "mha")
    assert kv_bytes_per_token(mha, 2) == 4 * kv_bytes_per_token(llama, 2)
    assert kv_bytes_per_token(llama, 1) == kv_bytes_per_token(llama, 2) / 2  # an fp8 cache


def test_moe_layers_windows_and_dtype_come_from_the_config():
    q = spec_from_dict(dict(model_type="qwen2_moe", hidden_size=64, intermediate_size=128, num_hidden_layers=6,
                            num_attention_heads=4, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32,
                            shared_expert_intermediate_size=64, decoder_sparse_step=2, mlp_only_layers=[5],
                            vocab_size=100, use_sliding_window=True, sliding_window=16, max_window_layers=4), "q")
    assert q.moe_layers == 2 and q.window_layers == 2 and q.sliding_window == 16 and q.qkv_bias
    assert spec_from_dict({**LLAMA_8B, "quantization_config": {"quant_method": "fp8"}}, "f").weight_dtype == "fp8"
    assert spec_from_dict({**LLAMA_8B, "layer_types": ["sliding_attention", "full_attention"] * 16, "sliding_window": 512},
                          "g").window_layers == 16


@pytest.mark.parametrize("cfg, phrase", [
    ({**LLAMA_8B, "num_key_value_heads": 5}, "not a multiple of num_key_value_heads"),
    ({k: v for k, v in LLAMA_8B.items() if k != "vocab_size"}, "no 'vocab_size'"),
    ({**LLAMA_8B, "hidden_size": "4096"}, "'hidden_size' is '4096'"),
    ({**LLAMA_8B, "hidden_size": True}, "'hidden_size' is True"),
    ({**LLAMA_8B, "kv_lora_rank": 512}, "multi-head latent attention"),
    ({**MIXTRAL, "num_experts_per_tok": 9}, "more than the 8 experts"),
])
def test_bad_configs_are_one_line_errors(cfg, phrase):
    with pytest.raises(AnalyzerError) as e:
        spec_from_dict(cfg, "bad", "bad.json")
    assert phrase in str(e.value) and "\n" not in str(e.value) and str(e.value).startswith("bad.json")


def test_files_that_are_not_configs(tmp_path):
    for text, phrase in (("[1, 2]", "JSON object"), ("{nope", "not valid JSON"), ("[" * 100_000, "")):
        p = tmp_path / "c.json"
        p.write_text(text)
        with pytest.raises(AnalyzerError) as e:
            read_config(p)
        assert phrase in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "b.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(AnalyzerError, match="UTF-8"):
        read_config(tmp_path / "b.json")


# ---- the cost graph against an ONNX export of the same decoder ------------------------------------------

H, NH, NKV, HD, INNER, VOCAB, LAYERS = 32, 4, 2, 8, 48, 61, 2
TINY = dict(model_type="llama", hidden_size=H, intermediate_size=INNER, num_hidden_layers=LAYERS, num_attention_heads=NH,
            num_key_value_heads=NKV, vocab_size=VOCAB, tie_word_embeddings=False)


def gqa_decoder(path: Path) -> Path:
    """A Llama-style decoder with its cache as Hugging Face exports it: RMSNorm written out, grouped-query attention
    (the queries of a KV head grouped and matched by broadcasting), a SwiGLU MLP, an untied LM head."""
    rng = np.random.default_rng(0)
    g = NH // NKV
    inits = [nh.from_array(rng.standard_normal((VOCAB, H)).astype(np.float32), "embed"),
             nh.from_array(np.array([0, 0, NKV, g, HD], np.int64), "q_shape"), nh.from_array(np.array([0, 0, NKV, HD], np.int64), "kv_shape"),
             nh.from_array(np.array([0, 0, NH * HD], np.int64), "o_shape"), nh.from_array(np.array([2], np.int64), "ax2"),
             nh.from_array(np.array([-1], np.int64), "axm1"), nh.from_array(np.array(2.0, np.float32), "two"),
             nh.from_array(np.array(1e-5, np.float32), "eps")]
    nodes = [helper.make_node("Gather", ["embed", "input_ids"], ["x0"])]

    def w(name, *shape):
        inits.append(nh.from_array(rng.standard_normal(shape).astype(np.float32), name))

    def rms(x, name):
        w(f"{name}.w", H)
        nodes.extend([helper.make_node("Pow", [x, "two"], [f"{name}.sq"]), helper.make_node("ReduceMean", [f"{name}.sq", "axm1"], [f"{name}.ms"]),
                      helper.make_node("Add", [f"{name}.ms", "eps"], [f"{name}.e"]), helper.make_node("Sqrt", [f"{name}.e"], [f"{name}.r"]),
                      helper.make_node("Div", [x, f"{name}.r"], [f"{name}.n"]), helper.make_node("Mul", [f"{name}.n", f"{name}.w"], [f"{name}.y"])])
        return f"{name}.y"

    x = "x0"
    for i in range(LAYERS):
        p = f"l{i}"
        xn = rms(x, f"{p}.in")
        for n, width in (("q", NH * HD), ("k", NKV * HD), ("v", NKV * HD)):
            w(f"{p}.W{n}", H, width)
            nodes.append(helper.make_node("MatMul", [xn, f"{p}.W{n}"], [f"{p}.{n}"]))
        nodes += [helper.make_node("Reshape", [f"{p}.q", "q_shape"], [f"{p}.q5"]),
                  helper.make_node("Transpose", [f"{p}.q5"], [f"{p}.qh"], perm=[0, 2, 3, 1, 4])]
        for n in ("k", "v"):
            nodes += [helper.make_node("Reshape", [f"{p}.{n}", "kv_shape"], [f"{p}.{n}4"]),
                      helper.make_node("Transpose", [f"{p}.{n}4"], [f"{p}.{n}h"], perm=[0, 2, 1, 3]),
                      helper.make_node("Concat", [f"past_key_values.{i}.{'key' if n == 'k' else 'value'}", f"{p}.{n}h"],
                                       [f"present.{i}.{'key' if n == 'k' else 'value'}"], axis=2),
                      helper.make_node("Unsqueeze", [f"present.{i}.{'key' if n == 'k' else 'value'}", "ax2"], [f"{p}.{n}5"])]
        nodes += [helper.make_node("Transpose", [f"{p}.k5"], [f"{p}.kt"], perm=[0, 1, 2, 4, 3]),
                  helper.make_node("MatMul", [f"{p}.qh", f"{p}.kt"], [f"{p}.s"]), helper.make_node("Softmax", [f"{p}.s"], [f"{p}.pr"], axis=-1),
                  helper.make_node("MatMul", [f"{p}.pr", f"{p}.v5"], [f"{p}.o5"]),
                  helper.make_node("Transpose", [f"{p}.o5"], [f"{p}.ot"], perm=[0, 3, 1, 2, 4]),
                  helper.make_node("Reshape", [f"{p}.ot", "o_shape"], [f"{p}.o"])]
        w(f"{p}.Wo", NH * HD, H)
        nodes += [helper.make_node("MatMul", [f"{p}.o", f"{p}.Wo"], [f"{p}.a"]), helper.make_node("Add", [x, f"{p}.a"], [f"{p}.r1"])]
        xn2 = rms(f"{p}.r1", f"{p}.post")
        for n in ("gate", "up"):
            w(f"{p}.W{n}", H, INNER)
            nodes.append(helper.make_node("MatMul", [xn2, f"{p}.W{n}"], [f"{p}.{n}"]))
        w(f"{p}.Wdown", INNER, H)
        nodes += [helper.make_node("Sigmoid", [f"{p}.gate"], [f"{p}.sg"]), helper.make_node("Mul", [f"{p}.gate", f"{p}.sg"], [f"{p}.silu"]),
                  helper.make_node("Mul", [f"{p}.silu", f"{p}.up"], [f"{p}.h"]), helper.make_node("MatMul", [f"{p}.h", f"{p}.Wdown"], [f"{p}.m"]),
                  helper.make_node("Add", [f"{p}.r1", f"{p}.m"], [f"{p}.out"])]
        x = f"{p}.out"
    w("lm_head", H, VOCAB)
    nodes += [helper.make_node("MatMul", [rms(x, "final"), "lm_head"], ["logits"])]
    b, s, past = "batch_size", "sequence_length", "past_sequence_length"
    inputs = [helper.make_tensor_value_info("input_ids", T.INT64, [b, s])] + [
        helper.make_tensor_value_info(f"past_key_values.{i}.{kv}", T.FLOAT, [b, NKV, past, HD]) for i in range(LAYERS) for kv in ("key", "value")]
    outputs = [helper.make_tensor_value_info("logits", T.FLOAT, None)] + [
        helper.make_tensor_value_info(f"present.{i}.{kv}", T.FLOAT, None) for i in range(LAYERS) for kv in ("key", "value")]
    m = helper.make_model(helper.make_graph(nodes, "gqa", inputs, outputs, inits), opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


@pytest.mark.parametrize("batch, seq, past", [(1, 7, 0), (3, 1, 19), (2, 5, 11)])
def test_the_config_graph_matches_an_export_of_the_same_decoder(tmp_path, batch, seq, past):
    path = gqa_decoder(tmp_path / "gqa.onnx")
    spec = spec_from_dict(TINY, "tiny")
    roles = decoder_roles(path)
    dims = phase_dims(roles, "prefill", seq) if past == 0 else {**phase_dims(roles, "decode", 1, past), roles.seq[0]: seq}
    prof = profile_onnx(path, dims, batch, scan_sparsity=False)
    counted = totals(graph(spec, Dtypes(4, 4, 4)), static_aggregates(spec, batch, seq, past, causal=False, all_logits=True))
    assert counted["macs"] == prof.macs  # the export scores every key (masked or not) and computes every logit
    assert params(spec)[0] == prof.params  # the float weights (not the shape constants)
    assert kv_bytes_per_token(spec, 4) == roles.cache_bytes_per_token


def test_a_serving_engine_skips_masked_keys_and_unsampled_logits():
    spec = spec_from_dict(TINY, "tiny")
    ops = graph(spec)
    full = totals(ops, static_aggregates(spec, 1, 64, 0, causal=False, all_logits=True))["macs"]
    causal = totals(ops, static_aggregates(spec, 1, 64, 0, causal=True, all_logits=False))["macs"]
    attention = LAYERS * 2 * NH * HD * (64 * 64 - 64 * 65 // 2)
    assert full - causal == attention + 63 * H * VOCAB
    s = summary(spec)
    assert s["macs_per_token"] == params(spec)[0] - VOCAB * H - (2 * LAYERS + 1) * H  # every weight once a token, but the embedding table and the norms


def test_config_from_file_names_the_model(tmp_path):
    d = tmp_path / "my-model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(LLAMA_8B))
    assert read_config(d / "config.json").name == "my-model"
    (tmp_path / "llama.json").write_text(json.dumps(LLAMA_8B))
    assert read_config(tmp_path / "llama.json").name == "llama"
