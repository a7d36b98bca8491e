"""Projected vs measured decode and prefill steps of models/architectures.py's GPT2WithPast (seeded weights): the
comparison benchmarks/decode_measure.py prints and tests/load/test_transformer_exports.py checks, kept beside the
model so that neither the tests nor the benchmarks import the other."""

from __future__ import annotations

import json
from pathlib import Path


def projected_vs_measured(path: Path, hardware: str, onnx_dir: Path | None = None) -> list[dict]:
    """Every measured setting of decode.json with its projection (the same module exported here)."""
    import tempfile
    import warnings

    import torch

    import architectures as A
    from analyzer.count.decoder import decoder_roles, phase_dims
    from analyzer.count import profile_onnx
    from analyzer.profiles import load_profiles, projection_defaults
    from analyzer.project import project, resolve_params

    data = json.loads(path.read_text())
    m = A.randomise_(A.GPT2WithPast())
    x = m.example_inputs()
    ins, outs = m.io_names()
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"}, "position_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
            **{n: {0: "batch_size", 2: "past_sequence_length"} for n in ins[3:]}}
    onnx_path = Path(onnx_dir or tempfile.mkdtemp()) / "gpt2_with_past.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, x, str(onnx_path), dynamo=False, opset_version=17, input_names=ins, output_names=outs, dynamic_axes=axes)
    roles = decoder_roles(onnx_path)
    ps = load_profiles(())
    out = []
    for r in data["rows"]:
        hw = ps.get("hardware", hardware)
        params = resolve_params(hw, r["dtype"], r["runtime"], projection_defaults())
        dims = phase_dims(roles, r["phase"], r["length"], None if r["phase"] == "prefill" else r["length"])
        prof = profile_onnx(onnx_path, dims, r["batch"], per_op=True, scan_sparsity=False, hash_file=False)
        p = project(prof, hw, params, r["runtime"], r["dtype"])
        out.append({**r, "projected_latency_ms": p.latency_s * 1e3, "projected_energy_j_per_step": p.energy_j_per_item * r["batch"]})
    return out
