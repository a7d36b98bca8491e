"""Recurrent layers. Gate GEMMs are matrix products, so they count as macs."""

from __future__ import annotations

from ...ir import Node
from ...records import OpCost
from ...units import FLOPS_PER_MAC
from .registry import register

# gates per cell, and elementwise flops per hidden unit per step (bias adds + activations + update)
_CELLS = {
    # LSTM: 8 bias adds, 3 sigmoids (4 each), 2 tanh (1 each), c = f*c + i*g (3), h = o*tanh(c) (1)
    "LSTM": (4, 8 + 12 + 2 + 3 + 1),
    # GRU: 6 bias adds, 2 sigmoids (8), tanh (1), r * (R h) (1), h = (1-z) n + z h (3)
    "GRU": (3, 6 + 8 + 1 + 1 + 3),
    # RNN: 2 bias adds, tanh
    "RNN": (1, 3),
}


def _rnn(gates: int, per_unit: int):
    def handler(node: Node) -> OpCost:
        x = node.in_dims(0)
        w = node.in_dims(1)  # [directions, gates * hidden, input]
        layout = int(node.attrs.get("layout", 0))
        seq, batch = (x[1], x[0]) if layout else (x[0], x[1])
        directions, hidden, inp = w[0], w[1] // gates, w[2]
        steps = directions * seq * batch
        macs = steps * gates * hidden * (inp + hidden)
        return OpCost(macs=macs, flops=FLOPS_PER_MAC * macs + steps * hidden * per_unit, op_class="gemm")

    return handler


for _op, (_g, _k) in _CELLS.items():
    _h = _rnn(_g, _k)
    _h.__doc__ = (f"{_op}: macs = directions x seq x batch x {_g} hidden x (input + hidden) (input and "
                  f"recurrent gate GEMMs); flops = 2 x macs + {_k} per hidden unit per step.")
    register(_op)(_h)
