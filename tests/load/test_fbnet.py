"""FBNet layer choices built straight into the IR (load/fbnet.py): FBNet-A, B and C against the parameters and
MACs mobile-vision publishes for them, the choice door, the sources `fbnet:N[:SEED]` and `fbnet:FILE`, and the
network against a torch port of mobile-vision's blocks exported to ONNX."""

import json

import pytest

from analyzer.count.profile import profile_graph
from analyzer.errors import UsageError
from analyzer.load import fbnet
from analyzer.load.sources import known_size, read

# facebookresearch/mobile-vision, mobile_cv/model_zoo/models/model_info/fbnet_v2/model_info_fbnet.json:
# params_m and flops_m of fbnet_a, fbnet_b, fbnet_c (ImageNet, 224)
PUBLISHED = {"a": (4.27029, 244.52636), "b": (4.76667, 291.10164), "c": (5.52542, 378.23344)}


@pytest.mark.parametrize("arch", ["a", "b", "c"])
def test_fbnet_abc_as_published(arch):
    """mobile-vision's figures count the convolutions' weights (no biases, no batch norms: folded away) and their
    MACs plus one add per element the global pooling reads (last x 7 x 7); ours, counted the same way, round to them
    at the five decimals published. Every conv's shape enters both."""
    blocks, last = fbnet.FBNET[arch]
    g, inits = fbnet.build(fbnet.Choice(blocks), 1, last)
    p = profile_graph("x", "", g, inits, 1)
    conv_weights = sum(n.inputs[1].numel() for n in g.nodes if n.op_type == "Conv")
    params_m, flops_m = PUBLISHED[arch]
    assert round(conv_weights / 1e6, 5) == params_m
    assert round((p.macs + last * 7 * 7) / 1e6, 5) == flops_m
    assert p.coverage == 1.0


def test_the_door_and_sources(tmp_path):
    tasks = list(read("fbnet:20:2"))
    assert len({t.identity for t in tasks}) == 20 == known_size("fbnet:20")
    assert [t.name for t in read("fbnet:20:2")] == [t.name for t in tasks]
    f = tmp_path / "choices.jsonl"
    f.write_text("".join(fbnet.Choice(fbnet.FBNET[k][0]).to_json() + "\n" for k in "abc"))
    assert [t.name for t in read(f"fbnet:{f}")] == [fbnet.Choice(fbnet.FBNET[k][0]).name() for k in "abc"]
    for bad, phrase in (({"blocks": ["skip"] * 21}, "21 blocks"), ({"blocks": ["k7_e6"] * 22}, 'block "k7_e6" is not one of'),
                        ({"blocks": [1] * 22}, "block 1 is not"), ({"block": []}, "expected"), ([], "expected")):
        f.write_text(json.dumps(bad) + "\n")
        with pytest.raises(UsageError, match="choices.jsonl:1: " + phrase):
            list(read(f"fbnet:{f}"))
    for spec in ("fbnet:0", f"fbnet:{tmp_path / 'none'}"):
        with pytest.raises(UsageError):
            list(read(spec))


def _torch_net(c: fbnet.Choice, last: int, torch):
    """mobile-vision's FBNet (irf_block.IRFBlock with bias, basic_blocks.Identity, ClsConvHead) in eval mode; the
    channel shuffle written as view, permute, view (maskrcnn-benchmark's ChannelShuffle)."""
    nn = torch.nn

    def cbr(ci, co, k, s=1, g=1, bias=True, relu=True):
        return [nn.Conv2d(ci, co, k, s, k // 2, groups=g, bias=bias), nn.BatchNorm2d(co)] + ([nn.ReLU()] if relu else [])

    class Shuffle(nn.Module):
        def __init__(self, c, h, g):
            super().__init__()
            self.c, self.h, self.g = c, h, g

        def forward(self, x):
            c, h, g = self.c, self.h, self.g
            return x.view(1, g, c // g, h, h).permute(0, 2, 1, 3, 4).contiguous().view(1, c, h, h)

    class Block(nn.Module):
        def __init__(self, name, ci, co, s, h):
            super().__init__()
            self.res = s == 1 and ci == co
            if name == "skip":
                self.body = nn.Identity() if self.res else nn.Sequential(*cbr(ci, co, 1, s, bias=False))
                self.res = False
                return
            k, e, g = int(name[1]), int(name.split("_")[1][1:]), 2 if name.endswith("_g2") else 1
            mid = ci * e
            layers = [] if mid == ci else cbr(ci, mid, 1, g=g)
            layers += [Shuffle(mid, h, g)] if g > 1 else []
            layers += cbr(mid, mid, k, s, g=mid) + cbr(mid, co, 1, g=g, relu=False)
            self.body = nn.Sequential(*layers)

        def forward(self, x):
            return self.body(x) + x if self.res else self.body(x)

    layers, c, h, names = cbr(3, 16, 3, 2), 16, 112, iter(c.blocks)
    for width, n, stride in fbnet.STAGES:
        for j in range(n):
            layers.append(Block(next(names), c, width, stride if j == 0 else 1, h))
            c, h = width, h // (stride if j == 0 else 1)
    layers += cbr(c, last, 1) + [nn.AdaptiveAvgPool2d(1), nn.Conv2d(last, 1000, 1), nn.Flatten(1)]
    return nn.Sequential(*layers)


# every block, a skip that strides and one that widens, a grouped block that strides and one that widens
EVERY_BLOCK = ("k3_e1", "skip", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1_g2", "k5_e1", "k5_e3", "skip", "k5_e6", "k3_e1",
               "k5_e1_g2", "k3_e6", "skip", "k5_e3", "k3_e1_g2", "skip", "k5_e6", "k3_e3", "k5_e1", "k5_e6", "k3_e3")


@pytest.mark.torch
@pytest.mark.parametrize("blocks, last", [(fbnet.FBNET["a"][0], 1504), (EVERY_BLOCK, 1984)], ids=["fbnet-a", "every-block"])
def test_the_ir_equals_torchs_export(tmp_path, blocks, last):
    from conftest import require_torch
    from space_export import assert_export_equal

    torch = require_torch()
    c = fbnet.Choice(blocks)
    ours, _ = assert_export_equal(tmp_path, torch, _torch_net(c, last, torch), (1, 3, 224, 224), *fbnet.build(c, 1, last))
    assert ours.op_type_totals["Transpose"]["count"] == sum(b.endswith("_g2") for b in blocks)


def test_the_python_api_takes_every_space():
    """analyzer.candidates streams each space's tasks; analyzer.evaluate and analyzer.cost price them alike."""
    import analyzer
    from analyzer.load import ir_spaces

    tg = analyzer.resolve_target(analyzer.load_profiles(), analyzer.TargetRequest("h100", runtime="graph", batch=8, pue=1.1, grid=200.0))
    tasks = [next(iter(analyzer.candidates(f"{s}:1:5"))) for s in ("nb101", "ofa", "fbnet")]
    tasks.append(ir_spaces.task("fbnet", fbnet.Choice(fbnet.FBNET["b"][0]).to_json(), "fbnet-b"))
    evals = analyzer.evaluate(tasks, tg)
    assert all(e.ok for e in evals), [e.error for e in evals]
    for t, e in zip(tasks, evals):
        one = analyzer.cost(t, tg)
        assert (one.macs, one.params, one.latency_s, one.co2e_g_per_item) == (e.macs, e.params, e.latency_s, e.co2e_g_per_item)
    assert evals[-1].params == 4_818_216 and evals[-1].macs == 8 * 291_004_424
