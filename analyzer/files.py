"""Reading the small files a user hands the tool (profiles, manifests, search plans, saved analyses) as untrusted
input: one regular file (a FIFO would block the read forever, a device such as /dev/zero never ends), at most
`max_bytes`, parsed as TOML or JSON with every failure, nesting deeper than MAX_DEPTH included, one error that
names the file (a value nested hundreds deep passes the parser, then breaks whatever walks it recursively). The file is opened before it is checked (non-blocking, then fstat), so nothing can be swapped in
between the check and the read."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any, BinaryIO

from .errors import AnalyzerError

MAX_BYTES = 4 * 1024 * 1024  # a calibrated profile with its fitted forwards is about 100 kB; an analysis about 1 MB
MAX_DEPTH = 64  # arrays and tables within each other; the tool writes and ships at most 6


def special_file(path: Path) -> str | None:
    """What `path` is when it exists and is not a regular file (after symlinks): 'a FIFO', 'a device', 'a folder',
    ...; None for a regular file, nothing at all, or a path that cannot be looked at (opening it says why)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return _kind(mode)


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def open_regular(path: Path, error: type[AnalyzerError] = AnalyzerError, what: str = "") -> BinaryIO:
    """`path` opened for binary reading when it is a regular file; else `error` naming `what` (default: the
    path). Opened without blocking first, so a FIFO is refused instead of waiting for a writer."""
    what = what or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{what}: no such file") from None
    except IsADirectoryError:
        raise error(f"{what}: is a folder, not a regular file: refused") from None
    except OSError as e:
        raise error(f"{what}: cannot be read ({e.strerror})") from None
    kind = _kind(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise error(f"{what}: is {kind}, not a regular file: refused")
    if hasattr(os, "O_NONBLOCK"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bytes(path: Path, error: type[AnalyzerError] = AnalyzerError, max_bytes: int = MAX_BYTES, what: str = "") -> bytes:
    """The bytes of one regular file of at most `max_bytes`; else `error` naming `what` (default: the path)."""
    what = what or str(path)
    with open_regular(path, error, what) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise error(f"{what}: {size:,} bytes; at most {max_bytes:,} are read")
        try:
            data = f.read(max_bytes + 1)
        except OSError as e:
            raise error(f"{what}: cannot be read ({e.strerror})") from None
    if len(data) > max_bytes:  # it grew while we read
        raise error(f"{what}: more than {max_bytes:,} bytes; at most {max_bytes:,} are read")
    return data


def read_text(path: Path, error: type[AnalyzerError] = AnalyzerError, max_bytes: int = MAX_BYTES, what: str = "") -> str:
    what = what or str(path)
    try:
        return read_bytes(path, error, max_bytes, what).decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{what}: not UTF-8 text (byte {e.start})") from None


def read_toml(path: Path, error: type[AnalyzerError] = AnalyzerError, max_bytes: int = MAX_BYTES, what: str = "") -> dict[str, Any]:
    """A TOML file's tables; `error` naming the file when it cannot be read or parsed."""
    what = what or str(path)
    text = read_text(path, error, max_bytes, what)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{what}: malformed TOML ({e})") from None
    except RecursionError:  # tomllib recurses per nested array or inline table
        too = True
    else:
        too = too_deep(data)
    if too:
        raise error(f"{what}: malformed TOML (arrays or tables nested too deeply: at most {MAX_DEPTH} levels)")
    return data


def read_json(path: Path, error: type[AnalyzerError] = AnalyzerError, max_bytes: int = MAX_BYTES, what: str = "") -> Any:
    """A JSON file's value; `error` naming the file when it cannot be read or parsed."""
    what = what or str(path)
    text = read_text(path, error, max_bytes, what)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{what}: not JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        too = True
    else:
        too = too_deep(data)
    if too:
        raise error(f"{what}: not JSON this tool reads (arrays or objects nested too deeply: at most {MAX_DEPTH} levels)")
    return data


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and dicts nest more than `limit` deep in a parsed value (walked without recursion).

    Level by level, holding only the containers: a stored record is mostly scalars, and a repeated population
    run checks 10,000 of them (pushing every scalar made this check a third of that run)."""
    level = [value] if type(value) in (list, dict) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [v for x in level for v in (x.values() if type(x) is dict else x) if type(v) in (list, dict)]
    return False
