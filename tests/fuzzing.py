"""A seeded fuzzer for the profiler: byte-level and structure-aware mutations of small seed models, and the
oracle every outcome must pass. Used by tests/whole/test_fuzz.py (a short campaign in the default suite) and by
benchmarks/fuzz.py (long campaigns with counts).

Oracle: profiling a mutated file either returns a profile whose counts are non-negative integers and whose
floats are finite, or raises an AnalyzerError (one line for the user). Anything else - another exception, a
negative or non-finite number, a hang beyond the time limit, memory beyond its limit - is a finding.
"""

from __future__ import annotations

import math
import random
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper
from onnx import numpy_helper as nh

OPS = ["Relu", "Add", "Mul", "MatMul", "Gemm", "Conv", "Reshape", "Transpose", "Concat", "Gather", "Slice", "Softmax",
       "Einsum", "Resize", "Pad", "Expand", "Tile", "Range", "ConstantOfShape", "NonZero", "Loop", "If", "Split",
       "ReduceMean", "LayerNormalization", "Shape", "Cast", "Unsqueeze", "Squeeze", "TopK", "Where", "Identity"]


def _model(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    m = helper.make_model(helper.make_graph(nodes, "seed", inputs, outputs, list(inits)),
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def seeds() -> list[onnx.ModelProto]:
    """Small models that exercise the loader's paths: conv net, computed reshape, attention, control flow,
    resize/pad/slice, einsum, a value-dependent NonZero."""
    rng = np.random.default_rng(0)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    i64 = lambda n, v: nh.from_array(np.array(v, np.int64), n)  # noqa: E731
    vi = helper.make_tensor_value_info
    out = [
        _model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]), helper.make_node("Relu", ["c"], ["r"]),
                helper.make_node("GlobalAveragePool", ["r"], ["p"]), helper.make_node("Flatten", ["p"], ["fl"]),
                helper.make_node("Gemm", ["fl", "g", "b"], ["y"], transB=1)],
               [vi("x", T.FLOAT, [1, 3, 16, 16])], [vi("y", T.FLOAT, None)], [nh.from_array(f(8, 3, 3, 3), "w"),
                                                                            nh.from_array(f(10, 8), "g"), nh.from_array(f(10), "b")]),
        _model([helper.make_node("Shape", ["x"], ["sh"]), helper.make_node("Gather", ["sh", "i2"], ["d"], axis=0),
                helper.make_node("Div", ["d", "four"], ["hd"]), helper.make_node("Unsqueeze", ["hd", "ax0"], ["hu"]),
                helper.make_node("Concat", ["zz", "hu"], ["target"], axis=0), helper.make_node("Reshape", ["x", "target"], ["r"]),
                helper.make_node("MatMul", ["r", "w"], ["y"])],
               [vi("x", T.FLOAT, ["batch", "seq", 64])], [vi("y", T.FLOAT, None)],
               [i64("i2", 2), i64("four", 4), i64("ax0", [0]), i64("zz", [0, 0, 4]), nh.from_array(f(16, 8), "w")]),
        _model([helper.make_node("MatMul", ["x", "wq"], ["q"]), helper.make_node("MatMul", ["x", "wk"], ["k"]),
                helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]), helper.make_node("MatMul", ["q", "kt"], ["s"]),
                helper.make_node("Softmax", ["s"], ["p"], axis=-1), helper.make_node("MatMul", ["p", "x"], ["y"])],
               [vi("x", T.FLOAT, [2, "seq", 16])], [vi("y", T.FLOAT, None)], [nh.from_array(f(16, 16), "wq"), nh.from_array(f(16, 16), "wk")]),
        _model([helper.make_node("Resize", ["x", "", "scales"], ["r"], mode="nearest"),
                helper.make_node("Pad", ["r", "pads"], ["p"]), helper.make_node("Slice", ["p", "st", "en"], ["y"])],
               [vi("x", T.FLOAT, [1, 2, 4, 4])], [vi("y", T.FLOAT, None)],
               [nh.from_array(np.array([1, 1, 2, 2], np.float32), "scales"), i64("pads", [0, 0, 1, 1, 0, 0, 1, 1]),
                i64("st", [0, 0, 1, 1]), i64("en", [1, 2, 9, 9])]),
        _model([helper.make_node("Einsum", ["a", "b"], ["y"], equation="bij,bjk->bik")],
               [vi("a", T.FLOAT, [2, 3, 4]), vi("b", T.FLOAT, [2, 4, 5])], [vi("y", T.FLOAT, None)]),
        _model([helper.make_node("NonZero", ["mask"], ["nz"]), helper.make_node("Gather", ["nz", "one"], ["cols"], axis=0),
                helper.make_node("Gather", ["table", "cols"], ["rows"], axis=0), helper.make_node("MatMul", ["rows", "w"], ["y"])],
               [vi("mask", T.INT64, [1, "seq"])], [vi("y", T.FLOAT, None)],
               [i64("one", 1), nh.from_array(f(50, 8), "table"), nh.from_array(f(8, 4), "w")]),
    ]
    body = helper.make_graph([helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Add", ["acc", "acc"], ["acc_out"])],
                             "body", [vi("i", T.INT64, []), vi("cond", T.BOOL, []), vi("acc", T.FLOAT, [4])],
                             [vi("cond_out", T.BOOL, []), vi("acc_out", T.FLOAT, [4])])
    out.append(_model([helper.make_node("Loop", ["n", "c", "x"], ["y"], body=body)], [vi("x", T.FLOAT, [4])], [vi("y", T.FLOAT, None)],
                      [i64("n", 3), nh.from_array(np.array(True), "c")]))
    return out


# ---- mutations -----------------------------------------------------------------------------------------------

_INTERESTING = [0, -1, 1, 2, -7, 3, 255, 65536, 2**31 - 1, 2**31, 2**40, -(2**40), 2**62, -(2**63)]


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        kind = rng.randrange(6)
        if not b:
            break
        i = rng.randrange(len(b))
        if kind == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            b[i] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        elif kind == 2:
            del b[i: i + rng.randint(1, 16)]
        elif kind == 3:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif kind == 4:
            b = b[: i]  # truncate
        else:
            j = rng.randrange(len(b))
            b[i:i] = b[j: j + rng.randint(1, 64)]  # duplicate a chunk
    return bytes(b)


def mutate_structure(m: onnx.ModelProto, rng: random.Random) -> onnx.ModelProto:
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    g = m2.graph
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(12)
        if kind == 0 and list(g.input):  # a declared dim
            vi = rng.choice(list(g.input))
            dims = vi.type.tensor_type.shape.dim
            if dims:
                d = rng.choice(list(dims))
                if rng.random() < 0.3:
                    d.dim_param = rng.choice(["batch", "seq", "", "unk__0", "a + b", "é", "x" * 300])
                else:
                    d.dim_value = rng.choice(_INTERESTING)
        elif kind == 1 and list(g.node):  # an int attribute or list
            n = rng.choice(list(g.node))
            for a in n.attribute:
                if a.type == onnx.AttributeProto.INT:
                    a.i = rng.choice(_INTERESTING)
                elif a.type == onnx.AttributeProto.INTS and a.ints:
                    a.ints[rng.randrange(len(a.ints))] = rng.choice(_INTERESTING)
                elif a.type == onnx.AttributeProto.STRING:
                    a.s = bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))
        elif kind == 2 and list(g.node):  # another operator
            rng.choice(list(g.node)).op_type = rng.choice(OPS)
        elif kind == 3 and list(g.node):  # inputs rewired (cycles, dangling names)
            n = rng.choice(list(g.node))
            if n.input:
                names = [o for x in g.node for o in x.output] + [i.name for i in g.input] + ["nowhere", ""]
                n.input[rng.randrange(len(n.input))] = rng.choice(names)
        elif kind == 4 and len(g.node) > 1:
            del g.node[rng.randrange(len(g.node))]
        elif kind == 5 and list(g.initializer):  # initializer dims that do not fit its data
            t = rng.choice(list(g.initializer))
            if t.dims:
                t.dims[rng.randrange(len(t.dims))] = rng.choice(_INTERESTING)
        elif kind == 6 and list(g.initializer):
            rng.choice(list(g.initializer)).data_type = rng.choice([0, 8, 99, 16, 21, 10])
        elif kind == 7 and list(g.initializer):  # external data anywhere
            t = rng.choice(list(g.initializer))
            t.data_location = onnx.TensorProto.EXTERNAL
            del t.external_data[:]
            t.external_data.add(key="location", value=rng.choice(["../../etc/passwd", "/etc/passwd", "model.onnx", "missing.bin",
                                                                   "a" * 300, "x\x00y", "."]))
            if rng.random() < 0.5:
                t.external_data.add(key="offset", value=str(rng.choice(_INTERESTING)))
                t.external_data.add(key="length", value=str(rng.choice(_INTERESTING)))
        elif kind == 8:
            m2.opset_import[0].version = rng.choice([1, 6, 11, 13, 17, 18, 21, 22, 99, 0, -1])
        elif kind == 9 and list(g.node):
            rng.choice(list(g.node)).domain = rng.choice(["com.microsoft", "ai.onnx.ml", "custom.x", "ai.onnx"])
        elif kind == 10 and list(g.node):  # a node's output reused: two producers, or a self loop
            n = rng.choice(list(g.node))
            if n.output and n.input:
                n.input[0] = n.output[0]
        elif kind == 11:
            m2.ir_version = rng.choice([0, 1, 3, 7, 8, 10, 11, 99])
    return m2


