"""The one reading layer for the files a user hands the tool (profiles, manifests, search plans, saved analyses,
measurement stores, recordings, CSVs, Zeus and CodeCarbon files, lengths) as untrusted input, and the one writer of
every output.

Reading: one regular file (a FIFO would block the read forever, a device such as /dev/zero never ends: both are
refused at once, before a byte is read), at most `max_bytes` (checked on the open file before reading), UTF-8 (a bad
byte is one line naming its offset), parsed as TOML, JSON (nesting deeper than MAX_DEPTH, an integer past Python's
int-string limit and NaN/Infinity or a number that overflows to infinity each one line) or CSV (a cell over the csv
module's field limit is one line naming the row). The file is opened before it is checked (non-blocking, then fstat),
so nothing can be swapped in between the check and the read.

Writing: `write_atomic` / `atomic_open` write a temporary file in the target's folder, fsync it and rename it into
place (os.replace), so a write that fails part-way (disk full, `ulimit -f`, a kill) leaves the old file whole;
`refuse_inputs` refuses an output that is one of the command's inputs before anything is written."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import tempfile
import tomllib
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, Callable, Iterable, Iterator

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


def read_lines(path: Path, parse: Callable[[str, str], Any], error: type[AnalyzerError] = AnalyzerError,
               max_bytes: int = MAX_BYTES) -> list[Any]:
    """`parse(line, where)` of each line of a text file that is not blank and does not start with # (stripped; `where`
    is PATH:LINE for its errors), read through read_text (size cap, UTF-8)."""
    text = read_text(Path(path), error, max_bytes)
    return [parse(s, f"{path}:{i}") for i, line in enumerate(text.splitlines(), start=1)
            for s in [line.strip()] if s and not s.startswith("#")]


def read_toml(path: Path, error: type[AnalyzerError] = AnalyzerError, max_bytes: int = MAX_BYTES, what: str = "") -> dict[str, Any]:
    """A TOML file's tables; `error` naming the file when it cannot be read or parsed."""
    what = what or str(path)
    text = read_text(path, error, max_bytes, what)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{what}: malformed TOML ({e})") from None
    except ValueError:  # the int-string limit: tomllib's int() raises it unwrapped
        raise error(f"{what}: malformed TOML (an integer with more digits than this tool reads, at most {_int_digits():,})") from None
    except RecursionError:  # tomllib recurses per nested array or inline table
        too = True
    else:
        too = too_deep(data)
    if too:
        raise error(f"{what}: malformed TOML (arrays or tables nested too deeply: at most {MAX_DEPTH} levels)")
    return data


def read_json(path: Path, error: type[AnalyzerError] = AnalyzerError, max_bytes: int = MAX_BYTES, what: str = "") -> Any:
    """A JSON file's value; `error` naming the file when it cannot be read or parsed (see `parse_json`)."""
    what = what or str(path)
    return parse_json(read_text(path, error, max_bytes, what), error, what)


class _NotFinite(ValueError):
    pass


def _finite_float(text: str) -> float:
    v = float(text)
    if v != v or v in (float("inf"), float("-inf")):
        raise _NotFinite(f"the number {text[:20]}{'...' if len(text) > 20 else ''} is not finite")
    return v


def _no_constant(name: str) -> Any:
    raise _NotFinite(f"{name} is not a number this tool reads (only finite numbers)")


def loads_finite(text: str | bytes) -> Any:
    """json.loads refusing NaN, Infinity and numbers that overflow to infinity (a ValueError whose message says so)."""
    return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)


