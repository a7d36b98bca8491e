"""Issue #7: re-running the analysis on unchanged models reads the results store. Times the analysis core
(profile -> project -> rank, as `analyze` runs it) on a cold store and again on the warm store, in one
process, for the shipped models and for 1,000 generated candidate graphs; prints the ratio (target >= 10x).

    python models/build.py && python benchmarks/store.py [--candidates 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def generate_candidates(folder: Path, n: int) -> list[Path]:
    """n small CNN candidates with different widths and depths (conv-bn-relu stacks, pooling, classifier)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        depth, width = 2 + i % 5, 8 * (1 + (i // 5) % 8)
        nodes, inits, cin, x = [], [], 3, "input"
        for d in range(depth):
            w = numpy_helper.from_array(rng.standard_normal((width, cin, 3, 3)).astype(np.float32), f"w{d}")
            inits.append(w)
            nodes += [helper.make_node("Conv", [x, f"w{d}"], [f"c{d}"], pads=[1, 1, 1, 1]),
                      helper.make_node("Relu", [f"c{d}"], [f"r{d}"])]
            x, cin = f"r{d}", width
        inits.append(numpy_helper.from_array(rng.standard_normal((10, width)).astype(np.float32), "fc"))
        nodes += [helper.make_node("GlobalAveragePool", [x], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
                  helper.make_node("Gemm", ["f", "fc"], ["logits"], transB=1)]
        g = helper.make_graph(nodes, f"cand{i}", [helper.make_tensor_value_info("input", 1, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("logits", 1, [1, 10])], inits)
        path = folder / f"cand{i:04d}.onnx"
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        paths.append(path)
    return paths


def run(paths: list[Path], store, pver: str) -> float:
    from analyzer.decide.rank import rank
    from analyzer.decide.ranking import candidates
    from analyzer.engine import evaluate
    from analyzer.profiles import load_profiles
    from analyzer.target import resolve_target, TargetRequest

    target = resolve_target(load_profiles(), TargetRequest("a100-40gb", dtype="bf16", runtime="ort", batch=8, pue=1.57, grid=436.0))
    t = time.perf_counter()
    evaluations = evaluate(paths, target, store=store, profiles_ver=pver)
    failed = [e.error for e in evaluations if not e.ok]
    assert not failed, failed[:3]
    rank(candidates(evaluations, {}, {}))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")  # cold sha256 cache and store for the first run
        from analyzer.load.manifest import read_manifest
        from analyzer.profiles import SHIPPED
        from analyzer.engine.store import Store, profiles_version

        pver = profiles_version(SHIPPED)
        shipped = [e.file for e in read_manifest(ROOT / "models" / "manifest.toml")]
        gen_dir = Path(tmp) / "candidates"
        gen_dir.mkdir()
        generated = generate_candidates(gen_dir, args.candidates)
        print(f"{'set':<28} {'models':>6} {'first run s':>12} {'second run s':>13} {'speed-up':>9}")
        for label, paths in (("shipped models", shipped), (f"{args.candidates} generated candidates", generated)):
            store = Store.open(Path(tmp) / f"{label.split()[0]}.sqlite")
            first = run(paths, store, pver)
            second = run(paths, store, pver)
            print(f"{label:<28} {len(paths):>6} {first:12.3f} {second:13.3f} {first / second:8.1f}x")
            store.close()


if __name__ == "__main__":
    main()
