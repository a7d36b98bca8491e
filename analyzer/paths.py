"""Where the tool keeps its caches: one folder, under XDG_CACHE_HOME (default ~/.cache)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nas-analyzer"
