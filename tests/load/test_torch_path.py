"""The PyTorch front door (fvcore) against the ONNX path of the same module's export, published counts,
and the CLI's file loading rules (factories, TorchScript, refused pickles, state dicts)."""

import json
import os
import sys
import warnings
from pathlib import Path

import pytest

from conftest import require_torch  # noqa: E402

pytestmark = pytest.mark.torch
torch = require_torch()

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models"))
import architectures  # noqa: E402

from analyzer import profile_onnx, profile_torch  # noqa: E402
from cli_helpers import cli  # noqa: E402

# name -> (published params, torchvision published GMACs or None, input)
CASES = {
    "resnet50": (25_557_032, 4.089e9, "image"),
    "mobilenet_v2": (3_504_872, 0.301e9, "image"),
    "efficientnet_b0": (5_288_548, 0.386e9, "image"),
    "vit_b_16": (86_567_656, 17.56e9, "image"),
    "bert_base": (109_482_240, None, "tokens"),  # BERT-base (Devlin et al. 2019): 110M; HF BertModel count
}


def _inputs(kind):
    return (torch.randint(0, 30522, (1, 128)),) if kind == "tokens" else (torch.randn(1, 3, 224, 224),)


@pytest.mark.parametrize("name", list(CASES))
def test_fvcore_and_onnx_paths_agree(tmp_path, name):
    params, published, kind = CASES[name]
    module = architectures.randomise_(architectures.FACTORIES[name]())
    x = _inputs(kind)
    tp = profile_torch(module, x, name=name)
    assert tp.params == params and tp.coverage == 1.0 and not tp.unsupported_ops
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, x, str(path), dynamo=False, opset_version=17)
    op = profile_onnx(path, scan_sparsity=False)
    # MACs: both count exactly the matrix products (fvcore's conv/linear/matmul "flops" are MACs, mapped
    # explicitly). They agree to the MAC here; the bound is the 1%.
    assert abs(op.macs - tp.macs) / tp.macs < 0.01
    if published:
        assert abs(tp.macs - published) / published < 0.005
    # Per op type: aten::_convolution <-> Conv, aten::linear <-> Gemm/MatMul (+Add for the bias when the
    # exporter splits it), aten::matmul <-> MatMul (attention). FLOPs differ only by what the exporter
    # folds away: BatchNorm into Conv (2 flops per element), so the ONNX side is never larger.
    conv_t = sum(v["macs"] for k, v in tp.op_type_totals.items() if "conv" in k)
    conv_o = sum(v["macs"] for k, v in op.op_type_totals.items() if k == "Conv")
    assert conv_t == conv_o
    assert op.flops <= tp.flops * 1.001


def test_sdpa_attention_is_counted():
    class Attn(torch.nn.Module):
        def forward(self, q, k, v):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    q = torch.randn(2, 4, 8, 16)
    k = torch.randn(2, 4, 12, 16)
    p = profile_torch(Attn(), (q, k, torch.randn(2, 4, 12, 16)))
    assert p.macs == 2 * 4 * 8 * 12 * (16 + 16) and p.coverage == 1.0


def test_unsupported_ops_are_reported():
    class Odd(torch.nn.Module):
        def forward(self, x):
            return torch.fft.fft(x).real

    p = profile_torch(Odd(), (torch.randn(4, 8),))
    assert p.unsupported_ops and p.coverage < 1.0
    assert any("unsupported op aten::fft" in n for n in p.notes)




FACTORY = '''
import torch

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(16, 4)

    def forward(self, x):
        return torch.relu(self.fc(x))

def make():
    return Net(), torch.randn(2, 16)

def wrong_shape():
    return Net(), torch.randn(2, 5)

def not_a_pair():
    return Net()
'''


def test_cli_factory_torchscript_and_refusals(tmp_path):
    f = tmp_path / "net.py"
    f.write_text(FACTORY)
    r = cli("profile", f"{f}:make", "--format", "json", "--export-onnx", tmp_path / "net.onnx")
    assert r.exit_code == 0, r.output
    t, o = json.loads(r.stdout)
    assert t["macs"] == o["macs"] == 2 * 16 * 4 and t["params"] == 68
    assert "MACs fvcore 128 vs ONNX 128" in r.stderr
    r = cli("profile", f"{f}:wrong_shape")
    assert r.exit_code == 1 and "the factory failed" not in r.stderr and "cannot trace the module" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli("profile", f"{f}:missing")
    assert r.exit_code == 2 and "defines no top-level function 'missing'" in r.stderr
    r = cli("profile", f"{f}:not_a_pair")
    assert r.exit_code == 2 and "(module, example_inputs)" in r.stderr
    r = cli("profile", f"{tmp_path / 'nofile.py'}:make")
    assert r.exit_code == 2 and "no such file" in r.stderr

    sys.path.insert(0, str(tmp_path))
    import net  # noqa: PLC0415

    scripted = tmp_path / "net.pt"
    torch.jit.trace(net.Net(), torch.randn(2, 16)).save(str(scripted))
    r = cli("profile", scripted, "--input-shape", "2,16", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["macs"] == 128
    r = cli("profile", scripted)
    assert r.exit_code == 2 and "--input-shape" in r.stderr

    state = tmp_path / "state.pth"
    torch.save(net.Net().state_dict(), str(state))
    r = cli("profile", state, "--input-shape", "2,16")
    assert r.exit_code == 2 and "not a module" in r.stderr

    pickled = tmp_path / "whole.pth"
    torch.save(net.Net(), str(pickled))
    r = cli("profile", pickled, "--input-shape", "2,16")
    assert r.exit_code == 1 and "arbitrary pickled code" in r.stderr and "--trust-pickle" in r.stderr
    r = cli("profile", pickled, "--input-shape", "2,16", "--trust-pickle", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["macs"] == 128
