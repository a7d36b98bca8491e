"""The kernels of a decoder's forward steps, timed on the target: the config's operator graph (count/decoder_graph.py)
evaluated at many step compositions at once (rows of aggregates: tokens, logits, attended pairs, cache reads,
experts), each operator one kernel of its class, through the same roofline and timeline as every projection
(roofline.py). Layers of one kind share their kernels' times, and the timeline runs them in order: the embedding,
then per layer its norm, attention block, norm and MLP (dense layers first, then MoE layers), then the head."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..count.decoder_graph import AGGREGATES, DecoderOp
from ..taxonomy import HOST_FAMILIES, KERNEL_CLASSES
from .params import Params
from .roofline import KernelArrays, kernel_arrays_times, schedule_rows, streams_weights

_LAYER_ORDER = ("input_norm", "qkv_proj", "qk_norm", "rotary", "kv_cache_write", "attention", "attention_window", "o_proj",
                "post_attention_norm")


@dataclass(frozen=True)
class StepTimes:
    """Per row of aggregates (one step composition): latency, busy time and device energy of the forward, and where
    the time goes (seconds of compute-, memory- and floor-bound kernels)."""

    latency_s: np.ndarray
    busy_s: np.ndarray
    energy_j: np.ndarray
    compute_bound_s: np.ndarray
    memory_bound_s: np.ndarray
    latency_bound_s: np.ndarray
    kernels: int  # kernels one step launches
    streams_weights: bool  # the weights exceed the on-chip cache: read from memory every step


def kernel_sequence(ops: list[DecoderOp]) -> np.ndarray:
    """Indices into `ops` in the order one forward launches them (each operator once per layer of its kind)."""
    by = {op.name: i for i, op in enumerate(ops)}
    head = [by["embedding"]]
    tail = [by[n] for n in ("final_norm", "lm_head", "sampler") if n in by]
    layer_ops = [i for i, op in enumerate(ops) if i not in head and i not in tail]
    layers = max(op.repeat for op in (ops[i] for i in layer_ops))
    seq: list[int] = list(head)
    common = [by[n] for n in _LAYER_ORDER if n in by]
    mlp = [i for i in layer_ops if i not in common]
    for layer in range(layers):
        for i in common + mlp:
            op = ops[i]
            # an operator of a kind of layer runs in `repeat` of them: the window layers after the full ones, MoE after dense
            first = layers - op.repeat if op.name in ("attention_window",) or op.name.startswith(("experts", "router", "topk",
                                                                                                "shared_expert")) else 0
            if first <= layer < first + op.repeat:
                seq.append(i)
    return np.array(seq + tail, dtype=int)


def step_times(ops: list[DecoderOp], agg: np.ndarray, params: Params, weight_bytes: float) -> StepTimes:
    """Time and device energy of forwards whose aggregates are the rows of `agg` (AGGREGATES columns). Bytes in the
    ops are true bytes; the roofline scales a kernel's bytes by the compute dtype's size, so they enter divided by it.
    `weight_bytes`: the weights' true bytes (whether they stream from memory)."""
    agg = np.atleast_2d(np.asarray(agg, dtype=float))
    rows, n_ops = agg.shape[0], len(ops)
    assert agg.shape[1] == len(AGGREGATES)
    coef = {f: np.stack([getattr(op, f) for op in ops]) for f in ("flops", "bytes", "outputs")}
    flops, nbytes, outputs = (agg @ coef[f].T for f in ("flops", "bytes", "outputs"))
    scale = params.bytes_scale
    streaming = streams_weights(weight_bytes / scale, params)
    if streaming and params.stream_energy_per_byte_j:
        # every step streams the weights (and the cache) from memory: a byte costs what a large copy's does, not the
        # energy per byte a calibration fitted on cache-resident working sets
        params = replace(params, energy_per_byte_j=params.stream_energy_per_byte_j)
    cls = np.array([KERNEL_CLASSES.index(op.kclass) for op in ops])
    host = np.array([HOST_FAMILIES.index(op.host) for op in ops])
    weights = np.array([op.weights for op in ops])
    a = KernelArrays.of(np.tile(cls, rows), flops.ravel(), nbytes.ravel() / scale, np.tile(weights, rows), np.tile(host, rows),
                        outputs.ravel(), weight_bytes / scale)
    t, compute, memory, energy = (x.reshape(rows, n_ops) for x in kernel_arrays_times(a, params))
    t0 = np.array([params.classes[op.kclass].t0_s for op in ops])
    busy_each = np.maximum(compute, memory)
    seq = kernel_sequence(ops)
    order = KernelArrays.of(cls[seq], np.zeros(len(seq)), np.zeros(len(seq)), weights[seq], host[seq], np.zeros(len(seq)), 0.0)
    latency, busy, _, e = schedule_rows(order, t[:, seq], energy[:, seq], params)
    reps = np.bincount(seq, minlength=n_ops).astype(float)
    bound_latency = t0 >= busy_each
    comp = np.where(~bound_latency & (compute >= memory), t, 0.0) @ reps
    mem = np.where(~bound_latency & (compute < memory), t, 0.0) @ reps
    lat = np.where(bound_latency, t, 0.0) @ reps
    return StepTimes(latency, busy, e, comp, mem, lat, len(seq), streaming)
