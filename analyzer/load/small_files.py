"""A user's small input file (a decoder's config.json, a file of request lengths): its bytes, or one line saying why
not. A file over its limit is not read at all."""

from __future__ import annotations

from pathlib import Path

from ..errors import AnalyzerError, UsageError


def read_bounded(path: Path, limit: int, what: str, too_large: type[AnalyzerError] = UsageError) -> bytes:
    """The bytes of `path` (a `what`), at most `limit` of them."""
    try:
        if not path.is_file():
            raise UsageError(f"{path}: no such file ({what})")
        size = path.stat().st_size
        if size > limit:
            raise too_large(f"{path}: {size:,} bytes is more than a {what} holds (at most {limit:,})")
        return path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot be read ({e.strerror})") from None
