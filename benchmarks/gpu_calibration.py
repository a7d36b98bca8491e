"""Measure models on a CUDA GPU with the PyTorch backend, and fit the GPU projection to what was measured
(issue #11). Two steps, so the GPU is held only while it measures:

    python benchmarks/gpu_calibration.py measure --out DIR [--budget-s 420] [--models a,b,...]
    python benchmarks/gpu_calibration.py fit --data DIR [--hardware h100-sxm] [--write PROFILE.toml]

`measure` (needs torch with CUDA and nvidia-ml-py) writes into DIR:
  env.json             the card, driver, torch/CUDA/cuDNN versions, the TF32 switches, the host CPU, idle power
  measurements.csv     one row per model x dtype x batch x runtime (eager | cuda-graph): median latency
                       (CUDA events, one forward per sample, synchronised as a server returns each result),
                       NVML energy and average power over a loop of >= 1.2 s, kernels per forward
  micro.json           the physics the kernel model is built on: GEMM throughput against size per dtype,
                       copy bandwidth against size, host time per eager launch, gap per CUDA-graph kernel,
                       and the board power while launch-bound
  traces/*.json.gz     torch.profiler traces of one eager forward per model x dtype x batch (every kernel
                       with its duration and the aten op, with shapes, that launched it)
Models are those of models/architectures.py (the shipped candidates, ViT-B/16 and BERT-base), random weights,
NCHW, cudnn.benchmark on, PyTorch's default TF32 switches (cuDNN convolutions may use TF32, matmuls do not).
A time budget bounds the run: what is left when it ends is skipped and said so.

`fit` reads such a folder (or profiles/measurements/h100-sxm-calibration-set.csv) and calibrates the projection.

A GPU no shipped calibration measured, in one command (issue #25; about 6 minutes on an H100):

    python benchmarks/gpu_calibration.py new-gpu --hardware NAME --out DIR [--write PROFILE.toml]

measures the 5 fit models and 4 held-out ones (fp32/fp16, batch 1/32/256, eager and CUDA graphs, no training),
then runs benchmarks/new_gpu.py on what it measured: the blind error of the shipped (transferred) profile first,
then the calibration on the 5 fit models, then the error on the 4 held out, then the profile written.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import platform
import shutil
import statistics
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "models"))
sys.path.insert(0, str(ROOT / "benchmarks"))

IMAGE_MODELS = ("resnet50", "mobilenet_v2", "efficientnet_b0", "deit_tiny", "resnet18", "mobilenet_v3_large",
                "mnasnet1_0", "vit_b_16", "bert_base")
TV_MODELS = ("tv_mobilenet_v3_large", "tv_resnet18", "tv_mnasnet1_0")
SEQ_LEN = 128
BATCHES = (1, 32, 256)
DTYPES = ("fp32", "fp16")
ENERGY_WINDOW_S = 1.2  # as the shared calibration set: NVML's counter advances in steps of tens of ms
FIELDS = ("model", "dtype", "batch", "runtime", "latency_ms_median", "latency_ms_p10", "latency_ms_p90",
          "loop_ms_per_forward", "avg_power_w", "energy_j_per_sample", "kernels_per_forward", "iterations",
          "energy_window_s")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Nvml:
    def __init__(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        self.nvml = pynvml
        self.h = pynvml.nvmlDeviceGetHandleByIndex(0)

    def mj(self) -> int:
        return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.h))

    def power_w(self) -> float:
        return self.nvml.nvmlDeviceGetPowerUsage(self.h) / 1000

    def info(self) -> dict:
        n = self.nvml
        out = {"driver": n.nvmlSystemGetDriverVersion(), "name": n.nvmlDeviceGetName(self.h)}
        for key, fn in (("power_limit_w", lambda: n.nvmlDeviceGetPowerManagementLimit(self.h) / 1000),
                        ("max_sm_clock_mhz", lambda: n.nvmlDeviceGetMaxClockInfo(self.h, n.NVML_CLOCK_SM)),
                        ("max_mem_clock_mhz", lambda: n.nvmlDeviceGetMaxClockInfo(self.h, n.NVML_CLOCK_MEM))):
            try:
                out[key] = fn()
            except Exception as e:  # noqa: BLE001 - report what the driver refuses, keep measuring
                out[key] = f"unavailable: {e}"
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in out.items()}


def energy_loop(step, sync, meter: Nvml, items: int, window_s: float = ENERGY_WINDOW_S) -> tuple[float, float, float, int]:
    """Run `step` (synchronised each time) for >= window_s; returns (J/item, avg W, s per step, steps)."""
    sync()
    e0, t0, n = meter.mj(), time.perf_counter(), 0
    while True:
        step()
        sync()
        n += 1
        t = time.perf_counter() - t0
        if t >= window_s and n >= 3:
            break
    e1 = meter.mj()
    joules = (e1 - e0) / 1000
    return joules / (n * items), joules / t, t / n, n


def time_events(torch, step, min_iters: int = 15, min_s: float = 0.25) -> list[float]:
    """Per-forward latency in ms from CUDA events, each forward synchronised."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    out: list[float] = []
    t0 = time.perf_counter()
    while len(out) < min_iters or time.perf_counter() - t0 < min_s:
        start.record()
        step()
        end.record()
        end.synchronize()
        out.append(start.elapsed_time(end))
        if len(out) >= 400:
            break
    return out


