"""nas-analyzer: what a model costs in compute, energy and carbon, and whether a NAS pays off."""

__version__ = "0.1.0"

from .errors import AnalyzerError  # noqa: E402

__all__ = ["AnalyzerError", "ModelProfile", "NodeProfile", "profile_onnx", "profile_torch", "load_profiles", "footprint", "four_ms",
           "Scenario", "Target", "TargetRequest", "resolve_target", "resolve_site", "evaluate", "Evaluation", "analyze", "AnalysisRequest",
           "Analysis", "track", "tracked", "TrackHooks", "SiteRequest", "load_run", "child_span", "cost", "candidates", "__version__"]

# the public API, by stage: load/count (profiles of model files), target (where it runs), engine (the evaluation
# chain), account (footprints, the 4Ms) and decide (the main job)
_LAZY = {"profile_torch": "load.torch_fvcore", "profile_onnx": "count.profile", "ModelProfile": "records", "NodeProfile": "records",
         "load_profiles": "profiles", "footprint": "account.carbon", "four_ms": "account.fourms", "Scenario": "account.fourms",
         "Target": "target", "TargetRequest": "target", "SiteRequest": "target", "resolve_target": "target", "resolve_site": "target", "evaluate": "engine.run",
         "Evaluation": "records", "analyze": "decide.analysis", "AnalysisRequest": "decide.analysis", "Analysis": "decide.analysis",
         "track": "engine.track", "tracked": "engine.track", "TrackHooks": "engine.track", "load_run": "engine.track", "child_span": "measure.spans",
         "cost": "engine.objective", "candidates": "load.sources"}


def __getattr__(name: str):
    # Lazy: `import analyzer` must not pay for onnx when only carbon accounting is used.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
