"""Benchmark of the static profiler (issues #2, #28, #38), ratios measured in one run on this machine.

    python benchmarks/static_profile.py [--repeats 3] [--processes-only] [--no-onnx-tool] [--sparsity-gib 1.0]

1. Whole processes (issue #38), first: `nas-analyzer profile --sparsity` of ViT-B/16, BERT-base and GPT-2 small
   exported by the dynamo exporter with external data (torch.onnx.export(dynamo=True), built from transformers'
   configurations with random weights and eager attention, no download; cached in benchmarks/.cache/dynamo/), one
   process for the three with an empty cache (XDG_CACHE_HOME: no remembered hash, sparsity or profile), then
   repeated (the profile read back, load/profile_memo.py), against onnx-tool's model_profile in one process per
   model on the same files. Target: the first profile >= 10x faster (goal 20x). Writes
   benchmarks/results/static_profile.json. `--processes-only` runs this section alone.
2. Static profile of ResNet-50, ViT-B/16, BERT-base, GPT-2 small (TorchScript exports, export_models.py) vs
   onnx.load(path, load_external_data=False) on the same file. Target: <= 3x.
3. The same profile vs onnx-tool's model_profile on the three transformers. Target: >= 10x faster.
   Columns: cold = everything, the file's sha256 computed and its weights scanned (first profile of a file);
   warm = everything with the sha256 and sparsity remembered by (path, size, mtime, ctime, inode); no-sparsity = warm without the weight scan, the
   work onnx-tool's profile does; count only = counting alone (hash_file=False).
4. First profile against reading the file once (issue #14: "no slower than reading the weights once"), from
   the page cache and, where this process may drop it (root on Linux), from disk.
5. Sparsity scan of external weights: throughput (target >= 1 GB/s) and peak RSS of a fresh process
   (target: well below the weights' size).
Prints a table; not a test (timings belong in benchmarks, not in the test suite). Run it alone on the machine
(flock /tmp/heavy.lock): timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) if repeats < 3 else statistics.median(times)


def bench_profile(paths: dict[str, Path], repeats: int, with_onnx_tool: bool) -> None:
    import onnx

    from analyzer import profile_onnx
    from analyzer.load import hash_cache

    print("times in seconds; ratios are against onnx.load(path, load_external_data=False) of the same file")
    print(f"{'model':<11} {'MB':>4} {'onnx.load':>9} | {'cold':>6} {'ratio':>6} | {'warm':>6} {'ratio':>6} | "
          f"{'no-sparsity':>11} {'count only':>10} | {'onnx-tool':>9} {'vs warm no-sp.':>14} {'vs count':>8}")
    for name, path in paths.items():
        load_s = best_of(lambda: onnx.load(str(path), load_external_data=False), repeats)

        def cold():
            for name in ("sha256", "sparsity"):  # the file is hashed and its weights scanned again
                hash_cache.cache_path(name).unlink(missing_ok=True)
            profile_onnx(path)
        cold_s = best_of(cold, repeats)
        warm_s = best_of(lambda: profile_onnx(path), repeats)
        nosp_s = best_of(lambda: profile_onnx(path, scan_sparsity=False), repeats)
        count_s = best_of(lambda: profile_onnx(path, scan_sparsity=False, hash_file=False), repeats)
        tool = speed = speed_count = ""
        if with_onnx_tool and name != "resnet50":
            import onnx_tool

            def run_tool():
                with contextlib.redirect_stdout(io.StringIO()):
                    onnx_tool.model_profile(str(path))
            tool_s = best_of(run_tool, 1)
            tool, speed, speed_count = f"{tool_s:9.2f}", f"{tool_s / nosp_s:13.1f}x", f"{tool_s / count_s:7.1f}x"
        print(f"{name:<11} {path.stat().st_size / 1e6:4.0f} {load_s:9.3f} | {cold_s:6.3f} {cold_s / load_s:5.2f}x | "
              f"{warm_s:6.3f} {warm_s / load_s:5.2f}x | {nosp_s:11.3f} {count_s:10.3f} | {tool:>9} {speed:>14} {speed_count:>8}")


# Peak RSS from /proc/self/status VmHWM: ru_maxrss of a child can carry the forking parent's peak.
_HWM = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
_RSS_CHILD = r"""
import json, sys, time
from analyzer import profile_onnx
t = time.perf_counter()
p = profile_onnx(sys.argv[1])
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "maxrss_kib": HWM, "sparsity": p.weight_sparsity}))
""".replace("HWM", _HWM)


def _drop_page_cache() -> bool:
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def bench_first_profile(paths: dict[str, Path]) -> None:
    from analyzer import profile_onnx
    from analyzer.load import hash_cache

    def read_once(path: Path) -> None:
        with open(path, "rb", buffering=0) as f:
            while f.read(16 << 20):
                pass

    def first(path: Path) -> None:
        for name in ("sha256", "sparsity"):
            hash_cache.cache_path(name).unlink(missing_ok=True)
        profile_onnx(path)

    print("\nfirst profile (hash + scan + count) against reading the file once; seconds")
    print(f"{'model':<11} {'MB':>4} | {'read, page':>10} {'first, page':>11} | {'read, disk':>10} {'first, disk':>11} {'ratio':>6}")
    for name, path in paths.items():
        read_page = best_of(lambda: read_once(path), 3)
        first_page = best_of(lambda: first(path), 3)
        disk = ""
        if _drop_page_cache():
            t = time.perf_counter()
            read_once(path)
            read_disk = time.perf_counter() - t
            _drop_page_cache()
            t = time.perf_counter()
            first(path)
            first_disk = time.perf_counter() - t
            disk = f"{read_disk:10.3f} {first_disk:11.3f} {first_disk / read_disk:5.2f}x"
        else:
            disk = f"{'(cannot drop the page cache here)':>30}"
        print(f"{name:<11} {path.stat().st_size / 1e6:4.0f} | {read_page:10.3f} {first_page:11.3f} | {disk}")


def bench_sparsity(gib: float) -> None:
    import numpy as np
    import onnx
    from onnx import helper

    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        tmp_path = Path(tmp)
        n = int(gib * 2**30 / 4 / 4096)
        data = tmp_path / "weights.bin"
        rng = np.random.default_rng(0)
        with open(data, "wb") as f:  # written in slices so this script's memory stays small too
            for start in range(0, n, 8192):
                block = rng.standard_normal((min(8192, n - start), 4096), dtype=np.float32)
                block[:, ::3] = 0
                f.write(block.tobytes())
        w = onnx.TensorProto(name="w", data_type=onnx.TensorProto.FLOAT, dims=[n, 4096])
        w.data_location = onnx.TensorProto.EXTERNAL
        for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", str(n * 4096 * 4))):
            w.external_data.add(key=k, value=v)
        g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "big",
                              [helper.make_tensor_value_info("x", 1, [1, n])], [helper.make_tensor_value_info("y", 1, None)], [w])
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "big.onnx"))
        size = data.stat().st_size
        baseline = json.loads(subprocess.run([sys.executable, "-c", "import json, analyzer; print(json.dumps({'maxrss_kib': " + _HWM + "}))"],
                                             capture_output=True, text=True, check=True, cwd=HERE.parent).stdout)
        out = json.loads(subprocess.run([sys.executable, "-c", _RSS_CHILD, str(tmp_path / "big.onnx")],
                                        capture_output=True, text=True, check=True, cwd=HERE.parent).stdout)
        print(f"\nsparsity scan of {size / 2**30:.2f} GiB external weights (page cache warm after writing):")
        print(f"  time {out['seconds']:.2f} s -> {size / out['seconds'] / 1e9:.2f} GB/s; zeros {out['sparsity']:.4f} (expected {1366 / 4096:.4f})")
        print(f"  peak RSS {out['maxrss_kib'] / 1024:.0f} MiB (import-only process: {baseline['maxrss_kib'] / 1024:.0f} MiB)"
              f" = {out['maxrss_kib'] * 1024 / size:.1%} of the weights' size")


_TOOL = "import contextlib, io, sys, onnx_tool\nwith contextlib.redirect_stdout(io.StringIO()):\n    onnx_tool.model_profile(sys.argv[1])"


def _process(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall, CPU) seconds of one whole process."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, check=True, cwd=HERE.parent)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


DYNAMO = HERE / ".cache" / "dynamo"
TRANSFORMERS = ("vit_b_16", "bert_base", "gpt2_small")


def export_dynamo() -> dict[str, Path]:
    """ViT-B/16, BERT-base and GPT-2 small built from transformers' default configurations (the published
    architectures: google/vit-base-patch16-224, bert-base-uncased, gpt2) with random weights, exported by the dynamo
    exporter with external data (opset 18) to benchmarks/.cache/dynamo/NAME/NAME.onnx (+ .onnx.data). Eager
    attention: the SDPA export writes IsNaN, which onnx-tool cannot infer. Idempotent."""
    out = {}
    for name in TRANSFORMERS:
        final = DYNAMO / name
        path = final / f"{name}.onnx"
        if not path.exists():
            import shutil
            import warnings

            import torch
            import transformers as tf

            torch.manual_seed(0)
            if name == "vit_b_16":
                model, x = tf.ViTModel(tf.ViTConfig(attn_implementation="eager"), add_pooling_layer=False), torch.randn(1, 3, 224, 224)
            elif name == "bert_base":
                model, x = tf.BertModel(tf.BertConfig(attn_implementation="eager"), add_pooling_layer=False), torch.randint(0, 1000, (1, 128))
            else:
                model, x = tf.GPT2Model(tf.GPT2Config(use_cache=False, attn_implementation="eager")), torch.randint(0, 1000, (1, 128))
            tmp = DYNAMO / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                program = torch.onnx.export(model.eval(), (x,), None, dynamo=True, opset_version=18)
                program.save(str(tmp / path.name), external_data=True)
            tmp.rename(final)  # the folder whole or not at all: the model and its data file together
        out[name] = path
    return out


def bench_processes(paths: dict[str, Path], repeats: int) -> dict:
    """The CLI as a user runs it against onnx-tool in its own process, on the three transformers together: the first
    profile (an empty cache each time) and the repeated one; medians of `repeats` runs."""
    names = [n for n in TRANSFORMERS if n in paths]
    files = [str(paths[n]) for n in names]
    cli = [sys.executable, "-m", "analyzer", "profile", "--no-store", "--sparsity", *files]
    firsts, agains, tools = [], [], []
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "XDG_CACHE_HOME": tmp}
            firsts.append(_process(cli, env))  # an empty cache: hashed, scanned, counted
            agains.append(_process(cli, env))
            tools.append([sum(x) for x in zip(*(_process([sys.executable, "-c", _TOOL, f], env) for f in files))])
    med = [(statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)) for runs in (firsts, agains, tools)]
    (first_w, first_c), (again_w, again_c), (tool_w, tool_c) = med
    gb = sum(p.stat().st_size + (p.parent / (p.name + ".data")).stat().st_size for p in map(Path, files)) / 1e9
    print(f"\nwhole processes, {', '.join(names)} (dynamo exports, external data, {gb:.2f} GB); medians of {repeats}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"  onnx-tool (one process per model)   {tool_w:7.2f} s wall {tool_c:7.2f} s CPU")
    print(f"  nas-analyzer profile, first          {first_w:7.2f} s wall {first_c:7.2f} s CPU   "
          f"{tool_w / first_w:5.1f}x faster (wall), {tool_c / first_c:5.1f}x (CPU); target >= 10x, goal 20x")
    print(f"  nas-analyzer profile, repeated       {again_w:7.2f} s wall {again_c:7.2f} s CPU   "
          f"{tool_w / again_w:5.1f}x faster (wall), {tool_c / again_c:5.1f}x (CPU)")
    return {"models": ", ".join(names), "weights_gb": round(gb, 3), "repeats": repeats,
            "onnx_tool_wall_s": round(tool_w, 3), "onnx_tool_cpu_s": round(tool_c, 3),
            "first_wall_s": round(first_w, 3), "first_cpu_s": round(first_c, 3),
            "repeated_wall_s": round(again_w, 3), "repeated_cpu_s": round(again_c, 3),
            "first_speedup_wall": round(tool_w / first_w, 2), "first_speedup_cpu": round(tool_c / first_c, 2),
            "repeated_speedup_wall": round(tool_w / again_w, 2), "first_target_speedup": 10, "first_goal_speedup": 20}


def write_results(name: str, numbers: dict) -> Path:
    """benchmarks/results/NAME.json: the numbers, the command and the date (docs/gen_benchmarks.py shows them)."""
    from _results import write_timed

    out = write_timed(name, numbers)
    print(f"results: {out.relative_to(HERE.parent)}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-onnx-tool", action="store_true")
    ap.add_argument("--sparsity-gib", type=float, default=1.0)
    ap.add_argument("--processes-only", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not args.no_onnx_tool:
        write_results("static_profile", bench_processes(export_dynamo(), args.repeats))
    if args.processes_only:
        return
    from export_models import export_all

    paths = export_all()
    bench_profile(paths, args.repeats, not args.no_onnx_tool)
    bench_first_profile(paths)
    if args.sparsity_gib > 0:
        bench_sparsity(args.sparsity_gib)


if __name__ == "__main__":
    main()