def parse_json(text: str, error: type[AnalyzerError] = AnalyzerError, what: str = "", depth: int = MAX_DEPTH) -> Any:
    """`text` parsed as JSON: finite numbers only (NaN, Infinity and 1e309 refused), integers within Python's
    int-string limit (a 5,000-digit integer raises ValueError, not JSONDecodeError), nesting at most `depth` deep;
    else one line `error` naming `what`."""
    try:
        data = loads_finite(text)
    except json.JSONDecodeError as e:
        raise error(f"{what}: not JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except _NotFinite as e:
        raise error(f"{what}: {e}") from None
    except ValueError:  # the int-string limit (sys.get_int_max_str_digits): the message quotes no digits
        raise error(f"{what}: an integer with more digits than this tool reads (at most {_int_digits():,})") from None
    except RecursionError:
        too = True
    else:
        too = too_deep(data, depth)
    if too:
        raise error(f"{what}: the file nests too deeply (arrays or objects nested too deeply: at most {depth} levels)")
    return data


def _int_digits() -> int:
    import sys

    return getattr(sys, "get_int_max_str_digits", lambda: 4300)() or 4300


def read_csv(path: Path, error: type[AnalyzerError] = AnalyzerError, max_bytes: int = MAX_BYTES, what: str = "",
             text: str | None = None) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A CSV file's header and its rows as (line number, {column: cell}); one line `error` naming `what` and the line
    for a cell over the csv module's field limit (131,072 characters) or a malformed row. `text`: already read."""
    what = what or str(path)
    if text is None:
        text = read_text(path, error, max_bytes, what)
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))  # Excel's UTF-8 byte order mark
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        header = list(reader.fieldnames or [])
        for r in reader:
            rows.append((reader.line_num, r))
    except csv.Error as e:
        said = str(e).replace("field larger than field limit", "a cell longer than the csv module's limit")
        raise error(f"{what}: line {reader.line_num + 1}: not CSV this tool reads ({said})") from None
    return header, rows


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


# ---- writing ------------------------------------------------------------------------------------------------


def refuse_inputs(out: Path, inputs: Iterable[Path | str | None], error: type[AnalyzerError] = AnalyzerError,
                  what: str = "") -> None:
    """`error` when the output `out` is one of the command's `inputs` (the same file, through any path or link),
    raised before anything is written: `report a.json --html a.json` must not replace the analysis it reads."""
    what = what or str(out)
    for given in inputs:
        if given is None or given == "":
            continue
        try:
            same = os.path.samefile(out, given)
        except (OSError, ValueError):
            same = os.path.realpath(out) == os.path.realpath(given)
        if same:
            raise error(f"{what}: is also an input of this command ({given}): refused, nothing was written")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path, error: type[AnalyzerError] = AnalyzerError, what: str = "") -> Iterator[Path]:
    """A temporary path in `path`'s folder to write the whole output to; on leaving the block it is fsync'd and
    renamed over `path` (os.replace: readers see the old file or the new one, never part of one). When the block or
    the rename fails, the temporary file is removed and the file at `path` is left as it was; an OSError becomes one
    line `error` naming `what`. A link is followed (the file it names is replaced, the link kept); a FIFO, device or
    folder at `path` is refused."""
    what = what or str(path)
    target = Path(os.path.realpath(path))
    kind = special_file(target)
    if kind is not None:
        raise error(f"{what}: is {kind}, not a regular file: refused, nothing was written")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:100]}.", suffix=".tmp")
        os.close(fd)
    except OSError as e:
        raise error(f"{what}: cannot write ({e.strerror or e})") from None
    tmp = Path(name)
    try:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(e, OSError):
            raise error(f"{what}: cannot write ({e.strerror or e}); the file there was left as it was") from None
        raise
    try:  # the rename itself survives a crash once the folder is on disk; best effort where it cannot be opened
        dfd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


@contextmanager
def atomic_open(path: Path, mode: str = "w", error: type[AnalyzerError] = AnalyzerError, what: str = "",
                newline: str | None = None) -> Iterator[IO]:
    """A file object (text 'w' in UTF-8, or binary 'wb') writing `path` atomically (see `atomic_path`)."""
    with atomic_path(path, error, what) as tmp:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": newline})) as f:
            yield f


def write_atomic(path: Path, data: str | bytes, error: type[AnalyzerError] = AnalyzerError, what: str = "",
                 inputs: Iterable[Path | str | None] = ()) -> None:
    """`data` written to `path` atomically, after checking `path` is none of `inputs` (`refuse_inputs`)."""
    refuse_inputs(path, inputs, error, what)
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w", error, what, newline="") as f:
        f.write(data)
