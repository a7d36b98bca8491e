"""Transformers as the torch exporters write them with dynamic axes and Hugging Face's input names (issue #15):
only the user-facing dims are bound; MACs equal the static export at the same dims; the symbolic formulas
equal fresh numeric profiles at random bindings; a decoder with its KV cache costs weights once per token
plus attention over the cache. Two-layer models at full width keep the exports quick."""

import random
import sys
import warnings
from pathlib import Path

import pytest

from conftest import require_torch  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.slow]
torch = require_torch()

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models"))
import architectures as A  # noqa: E402

from analyzer import profile_onnx  # noqa: E402
from analyzer.count.decoder import decoder_roles, phase_dims, response_macs  # noqa: E402
from analyzer.count.symbolic import cost_formulas  # noqa: E402

DEPTH = 2


def _export(model, args, path, names, outputs, dynamic: dict | None, dynamo: bool):
    model = A.randomise_(model)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(model, args, str(path), dynamo=True, input_names=names, output_names=outputs,
                              dynamic_shapes=dynamic, opset_version=18, verbose=False)
        else:
            torch.onnx.export(model, args, str(path), dynamo=False, opset_version=17, input_names=names,
                              output_names=outputs, dynamic_axes=dynamic)
    return path


def _axes(dynamo: bool, ts: dict, n_inputs: int):
    """TorchScript: dynamic_axes names; dynamo: Dim.AUTO on the same axes, names chosen by torch.export."""
    if not dynamo:
        return ts
    from torch.export import Dim

    per_input = list(ts.values())[:n_inputs]
    return tuple({axis: Dim.AUTO for axis in axes} for axes in per_input)


ENCODERS = {
    "bert": (lambda: A.BertEncoder(depth=DEPTH), lambda b, s: (torch.randint(0, 1000, (b, s)),), ["input_ids"],
             {"input_ids": {0: "batch", 1: "seq"}}),
    "gpt2": (lambda: A.GPT2(depth=DEPTH), lambda b, s: (torch.randint(0, 1000, (b, s)),), ["input_ids"],
             {"input_ids": {0: "batch", 1: "seq"}}),
    "vit": (lambda: A.ViT(768, DEPTH, 12, 3072), lambda b, s: (torch.randn(b, 3, 224, 224),), ["pixel_values"],
            {"pixel_values": {0: "batch"}}),
}


def _names(path: Path) -> tuple[str, ...]:
    from analyzer.load.onnx_graph import input_signature

    return tuple(d for s in input_signature(path) for d in (s.dims or ()) if isinstance(d, str))


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_dynamic_export_profiles_with_only_its_input_dims(tmp_path, name, dynamo):
    make, args, inputs, axes = ENCODERS[name]
    dyn = _export(make(), args(2, 64), tmp_path / "dynamic.onnx", inputs, ["out"], _axes(dynamo, axes, 1), dynamo)
    static = _export(make(), args(3, 96), tmp_path / "static.onnx", inputs, ["out"], None, False)
    names = _names(dyn)
    batch_name, seq_name = names[0], (names[1] if len(names) > 1 else None)
    dims = {batch_name: 3} | ({seq_name: 96} if seq_name else {})
    p = profile_onnx(dyn, dims=dims, scan_sparsity=False)
    assert p.macs == profile_onnx(static, scan_sparsity=False).macs
    assert not any("lower bound" in n for n in p.notes)
    formulas = cost_formulas(dyn)
    rng = random.Random(7)
    for _ in range(3):
        binding = {batch_name: rng.randint(1, 5)} | ({seq_name: rng.randint(2, 200)} if seq_name else {})
        q = profile_onnx(dyn, dims=binding, scan_sparsity=False)
        for key in ("macs", "flops", "bytes_moved"):
            assert formulas.totals[key](binding) == getattr(q, key), (key, binding)
    if name == "bert":  # linear and quadratic in seq, each per layer: 7,077,888 and 2 x 768
        macs = formulas.totals["macs"]
        assert macs.degree(seq_name) == 2
        terms = {tuple(e): c for e, c in macs.terms}
        assert terms[(1, 2)] == DEPTH * 2 * 768 and terms[(1, 1)] == DEPTH * 7_077_888
        for seq in (128, 512):
            assert macs({batch_name: 1, seq_name: seq}) == profile_onnx(dyn, dims={batch_name: 1, seq_name: seq}, scan_sparsity=False).macs


