"""Count: a loaded graph -> its static profile. Per-operator cost handlers (ops/, one module per family,
registered by op type), the whole-model profile (static.py: MACs, FLOPs, bytes, coverage), weight sparsity
(sparsity.py), `profile_onnx` (profile.py), cost formulas in the free input dims (symbolic.py, poly.py), and a
decoder's phases and a response's exact MACs (decoder.py)."""

from typing import Any

__all__ = ["load_at_batch", "profile_onnx"]


def __getattr__(name: str) -> Any:
    """profile_onnx and load_at_batch, imported when first asked for: a decoder priced from its config alone never
    loads onnx."""
    if name in __all__:
        from . import profile

        return getattr(profile, name)
    raise AttributeError(name)
