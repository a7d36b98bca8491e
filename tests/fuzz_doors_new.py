"""The doors added since issue #27, fuzzed as tests/fuzz_doors.py fuzzes the older ones (issue #35): decoder configs
(structure-aware: keys renamed, types changed, huge integers, deep nesting, huge lists), meter recordings (the replay
meter's t_s,energy_j CSV), CodeCarbon CSV and Zeus JSON imports, measurement stores (JSON lines), files of request
lengths, and command-line option values. Each door has seeds, byte-level and structure-aware mutations, and an oracle:
refused with one of our errors in one line, or accepted and what follows is sound (finite, non-negative, within the
record's own rules, nothing raw on the terminal). Used by benchmarks/fuzz.py and tests/whole/test_fuzz.py; the oracles'
known failures in other areas are held in tests/whole/test_fuzz_findings.py."""

from __future__ import annotations

import csv, io  # noqa: E401
import json
import math
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import fuzzing
from fuzz_doors import HOSTILE, _bad_numbers, _one_line, mutate_value

ROOT = Path(__file__).resolve().parent.parent
DOORS = ("config", "recording", "codecarbon", "zeus", "measurements", "lengths", "option")
DATA = ROOT / "tests" / "data" / "interchange"
# a flag of a command, its ordinary value, and the command around it (FILE: a decoder's config)
OPTIONS = [
    ("--batch", "8"), ("--max-concurrency", "16"), ("--max-batched-tokens", "2048"), ("--kv-dtype", "fp8"), ("--lengths", "fixed"),
    ("--prompt-tokens", "500"), ("--output-tokens", "300"), ("--tensor-parallel", "1"), ("--hardware", "h100"),
    ("--dtype", "bf16"), ("--pue", "1.2"), ("--grid-gco2e-per-kwh", "400"), ("--region", "us-central1"),
    ("--datacenter", "google-fleet"), ("--utilization", "0.5"), ("--runtime", "graph"), ("--power-boundary", "chip"),
]
OPTION_VALUES = ["0", "-1", "2.5", "1e309", "nan", "inf", "-0", "99999999999999999999999", "1" + "0" * 5000, "", " ",
                 "x" * 20000, "\x1b[2J", "fp8\x00", "../../etc/passwd", "/dev/zero", "h100@2020", "1,000", "0x10", "１"]


def measurement_seed() -> dict[str, Any]:
    return dict(model="/m/resnet18.onnx", sha256="ab" * 32, backend="onnxruntime", batch=8, provider="CUDAExecutionProvider",
                threads=None, opt_level="all", runtime_version="onnxruntime 1", cpu_model="Xeon", session_creation_s=0.1,
                latency_s_median=0.004, latency_s_p10=0.004, latency_s_p90=0.004, latency_s_ci95=[0.004, 0.004], ci_rel=0.01,
                converged=True, iterations=100, warmup_iterations=10, throughput_per_s=2000, energy_j_per_item=0.25,
                dynamic_energy_j_per_item=0.2, idle_power_w=60, avg_power_w=500, energy_source="nvml:gpu0 (NVIDIA H100)",
                measured_at="2026-12-02T12:00:00+00:00", energy_provenance="measured")


def seeds() -> dict[str, list[Any]]:
    configs = [json.loads(p.read_text()) for p in sorted((ROOT / "models" / "decoders").glob("*.json"))]
    recording = "t_s,energy_j\n" + "".join(f"{t / 100:g},{50.0 * t / 100:g}\n" for t in range(0, 101))
    zeus = json.loads((DATA / "zeus-h100-fp32-eager.json").read_text())
    lengths = "".join(json.dumps({"prompt_tokens": p, "output_tokens": o}) + "\n" for p, o in ((500, 300), (12, 1), (4000, 80)))
    return {"config": configs, "recording": [recording], "codecarbon": [(DATA / "codecarbon-example-2.4.3rc1.csv").read_text()],
            "zeus": [zeus], "measurements": [measurement_seed()], "lengths": [lengths], "option": [None]}


# ---- mutations ---------------------------------------------------------------------------------------------------