def build(torch, name: str, dtype: str, batch: int):
    import architectures

    if name.startswith("tv_"):  # torchvision's own module, to compare with profiles/measurements/h100-sxm-calibration-set.csv
        import torchvision

        model = getattr(torchvision.models, name[3:])(weights=None).cuda().eval()
    else:
        model = architectures.randomise_(architectures.FACTORIES[name]()).cuda().eval()
    if name in ("bert_base", "gpt2_small"):
        x = torch.randint(0, 1000, (batch, SEQ_LEN), device="cuda")
    else:
        x = torch.randn(batch, 3, 224, 224, device="cuda")
    if dtype == "fp16":
        model = model.half()
        if x.is_floating_point():
            x = x.half()
    return model, x


def count_kernels(trace: dict) -> tuple[int, int]:
    events = trace.get("traceEvents", [])
    kernels = sum(1 for e in events if e.get("cat") == "kernel")
    copies = sum(1 for e in events if e.get("cat") in ("gpu_memcpy", "gpu_memset"))
    return kernels, copies


def profile_forward(torch, step, path: Path) -> tuple[int, int]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
        step()
        torch.cuda.synchronize()
    raw = path.with_suffix("")  # .json
    prof.export_chrome_trace(str(raw))
    trace = json.loads(raw.read_text())
    raw.unlink()
    keep = {"cpu_op", "kernel", "gpu_memcpy", "gpu_memset", "cuda_runtime", "cuda_driver"}
    args_keep = {"External id", "Input Dims", "Input type", "Concrete Inputs", "correlation", "grid", "block",
                 "registers per thread", "shared memory", "stream", "device"}
    slim = [{**{k: e[k] for k in ("name", "cat", "ts", "dur", "tid") if k in e},
             "args": {k: v for k, v in e.get("args", {}).items() if k in args_keep}}
            for e in trace.get("traceEvents", []) if e.get("cat") in keep]
    with gzip.open(path, "wt", compresslevel=9) as g:
        json.dump({"traceEvents": slim}, g)
    return count_kernels(trace)


def capture_graph(torch, fn):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    torch.cuda.synchronize()
    return g


