"""nas-analyzer: what a model costs in compute, energy and carbon, and whether a NAS pays off."""

__version__ = "0.1.0"

from .errors import AnalyzerError  # noqa: E402

__all__ = ["AnalyzerError", "ModelProfile", "NodeProfile", "profile_onnx", "profile_torch", "load_profiles", "footprint", "four_ms",
           "Scenario", "__version__"]

_LAZY = {"profile_torch": "load.torch_fvcore", "profile_onnx": "count.profile", "ModelProfile": "records", "NodeProfile": "records", "load_profiles": "profiles",
         "footprint": "account.carbon", "four_ms": "account.fourms", "Scenario": "account.fourms"}


def __getattr__(name: str):
    # Lazy: `import analyzer` must not pay for onnx when only carbon accounting is used.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
