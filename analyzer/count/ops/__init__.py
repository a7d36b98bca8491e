"""Per-operator cost handlers. Importing this package registers every family."""

from . import attention, control_flow, elementwise, linear, movement, normalization, pooling, resize, rnn  # noqa: F401
from .registry import ZERO_COST, lookup, registered_ops, zero_cost_reason  # noqa: F401
