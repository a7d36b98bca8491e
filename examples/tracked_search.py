"""A real small search under the tracker: a few trials of a tiny PyTorch MLP on CPU, one span per trial with its
candidate (width, depth) and its learning rate, then the final training of the best candidate as a span of kind
'final'. The run is recorded in the results store (`analyze --search-run tiny-search`, `plan-search --compare ...`).

    python examples/tracked_search.py [--trials 4] [--steps 300] [--store PATH | --no-store]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def train(width: int, depth: int, lr: float, steps: int) -> float:
    import torch

    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    d = 32
    for _ in range(depth):
        layers += [torch.nn.Linear(d, width), torch.nn.ReLU()]
        d = width
    model = torch.nn.Sequential(*layers, torch.nn.Linear(d, 4))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    x = torch.randn(256, 32)
    y = (x[:, :4].argmax(1))  # a learnable task: the largest of the first four features
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return loss.item()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--no-store", action="store_true")
    ap.add_argument("--log", type=Path, default=None)
    args = ap.parse_args(argv)
    import torch

    import analyzer

    torch.set_num_threads(1)
    candidates = [(16, 1), (32, 2), (64, 2), (64, 3), (128, 2), (128, 3)][: args.trials]
    with analyzer.track("tiny-search", site=analyzer.SiteRequest(pue=1.1, region="deu"), store=False if args.no_store else args.store,
                        log=args.log) as run:
        train(8, 1, 0.1, 5)  # torch's first use (thread pools, kernels) outside any trial: the idle line
        losses = {}
        for width, depth in candidates:
            with run.trial(f"w{width}-d{depth}", arch=f"mlp:{width}x{depth}", width=width, depth=depth, lr=0.1):
                losses[(width, depth)] = train(width, depth, 0.1, args.steps)
        best = min(losses, key=losses.get)
        with run.trial("final", kind="final", arch=f"mlp:{best[0]}x{best[1]}"):
            train(*best, 0.1, args.steps * 3)
    r = run.result
    print(f"{r.run_id}: {r.seconds:.2f} s, {r.total_energy_j:.4g} J device ({r.meters['cpu']['provenance']}), "
          f"{r.account.co2e_kg * 1000:.4g} g CO2e (band {r.account.co2e_low_kg * 1000:.3g}..{r.account.co2e_high_kg * 1000:.3g} g)")
    for s in r.spans:
        print(f"  {s['name']:<10} {s['identity']:<12} {s['seconds']:.2f} s {s['energy_j']:8.3f} J")
    print(f"  {'(idle)':<10} {'':<12} {sum(r.idle_j.values()):8.3f} J")
    return r.to_dict()


if __name__ == "__main__":
    main()
