"""Count: a loaded graph -> its static profile. Per-operator cost handlers (ops/, one module per family,
registered by op type), the whole-model profile (static.py: MACs, FLOPs, bytes, coverage), weight sparsity
(sparsity.py), `profile_onnx` (profile.py), cost formulas in the free input dims (symbolic.py, poly.py), and a
decoder's phases and a response's exact MACs (decoder.py)."""

from .profile import load_at_batch, profile_onnx

__all__ = ["load_at_batch", "profile_onnx"]
