"""Generation with a KV cache on a hand-built one-layer decoder with Hugging Face's input names and optimum's
dim names: roles from the signature, prefill and decode MACs in closed form, a response's MACs summed
exactly, energy per token rising with the cache as its traffic says, the CLI."""

import json
from fractions import Fraction

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper
from onnx import numpy_helper as nh

from analyzer.errors import UsageError
from analyzer.count.decoder import decoder_roles, phase_dims, polynomial_sum, response_macs
from analyzer.project.generation import generation_cost, sum_linear
from analyzer.count.profile import profile_onnx
from cli_helpers import cli

D, H, DH, VOCAB, CTX = 16, 2, 8, 50, 64


def decoder(tmp_path, name="decoder_with_past.onnx"):
    rng = np.random.default_rng(0)

    def w(n, *shape):
        return nh.from_array(rng.standard_normal(shape).astype(np.float32), n)

    def const(n, v):
        return nh.from_array(np.array(v, dtype=np.int64), n)

    nodes = [helper.make_node("Gather", ["wte", "input_ids"], ["tok"]), helper.make_node("Gather", ["wpe", "position_ids"], ["pos"]),
             helper.make_node("Add", ["tok", "pos"], ["x"])]
    for n in ("q", "k", "v"):
        nodes += [helper.make_node("MatMul", ["x", f"W{n}"], [f"{n}2"]), helper.make_node("Reshape", [f"{n}2", "heads"], [f"{n}4"]),
                  helper.make_node("Transpose", [f"{n}4"], [f"{n}h"], perm=[0, 2, 1, 3])]
    nodes += [helper.make_node("Concat", ["past_key_values.0.key", "kh"], ["present.0.key"], axis=2),
              helper.make_node("Concat", ["past_key_values.0.value", "vh"], ["present.0.value"], axis=2),
              helper.make_node("Transpose", ["present.0.key"], ["kt"], perm=[0, 1, 3, 2]),
              helper.make_node("MatMul", ["qh", "kt"], ["scores"]),
              helper.make_node("Cast", ["attention_mask"], ["maskf"], to=T.FLOAT),
              helper.make_node("Unsqueeze", ["maskf", "axes12"], ["mask4"]),
              helper.make_node("Sub", ["one", "mask4"], ["inv"]), helper.make_node("Mul", ["inv", "neg"], ["bias"]),
              helper.make_node("Add", ["scores", "bias"], ["masked"]), helper.make_node("Softmax", ["masked"], ["probs"], axis=-1),
              helper.make_node("MatMul", ["probs", "present.0.value"], ["o"]),
              helper.make_node("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]), helper.make_node("Reshape", ["ot", "merge"], ["o2"]),
              helper.make_node("MatMul", ["o2", "Wo"], ["y"]), helper.make_node("MatMul", ["y", "Wlm"], ["logits"])]
    inits = [w("wte", VOCAB, D), w("wpe", CTX, D), w("Wq", D, D), w("Wk", D, D), w("Wv", D, D), w("Wo", D, D), w("Wlm", D, VOCAB),
             const("heads", [0, 0, H, DH]), const("merge", [0, 0, D]), const("axes12", [1, 2]),
             nh.from_array(np.array(1.0, np.float32), "one"), nh.from_array(np.array(-1e4, np.float32), "neg")]
    b, s, p = "batch_size", "sequence_length", "past_sequence_length"
    inputs = [helper.make_tensor_value_info("input_ids", T.INT64, [b, s]),
              helper.make_tensor_value_info("attention_mask", T.INT64, [b, f"{p} + {s}"]),
              helper.make_tensor_value_info("position_ids", T.INT64, [b, s]),
              helper.make_tensor_value_info("past_key_values.0.key", T.FLOAT, [b, H, p, DH]),
              helper.make_tensor_value_info("past_key_values.0.value", T.FLOAT, [b, H, p, DH])]
    outputs = [helper.make_tensor_value_info(n, T.FLOAT, None) for n in ("logits", "present.0.key", "present.0.value")]
    m = helper.make_model(helper.make_graph(nodes, "decoder", inputs, outputs, inits), opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = tmp_path / name
    onnx.save(m, str(path))
    return path


def forward_macs(b, s, past):
    """q, k, v, o projections; scores and values over past + s; the LM head."""
    return 4 * b * s * D * D + 2 * b * H * s * (past + s) * DH + b * s * D * VOCAB


def test_roles_come_from_the_signature(tmp_path):
    r = decoder_roles(decoder(tmp_path))
    assert r.seq == ("sequence_length",) and r.past == ("past_sequence_length",) and r.batch == ("batch_size",)
    assert r.total == ()  # the mask's length is an expression of the two: bound from them
    assert r.cache_bytes_per_token == 2 * H * DH * 4
    assert phase_dims(r, "prefill", 20) == {"sequence_length": 20, "past_sequence_length": 0}
    assert phase_dims(r, "decode", 20, 33) == {"sequence_length": 1, "past_sequence_length": 33}


@pytest.mark.parametrize("batch", [1, 3])
def test_prefill_and_decode_macs_in_closed_form(tmp_path, batch):
    path = decoder(tmp_path)
    r = decoder_roles(path)
    pre = profile_onnx(path, phase_dims(r, "prefill", 20), batch, scan_sparsity=False)
    assert pre.macs == forward_macs(batch, 20, 0)
    for past in (1, 20, 57):
        step = profile_onnx(path, phase_dims(r, "decode", 20, past), batch, scan_sparsity=False)
        assert step.macs == forward_macs(batch, 1, past)  # weights once per token, attention over the cache


def test_a_response_sums_every_decode_step_exactly(tmp_path):
    path = decoder(tmp_path)
    got = response_macs(path, 12, 40, 2, None, profile_onnx, scan_sparsity=False, hash_file=False)
    expected = forward_macs(1, 12, 0) + sum(forward_macs(1, 1, L) for L in range(12, 12 + 40 - 1))
    assert got["macs_per_response"] == expected
    assert got["decode_macs_last_step"] == forward_macs(1, 1, 12 + 38)


def test_polynomial_sum_matches_brute_force():
    f = {L: 7 * L * L - 3 * L + 11 for L in range(5, 9)}
    assert polynomial_sum(f, 5, 1000) == sum(7 * L * L - 3 * L + 11 for L in range(5, 1001))
    assert polynomial_sum(f, 5, 4) == 0


def test_sum_linear_is_exact_for_linear_data():
    steps = list(range(10, 110))
    samples = [(L, 2.0 + 0.5 * L) for L in (10, 35, 60, 109)]
    assert sum_linear(samples, steps) == pytest.approx(sum(2.0 + 0.5 * L for L in steps))


def _price(path, prompt, out):
    """A response evaluated by the engine: the Evaluation (per response per sequence) and its generation cost."""
    from analyzer.engine import evaluate
    from analyzer.profiles import load_profiles
    from analyzer.target import resolve_target, TargetRequest

    t = resolve_target(load_profiles(()), TargetRequest("h100", dtype="fp16", runtime="graph", batch=1, phase="decode", prompt_tokens=prompt,
                       output_tokens=out, pue=1.1, grid=400.0, utilization=1.0, power_boundary="chip"))  # device energy x PUE
    e = evaluate([path], t)[0]
    assert e.ok and e.phase == "response", e.error
    return e, e.detail


def test_energy_per_token_grows_with_the_cache_as_its_traffic_says(tmp_path):
    """A decode step reads the whole cache (and the exported concat copies it): its energy grows linearly with
    the cache length, by at least the energy of moving each cached position's bytes (pJ/byte) per position;
    the rest of the growth is time (attention over one query keeps few of the chip's units busy)."""
    e, g = _price(decoder(tmp_path), 16, 800)
    pts = [(s["past"], s["energy_j_per_token"]) for s in g["samples"]]
    slopes = [(e1 - e0) / (l1 - l0) for (l0, e0), (l1, e1) in zip(pts, pts[1:])]
    assert all(x > 0 for x in slopes)
    assert max(slopes) == pytest.approx(min(slopes), rel=1e-3)  # linear in the cache length
    inputs = {i["name"]: i["value"] for i in e.inputs}
    eps_byte = inputs["energy_per_byte_pj"] * 1e-12
    cache_bytes_per_position = 2 * H * DH * 2  # keys and values in fp16
    # read by the concat and by the two products, written by the concat
    assert slopes[0] >= eps_byte * 4 * cache_bytes_per_position
    assert g["decode_bytes_per_token"]["kv_cache_last"] == (16 + 798) * 2 * H * DH * 2  # in fp16
    assert "MB of cache" in g["decode_bound"]
    assert e.energy_range_j["low"] < e.energy_j_per_item < e.energy_range_j["high"]
    assert e.energy_j_per_item == g["energy_j_per_response"]
    assert e.energy_j_per_item == pytest.approx(g["prefill"]["energy_j_per_item"] + g["decode_energy_j_per_token_mean"] * 799)
    assert e.co2e_g_per_item == pytest.approx(e.energy_j_per_item * 1.1 / 3.6e6 * 400)  # the accounting's, per response


def test_generation_cost_is_a_pure_function_of_its_callables(tmp_path):
    """Costs come from the profile and projection functions handed in: a fake projection whose energy is its
    MACs shows how the response is summed."""
    path = decoder(tmp_path)

    class P:
        def __init__(self, macs):
            self.energy_j_per_item, self.latency_s, self.pue, self.grid_gco2e_per_kwh = float(macs), 1e-3, 1.0, 100.0
            self.hardware, self.dtype, self.runtime = "x", "fp32", "graph"
            self.energy_log_sigma_model = self.energy_log_sigma_shared = 0.1
            self.bound, self.macs = {"memory": 1.0}, macs

        def to_dict(self):
            return {"energy_j_per_item": self.energy_j_per_item}

    g = generation_cost(str(path), decoder_roles(path), 10, 6, 1,
                        lambda d: profile_onnx(path, d, 1, per_op=True, scan_sparsity=False, hash_file=False), lambda prof: P(prof.macs))
    assert g.energy_j_per_response == pytest.approx(forward_macs(1, 10, 0) + sum(forward_macs(1, 1, L) for L in range(10, 15)))
    assert g.macs_per_response == g.energy_j_per_response


def test_cli_decode_response_and_errors(tmp_path):
    path = decoder(tmp_path)
    r = cli("project", path, "--hardware", "h100", "--phase", "decode", "--prompt-tokens", "16", "--output-tokens", "32",
            "--format", "json", "--pue", "1.1", "--grid-gco2e-per-kwh", "400")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)[0]
    g = d["detail"]
    assert g["prompt_tokens"] == 16 and g["output_tokens"] == 32 and d["energy_j_per_item"] == g["energy_j_per_response"] > 0
    assert d["item"] == "response" and g["macs_per_response"] == forward_macs(1, 16, 0) + sum(forward_macs(1, 1, L) for L in range(16, 47))
    r = cli("profile", path, "--phase", "prefill", "--prompt-tokens", "24", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["macs"] == forward_macs(1, 24, 0)
    r = cli("profile", path, "--phase", "decode", "--output-tokens", "5")
    assert r.exit_code == 0 and "assumed 128" in r.stdout
    assert cli("profile", path, "--prompt-tokens", "5").exit_code == 2  # without --phase
    assert cli("profile", path, "--phase", "sideways").exit_code == 2
    r = cli("project", path, "--hardware", "h100", "--phase", "decode", "--output-tokens", "0")
    assert r.exit_code == 2 and "--output-tokens 0" in r.stderr


def test_a_model_without_a_cache_says_what_decode_needs(tmp_path):
    m = helper.make_model(helper.make_graph([helper.make_node("Relu", ["input_ids"], ["y"])], "g",
                                            [helper.make_tensor_value_info("input_ids", T.FLOAT, ["b", "s"])],
                                            [helper.make_tensor_value_info("y", T.FLOAT, None)]),
                          opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "nocache.onnx"
    onnx.save(m, str(path))
    with pytest.raises(UsageError, match="no past key/value inputs"):
        decoder_roles(path)