def mutate_config(cfg: dict, rng: random.Random) -> bytes:
    """A config.json mutated as a model: keys renamed or dropped, values of the wrong type, huge integers (written as
    JSON text beyond Python's int-string limit), deep nesting, huge lists, cross-field contradictions."""
    cfg = json.loads(json.dumps(cfg))
    kind = rng.randrange(7)
    keys = list(cfg)
    if kind == 0 and keys:  # a key misspelled, re-cased or dropped
        k = rng.choice(keys)
        v = cfg.pop(k)
        if rng.random() < 0.6:
            cfg[rng.choice([k.upper(), k[:-1], k + "s", k.replace("_", "")])] = v
    elif kind == 1:  # the structural integers at their edges
        k = rng.choice(["num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_size",
                        "intermediate_size", "vocab_size", "num_experts", "num_local_experts", "num_experts_per_tok",
                        "max_window_layers", "first_k_dense_replace", "sliding_window", "max_position_embeddings",
                        "moe_intermediate_size", "n_layer", "n_head", "n_embd"])
        cfg[k] = rng.choice([0, -1, 1, 2 ** 31, 2 ** 63, 10 ** 30, 1e309, 0.5, True, "8", None, [], {}, 3])
    elif kind == 2:  # lists that bypass the typed reader
        k = rng.choice(["layer_types", "mlp_only_layers", "max_window_layers", "first_k_dense_replace", "architectures"])
        n = rng.choice([0, 1, 3, 1000, 100_000])
        cfg[k] = rng.choice([["sliding_attention"] * n, list(range(n)), ["full_attention", 1, None] * (n // 3 + 1), "x"])
    elif kind == 3:
        return mutate_value_json(cfg, rng)
    elif kind == 4:  # a huge integer as JSON text
        k = rng.choice(keys) if keys else "x"
        text = json.dumps({**cfg, k: 0})
        return text.replace(f'"{k}": 0', f'"{k}": 1{"0" * rng.choice([20, 400, 5000])}', 1).encode()
    elif kind == 5:  # deep nesting
        depth = rng.choice([100, 1000, 10_000])
        return (json.dumps(cfg)[:-1] + ', "nested": ' + "[" * depth + "]" * depth + "}").encode()
    else:  # an encoder's, an encoder-decoder's or a vision model's keys
        cfg = rng.choice([{"model_type": "bert", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                           "intermediate_size": 3072, "vocab_size": 30522, "architectures": ["BertModel"]},
                          {"model_type": "t5", "d_model": 512, "num_layers": 6, "num_heads": 8, "d_ff": 2048, "vocab_size": 32128},
                          {"model_type": "vit", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                           "image_size": 224, "patch_size": 16}])
    return json.dumps(cfg).encode()


def mutate_value_json(doc: Any, rng: random.Random) -> bytes:  # noqa: D103
    try:
        return json.dumps(mutate_value(doc, rng)).encode()
    except (ValueError, RecursionError):  # an integer beyond the int-string limit: as text
        return b"{}"


def mutate_recording(text: str, rng: random.Random) -> bytes:
    rows = [ln.split(",") for ln in text.strip().splitlines()[1:]]
    kind = rng.randrange(6)
    i = rng.randrange(len(rows))
    if kind == 0:  # a counter that goes backwards, sticks, or wraps
        rows[i][1] = rng.choice(["0", "-5", rows[max(i - 1, 0)][1], "1e308"])
    elif kind == 1:  # non-finite or non-numeric cells
        rows[i][rng.randrange(2)] = rng.choice(["nan", "inf", "-inf", "", "x", "1e400", "0x1p3"])
    elif kind == 2:  # equal or decreasing timestamps
        rows[i][0] = rows[max(i - 1, 0)][0] if rng.random() < 0.5 else "-1"
    elif kind == 3:  # a plausible counter of absurd power (9e16 W)
        rows = [[r[0], f"{float(r[0]) * 9e16:g}"] for r in rows]
    elif kind == 4:  # too short to replay
        rows = rows[: rng.choice([0, 1, 2])]
    else:
        return fuzzing.mutate_bytes(text.encode(), rng)
    return ("t_s,energy_j\n" + "".join(",".join(r) + "\n" for r in rows)).encode()


def mutate_codecarbon(text: str, rng: random.Random) -> bytes:
    reader = list(csv.reader(io.StringIO(text)))
    head, rows = reader[0], reader[1:]
    row = rng.choice(rows)
    col = rng.randrange(len(head))
    row[col] = rng.choice(["-1.8e7", "nan", "inf", "-3", "", "\x1b]0;pwned\x07", "\x1b[2J", "x" * 200_000, "1e400", "0"])
    out = io.StringIO()
    csv.writer(out).writerows([head] + rows)
    data = out.getvalue().encode()
    if rng.random() < 0.1:
        data += b"\xff\xfe bad bytes\n"
    return data


def mutate_zeus(doc: Any, rng: random.Random) -> bytes:
    doc = json.loads(json.dumps(doc))
    recs = doc if isinstance(doc, list) else [doc]
    rec = rng.choice(recs)
    k = rng.choice(["batch", "iterations", "model", "time", "gpu_energy"])
    target = rec.get("measurement", rec) if k in ("time", "gpu_energy") else rec
    target[k] = rng.choice([2.5, True, 0, -1, 1e309, "8", None, [], {"0": -5.0}, {"0": float("nan")}, 10 ** 30])
    try:
        return json.dumps(doc).encode()
    except ValueError:
        return b"[]"


def door_input(door: str, seed: Any, rng: random.Random, structure: bool) -> bytes:
    if door == "option":
        flag, _ = rng.choice(OPTIONS)
        value = rng.choice(OPTION_VALUES + HOSTILE[:12]) if structure else fuzzing.mutate_bytes(rng.choice(OPTIONS)[1].encode(), rng).decode("utf-8", "replace")
        return json.dumps([flag, str(value)]).encode()
    if not structure:
        text = seed if isinstance(seed, str) else json.dumps(seed)
        return fuzzing.mutate_bytes(text.encode(), rng)
    if door == "config":
        return mutate_config(seed, rng)
    if door == "recording":
        return mutate_recording(seed, rng)
    if door == "codecarbon":
        return mutate_codecarbon(seed, rng)
    if door == "zeus":
        return mutate_zeus(seed, rng)
    if door == "measurements":
        return mutate_value_json(seed, rng) + b"\n" + json.dumps(seed).encode() + b"\n"
    lines = [json.loads(ln) for ln in seed.splitlines()]
    lines[rng.randrange(len(lines))] = rng.choice([[3, 0], [-1, 5], [2.5, 3], {"prompt_tokens": 10 ** 30, "output_tokens": 1},
                                                   {"prompt_tokens": True, "output_tokens": 1}, "x", None, [1, 2, 3]])
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


# ---- oracles -----------------------------------------------------------------------------------------------------

def _refused(fn: Callable[[], Any]) -> tuple[bool, Any]:
    """(True, None) when fn raised one of our errors (with a message); (False, its result) otherwise."""
    from analyzer.errors import AnalyzerError

    try:
        return False, fn()
    except AnalyzerError as e:
        _one_line(str(e))
        if len(str(e)) > 2000:
            raise AssertionError(f"a 'one-line' error of {len(str(e)):,} characters") from None
        return True, None


def door_config(data: bytes, workdir: Path, ps: Any) -> bool:
    from analyzer.engine import evaluate
    from analyzer.load.hf_config import read_config
    from analyzer.target import resolve_target, TargetRequest

    path = workdir / "door-config.json"
    path.write_bytes(data)
    refused, spec = _refused(lambda: read_config(path))
    if refused:
        return False
    if spec.window_layers > spec.num_layers or spec.num_layers < 1 or spec.vocab_size < 1:
        raise AssertionError(f"config accepted with {spec.window_layers} sliding of {spec.num_layers} layers, vocab {spec.vocab_size}")
    if spec.num_experts and not 1 <= spec.experts_per_token <= spec.num_experts:
        raise AssertionError(f"config accepted with {spec.experts_per_token} of {spec.num_experts} experts per token")
    target = resolve_target(ps, TargetRequest("h100", phase="serving", serving={"max_concurrency": 8}, pue=1.1, grid=400.0))
    e = evaluate([path], target)[0]
    if not e.ok:
        if "internal error" in (e.error or ""):
            raise AssertionError(e.error)
        _one_line(e.error or "")
        return False
    bad = _bad_numbers(e.to_dict())
    if bad or e.energy_j_per_item <= 0:
        raise AssertionError(f"served config: {bad or e.energy_j_per_item}")
    return True


def door_recording(data: bytes, workdir: Path, ps: Any) -> bool:
    from analyzer.measure.meters import ReplayMeter

    path = workdir / "door-recording.csv"
    path.write_bytes(data)
    clock = iter([0.0, 0.5]).__next__
    refused, meter = _refused(lambda: ReplayMeter.from_csv(path, clock))
    if refused:
        return False
    t = [s[0] for s in meter.samples]
    e = [s[1] for s in meter.samples]
    if not all(math.isfinite(x) for x in t + e):
        raise AssertionError("a recording with a non-finite cell was accepted")
    if any(b <= a for a, b in zip(t, t[1:])) or any(b < a for a, b in zip(e, e[1:])):
        raise AssertionError("a recording whose time or counter does not increase was accepted")
    j = meter.joules_between(meter.snapshot(), meter.snapshot())
    if not (math.isfinite(j) and j >= 0):
        raise AssertionError(f"replay measured {j} J")
    return True


def door_codecarbon(data: bytes, workdir: Path, ps: Any) -> bool:
    from typer.testing import CliRunner

    from analyzer.cli import app

    path = workdir / "door-emissions.csv"
    path.write_bytes(data)
    r = CliRunner().invoke(app, ["import-codecarbon", str(path)])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    if "Traceback" in r.output or "\x1b" in r.output or "\x07" in r.output:
        raise AssertionError(f"exit {r.exit_code}: raw control sequence or traceback: {r.output[-300:]!r}")
    if r.exit_code:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        if len(lines) != 1 or not lines[0].startswith("error:"):
            raise AssertionError(f"exit {r.exit_code} without one error line: {r.stderr[-300:]!r}")
        return False
    from analyzer.measure.interchange import read_codecarbon

    for run in read_codecarbon(path):
        for k in ("duration_s", "energy_j", "cpu_energy_j", "gpu_energy_j", "ram_energy_j", "emissions_kg"):
            v = getattr(run, k)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise AssertionError(f"a run with {k} = {v} was accepted")
    return True


def door_zeus(data: bytes, workdir: Path, ps: Any) -> bool:
    from analyzer.measure.interchange import read_zeus

    path = workdir / "door-zeus.json"
    path.write_bytes(data)
    refused, rows = _refused(lambda: read_zeus(path))
    if refused:
        return False
    raw = json.loads(data)
    for rec in raw if isinstance(raw, list) else [raw]:
        b = rec.get("batch") if isinstance(rec, dict) else None
        if isinstance(b, bool) or not isinstance(b, int):
            raise AssertionError(f"a Zeus record with batch {b!r} was accepted")
    for model, batch, latency, joules in rows:
        if not (math.isfinite(latency) and latency > 0 and math.isfinite(joules) and joules >= 0):
            raise AssertionError(f"Zeus row {latency} s, {joules} J accepted")
    return True


def door_measurements(data: bytes, workdir: Path, ps: Any) -> bool:
    from analyzer.measure import store

    path = workdir / "door-measurements.jsonl"
    path.write_bytes(data)
    refused, records = _refused(lambda: store.read(path))
    if refused:
        return False
    for m in records:
        d = asdict(m)
        bad = _bad_numbers(d)
        if bad or not isinstance(m.batch, int) or isinstance(m.batch, bool) or m.batch < 1:
            raise AssertionError(f"a measurement with {bad or f'batch {m.batch!r}'} was accepted")
        # every figure is >= 0 but the dynamic energy (busy minus idle: noise can make it negative, record.py's schema)
        if any(isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0 for k, v in d.items() if k != "dynamic_energy_j_per_item"):
            raise AssertionError("a measurement with a negative figure was accepted")
    return True


def door_lengths(data: bytes, workdir: Path, ps: Any) -> bool:
    from analyzer.load.lengths import read_lengths

    path = workdir / "door-lengths.jsonl"
    path.write_bytes(data)
    refused, got = _refused(lambda: read_lengths(path))
    if refused:
        return False
    pairs, _ = got
    if not pairs or any(not (isinstance(p, int) and isinstance(o, int) and p >= 0 and o >= 1) for p, o in pairs):
        raise AssertionError(f"lengths accepted: {pairs[:3]}")
    return True


def door_option(data: bytes, workdir: Path, ps: Any) -> bool:
    """One option of `project` (a decoder served) set to a hostile value: the command succeeds, or exits 2 (1 for a
    model that cannot be served so) with one error line that is not the value's 20,000 characters, and no traceback."""
    flag, value = json.loads(data)
    args = ["project", str(ROOT / "models" / "decoders" / "gpt2.json"), "--phase", "serving", "--max-concurrency", "8",
            "--pue", "1.1", "--grid-gco2e-per-kwh", "400"]
    if flag in args:
        i = args.index(flag)
        args[i + 1] = value
    else:
        args += [flag, value]
    code, out, err = run_main(args)  # as the shell runs it: click's own usage errors pass through the CLI's handler
    if "Traceback" in out + err:
        raise AssertionError(err[-400:])
    if code:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        if code not in (1, 2) or not lines or not lines[-1].startswith("error:") or len(lines[-1]) > 1000:
            raise AssertionError(f"{flag} {value[:40]!r}: exit {code}: {err[-300:]!r}")
        return False
    return True


def run_main(args: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `nas-analyzer ARGS` run in this process through the CLI's entry point."""
    import contextlib, sys  # noqa: E401

    from analyzer.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, ["nas-analyzer", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


ORACLES = {"config": door_config, "recording": door_recording, "codecarbon": door_codecarbon, "zeus": door_zeus,
           "measurements": door_measurements, "lengths": door_lengths, "option": door_option}


def campaign(per_door: dict[str, int], seed: int, workdir: Path, deadline: float | None = None, c: Any = None,
             slow_s: float = fuzzing.SLOW_S, hang_s: float = 30.0) -> Any:
    """As fuzz_doors.campaign, over these doors: `per_door[door]` inputs each (half byte-level, half structure-aware),
    until `deadline`; the results go into `c` (a fuzz_doors.DoorCampaign, whose counts it extends to these doors)."""
    import time, traceback, warnings  # noqa: E401

    import fuzz_doors
    from analyzer.profiles import load_profiles

    c = c or fuzz_doors.DoorCampaign()
    for d in DOORS:
        for counts in (c.inputs, c.accepted, c.refused):
            counts.setdefault(d, 0)
    rng = random.Random(seed)
    s = seeds()
    ps = load_profiles()
    workdir.mkdir(parents=True, exist_ok=True)
    plan = [(door, k % 2 == 1) for door in DOORS for k in range(per_door.get(door, 0))]
    rng.shuffle(plan)
    for door, structure in plan:
        if deadline is not None and time.monotonic() > deadline:
            break
        data = door_input(door, rng.choice(s[door]), rng, structure)
        c.inputs[door] += 1
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                ok = ORACLES[door](data, workdir, ps)
            if said:
                raise AssertionError(f"raw warning: {said[0].category.__name__}: {str(said[0].message)[:200]}")
            (c.accepted if ok else c.refused)[door] += 1
        except Exception:  # noqa: BLE001 - the finding
            c.findings.append(fuzzing.Finding(door, traceback.format_exc(limit=8), data))
        took, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        c.slowest_s, c.slowest_wall_s = max(c.slowest_s, cpu), max(c.slowest_wall_s, took)
        if cpu > slow_s or took > hang_s:
            c.findings.append(fuzzing.Finding(f"{door} slow", f"{cpu:.1f} s CPU, {took:.1f} s wall", data))
    return c