def micro(torch, meter: Nvml, deadline: float) -> dict:
    """GEMM throughput vs size per dtype, copy bandwidth vs size, eager launch cost, graph kernel gap."""
    out: dict = {"gemm": [], "copy": [], "notes": []}
    sync = torch.cuda.synchronize

    def t_ms(fn, iters: int) -> float:
        fn()
        sync()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(iters):
            fn()
        b.record()
        b.synchronize()
        return a.elapsed_time(b) / iters

    shapes = [(n, n, n) for n in (256, 512, 1024, 2048, 4096, 8192)] + [
        (1, 768, 768), (1, 3072, 768), (197, 2304, 768), (197, 768, 3072), (128, 768, 768), (4096, 768, 3072),
        (32, 1000, 1280), (256, 1000, 1280), (12608, 576, 192), (50432, 192, 768), (25216, 768, 768), (32768, 3072, 768)]
    for dt in ("fp32", "tf32", "fp16"):
        torch.backends.cuda.matmul.allow_tf32 = dt == "tf32"
        tdt = torch.float16 if dt == "fp16" else torch.float32
        for m, n, k in shapes:
            if time.perf_counter() > deadline:
                out["notes"].append("gemm sweep cut by the time budget")
                break
            a = torch.randn(m, k, device="cuda", dtype=tdt)
            b = torch.randn(k, n, device="cuda", dtype=tdt)
            flops = 2 * m * n * k
            iters = max(3, min(200, int(2e11 / flops) + 1)) if dt == "fp32" else max(3, min(400, int(2e12 / flops) + 1))
            ms = t_ms(lambda: torch.mm(a, b), iters)
            out["gemm"].append({"dtype": dt, "m": m, "n": n, "k": k, "ms": ms, "tflops": flops / ms / 1e9})
    torch.backends.cuda.matmul.allow_tf32 = False
    for mib in (0.0625, 0.25, 1, 4, 16, 64, 256, 1024):
        x = torch.empty(int(mib * 2**20) // 4, device="cuda")
        y = torch.empty_like(x)
        ms = t_ms(lambda: y.copy_(x), 50 if mib < 64 else 10)
        out["copy"].append({"mib": mib, "ms": ms, "gbps_rw": 2 * mib * 2**20 / ms / 1e6})
    # host cost of one eager launch, and the GPU gap per kernel in a CUDA-graph replay, on a 1-element op
    x = torch.zeros(1, device="cuda")
    n_ops = 2000

    def many():
        for _ in range(n_ops):
            x.add_(1)

    many()
    sync()
    t0 = time.perf_counter()
    many()
    sync()
    out["eager_us_per_tiny_op"] = (time.perf_counter() - t0) / n_ops * 1e6
    j, w, s, _ = energy_loop(many, sync, meter, n_ops)
    out["eager_tiny_ops_power_w"] = w
    g = capture_graph(torch, many)
    out["graph_us_per_tiny_kernel"] = t_ms(g.replay, 10) * 1e3 / n_ops
    j, w, s, _ = energy_loop(g.replay, sync, meter, n_ops)
    out["graph_tiny_kernels_power_w"] = w
    return out


def cmd_measure(args: argparse.Namespace) -> int:
    import torch

    t_start = time.perf_counter()
    deadline = t_start + args.budget_s
    out = Path(args.out)
    (out / "traces").mkdir(parents=True, exist_ok=True)
    torch.backends.cudnn.benchmark = True
    meter = Nvml()
    time.sleep(1.0)
    e0, t0 = meter.mj(), time.perf_counter()
    time.sleep(2.0)
    idle_w = (meter.mj() - e0) / 1000 / (time.perf_counter() - t0)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), platform.processor())
    env = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version(), "device": torch.cuda.get_device_name(0),
           "sm_count": torch.cuda.get_device_properties(0).multi_processor_count,
           "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32, "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
           "cpu": cpu, "cpu_count": os.cpu_count(), "idle_power_w_before": idle_w, **meter.info()}
    (out / "env.json").write_text(json.dumps(env, indent=1))
    _log(f"env: {env}")
    sync = torch.cuda.synchronize
    try:
        m = micro(torch, meter, t_start + 60)
        _log(f"micro: eager {m['eager_us_per_tiny_op']:.1f} us/op, graph {m['graph_us_per_tiny_kernel']:.2f} us/kernel, "
             f"power {m['eager_tiny_ops_power_w']:.0f}/{m['graph_tiny_kernels_power_w']:.0f} W")
    except Exception as e:  # noqa: BLE001 - the model measurements matter more
        m = {"error": f"{type(e).__name__}: {e}"}
        _log(f"micro FAILED: {m['error']}")
    (out / "micro.json").write_text(json.dumps(m, indent=1))
    rows_path = out / "measurements.csv"
    with open(rows_path, "w", newline="") as f:
        csv.DictWriter(f, FIELDS).writeheader()
    models = args.models.split(",") if args.models else list(IMAGE_MODELS)
    skipped: list[str] = []
    batches = [int(b) for b in args.batches.split(",")]
    dtypes = args.dtypes.split(",")
    if args.validate:
        validate_product_path(torch, out)
    for name in models:
        for dtype in dtypes:
            for batch in batches:
                if time.perf_counter() > deadline:
                    skipped.append(f"{name}/{dtype}/{batch}")
                    continue
                try:
                    rows = measure_one(torch, meter, name, dtype, batch, out / "traces")
                except Exception as e:  # noqa: BLE001 - one failing config must not lose the others
                    _log(f"FAILED {name} {dtype} b{batch}: {type(e).__name__}: {e}")
                    skipped.append(f"{name}/{dtype}/{batch} ({type(e).__name__})")
                    torch.cuda.empty_cache()
                    continue
                with open(rows_path, "a", newline="") as f:
                    csv.DictWriter(f, FIELDS).writerows(rows)
                for r in rows:
                    _log(f"{name:<18} {dtype} b{batch:<3} {r['runtime']:<10} {r['latency_ms_median']:9.3f} ms "
                         f"{r['avg_power_w']:6.1f} W {r['energy_j_per_sample']:.5f} J/item kernels {r['kernels_per_forward']}")
    train_path = out / "train.csv"
    with open(train_path, "w", newline="") as f:
        csv.DictWriter(f, TRAIN_FIELDS).writeheader()
    train_models = [m for m in args.train_models.split(",") if m] if args.train_models else list(TRAIN_MODELS)
    for name in train_models if not (args.models or args.no_train) else ():
        for precision in args.train_precisions.split(","):
            for batch in (int(b) for b in args.train_batches.split(",")):
                if time.perf_counter() > deadline:
                    skipped.append(f"train/{name}/{precision}/{batch}")
                    continue
                try:
                    r = measure_train(torch, meter, name, precision, batch, out / "traces")
                except Exception as e:  # noqa: BLE001
                    _log(f"FAILED train {name} {precision} b{batch}: {type(e).__name__}: {e}")
                    skipped.append(f"train/{name}/{precision}/{batch} ({type(e).__name__})")
                    torch.cuda.empty_cache()
                    continue
                with open(train_path, "a", newline="") as f:
                    csv.DictWriter(f, TRAIN_FIELDS).writerow(r)
                _log(f"train {name:<16} {precision} b{batch:<3} {r['step_ms_median']:9.3f} ms {r['avg_power_w']:6.1f} W "
                     f"{r['energy_j_per_sample']:.5f} J/sample kernels {r['kernels_per_step']}")
    for name in TV_MODELS if not (args.models or args.no_train) else ():
        for dtype in DTYPES:
            for batch in (1, 256):
                if time.perf_counter() > deadline:
                    skipped.append(f"{name}/{dtype}/{batch}")
                    continue
                try:
                    rows = measure_one(torch, meter, name, dtype, batch, out / "traces")
                except Exception as e:  # noqa: BLE001
                    _log(f"FAILED {name} {dtype} b{batch}: {type(e).__name__}: {e}")
                    skipped.append(f"{name}/{dtype}/{batch} ({type(e).__name__})")
                    continue
                with open(rows_path, "a", newline="") as f:
                    csv.DictWriter(f, FIELDS).writerows(rows)
                for r in rows:
                    _log(f"{name:<18} {dtype} b{batch:<3} {r['runtime']:<10} {r['latency_ms_median']:9.3f} ms "
                         f"{r['avg_power_w']:6.1f} W {r['energy_j_per_sample']:.5f} J/item kernels {r['kernels_per_forward']}")
    time.sleep(1.0)
    e0, t0 = meter.mj(), time.perf_counter()
    time.sleep(2.0)
    env["idle_power_w_after"] = (meter.mj() - e0) / 1000 / (time.perf_counter() - t0)
    env["skipped"] = skipped
    env["elapsed_s"] = time.perf_counter() - t_start
    (out / "env.json").write_text(json.dumps(env, indent=1))
    for part, match in (("infer", lambda p: not p.name.startswith("train_")), ("train", lambda p: p.name.startswith("train_"))):
        with tarfile.open(out / f"traces_{part}.tar", "w") as tar:  # members are gzipped already
            for p in sorted((out / "traces").iterdir()):
                if match(p):
                    tar.add(p, arcname=f"traces/{p.name}")
    shutil.rmtree(out / "traces")
    _log(f"done in {env['elapsed_s']:.0f} s; skipped {len(skipped)}: {skipped}")
    return 0


