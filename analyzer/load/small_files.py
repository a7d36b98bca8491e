"""A user's small input file (a decoder's config.json, a file of request lengths): its bytes, or one line saying why
not, through the one reading layer (files.py): a FIFO or a device is refused at once, a file over its limit is not
read at all."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import AnalyzerError, UsageError
from ..files import open_regular


def read_bounded(path: Path, limit: int, what: str, too_large: type[AnalyzerError] = UsageError) -> bytes:
    """The bytes of `path` (a `what`), at most `limit` of them."""
    if not os.path.lexists(path):
        raise UsageError(f"{path}: no such file ({what})")
    with open_regular(path, UsageError) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise too_large(f"{path}: {size:,} bytes is more than a {what} holds (at most {limit:,})")
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise UsageError(f"{path}: cannot be read ({e.strerror})") from None
    if len(data) > limit:
        raise too_large(f"{path}: more than {limit:,} bytes, more than a {what} holds")
    return data
