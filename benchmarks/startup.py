"""Start-up and main-job times, measured in one run against the interpreter's own start (issue #14):

    python benchmarks/startup.py [--repeat 5]

Prints the median wall time (and CPU time: on a shared machine the wall time carries the others' load) of `python
-c pass` (the reference), `nas-analyzer --help`, `nas-analyzer profile` of a one-node model the first time (an empty
cache: onnx imported, checked, inferred) and repeated (read back, load/profile_memo.py), and `nas-analyzer analyze`
on the shipped samples (store off, without and with the what-flips sweeps; and repeated with a store), each also as
a ratio to the reference. Targets (issue #28): --help <= 0.15 s, one-node profile <= 0.35 s, analyze repeated <= 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str], cwd: Path, repeat: int, fresh_cache: bool = False) -> tuple[float, float]:
    """Median (wall, CPU) seconds of `cmd` as a whole process; `fresh_cache`: an empty user cache each time."""
    times, cpus = [], []
    for i in range(repeat):
        env = dict(os.environ)
        if fresh_cache:
            env["XDG_CACHE_HOME"] = str(cwd / f"cache-{time.perf_counter_ns()}")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
        times.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), statistics.median(cpus)


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
        os.environ["XDG_CACHE_HOME"] = str(d / "cache")  # never the user's cache or results store
        cli = [sys.executable, "-m", "analyzer"]
        ref = wall([sys.executable, "-c", "pass"], d, args.repeat)
        store = ["--store", str(d / "results.sqlite")]
        analyze = cli + ["analyze", str(ROOT / "models")]
        subprocess.run(analyze + store, cwd=d, capture_output=True, check=False)  # the first run fills the store
        rows = [("python -c pass (reference)", ref, None),
                ("python -c 'import onnx' (numpy + onnx)", wall([sys.executable, "-c", "import onnx"], d, args.repeat), None),
                ("nas-analyzer --help", wall(cli + ["--help"], d, args.repeat), 0.15),
                ("nas-analyzer profile one-node.onnx, first", wall(cli + ["profile", "one.onnx"], d, args.repeat, True), None),
                ("nas-analyzer profile one-node.onnx, repeated", wall(cli + ["profile", "one.onnx"], d, args.repeat), 0.35),
                ("nas-analyzer analyze --no-store --no-sensitivity", wall(analyze + ["--no-store", "--no-sensitivity"], d, 3), None),
                ("nas-analyzer analyze --no-store", wall(analyze + ["--no-store"], d, 3), None),
                ("nas-analyzer analyze, repeated (store)", wall(analyze + store, d, 3), 1.5)]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for name, (t, cpu), target in rows:
        goal = f"   {t / target:5.2f}x the {target:g} s target" if target else ""
        print(f"{name:<48} {t:7.3f} s wall {cpu:6.3f} s CPU   {t / ref[0]:6.1f}x the reference{goal}")


if __name__ == "__main__":
    main()