def measure_one(torch, meter: Nvml, name: str, dtype: str, batch: int, traces: Path) -> list[dict]:
    sync = torch.cuda.synchronize
    model, x = build(torch, name, dtype, batch)

    def eager():
        with torch.inference_mode():
            model(x)

    for _ in range(3):  # cudnn.benchmark picks its algorithms on the first calls
        eager()
    sync()
    kernels, copies = profile_forward(torch, eager, traces / f"{name}_{dtype}_b{batch}.json.gz")
    rows = []
    graph = None
    for runtime in ("eager", "cuda-graph"):
        if runtime == "cuda-graph":
            with torch.inference_mode():
                graph = capture_graph(torch, lambda: model(x))
            step = graph.replay
            step()
        else:
            step = eager
        lat = time_events(torch, step)
        j, w, s, n = energy_loop(step, sync, meter, batch)
        q = statistics.quantiles(lat, n=10)
        rows.append({"model": name, "dtype": dtype, "batch": batch, "runtime": runtime,
                     "latency_ms_median": round(statistics.median(lat), 5), "latency_ms_p10": round(q[0], 5),
                     "latency_ms_p90": round(q[-1], 5), "loop_ms_per_forward": round(s * 1e3, 5), "avg_power_w": round(w, 2),
                     "energy_j_per_sample": round(j, 6), "kernels_per_forward": kernels, "iterations": n,
                     "energy_window_s": round(s * n, 3)})
    del graph, model, x
    torch.cuda.empty_cache()
    return rows


