"""One error hierarchy. The library raises these; only the CLI turns them into one line and an exit code."""

from __future__ import annotations


class AnalyzerError(Exception):
    """A problem with the user's input or environment that the user can fix. Exit code 1 (analysis)."""

    exit_code = 1


class UsageError(AnalyzerError):
    """The command line itself is wrong (bad flag value, missing file). Exit code 2."""

    exit_code = 2


class ModelLoadError(AnalyzerError):
    """The model file cannot be read as a valid ONNX model."""


class ExternalDataError(ModelLoadError):
    """External weight data is missing, truncated, or lies outside the model's folder."""


class UnboundDimError(AnalyzerError):
    """A count needs a dimension that is still symbolic or unknown."""

    def __init__(self, dims: list[str], where: str = "") -> None:
        self.dims = sorted(set(dims))
        named = [d for d in self.dims if d and not d.startswith("?")]
        place = f" at {where}" if where else ""
        if named:
            flags = " ".join(f"--dim {d}=N" for d in named)
            msg = f"unbound dims {', '.join(self.dims)}{place}; bind with {flags} or --batch N for the leading (batch) dim"
        else:  # no name to bind: shape inference could not determine these shapes
            msg = f"unknown shape ({', '.join(self.dims)}){place}: shape inference could not determine it"
        super().__init__(msg)


class ShapeError(AnalyzerError):
    """Shapes are inconsistent or an operator's inputs do not fit its specification."""
