"""Measure a set of ONNX cells with ONNX Runtime on this CPU so that the numbers can be trusted on a shared machine.

How (benchmarks/space_ranking.py calls `measure`; each process runs `python benchmarks/space_measure.py --worker`):
- ONNX Runtime pinned to ONE intra-op thread and one inter-op thread, sequential execution, every graph optimisation
  on (what `measure` does by default): one core's work, so another engineer's light job on the other vCPU takes
  nothing from it; the hardware profile projected against is the matching one-core profile (ci-cpu-1core).
- every session is created and warmed up (WARMUP_S of runs, at least 3) before any is timed;
- then ROUNDS rounds, each over every cell in a freshly shuffled order, REPS timed runs per cell per round whose
  median is the round's value: drift and bursts of load hit all cells alike instead of whichever was measured then;
- this in PROCESSES fresh processes one after the other (as pyperf does: a process's allocation and code layout
  can make it run all its cells a few % slower or faster);
- a cell's latency is the median over every round of every process; its between-round spread (relative
  interquartile range of the round values, and the log sd of the process medians) is kept beside it.
Results are cached in benchmarks/.cache/space_ranking/, keyed by the cells' ONNX hashes, the batch, the settings and
the ONNX Runtime version, so a rerun of the ranking re-measures nothing. Run under `flock /tmp/heavy.lock`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache" / "space_ranking"
WARMUP_S = 0.3
THREADS = 1


def _session(path: Path, batch: int):
    import onnxruntime as ort

    from analyzer.load.seeded import materialize

    run_path = materialize(path, CACHE / "samples")
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(run_path), so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [batch if not isinstance(d, int) or i == 0 else d for i, d in enumerate(inp.shape)]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return lambda: sess.run(None, {inp.name: x})


def _eager(arch: str, batch: int):
    """PyTorch eager on this CPU, one thread (torch.set_num_threads(1), as ONNX Runtime's one intra-op thread), under
    inference_mode: NB201's own module (analyzer/load/nb201_torch.py)."""
    import torch

    from analyzer.load import nb201_arch
    from analyzer.load.nb201_torch import torch_net

    torch.set_num_threads(1)
    net = torch_net(nb201_arch.parse(arch), torch)
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def run():
        with torch.inference_mode():
            net(x)
    return run


def worker(paths: list, batch: int, rounds: int, reps: int, seed: int, runtime: str = "ort") -> list[list[float]]:
    """rounds x cells: the median of `reps` timed runs of each cell in each round (module docstring); `paths` are
    ONNX files for ONNX Runtime, NB201 arch strings for eager PyTorch."""
    runs = [_session(p, batch) if runtime == "ort" else _eager(p, batch) for p in paths]
    for run in runs:
        t_end, k = time.perf_counter() + WARMUP_S, 0
        while k < 3 or time.perf_counter() < t_end:
            run()
            k += 1
    out = np.zeros((rounds, len(runs)))
    rng = np.random.default_rng(seed)
    for r in range(rounds):
        for i in rng.permutation(len(runs)):
            ts = []
            for _ in range(reps):
                t = time.perf_counter()
                runs[i]()
                ts.append(time.perf_counter() - t)
            out[r, i] = float(np.median(ts))
    return out.tolist()


def _key(paths: list, batch: int, rounds: int, reps: int, processes: int, runtime: str = "ort") -> str:
    h = hashlib.sha256()
    if runtime == "ort":
        import onnxruntime as ort

        for p in paths:
            h.update(hashlib.sha256(p.read_bytes()).digest())
        version = ort.__version__
    else:
        import torch

        h.update("\n".join(paths).encode())
        version = torch.__version__
    h.update(json.dumps([batch, rounds, reps, processes, THREADS, WARMUP_S, version]).encode())
    return h.hexdigest()[:16]


def measure(paths: list, batch: int, rounds: int, reps: int, processes: int, seed: int = 0, runtime: str = "ort") -> dict:
    """{'latency_s', 'round_iqr_rel', 'process_log_sd', 'rounds_s' (processes x rounds x cells), 'cached'};
    `runtime` "ort" (`paths`: ONNX files) or "eager" (`paths`: NB201 arch strings, run as PyTorch modules)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    prefix = "ort" if runtime == "ort" else "eager"
    cached = CACHE / f"{prefix}-b{batch}-{_key(paths, batch, rounds, reps, processes, runtime)}.json"
    if cached.is_file():
        return json.loads(cached.read_text()) | {"cached": str(cached)}
    per_process = []
    for k in range(processes):
        spec = json.dumps({"paths": [str(p) for p in paths], "batch": batch, "rounds": rounds, "reps": reps,
                           "seed": seed * 1000 + k, "runtime": runtime})
        done = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True, check=True,
                              cwd=ROOT, env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
        per_process.append(json.loads(done.stdout.strip().splitlines()[-1]))
    a = np.array(per_process)  # processes x rounds x cells
    flat = a.reshape(-1, a.shape[2])
    q1, med, q3 = np.percentile(flat, [25, 50, 75], axis=0)
    proc_med = np.median(a, axis=1)
    res = {"latency_s": med.tolist(), "round_iqr_rel": ((q3 - q1) / med).tolist(),
           "process_log_sd": (np.std(np.log(proc_med), axis=0, ddof=1) if processes > 1 else np.zeros(len(paths))).tolist(),
           "rounds_s": a.tolist(), "threads": THREADS, "rounds": rounds, "reps": reps, "processes": processes}
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps(res))
    tmp.replace(cached)
    return res | {"cached": ""}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.path.insert(0, str(ROOT))
        s = json.loads(sys.argv[2])
        rt = s.get("runtime", "ort")
        print(json.dumps(worker([Path(p) if rt == "ort" else p for p in s["paths"]], s["batch"], s["rounds"], s["reps"],
                                s["seed"], rt)))
    else:
        sys.exit("used by benchmarks/space_ranking.py (python benchmarks/space_measure.py --worker SPEC)")