def validate_product_path(torch, out: Path) -> None:
    """The product's PyTorch backend on this GPU: measure_torch with CUDA events, with and without CUDA
    graphs, metered by NVML (analyzer.measure.torch_backend). Written to validate.json."""
    import architectures

    from analyzer.measure.torch_backend import TorchRun, measure_torch

    rows = []
    for graphs in (False, True):
        try:
            model = architectures.randomise_(architectures.FACTORIES["resnet18"]()).half()
            x = torch.randn(64, 3, 224, 224).half()
            m = measure_torch(model, (x,), device="cuda", meter="auto", name="resnet18",
                              settings=TorchRun(cuda_graphs=graphs, max_time_s=4.0))
            rows.append(m.to_dict())
            _log(f"measure_torch resnet18 fp16 b64 graphs={graphs}: {m.latency_s_median * 1e3:.3f} ms, {m.energy_j_per_item} J/item, "
                 f"{m.energy_source}, converged {m.converged}")
        except Exception as e:  # noqa: BLE001 - report and go on with the measurements
            rows.append({"error": f"{type(e).__name__}: {e}", "cuda_graphs": graphs})
            _log(f"measure_torch FAILED graphs={graphs}: {type(e).__name__}: {e}")
    (out / "validate.json").write_text(json.dumps(rows, indent=1, default=str))


TRAIN_MODELS = ("resnet50", "mobilenet_v2", "efficientnet_b0", "resnet18", "deit_tiny")
TRAIN_FIELDS = ("model", "precision", "batch", "optimizer", "step_ms_median", "avg_power_w", "energy_j_per_sample",
                "kernels_per_step", "iterations")


