"""The family table against the models transformers builds (torch and the `hf` extra): a small config of each
family, built with random weights by transformers' own classes, has exactly the parameters this tool counts from
the config alone, and its KV cache after a 5-token forward holds exactly the keys and values per token counted. This
checks the structure (norms, biases, blocks, experts, tied heads, key/value heads) beyond the defaults."""

import warnings

import pytest

from analyzer.count.decoder_graph import kv_bytes_per_token, params
from analyzer.load.hf_config import spec_from_dict

pytestmark = pytest.mark.torch

TINY = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
            vocab_size=100, head_dim=16, max_position_embeddings=64, pad_token_id=0)
GPT = dict(n_embd=64, n_layer=3, n_head=4, n_positions=64, vocab_size=100)
CASES = {
    "llama": {}, "llama-biases": {"model_type": "llama", "attention_bias": True, "mlp_bias": True},
    "llama-tied": {"model_type": "llama", "tie_word_embeddings": True},
    "mistral": {}, "mixtral": {"num_local_experts": 4, "num_experts_per_tok": 2},
    "qwen2": {}, "qwen3": {},
    "qwen2_moe": {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32, "shared_expert_intermediate_size": 48,
                  "decoder_sparse_step": 2, "mlp_only_layers": [0]},
    "qwen3_moe": {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32, "mlp_only_layers": [1]},
    "gemma": {}, "gemma2": {}, "gemma3_text": {},
    "phi": {"head_dim": None}, "phi-qk": {"model_type": "phi", "qk_layernorm": True, "head_dim": None},
    "phimoe": {"num_local_experts": 4, "num_experts_per_tok": 2, "head_dim": None, "attention_bias": True, "lm_head_bias": True},
    "gpt2": GPT, "gptj": {**GPT, "rotary_dim": 8}, "gpt_bigcode": GPT,
    "gpt_neox": {"head_dim": None}, "gpt_neox-sequential": {"model_type": "gpt_neox", "use_parallel_residual": False, "head_dim": None},
    "falcon": {"head_dim": None, "num_key_value_heads": None},
    "falcon-new": {"model_type": "falcon", "new_decoder_architecture": True, "num_kv_heads": 2, "head_dim": None},
    "falcon-sequential": {"model_type": "falcon", "parallel_attn": False, "multi_query": False, "bias": True, "head_dim": None},
    "starcoder2": {"head_dim": None}, "cohere": {"head_dim": None}, "cohere2": {"head_dim": None},
    "cohere-qk": {"model_type": "cohere", "use_qk_norm": True, "head_dim": None},
    "olmo": {"head_dim": None}, "olmo2": {"head_dim": None}, "stablelm": {"head_dim": None}, "phi3": {"head_dim": None},
    "stablelm-parallel": {"model_type": "stablelm", "use_parallel_residual": True, "qk_layernorm": True, "use_qkv_bias": True, "head_dim": None},
    "internlm3": {"qkv_bias": True, "bias": True},
    "exaone": {}, "exaone4": {}, "arcee": {}, "nemotron": {}, "glm": {}, "glm4": {}, "olmo3": {"head_dim": None},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_small_model_of_each_family_has_the_parameters_and_cache_counted_from_its_config(name):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    extra = CASES[name]
    mt = extra.get("model_type", name)
    cfg = {k: v for k, v in {**TINY, **extra, "model_type": mt}.items() if v is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transformers.logging.set_verbosity_error()
        hf = transformers.AutoConfig.for_model(mt, **{k: v for k, v in cfg.items() if k != "model_type"})
        model = transformers.AutoModelForCausalLM.from_config(hf)
    built = sum(p.numel() for p in model.parameters())  # a tied head is one tensor, counted once
    spec = spec_from_dict(cfg, name)
    assert params(spec)[0] == built
    with torch.no_grad():
        cache = model.eval()(torch.tensor([[1, 2, 3, 4, 5]]), use_cache=True).past_key_values
    cached = sum(getattr(layer, kv).numel() for layer in cache.layers for kv in ("keys", "values"))
    assert kv_bytes_per_token(spec, 1) * 5 == cached  # one byte an element: elements per token


@pytest.mark.slow
def test_every_causal_lm_transformers_ships_is_exact_noted_or_refused():
    """Each model type transformers can build as a causal LM (a small config, weights on the meta device): this tool
    reads its config without a note and counts exactly the parameters transformers builds, or says in a note what it
    assumed (an unknown type priced as Llama, a vision tower not counted), or refuses it in one line. Never a silent
    wrong count."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from analyzer.errors import AnalyzerError

    exact, noted, refused = [], [], []
    transformers.logging.set_verbosity_error()
    for mt in sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hf = transformers.AutoConfig.for_model(mt, **{k: v for k, v in TINY.items()})
                with torch.device("meta"):
                    model = transformers.AutoModelForCausalLM.from_config(hf)
            cfg = hf.to_dict()
        except Exception:  # noqa: BLE001 - a class that will not build from a small config is not this test's subject
            continue
        try:
            spec = spec_from_dict(cfg, mt, "c.json")
        except AnalyzerError as e:
            assert "\n" not in str(e)
            refused.append(mt)
            continue
        if spec.notes:
            noted.append(mt)
            continue
        assert params(spec)[0] == sum(p.numel() for p in model.parameters()), mt
        exact.append(mt)
    assert len(exact) >= 30, exact
