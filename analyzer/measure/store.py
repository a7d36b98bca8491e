"""An append-only JSON-lines file of measurements, so later steps (calibration, ranking) can reuse them.
Each record is written with one write() under an exclusive lock and fsync'd: concurrent runs interleave
whole lines and a killed run leaves at most a partial last line, which readers skip."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from ..errors import AnalyzerError, param
from .record import Measurement
from ..paths import cache_dir


def default_path() -> Path:
    return cache_dir() / "measurements.jsonl"


def append(path: Path, records: list[Measurement]) -> None:
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


def read(path: Path) -> list[Measurement]:
    out = []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            out.append(Measurement.from_dict(json.loads(line)))
        except (ValueError, TypeError):
            continue  # a partial line from a killed writer
    return out