def measure_train(torch, meter: Nvml, name: str, precision: str, batch: int, traces: Path) -> dict:
    """One training step (forward, cross-entropy, backward, SGD with momentum) in eager PyTorch: fp32 as
    PyTorch defaults, or bf16/fp16 autocast with fp32 master weights. The five TRAIN_MODELS are kept back
    to check issue #18's training projection; other models (--train-models) are for `calibrate --phase train`."""
    import architectures

    sync = torch.cuda.synchronize
    model = architectures.randomise_(architectures.FACTORIES[name]()).cuda().train()
    x = torch.randn(batch, 3, 224, 224, device="cuda")
    y = torch.randint(0, 1000, (batch,), device="cuda")
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16 if precision == "fp16" else torch.bfloat16,
                            enabled=precision != "fp32"):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    sync()
    kernels = -1
    if batch == 64:
        kernels, _ = profile_forward(torch, step, traces / f"train_{name}_{precision}_b{batch}.json.gz")
    lat = time_events(torch, step, min_iters=10, min_s=0.2)
    j, w, s, n = energy_loop(step, sync, meter, batch)
    del model, opt, x, y
    torch.cuda.empty_cache()
    return {"model": name, "precision": precision, "batch": batch, "optimizer": "sgd-momentum",
            "step_ms_median": round(statistics.median(lat), 4), "avg_power_w": round(w, 2),
            "energy_j_per_sample": round(j, 6), "kernels_per_step": kernels, "iterations": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure", help="measure on the CUDA GPU at hand")
    m.add_argument("--out", required=True)
    m.add_argument("--budget-s", type=float, default=420.0)
    m.add_argument("--models", default="")
    m.add_argument("--batches", default="1,32,256", help="comma-separated batch sizes")
    m.add_argument("--dtypes", default="fp32,fp16")
    m.add_argument("--no-train", action="store_true", help="skip the training steps and the torchvision models")
    m.add_argument("--train-models", default="", help="comma-separated models whose training steps to measure (default: "
                   "the five kept back to check the training projection; name others, e.g. mobilenet_v3_large,mnasnet1_0, "
                   "to calibrate it)")
    m.add_argument("--train-precisions", default="fp32,bf16", help="comma-separated: fp32, bf16, fp16 (autocast)")
    m.add_argument("--train-batches", default="64,256")
    m.add_argument("--validate", action="store_true", help="also run the product's own measure_torch (CUDA events, CUDA graphs, NVML)")
    f = sub.add_parser("fit", help="calibrate the projection on measured data")
    f.add_argument("--data", default=str(ROOT / "profiles" / "measurements" / "h100-sxm-2026-11-27"))
    f.add_argument("--shared", default=str(ROOT / "profiles" / "measurements" / "h100-sxm-calibration-set.csv"),
                   help="the shared H100 calibration set (fitted on too)")
    f.add_argument("--hardware", default="h100-sxm")
    f.add_argument("--write", default="", help="write the calibrated profile here")
    g = sub.add_parser("new-gpu", help="measure 9 models here, project blind, calibrate on 5, check on 4 (one command)")
    g.add_argument("--hardware", required=True, help="the profile of the GPU at hand (nas-analyzer profiles list hardware)")
    g.add_argument("--out", required=True)
    g.add_argument("--budget-s", type=float, default=420.0)
    g.add_argument("--write", default="", help="write the calibrated profile here")
    args = ap.parse_args()
    if args.cmd == "measure":
        return cmd_measure(args)
    if args.cmd == "new-gpu":
        from new_gpu import FIT_MODELS, HELD_OUT
        from new_gpu import main as check

        ns = argparse.Namespace(out=args.out, budget_s=args.budget_s, models=",".join(FIT_MODELS + HELD_OUT), batches="1,32,256",
                                dtypes="fp32,fp16", no_train=True, train_models="", train_precisions="", train_batches="",
                                validate=False)
        cmd_measure(ns)
        name = ""
        env = Path(args.out) / "env.json"
        if env.exists():
            name = json.loads(env.read_text()).get("device", "")
        return check(["--data", args.out, "--hardware", args.hardware, "--write", args.write, "--measured-on", name])
    from h100_fit import cmd_fit

    return cmd_fit(args)


if __name__ == "__main__":
    sys.exit(main())
