"""Start-up and main-job times, measured in one run against the interpreter's own start (issue #14):

    python benchmarks/startup.py [--repeat 5]

Prints the median wall time of `python -c pass` (the reference), `nas-analyzer --help`, `nas-analyzer profile`
of a one-node model, and `nas-analyzer analyze` on the shipped samples (store off, no sensitivity sweep and
with it), each also as a ratio to the reference. Targets: --help <= 0.3 s, one-node profile <= 0.35 s,
analyze from cold < 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str], cwd: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import onnx
    from onnx import TensorProto, helper

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "one", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 10
        onnx.save(m, str(d / "one.onnx"))
        cli = [sys.executable, "-m", "analyzer"]
        ref = wall([sys.executable, "-c", "pass"], d, args.repeat)
        rows = [("python -c pass (reference)", ref),
                ("python -c 'import onnx' (numpy + onnx: the floor)", wall([sys.executable, "-c", "import onnx"], d, args.repeat)),
                ("nas-analyzer --help", wall(cli + ["--help"], d, args.repeat)),
                ("nas-analyzer profile one-node.onnx", wall(cli + ["profile", "one.onnx"], d, args.repeat)),
                ("nas-analyzer analyze --no-sensitivity", wall(cli + ["analyze", str(ROOT / "models"), "--no-store", "--no-sensitivity"], d, 3)),
                ("nas-analyzer analyze (with what-flips sweeps)", wall(cli + ["analyze", str(ROOT / "models"), "--no-store"], d, 3))]
    for name, t in rows:
        print(f"{name:<52} {t:7.3f} s   {t / ref:6.1f}x the reference")


if __name__ == "__main__":
    main()
