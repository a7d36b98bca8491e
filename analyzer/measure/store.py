"""An append-only JSON-lines file of measurements, so later steps (calibration, ranking) can reuse them.
Each record is written with one write() under an exclusive lock and fsync'd: concurrent runs interleave
whole lines and a killed run leaves at most a partial line, which readers skip (a line that is not JSON).

Read through the one reading layer (files.py): a FIFO or a device is refused at once, a file over MAX_STORE_BYTES is
not read, a byte that is not UTF-8 (the writer writes ASCII) is one line, and each record is checked
(record.Measurement.from_checked: finite numbers in range) before it is used. A file that is another kind of store (a
results store: SQLite) is never appended to."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from ..errors import AnalyzerError, UsageError, param
from ..files import MAX_DEPTH, loads_finite, read_bytes, special_file, too_deep
from .record import Measurement
from ..paths import cache_dir

MAX_STORE_BYTES = 256 << 20  # a record is about 1.5 kB: some 170,000 measurements
SQLITE_HEADER = b"SQLite format 3\x00"


def default_path() -> Path:
    return cache_dir() / "measurements.jsonl"


def check_appendable(path: Path) -> None:
    """A UsageError unless measurements can be appended to `path`: nothing there, or a regular file that is not a
    store of another kind (SQLite's header: the results store) and does not begin with anything but a JSON object."""
    kind = special_file(path)
    if kind is not None:
        raise UsageError(f"{param('store')} {path}: is {kind}, not a regular file: refused")
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as e:
        raise UsageError(f"{param('store')} {path}: cannot be read ({e.strerror})") from None
    if head == SQLITE_HEADER:
        raise UsageError(f"{param('store')} {path}: is an SQLite database (a results store?), not a JSON-lines file of "
                         "measurements: refused, nothing was written")
    if head.strip() and not head.lstrip().startswith(b"{"):  # blank lines first (16 bytes of them) are fine
        raise UsageError(f"{param('store')} {path}: is not a JSON-lines file of measurements (it does not begin with a "
                         "JSON object): refused, nothing was written")


def append(path: Path, records: list[Measurement]) -> None:
    check_appendable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(r.to_dict(), allow_nan=False) + "\n" for r in records).encode()
        with open(path, "ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
    except OSError as e:
        raise AnalyzerError(f"cannot write measurements to {path} ({e.strerror}); use {param('store')} PATH or {param('no_store')}") from None


def read(path: Path, what: str = "") -> list[Measurement]:
    """The measurements in `path` ([] when there is no file). A line that is not JSON is a partial write and skipped;
    a line that is JSON but not a plausible record, or not UTF-8, is one UsageError naming the line."""
    what = what or f"measurements {path}"
    if not os.path.lexists(path):
        return []
    data = read_bytes(path, UsageError, MAX_STORE_BYTES, what)
    if data.startswith(SQLITE_HEADER):
        raise UsageError(f"{what}: is an SQLite database (a results store?), not a JSON-lines file of measurements")
    out = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UsageError(f"{what}: line {n}: not UTF-8 text (byte {e.start})") from None
        where = f"{what}: line {n}"
        try:
            value = loads_finite(text)
        except json.JSONDecodeError:
            continue  # a partial line from a killed writer
        except ValueError as e:  # not finite, or past the int-string limit: not what our writer writes
            said = str(e) if "finite" in str(e) else "an integer with more digits than this tool reads"
            raise UsageError(f"{where}: {said}") from None
        except RecursionError:
            raise UsageError(f"{where}: the file nests too deeply (at most {MAX_DEPTH} levels)") from None
        if too_deep(value):
            raise UsageError(f"{where}: the file nests too deeply (at most {MAX_DEPTH} levels)")
        out.append(Measurement.from_checked(value, where))
    return out
