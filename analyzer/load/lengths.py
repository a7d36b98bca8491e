"""Request lengths for a served decoder from a JSON-lines file: one request a line, its prompt and output lengths in
tokens, as {"prompt_tokens": P, "output_tokens": T} (also "prompt"/"output", "input_len"/"output_len") or [P, T].
Blank lines are skipped; anything else is a one-line error naming the file and the line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import UsageError
from .small_files import read_bounded

MAX_LENGTHS_BYTES = 64 << 20
MAX_REQUESTS = 1_000_000
MAX_TOKENS = 1 << 20
_KEYS = (("prompt_tokens", "output_tokens"), ("prompt", "output"), ("input_len", "output_len"),
         ("prompt_len", "output_len"))


def read_lengths(path: Path | str) -> tuple[tuple[tuple[int, int], ...], str]:
    """((prompt, output) per request, 'PATH (sha256 ...)')."""
    p = Path(path)
    data = read_bounded(p, MAX_LENGTHS_BYTES, "file of request lengths (JSON lines of prompt and output tokens)")
    pairs: list[tuple[int, int]] = []
    for n, raw in enumerate(data.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if len(pairs) >= MAX_REQUESTS:
            raise UsageError(f"{p}: more than {MAX_REQUESTS:,} requests")
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):  # ValueError: JSONDecodeError, a bad byte, the int-string limit
            raise UsageError(f"{p}:{n}: not a JSON value this tool reads") from None
        pairs.append(_pair(item, f"{p}:{n}"))
    if not pairs:
        raise UsageError(f"{p}: no requests (one JSON object a line with prompt_tokens and output_tokens)")
    return tuple(pairs), f"{p} (sha256 {hashlib.sha256(data).hexdigest()[:16]})"


def _pair(item: object, where: str) -> tuple[int, int]:
    if isinstance(item, list) and len(item) == 2:
        values = item
    elif isinstance(item, dict):
        keys = next((k for k in _KEYS if k[0] in item and k[1] in item), None)
        if keys is None:
            raise UsageError(f"{where}: expected prompt_tokens and output_tokens")
        values = [item[keys[0]], item[keys[1]]]
    else:
        raise UsageError(f"{where}: expected {{\"prompt_tokens\": P, \"output_tokens\": T}} or [P, T]")
    p, o = values
    for name, v, low in (("prompt", p, 1), ("output", o, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= MAX_TOKENS:
            raise UsageError(f"{where}: {name} length {v!r} must be a whole number from {low} to {MAX_TOKENS:,}")
    return p, o
