"""Once-for-All MobileNetV3 subnets built straight into the IR (load/ofa.py): make_divisible's values, the config
door, the sources `ofa:N[:SEED]` and `ofa:FILE`, and the network against a torch port of OFA's modules (Hswish,
Hsigmoid and SEModule as ofa/utils/pytorch_modules.py writes them) exported to ONNX."""

import json

import pytest

from analyzer.count.profile import profile_graph
from analyzer.errors import UsageError
from analyzer.load import ofa
from analyzer.load.sources import known_size, read

LARGEST = ofa.Subnet((7,) * 20, (6,) * 20, (4,) * 5, 224)
SMALLEST = ofa.Subnet((3,) * 20, (3,) * 20, (2,) * 5, 128)
MIXED = ofa.Subnet((3, 5, 7, 5) * 5, (4, 6, 3, 3) * 5, (3, 2, 4, 3, 2), 160)


def test_make_divisible():
    # TF slim's rule: nearest multiple of 8, never under 8, never more than 10% down
    assert [ofa.make_divisible(v) for v in (16, 72, 3.5, 67, 90, 120)] == [16, 72, 8, 64, 88, 120]
    assert ofa.make_divisible(round(40 * 3)) == 120 and ofa.make_divisible(round(112 * 6) // 4) == 168


def test_the_largest_subnet_golden():
    """The whole supernet (every block, 7x7, expand 6): 7,664,760 parameters, BN affine included (golden: equal to
    the torch port's parameter count, test_the_ir_equals_torchs_export[largest])."""
    p = profile_graph("x", "", *ofa.build(LARGEST, 1), 1)
    assert p.params == 7_664_760 and p.coverage == 1.0


def test_inactive_blocks_choices_change_nothing():
    a = ofa.Subnet((3,) * 20, (3,) * 20, (2,) * 5, 192)
    b = ofa.Subnet(tuple(3 if j % 4 < 2 else 7 for j in range(20)), tuple(3 if j % 4 < 2 else 6 for j in range(20)), a.d, 192)
    pa, pb = (profile_graph("x", "", *ofa.build(s, 1), 1) for s in (a, b))
    assert (pa.macs, pa.params) == (pb.macs, pb.params)


def test_sources_and_the_door(tmp_path):
    subs = list(read("ofa:25:3"))
    assert len({t.identity for t in subs}) == 25 == known_size("ofa:25")
    assert [t.name for t in read("ofa:25:3")] == [t.name for t in subs]
    for t in subs:
        s = ofa.parse(t.ir_space[1])
        assert s.r in ofa.DRAW_RESOLUTIONS and all(d in (2, 3, 4) for d in s.d)
    f = tmp_path / "subnets.jsonl"
    f.write_text("# two\n" + LARGEST.to_json() + "\n\n" + MIXED.to_json() + "\n")
    assert [t.name for t in read(f"ofa:{f}")] == [LARGEST.name(), MIXED.name()]
    good = json.loads(MIXED.to_json())
    for change, phrase in ((("r", 225), "'r' must be a multiple of 4"), (("r", 224.0), "'r'"), (("ks", [3] * 19), "'ks' must be a list of 20"),
                           (("e", [3] * 19 + [5]), "'e'"), (("d", [1, 2, 3, 4, 4]), "'d'"), (("x", 1), "expected"),
                           (("d", [True] * 5), "'d'")):
        bad = {**good, change[0]: change[1]}
        f.write_text(json.dumps(bad) + "\n")
        with pytest.raises(UsageError, match=r"subnets.jsonl:1: .*" + phrase.replace("(", r"\(")):
            list(read(f"ofa:{f}"))
    for spec in ("ofa:0", f"ofa:{tmp_path / 'none'}", "ofa:"):
        with pytest.raises(UsageError):
            list(read(spec))


def _torch_net(s: ofa.Subnet, torch):
    """OFA's active MobileNetV3 subnet as its modules compute it (eval mode)."""
    nn, F = torch.nn, torch.nn.functional

    class Hswish(nn.Module):
        def forward(self, x):
            return x * F.relu6(x + 3.0) / 6.0

    class Hsigmoid(nn.Module):
        def forward(self, x):
            return F.relu6(x + 3.0) / 6.0

    class SE(nn.Module):
        def __init__(self, c):
            super().__init__()
            mid = ofa.make_divisible(c // 4)
            self.fc = nn.Sequential(nn.Conv2d(c, mid, 1), nn.ReLU(), nn.Conv2d(mid, c, 1), Hsigmoid())

        def forward(self, x):
            return x * self.fc(x.mean(3, keepdim=True).mean(2, keepdim=True))

    def act(a):
        return nn.ReLU() if a == "relu" else Hswish()

    class MB(nn.Module):
        def __init__(self, ci, co, k, e, stride, a, se):
            super().__init__()
            mid = ofa.make_divisible(round(ci * e))
            layers = [] if e == 1 else [nn.Conv2d(ci, mid, 1, bias=False), nn.BatchNorm2d(mid), act(a)]
            layers += [nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False), nn.BatchNorm2d(mid), act(a)]
            layers += [SE(mid)] if se else []
            layers += [nn.Conv2d(mid, co, 1, bias=False), nn.BatchNorm2d(co)]
            self.conv, self.res = nn.Sequential(*layers), stride == 1 and ci == co

        def forward(self, x):
            return self.conv(x) + x if self.res else self.conv(x)

    class Head(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.expand = nn.Sequential(nn.Conv2d(c, 960, 1, bias=False), nn.BatchNorm2d(960), Hswish())
            self.mix = nn.Sequential(nn.Conv2d(960, 1280, 1, bias=False), Hswish())
            self.classifier = nn.Linear(1280, 1000)

        def forward(self, x):
            x = self.expand(x).mean(3, keepdim=True).mean(2, keepdim=True)
            return self.classifier(torch.flatten(self.mix(x), 1))

    blocks = [nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), Hswish(), MB(16, 16, 3, 1, 1, "relu", False)]
    c, first = 16, [True] * 5
    for stage, k, e in s.active():
        blocks.append(MB(c, ofa.WIDTHS[stage], k, e, ofa.STRIDES[stage] if first[stage] else 1, ofa.ACTS[stage], ofa.SE[stage]))
        c, first[stage] = ofa.WIDTHS[stage], False
    return nn.Sequential(*blocks, Head(c))


@pytest.mark.torch
@pytest.mark.parametrize("s", [SMALLEST, MIXED, ofa.Subnet(LARGEST.ks, LARGEST.e, LARGEST.d, 128)], ids=["smallest", "mixed", "largest"])
def test_the_ir_equals_torchs_export(tmp_path, s):
    from conftest import require_torch
    from space_export import SHAPE_OPS, assert_export_equal

    torch = require_torch()
    # the exporter writes each Python scalar (the 3.0 and 6.0 of Hswish) as a double constant and a Cast to float,
    # which constant folding removes and PyTorch does not run: Casts of one scalar, 4 bytes in and 4 out
    ours, exported = assert_export_equal(tmp_path, torch, _torch_net(s, torch), (1, 3, s.r, s.r), *ofa.build(s, 1),
                                         skip=SHAPE_OPS | {"Cast"})
    casts = exported.op_type_totals["Cast"]
    assert casts["bytes"] == 8 * casts["count"] and "Cast" not in ours.op_type_totals
    hswish = 1 + 1 + sum(2 if ofa.ACTS[st] == "hswish" else 0 for st, _, _ in s.active()) + 1  # stem, head x2
    assert ours.op_type_totals["Div"]["count"] == hswish + sum(ofa.SE[st] for st, _, _ in s.active())
