"""Where the tool keeps its caches (one folder, under XDG_CACHE_HOME, default ~/.cache) and where its shipped
data lives: profiles/ and the sample candidates of models/, in the repository for a checkout or an editable
install, inside the package (analyzer/_profiles, analyzer/_samples) for an installed wheel."""

from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nas-analyzer"


def _shipped(packaged: str, repo: str) -> Path:
    inside = _PKG / packaged
    return inside if inside.is_dir() else _PKG.parent / repo


def shipped_profiles() -> Path:
    """NAS_ANALYZER_PROFILES overrides; else the wheel's copy, else the repository's profiles/."""
    env = os.environ.get("NAS_ANALYZER_PROFILES")
    return Path(env) if env else _shipped("_profiles", "profiles")


def shipped_samples() -> Path:
    """The sample candidates (manifest.toml and weight-less ONNX files)."""
    return _shipped("_samples", "models")
