"""Attention ops: ONNX Attention (opset 23) and ONNX Runtime's com.microsoft Attention and
MultiHeadAttention. The two attention matmuls (Q K^T and P V) count as macs.

Per score element (B x heads x q_seq x kv_seq): scale 1, softmax 5, mask add 1 when a mask is given.
"""

from __future__ import annotations

from ...ir import Node
from ...records import OpCost
from ...units import FLOPS_PER_MAC
from .registry import MS, register

_SOFTMAX_AND_SCALE = 6


def _core(batch: int, heads: int, q_seq: int, kv_seq: int, qk_head: int, v_head: int, masked: bool) -> tuple[int, int]:
    scores = batch * heads * q_seq * kv_seq
    macs = scores * (qk_head + v_head)
    return macs, FLOPS_PER_MAC * macs + scores * (_SOFTMAX_AND_SCALE + int(masked))


@register("Attention")
def onnx_attention(node: Node) -> OpCost:
    """Q [B, Hq, S, Dqk] or [B, S, Hq*Dqk] (q_num_heads); K/V [B, Hkv, L, D] or 3-D (kv_num_heads);
    optional past_key adds its length to L. macs = B Hq S L (Dqk + Dv)."""
    q, k, v = node.in_dims(0), node.in_dims(1), node.in_dims(2)
    if len(q) == 4:
        batch, heads, q_seq, qk_head = q
        kv_seq, v_head = k[2], v[3]
    else:
        heads = int(node.attrs.get("q_num_heads", 1))
        kv_heads = int(node.attrs.get("kv_num_heads", heads))
        batch, q_seq, qk_head = q[0], q[1], q[2] // heads
        kv_seq, v_head = k[1], v[2] // kv_heads
    past = node.input(4)
    if past is not None:
        kv_seq += past.dims(node.where)[2]
    macs, flops = _core(batch, heads, q_seq, kv_seq, qk_head, v_head, node.input(3) is not None)
    return OpCost(macs=macs, flops=flops, op_class="attention")


@register("Attention", domain=MS)
def ms_attention(node: Node) -> OpCost:
    """input [B, S, Din] x weights [Din, Hq+Hk+Hv] (+ bias) then attention with num_heads heads over
    S + past tokens. macs = B S Din (Hq+Hk+Hv) + B S L (Hq + Hv)."""
    x, w = node.in_dims(0), node.in_dims(1)
    batch, seq, d_in = x
    sizes = [int(s) for s in node.attrs.get("qkv_hidden_sizes", ())] or [w[1] // 3] * 3
    heads = int(node.attrs.get("num_heads", 1))
    proj_macs = batch * seq * d_in * w[1]
    past = node.input(4)
    kv_seq = seq + (past.dims(node.where)[3] if past is not None else 0)
    macs, flops = _core(batch, heads, seq, kv_seq, sizes[0] // heads, sizes[2] // heads, node.input(3) is not None)
    bias = batch * seq * w[1] if node.input(2) is not None else 0
    return OpCost(macs=proj_macs + macs, flops=FLOPS_PER_MAC * proj_macs + bias + flops, op_class="attention")


@register("MultiHeadAttention", domain=MS)
def ms_multi_head_attention(node: Node) -> OpCost:
    """query [B, S, D]; key/value [B, L, D] or [B, heads, L, d]; or packed QKV in query
    [B, S, heads, 3, d]. Optional past_key (input 6) adds its length. macs = B S L (D + Dv)."""
    q = node.in_dims(0)
    heads = int(node.attrs.get("num_heads", 1))
    out = node.out_dims(0)
    key = node.input(1)
    if len(q) == 5:  # packed QKV
        batch, seq, qk_hidden, kv_seq = q[0], q[1], q[2] * q[4], q[1]
    else:
        batch, seq, qk_hidden = q
        if key is None:
            kv_seq = seq
        else:
            kd = key.dims(node.where)
            kv_seq = kd[2] if len(kd) == 4 else kd[1]
    past = node.input(6)
    if past is not None:
        kv_seq += past.dims(node.where)[2]
    v_hidden = out[2]
    macs, flops = _core(batch, heads, seq, kv_seq, qk_hidden // heads, v_hidden // heads, node.input(4) is not None)
    bias = batch * seq * (2 * qk_hidden + v_hidden) if node.input(3) is not None else 0
    return OpCost(macs=macs, flops=flops + bias, op_class="attention")
