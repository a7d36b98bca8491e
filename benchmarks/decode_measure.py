"""Decode and prefill of GPT-2 small with its KV cache, measured on a CUDA GPU, to check `project --phase`:

    python benchmarks/decode_measure.py measure --out DIR [--budget-s 150]     (on the GPU machine)
    python benchmarks/decode_measure.py compare DIR/decode.json --hardware h100 (here: projected vs measured)

`measure`: models/architectures.py's GPT2WithPast (12 layers, seeded random weights) in fp16; one decode step
(1 new token per sequence) at cache lengths 128, 512 and 960 for batch 1 and 8, and the prefill of 512
tokens at batch 1, in eager PyTorch and as a CUDA-graph replay; latency from CUDA events, energy from NVML's
counter over a window of at least 1.2 s (its counter advances in steps of tens of ms). Each step reruns the
same cache length (the new cache is dropped), so every repetition is the same work. Writes decode.json.

`compare`: exports the same module with the TorchScript exporter (optimum's dim names), projects each
measured setting with the shipped profiles and prints projected / measured latency and energy per step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "models"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_calibration import capture_graph  # noqa: E402 - the same warm-up and capture as the calibration runs
ENERGY_WINDOW_S = 1.2
# GPT-2's 1024 positions: a decode step at cache length L writes position L, so L stays below 1024
SETTINGS = [("decode", 1, 128), ("decode", 1, 512), ("decode", 1, 960), ("decode", 8, 128), ("decode", 8, 512),
            ("decode", 8, 960), ("prefill", 1, 512)]


def measure(out: Path, budget_s: float) -> None:
    import pynvml
    import torch

    import architectures as A

    t_start = time.perf_counter()
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    torch.manual_seed(0)
    model = A.randomise_(A.GPT2WithPast()).cuda().half().eval()
    rows: list[dict] = []
    out.mkdir(parents=True, exist_ok=True)
    env = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
           "driver": pynvml.nvmlSystemGetDriverVersion()}

    def inputs(phase: str, batch: int, length: int):
        seq, past = (length, 0) if phase == "prefill" else (1, length)
        x = model.example_inputs(batch=batch, seq=seq, past=past)
        return tuple(t.cuda().half() if t.is_floating_point() else t.cuda() for t in x)

    for runtime in ("graph", "eager"):
        for phase, batch, length in SETTINGS:
            if time.perf_counter() - t_start > budget_s:
                env.setdefault("skipped", []).append(f"{runtime}/{phase}/{batch}/{length}")
                continue
            x = inputs(phase, batch, length)
            with torch.no_grad():
                fn = (lambda: model(*x))
                step = capture_graph(torch, fn).replay if runtime == "graph" else fn
                for _ in range(5):
                    step()
                torch.cuda.synchronize()
                lat = []
                for _ in range(30):
                    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    a.record()
                    step()
                    b.record()
                    b.synchronize()
                    lat.append(a.elapsed_time(b))
                iters = 0
                e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
                w0 = time.perf_counter()
                while time.perf_counter() - w0 < ENERGY_WINDOW_S:
                    for _ in range(20):
                        step()
                    iters += 20
                    torch.cuda.synchronize()
                wall = time.perf_counter() - w0
                e1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
            row = {"runtime": runtime, "phase": phase, "batch": batch, "length": length, "dtype": "fp16",
                   "latency_ms_median": statistics.median(lat), "loop_ms_per_step": wall / iters * 1e3,
                   "energy_j_per_step": (e1 - e0) / 1e3 / iters, "avg_power_w": (e1 - e0) / 1e3 / wall, "iterations": iters}
            rows.append(row)
            print(json.dumps(row), flush=True)
            (out / "decode.json").write_text(json.dumps({"env": env, "rows": rows}, indent=1))
    (out / "decode.json").write_text(json.dumps({"env": env, "rows": rows}, indent=1))


from decode_check import projected_vs_measured  # noqa: E402 - models/decode_check.py, which tests/ uses too


def compare(path: Path, hardware: str) -> None:
    rows = projected_vs_measured(path, hardware)
    print(f"{'runtime':<7} {'phase':<8} {'batch':>5} {'length':>6} | {'latency ms meas/proj':>22} | {'J/step meas/proj':>20} | ratio E")
    errs = []
    for r in rows:
        ratio = r["projected_energy_j_per_step"] / r["energy_j_per_step"]
        errs.append(abs(ratio - 1))
        print(f"{r['runtime']:<7} {r['phase']:<8} {r['batch']:>5} {r['length']:>6} | {r['loop_ms_per_step']:9.3f} / "
              f"{r['projected_latency_ms']:9.3f} | {r['energy_j_per_step']:8.4f} / {r['projected_energy_j_per_step']:8.4f} | {ratio:.2f}")
    print(f"median |error| of energy per step: {statistics.median(errs):.1%} over {len(errs)} settings")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--budget-s", type=float, default=150.0)
    c = sub.add_parser("compare")
    c.add_argument("path", type=Path)
    c.add_argument("--hardware", default="h100")
    args = ap.parse_args()
    if args.cmd == "measure":
        measure(args.out, args.budget_s)
    else:
        compare(args.path, args.hardware)


if __name__ == "__main__":
    main()