# ---- the oracle ------------------------------------------------------------------------------------------------


@dataclass
class Finding:
    kind: str  # exception | negative | non-finite | limit
    detail: str
    data: bytes


SLOW_S = 3.0  # issue #27's limit: every input, whatever it holds, is answered within this (a model: both profiles)


@dataclass
class Campaign:
    inputs: int = 0
    byte_level: int = 0
    structure: int = 0
    profiled: int = 0
    refused: int = 0
    limited: int = 0
    findings: list[Finding] = field(default_factory=list)
    slowest_s: float = 0.0
    slow_s: float = SLOW_S


def check_profile(p) -> str | None:
    """None when every count is a non-negative integer and every float finite; else what is wrong."""
    for name in ("macs", "flops", "params", "weight_bytes", "activation_bytes", "weight_read_bytes", "bytes_moved", "nodes"):
        v = getattr(p, name)
        if not isinstance(v, int) or v < 0:
            return f"{name} = {v!r}"
    for name in ("arithmetic_intensity", "coverage", "weight_sparsity", "nm_sparsity"):
        v = getattr(p, name)
        if v is not None and (not math.isfinite(v) or v < 0):
            return f"{name} = {v!r}"
    for op, agg in p.op_type_totals.items():
        if any(x < 0 for x in agg.values()):
            return f"op {op}: {agg}"
    return None


