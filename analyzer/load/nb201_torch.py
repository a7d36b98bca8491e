"""A NAS-Bench-201 cell string as the PyTorch module NB201 itself runs (Dong & Yang 2020, `TinyNetwork`:
cell_infers/tiny_network.py, cells.py, operations.py), in eval mode: what `measure` and the space benchmarks run
eagerly, and what the IR of load/nb201.py is checked against (tests/load/test_nb201_ir.py). Needs the torch extra.

A node's incoming edges are summed left to right as the arch string lists them; `none` is `x * 0` (NB201's Zero
launches a multiply, as this does); weights are seeded and distinct (uniform 0.5-1.5: fresh batch norms would be
equal, and an exporter shares equal initializers)."""

from __future__ import annotations

from typing import Any

from . import nb201_arch as nb


def torch_net(arch: nb.Arch, torch: Any) -> Any:
    """The eval-mode `torch.nn.Module` of `arch` (an nb201_arch.Arch) for 32 x 32 inputs and 10 classes, with
    seeded weights; `torch` is the imported module (the caller decides how a missing extra is said)."""
    nn = torch.nn

    def rcb(ci: int, co: int, k: int, s: int, p: int) -> Any:  # NB201's ReLUConvBN
        return nn.Sequential(nn.ReLU(), nn.Conv2d(ci, co, k, s, p, bias=False), nn.BatchNorm2d(co))

    class Zero(nn.Module):
        def forward(self, x):
            return x.mul(0.0)

    def edge(op: str, c: int) -> Any:
        return {"none": Zero(), "skip_connect": nn.Identity(), "nor_conv_1x1": rcb(c, c, 1, 1, 0),
                "nor_conv_3x3": rcb(c, c, 3, 1, 1), "avg_pool_3x3": nn.AvgPool2d(3, 1, 1, count_include_pad=False)}[op]

    class Cell(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.edges = nn.ModuleList(edge(op, c) for op in arch.ops)

        def forward(self, x):
            states = [x]
            for to in range(1, nb.NODES):
                total = None
                for k, (t, frm) in enumerate(nb.EDGES):
                    if t == to:
                        y = self.edges[k](states[frm])
                        total = y if total is None else total + y
                states.append(total)
            return states[-1]

    class Block(nn.Module):  # NB201's ResNetBasicblock with stride 2
        def __init__(self, ci: int, co: int):
            super().__init__()
            self.a, self.b = rcb(ci, co, 3, 2, 1), rcb(co, co, 3, 1, 1)
            self.down = nn.Sequential(nn.AvgPool2d(2, 2, 0), nn.Conv2d(ci, co, 1, bias=False))

        def forward(self, x):
            return self.down(x) + self.b(self.a(x))

    c, layers = 16, [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)]
    for stage in range(3):
        if stage:
            layers.append(Block(c, 2 * c))
            c *= 2
        layers += [Cell(c) for _ in range(5)]
    layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(c, 10)]
    net = nn.Sequential(*layers).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.uniform_(0.5, 1.5)
    return net
