"""nas-analyzer: what a model costs in compute, energy and carbon, and whether a NAS pays off."""

__version__ = "0.1.0"

from .errors import AnalyzerError  # noqa: E402
from .profile import profile_onnx  # noqa: E402
from .records import ModelProfile, NodeProfile  # noqa: E402

__all__ = ["AnalyzerError", "ModelProfile", "NodeProfile", "profile_onnx", "__version__"]