def run_one(data: bytes, workdir: Path, profile: Callable, campaign: Campaign) -> None:
    import time

    t0 = time.perf_counter()
    _run_one(data, workdir, profile, campaign)
    took = time.perf_counter() - t0
    campaign.slowest_s = max(campaign.slowest_s, took)
    if took > campaign.slow_s:
        campaign.findings.append(Finding("slow", f"{took:.1f} s (limit {campaign.slow_s:g} s)", data))


def _run_one(data: bytes, workdir: Path, profile: Callable, campaign: Campaign) -> None:
    from analyzer.errors import AnalyzerError, ResourceLimitError

    path = workdir / "model.onnx"
    path.write_bytes(data)
    campaign.inputs += 1
    for dims, batch in (({"batch": 2, "seq": 8}, None), ({}, 3)):
        try:
            p = profile(path, dims=dims, batch=batch, scan_sparsity=True, hash_file=False)
        except ResourceLimitError:
            campaign.limited += 1  # stopped by the time or memory limit: the safe outcome, counted
            continue
        except AnalyzerError as e:
            if not str(e).strip():
                campaign.findings.append(Finding("exception", "AnalyzerError with an empty message", data))
            campaign.refused += 1
            continue
        except Exception:  # noqa: BLE001 - the finding
            campaign.findings.append(Finding("exception", traceback.format_exc(limit=6), data))
            continue
        campaign.profiled += 1
        bad = check_profile(p)
        if bad:
            campaign.findings.append(Finding("negative" if "-" in bad else "non-finite", bad, data))


def campaign(n_bytes: int, n_structure: int, seed: int, workdir: Path, profile: Callable,
             deadline: float | None = None, slow_s: float = SLOW_S) -> Campaign:
    """`n_bytes` byte-level then `n_structure` structure-aware inputs, seeded, until `deadline`; an input that takes
    longer than `slow_s` is a finding."""
    import time

    rng = random.Random(seed)
    base = seeds()
    encoded = [m.SerializeToString() for m in base]
    c = Campaign(slow_s=slow_s)
    for k in range(n_bytes + n_structure):
        if deadline is not None and time.monotonic() > deadline:
            break
        if k < n_bytes:
            data = mutate_bytes(rng.choice(encoded), rng)
            c.byte_level += 1
        else:
            try:
                data = mutate_structure(rng.choice(base), rng).SerializeToString()
            except (ValueError, TypeError, onnx.onnx_cpp2py_export.checker.ValidationError):  # type: ignore[attr-defined]
                continue
            c.structure += 1
        run_one(data, workdir, profile, c)
    return c