def _gpt2_with_past(tmp_path, dynamo: bool) -> Path:
    m = A.GPT2WithPast(depth=DEPTH)
    x = m.example_inputs(batch=1, seq=4, past=6)
    ins, outs = m.io_names()
    if dynamo:
        from torch.export import Dim

        dynamic = ({0: Dim.AUTO, 1: Dim.AUTO},) * 3 + (tuple({0: Dim.AUTO, 2: Dim.AUTO} for _ in x[3:]),)
    else:  # optimum's names
        dynamic = {"input_ids": {0: "batch_size", 1: "sequence_length"}, "position_ids": {0: "batch_size", 1: "sequence_length"},
                   "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
                   **{n: {0: "batch_size", 2: "past_sequence_length"} for n in ins[3:]},
                   "logits": {0: "batch_size", 1: "sequence_length"},
                   **{n: {0: "batch_size", 2: "past_sequence_length + sequence_length"} for n in outs[1:]}}
    return _export(m, x, tmp_path / "decoder_with_past.onnx", ins, outs, dynamic, dynamo)


def _decode_macs(past: int) -> int:
    """One token: every weight matrix once (blocks and the tied LM head) plus attention over past + 1 positions."""
    per_block = 768 * 2304 + 768 * 768 + 2 * 768 * 3072
    return DEPTH * per_block + 768 * 50257 + DEPTH * 2 * 768 * (past + 1)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_decoder_with_past_decode_macs_in_closed_form(tmp_path, dynamo):
    path = _gpt2_with_past(tmp_path, dynamo)
    roles = decoder_roles(path)
    for past in (0, 1, 100, 700):
        p = profile_onnx(path, phase_dims(roles, "decode", 10, past), 1, scan_sparsity=False)
        assert p.macs == _decode_macs(past), past
    prefill = profile_onnx(path, phase_dims(roles, "prefill", 50), 1, scan_sparsity=False)
    assert prefill.macs == 50 * (DEPTH * (768 * 2304 + 768 * 768 + 2 * 768 * 3072) + 768 * 50257) + DEPTH * 2 * 768 * 50 * 50
    r = response_macs(path, 50, 20, 1, None, profile_onnx, scan_sparsity=False, hash_file=False)
    assert r["macs_per_response"] == prefill.macs + sum(_decode_macs(L) for L in range(50, 69))


def test_decode_projections_against_h100_measurements(tmp_path):
    """GPT-2 small decode and prefill measured on an H100 (never fitted on): projected energy per step within
    20% median (11.9% when recorded) and latency rising with the cache as measured at batch 8."""
    import statistics

    from decode_check import projected_vs_measured  # models/, on the path above

    recorded = Path(__file__).resolve().parents[2] / "profiles/measurements/h100-sxm-2026-11-27-decode/decode.json"
    rows = projected_vs_measured(recorded, "h100", tmp_path)
    assert len(rows) == 14
    errors = [abs(r["projected_energy_j_per_step"] / r["energy_j_per_step"] - 1) for r in rows]
    assert statistics.median(errors) < 0.20
    b8 = sorted((r["length"], r["projected_latency_ms"]) for r in rows if r["runtime"] == "graph" and r["batch"] == 8 and r["phase"] == "decode")
    assert b8[0][1] < b8[1][1] < b8[2][1]


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_the_shipped_decoder_matches_its_config(tmp_path, dynamo):
    """The shipped decoder (models/architectures.py's GPT2WithPast) exported with its cache, against the cost graph
    built from GPT-2's config.json alone (count/decoder_graph.py, issue #29): MACs equal at prefill and decode,
    parameters and cache bytes per token too."""
    import json

    from analyzer.count.decoder_graph import Dtypes, graph, kv_bytes_per_token, params, static_aggregates, totals
    from analyzer.load.hf_config import spec_from_dict

    cfg = json.loads((Path(__file__).resolve().parents[2] / "models" / "decoders" / "gpt2.json").read_text())
    spec = spec_from_dict({**cfg, "n_layer": DEPTH}, "gpt2-2")
    path = _gpt2_with_past(tmp_path, dynamo)
    roles = decoder_roles(path)
    ops = graph(spec, Dtypes(4, 4, 4))
    for seq, past in ((50, 0), (1, 100), (1, 700)):
        dims = phase_dims(roles, "prefill", seq) if past == 0 else phase_dims(roles, "decode", 10, past)
        prof = profile_onnx(path, dims, 1, scan_sparsity=False)
        assert totals(ops, static_aggregates(spec, 1, seq, past))["macs"] == prof.macs, (seq, past)
    # TorchScript folds the tied LM head's transpose (wte.weight.t()) into a second, transposed copy of the table;
    # dynamo keeps a one-element float constant
    assert prof.params - params(spec)[0] in ((50257 * 768,) if not dynamo else (0, 1))
    assert kv_bytes_per_token(spec, 4) == roles.cache_bytes_per_token
